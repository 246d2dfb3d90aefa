//! `cargo mlops run --entry E`: deploy, then run the entry point and follow it to the end,
//! exiting with its result. On a Databricks target that is a one-time job run.

use serde::Serialize;

use crate::cli::RunArgs;
use crate::databricks::jobs::{Jobs, RunState};
use crate::databricks::mlflow::Mlflow;
use crate::error::{Error, Result};
use crate::follow::{self, Ended};
use crate::local;
use crate::manifest::TargetKind;
use crate::output::Output;
use crate::submit;

use super::{Prepared, Session, deploy};

/// What `run --json` prints, and what CI systems get as outputs.
#[derive(Clone, Debug, Serialize)]
pub struct RunReport {
    pub target: String,
    pub experiment: String,
    pub experiment_id: String,
    pub mlflow_run_id: String,
    pub databricks_run_id: u64,
    pub run_page_url: String,
    /// `SUCCESS`, `FAILED`, `CANCELED`, `TIMEDOUT`, ..., or `SUBMITTED` with `--no-wait`.
    pub result: String,
}

/// Lines of the task's log shown when a run fails.
const LOG_TAIL: usize = 50;

pub fn run(session: &Session, args: &RunArgs) -> Result<()> {
    crate::interrupt::install();
    let output = session.output.clone().with_json(args.json);
    let timeout = args
        .timeout
        .as_deref()
        .map(follow::parse_duration)
        .transpose()
        .map_err(|e| Error::usage(format!("--timeout {e}")))?;
    // Everything is checked (entry point, parameters, target) before anything is built or sent.
    let prepared = session.prepare(Some(&args.entry), &args.params)?;
    match prepared.plan.target_kind {
        TargetKind::Databricks => on_databricks(session, &prepared, args, timeout, &output),
        TargetKind::Local => on_this_machine(session, &prepared, args, &output),
    }
}

fn on_this_machine(
    session: &Session,
    prepared: &Prepared,
    args: &RunArgs,
    output: &Output,
) -> Result<()> {
    if args.no_wait || args.timeout.is_some() {
        return Err(Error::usage(format!(
            "`--no-wait` and `--timeout` apply to Databricks targets; `{}` runs on this machine",
            prepared.plan.target
        ))
        .with_help("drop them, or name a Databricks target with `--target NAME`"));
    }
    let plan = &prepared.plan;
    let state_dir = prepared.manifest.state_dir();
    let open = session.store(plan)?;
    let deployment = deploy::deploy(session, prepared, &open, args.no_cache, output)?;
    let python = session.python()?;
    let env_text =
        fs_err::read_to_string(deployment.rendered.dir.join(&deployment.rendered.env_file))?;
    let wheel_paths: Vec<String> = deployment
        .wheels
        .iter()
        .map(|w| w.remote_path.clone())
        .collect();
    let hashes: Vec<String> = deployment.wheels.iter().map(|w| w.sha256.clone()).collect();
    let reqs = local::requirements(&deployment.rendered.env_file, &env_text, &wheel_paths);
    let key = local::env_key(&python, &reqs, &hashes);
    let env = local::ensure_env(&state_dir, &python, &reqs, &key, output)?;
    crate::interrupt::check()?;
    let result = local::run(plan, &state_dir, &deployment, &env, &args.entry, output)?;
    if output.json() {
        output.result_json(&result);
    } else {
        output.result(format!("mlflow_run_id  {}", result.mlflow_run_id));
        output.result(format!("status         {}", result.status));
        output.result(format!("experiment     {}", result.experiment));
        if let Some(metrics) = result.metrics.as_object() {
            for (k, v) in metrics {
                output.result(format!("metric         {k} = {v}"));
            }
        }
        output.result(format!("see it with    {}", result.ui));
    }
    if result.status == "FINISHED" {
        output.status(
            "Finished",
            format!("run {} of `{}`", result.mlflow_run_id, args.entry),
        );
        Ok(())
    } else {
        Err(Error::failed(format!(
            "the entry point `{}` failed (MLflow run {} is {})",
            args.entry, result.mlflow_run_id, result.status
        ))
        .with_help("its output above says why"))
    }
}

