//! Unity Catalog models (`/api/2.1/unity-catalog/models/...`): versions and aliases, as the
//! Databricks SDK's `model_versions` and `registered_models` APIs call them. Versions are
//! made by tests (`State::add_model_version`): registering one needs the model's files copied
//! with cloud credentials, which happens in the workspace, not over this API.

use serde_json::{Value, json};

use super::http::{Request, Response};
use super::state::State;

/// A registered model: its versions (ModelVersionInfo) and aliases.
#[derive(Clone, Debug, Default)]
pub struct Model {
    pub versions: Vec<Value>,
    pub aliases: std::collections::BTreeMap<String, u64>,
    /// The MLflow 3 deployment job linked to the model: each new version starts it.
    pub deployment_job_id: Option<u64>,
}

fn no_model(name: &str) -> Response {
    Response::error(
        404,
        "RESOURCE_DOES_NOT_EXIST",
        &format!("Registered model '{name}' does not exist."),
    )
}

fn no_version(name: &str, n: impl std::fmt::Display) -> Response {
    Response::error(
        404,
        "RESOURCE_DOES_NOT_EXIST",
        &format!("Model version {name}/{n} does not exist."),
    )
}

impl State {
    /// Adds version N+1 of `full_name` from `run_id` (the model is made when missing).
    pub fn add_model_version(&mut self, full_name: &str, run_id: &str) -> u64 {
        let model = self.models.entry(full_name.to_string()).or_default();
        let version = model.versions.len() as u64 + 1;
        let parts: Vec<&str> = full_name.split('.').collect();
        model.versions.push(json!({
            "model_name": parts.get(2).copied().unwrap_or(full_name),
            "catalog_name": parts.first().copied().unwrap_or(""),
            "schema_name": parts.get(1).copied().unwrap_or(""),
            "version": version,
            "run_id": run_id,
            "source": format!("dbfs:/databricks/mlflow-tracking/runs/{run_id}/artifacts/model"),
            "status": "READY",
        }));
        version
    }

    fn with_aliases(model: &Model, info: &Value) -> Value {
        let mut info = info.clone();
        let version = info["version"].as_u64().unwrap_or(0);
        let aliases: Vec<Value> = model
            .aliases
            .iter()
            .filter(|(_, v)| **v == version)
            .map(|(a, v)| json!({"alias_name": a, "version_num": v}))
            .collect();
        info["aliases"] = json!(aliases);
        info
    }

    pub(super) fn models_api(&mut self, rest: &str, req: &Request) -> Response {
        // `{full_name}/versions[/{n}]` or `{full_name}/aliases/{alias}`.
        let parts: Vec<&str> = rest.trim_matches('/').split('/').collect();
        let name = parts.first().copied().unwrap_or("");
        let m = req.method.as_str();
        let Some(model) = self.models.get(name).cloned() else {
            return no_model(name);
        };
        match (m, &parts[1..]) {
            ("GET", ["versions"]) => {
                let versions: Vec<Value> = model
                    .versions
                    .iter()
                    .map(|v| Self::with_aliases(&model, v))
                    .collect();
                Response::ok(json!({ "model_versions": versions }))
            }
            ("GET", ["versions", n]) => match model
                .versions
                .iter()
                .find(|v| n.parse::<u64>().ok() == v["version"].as_u64())
            {
                Some(v) => Response::ok(Self::with_aliases(&model, v)),
                None => no_version(name, n),
            },
            ("GET", ["aliases", alias]) => {
                match model.aliases.get(*alias).and_then(|n| {
                    model
                        .versions
                        .iter()
                        .find(|v| v["version"].as_u64() == Some(*n))
                }) {
                    Some(v) => Response::ok(Self::with_aliases(&model, v)),
                    None => Response::error(
                        404,
                        "RESOURCE_DOES_NOT_EXIST",
                        &format!("Alias {alias} does not exist on {name}."),
                    ),
                }
            }
            ("PUT", ["aliases", alias]) => {
                let body: Value = serde_json::from_slice(&req.body).unwrap_or(Value::Null);
                let Some(n) = body["version_num"].as_u64() else {
                    return Response::error(
                        400,
                        "INVALID_PARAMETER_VALUE",
                        "version_num is required",
                    );
                };
                if !model
                    .versions
                    .iter()
                    .any(|v| v["version"].as_u64() == Some(n))
                {
                    return no_version(name, n);
                }
                if self.drop_aliases {
                    return Response::ok(json!({ "alias_name": alias, "version_num": n }));
                }
                self.models
                    .get_mut(name)
                    .expect("checked above")
                    .aliases
                    .insert(alias.to_string(), n);
                Response::ok(json!({ "alias_name": alias, "version_num": n }))
            }
            // databricks-sdk-py `service/catalog.py` `RegisteredModelsAPI.delete_alias`.
            ("DELETE", ["aliases", alias]) => {
                let model = self.models.get_mut(name).expect("checked above");
                match model.aliases.remove(*alias) {
                    Some(_) => Response::ok(json!({})),
                    None => Response::error(
                        404,
                        "RESOURCE_DOES_NOT_EXIST",
                        &format!("Alias {alias} does not exist on {name}."),
                    ),
                }
            }
            _ => Response::error(
                404,
                "ENDPOINT_NOT_FOUND",
                &format!("No API found for '{m} /api/2.1/unity-catalog/models/{rest}'"),
            ),
        }
    }
}

