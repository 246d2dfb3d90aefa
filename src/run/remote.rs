//! A submitted Databricks run, by its id: its state, its task's output, and cancelling it.

use std::sync::Arc;

use crate::databricks::Client;
use crate::databricks::jobs::{Jobs, RunOutput, RunState};
use crate::databricks::mlflow::Mlflow;
use crate::error::{Error, Result};
use crate::manifest::TargetKind;
use crate::output::Output;
use crate::session::Session;

/// The client of the session's target, which must be a Databricks target. The project is
/// read only to reach its workspace: its warnings (the environment file's, the compute's) are
/// `run`'s and `check`'s to give, not repeated by every look at a run.
fn client(session: &Session) -> Result<Arc<Client>> {
    let prepared = quiet(session).prepare(None, &[])?;
    if prepared.plan.target_kind != TargetKind::Databricks {
        return Err(Error::usage(format!(
            "target `{}` is not a Databricks target",
            prepared.plan.target
        ))
        .with_help("name the workspace's target with `--target NAME`"));
    }
    session.client(&prepared.plan)
}

/// The session with its warnings kept back (see [`client`]).
fn quiet(session: &Session) -> Session {
    Session {
        global: session.global.clone(),
        output: session.output.without_warnings(),
        cwd: session.cwd.clone(),
    }
}

/// The MLflow status that matches a job that has ended: what `run` sets when it follows the
/// job to its end.
pub fn mlflow_status_of(state: &RunState) -> &'static str {
    match state.result.as_deref() {
        Some("SUCCESS") => "FINISHED",
        Some("CANCELED") => "KILLED",
        _ => "FAILED",
    }
}

/// Ends the MLflow run of a job that has ended without ending it (its task failed before the
/// launcher started: a library that did not install, a cluster that never came up), with
/// the job's result. Whoever looks at the job next does it: `status`, `logs`, `runs`.
/// Returns the status it set, if it set one.
pub fn reconcile(
    client: &Client,
    state: &RunState,
    output: &Output,
) -> Result<Option<&'static str>> {
    let (true, Some(id)) = (state.is_terminal(), &state.mlflow_run_id) else {
        return Ok(None);
    };
    let mlflow = Mlflow { client };
    if !matches!(mlflow.status(id)?.as_str(), "RUNNING" | "SCHEDULED") {
        return Ok(None);
    }
    let status = mlflow_status_of(state);
    mlflow.end_run(id, status, crate::support::time::now_ms())?;
    output.status(
        "Ended",
        format!(
            "MLflow run {id} {status}: its job ended {} without ending it",
            state.outcome()
        ),
    );
    Ok(Some(status))
}

/// A run that ended any other way than SUCCESS, as the error `status` and `logs` exit with.
fn failed(run_id: u64, state: &RunState) -> Option<Error> {
    (state.is_terminal() && !state.succeeded()).then(|| {
        Error::failed(format!(
            "run {run_id} ended {}",
            state.outcome_and_message()
        ))
    })
}

/// The run's state (its MLflow run ended when the job ended without doing it), and the
/// error to exit with when it ended other than SUCCESS.
pub fn status(
    session: &Session,
    run_id: u64,
    output: &Output,
) -> Result<(RunState, Option<Error>)> {
    let client = client(session)?;
    let state = Jobs { client: &client }.get(run_id)?;
    reconcile(&client, &state, output)?;
    let failure = failed(run_id, &state);
    Ok((state, failure))
}

/// Follows the run to its end as `run` does (state changes, Ctrl-C cancels it, a passing
/// outage is waited out), ends its MLflow run with the result when nothing did, and shows a
/// failed run's error and log tail; returns the final state and the error to exit with.
pub fn wait(session: &Session, run_id: u64, output: &Output) -> Result<(RunState, Option<Error>)> {
    crate::support::interrupt::install();
    let prepared = quiet(session).prepare(None, &[])?;
    let client = client(session)?;
    let jobs = Jobs { client: &client };
    let ended = crate::run::follow::follow(&jobs, run_id, None, output)?;
    client.clean_up_after_interrupt();
    use crate::run::follow::Ended;
    let state = match ended {
        Ended::Done(state) | Ended::TimedOut(state) => state,
        Ended::Interrupted(state) => {
            reconcile(&client, &state, output)?;
            return Ok((state, Some(Error::interrupted())));
        }
        Ended::Lost { error, waited } => {
            return Err(crate::run::databricks::lost(
                session,
                &prepared.plan,
                run_id,
                &error,
                waited,
            ));
        }
    };
    reconcile(&client, &state, output)?;
    if state.is_terminal() && !state.succeeded() {
        crate::run::databricks::show_failure(&jobs, &state, output);
    }
    let failure = failed(run_id, &state);
    Ok((state, failure))
}

/// The output of the run's task and that task's run id (the MLflow run ended when the job
/// ended without doing it). Showing a failed run's logs succeeds: `status` is the command
/// whose exit code says how the run ended.
pub fn logs(session: &Session, run_id: u64, output: &Output) -> Result<(u64, RunOutput, RunState)> {
    let client = client(session)?;
    let jobs = Jobs { client: &client };
    let state = jobs.get(run_id)?;
    reconcile(&client, &state, output)?;
    let task = state.task_run_id.ok_or_else(|| {
        Error::remote(format!(
            "run {run_id} has no task run to read the output of"
        ))
    })?;
    Ok((task, jobs.output(task)?, state))
}

/// Cancels the run, waits until it has ended, and ends the MLflow run it logged into
/// KILLED (as Ctrl-C during `run` does) when that was still running; returns the MLflow
/// run's id when there is one.
pub fn cancel(
    session: &Session,
    run_id: u64,
    output: &Output,
) -> Result<(RunState, Option<String>)> {
    let client = client(session)?;
    let state = crate::run::follow::cancel_and_wait(&Jobs { client: &client }, run_id, output)?;
    let mlflow = Mlflow { client: &client };
    if let Some(id) = &state.mlflow_run_id {
        if matches!(mlflow.status(id)?.as_str(), "RUNNING" | "SCHEDULED") {
            mlflow.end_run(id, "KILLED", crate::support::time::now_ms())?;
            output.status("Ended", format!("MLflow run {id} KILLED"));
        }
    }
    let mlflow_run_id = state.mlflow_run_id.clone();
    Ok((state, mlflow_run_id))
}
