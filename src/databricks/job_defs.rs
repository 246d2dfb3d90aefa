//! Persistent jobs (Jobs API 2.2): `jobs/create`, `reset`, `get`, `list`, `delete`,
//! `run-now` and `runs/list`, with the shapes of databricks-sdk-py
//! `databricks/sdk/service/jobs.py` (`JobsAPI.create/reset/get/list/delete/run_now/list_runs`).

use serde_json::{Value, json};

use super::client::Client;
use super::error::ApiError;

/// A job as `jobs/get` and `jobs/list` answer it.
#[derive(Clone, Debug)]
pub struct Deployed {
    pub job_id: u64,
    pub settings: Value,
}

/// The newest run of a job, as `jobs/runs/list` answers it.
#[derive(Clone, Debug)]
pub struct LastRun {
    pub run_id: u64,
    pub start_ms: Option<i64>,
    /// `SUCCESS`, `FAILED`, ... or the life-cycle state while it runs.
    pub result: String,
}

pub struct JobDefs<'a> {
    pub client: &'a Client,
}

fn deployed(v: &Value) -> Option<Deployed> {
    Some(Deployed {
        job_id: v["job_id"].as_u64()?,
        settings: v["settings"].clone(),
    })
}

/// The Jobs API answers an unknown job id with `INVALID_PARAMETER_VALUE` "Job N does not
/// exist." (newer workspaces: `RESOURCE_DOES_NOT_EXIST`).
pub fn is_missing(e: &ApiError) -> bool {
    e.is_not_found() || (e.is("INVALID_PARAMETER_VALUE") && e.message.contains("does not exist"))
}

impl JobDefs<'_> {
    /// Every job of the workspace, page by page (`next_page_token`, pages of 100, the most the
    /// API gives), with their tasks when `expand_tasks`.
    pub fn list(&self, expand_tasks: bool) -> Result<Vec<Deployed>, ApiError> {
        let mut out = Vec::new();
        let mut token = String::new();
        loop {
            let mut query = vec![
                ("limit", "100"),
                ("expand_tasks", if expand_tasks { "true" } else { "false" }),
            ];
            if !token.is_empty() {
                query.push(("page_token", token.as_str()));
            }
            let answer = self.client.get_json("/api/2.2/jobs/list", &query)?;
            out.extend(
                answer["jobs"]
                    .as_array()
                    .into_iter()
                    .flatten()
                    .filter_map(deployed),
            );
            match answer["next_page_token"].as_str() {
                Some(t) if !t.is_empty() && answer["has_more"] != json!(false) => {
                    token = t.to_string()
                }
                _ => return Ok(out),
            }
        }
    }

    pub fn get(&self, job_id: u64) -> Result<Option<Deployed>, ApiError> {
        match self
            .client
            .get_json("/api/2.2/jobs/get", &[("job_id", &job_id.to_string())])
        {
            Ok(v) => Ok(deployed(&v)),
            Err(e) if is_missing(&e) => Ok(None),
            Err(e) => Err(e),
        }
    }

    /// Creates a job. `jobs/create` is not idempotent: after a lost answer the caller looks
    /// for the job by its tags before creating it again.
    pub fn create(&self, settings: Value) -> Result<u64, ApiError> {
        let v = self
            .client
            .post_json("/api/2.2/jobs/create", settings, false)?;
        v["job_id"].as_u64().ok_or_else(|| {
            ApiError::protocol(&self.client.host, "jobs/create", "no job_id in the answer")
        })
    }

    /// Replaces a job's settings (the same settings twice is harmless).
    pub fn reset(&self, job_id: u64, settings: Value) -> Result<(), ApiError> {
        self.client.post_json(
            "/api/2.2/jobs/reset",
            json!({ "job_id": job_id, "new_settings": settings }),
            true,
        )?;
        Ok(())
    }

    /// Deletes a job; one already gone is not an error.
    pub fn delete(&self, job_id: u64) -> Result<(), ApiError> {
        match self
            .client
            .post_json("/api/2.2/jobs/delete", json!({ "job_id": job_id }), true)
        {
            Ok(_) => Ok(()),
            Err(e) if is_missing(&e) => Ok(()),
            Err(e) => Err(e),
        }
    }

    /// Starts a run now; the idempotency token makes a retry after a lost answer safe.
    pub fn run_now(&self, job_id: u64, idempotency_token: &str) -> Result<u64, ApiError> {
        let v = self.client.post_json(
            "/api/2.2/jobs/run-now",
            json!({ "job_id": job_id, "idempotency_token": idempotency_token }),
            true,
        )?;
        v["run_id"].as_u64().ok_or_else(|| {
            ApiError::protocol(&self.client.host, "jobs/run-now", "no run_id in the answer")
        })
    }

    /// The job's newest run, if it has one.
    pub fn last_run(&self, job_id: u64) -> Result<Option<LastRun>, ApiError> {
        let v = self.client.get_json(
            "/api/2.2/jobs/runs/list",
            &[("job_id", &job_id.to_string()), ("limit", "1")],
        )?;
        let Some(r) = v["runs"].as_array().and_then(|r| r.first()) else {
            return Ok(None);
        };
        // A run the service lists without an id is an answer we cannot show: never run 0.
        let run_id = r["run_id"].as_u64().ok_or_else(|| {
            ApiError::protocol(
                &self.client.host,
                "jobs/runs/list",
                "the newest run in the answer has no `run_id`",
            )
        })?;
        Ok(Some(r).map(|r| LastRun {
            run_id,
            start_ms: r["start_time"].as_i64(),
            result: r["state"]["result_state"]
                .as_str()
                .or(r["state"]["life_cycle_state"].as_str())
                .unwrap_or("UNKNOWN")
                .to_string(),
        }))
    }
}
