//! A run on a Databricks target: deploy, submit (experiment, MLflow run, job run), the run
//! record that keeps `gc` away from what the job reads, following the run to its end, and
//! the MLflow run ended with the job's result.

use crate::databricks::Client;
use crate::databricks::jobs::{Jobs, RunState};
use crate::databricks::mlflow::Mlflow;
use crate::error::{Error, Result};
use crate::output::Output;
use crate::pipeline;
use crate::plan::Plan;
use crate::run::follow::{self, Ended};
use crate::run::live_log::{self, Live};
use crate::run::submit::{self, Submission};
use crate::session::{Prepared, Session};
use crate::support::records::{RunRecord, RunReport};

use super::request::{Finished, RunRequest};

/// Lines of the task's log shown when a run fails.
const LOG_TAIL: usize = 50;

/// Deploys, submits, records what the job reads, follows the run to its end and ends the
/// MLflow run. The report is returned with the run's failure (if any) beside it, so the
/// caller shows the report before it exits with the failure.
pub fn run(
    session: &Session,
    prepared: &Prepared,
    request: &RunRequest<'_>,
    output: &Output,
) -> Result<Finished> {
    let plan = &prepared.plan;
    let open = session.store(plan)?;
    // An existing cluster's runtime decides whether it can install DBFS libraries: asked
    // before anything is uploaded.
    if let Some(client) = &open.client {
        crate::check::existing_cluster_runtime(client, plan, &prepared.project)?;
    }
    // The deploy's lease keeps `gc` away from its files until the run record does.
    let mut deployment =
        pipeline::deploy(session, prepared, &open, request.no_cache, true, output)?;
    let (store, client) = (&open.store, &open.client);
    let client = client
        .clone()
        .expect("a Databricks target's store comes with its client");
    let submission = match submit::submit(
        &client,
        plan,
        request.entry,
        &deployment,
        request.timeout.map(|t| t.as_secs()),
        output,
    ) {
        Ok(s) => s,
        Err(e) => {
            pipeline::end_lease(store.as_ref(), &mut deployment.lease, output);
            return Err(e);
        }
    };
    // The job exists: after a Ctrl-C its record is still written, its id still printed,
    // and following it cancels it and ends the MLflow run KILLED.
    if crate::support::interrupt::requested() {
        client.clean_up_after_interrupt();
    }
    output.status(
        "Submitted",
        format!(
            "run {} (MLflow run {}): {}",
            submission.databricks_run_id, submission.mlflow_run_id, submission.run_page_url
        ),
    );
    let written = record_run(store.as_ref(), &client, prepared, &deployment, &submission);
    pipeline::end_lease(store.as_ref(), &mut deployment.lease, output);
    if let Err(e) = written {
        return Err(cancel_unrecorded(&client, &submission, e, output));
    }
    let report = submitted_report(plan, &client, &submission);
    if request.no_wait && !crate::support::interrupt::requested() {
        return Ok(Finished {
            report,
            failure: None,
            log_tail: None,
        });
    }
    let followed = Followed {
        session,
        plan,
        request,
        submission: &submission,
        store: store.as_ref(),
        client: &client,
    };
    followed.to_the_end(report, output)
}

/// A submitted run to follow to its end.
struct Followed<'a> {
    session: &'a Session,
    plan: &'a Plan,
    request: &'a RunRequest<'a>,
    submission: &'a Submission,
    store: &'a dyn crate::store::Store,
    client: &'a Client,
}

impl Followed<'_> {
    /// Follows the run, with the task's own output as it comes (unless nobody would see
    /// it), and ends its MLflow run.
    fn to_the_end(&self, report: RunReport, output: &Output) -> Result<Finished> {
        let jobs = Jobs {
            client: self.client,
        };
        let folder = live_log::folder(&self.plan.branch_artifacts, &self.submission.mlflow_run_id);
        let mut live = Live::shown(self.store, &folder, false, output);
        let ended = follow::follow(
            &jobs,
            self.submission.databricks_run_id,
            self.request.timeout,
            output,
            live.as_mut(),
        )?;
        self.client.clean_up_after_interrupt();
        let ending = Ending {
            session: self.session,
            plan: self.plan,
            request: self.request,
            submission: self.submission,
            jobs: &jobs,
            mlflow: &Mlflow {
                client: self.client,
            },
            live: live.as_ref(),
        };
        ending.finish(ended, report, output)
    }
}

