//! `release` and `promote`: the end of the flow. A release takes the branch's latest finished
//! run of the entry point (or a named run), checks its gates and the version it must beat,
//! registers a model version from the run's logged model (tagged with its provenance), and
//! sets the release alias; `promote` moves an alias, or copies a version into another
//! target's model. Both refuse a branch outside the target's `release_branches` before
//! anything is read.

mod deployment;
mod judge;
mod read_first;
pub mod registry;
mod server_registry;

mod sqlite_registry;
mod uc;
mod workspace_job;

use crate::serving;

pub use judge::{BeatResult, GateResult, MissingMetric};
use registry::Registry;

use std::collections::BTreeMap;

use serde::Serialize;

use crate::error::{Error, Result};
use crate::history::{self, RunRow};
use crate::manifest::TargetKind;
use crate::manifest::release::branch_matches;
use crate::plan::Plan;
use crate::session::{Prepared, Session};

/// How many runs are searched for the one to release.
const SEARCHED: usize = 200;

/// What a release decided and did.
#[derive(Clone, Debug, Serialize)]
pub struct Released {
    pub target: String,
    pub branch: String,
    pub model: String,
    pub run_id: String,
    pub entry: String,
    /// The MLflow 3 LoggedModel the run logged (what is registered); its metrics are over the
    /// run's in the checks.
    pub model_id: Option<String>,
    pub alias: String,
    pub gates: Vec<GateResult>,
    pub must_beat: Option<BeatResult>,
    /// Metrics the checks name that the run does not have (then nothing is registered).
    pub missing: Vec<MissingMetric>,
    /// Every gate and `must_beat` passed.
    pub passed: bool,
    pub dry_run: bool,
    /// The version released (or already registered from this run).
    pub version: Option<String>,
    /// Whether this release registered it (false: the run had a version already).
    pub registered: bool,
    /// The serving endpoints that follow the alias, and what was done to each.
    pub serving: Vec<serving::Served>,
    /// The deployment job run the new version started, and where it stands.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub deployment: Option<deployment::Deployment>,
}

pub struct Request<'a> {
    pub run: Option<&'a str>,
    pub entry: Option<&'a str>,
    pub dry_run: bool,
}

/// Refuses a branch the target does not release from (exit 2), before anything remote.
pub fn guard(plan: &Plan, patterns: &[String], action: &str) -> Result<()> {
    if patterns.is_empty() || patterns.iter().any(|p| branch_matches(p, &plan.branch)) {
        return Ok(());
    }
    Err(Error::usage(format!(
        "branch `{}` may not {action} to target `{}`: its release_branches are {}",
        plan.branch,
        plan.target,
        patterns.iter().map(|p| format!("`{p}`")).collect::<Vec<_>>().join(", ")
    ))
    .with_help("release from one of those branches (merge first), or add a pattern to the target's `release_branches`"))
}

/// The model a target releases into.
pub fn model_of(prepared: &Prepared, target: &str) -> Result<String> {
    prepared.manifest.model_of(target)
}

/// The registry of `target`: the local store's (through the newest local environment's
/// MLflow), or the workspace's Unity Catalog.
pub fn open_registry(
    session: &Session,
    prepared: &Prepared,
    target: &str,
) -> Result<Box<dyn Registry>> {
    let t = prepared.manifest.target(Some(target))?;
    if t.kind == TargetKind::Databricks {
        let of_target = session.for_target(prepared, target)?;
        let plan = of_target.plan;
        let model = model_of(prepared, target)?;
        crate::manifest::release::check_model_name(&model, true).map_err(|why| {
            Error::usage(why).with_help(format!(
                "set `model` on [targets.{target}], or `[release] model`"
            ))
        })?;
        let client = session.client(&plan)?;
        let cluster = crate::render::compute_only(&plan, &prepared.manifest, &prepared.project)?;
        return Ok(Box::new(uc::UnityCatalog {
            client: client.clone(),
            job: workspace_job::WorkspaceJob {
                client,
                plan,
                cluster,
                output: session.output.clone(),
            },
        }));
    }
    let state_dir = prepared.manifest.state_dir();
    // Only a change needs MLflow's client (and so an environment's interpreter); lookups of
    // our own store read it directly.
    let local = registry::Local::of_state(
        &state_dir,
        session.suggest(&prepared.plan, "run --entry NAME"),
    );
    let reader = match crate::history::sqlite_store::own_store(&state_dir) {
        Some(store) => Some(read_first::Reader::File(store)),
        None => crate::history::tracking_server::client(&local.tracking_uri)
            .map(|c| read_first::Reader::Server(Box::new(c))),
    };
    Ok(match reader {
        Some(reader) => Box::new(read_first::StoreFirst {
            reader,
            inner: local,
        }),
        None => Box::new(local),
    })
}