/// A stored version in the form of MLflow's Unity Catalog registry protos
/// (`databricks_uc_registry_messages.proto`: `ModelVersion`), with its aliases.
fn uc_version(name: &str, model: &Model, info: &Value) -> Value {
    let n = info["version"].as_u64().unwrap_or(0);
    let aliases: Vec<Value> = model
        .aliases
        .iter()
        .filter(|(_, v)| **v == n)
        .map(|(a, v)| json!({ "alias": a, "version": v.to_string() }))
        .collect();
    json!({
        "name": name, "version": n.to_string(), "source": info["source"], "run_id": info["run_id"],
        "status": info["status"], "storage_location": info["storage_location"],
        "creation_timestamp": info["created_at"], "last_updated_timestamp": info["updated_at"],
        "tags": info.get("tags").cloned().unwrap_or(json!([])), "aliases": aliases,
        "model_id": info["model_id"],
    })
}

impl State {
    /// `RegisteredModel` (`databricks_uc_registry_messages.proto`), with its deployment job.
    fn registered_model(&self, name: &str) -> Value {
        let model = &self.models[name];
        let aliases: Vec<Value> = model
            .aliases
            .iter()
            .map(|(a, v)| json!({ "alias": a, "version": v.to_string() }))
            .collect();
        let mut out = json!({ "name": name, "aliases": aliases, "tags": [] });
        if let Some(job) = model.deployment_job_id {
            out["deployment_job_id"] = json!(job.to_string());
            out["deployment_job_state"] = json!("CONNECTED");
        }
        out
    }

    /// The deployment job a create or update links (`None`: unlinked), which must exist.
    fn deployment_job(&self, args: &Value) -> Result<Option<u64>, Response> {
        let id = match &args["deployment_job_id"] {
            Value::String(s) if s.is_empty() => return Ok(None),
            Value::String(s) => s.parse::<u64>().ok(),
            Value::Number(n) => n.as_u64(),
            _ => return Ok(None),
        };
        match id.filter(|id| self.job_defs.contains_key(id)) {
            Some(id) => Ok(Some(id)),
            None => Err(Response::error(
                400,
                "INVALID_PARAMETER_VALUE",
                &format!(
                    "Deployment job {} does not exist.",
                    args["deployment_job_id"]
                ),
            )),
        }
    }

    /// A version became READY: a linked deployment job starts for it, with the parameters
    /// `model_name` and `model_version`.
    fn start_deployment(&mut self, name: &str, version: u64) {
        let Some(job) = self.models[name].deployment_job_id else {
            return;
        };
        let params = json!({ "model_name": name, "model_version": version.to_string() });
        if let Ok(run_id) = self.start_job_run(job, &params) {
            let model = self.models.get_mut(name).expect("a model");
            if let Some(info) = model
                .versions
                .iter_mut()
                .find(|v| v["version"].as_u64() == Some(version))
            {
                info["deployment"] = json!({ "job_id": job, "run_id": run_id });
            }
        }
    }

