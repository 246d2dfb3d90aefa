//! The fake's MLflow tracking API (`/api/2.0/mlflow/...`): experiments, runs, search.

use serde_json::{Value, json};

use super::http::{Request, Response};
use super::state::*;

/// MLflow's answer for an unknown run id.
pub(super) fn no_run(id: &str) -> Response {
    Response::error(
        404,
        "RESOURCE_DOES_NOT_EXIST",
        &format!("Run '{id}' not found."),
    )
}

/// MLflow's answer for an unknown experiment id.
pub(super) fn no_experiment(id: &str) -> Response {
    Response::error(
        404,
        "RESOURCE_DOES_NOT_EXIST",
        &format!("Experiment '{id}' does not exist."),
    )
}

impl State {
    pub(super) fn experiment_by_name(&self, name: &str) -> Option<&Value> {
        self.experiments.values().find(|e| e["name"] == name)
    }

    pub(super) fn mlflow(&mut self, op: &str, req: &Request) -> Response {
        let body = req.json();
        match op {
            "experiments/get-by-name" => {
                let name = req
                    .query
                    .get("experiment_name")
                    .cloned()
                    .unwrap_or_default();
                match self.experiment_by_name(&name) {
                    Some(e) => Response::ok(json!({ "experiment": e })),
                    None => Response::error(
                        404,
                        "RESOURCE_DOES_NOT_EXIST",
                        &format!("Node named '{name}' does not exist."),
                    ),
                }
            }
            "experiments/get" => {
                let id = req.query.get("experiment_id").cloned().unwrap_or_default();
                match self.experiments.get(&id) {
                    Some(e) => Response::ok(json!({ "experiment": e })),
                    None => no_experiment(&id),
                }
            }
            "experiments/create" => {
                let name = body["name"].as_str().unwrap_or("").to_string();
                if !name.starts_with('/') {
                    return Response::error(
                        400,
                        "INVALID_PARAMETER_VALUE",
                        &format!(
                            "Got an invalid experiment name '{name}'. An experiment name must be an absolute path within the Databricks workspace, e.g. '/Users/<some-username>/my-experiment'."
                        ),
                    );
                }
                if std::mem::take(&mut self.lose_next_experiment_race) {
                    let id = self.id().to_string();
                    self.experiments.insert(
                        id.clone(),
                        json!({
                            "experiment_id": id, "name": name, "lifecycle_stage": "active",
                        }),
                    );
                }
                if self.experiment_by_name(&name).is_some() {
                    return Response::error(
                        400,
                        "RESOURCE_ALREADY_EXISTS",
                        &format!("Node named '{name}' already exists"),
                    );
                }
                let dir = parent(&name).unwrap_or_default();
                if self
                    .workspace
                    .get(&dir)
                    .is_none_or(|(t, _)| t != "DIRECTORY")
                {
                    return Response::error(
                        404,
                        "RESOURCE_DOES_NOT_EXIST",
                        &format!("Parent directory {dir} does not exist."),
                    );
                }
                let id = self.id().to_string();
                self.workspace
                    .insert(name.clone(), ("MLFLOW_EXPERIMENT".into(), Vec::new()));
                self.experiments.insert(id.clone(), json!({
                    "experiment_id": id, "name": name, "artifact_location": format!("dbfs:/databricks/mlflow-tracking/{id}"),
                    "lifecycle_stage": "active", "tags": body["tags"].clone(),
                }));
                Response::ok(json!({ "experiment_id": id }))
            }
            "runs/create" => {
                let exp = body["experiment_id"].as_str().unwrap_or("").to_string();
                if !self.experiments.contains_key(&exp) {
                    return no_experiment(&exp);
                }
                let id = format!("{:032x}", self.id() as u128 * 7_919);
                let tags = body["tags"].clone();
                let run = json!({
                    "info": {
                        "run_id": id, "run_uuid": id, "experiment_id": exp, "run_name": body["run_name"].clone(),
                        "status": "RUNNING", "start_time": body["start_time"].clone(), "lifecycle_stage": "active",
                        "artifact_uri": format!("dbfs:/databricks/mlflow-tracking/{exp}/{id}/artifacts"),
                        "user_id": self.user,
                    },
                    "data": { "tags": if tags.is_null() { json!([]) } else { tags }, "params": [], "metrics": [] },
                });
                self.runs.insert(id, run.clone());
                Response::ok(json!({ "run": run }))
            }
            "runs/get" => {
                let id = req.query.get("run_id").cloned().unwrap_or_default();
                match self.runs.get(&id) {
                    // The workspace's id rides on every answer; MLflow's Unity Catalog store
                    // reads it from the source run's to link a model version to its run.
                    Some(r) => Response::ok(json!({ "run": r }))
                        .header("x-databricks-org-id", super::WORKSPACE_ID),
                    None => no_run(&id),
                }
            }
            "runs/search" => {
                let experiments: Vec<String> = body["experiment_ids"]
                    .as_array()
                    .into_iter()
                    .flatten()
                    .filter_map(|e| e.as_str().map(str::to_string))
                    .collect();
                let filter = match RunFilter::parse(body["filter"].as_str().unwrap_or("")) {
                    Ok(f) => f,
                    Err(e) => return Response::error(400, "INVALID_PARAMETER_VALUE", &e),
                };
                let mut found: Vec<&Value> = self
                    .runs
                    .values()
                    .filter(|r| {
                        r["info"]["experiment_id"]
                            .as_str()
                            .is_some_and(|e| experiments.iter().any(|x| x == e))
                    })
                    .filter(|r| filter.matches(r))
                    .collect();
                // Newest first, as MLflow orders by default (start_time DESC).
                found.sort_by_key(|r| {
                    std::cmp::Reverse(r["info"]["start_time"].as_i64().unwrap_or(0))
                });
                let max = body["max_results"].as_u64().unwrap_or(1000) as usize;
                let start: usize = body["page_token"]
                    .as_str()
                    .and_then(|t| t.parse().ok())
                    .unwrap_or(0);
                let page: Vec<Value> = found
                    .iter()
                    .skip(start)
                    .take(max)
                    .map(|r| (*r).clone())
                    .collect();
                let mut out = json!({ "runs": page });
                if start + max < found.len() {
                    out["next_page_token"] = json!((start + max).to_string());
                }
                if page_is_empty(&out) {
                    // MLflow omits empty lists.
                    out = json!({});
                }
                Response::ok(out)
            }
            "runs/update" => {
                let id = body["run_id"].as_str().unwrap_or("").to_string();
                match self.runs.get_mut(&id) {
                    Some(r) => {
                        if let Some(s) = body["status"].as_str() {
                            r["info"]["status"] = json!(s);
                        }
                        if !body["end_time"].is_null() {
                            r["info"]["end_time"] = body["end_time"].clone();
                        }
                        Response::ok(json!({ "run_info": r["info"].clone() }))
                    }
                    None => no_run(&id),
                }
            }
            "runs/set-tag" => {
                let id = body["run_id"].as_str().unwrap_or("").to_string();
                match self.runs.get_mut(&id) {
                    Some(r) => {
                        let tags = r["data"]["tags"].as_array_mut().unwrap();
                        tags.retain(|t| t["key"] != body["key"]);
                        tags.push(json!({ "key": body["key"], "value": body["value"] }));
                        Response::ok(json!({}))
                    }
                    None => no_run(&id),
                }
            }
            "runs/log-metric" | "runs/log-parameter" => {
                // The one-item forms of log-batch (`mlflow.log_metric`, `mlflow.log_param`).
                let kind = if op == "runs/log-metric" {
                    "metrics"
                } else {
                    "params"
                };
                let mut item = json!({ "key": body["key"], "value": body["value"] });
                if kind == "metrics" {
                    item["timestamp"] = body["timestamp"].clone();
                    item["step"] = body["step"].clone();
                }
                let batch = json!({ "run_id": body["run_id"], kind: [item] });
                let req = Request {
                    body: serde_json::to_vec(&batch).unwrap(),
                    ..req.clone()
                };
                self.mlflow("runs/log-batch", &req)
            }
            "runs/log-batch" => {
                let id = body["run_id"].as_str().unwrap_or("").to_string();
                match self.runs.get_mut(&id) {
                    Some(r) => {
                        for kind in ["params", "tags", "metrics"] {
                            if let Some(items) = body[kind].as_array() {
                                let list = r["data"][kind].as_array_mut().unwrap();
                                for item in items {
                                    if kind == "params" {
                                        if let Some(old) =
                                            list.iter().find(|p| p["key"] == item["key"])
                                        {
                                            if old["value"] != item["value"] {
                                                return Response::error(
                                                    400,
                                                    "INVALID_PARAMETER_VALUE",
                                                    &format!(
                                                        "Changing param values is not allowed. Param with key='{}' was already logged",
                                                        item["key"]
                                                    ),
                                                );
                                            }
                                            continue;
                                        }
                                    }
                                    if kind == "tags" {
                                        list.retain(|t| t["key"] != item["key"]);
                                    }
                                    list.push(item.clone());
                                }
                            }
                        }
                        Response::ok(json!({}))
                    }
                    None => no_run(&id),
                }
            }
            "metrics/get-history" => {
                // MLflow 3's log_model reads the run's metrics to link them to the model.
                let id = req.query.get("run_id").cloned().unwrap_or_default();
                let key = req.query.get("metric_key").cloned().unwrap_or_default();
                match self.runs.get(&id) {
                    Some(r) => {
                        let history: Vec<Value> = r["data"]["metrics"]
                            .as_array()
                            .into_iter()
                            .flatten()
                            .filter(|m| m["key"] == key.as_str())
                            .cloned()
                            .collect();
                        Response::ok(json!({ "metrics": history }))
                    }
                    None => no_run(&id),
                }
            }
            op if op.starts_with("logged-models") => self.logged_models(op, req),
            "runs/outputs" => self.log_outputs(req),
            op if op.starts_with("unity-catalog/") => self.uc_registry(op, req),
            _ => Response::error(404, "ENDPOINT_NOT_FOUND", op),
        }
    }
}

