//! The registry operations that move a model's files: registering a run's logged model into
//! Unity Catalog, and copying a version into another catalog's model. MLflow's client copies
//! the files with the workspace's own credentials (the Files API under `/Models/...`, or
//! temporary cloud credentials), which only code running in the workspace holds. So each is a
//! one-task job on the target's compute (serverless where the target is) running the
//! launcher's registry mode with `--tracking-uri databricks --registry-uri databricks-uc`,
//! followed like any run. Its answer is the last `cargo-mlops registry: {json}` line of the
//! task's log: `runs/get-output` returns a `spark_python_task`'s standard streams as `logs`
//! (the last 5 MB; https://docs.databricks.com/api/workspace/jobs/getrunoutput).

use std::sync::Arc;
use std::time::Duration;

use serde_json::{Value, json};
use sha2::{Digest, Sha256};

use crate::databricks::Client;
use crate::databricks::jobs::{Jobs, RunState};
use crate::databricks::workspace::Workspace;
use crate::error::{Error, Result};
use crate::output::Output;
use crate::plan::Plan;
use crate::run::follow::{self, Ended};
use crate::run::submit;

/// What the launcher's registry mode prints before its answer.
const ANSWER: &str = "cargo-mlops registry: ";

/// How long a registry job may take; starting a job cluster is most of it.
const TIMEOUT: Duration = Duration::from_secs(3600);

/// Runs registry operations as jobs in the workspace of one target.
pub struct WorkspaceJob {
    pub client: Arc<Client>,
    /// The target's plan: its project, branch, compute and MLflow version.
    pub plan: Plan,
    /// The target's compute without libraries (see [`crate::render::compute_only`]).
    pub cluster: Value,
    pub output: Output,
}

impl WorkspaceJob {
    /// Runs `op` (the launcher's registry JSON) in the workspace and returns its answer.
    pub fn call(&self, op: &Value) -> Result<Value> {
        let client = &*self.client;
        let what = op["op"].as_str().unwrap_or("registry");
        let model = op["model"].as_str().unwrap_or("");
        let body = self.submission(op, what, model)?;
        crate::support::interrupt::check()?;
        let jobs = Jobs { client };
        let run_id = jobs.submit(body)?;
        let state = jobs.get(run_id)?;
        self.output.status(
            "Submitted",
            format!(
                "{what} of {model} as job run {run_id}: {}",
                state.run_page_url
            ),
        );
        let ended = follow::follow(&jobs, run_id, Some(TIMEOUT), &self.output, None)?;
        client.clean_up_after_interrupt();
        let state = self.succeeded(&jobs, ended, (run_id, &state.run_page_url), what, model)?;
        let task_run = state.task_run_id.unwrap_or(run_id);
        let logs = jobs.output(task_run)?.logs.unwrap_or_default();
        answer_of(&logs).ok_or_else(|| {
            Error::failed(format!(
                "the {what} job run {run_id} finished without an answer in its log"
            ))
            .with_help(format!("see {}", state.run_page_url))
        })
    }

    /// The `runs/submit` body: one task on the target's compute running this binary's
    /// launcher (whatever an older deploy left: the registry mode is its) with MLflow only.
    fn submission(&self, op: &Value, what: &str, model: &str) -> Result<Value> {
        let client = &*self.client;
        let user = Workspace { client }.me()?;
        let launcher = crate::support::templates::LAUNCHER.as_bytes();
        let sha = crate::build::wheel_file::hex(&Sha256::digest(launcher));
        let path =
            submit::import_launcher(client, &self.plan, &user, &sha, launcher, &self.output)?;
        let parameters = [
            "--registry".to_string(),
            op.to_string(),
            "--tracking-uri".into(),
            "databricks".into(),
            "--registry-uri".into(),
            "databricks-uc".into(),
        ];
        let mut task = json!({
            "task_key": submit::TASK_KEY,
            "spark_python_task": { "python_file": path, "parameters": parameters },
            "timeout_seconds": TIMEOUT.as_secs(),
        });
        let mut body = json!({
            "run_name": format!("{}:{what} {model}@{}", self.plan.project, self.plan.branch),
            "timeout_seconds": TIMEOUT.as_secs(),
            // A submit retried after a lost answer returns the first run, not a second one.
            "idempotency_token": uuid::Uuid::new_v4().simple().to_string(),
        });
        // MLflow is all the task needs: it reads the model's files, it never loads them.
        let mlflow = submit::mlflow_requirement(&self.plan);
        submit::place_task(
            &self.plan,
            &mut task,
            &mut body,
            &self.cluster,
            || vec![json!({ "pypi": { "package": mlflow } })],
            || vec![mlflow.clone()],
        );
        body["tasks"] = json!([task]);
        Ok(body)
    }

    /// The job run's end state when it succeeded; otherwise why not, in the registry mode's
    /// own words when it said them.
    fn succeeded(
        &self,
        jobs: &Jobs<'_>,
        ended: Ended,
        (run_id, page): (u64, &str),
        what: &str,
        model: &str,
    ) -> Result<RunState> {
        match ended {
            Ended::Done(state) if state.succeeded() => Ok(state),
            Ended::Done(state) => {
                let task_run = state.task_run_id.unwrap_or(run_id);
                let logs = jobs.output(task_run).ok().and_then(|o| o.logs);
                if let Some(said) = logs.as_deref().and_then(super::registry::plain_error) {
                    return Err(said);
                }
                crate::run::databricks::show_failure(jobs, &state, &self.output, false);
                Err(Error::failed(format!(
                    "the {what} job run {run_id} for {model} ended {}",
                    state.outcome_and_message()
                ))
                .with_help(format!(
                    "see {} ; nothing was changed unless the job says it registered a version",
                    state.run_page_url
                )))
            }
            Ended::TimedOut(state) => Err(Error::failed(format!(
                "the {what} job run {run_id} took longer than {}; it was cancelled ({})",
                humantime::format_duration(TIMEOUT),
                state.outcome()
            ))),
            Ended::Interrupted(_) => Err(Error::interrupted()),
            Ended::Lost { error, waited } => {
                Err(Error::remote(format!(
                    "lost track of the {what} job run {run_id} for {model}: the workspace did not answer for {} ({error}); the job was not cancelled",
                    humantime::format_duration(Duration::from_secs(waited.as_secs()))
                ))
                .with_help(format!(
                    "see {page} ; once the workspace answers, release again: a run that has a version only has its alias moved",
                )))
            }
        }
    }
}

/// The last answer line of a registry job's log.
fn answer_of(logs: &str) -> Option<Value> {
    logs.lines()
        .rev()
        .find_map(|l| l.trim_end().strip_prefix(ANSWER))
        .and_then(|json| serde_json::from_str(json).ok())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_answer_is_the_last_answer_line_of_the_log() {
        let logs = "Installing mlflow\ncargo-mlops registry: {\"found\": null}\nnoise\ncargo-mlops registry: {\"version\": \"3\"}\r\nbye\n";
        assert_eq!(answer_of(logs), Some(json!({"version": "3"})));
        assert_eq!(answer_of("no answer here\n"), None);
        assert_eq!(answer_of("cargo-mlops registry: {not json\n"), None);
    }
}
