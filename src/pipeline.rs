//! The pipeline `deploy` and `run` share: build → render → publish, then the deploy record.
//! The plan of a deploy (which file goes where) is computed by one function, for the deploy
//! that carries it out and for `--dry-run`, which prints it and writes nothing.

use std::path::{Path, PathBuf};

use serde::Serialize;

use crate::build::{self, BuiltWheel, Options};
use crate::error::Result;
use crate::manifest::{Manifest, TargetKind};
use crate::output::Output;
use crate::plan::{Plan, PlannedWheel};
use crate::publish::{self, Artifact, Published};
use crate::render::{self, LAUNCHER_FILE, Rendered};
use crate::session::{OpenStore, Prepared, Session};
use crate::support::records::{DeployRecord, RecordedFile};

/// What a deploy did, for `--json` and for `run`.
#[derive(Clone, Debug, Serialize)]
pub struct Deployment {
    pub target: String,
    pub store: String,
    pub branch: String,
    pub branch_folder: String,
    pub record: String,
    pub wheels: Vec<Published>,
    pub tarball: Published,
    pub launcher: Published,
    pub requests: u64,
    pub payload_bytes: u64,
    /// The lease that keeps `gc` away while the deploy's files are not yet recorded (see
    /// [`crate::support::records::Lease`]); `None` once ended, or when none was needed.
    #[serde(skip)]
    pub lease: Option<String>,
    /// The rendered project the tarball was made from (for `run`).
    #[serde(skip)]
    pub rendered: Rendered,
}

impl Deployment {
    /// Every store path the deployment wrote or found in place: wheels, tarball, launcher.
    pub fn paths(&self) -> Vec<String> {
        self.wheels
            .iter()
            .chain([&self.tarball, &self.launcher])
            .map(|p| p.remote_path.clone())
            .collect()
    }
}

/// Where one wheel goes, as far as it is known before anything is built.
#[derive(Clone, Debug, Serialize)]
pub struct PlannedDestination {
    pub package: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub file: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub sha256: Option<String>,
    /// `<branch folder>/<16 hex>/<file>`, or a pattern when the wheel is not built yet.
    pub remote_path: String,
    /// Whether the wheel is built already (its address is known).
    pub cached: bool,
}

/// The plan of a deploy: which wheel goes where, and where the record is written.
#[derive(Clone, Debug, Serialize)]
pub struct DeployPlan {
    pub dry_run: bool,
    pub target: String,
    pub target_kind: TargetKind,
    pub branch: String,
    pub branch_slug: String,
    pub branch_folder: String,
    pub experiment: String,
    pub record: String,
    pub wheels: Vec<PlannedDestination>,
}

/// The deploy plan of `plan` for the wheels known so far (`None`: not built yet).
pub fn deploy_plan(plan: &Plan, wheels: &[(&PlannedWheel, Option<&BuiltWheel>)]) -> DeployPlan {
    DeployPlan {
        dry_run: true,
        target: plan.target.clone(),
        target_kind: plan.target_kind,
        branch: plan.branch.clone(),
        branch_slug: plan.branch_slug.clone(),
        branch_folder: plan.branch_artifacts.clone(),
        experiment: plan.experiment.clone(),
        record: record_path(plan),
        wheels: wheels
            .iter()
            .map(|(spec, built)| match built {
                Some(w) => PlannedDestination {
                    package: spec.declared.clone(),
                    file: Some(w.file.clone()),
                    sha256: Some(w.sha256.clone()),
                    remote_path: Artifact::wheel(plan, w).dest,
                    cached: true,
                },
                None => PlannedDestination {
                    package: spec.declared.clone(),
                    file: None,
                    sha256: None,
                    remote_path: format!("{}/<sha256:16>/<wheel file>", plan.branch_artifacts),
                    cached: false,
                },
            })
            .collect(),
    }
}

/// What a deploy would do, from what is known without building, rendering, writing or
/// sending anything: wheels whose build is cached get their real destination.
pub fn dry_run(session: &Session, prepared: &Prepared) -> Result<DeployPlan> {
    let plan = &prepared.plan;
    if let Some(warning) = dirty_warning(plan) {
        session.output.warn(warning);
    }
    if plan.target_kind == TargetKind::Databricks {
        // Credentials resolve (settings, environment, ~/.databrickscfg: no network), or the
        // deploy would fail the same way.
        session.client(plan)?;
    }
    let python = if plan.wheels.is_empty() {
        None
    } else {
        Some(session.python()?)
    };
    let mut cached = Vec::new();
    for spec in &plan.wheels {
        cached.push(match &python {
            Some(py) => build::peek(&prepared.manifest.state_dir(), spec, py)?,
            None => None,
        });
    }
    let known: Vec<(&PlannedWheel, Option<&BuiltWheel>)> = plan
        .wheels
        .iter()
        .zip(cached.iter().map(Option::as_ref))
        .collect();
    Ok(deploy_plan(plan, &known))
}

