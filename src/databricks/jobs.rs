//! Jobs API 2.1: one-time runs (`runs/submit`), their state, output and cancellation.

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

impl Jobs<'_> {
    /// Submits a one-time run. With an `idempotency_token` in `body` a retry after a lost
    /// answer returns the first run instead of starting another, so it is retried freely.
    pub fn submit(&self, body: Value) -> Result<u64, ApiError> {
        let idempotent = body.get("idempotency_token").is_some();
        let v = self
            .client
            .post_json("/api/2.1/jobs/runs/submit", body, idempotent)?;
        v["run_id"].as_u64().ok_or_else(|| {
            ApiError::protocol(
                &self.client.host,
                "/api/2.1/jobs/runs/submit",
                "no run_id in the answer",
            )
        })
    }

    pub fn get(&self, run_id: u64) -> Result<RunState, ApiError> {
        let v = self
            .client
            .get_json("/api/2.1/jobs/runs/get", &[("run_id", &run_id.to_string())])?;
        Ok(RunState {
            life_cycle: v["state"]["life_cycle_state"]
                .as_str()
                .unwrap_or("UNKNOWN")
                .to_string(),
            result: v["state"]["result_state"].as_str().map(str::to_string),
            message: v["state"]["state_message"]
                .as_str()
                .unwrap_or("")
                .to_string(),
            run_page_url: v["run_page_url"].as_str().unwrap_or("").to_string(),
            task_run_id: v["tasks"][0]["run_id"].as_u64(),
        })
    }

    /// The output of a task run (asked with the task's run id, not the parent's).
    pub fn output(&self, task_run_id: u64) -> Result<RunOutput, ApiError> {
        let v = self.client.get_json(
            "/api/2.1/jobs/runs/get-output",
            &[("run_id", &task_run_id.to_string())],
        )?;
        let text = |k: &str| v[k].as_str().filter(|s| !s.is_empty()).map(str::to_string);
        Ok(RunOutput {
            error: text("error"),
            error_trace: text("error_trace"),
            logs: text("logs"),
        })
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

    #[test]
    fn terminal_states() {
        let s = |life: &str, result: Option<&str>| RunState {
            life_cycle: life.into(),
            result: result.map(str::to_string),
            message: String::new(),
            run_page_url: String::new(),
            task_run_id: None,
        };
        assert!(!s("RUNNING", None).is_terminal());
        assert!(s("TERMINATED", Some("SUCCESS")).succeeded());
        assert!(!s("TERMINATED", Some("FAILED")).succeeded());
        assert!(s("INTERNAL_ERROR", Some("FAILED")).is_terminal());
        assert!(s("SKIPPED", None).is_terminal());
        assert_eq!(s("SKIPPED", None).outcome(), "SKIPPED");
    }
}
