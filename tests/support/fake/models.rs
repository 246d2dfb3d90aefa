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
}

fn no_model(name: &str) -> Response {
    Response::error(
        404,
        "RESOURCE_DOES_NOT_EXIST",
        &format!("Registered model '{name}' does not exist."),
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
                None => Response::error(
                    404,
                    "RESOURCE_DOES_NOT_EXIST",
                    &format!("Model version {name}/{n} does not exist."),
                ),
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
                    return Response::error(
                        404,
                        "RESOURCE_DOES_NOT_EXIST",
                        &format!("Model version {name}/{n} does not exist."),
                    );
                }
                self.models
                    .get_mut(name)
                    .expect("checked above")
                    .aliases
                    .insert(alias.to_string(), n);
                Response::ok(json!({ "alias_name": alias, "version_num": n }))
            }
            _ => Response::error(
                404,
                "ENDPOINT_NOT_FOUND",
                &format!("No API found for '{m} /api/2.1/unity-catalog/models/{rest}'"),
            ),
        }
    }
}