    /// `model-versions/get`'s answer, with the version's `deployment_job_state`
    /// (`ModelVersionDeploymentJobState`: the job run's state; `APPROVAL` while the run has
    /// failed at an approval task, whose name is `current_task_name`).
    fn uc_version_answer(&self, name: &str, n: u64) -> Response {
        let model = &self.models[name];
        let Some(info) = model
            .versions
            .iter()
            .find(|v| v["version"].as_u64() == Some(n))
        else {
            return no_version(name, n);
        };
        let mut version = uc_version(name, model, info);
        if let Some(run_id) = info["deployment"]["run_id"].as_u64() {
            if let Some(run) = self.jobs.get(&run_id) {
                let (_, result, _) = self.job_state(run);
                let state = match result.as_deref() {
                    None => "RUNNING",
                    Some("SUCCESS") => "SUCCEEDED",
                    Some(_) if run.task_key.to_lowercase().contains("approval") => "APPROVAL",
                    Some(_) => "FAILED",
                };
                version["deployment_job_state"] = json!({
                    "job_id": info["deployment"]["job_id"].to_string(),
                    "run_id": run_id.to_string(),
                    "job_state": "CONNECTED",
                    "run_state": state,
                    "current_task_name": run.task_key,
                });
            }
        }
        Response::ok(json!({ "model_version": version }))
    }