/// Decides, then (when the run passes and it is no dry run) registers. `decided` is called
/// between the two, so the checks are shown before any registry step, even one that fails.
pub fn release(
    session: &Session,
    request: &Request<'_>,
    decided: &dyn Fn(&Released),
) -> Result<Released> {
    let prepared = session.prepare(None, &[])?;
    let plan = &prepared.plan;
    let target = prepared.manifest.target(Some(&plan.target))?;
    guard(plan, &target.release.branches, "release")?;
    let model = model_of(&prepared, &plan.target)?;
    let settings = prepared.manifest.release.clone();
    let entry = request.entry.unwrap_or(&settings.entry).to_string();
    let registry = open_registry(session, &prepared, &plan.target)?;
    let (mut run, experiment_id) = chosen_run(session, &prepared, request.run, &entry)?;
    // MLflow 3: the metrics linked to the model the run logged win over the run's own.
    let logged = registry.logged_model_of_run(
        experiment_id.as_deref(),
        &run.run_id,
        &settings.artifact_path,
    )?;
    if let Some(m) = &logged {
        run.metrics.extend(m.metrics.clone());
    }
    let gates = judge::gates(&settings.gates, &run);
    let missing = judge::missing(&settings.gates, settings.must_beat.as_ref(), &run);
    let gates_passed = gates.iter().all(|g| g.passed) && missing.is_empty();
    // The version to beat is looked up only for a run that passed its gates.
    let must_beat = match &settings.must_beat {
        Some(m) if gates_passed => Some(judge::must_beat(registry.as_ref(), &model, m, &run)?),
        _ => None,
    };
    let passed = gates_passed && must_beat.as_ref().is_none_or(|m| m.passed);
    let mut released = Released {
        target: plan.target.clone(),
        branch: plan.branch.clone(),
        model: model.clone(),
        run_id: run.run_id.clone(),
        entry: run.entry.clone().unwrap_or(entry),
        model_id: logged.map(|m| m.model_id),
        alias: settings.alias.clone(),
        gates,
        must_beat,
        missing,
        passed,
        dry_run: request.dry_run,
        version: None,
        registered: false,
        serving: Vec::new(),
        deployment: None,
    };
    if passed && request.dry_run {
        released.version = registry
            .version_of_run(&model, &run.run_id)?
            .map(|v| v.version);
    }
    decided(&released);
    if !passed || request.dry_run {
        return Ok(released);
    }
    write(session, &prepared, registry.as_ref(), &run, &mut released)?;
    Ok(released)
}

/// Registers the passed run (unless it is registered with the alias on it already), moves
/// the alias, brings the serving endpoints that follow it along, and follows the deployment
/// job a new version starts.
fn write(
    session: &Session,
    prepared: &Prepared,
    registry: &dyn Registry,
    run: &RunRow,
    released: &mut Released,
) -> Result<()> {
    let plan = &prepared.plan;
    let settings = &prepared.manifest.release;
    let model = released.model.clone();
    let workspace = match plan.target_kind {
        TargetKind::Databricks if settings.deployment_job.is_some() => Some(session.client(plan)?),
        _ => None,
    };
    let endpoints = Following::of(session, prepared, plan, &settings.alias, workspace.clone())?;
    let mut linked = None;
    let before = registry.alias_version(&model, &settings.alias)?;
    let existing = registry.version_of_run(&model, &run.run_id)?;
    match existing {
        // Released already, with the alias on it: nothing to write (and, locally, no Python).
        Some(existing) if before.as_ref() == Some(&existing.version) => {
            released.version = Some(existing.version);
        }
        _ => {
            endpoints.preflight()?;
            // A new version starts the deployment job the model is linked to: link it first.
            linked = match (&workspace, existing) {
                (Some(client), None) => deployment::link(session, prepared, client, &model)?,
                _ => None,
            };
            let version = registry.register(
                &model,
                &run.run_id,
                &settings.artifact_path,
                &lineage(plan, run),
                &settings.alias,
            )?;
            registry::read_back(registry, &model, &settings.alias, &version.version)?;
            released.version = Some(version.version);
            released.registered = version.registered;
        }
    }
    let after = released.version.clone().expect("set above");
    released.serving = endpoints.follow(&serving::Move {
        model: &model,
        alias: &settings.alias,
        before,
        after: after.clone(),
    })?;
    if let (Some(client), Some(_)) = (&workspace, linked) {
        released.deployment = Some(deployment::follow(client, &session.output, &model, &after)?);
    }
    Ok(())
}

/// The serving endpoints of a target that follow one alias, and the workspace they are in.
struct Following<'m> {
    tables: Vec<&'m crate::manifest::serving::Serving>,
    client: Option<std::sync::Arc<crate::databricks::Client>>,
    plan: Plan,
    output: crate::output::Output,
}

