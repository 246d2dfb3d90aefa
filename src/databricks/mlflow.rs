//! MLflow tracking (`/api/2.0/mlflow/...`): experiments and runs.

use serde_json::{Value, json};

use super::client::Client;
use super::error::ApiError;

pub struct Mlflow<'a> {
    pub client: &'a Client,
}

impl Mlflow<'_> {
    pub fn experiment_by_name(&self, name: &str) -> Result<Option<Value>, ApiError> {
        match self.client.get_json(
            "/api/2.0/mlflow/experiments/get-by-name",
            &[("experiment_name", name)],
        ) {
            Ok(v) => Ok(Some(v["experiment"].clone())),
            Err(e) if e.is_not_found() => Ok(None),
            Err(e) => Err(e),
        }
    }

    /// Creates an experiment; a duplicate is `RESOURCE_ALREADY_EXISTS`, which the caller
    /// handles (a concurrent creator may have won).
    pub fn create_experiment(&self, name: &str) -> Result<String, ApiError> {
        let v = self.client.post_json(
            "/api/2.0/mlflow/experiments/create",
            json!({ "name": name }),
            false,
        )?;
        Ok(v["experiment_id"].as_str().unwrap_or_default().to_string())
    }

    /// Creates a run; returns its id.
    pub fn create_run(
        &self,
        experiment_id: &str,
        run_name: &str,
        start_ms: i64,
        tags: &[(String, String)],
    ) -> Result<String, ApiError> {
        let tags: Vec<Value> = tags
            .iter()
            .map(|(k, v)| json!({ "key": k, "value": v }))
            .collect();
        let v = self.client.post_json(
            "/api/2.0/mlflow/runs/create",
            json!({ "experiment_id": experiment_id, "run_name": run_name, "start_time": start_ms, "tags": tags }),
            false,
        )?;
        Ok(v["run"]["info"]["run_id"]
            .as_str()
            .unwrap_or_default()
            .to_string())
    }

    pub fn log_params(&self, run_id: &str, params: &[(String, String)]) -> Result<(), ApiError> {
        // log-batch takes at most 100 params a call; params are write-once, so a retry of
        // the same values is harmless.
        for chunk in params.chunks(100) {
            let params: Vec<Value> = chunk
                .iter()
                .map(|(k, v)| json!({ "key": k, "value": v }))
                .collect();
            self.client.post_json(
                "/api/2.0/mlflow/runs/log-batch",
                json!({ "run_id": run_id, "params": params }),
                true,
            )?;
        }
        Ok(())
    }

    pub fn set_tag(&self, run_id: &str, key: &str, value: &str) -> Result<(), ApiError> {
        self.client
            .post_json(
                "/api/2.0/mlflow/runs/set-tag",
                json!({ "run_id": run_id, "key": key, "value": value }),
                true,
            )
            .map(drop)
    }

    /// Ends a run: `FINISHED`, `FAILED` or `KILLED`.
    pub fn end_run(&self, run_id: &str, status: &str, end_ms: i64) -> Result<(), ApiError> {
        self.client
            .post_json(
                "/api/2.0/mlflow/runs/update",
                json!({ "run_id": run_id, "status": status, "end_time": end_ms }),
                true,
            )
            .map(drop)
    }
}