/// Builds every wheel of the project (`cargo mlops build`): the manifest's `[[wheel]]` list,
/// else the cargo workspace's PyO3 crates. Failures are in the report, not an error.
pub fn build_project(session: &Session, no_cache: bool, output: &Output) -> Result<build::Report> {
    let manifest = session.manifest()?;
    let wheels = session.wheels(&manifest)?;
    if wheels.is_empty() && manifest.project.discover != Some(false) {
        // Only where building was asked for: a project without wheels of its own (a plain
        // MLflow project) is normal, and deploy and run say nothing about it.
        let workspace = if manifest.root.join("Cargo.toml").is_file() {
            " and its cargo workspace has no PyO3 (maturin) crate"
        } else {
            ""
        };
        output.note(format!(
            "nothing to build: {} has no `[[wheel]]`{workspace} (`discover = false` under [project] silences this)",
            manifest.display_path.display()
        ));
    }
    build_report(session, &manifest, &wheels, no_cache, output)
}

/// Builds `wheels` (a warning, not an error, when there are none), reporting failures.
pub fn build_report(
    session: &Session,
    manifest: &Manifest,
    wheels: &[PlannedWheel],
    no_cache: bool,
    output: &Output,
) -> Result<build::Report> {
    if wheels.is_empty() {
        output.verbose(
            "Skipping",
            format!(
                "the build: {} names no wheels",
                manifest.display_path.display()
            ),
        );
        return Ok(build::Report {
            wheels: Vec::new(),
            failures: Vec::new(),
        });
    }
    let options = Options {
        python: session.python()?,
        no_cache,
    };
    Ok(build::build_all(
        &manifest.make_state_dir()?,
        wheels,
        &options,
        output,
    ))
}

/// Builds the plan's wheels for a later stage (render, deploy, run): all must succeed.
pub fn build_wheels(
    session: &Session,
    prepared: &Prepared,
    no_cache: bool,
    output: &Output,
) -> Result<Vec<BuiltWheel>> {
    build_report(
        session,
        &prepared.manifest,
        &prepared.plan.wheels,
        no_cache,
        output,
    )?
    .into_result()
}

/// What `render` wrote: the project folder, and the tarball's hash (and path, when asked).
#[derive(Clone, Debug, Serialize)]
pub struct RenderReport {
    #[serde(flatten)]
    pub rendered: Rendered,
    pub tarball: TarballReport,
}

#[derive(Clone, Debug, Serialize)]
pub struct TarballReport {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub path: Option<PathBuf>,
    pub sha256: String,
    pub size: u64,
}

/// Builds and renders the project into `out` (the render stage on its own), and writes the
/// project tarball to `tarball` when given (its hash is computed either way).
pub fn render_project(
    session: &Session,
    prepared: &Prepared,
    out: &Path,
    tarball: Option<&Path>,
    no_cache: bool,
    output: &Output,
) -> Result<RenderReport> {
    let wheels = build_wheels(session, prepared, no_cache, output)?;
    let rendered = render::render(
        &prepared.plan,
        &prepared.manifest,
        &prepared.project,
        &wheels,
        out,
    )?;
    let written = match tarball {
        Some(path) => write_tarball(&rendered, path)?,
        None => rendered.tarball(std::io::sink())?,
    };
    Ok(RenderReport {
        rendered,
        tarball: TarballReport {
            path: tarball.map(Path::to_path_buf),
            sha256: written.sha256,
            size: written.size,
        },
    })
}

/// Where a deploy's record lives: `<branch folder>/deploys/<commit>.json` for a clean tree.
/// A dirty tree's record is keyed by its uncommitted content too
/// (`<commit>-dirty-<content:16>.json`, see [`crate::git::dirty_key`]), so two deploys of
/// different uncommitted edits never overwrite each other's record, and a repeat of the same
/// edit finds its own.
pub fn record_path(plan: &Plan) -> String {
    let commit = plan.commit.as_deref().unwrap_or("uncommitted");
    // Read only when a record is written or planned, not for every command that plans.
    let key = (!plan.dirty.is_empty())
        .then(|| {
            plan.manifest
                .parent()
                .and_then(|dir| crate::git::dirty_key(dir, &plan.dirty))
        })
        .flatten();
    let name = match key {
        Some(key) => format!("{commit}-dirty-{key}"),
        None => commit.to_string(),
    };
    format!(
        "{}/deploys/{name}.json",
        plan.branch_artifacts.trim_end_matches('/'),
    )
}