impl<'m> Following<'m> {
    /// `client`: the target's workspace client when the caller has one already.
    fn of(
        session: &Session,
        prepared: &'m Prepared,
        plan: &Plan,
        alias: &str,
        client: Option<std::sync::Arc<crate::databricks::Client>>,
    ) -> Result<Self> {
        let tables = serving::following(&prepared.manifest, &plan.target, alias);
        let client = match (tables.is_empty(), client) {
            (true, _) => None,
            (false, Some(c)) => Some(c),
            (false, None) => Some(session.client(plan)?),
        };
        Ok(Following {
            tables,
            client,
            plan: plan.clone(),
            output: session.output.clone(),
        })
    }

    fn ctx(&self) -> Option<serving::Ctx<'_>> {
        Some(serving::Ctx {
            client: self.client.as_deref()?,
            project: &self.plan.project,
            branch_slug: &self.plan.branch_slug,
            output: &self.output,
        })
    }

    fn preflight(&self) -> Result<()> {
        match self.ctx() {
            Some(ctx) => serving::preflight(&ctx, &self.tables),
            None => Ok(()),
        }
    }

    fn follow(&self, mv: &serving::Move<'_>) -> Result<Vec<serving::Served>> {
        match self.ctx() {
            Some(ctx) => serving::follow(&ctx, &self.tables, mv),
            None => Ok(Vec::new()),
        }
    }
}

/// The run to release (the one named, or the branch's latest finished run of `entry`; it
/// must have finished), and its experiment's id.
fn chosen_run(
    session: &Session,
    prepared: &Prepared,
    named: Option<&str>,
    entry: &str,
) -> Result<(RunRow, Option<String>)> {
    let plan = &prepared.plan;
    let listed = history::list(session, prepared, SEARCHED, history::Targets::This)?;
    let run = match named {
        Some(id) => listed
            .runs
            .iter()
            .find(|r| r.run_id == id)
            .cloned()
            .ok_or_else(|| {
                Error::usage(format!(
                    "run `{id}` is not among the runs of experiment `{}`",
                    listed.experiment
                ))
                .with_help(format!(
                    "list them with `{}`",
                    session.suggest(plan, "runs")
                ))
            })?,
        None => history::latest_finished(&listed.runs, entry)
            .cloned()
            .ok_or_else(|| {
                Error::usage(format!(
                    "experiment `{}` has no finished run of `{entry}` to release",
                    listed.experiment
                ))
                .with_help(format!(
                    "make one with `{}`",
                    session.suggest(plan, &format!("run --entry {entry}"))
                ))
            })?,
    };
    if run.status != "FINISHED" {
        return Err(Error::usage(format!(
            "run `{}` is {}, not FINISHED: only a finished run is released",
            run.run_id, run.status
        )));
    }
    Ok((run, listed.experiment_id))
}

/// The tags a released version carries: where its run came from.
fn lineage(plan: &Plan, run: &RunRow) -> BTreeMap<String, String> {
    let mut tags = BTreeMap::new();
    tags.insert("mlops.run_id".to_string(), run.run_id.clone());
    tags.insert("mlops.release_target".to_string(), plan.target.clone());
    for (from, to) in [
        ("mlops.branch", "mlops.branch"),
        ("mlflow.source.git.commit", "mlops.commit"),
        ("mlops.target", "mlops.target"),
        ("mlops.deploy_record", "mlops.deploy_record"),
        ("mlops.dirty", "mlops.dirty"),
    ] {
        if let Some(v) = run.tags.get(from) {
            tags.insert(to.to_string(), v.clone());
        }
    }
    for (k, v) in &run.tags {
        if k.starts_with("mlops.wheel.") {
            tags.insert(k.clone(), v.clone());
        }
    }
    tags
}

/// `approve [VERSION]`: the version (default: the release alias's) approved for the
/// deployment run that waits for it.
pub fn approve(session: &Session, version: Option<&str>) -> Result<deployment::Approved> {
    let prepared = session.prepare(None, &[])?;
    let plan = &prepared.plan;
    let target = prepared.manifest.target(Some(&plan.target))?;
    guard(plan, &target.release.branches, "approve")?;
    if target.kind != TargetKind::Databricks || prepared.manifest.release.deployment_job.is_none() {
        return Err(Error::usage(format!(
            "target `{}` has no deployment job to approve for",
            plan.target
        ))
        .with_help("a Databricks target's model runs one when `[release] deployment_job` names a `[jobs.<name>]` job with an `approval` task"));
    }
    let model = model_of(&prepared, &plan.target)?;
    let alias = &prepared.manifest.release.alias;
    let version = match version {
        Some(v) => v.to_string(),
        None => open_registry(session, &prepared, &plan.target)?
            .alias_version(&model, alias)?
            .ok_or_else(|| {
                Error::usage(format!(
                    "model `{model}` has no version with alias `{alias}`"
                ))
                .with_help("name the version: `cargo mlops approve N`")
            })?,
    };
    let client = session.client(plan)?;
    deployment::approve(&client, &session.output, &model, &version)
}

