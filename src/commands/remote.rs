//! `status`, `logs` and `cancel` for a submitted Databricks run.

use serde_json::json;

use crate::cli::{LogsArgs, RemoteRunArgs, StatusArgs};
use crate::databricks::jobs::RunOutput;
use crate::error::Result;
use crate::output::Output;
use crate::run::live_log::show_line;
use crate::run::remote;
use crate::session::Session;

pub fn status(session: &Session, args: &StatusArgs) -> Result<()> {
    let output = session.output.clone().with_json(args.json);
    let (state, failure) = if args.wait {
        remote::wait(session, args.run_id, false, &output)?
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

pub fn logs(session: &Session, args: &LogsArgs) -> Result<()> {
    let output = session.output.clone().with_json(args.json);
    let run_id = remote::run_or_last(session, args.run_id)?;
    if args.follow {
        return follow_logs(session, run_id, &output);
    }
    let logs = remote::logs(session, run_id, &output)?;
    if output.json() {
        output.result_json(&logs_json(&logs));
        return Ok(());
    }
    if let Some(lines) = &logs.live {
        for line in lines {
            show_line(line, true, &output);
        }
    }
    if let Some((_, out)) = &logs.task_output {
        show_task_output(&logs, out, &output);
    }
    if logs.live.as_ref().is_none_or(Vec::is_empty) && nothing_in(&logs.task_output) {
        output.note(nothing_yet(&logs));
    }
    Ok(())
}

/// `logs --follow`: the output so far, then as it comes until the run ends; the exit code
/// is `run`'s (and so is Ctrl-C: the run is cancelled).
fn follow_logs(session: &Session, run_id: u64, output: &Output) -> Result<()> {
    let (state, failure) = remote::wait(session, run_id, true, output)?;
    if output.json() {
        output.result_json(&json!({
            "databricks_run_id": run_id,
            "life_cycle_state": state.life_cycle,
            "result_state": state.result,
            "state_message": state.message,
            "run_page_url": state.run_page_url,
        }));
    }
    failure.map_or(Ok(()), Err)
}

fn logs_json(logs: &remote::Logs) -> serde_json::Value {
    let out = logs.task_output.as_ref();
    json!({
        "databricks_run_id": logs.run_id,
        "life_cycle_state": logs.state.life_cycle,
        "source": if logs.live.is_some() { "live_log" } else { "runs/get-output" },
        "lines": logs.live,
        "task_run_id": out.map(|(task, _)| task).or(logs.state.task_run_id.as_ref()),
        "error": out.and_then(|(_, o)| o.error.as_ref()),
        "error_trace": out.and_then(|(_, o)| o.error_trace.as_ref()),
        "logs": out.and_then(|(_, o)| o.logs.as_ref()),
    })
}

/// What `runs/get-output` adds: the whole task log when the live log is missing (said so),
/// and a failed task's error.
fn show_task_output(logs: &remote::Logs, out: &RunOutput, output: &Output) {
    if logs.live.is_none() {
        if let Some(text) = out.logs.as_deref().filter(|l| !l.trim().is_empty()) {
            output.note(format!(
                "run {} has no live log (its entry point never started, or it was submitted without one): this is the task's log from runs/get-output",
                logs.run_id
            ));
            output.result(text.trim_end());
        }
    }
    if let Some(error) = &out.error {
        output.block("Error:", error);
    }
    if let (None, Some(trace)) = (&logs.live, &out.error_trace) {
        output.block("Trace:", trace);
    }
}

fn nothing_in(out: &Option<(u64, RunOutput)>) -> bool {
    out.as_ref().is_none_or(|(_, o)| {
        o.logs.as_deref().is_none_or(|l| l.trim().is_empty())
            && o.error.is_none()
            && o.error_trace.is_none()
    })
}

fn nothing_yet(logs: &remote::Logs) -> String {
    let state = &logs.state;
    if state.is_terminal() {
        format!(
            "run {} ended {} and left no output",
            logs.run_id,
            state.outcome()
        )
    } else {
        format!(
            "run {} is {}: no output yet; follow it with `cargo mlops logs {} --follow`",
            logs.run_id, state.life_cycle, logs.run_id
        )
    }
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