/// The warning for a deploy from a tree with uncommitted changes: up to five of the files.
pub fn dirty_warning(plan: &Plan) -> Option<String> {
    const SHOWN: usize = 5;
    if plan.dirty.is_empty() {
        return None;
    }
    let mut files = plan
        .dirty
        .iter()
        .take(SHOWN)
        .map(String::as_str)
        .collect::<Vec<_>>()
        .join(", ");
    if plan.dirty.len() > SHOWN {
        files.push_str(&format!(" and {} more", plan.dirty.len() - SHOWN));
    }
    Some(format!(
        "the working tree has uncommitted changes ({files}); this deploy is recorded as dirty, \
         and its runs are tagged `mlops.dirty = true` (commit them for a deploy others can reproduce)"
    ))
}

/// The deploy record of what was published.
pub fn deploy_record(plan: &Plan, published: &[Published]) -> DeployRecord {
    let find = |kind: &str| {
        published
            .iter()
            .find(|p| p.kind == kind)
            .map(|p| RecordedFile {
                file: None,
                sha256: p.sha256.clone(),
                path: p.remote_path.clone(),
            })
    };
    DeployRecord {
        project: plan.project.clone(),
        target: plan.target.clone(),
        branch: plan.branch.clone(),
        branch_slug: plan.branch_slug.clone(),
        commit: plan.commit.clone(),
        dirty: plan.dirty.clone(),
        time: crate::support::time::rfc3339(crate::support::time::now_secs()),
        experiment: plan.experiment.clone(),
        wheels: published
            .iter()
            .filter(|p| p.kind == "wheel")
            .map(|p| RecordedFile {
                file: Some(p.file.clone()),
                sha256: p.sha256.clone(),
                path: p.remote_path.clone(),
            })
            .collect(),
        tarball: find("tarball"),
        launcher: find("launcher"),
        tool: format!("cargo-mlops {}", env!("CARGO_PKG_VERSION")),
    }
}

/// Builds, renders and publishes to `open` (the caller opens the store once, before the
/// build, so credentials are resolved once and their problems show before any work); shared
/// by `deploy`, `run` and the pre-push hook. With `hold_lease` the deploy's lease outlives it
/// and the caller ends it ([`end_lease`]) once its own record protects the files.
pub fn deploy(
    session: &Session,
    prepared: &Prepared,
    open: &OpenStore,
    no_cache: bool,
    hold_lease: bool,
    output: &Output,
) -> Result<Deployment> {
    let plan = &prepared.plan;
    if let Some(warning) = dirty_warning(plan) {
        output.warn(warning);
    }
    let group = output.group("Build wheels");
    let wheels = build_wheels(session, prepared, no_cache, output)?;
    drop(group);
    check_wheels_fit(prepared, open, &wheels)?;
    let known: Vec<(&PlannedWheel, Option<&BuiltWheel>)> =
        plan.wheels.iter().zip(wheels.iter().map(Some)).collect();
    let planned = deploy_plan(plan, &known);
    let (rendered, artifacts) = package(prepared, &wheels, &planned)?;
    let (store, client) = (&open.store, &open.client);
    claim_root(store.as_ref(), plan)?;
    let record_path = planned.record.clone();
    let old_record = store.read_small(&record_path)?.and_then(|bytes| {
        crate::support::records::parse::<DeployRecord>("deploy record", &bytes).ok()
    });
    // A redeploy whose files its own record names already needs no lease (and so sends no
    // payload at all); any other deploy is leased before its first file is looked at.
    let dests: Vec<String> = artifacts.iter().map(|a| a.dest.clone()).collect();
    let recorded = old_record.as_ref().is_some_and(|old| old.names_all(&dests));
    let mut lease = (!recorded)
        .then(|| take_lease(store.as_ref(), plan, &dests))
        .transpose()?;
    output.status(
        "Publishing",
        format!("to {} under {}", store.describe(), plan.branch_artifacts),
    );
    let group = output.group(&format!("Publish to {}", plan.branch_artifacts));
    let published = publish::publish_all(store.as_ref(), &artifacts, output).inspect_err(|_| {
        // Nothing will record these files: the lease goes with the deploy (after Ctrl-C
        // too, which stops new work, not this clean-up).
        if let (true, Some(c)) = (crate::support::interrupt::requested(), client) {
            c.clean_up_after_interrupt();
        }
        end_lease(store.as_ref(), &mut lease, output);
    })?;
    drop(group);
    let record = deploy_record(plan, &published);
    crate::support::interrupt::check()?;
    // A redeploy of the same commit with the same files keeps the first record (and its
    // time), so an unchanged redeploy sends no payload at all.
    if !old_record.is_some_and(|old| old.same_as(&record)) {
        let text = serde_json::to_string_pretty(&record).expect("records serialize");
        store.write_small(&record_path, text.as_bytes())?;
    }
    let (requests, payload_bytes) = client.as_ref().map_or((0, 0), |c| c.stats.totals());
    if !hold_lease {
        end_lease(store.as_ref(), &mut lease, output);
    }
    let mut published = published.into_iter();
    let wheels: Vec<Published> = published.by_ref().take(wheels.len()).collect();
    let tarball = published.next().expect("the tarball was published");
    let launcher = published.next().expect("the launcher was published");
    Ok(Deployment {
        target: plan.target.clone(),
        store: store.describe(),
        branch: plan.branch.clone(),
        branch_folder: plan.branch_artifacts.clone(),
        record: record_path,
        wheels,
        tarball,
        launcher,
        requests,
        payload_bytes,
        lease,
        rendered,
    })
}

