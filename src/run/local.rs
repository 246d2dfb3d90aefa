//! A run on the local target: deploy to the local store, make (or reuse) the environment, and
//! run the entry point in it the way a Databricks task does: the deployed launcher extracts
//! the deployed tarball and runs the entry point in its own process, after creating the MLflow
//! run (with the same tags as on Databricks) in that same process, so MLflow is imported once.

use std::path::Path;

use serde::Deserialize;

use crate::environment::{self, Env, bin_dir};
use crate::error::{Error, Result};
use crate::output::Output;
use crate::pipeline::{self, Deployment};
use crate::plan::Plan;
use crate::run::launch::{Launch, NewRun, RunRef};
use crate::session::{Prepared, Session};
use crate::support::process::Cmd;
use crate::support::records::RunReport;

use super::request::{Finished, RunRequest};

/// Deploys to the local store, makes the environment, and runs the entry point.
pub fn run(
    session: &Session,
    prepared: &Prepared,
    request: &RunRequest<'_>,
    output: &Output,
) -> Result<Finished> {
    if request.no_wait || request.timeout.is_some() {
        return Err(Error::usage(format!(
            "`--no-wait` and `--timeout` apply to Databricks targets; `{}` runs on this machine",
            prepared.plan.target
        ))
        .with_help("drop them, or name a Databricks target with `--target NAME`"));
    }
    let plan = &prepared.plan;
    let state_dir = prepared.manifest.make_state_dir()?;
    let open = session.store(plan)?;
    let deployment = pipeline::deploy(session, prepared, &open, request.no_cache, false, output)?;
    let python = session.python()?;
    let env_text =
        fs_err::read_to_string(deployment.rendered.dir.join(&deployment.rendered.env_file))?;
    let wheels = deployment
        .wheels
        .iter()
        .map(|w| environment::OurWheel {
            file: w.file.clone(),
            path: w.remote_path.clone().into(),
            sha256: w.sha256.clone(),
        })
        .collect();
    let spec = environment::Spec::new(&deployment.rendered.env_file, &env_text, wheels)?;
    let env_file = &deployment.rendered.env_file;
    let wanted = environment::requirements::requested_python(env_file, &env_text);
    let chosen = environment::interpreter::for_env(env_file, wanted.as_deref(), &python, &|k| {
        std::env::var_os(k)
    });
    if let Some(warning) = &chosen.warning {
        output.warn(warning);
    }
    let env = environment::ensure_env(&state_dir, &chosen.python, &spec, output)?;
    crate::support::interrupt::check()?;
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

/// Where a new experiment of the local store keeps its artifacts (logged models, files):
/// `<state dir>/mlartifacts/<branch>`. Without it MLflow's SQLite store puts them in
/// `./mlruns` of whatever folder the command ran in. `None` when `MLFLOW_TRACKING_URI`
/// names another store, whose server decides.
fn own_store_artifacts(state_dir: &Path, plan: &Plan) -> Option<String> {
    let ours = std::env::var("MLFLOW_TRACKING_URI").map_or(true, |v| v.is_empty());
    ours.then(|| {
        crate::support::paths::absolute(&state_dir.join("mlartifacts").join(&plan.branch_slug))
            .to_string_lossy()
            .into_owned()
    })
}

/// What the launcher writes to its `--result-file`.
#[derive(Debug, Deserialize)]
struct LaunchResult {
    run_id: String,
    #[serde(default)]
    experiment_id: Option<String>,
    status: String,
    #[serde(default)]
    metrics: serde_json::Map<String, serde_json::Value>,
}

/// Lines of a failed run's output kept for `-q` and CI summaries.
const LOG_TAIL: usize = 50;

/// Runs the entry point of the deployed project in `env` with the deployed launcher; its
/// output streams through.
fn launch(
    plan: &Plan,
    state_dir: &Path,
    deployment: &Deployment,
    env: &Env,
    entry: &str,
    output: &Output,
) -> Result<Finished> {
    let uri = tracking_uri(state_dir);
    fs_err::create_dir_all(state_dir)?;
    let result_file = tempfile::Builder::new()
        .prefix(".run-")
        .suffix(".json")
        .tempfile_in(state_dir)
        .map_err(|e| Error::io(format!("cannot make a file in {}", state_dir.display()), e))?;
    let launch = Launch {
        tarball: deployment.tarball.remote_path.clone(),
        run: RunRef::New(new_run(plan, state_dir, deployment, entry)),
        tracking_uri: Some(uri.clone()),
        result_file: Some(result_file.path().to_string_lossy().into_owned()),
        // The launcher makes the run, so it fills in the run's id.
        log_dir: Some(super::live_log::folder(&plan.branch_artifacts, "{run_id}")),
        entry: super::entry::entry_of(plan)?,
    };
    let cmd = command(env, deployment, &launch, &uri)?;
    output.status(
        "Running",
        format!(
            "`{entry}` {} ({})",
            if launch.entry.in_process() {
                "in-process"
            } else {
                "in a shell"
            },
            super::entry::describe_params(&plan.parameters)
        ),
    );
    output.verbose("Running", cmd.display());
    let (status, tail) = stream(cmd, output)?;
    if crate::support::interrupt::requested() {
        return Err(Error::interrupted());
    }
    let result: Option<LaunchResult> = fs_err::read(result_file.path())
        .ok()
        .and_then(|bytes| serde_json::from_slice(&bytes).ok());
    let quiet = output.verbosity() == crate::output::Verbosity::Quiet;
    let show_tail = || {
        if quiet && !tail.is_empty() {
            output.block(
                &format!("Last {LOG_TAIL} lines of the run's output:"),
                &tail,
            );
        }
    };
    let Some(result) = result else {
        show_tail();
        return Err(Error::failed(format!(
            "the local run ended ({}) before MLflow started a run",
            status.map_or("killed by a signal".to_string(), |c| format!("status {c}"))
        ))
        .with_help(output_help(quiet)));
    };
    let report = report(plan, env, &uri, result);
    let failure = (report.result != "SUCCESS").then(|| {
        show_tail();
        Error::failed(format!(
            "the entry point `{entry}` failed (MLflow run {} is {})",
            report.mlflow_run_id, report.status
        ))
        .with_help(output_help(quiet))
    });
    let mut report = report;
    report.error = failure.as_ref().map(|e| e.message().to_string());
    Ok(Finished {
        log_tail: failure.is_some().then_some(tail),
        report,
        failure,
    })
}

/// The deployed launcher in `env`, with the environment's programs first on PATH.
fn command(env: &Env, deployment: &Deployment, launch: &Launch, uri: &str) -> Result<Cmd> {
    let path = std::env::join_paths(std::iter::once(bin_dir(&env.dir)).chain(
        std::env::split_paths(&std::env::var_os("PATH").unwrap_or_default()),
    ))
    .map_err(|e| Error::failed(format!("cannot build PATH: {e}")))?;
    Ok(Cmd::new(&env.python)
        .arg(&deployment.launcher.remote_path)
        .args(launch.args())
        .env("PATH", path)
        .env("VIRTUAL_ENV", &env.dir)
        .env("MLFLOW_TRACKING_URI", uri)
        .env("PYTHONUNBUFFERED", "1"))
}

/// The MLflow run the launcher creates: named, tagged and with its parameters as on
/// Databricks, in the branch's experiment.
fn new_run(plan: &Plan, state_dir: &Path, deployment: &Deployment, entry: &str) -> NewRun {
    let user = crate::plan::local_user().unwrap_or_else(|| "unknown".into());
    let repo_url = crate::git::remote_url(&plan.mlproject);
    let tags = super::tags::run_tags(plan, entry, &user, repo_url.as_deref(), deployment, "local");
    NewRun {
        experiment: plan.experiment.clone(),
        artifact_location: own_store_artifacts(state_dir, plan),
        run_name: format!("{entry}@{}", plan.branch),
        tags: tags.into_iter().collect(),
        params: plan.parameters.clone(),
        experiment_tags: super::tags::experiment_tags(plan),
    }
}

/// Runs the launcher with its output passing through as it comes, to stderr (stdout holds
/// the command's result). The last lines are kept: with `-q` they are all a failed run shows
/// of itself. Returns the exit status and those lines.
fn stream(cmd: Cmd, output: &Output) -> Result<(Option<i32>, String)> {
    let mut tail = std::collections::VecDeque::with_capacity(LOG_TAIL);
    let status = cmd
        .stream(|line| {
            output.passthrough(line);
            if tail.len() == LOG_TAIL {
                tail.pop_front();
            }
            tail.push_back(line.to_string());
        })
        .map_err(|e| Error::failed(format!("cannot run the local run: {e}")))?;
    let tail: Vec<String> = tail.into();
    Ok((status, tail.join("\n")))
}

/// The report of a run the launcher ended (or left RUNNING, killed before it could end it:
/// then it failed).
fn report(plan: &Plan, env: &Env, uri: &str, result: LaunchResult) -> RunReport {
    let status = if result.status == "RUNNING" {
        "FAILED".to_string()
    } else {
        result.status
    };
    let mut report = super::request::report(plan, &result.run_id, uri);
    report.experiment_id = result.experiment_id;
    report.result = match status.as_str() {
        "FINISHED" => "SUCCESS",
        "KILLED" => "CANCELED",
        _ => "FAILED",
    }
    .into();
    report.status = status;
    report.metrics = result
        .metrics
        .iter()
        .filter_map(|(k, v)| v.as_f64().map(|v| (k.clone(), v)))
        .collect();
    report.environment = Some(env.dir.display().to_string());
    report.ui = Some(format!(
        "{} -m mlflow ui --backend-store-uri {uri}",
        crate::support::process::shell_quote(&env.python.to_string_lossy())
    ));
    report
}

/// Where a failed local run's own words are.
fn output_help(quiet: bool) -> &'static str {
    if quiet {
        "the last lines of its output, above, say why"
    } else {
        "its output above says why"
    }
}