fn on_databricks(
    session: &Session,
    prepared: &Prepared,
    args: &RunArgs,
    timeout: Option<std::time::Duration>,
    output: &Output,
) -> Result<()> {
    let plan = &prepared.plan;
    let open = session.store(plan)?;
    let deployment = deploy::deploy(session, prepared, &open, args.no_cache, output)?;
    let (store, client) = &open;
    let client = client
        .clone()
        .expect("a Databricks target's store comes with its client");
    let submission = submit::submit(
        &client,
        plan,
        &args.entry,
        &deployment,
        timeout.map(|t| t.as_secs()),
        output,
    )?;
    // What the job reads, so that `gc` never deletes it while the job may still run.
    let run_record = serde_json::json!({
        "databricks_run_id": submission.databricks_run_id,
        "mlflow_run_id": submission.mlflow_run_id,
        "deploy_record": deployment.record,
        "time": crate::time::rfc3339(crate::time::now_secs()),
        "paths": deployment
            .wheels
            .iter()
            .chain([&deployment.tarball, &deployment.launcher])
            .map(|p| p.remote_path.clone())
            .collect::<Vec<_>>(),
    });
    store.write_small(
        &format!(
            "{}/runs/{}.json",
            plan.branch_artifacts.trim_end_matches('/'),
            submission.databricks_run_id
        ),
        run_record.to_string().as_bytes(),
    )?;
    output.status(
        "Submitted",
        format!(
            "run {} (MLflow run {}): {}",
            submission.databricks_run_id, submission.mlflow_run_id, submission.run_page_url
        ),
    );
    let mut report = RunReport {
        target: plan.target.clone(),
        experiment: submission.experiment.clone(),
        experiment_id: submission.experiment_id.clone(),
        mlflow_run_id: submission.mlflow_run_id.clone(),
        databricks_run_id: submission.databricks_run_id,
        run_page_url: submission.run_page_url.clone(),
        result: "SUBMITTED".into(),
    };
    if args.no_wait {
        finish(&report, output);
        return Ok(());
    }
    let jobs = Jobs { client: &client };
    let mlflow = Mlflow { client: &client };
    let ended = follow::follow(&jobs, submission.databricks_run_id, timeout, output)?;
    client.clean_up_after_interrupt();
    let end =
        |status: &str| mlflow.end_run(&submission.mlflow_run_id, status, crate::time::now_ms());
    let outcome = match ended {
        Ended::Done(state) if state.succeeded() => {
            end("FINISHED")?;
            report.result = state.outcome();
            Ok(())
        }
        Ended::Done(state) => {
            show_failure(&jobs, &state, output);
            end("FAILED")?;
            report.result = state.outcome();
            Err(Error::failed(format!(
                "run {} ended {}{}",
                submission.databricks_run_id,
                state.outcome(),
                if state.message.is_empty() {
                    String::new()
                } else {
                    format!(": {}", state.message)
                }
            ))
            .with_help(format!(
                "see {} ; `cargo mlops logs {}` shows the output again",
                submission.run_page_url, submission.databricks_run_id
            )))
        }
        Ended::TimedOut(state) => {
            end("FAILED")?;
            report.result = "TIMEDOUT".into();
            Err(Error::failed(format!(
                "run {} took longer than --timeout {}; it was cancelled ({})",
                submission.databricks_run_id,
                args.timeout.as_deref().unwrap_or(""),
                state.outcome()
            )))
        }
        Ended::Interrupted(state) => {
            end("KILLED")?;
            report.result = state.outcome();
            Err(Error::interrupted())
        }
    };
    finish(&report, output);
    outcome
}

/// Prints the task's error, trace and the end of its log.
fn show_failure(jobs: &Jobs<'_>, state: &RunState, output: &Output) {
    let Some(task) = state.task_run_id else {
        return;
    };
    match jobs.output(task) {
        Ok(out) => {
            if let Some(error) = &out.error {
                output.block("Error:", error);
            }
            if let Some(trace) = &out.error_trace {
                output.block("Trace:", trace);
            }
            if let Some(logs) = &out.logs {
                output.block(
                    &format!("Last {LOG_TAIL} lines of the log:"),
                    &crate::process::tail(logs, LOG_TAIL),
                );
            }
        }
        Err(e) => output.warn(format!("cannot fetch the run's output: {e}")),
    }
}

/// The result on stdout, and as outputs of the CI system we run under.
fn finish(report: &RunReport, output: &Output) {
    if output.json() {
        output.result_json(report);
    } else {
        output.result(format!("mlflow_run_id      {}", report.mlflow_run_id));
        output.result(format!("databricks_run_id  {}", report.databricks_run_id));
        output.result(format!("run_page_url       {}", report.run_page_url));
        output.result(format!("result             {}", report.result));
    }
    if let Err(e) = crate::ci::publish_outputs(report, output) {
        output.warn(format!("cannot write the CI outputs: {e}"));
    }
}