fn page_is_empty(v: &Value) -> bool {
    v["runs"].as_array().is_some_and(|r| r.is_empty()) && v.get("next_page_token").is_none()
}

/// The subset of MLflow's search filter grammar the tool sends: `tags.X`, `params.X`,
/// `metrics.X` and `attributes.status`/`attributes.run_name` compared with `=`, `!=` (and
/// `>`, `<`, `>=`, `<=` for metrics), joined by `AND`; keys may be in backticks, values are
/// quoted strings or numbers.
pub struct RunFilter(Vec<(String, String, String, String)>);

impl RunFilter {
    pub fn parse(text: &str) -> Result<RunFilter, String> {
        let mut out = Vec::new();
        if text.trim().is_empty() {
            return Ok(RunFilter(out));
        }
        for clause in split_and(text) {
            let clause = clause.trim();
            let ops = ["!=", ">=", "<=", "=", ">", "<"];
            let (at, op) = ops
                .iter()
                .filter_map(|op| clause.find(op).map(|i| (i, *op)))
                .min_by_key(|(i, op)| (*i, std::cmp::Reverse(op.len())))
                .ok_or_else(|| format!("Invalid clause '{clause}'"))?;
            let (lhs, rhs) = (clause[..at].trim(), clause[at + op.len()..].trim());
            let (kind, key) = lhs
                .split_once('.')
                .ok_or_else(|| format!("Invalid identifier '{lhs}'"))?;
            let key = key.trim_matches('`').to_string();
            let value = rhs
                .strip_prefix('\'')
                .and_then(|v| v.strip_suffix('\''))
                .or_else(|| rhs.strip_prefix('"').and_then(|v| v.strip_suffix('"')))
                .unwrap_or(rhs)
                .replace("\\'", "'");
            let kind = match kind {
                "tags" | "tag" => "tags",
                "params" | "param" => "params",
                "metrics" | "metric" => "metrics",
                "attributes" | "attribute" | "attr" | "run" => "attributes",
                other => return Err(format!("Invalid entity type '{other}'")),
            };
            out.push((kind.to_string(), key, op.to_string(), value));
        }
        Ok(RunFilter(out))
    }