/// What `promote` does.
pub struct Promotion<'a> {
    pub alias: &'a str,
    pub from: Option<&'a str>,
    pub version: Option<&'a str>,
    pub to_target: Option<&'a str>,
}

/// What `promote` did.
#[derive(Clone, Debug, Serialize)]
pub struct Promoted {
    pub target: String,
    pub model: String,
    pub version: String,
    pub alias: String,
    /// With `--to-target`: where the version came from.
    pub from_model: Option<String>,
    pub from_version: Option<String>,
    /// The serving endpoints that follow the alias, and what was done to each.
    pub serving: Vec<serving::Served>,
}

pub fn promote(session: &Session, p: &Promotion<'_>) -> Result<Promoted> {
    let prepared = session.prepare(None, &[])?;
    let plan = &prepared.plan;
    let source_target = prepared.manifest.target(Some(&plan.target))?;
    guard(plan, &source_target.release.branches, "promote")?;
    if let Some(to) = p.to_target {
        let t = prepared.manifest.target(Some(to))?;
        let mut to_plan = plan.clone();
        to_plan.target = to.to_string();
        guard(&to_plan, &t.release.branches, "promote")?;
    }
    let model = model_of(&prepared, &plan.target)?;
    let registry = open_registry(session, &prepared, &plan.target)?;
    let version = match (p.version, p.from) {
        (Some(v), _) => v.to_string(),
        (None, Some(from)) => registry
            .alias(&model, from)?
            .map(|v| v.version)
            .ok_or_else(|| {
                Error::usage(format!(
                    "model `{model}` has no version with alias `{from}`"
                ))
                .with_help("release one first with `cargo mlops release`")
            })?,
        (None, None) => {
            return Err(Error::usage(
                "name the version to promote with `--from ALIAS` or `--version N`",
            ));
        }
    };
    match p.to_target {
        None => {
            let endpoints = Following::of(session, &prepared, plan, p.alias, None)?;
            let before = registry.alias_version(&model, p.alias)?;
            endpoints.preflight()?;
            registry
                .set_alias(&model, p.alias, &version)?
                .ok_or_else(|| Error::usage(format!("model `{model}` has no version {version}")))?;
            registry::read_back(registry.as_ref(), &model, p.alias, &version)?;
            let serving = endpoints.follow(&serving::Move {
                model: &model,
                alias: p.alias,
                before,
                after: version.clone(),
            })?;
            Ok(Promoted {
                target: plan.target.clone(),
                model,
                version,
                alias: p.alias.to_string(),
                from_model: None,
                from_version: None,
                serving,
            })
        }
        Some(to) => copy_to_target(
            session,
            &prepared,
            registry.as_ref(),
            p,
            (&model, &version),
            to,
        ),
    }
}

/// `promote --to-target`: the version copied into the other target's model, with the alias.
fn copy_to_target(
    session: &Session,
    prepared: &Prepared,
    registry: &dyn Registry,
    p: &Promotion<'_>,
    (model, version): (&str, &str),
    to: &str,
) -> Result<Promoted> {
    let to_model = model_of(prepared, to)?;
    let source = registry
        .get(model, version)?
        .ok_or_else(|| Error::usage(format!("model `{model}` has no version {version}")))?;
    let mut tags = source.tags.clone();
    tags.insert("mlops.copied_from".into(), format!("{model}/{version}"));
    // The destination's registry makes the copy (on Databricks, in the workspace).
    let destination = open_registry(session, prepared, to)?;
    let to_plan = session.for_target(prepared, to)?.plan;
    let endpoints = Following::of(session, prepared, &to_plan, p.alias, None)?;
    let before = destination.alias_version(&to_model, p.alias)?;
    endpoints.preflight()?;
    let copied = destination
        .copy(model, version, &to_model, &tags, p.alias)?
        .ok_or_else(|| {
            Error::failed(format!(
                "copying {model}/{version} to {to_model} returned nothing"
            ))
        })?;
    registry::read_back(destination.as_ref(), &to_model, p.alias, &copied.version)?;
    let serving = endpoints.follow(&serving::Move {
        model: &to_model,
        alias: p.alias,
        before,
        after: copied.version.clone(),
    })?;
    Ok(Promoted {
        target: to.to_string(),
        model: to_model,
        version: copied.version,
        alias: p.alias.to_string(),
        from_model: Some(model.to_string()),
        from_version: Some(version.to_string()),
        serving,
    })
}