    /// MLflow's Unity Catalog registry (`/api/2.0/mlflow/unity-catalog/...`), which
    /// `mlflow.register_model` and `MlflowClient` call with `registry_uri="databricks-uc"`:
    /// models and versions (kept with those of the `/api/2.1` API above), aliases, tags,
    /// and the Databricks SDK models artifact repository switch, which is on here so the
    /// version's files go through the Files API to `/Models/<catalog>/<schema>/<model>/<n>`.
    pub(super) fn uc_registry(&mut self, op: &str, req: &Request) -> Response {
        let m = req.method.as_str();
        // GET and DELETE carry their fields in the query, the others in a JSON body.
        let mut args = req.json();
        if !args.is_object() {
            args = json!({});
        }
        for (k, v) in &req.query {
            args[k] = json!(v);
        }
        let name = args["name"].as_str().unwrap_or("").to_string();
        let version: Option<u64> = args["version"].as_str().and_then(|v| v.parse().ok());
        let not_found = |what: String| Response::error(404, "RESOURCE_DOES_NOT_EXIST", &what);
        match (m, op.trim_start_matches("unity-catalog/")) {
            ("GET", "registered-models:is-databricks-sdk-models-artifact-repository-enabled") => {
                Response::ok(
                    json!({ "is_databricks_sdk_models_artifact_repository_enabled": true }),
                )
            }
            // Lineage is best effort in MLflow; this workspace records none.
            ("POST", "model-versions/emit-lineage") => Response::ok(json!({})),
            ("POST", "registered-models/create") => {
                if name.split('.').count() != 3 {
                    return Response::error(
                        400,
                        "INVALID_PARAMETER_VALUE",
                        &format!("Model name '{name}' is not a three-level name."),
                    );
                }
                // Unity Catalog answers a duplicate with ALREADY_EXISTS and HTTP 409, not the
                // workspace registry's RESOURCE_ALREADY_EXISTS: MLflow's `_register_model`
                // (mlflow/tracking/_model_registry/fluent.py) accepts both for that reason.
                if self.models.contains_key(&name) {
                    return Response::error(
                        409,
                        "ALREADY_EXISTS",
                        &format!("Registered model '{name}' already exists."),
                    );
                }
                let job = match self.deployment_job(&args) {
                    Ok(job) => job,
                    Err(refused) => return refused,
                };
                self.models.insert(
                    name.clone(),
                    Model {
                        deployment_job_id: job,
                        ..Model::default()
                    },
                );
                Response::ok(json!({ "registered_model": self.registered_model(&name) }))
            }
            ("GET", "registered-models/get") => match self.models.contains_key(&name) {
                true => Response::ok(json!({ "registered_model": self.registered_model(&name) })),
                false => no_model(&name),
            },
            // MLflow 3's `update_registered_model(name, description, deployment_job_id)`
            // (mlflow/store/_unity_catalog/registry/rest_store.py): PATCH, an empty id unlinks.
            ("PATCH", "registered-models/update") => {
                let job = match self.deployment_job(&args) {
                    Ok(job) => job,
                    Err(refused) => return refused,
                };
                let Some(model) = self.models.get_mut(&name) else {
                    return no_model(&name);
                };
                if args.get("deployment_job_id").is_some() {
                    model.deployment_job_id = job;
                }
                Response::ok(json!({ "registered_model": self.registered_model(&name) }))
            }
            ("POST", "model-versions/create") => {
                let Some(model) = self.models.get_mut(&name) else {
                    return no_model(&name);
                };
                let n = model.versions.len() as u64 + 1;
                let parts: Vec<&str> = name.split('.').collect();
                let now = super::state::now_ms();
                model.versions.push(json!({
                    "model_name": parts[2], "catalog_name": parts[0], "schema_name": parts[1],
                    "version": n, "run_id": args["run_id"], "source": args["source"],
                    "model_id": args["model_id"], "status": "PENDING_REGISTRATION",
                    "storage_location": format!("s3://fake-metastore/models/{}/{n}", name.replace('.', "/")),
                    "tags": args.get("tags").cloned().unwrap_or(json!([])),
                    "created_at": now, "updated_at": now,
                }));
                let model = &self.models[&name];
                Response::ok(
                    json!({ "model_version": uc_version(&name, model, model.versions.last().expect("pushed")) }),
                )
            }
            (_, op)
                if op.starts_with("model-versions/")
                    && version.is_none()
                    && op != "model-versions/search" =>
            {
                Response::error(400, "INVALID_PARAMETER_VALUE", "version is required")
            }
            ("POST", "model-versions/finalize")
            | ("GET", "model-versions/get")
            | ("POST", "model-versions/set-tag") => {
                let n = version.expect("checked above");
                let Some(model) = self.models.get_mut(&name) else {
                    return no_model(&name);
                };
                let Some(info) = model
                    .versions
                    .iter_mut()
                    .find(|v| v["version"].as_u64() == Some(n))
                else {
                    return no_version(&name, n);
                };
                if op.ends_with("finalize") {
                    info["status"] = json!("READY");
                    info["updated_at"] = json!(super::state::now_ms());
                    self.start_deployment(&name, n);
                    return self.uc_version_answer(&name, n);
                }
                if op.ends_with("set-tag") {
                    let mut tags = info.get("tags").cloned().unwrap_or(json!([]));
                    let list = tags.as_array_mut().expect("tags are a list");
                    list.retain(|t| t["key"] != args["key"]);
                    list.push(json!({ "key": args["key"], "value": args["value"] }));
                    info["tags"] = tags;
                    return Response::ok(json!({}));
                }
                self.uc_version_answer(&name, n)
            }
            ("GET", "model-versions/search") => {
                // MLflow sends `name='catalog.schema.model'`. Unity Catalog's search answers
                // carry no tags and no aliases: MLflow's UC client turns them into
                // `ModelVersionSearch` objects whose `tags`/`aliases` raise
                // (mlflow/entities/model_registry/model_version_search.py).
                let filter = args["filter"].as_str().unwrap_or("");
                let wanted = filter
                    .split_once('=')
                    .map(|(_, v)| v.trim().trim_matches(|c| c == '\'' || c == '"').to_string())
                    .unwrap_or_default();
                let versions: Vec<Value> = match self.models.get(&wanted) {
                    Some(model) => model
                        .versions
                        .iter()
                        .map(|v| {
                            let mut found = uc_version(&wanted, model, v);
                            let fields = found.as_object_mut().expect("an object");
                            fields.remove("tags");
                            fields.remove("aliases");
                            found
                        })
                        .collect(),
                    None => Vec::new(),
                };
                Response::ok(json!({ "model_versions": versions }))
            }
            ("POST", "registered-models/alias") | ("GET", "registered-models/alias") => {
                let alias = args["alias"].as_str().unwrap_or("").to_string();
                let Some(model) = self.models.get_mut(&name) else {
                    return no_model(&name);
                };
                let n = if m == "POST" {
                    let Some(n) = version else {
                        return Response::error(
                            400,
                            "INVALID_PARAMETER_VALUE",
                            "version is required",
                        );
                    };
                    if !model
                        .versions
                        .iter()
                        .any(|v| v["version"].as_u64() == Some(n))
                    {
                        return no_version(&name, n);
                    }
                    model.aliases.insert(alias.clone(), n);
                    return Response::ok(json!({}));
                } else {
                    match model.aliases.get(&alias) {
                        Some(n) => *n,
                        None => {
                            return not_found(format!("Alias {alias} does not exist on {name}."));
                        }
                    }
                };
                let model = &self.models[&name];
                let info = model
                    .versions
                    .iter()
                    .find(|v| v["version"].as_u64() == Some(n))
                    .expect("aliases name versions");
                Response::ok(json!({ "model_version": uc_version(&name, model, info) }))
            }
            (m, op) => Response::error(
                404,
                "ENDPOINT_NOT_FOUND",
                &format!("No API found for '{m} /api/2.0/mlflow/unity-catalog/{op}'"),
            ),
        }
    }
}
