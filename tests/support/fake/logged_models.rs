//! MLflow 3's logged models (`/api/2.0/mlflow/logged-models...`, `runs/outputs`), as MLflow's
//! REST store calls them when a run logs a model with `mlflow.<flavor>.log_model`. A logged
//! model's files go where its `artifact_uri` says: on Databricks
//! `dbfs:/databricks/mlflow-tracking/<experiment>/logged_models/<id>/artifacts`, which MLflow
//! writes through the Files API under `/WorkspaceInternal/Mlflow/Artifacts/` (see `files.rs`).

use serde_json::{Value, json};

use super::http::{Request, Response};
use super::mlflow::{no_experiment, no_run};
use super::state::{State, now_ms};

fn no_model(id: &str) -> Response {
    Response::error(
        404,
        "RESOURCE_DOES_NOT_EXIST",
        &format!("Logged model with ID '{id}' not found."),
    )
}

/// `key = value` pairs (`tags`, `params`) merged into a list of `{key, value}`.
fn merge(list: &mut Value, new: &Value) {
    if !list.is_array() {
        *list = json!([]);
    }
    let items = list.as_array_mut().expect("made an array above");
    for kv in new.as_array().into_iter().flatten() {
        items.retain(|old| old["key"] != kv["key"]);
        items.push(json!({ "key": kv["key"], "value": kv["value"] }));
    }
}

impl State {
    pub(super) fn logged_models(&mut self, op: &str, req: &Request) -> Response {
        let body = req.json();
        let m = req.method.as_str();
        let rest = op.trim_start_matches("logged-models").trim_matches('/');
        let parts: Vec<&str> = if rest.is_empty() {
            Vec::new()
        } else {
            rest.split('/').collect()
        };
        match (m, parts.as_slice()) {
            ("POST", []) => {
                let exp = body["experiment_id"].as_str().unwrap_or("").to_string();
                if !self.experiments.contains_key(&exp) {
                    return no_experiment(&exp);
                }
                let id = format!("m-{:032x}", self.id() as u128 * 104_729);
                let now = now_ms();
                let mut tags = json!([]);
                merge(&mut tags, &body["tags"]);
                let mut params = json!([]);
                merge(&mut params, &body["params"]);
                let model = json!({
                    "info": {
                        "model_id": id, "experiment_id": exp, "name": body["name"],
                        "model_type": body["model_type"], "source_run_id": body["source_run_id"],
                        "creation_timestamp_ms": now, "last_updated_timestamp_ms": now,
                        "artifact_uri": format!("dbfs:/databricks/mlflow-tracking/{exp}/logged_models/{id}/artifacts"),
                        "status": "LOGGED_MODEL_PENDING", "creator_id": 1234, "tags": tags,
                    },
                    "data": { "params": params, "metrics": [] },
                });
                self.logged.insert(id, model.clone());
                Response::ok(json!({ "model": model }))
            }
            ("POST", ["search"]) => {
                let exps: Vec<String> = body["experiment_ids"]
                    .as_array()
                    .into_iter()
                    .flatten()
                    .filter_map(|e| e.as_str().map(str::to_string))
                    .collect();
                let filter = body["filter"].as_str().unwrap_or("");
                let models: Vec<Value> = self
                    .logged
                    .values()
                    .filter(|lm| {
                        let info = &lm["info"];
                        exps.is_empty()
                            || exps
                                .iter()
                                .any(|e| info["experiment_id"].as_str() == Some(e))
                    })
                    .filter(|lm| matches_filter(&lm["info"], filter))
                    .cloned()
                    .collect();
                Response::ok(json!({ "models": models }))
            }
            (_, [id, ..]) if !self.logged.contains_key(*id) => no_model(id),
            ("GET", [id]) => Response::ok(json!({ "model": self.logged[*id] })),
            ("PATCH", [id]) => {
                let lm = self.logged.get_mut(*id).expect("checked above");
                lm["info"]["status"] = body["status"].clone();
                lm["info"]["last_updated_timestamp_ms"] = json!(now_ms());
                Response::ok(json!({ "model": lm }))
            }
            ("PATCH", [id, "tags"]) => {
                let lm = self.logged.get_mut(*id).expect("checked above");
                merge(&mut lm["info"]["tags"], &body["tags"]);
                Response::ok(json!({ "model": lm }))
            }
            ("POST", [id, "params"]) => {
                let lm = self.logged.get_mut(*id).expect("checked above");
                merge(&mut lm["data"]["params"], &body["params"]);
                Response::ok(json!({}))
            }
            _ => Response::error(
                404,
                "ENDPOINT_NOT_FOUND",
                &format!("No API found for '{m} /api/2.0/mlflow/{op}'"),
            ),
        }
    }

    /// `runs/outputs`: the models a run logged, as `outputs.model_outputs` of the run.
    pub(super) fn log_outputs(&mut self, req: &Request) -> Response {
        let body = req.json();
        let id = body["run_id"].as_str().unwrap_or("").to_string();
        let Some(run) = self.runs.get_mut(&id) else {
            return no_run(&id);
        };
        let outputs = &mut run["outputs"]["model_outputs"];
        if !outputs.is_array() {
            *outputs = json!([]);
        }
        for m in body["models"].as_array().into_iter().flatten() {
            outputs.as_array_mut().expect("made above").push(m.clone());
        }
        Response::ok(json!({}))
    }
}

/// The filters MLflow's `_get_logged_models_from_run` sends: `source_run_id = '...'` and
/// `name = '...'`, joined by AND.
fn matches_filter(info: &Value, filter: &str) -> bool {
    filter
        .split(" AND ")
        .map(str::trim)
        .filter(|c| !c.is_empty())
        .all(|clause| {
            let Some((key, value)) = clause.split_once('=') else {
                return false;
            };
            let value = value.trim().trim_matches(|c| c == '\'' || c == '"');
            info[key.trim()].as_str() == Some(value)
        })
}