    pub fn matches(&self, run: &Value) -> bool {
        self.0.iter().all(|(kind, key, op, value)| {
            let got: Option<String> =
                if kind == "attributes" {
                    run["info"][key.as_str()].as_str().map(str::to_string)
                } else {
                    run["data"][kind.as_str()].as_array().and_then(|items| {
                        items.iter().rev().find(|i| i["key"] == key.as_str()).map(
                            |i| match &i["value"] {
                                Value::String(s) => s.clone(),
                                other => other.to_string(),
                            },
                        )
                    })
                };
            let Some(got) = got else { return op == "!=" };
            let num = |s: &str| s.parse::<f64>().ok();
            match op.as_str() {
                "=" => got == *value || num(&got).zip(num(value)).is_some_and(|(a, b)| a == b),
                "!=" => got != *value,
                _ => match (num(&got), num(value)) {
                    (Some(a), Some(b)) => match op.as_str() {
                        ">" => a > b,
                        "<" => a < b,
                        ">=" => a >= b,
                        _ => a <= b,
                    },
                    _ => false,
                },
            }
        })
    }
}

/// Splits a filter on ` AND ` outside quotes.
fn split_and(text: &str) -> Vec<String> {
    let mut out = vec![String::new()];
    let mut quote = None;
    let chars: Vec<char> = text.chars().collect();
    let mut i = 0;
    while i < chars.len() {
        let c = chars[i];
        match quote {
            Some(q) if c == q => quote = None,
            Some(_) => {}
            None if c == '\'' || c == '"' || c == '`' => quote = Some(c),
            None => {
                let rest: String = chars[i..].iter().take(5).collect();
                if rest.eq_ignore_ascii_case(" and ") {
                    out.push(String::new());
                    i += 5;
                    continue;
                }
            }
        }
        out.last_mut().unwrap().push(c);
        i += 1;
    }
    out
}