/// Writes what the job reads into the store, so that `gc` never deletes it while the job may
/// still run; written even after a Ctrl-C.
fn record_run(
    store: &dyn crate::store::Store,
    client: &Client,
    prepared: &Prepared,
    deployment: &pipeline::Deployment,
    submission: &Submission,
) -> Result<()> {
    let plan = &prepared.plan;
    let run_record = RunRecord {
        project: Some(plan.project.clone()),
        databricks_run_id: submission.databricks_run_id,
        mlflow_run_id: submission.mlflow_run_id.clone(),
        deploy_record: deployment.record.clone(),
        time: crate::support::time::rfc3339(crate::support::time::now_secs()),
        paths: deployment.paths(),
    };
    let written = client.even_after_interrupt(|| {
        store.write_small(
            &run_record_path(plan, submission.databricks_run_id),
            serde_json::to_string(&run_record)
                .expect("records serialize")
                .as_bytes(),
        )
    });
    if crate::support::interrupt::requested() {
        client.clean_up_after_interrupt();
    }
    written
}

/// Unrecorded, the job's files are not safe from `gc`: the job is stopped rather than left
/// to read files that may go, and its MLflow run ended FAILED.
fn cancel_unrecorded(
    client: &Client,
    submission: &Submission,
    cause: Error,
    output: &Output,
) -> Error {
    let jobs = Jobs { client };
    let _ = follow::cancel_and_wait(&jobs, submission.databricks_run_id, output);
    let _ = Mlflow { client }.end_run(
        &submission.mlflow_run_id,
        "FAILED",
        crate::support::time::now_ms(),
    );
    Error::failed(format!(
        "cannot write the record of run {}, so it was cancelled: {cause}",
        submission.databricks_run_id
    ))
    .with_help("run again when the store is reachable")
}

/// The report of a submitted run: its experiment, ids and pages.
fn submitted_report(plan: &Plan, client: &Client, submission: &Submission) -> RunReport {
    let mut report = super::request::report(plan, &submission.mlflow_run_id, "databricks");
    report.experiment = submission.experiment.clone();
    report.experiment_id = Some(submission.experiment_id.clone());
    // The run's page in the workspace's MLflow UI.
    report.mlflow_run_url = Some(format!(
        "{}/ml/experiments/{}/runs/{}",
        client.host.trim_end_matches('/'),
        submission.experiment_id,
        submission.mlflow_run_id
    ));
    report.databricks_run_id = Some(submission.databricks_run_id);
    report.run_page_url = Some(submission.run_page_url.clone());
    report
}

/// What ending a followed run needs.
struct Ending<'a> {
    session: &'a Session,
    plan: &'a Plan,
    request: &'a RunRequest<'a>,
    submission: &'a Submission,
    jobs: &'a Jobs<'a>,
    mlflow: &'a Mlflow<'a>,
    /// The live output shown while following, if any.
    live: Option<&'a Live<'a>>,
}

