//! `status`, `logs` and `cancel` for a submitted Databricks run.

use serde_json::json;

use crate::cli::{RemoteRunArgs, StatusArgs};
use crate::error::Result;
use crate::run::remote;
use crate::session::Session;

pub fn status(session: &Session, args: &StatusArgs) -> Result<()> {
    let output = session.output.clone().with_json(args.json);
    let (state, failure) = if args.wait {
        remote::wait(session, args.run_id, &output)?
    } else {
        remote::status(session, args.run_id, &output)?
    };
    if output.json() {
        output.result_json(&json!({
            "databricks_run_id": args.run_id,
            "life_cycle_state": state.life_cycle,
            "result_state": state.result,
            "state_message": state.message,
            "run_page_url": state.run_page_url,
        }));
    } else {
        output.result(format!("run       {}", args.run_id));
        output.result(format!("state     {}", state.life_cycle));
        if let Some(r) = &state.result {
            output.result(format!("result    {r}"));
        }
        if !state.message.is_empty() {
            output.result(format!("message   {}", state.message));
        }
        output.result(format!("run page  {}", state.run_page_url));
    }
    // Exit 1 for a run that ended other than SUCCESS, as `run` does.
    failure.map_or(Ok(()), Err)
}

pub fn logs(session: &Session, args: &RemoteRunArgs) -> Result<()> {
    let output = session.output.clone().with_json(args.json);
    let (task, out, state) = remote::logs(session, args.run_id, &output)?;
    if output.json() {
        output.result_json(&json!({
            "databricks_run_id": args.run_id,
            "task_run_id": task,
            "error": out.error,
            "error_trace": out.error_trace,
            "logs": out.logs,
        }));
    } else {
        if let Some(logs) = &out.logs {
            output.result(logs.trim_end());
        }
        if let Some(error) = &out.error {
            output.block("Error:", error);
        }
        if let Some(trace) = &out.error_trace {
            output.block("Trace:", trace);
        }
        let nothing = out.logs.as_deref().is_none_or(|l| l.trim().is_empty())
            && out.error.is_none()
            && out.error_trace.is_none();
        if nothing {
            let why = if state.is_terminal() {
                format!(
                    "run {} ended {} and left no output",
                    args.run_id,
                    state.outcome()
                )
            } else {
                format!(
                    "run {} is {}: no output yet (the workspace gives a task's output once it has ended); follow it with `cargo mlops status {} --wait`",
                    args.run_id, state.life_cycle, args.run_id
                )
            };
            output.note(why);
        }
    }
    Ok(())
}

pub fn cancel(session: &Session, args: &RemoteRunArgs) -> Result<()> {
    let output = session.output.clone().with_json(args.json);
    let (state, mlflow_run_id) = remote::cancel(session, args.run_id, &output)?;
    if output.json() {
        output.result_json(&json!({
            "databricks_run_id": args.run_id,
            "result": state.outcome(),
            "mlflow_run_id": mlflow_run_id,
        }));
    } else {
        output.result(format!("run {} {}", args.run_id, state.outcome()));
    }
    Ok(())
}
