//! Jobs API 2.1: one-time runs (`runs/submit`), their state, output and cancellation.

use serde::Deserialize;
use serde_json::{Value, json};

use super::client::Client;
use super::error::ApiError;

/// A run's state as `runs/get` reports it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RunState {
    pub life_cycle: String,
    pub result: Option<String>,
    pub message: String,
    pub run_page_url: String,
    /// The first task's run id (the one `runs/get-output` takes).
    pub task_run_id: Option<u64>,
    /// The MLflow run the task logs into: the launcher's `--run-id` in the task's
    /// `spark_python_task.parameters`, which `runs/get` returns with each task.
    pub mlflow_run_id: Option<String>,
    /// Where the launcher streams the task's output (its `--log-dir`; see
    /// `crate::run::live_log`), for runs that have one.
    pub log_dir: Option<String>,
}

impl RunState {
    pub fn is_terminal(&self) -> bool {
        matches!(
            self.life_cycle.as_str(),
            "TERMINATED" | "SKIPPED" | "INTERNAL_ERROR"
        )
    }

    pub fn succeeded(&self) -> bool {
        self.is_terminal() && self.result.as_deref() == Some("SUCCESS")
    }

    /// `SUCCESS`, `FAILED`, `CANCELED`, ... or the life-cycle state when there is no result.
    pub fn outcome(&self) -> String {
        self.result
            .clone()
            .unwrap_or_else(|| self.life_cycle.clone())
    }

    /// The outcome and the service's message about it: `FAILED: Task mlops failed ...`.
    pub fn outcome_and_message(&self) -> String {
        if self.message.is_empty() {
            self.outcome()
        } else {
            format!("{}: {}", self.outcome(), self.message)
        }
    }
}

/// What `runs/get-output` says about a failed task.
#[derive(Clone, Debug, Default)]
pub struct RunOutput {
    pub error: Option<String>,
    pub error_trace: Option<String>,
    pub logs: Option<String>,
}

pub struct Jobs<'a> {
    pub client: &'a Client,
}

/// `runs/submit`'s answer.
#[derive(Deserialize)]
struct Submitted {
    run_id: u64,
}

/// `runs/get`'s answer: the fields we read. `state_message` and `run_page_url` may be absent
/// (an empty message is the same as none); `life_cycle_state` may not.
#[derive(Deserialize)]
struct RunAnswer {
    state: StateAnswer,
    #[serde(default)]
    run_page_url: String,
    #[serde(default)]
    tasks: Vec<TaskAnswer>,
}

#[derive(Deserialize)]
struct StateAnswer {
    life_cycle_state: String,
    #[serde(default)]
    result_state: Option<String>,
    #[serde(default)]
    state_message: String,
}

#[derive(Deserialize)]
struct TaskAnswer {
    run_id: u64,
    #[serde(default)]
    spark_python_task: Option<PythonTask>,
}

#[derive(Deserialize)]
struct PythonTask {
    #[serde(default)]
    parameters: Vec<String>,
}

/// `runs/get-output`'s answer (a field that is absent or empty says nothing).
#[derive(Deserialize)]
struct OutputAnswer {
    #[serde(default)]
    error: Option<String>,
    #[serde(default)]
    error_trace: Option<String>,
    #[serde(default)]
    logs: Option<String>,
}

