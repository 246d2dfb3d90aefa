//! `cargo mlops deploy`: plan, build, render, publish. An unchanged redeploy sends no payload
//! bytes; `--dry-run` prints the plan and writes nothing anywhere.

use serde::Serialize;
use serde_json::json;

use crate::build;
use crate::cli::DeployArgs;
use crate::error::Result;
use crate::output::Output;
use crate::publish::{self, Artifact, Published};
use crate::render::{self, LAUNCHER_FILE};

use super::build::build_wheels;
use super::{OpenStore, Prepared, Session};

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
    /// The rendered project the tarball was made from (for `run`).
    #[serde(skip)]
    pub rendered: crate::render::Rendered,
}

pub fn run(session: &Session, args: &DeployArgs) -> Result<()> {
    crate::interrupt::install();
    let output = session.output.clone().with_json(args.json);
    let prepared = session.prepare(None, &[])?;
    if args.dry_run {
        return dry_run(session, &prepared, &output);
    }
    let open = session.store(&prepared.plan)?;
    let deployment = deploy(session, &prepared, &open, args.no_cache, &output)?;
    if output.json() {
        output.result_json(&deployment);
    } else {
        for p in deployment
            .wheels
            .iter()
            .chain([&deployment.tarball, &deployment.launcher])
        {
            let what = if p.uploaded {
                format!("uploaded {}", crate::output::human_bytes(p.bytes_sent))
            } else {
                "unchanged".to_string()
            };
            output.result(format!("{}  {what}", p.remote_path));
        }
        output.result(format!("record  {}", deployment.record));
    }
    let sent: u64 = deployment
        .wheels
        .iter()
        .chain([&deployment.tarball, &deployment.launcher])
        .map(|p| p.bytes_sent)
        .sum();
    output.status(
        "Deployed",
        format!(
            "{} to `{}` ({}), {} sent",
            prepared.plan.project,
            prepared.plan.target,
            deployment.branch_folder,
            crate::output::human_bytes(sent)
        ),
    );
    Ok(())
}

/// Builds, renders and publishes to `open` (the caller opens the store once, before the
/// build, so credentials are resolved once and their problems show before any work); shared
/// with `run` and the pre-push hook.
pub fn deploy(
    session: &Session,
    prepared: &Prepared,
    open: &OpenStore,
    no_cache: bool,
    output: &Output,
) -> Result<Deployment> {
    let Prepared {
        manifest,
        project,
        plan,
    } = prepared;
    let wheels = build_wheels(session, manifest, plan, no_cache, output)?;
    let work = manifest
        .state_dir()
        .join("deploy")
        .join(&plan.target)
        .join(&plan.branch_slug);
    let rendered = render::render(plan, manifest, project, &wheels, &work.join("project"))?;
    let tarball_path = work.join(publish::TARBALL_FILE);
    {
        let file = fs_err::File::create(&tarball_path)?;
        rendered.tarball(std::io::BufWriter::new(file))?;
    }
    let mut artifacts: Vec<Artifact> = wheels.iter().map(|w| Artifact::wheel(plan, w)).collect();
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

    let (store, client) = open;
    output.status(
        "Publishing",
        format!("to {} under {}", store.describe(), plan.branch_artifacts),
    );
    let published = publish::publish_all(store.as_ref(), &artifacts, output)?;
    let record_path = publish::record_path(plan);
    let record = publish::record(plan, &published);
    crate::interrupt::check()?;
    // A redeploy of the same commit with the same files keeps the first record (and its
    // time), so an unchanged redeploy sends no payload at all.
    let unchanged = store
        .read_small(&record_path)?
        .and_then(|bytes| serde_json::from_slice::<serde_json::Value>(&bytes).ok())
        .is_some_and(|old| publish::same_record(&old, &record));
    if !unchanged {
        store.write_small(
            &record_path,
            serde_json::to_string_pretty(&record)
                .expect("records serialize")
                .as_bytes(),
        )?;
    }
    let (requests, payload_bytes) = client.as_ref().map_or((0, 0), |c| {
        (
            c.stats.requests.load(std::sync::atomic::Ordering::Relaxed),
            c.stats
                .payload_bytes
                .load(std::sync::atomic::Ordering::Relaxed),
        )
    });
    let mut published = published.into_iter();
    let wheel_count = wheels.len();
    let wheels: Vec<Published> = published.by_ref().take(wheel_count).collect();
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
        rendered,
    })
}

/// The plan and, for wheels whose build is cached, where they would go; nothing is built,
/// rendered, written or sent.
fn dry_run(session: &Session, prepared: &Prepared, output: &Output) -> Result<()> {
    let plan = &prepared.plan;
    let python = if plan.wheels.is_empty() {
        None
    } else {
        Some(session.python()?)
    };
    let mut wheels = Vec::new();
    for spec in &plan.wheels {
        let cached = match &python {
            Some(py) => build::peek(&prepared.manifest.state_dir(), spec, py)?,
            None => None,
        };
        wheels.push(match cached {
            Some(w) => json!({
                "package": spec.declared,
                "file": w.file,
                "sha256": w.sha256,
                "remote_path": Artifact::wheel(plan, &w).dest,
                "cached": true,
            }),
            None => json!({
                "package": spec.declared,
                "cached": false,
                "remote_path": format!("{}/<sha256:16>/<wheel file>", plan.branch_artifacts),
            }),
        });
    }
    let report = json!({
        "dry_run": true,
        "target": plan.target,
        "target_kind": plan.target_kind,
        "branch": plan.branch,
        "branch_slug": plan.branch_slug,
        "branch_folder": plan.branch_artifacts,
        "experiment": plan.experiment,
        "record": publish::record_path(plan),
        "wheels": wheels,
    });
    if output.json() {
        output.result_json(&report);
    } else {
        for line in super::check::describe(plan) {
            output.result(line);
        }
        for w in &wheels {
            output.result(format!(
                "would publish {} -> {}",
                w["package"].as_str().unwrap_or(""),
                w["remote_path"].as_str().unwrap_or("")
            ));
        }
        output.result(format!("would record {}", publish::record_path(plan)));
    }
    output.status("Dry run", "nothing was built, written or sent");
    Ok(())
}