impl Ending<'_> {
    /// The finished run: its status and result, why it failed, and the metrics the entry
    /// point logged (a report without them is still a report).
    fn finish(&self, ended: Ended, mut report: RunReport, output: &Output) -> Result<Finished> {
        let (failure, log_tail) = self.conclude(ended, &mut report, output)?;
        match self.mlflow.metrics(&self.submission.mlflow_run_id) {
            Ok(metrics) => report.metrics = metrics,
            Err(e) => output.warn(format!("cannot read the run's metrics: {e}")),
        }
        report.error = failure.as_ref().map(|e| e.message().to_string());
        Ok(Finished {
            report,
            failure,
            log_tail,
        })
    }

    fn end(&self, status: &str) -> Result<()> {
        self.mlflow
            .end_run(
                &self.submission.mlflow_run_id,
                status,
                crate::support::time::now_ms(),
            )
            .map_err(Into::into)
    }

    /// Ends the MLflow run with the job's result and fills the report's status: the failure
    /// (if any) and, for a failed task, its log tail.
    fn conclude(
        &self,
        ended: Ended,
        report: &mut RunReport,
        output: &Output,
    ) -> Result<(Option<Error>, Option<String>)> {
        let run_id = self.submission.databricks_run_id;
        let (status, result, failure, log_tail) = match ended {
            Ended::Done(state) if state.succeeded() => ("FINISHED", state.outcome(), None, None),
            Ended::Done(state) => {
                let live_tail = self.live.and_then(Live::tail_text);
                let tail = show_failure(self.jobs, &state, output, live_tail.is_some());
                let tail = live_tail.or(tail);
                let failure = Error::failed(format!(
                    "run {run_id} ended {}",
                    state.outcome_and_message()
                ))
                .with_help(format!(
                    "see {} ; `{}` shows the output again",
                    self.submission.run_page_url,
                    self.session.suggest(self.plan, &format!("logs {run_id}"))
                ));
                ("FAILED", state.outcome(), Some(failure), tail)
            }
            Ended::TimedOut(state) => {
                let failure = Error::failed(format!(
                    "run {run_id} took longer than --timeout {}; it was cancelled ({})",
                    self.request.timeout_text.unwrap_or(""),
                    state.outcome()
                ));
                ("FAILED", "TIMEDOUT".into(), Some(failure), None)
            }
            Ended::Interrupted(state) => {
                ("KILLED", state.outcome(), Some(Error::interrupted()), None)
            }
            // The job goes on: its MLflow run is ended by the launcher, or by whoever looks
            // at the job next (`status --wait` re-attaches).
            Ended::Lost { error, waited } => {
                report.status = "RUNNING".into();
                report.result = "UNKNOWN".into();
                let failure = lost(self.session, self.plan, run_id, &error, waited);
                return Ok((Some(failure), None));
            }
        };
        self.end(status)?;
        report.status = status.into();
        report.result = result;
        Ok((failure, log_tail))
    }
}

/// Following gave up on a workspace that stopped answering: exit 3, the job left running,
/// and the command that follows it again.
pub fn lost(
    session: &Session,
    plan: &Plan,
    run_id: u64,
    error: &str,
    waited: std::time::Duration,
) -> Error {
    Error::remote(format!(
        "lost track of run {run_id}: the workspace did not answer for {} ({error}); the job was not cancelled and is probably still running",
        humantime::format_duration(std::time::Duration::from_secs(waited.as_secs()))
    ))
    .with_help(format!(
        "follow it again with `{}` (same output and exit code as `run`), or see it with `{}`",
        session.suggest(plan, &format!("status {run_id} --wait")),
        session.suggest(plan, &format!("status {run_id}"))
    ))
}

/// Where the run record of Databricks run `id` lives: `<branch folder>/runs/<id>.json`.
pub fn run_record_path(plan: &Plan, id: u64) -> String {
    format!(
        "{}/runs/{id}.json",
        plan.branch_artifacts.trim_end_matches('/')
    )
}

/// Shows a failed run's error, trace and log tail (only its error when its output was shown
/// live, trace included); returns the log tail (or the trace).
pub fn show_failure(
    jobs: &Jobs<'_>,
    state: &RunState,
    output: &Output,
    shown_live: bool,
) -> Option<String> {
    let task = state.task_run_id?;
    match jobs.output(task) {
        Ok(out) => {
            if let Some(error) = &out.error {
                output.block("Error:", error);
            }
            if shown_live {
                return out.error_trace;
            }
            if let Some(trace) = &out.error_trace {
                output.block("Trace:", trace);
            }
            let tail = out
                .logs
                .as_deref()
                .map(|l| crate::support::process::tail(l, LOG_TAIL));
            if let Some(tail) = &tail {
                output.block(&format!("Last {LOG_TAIL} lines of the log:"), tail);
            }
            tail.or(out.error_trace)
        }
        Err(e) => {
            output.warn(format!("cannot fetch the run's output: {e}"));
            None
        }
    }
}