impl Jobs<'_> {
    /// Submits a one-time run. With an `idempotency_token` in `body` a retry after a lost
    /// answer returns the first run instead of starting another, so it is retried freely.
    pub fn submit(&self, body: Value) -> Result<u64, ApiError> {
        let idempotent = body.get("idempotency_token").is_some();
        let answer: Submitted =
            self.client
                .post_as("/api/2.1/jobs/runs/submit", body, idempotent)?;
        Ok(answer.run_id)
    }

    pub fn get(&self, run_id: u64) -> Result<RunState, ApiError> {
        let v: RunAnswer = self
            .client
            .get_as("/api/2.1/jobs/runs/get", &[("run_id", &run_id.to_string())])?;
        // The launcher's options, as the task's parameters give them.
        let launcher_option = |flag: &str| {
            let p = v.tasks.first()?.spark_python_task.as_ref()?;
            let at = p.parameters.iter().position(|a| a == flag)?;
            p.parameters.get(at + 1).cloned()
        };
        let mlflow_run_id = launcher_option("--run-id");
        let log_dir = launcher_option("--log-dir");
        Ok(RunState {
            life_cycle: v.state.life_cycle_state,
            result: v.state.result_state,
            message: v.state.state_message,
            run_page_url: v.run_page_url,
            task_run_id: v.tasks.first().map(|t| t.run_id),
            mlflow_run_id,
            log_dir,
        })
    }

    /// The output of a task run (asked with the task's run id, not the parent's).
    pub fn output(&self, task_run_id: u64) -> Result<RunOutput, ApiError> {
        let v: OutputAnswer = self.client.get_as(
            "/api/2.1/jobs/runs/get-output",
            &[("run_id", &task_run_id.to_string())],
        )?;
        let text = |t: Option<String>| t.filter(|s| !s.is_empty());
        Ok(RunOutput {
            error: text(v.error),
            error_trace: text(v.error_trace),
            logs: text(v.logs),
        })
    }

    /// Runs `task` of run `run_id` again, and the tasks that depend on it (`runs/repair`,
    /// databricks-sdk-py `service/jobs.py` `JobsAPI.repair_run`).
    pub fn repair(&self, run_id: u64, task: &str) -> Result<(), ApiError> {
        self.client
            .post_json(
                "/api/2.1/jobs/runs/repair",
                json!({ "run_id": run_id, "rerun_tasks": [task], "rerun_dependent_tasks": true }),
                false,
            )
            .map(drop)
    }

    pub fn cancel(&self, run_id: u64) -> Result<(), ApiError> {
        self.client
            .post_json(
                "/api/2.1/jobs/runs/cancel",
                json!({ "run_id": run_id }),
                true,
            )
            .map(drop)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::databricks::auth::{Config, Method};
    use crate::databricks::client::Response;
    use crate::databricks::secret::Secret;

    fn answer(body: &str) -> Response {
        Response {
            status: 200,
            headers: Default::default(),
            body: body.as_bytes().to_vec(),
        }
    }

    #[test]
    fn a_malformed_answer_is_an_error_naming_the_endpoint_and_the_field() {
        let client = Client::new(Config {
            host: "https://adb-1.azuredatabricks.net".into(),
            method: Method::Pat(Secret::new("dapi-x")),
            source: "the test".into(),
        })
        .unwrap();
        let path = "/api/2.1/jobs/runs/get";
        let ok: RunAnswer = client
            .decode(
                path,
                &answer(r#"{"state": {"life_cycle_state": "RUNNING"}}"#),
            )
            .unwrap();
        assert_eq!(ok.state.life_cycle_state, "RUNNING");
        for (body, field) in [
            (r#"{"state": {"state_message": "x"}}"#, "state"),
            (
                r#"{"state": {"life_cycle_state": 7}}"#,
                "state.life_cycle_state",
            ),
            (
                r#"{"state": {"life_cycle_state": "RUNNING"}, "tasks": [{"run_id": "x"}]}"#,
                "tasks[0].run_id",
            ),
            ("<html>oops</html>", ""),
        ] {
            let err = client
                .decode::<RunAnswer>(path, &answer(body))
                .err()
                .unwrap();
            let text = err.to_string();
            assert!(text.contains(path), "{text}");
            if !field.is_empty() {
                assert!(text.contains(&format!("`{field}`")), "{field}: {text}");
            }
        }
    }

    #[test]
    fn terminal_states() {
        let s = |life: &str, result: Option<&str>| RunState {
            life_cycle: life.into(),
            result: result.map(str::to_string),
            message: String::new(),
            run_page_url: String::new(),
            task_run_id: None,
            mlflow_run_id: None,
            log_dir: None,
        };
        assert!(!s("RUNNING", None).is_terminal());
        assert!(s("TERMINATED", Some("SUCCESS")).succeeded());
        assert!(!s("TERMINATED", Some("FAILED")).succeeded());
        assert!(s("INTERNAL_ERROR", Some("FAILED")).is_terminal());
        assert!(s("SKIPPED", None).is_terminal());
        assert_eq!(s("SKIPPED", None).outcome(), "SKIPPED");
    }
}
