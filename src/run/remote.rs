//! A submitted Databricks run, by its id (or the branch's last): its state, its task's output
//! (live while it runs), and cancelling it.

use std::sync::Arc;

use crate::databricks::Client;
use crate::databricks::jobs::{Jobs, RunOutput, RunState};
use crate::databricks::mlflow::Mlflow;
use crate::error::{Error, Result};
use crate::manifest::TargetKind;
use crate::output::Output;
use crate::run::live_log::{Line, Live};
use crate::session::Session;
use crate::store::Store;
use crate::support::records::RunRecord;

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

/// The run's live log (its launcher's `--log-dir`), on the store that folder is on. A
/// persistent job's launcher names its run itself, so its folder is not known from here.
fn live_log_of(client: &Arc<Client>, state: &RunState) -> Option<(Box<dyn Store>, String)> {
    let dir = state.log_dir.clone().filter(|d| !d.contains("{run_id}"))?;
    let kind = crate::store::StoreKind::of(true, &dir);
    Some((crate::store::open(kind, "", Some(client.clone())), dir))
}

/// Follows the run to its end as `run` does (state changes, the task's output as it comes,
/// Ctrl-C cancels it, a passing outage is waited out), ends its MLflow run with the result
/// when nothing did, and shows a failed run's error; returns the final state and the error
/// to exit with. `plain` prints the task's output as `logs` does (its stdout on stdout).
pub fn wait(
    session: &Session,
    run_id: u64,
    plain: bool,
    output: &Output,
) -> Result<(RunState, Option<Error>)> {
    crate::support::interrupt::install();
    let prepared = quiet(session).prepare(None, &[])?;
    let client = client(session)?;
    let jobs = Jobs { client: &client };
    // The live log's folder is in the run's parameters. A workspace that does not answer
    // now is not an error yet: following waits out an outage (then without the live log).
    let log = jobs
        .get(run_id)
        .ok()
        .and_then(|first| live_log_of(&client, &first));
    let mut live = log
        .as_ref()
        .and_then(|(store, dir)| Live::shown(store.as_ref(), dir, plain, output));
    let ended = crate::run::follow::follow(&jobs, run_id, None, output, live.as_mut())?;
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
        let shown = live.as_ref().is_some_and(|l| l.reader.started);
        crate::run::databricks::show_failure(&jobs, &state, output, shown);
    }
    let failure = failed(run_id, &state);
    Ok((state, failure))
}

/// A run's output as `logs` shows it.
pub struct Logs {
    pub run_id: u64,
    pub state: RunState,
    /// The launcher's live log so far, when the entry point reached it.
    pub live: Option<Vec<Line>>,
    /// `runs/get-output` (the task's run id and its answer): the whole log once the run has
    /// ended, and a failed task's error.
    pub task_output: Option<(u64, RunOutput)>,
}

/// The run given, or else the branch's last recorded run (`<branch folder>/runs/<id>.json`).
pub fn run_or_last(session: &Session, run_id: Option<u64>) -> Result<u64> {
    if let Some(id) = run_id {
        return Ok(id);
    }
    let prepared = quiet(session).prepare(None, &[])?;
    let plan = &prepared.plan;
    let open = session.store(plan)?;
    let folder = format!("{}/runs", plan.branch_artifacts.trim_end_matches('/'));
    let records = crate::support::records::read_all::<RunRecord>(open.store.as_ref(), &folder)?;
    // The first of the newest, by the record's own time.
    let newest = records
        .into_iter()
        .map(|(_, r)| r)
        .reduce(|a, b| if b.time > a.time { b } else { a });
    newest.map(|r| r.databricks_run_id).ok_or_else(|| {
        Error::usage(format!(
            "branch `{}` has no recorded run on target `{}`",
            plan.branch, plan.target
        ))
        .with_help("name the run: `cargo mlops logs RUN` (its id is in `run`'s output)")
    })
}

/// The output of the run so far: its live log, or (when the entry point never reached the
/// launcher: a library that did not install, a cluster that never came up) the task's log
/// from `runs/get-output`. A failed run's error comes from `runs/get-output` too. The MLflow
/// run is ended when the job ended without doing it.
pub fn logs(session: &Session, run_id: u64, output: &Output) -> Result<Logs> {
    let client = client(session)?;
    let jobs = Jobs { client: &client };
    let state = jobs.get(run_id)?;
    reconcile(&client, &state, output)?;
    let mut live = None;
    if let Some((store, dir)) = live_log_of(&client, &state) {
        let mut reader = crate::run::live_log::Reader::new(&dir);
        let lines = reader.poll(store.as_ref())?;
        live = reader.started.then_some(lines);
    }
    let wanted = live.is_none() || (state.is_terminal() && !state.succeeded());
    let task_output = match (wanted, state.task_run_id) {
        (true, Some(task)) => Some((task, jobs.output(task)?)),
        _ => None,
    };
    Ok(Logs {
        run_id,
        state,
        live,
        task_output,
    })
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
