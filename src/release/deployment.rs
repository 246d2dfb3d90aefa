//! `[release] deployment_job`: the model's MLflow 3 deployment job. Before a release registers
//! a new version, the model is linked to the job `jobs deploy` made for this branch (found by
//! its tags), so the workspace starts it for the new version with `model_name` and
//! `model_version`; after it, the run it started is followed to its end, or to its approval
//! task, where it waits for `cargo mlops approve` (or the Approve button in the workspace),
//! which sets the approval tag and repairs the run.

use std::time::{Duration, Instant};

use serde::Serialize;

use crate::databricks::Client;
use crate::databricks::deployment_jobs::{DeploymentJobs, DeploymentState};
use crate::databricks::jobs::Jobs;
use crate::error::{Error, Result};
use crate::output::Output;
use crate::run::follow::{self, Ended};
use crate::session::{Prepared, Session};

/// Where a version's deployment run stands.
#[derive(Clone, Debug, Serialize)]
pub struct Deployment {
    pub job_id: String,
    pub run_id: String,
    /// `succeeded`, or `approval` (waiting at the approval task).
    pub state: String,
    /// The approval task it waits at.
    pub task: Option<String>,
    /// The version in Catalog Explorer, where it is approved.
    pub version_url: String,
}

/// Links `model` to the deployment job deployed for this branch (when it is not linked to
/// it already); `None` without `[release] deployment_job`.
pub fn link(
    session: &Session,
    prepared: &Prepared,
    client: &Client,
    model: &str,
) -> Result<Option<u64>> {
    let Some(job) = &prepared.manifest.release.deployment_job else {
        return Ok(None);
    };
    let plan = &prepared.plan;
    let deployed = crate::jobs::find(client, &plan.project, job, &plan.branch_slug)?
        .ok_or_else(|| {
            Error::usage(format!(
                "the deployment job `{job}` ([release] deployment_job) is not deployed for branch `{}`",
                plan.branch
            ))
            .with_help(format!(
                "deploy it first with `{}`",
                session.suggest(plan, &format!("jobs deploy {job}"))
            ))
        })?;
    let api = DeploymentJobs { client };
    let id = deployed.job_id.to_string();
    let linked = api.linked(model)?;
    if linked.as_ref().and_then(Option::as_deref) != Some(id.as_str()) {
        api.link(model, deployed.job_id, linked.is_some())?;
        session.output.status(
            "Linked",
            format!("{model} to its deployment job `{job}` (job {id})"),
        );
    }
    Ok(Some(deployed.job_id))
}

/// How long a new version may take to start its deployment run: 2 minutes, or
/// `MLOPS_DEPLOYMENT_START_SECS`.
fn start_limit() -> Duration {
    Duration::from_secs(crate::support::time::env_number(
        "MLOPS_DEPLOYMENT_START_SECS",
        120,
    ))
}

/// The version's page in Catalog Explorer.
pub fn version_url(host: &str, model: &str, version: &str) -> String {
    format!(
        "{}/explore/data/models/{}/version/{version}",
        host.trim_end_matches('/'),
        model.replace('.', "/")
    )
}

/// The deployment state of a version once its run has started.
fn started(client: &Client, model: &str, version: &str) -> Result<DeploymentState> {
    let api = DeploymentJobs { client };
    let since = Instant::now();
    loop {
        if let Some(s) = api.state(model, version)?.filter(|s| s.run_id.is_some()) {
            return Ok(s);
        }
        if since.elapsed() > start_limit() {
            return Err(Error::remote(format!(
                "version {version} of {model} started no deployment run within {}",
                humantime::format_duration(start_limit())
            ))
            .with_help("check that the model is linked to its deployment job (its page in Catalog Explorer shows it) and that the job takes the parameters model_name and model_version"));
        }
        if follow::pause(Duration::from_millis(500), None).is_some() {
            return Err(Error::interrupted());
        }
    }
}

