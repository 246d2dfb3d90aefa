//! MLflow tracking (`/api/2.0/mlflow/...`): experiments and runs.

use serde::Deserialize;
use serde_json::{Value, json};

use super::client::Client;
use super::error::ApiError;

/// The tag that names the `cargo mlops run` invocation a run was created by (see
/// [`Mlflow::create_run`]).
pub const REQUEST_ID_TAG: &str = "mlops.request_id";

/// An experiment as `experiments/get-by-name` returns it (the fields we read).
#[derive(Clone, Debug, Deserialize)]
pub struct Experiment {
    pub experiment_id: String,
    pub name: String,
    #[serde(default)]
    pub tags: Vec<Tag>,
}

/// A key/value tag as MLflow's REST API answers it.
#[derive(Clone, Debug, Deserialize)]
pub struct Tag {
    pub key: String,
    #[serde(default)]
    pub value: String,
}

#[derive(Deserialize)]
struct ExperimentAnswer {
    experiment: Experiment,
}

#[derive(Deserialize)]
struct Created {
    experiment_id: String,
}

#[derive(Deserialize)]
struct RunAnswer {
    run: RunFields,
}

#[derive(Deserialize)]
struct RunFields {
    info: RunInfo,
}

#[derive(Deserialize)]
struct RunInfo {
    run_id: String,
}

/// `runs/search`'s answer: `runs` is absent when nothing matched.
#[derive(Deserialize)]
struct Found {
    #[serde(default)]
    runs: Vec<RunFields>,
}

pub struct Mlflow<'a> {
    pub client: &'a Client,
}

impl Mlflow<'_> {
    pub fn experiment_by_name(&self, name: &str) -> Result<Option<Experiment>, ApiError> {
        match self.client.get_as::<ExperimentAnswer>(
            "/api/2.0/mlflow/experiments/get-by-name",
            &[("experiment_name", name)],
        ) {
            Ok(v) => Ok(Some(v.experiment)),
            Err(e) if e.is_not_found() => Ok(None),
            Err(e) => Err(e),
        }
    }

    /// Sets a tag on an experiment (`experiments/set-experiment-tag`; the same value twice is
    /// harmless).
    pub fn set_experiment_tag(&self, id: &str, key: &str, value: &str) -> Result<(), ApiError> {
        self.client.post_json(
            "/api/2.0/mlflow/experiments/set-experiment-tag",
            json!({ "experiment_id": id, "key": key, "value": value }),
            true,
        )?;
        Ok(())
    }

    /// Creates an experiment; a duplicate is `RESOURCE_ALREADY_EXISTS`, which the caller
    /// resolves by name (a concurrent creator may have won). That makes a retry after a lost
    /// answer safe, so it is retried like an idempotent call.
    pub fn create_experiment(&self, name: &str) -> Result<String, ApiError> {
        self.create_tagged_experiment(name, &[])
    }

    /// [`Mlflow::create_experiment`], with `tags` set on it (`experiments/create` takes them).
    pub fn create_tagged_experiment(&self, name: &str, tags: &[Tag]) -> Result<String, ApiError> {
        let mut body = json!({ "name": name });
        if !tags.is_empty() {
            body["tags"] = tags
                .iter()
                .map(|t| json!({ "key": t.key, "value": t.value }))
                .collect();
        }
        let v: Created = self
            .client
            .post_as("/api/2.0/mlflow/experiments/create", body, true)?;
        Ok(v.experiment_id)
    }

    /// Creates a run tagged `mlops.request_id = request_id`; returns its id. `runs/create` is
    /// not idempotent, so when an answer is lost the run is looked up by that tag before it is
    /// created again: one `cargo mlops run` never leaves two MLflow runs.
    pub fn create_run(
        &self,
        experiment_id: &str,
        run_name: &str,
        start_ms: i64,
        tags: &[(String, String)],
        request_id: &str,
    ) -> Result<String, ApiError> {
        let tags: Vec<Value> = tags
            .iter()
            .map(|(k, v)| (k.as_str(), v.as_str()))
            .chain([(REQUEST_ID_TAG, request_id)])
            .map(|(k, v)| json!({ "key": k, "value": v }))
            .collect();
        let body = json!({ "experiment_id": experiment_id, "run_name": run_name, "start_time": start_ms, "tags": tags });
        let mut attempt = 0;
        loop {
            attempt += 1;
            match self.client.post_as::<RunAnswer>(
                "/api/2.0/mlflow/runs/create",
                body.clone(),
                false,
            ) {
                Ok(v) => return Ok(v.run.info.run_id),
                Err(e) if e.may_have_been_applied() && attempt < 5 => {
                    if let Some(id) = self.run_by_tag(experiment_id, REQUEST_ID_TAG, request_id)? {
                        return Ok(id);
                    }
                    let wait = self.client.retry.first_backoff * attempt;
                    if !super::retry::pause(wait, &|| self.client.stopped()) {
                        return Err(e);
                    }
                }
                Err(e) => return Err(e),
            }
        }
    }

    /// The id of the run in `experiment_id` tagged `key = value`, if there is one.
    pub fn run_by_tag(
        &self,
        experiment_id: &str,
        key: &str,
        value: &str,
    ) -> Result<Option<String>, ApiError> {
        let filter = format!("tags.`{key}` = '{}'", value.replace('\'', "\\'"));
        let v: Found = self.client.post_as(
            "/api/2.0/mlflow/runs/search",
            json!({ "experiment_ids": [experiment_id], "filter": filter, "max_results": 1 }),
            true,
        )?;
        Ok(v.runs.into_iter().next().map(|r| r.info.run_id))
    }

    /// The latest value of each metric of a run (`runs/get`).
    pub fn metrics(
        &self,
        run_id: &str,
    ) -> Result<std::collections::BTreeMap<String, f64>, ApiError> {
        let v: Value = self
            .client
            .get_as("/api/2.0/mlflow/runs/get", &[("run_id", run_id)])?;
        Ok(latest_metrics(&v["run"]["data"]["metrics"]))
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

    /// A run's status (`RUNNING`, `FINISHED`, ...).
    pub fn status(&self, run_id: &str) -> Result<String, ApiError> {
        let v: Value = self
            .client
            .get_as("/api/2.0/mlflow/runs/get", &[("run_id", run_id)])?;
        Ok(v["run"]["info"]["status"]
            .as_str()
            .unwrap_or_default()
            .to_string())
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

/// The latest value of each metric in a run's `data.metrics` (a history may list a metric
/// more than once: the latest step, then time, wins).
pub fn latest_metrics(metrics: &Value) -> std::collections::BTreeMap<String, f64> {
    let mut latest: std::collections::BTreeMap<String, ((i64, i64), f64)> = Default::default();
    for m in metrics.as_array().into_iter().flatten() {
        let (Some(key), Some(value)) = (m["key"].as_str(), m["value"].as_f64()) else {
            continue;
        };
        let at = (
            m["step"].as_i64().unwrap_or(0),
            m["timestamp"].as_i64().unwrap_or(0),
        );
        if latest.get(key).is_none_or(|(seen, _)| *seen <= at) {
            latest.insert(key.to_string(), (at, value));
        }
    }
    latest.into_iter().map(|(k, (_, v))| (k, v)).collect()
}