/// Every wheel must install on the Python the target runs, before anything is uploaded.
fn check_wheels_fit(prepared: &Prepared, open: &OpenStore, wheels: &[BuiltWheel]) -> Result<()> {
    let Prepared {
        manifest,
        project,
        plan,
    } = prepared;
    if let Some(python) =
        crate::check::target_python(plan, manifest, project, open.client.as_deref())?
    {
        let files: Vec<(String, String)> = wheels
            .iter()
            .map(|w| (w.package.clone(), w.file.clone()))
            .collect();
        crate::check::wheels_fit(&files, &python)?;
    }
    Ok(())
}

/// Renders the project and packs what goes to the store: the wheels at their planned
/// places, the project tarball and the launcher.
fn package(
    prepared: &Prepared,
    wheels: &[BuiltWheel],
    planned: &DeployPlan,
) -> Result<(Rendered, Vec<Artifact>)> {
    let Prepared {
        manifest,
        project,
        plan,
    } = prepared;
    let work = manifest
        .make_state_dir()?
        .join("deploy")
        .join(&plan.target)
        .join(&plan.branch_slug);
    let rendered = render::render(plan, manifest, project, wheels, &work.join("project"))?;
    let tarball_path = work.join(publish::TARBALL_FILE);
    write_tarball(&rendered, &tarball_path)?;
    let mut artifacts: Vec<Artifact> = wheels
        .iter()
        .zip(&planned.wheels)
        .map(|(w, dest)| Artifact {
            dest: dest.remote_path.clone(),
            ..Artifact::wheel(plan, w)
        })
        .collect();
    artifacts.push(Artifact::new(
        "tarball",
        plan,
        tarball_path,
        publish::TARBALL_FILE,
    )?);
    artifacts.push(Artifact::new(
        "launcher",
        plan,
        rendered.dir.join(LAUNCHER_FILE),
        LAUNCHER_FILE,
    )?);
    Ok((rendered, artifacts))
}

/// Before the first file: the root must be this project's (see `store::owner`).
fn claim_root(store: &dyn crate::store::Store, plan: &Plan) -> Result<()> {
    let repository = crate::git::repository(&plan.mlproject);
    crate::store::owner::claim(
        store,
        &plan.artifacts,
        crate::store::owner::Deployer {
            project: &plan.project,
            repository: repository.as_deref(),
        },
        &format!("targets.{}.artifacts", plan.target),
    )
}

/// Writes a lease on `paths` under the plan's branch folder; returns its path.
fn take_lease(store: &dyn crate::store::Store, plan: &Plan, paths: &[String]) -> Result<String> {
    let path = format!(
        "{}/{}/{}.json",
        plan.branch_artifacts.trim_end_matches('/'),
        crate::support::records::LEASES,
        uuid::Uuid::new_v4().simple()
    );
    let lease = crate::support::records::Lease {
        project: Some(plan.project.clone()),
        time: crate::support::time::rfc3339(crate::support::time::now_secs()),
        expires_ms: crate::support::time::now_ms() + crate::support::records::LEASE_TTL_MS,
        paths: paths.to_vec(),
        tool: format!("cargo-mlops {}", env!("CARGO_PKG_VERSION")),
    };
    store.write_small(
        &path,
        serde_json::to_string(&lease)
            .expect("records serialize")
            .as_bytes(),
    )?;
    Ok(path)
}

/// Ends a deploy's lease once a record protects its files. A lease that cannot be removed
/// only delays `gc` until it expires, so that is a warning.
pub fn end_lease(store: &dyn crate::store::Store, lease: &mut Option<String>, output: &Output) {
    if let Some(path) = lease.take() {
        if let Err(e) = store.delete(&path) {
            output.warn(format!(
                "cannot remove the deploy lease {path} ({e}); gc leaves its files alone until it expires"
            ));
        }
    }
}

/// Writes the project tarball to `path` whole or not at all (a temporary file beside it,
/// persisted into place); returns its hash and size.
pub fn write_tarball(rendered: &Rendered, path: &Path) -> Result<render::tarball::Written> {
    let tmp = crate::support::atomic::temp_beside(path)?;
    let written = rendered.tarball(std::io::BufWriter::new(tmp.as_file()))?;
    crate::support::atomic::persist(tmp, path)?;
    Ok(written)
}
