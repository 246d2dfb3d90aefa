//! A submitted Databricks run, by its id: its state, its task's output, and cancelling it.

use std::sync::Arc;

use crate::databricks::Client;
use crate::databricks::jobs::{Jobs, RunOutput, RunState};
use crate::databricks::mlflow::Mlflow;
use crate::error::{Error, Result};
use crate::manifest::TargetKind;
use crate::output::Output;
use crate::session::Session;

/// The client of the session's target, which must be a Databricks target.
fn client(session: &Session) -> Result<Arc<Client>> {
    let prepared = session.prepare(None, &[])?;
    if prepared.plan.target_kind != TargetKind::Databricks {
        return Err(Error::usage(format!(
            "target `{}` is not a Databricks target",
            prepared.plan.target
        ))
        .with_help("name the workspace's target with `--target NAME`"));
    }
    session.client(&prepared.plan)
}

/// The run's state.
pub fn status(session: &Session, run_id: u64) -> Result<RunState> {
    let client = client(session)?;
    Ok(Jobs { client: &client }.get(run_id)?)
}

/// The output of the run's task, and that task's run id.
pub fn logs(session: &Session, run_id: u64) -> Result<(u64, RunOutput)> {
    let client = client(session)?;
    let jobs = Jobs { client: &client };
    let state = jobs.get(run_id)?;
    let task = state.task_run_id.ok_or_else(|| {
        Error::remote(format!(
            "run {run_id} has no task run to read the output of"
        ))
    })?;
    Ok((task, jobs.output(task)?))
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
    let state = crate::follow::cancel_and_wait(&Jobs { client: &client }, run_id, output)?;
    let mlflow = Mlflow { client: &client };
    if let Some(id) = &state.mlflow_run_id {
        if matches!(mlflow.status(id)?.as_str(), "RUNNING" | "SCHEDULED") {
            mlflow.end_run(id, "KILLED", crate::time::now_ms())?;
            output.status("Ended", format!("MLflow run {id} KILLED"));
        }
    }
    let mlflow_run_id = state.mlflow_run_id.clone();
    Ok((state, mlflow_run_id))
}