/// Follows the deployment run of `version` to its end or its approval task.
pub fn follow(client: &Client, output: &Output, model: &str, version: &str) -> Result<Deployment> {
    let state = started(client, model, version)?;
    let run_id = state.run_id.clone().unwrap_or_default();
    output.status(
        "Deploying",
        format!("version {version} of {model}: deployment job run {run_id}"),
    );
    follow_run(client, output, model, version, &run_id)
}

/// Follows run `run_id` and says where the deployment stands once it has ended.
pub fn follow_run(
    client: &Client,
    output: &Output,
    model: &str,
    version: &str,
    run_id: &str,
) -> Result<Deployment> {
    let jobs = Jobs { client };
    let id: u64 = run_id
        .parse()
        .map_err(|_| Error::remote(format!("the deployment run id `{run_id}` is not a number")))?;
    let ended = follow::follow(&jobs, id, None, output, None)?;
    let url = version_url(&client.host, model, version);
    let page = match ended {
        Ended::Done(s) => s.run_page_url,
        Ended::Interrupted(_) => return Err(Error::interrupted()),
        Ended::TimedOut(s) => s.run_page_url,
        Ended::Lost { error, .. } => {
            return Err(Error::remote(format!(
                "lost track of deployment run {run_id}: {error}"
            )));
        }
    };
    let state = DeploymentJobs { client }
        .state(model, version)?
        .unwrap_or_default();
    let mut out = Deployment {
        job_id: state.job_id.clone().unwrap_or_default(),
        run_id: run_id.to_string(),
        state: "succeeded".into(),
        task: None,
        version_url: url.clone(),
    };
    match state.run_state.as_deref() {
        Some("SUCCEEDED") => {
            output.status(
                "Deployed",
                format!("version {version} of {model} (run {run_id})"),
            );
        }
        Some("APPROVAL") => {
            let task = state.current_task_name.unwrap_or_default();
            output.status(
                "Waiting",
                format!(
                    "deployment run {run_id} waits at task `{task}` for version {version} to be approved: {url} ; approve it there or with `cargo mlops approve {version}`"
                ),
            );
            out.state = "approval".into();
            out.task = Some(task);
        }
        other => {
            return Err(Error::failed(format!(
                "the deployment run {run_id} of version {version} of {model} ended {}",
                other.unwrap_or("without a state")
            ))
            .with_help(format!("see {page}")));
        }
    }
    Ok(out)
}

/// What `approve` did.
#[derive(Clone, Debug, Serialize)]
pub struct Approved {
    pub model: String,
    pub version: String,
    pub approved_by: String,
    pub task: String,
    pub deployment: Deployment,
}

/// Approves `version` for the deployment run that waits at its approval task: sets the tag
/// the task reads (`<task> = Approved`) and who approved (`mlops.approved_by`), repairs the
/// run from that task, and follows it.
pub fn approve(client: &Client, output: &Output, model: &str, version: &str) -> Result<Approved> {
    let api = DeploymentJobs { client };
    let state = api.state(model, version)?.unwrap_or_default();
    let (Some(run_id), Some("APPROVAL")) = (&state.run_id, state.run_state.as_deref()) else {
        return Err(Error::usage(format!(
            "version {version} of {model} has no deployment run waiting for approval (its deployment is {})",
            state.run_state.as_deref().unwrap_or("not started")
        ))
        .with_help("a version waits for approval once its deployment run reaches the approval task: `cargo mlops release` says when"));
    };
    let task = state.current_task_name.clone().unwrap_or_default();
    let user = crate::databricks::workspace::Workspace { client }.me()?;
    api.set_tag(model, version, &task, "Approved")?;
    api.set_tag(model, version, "mlops.approved_by", &user)?;
    output.status(
        "Approved",
        format!("version {version} of {model} by {user} (tag `{task}` = Approved)"),
    );
    let id: u64 = run_id.parse().unwrap_or_default();
    Jobs { client }.repair(id, &task)?;
    let deployment = follow_run(client, output, model, version, run_id)?;
    Ok(Approved {
        model: model.to_string(),
        version: version.to_string(),
        approved_by: user,
        task,
        deployment,
    })
}
