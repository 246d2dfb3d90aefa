//! A run on the local target: deploy to the local store, make (or reuse) the environment, and
//! run the entry point in it the way a Databricks task does: the deployed launcher extracts
//! the deployed tarball and runs the entry point in its own process, after creating the MLflow
//! run (with the same tags as on Databricks) in that same process, so MLflow is imported once.

use std::path::Path;

use serde::Deserialize;

use crate::environment::{self, Env, bin_dir};
use crate::error::{Error, Result};
use crate::launch::{Launch, NewRun, RunRef};
use crate::output::Output;
use crate::pipeline::{self, Deployment};
use crate::plan::Plan;
use crate::process::Cmd;
use crate::session::{Prepared, Session};

use super::request::{LocalRun, RunRequest};

/// Deploys to the local store, makes the environment, and runs the entry point.
pub fn run(
    session: &Session,
    prepared: &Prepared,
    request: &RunRequest<'_>,
    output: &Output,
) -> Result<LocalRun> {
    if request.no_wait || request.timeout.is_some() {
        return Err(Error::usage(format!(
            "`--no-wait` and `--timeout` apply to Databricks targets; `{}` runs on this machine",
            prepared.plan.target
        ))
        .with_help("drop them, or name a Databricks target with `--target NAME`"));
    }
    let plan = &prepared.plan;
    let state_dir = prepared.manifest.state_dir();
    let open = session.store(plan)?;
    let deployment = pipeline::deploy(session, prepared, &open, request.no_cache, output)?;
    let python = session.python()?;
    let env_text =
        fs_err::read_to_string(deployment.rendered.dir.join(&deployment.rendered.env_file))?;
    let wheel_paths: Vec<String> = deployment
        .wheels
        .iter()
        .map(|w| w.remote_path.clone())
        .collect();
    let hashes: Vec<String> = deployment.wheels.iter().map(|w| w.sha256.clone()).collect();
    let reqs = environment::requirements(&deployment.rendered.env_file, &env_text, &wheel_paths);
    let key = environment::env_key(&python, &reqs, &hashes);
    let env = environment::ensure_env(&state_dir, &python, &reqs, &key, output)?;
    crate::interrupt::check()?;
    launch(plan, &state_dir, &deployment, &env, request.entry, output)
}

/// The tracking store: `MLFLOW_TRACKING_URI` when set, else a SQLite store under `.mlops/`
/// (the store MLflow recommends since file stores were deprecated).
pub fn tracking_uri(state_dir: &Path) -> String {
    std::env::var("MLFLOW_TRACKING_URI")
        .ok()
        .filter(|v| !v.is_empty())
        .unwrap_or_else(|| format!("sqlite:///{}", state_dir.join("mlflow.db").display()))
}

/// What the launcher writes to its `--result-file`.
#[derive(Debug, Deserialize)]
struct LaunchResult {
    run_id: String,
    status: String,
    #[serde(default)]
    params: serde_json::Value,
    #[serde(default)]
    metrics: serde_json::Value,
}

/// Runs the entry point of the deployed project in `env` with the deployed launcher; its
/// output streams through.
fn launch(
    plan: &Plan,
    state_dir: &Path,
    deployment: &Deployment,
    env: &Env,
    entry: &str,
    output: &Output,
) -> Result<LocalRun> {
    let uri = tracking_uri(state_dir);
    let user = crate::plan::local_user().unwrap_or_else(|| "unknown".into());
    let repo_url = crate::git::remote_url(&plan.mlproject);
    let tags =
        crate::submit::run_tags(plan, entry, &user, repo_url.as_deref(), deployment, "local");
    fs_err::create_dir_all(state_dir)?;
    let result_file = tempfile::Builder::new()
        .prefix(".run-")
        .suffix(".json")
        .tempfile_in(state_dir)
        .map_err(|e| Error::io(format!("cannot make a file in {}", state_dir.display()), e))?;
    let launch = Launch {
        tarball: deployment.tarball.remote_path.clone(),
        run: RunRef::New(NewRun {
            experiment: plan.experiment.clone(),
            run_name: format!("{entry}@{}", plan.branch),
            tags: tags.into_iter().collect(),
            params: plan.parameters.clone(),
        }),
        tracking_uri: Some(uri.clone()),
        result_file: Some(result_file.path().to_string_lossy().into_owned()),
        entry: crate::submit::entry_of(plan)?,
    };
    let path = std::env::join_paths(std::iter::once(bin_dir(&env.dir)).chain(
        std::env::split_paths(&std::env::var_os("PATH").unwrap_or_default()),
    ))
    .map_err(|e| Error::failed(format!("cannot build PATH: {e}")))?;
    let cmd = Cmd::new(&env.python)
        .arg(&deployment.launcher.remote_path)
        .args(launch.args())
        .env("PATH", path)
        .env("VIRTUAL_ENV", &env.dir)
        .env("MLFLOW_TRACKING_URI", &uri)
        .env("PYTHONUNBUFFERED", "1");
    output.status(
        "Running",
        format!(
            "`{entry}` {} ({})",
            if launch.entry.in_process() {
                "in-process"
            } else {
                "in a shell"
            },
            crate::submit::describe_params(&plan.parameters)
        ),
    );
    output.verbose("Running", cmd.display());
    // Its output passes through as it comes, to stderr: stdout holds the command's result.
    let status = cmd
        .stream(|line| output.passthrough(line))
        .map_err(|e| Error::failed(format!("cannot run the local run: {e}")))?;
    if crate::interrupt::requested() {
        return Err(Error::interrupted());
    }
    let result: Option<LaunchResult> = fs_err::read(result_file.path())
        .ok()
        .and_then(|bytes| serde_json::from_slice(&bytes).ok());
    let Some(result) = result else {
        return Err(Error::failed(format!(
            "the local run ended ({}) before MLflow started a run",
            status.map_or("killed by a signal".to_string(), |c| format!("status {c}"))
        ))
        .with_help("its output above says why"));
    };
    let ui = format!(
        "{} -m mlflow ui --backend-store-uri {uri}",
        crate::process::shell_quote(&env.python.to_string_lossy())
    );
    // A launcher killed before it could end the run leaves it RUNNING: it failed.
    let status = if result.status == "RUNNING" {
        "FAILED".to_string()
    } else {
        result.status
    };
    Ok(LocalRun {
        mlflow_run_id: result.run_id,
        status,
        experiment: plan.experiment.clone(),
        tracking_uri: uri,
        params: result.params,
        metrics: result.metrics,
        environment: env.dir.clone(),
        ui,
    })
}
