//! The fake's MLflow tracking API (`/api/2.0/mlflow/...`, and the same under
//! `/api/2.0/preview/mlflow/...`), served by a real `mlflow server` of the version the tests
//! install (`mlflow_server.rs`): its error codes, filter syntax, paging, limits on keys and
//! values, run lifecycle and logged models are MLflow's own, not our reading of them. Only the
//! Unity Catalog registry (`unity-catalog/...`, see `models.rs`) stays in the fake: it lives
//! in the workspace, not in the tracking server.
//!
//! Each fake is its own MLflow workspace (`--enable-workspaces`, the `X-MLFLOW-WORKSPACE`
//! header), made on its first MLflow request with `dbfs:/databricks/mlflow-tracking` as its
//! artifact root, so experiments get the artifact locations Databricks gives them
//! (`dbfs:/databricks/mlflow-tracking/<experiment>`) and tests sharing the server stay apart.
//!
//! What the fake adds on top, because Databricks does and MLflow's server does not (keep this
//! list short, and in step with the code below):
//! - `experiments/create`: the name must be an absolute workspace path whose folder exists,
//!   and the experiment becomes a workspace object (`MLFLOW_EXPERIMENT`).
//! - `runs/create`: the run's `user_id` is the caller (the token's user).
//! - Logged models' `artifact_uri` reads `.../<experiment>/logged_models/<id>/artifacts`, the
//!   form MLflow's client maps to `/WorkspaceInternal/.../LoggedModels/<id>`
//!   (`mlflow/store/artifact/databricks_logged_model_artifact_repo.py`); MLflow's SQL store
//!   says `models/`.
//! - Every answer carries `x-databricks-org-id`: MLflow's Unity Catalog store reads it from
//!   the source run's answer to link a model version to its run
//!   (`UcModelRegistryStore._get_workspace_id` in `mlflow/store/_unity_catalog/registry/rest_store.py`).
//! - A path MLflow has no route for answers `ENDPOINT_NOT_FOUND` in the error envelope, as the
//!   workspace does, instead of the server's HTML page.
//! - A test can make the next `experiments/create` lose a race (`lose_next_experiment_race`).

use std::sync::OnceLock;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use serde_json::{Value, json};

use super::http::{Request, Response};
use super::state::*;

/// Where this fake's MLflow requests go.
#[derive(Clone, Debug)]
pub struct MlflowBackend {
    pub url: String,
    /// This fake's MLflow workspace.
    pub workspace: String,
}

fn http() -> &'static reqwest::blocking::Client {
    static CLIENT: OnceLock<reqwest::blocking::Client> = OnceLock::new();
    CLIENT.get_or_init(|| {
        reqwest::blocking::Client::builder()
            .timeout(Duration::from_secs(120))
            .build()
            .expect("an HTTP client")
    })
}

impl MlflowBackend {
    /// A new MLflow workspace on the shared server (started on first use).
    fn create() -> Result<MlflowBackend, String> {
        static NEXT: AtomicU64 = AtomicU64::new(0);
        let url = super::mlflow_server::mlflow_server().url.clone();
        let workspace = format!(
            "fake-{}-{}",
            std::process::id(),
            NEXT.fetch_add(1, Ordering::SeqCst)
        );
        let answer = http()
            .post(format!("{url}/api/3.0/mlflow/workspaces"))
            .header("content-type", "application/json")
            .body(
                json!({
                    "name": workspace,
                    "default_artifact_root": "dbfs:/databricks/mlflow-tracking",
                })
                .to_string(),
            )
            .send()
            .map_err(|e| e.to_string())?;
        if !answer.status().is_success() {
            return Err(format!(
                "creating MLflow workspace {workspace}: {}",
                answer.text().unwrap_or_default()
            ));
        }
        Ok(MlflowBackend { url, workspace })
    }

    /// Sends one request to MLflow as this workspace: `(status, content type, body)`.
    pub fn call(
        &self,
        method: &str,
        op: &str,
        query: &std::collections::BTreeMap<String, String>,
        body: &[u8],
    ) -> Result<(u16, String, Vec<u8>), String> {
        let method = reqwest::Method::from_bytes(method.as_bytes()).map_err(|e| e.to_string())?;
        let mut request = http()
            .request(method, format!("{}/api/2.0/mlflow/{op}", self.url))
            .header("X-MLFLOW-WORKSPACE", &self.workspace)
            .query(query);
        if !body.is_empty() {
            request = request
                .header("content-type", "application/json")
                .body(body.to_vec());
        }
        let answer = request.send().map_err(|e| e.to_string())?;
        let status = answer.status().as_u16();
        let kind = answer
            .headers()
            .get("content-type")
            .and_then(|v| v.to_str().ok())
            .unwrap_or("")
            .to_string();
        let bytes = answer.bytes().map_err(|e| e.to_string())?.to_vec();
        Ok((status, kind, bytes))
    }

    /// A JSON request whose answer must succeed (for tests looking at what MLflow holds).
    pub fn json(&self, method: &str, op: &str, query: &[(&str, &str)], body: Value) -> Value {
        let query = query
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        let body = if body.is_null() {
            Vec::new()
        } else {
            serde_json::to_vec(&body).unwrap()
        };
        let (status, _, bytes) = self.call(method, op, &query, &body).unwrap();
        let answer: Value = serde_json::from_slice(&bytes).unwrap_or(Value::Null);
        assert!(status < 300, "MLflow {op}: {status} {answer}");
        databricks_forms(answer)
    }
}

/// MLflow's SQL store puts a logged model's files under `<experiment>/models/<id>`; Databricks
/// says `logged_models` (see the module's list).
fn databricks_forms(mut answer: Value) -> Value {
    fn walk(v: &mut Value) {
        match v {
            Value::Object(map) => {
                for (key, value) in map.iter_mut() {
                    if key == "artifact_uri" {
                        if let Value::String(uri) = value {
                            if uri.starts_with("dbfs:/databricks/mlflow-tracking/") {
                                *uri = uri.replacen("/models/m-", "/logged_models/m-", 1);
                            }
                        }
                    } else {
                        walk(value);
                    }
                }
            }
            Value::Array(items) => items.iter_mut().for_each(walk),
            _ => {}
        }
    }
    walk(&mut answer);
    answer
}

impl State {
    /// This fake's MLflow workspace, made on first use.
    pub fn mlflow_backend(&mut self) -> Result<MlflowBackend, String> {
        if self.mlflow_backend.is_none() {
            self.mlflow_backend = Some(MlflowBackend::create()?);
        }
        Ok(self.mlflow_backend.clone().expect("set above"))
    }

    pub(super) fn mlflow(&mut self, op: &str, req: &Request) -> Response {
        if op.starts_with("unity-catalog/") {
            return self.uc_registry(op, req);
        }
        let backend = match self.mlflow_backend() {
            Ok(b) => b,
            Err(e) => return Response::error(500, "INTERNAL_ERROR", &e),
        };
        let mut body = req.body.clone();
        match op {
            "experiments/create" => {
                if let Some(refused) = self.databricks_experiment_rules(&req.json()) {
                    return refused;
                }
                if std::mem::take(&mut self.lose_next_experiment_race) {
                    // Another client creates the same experiment first.
                    let _ = backend.call("POST", op, &req.query, &body);
                }
            }
            "runs/create" => {
                let mut json = req.json();
                if json["user_id"].as_str().is_none_or(str::is_empty) {
                    json["user_id"] = json!(self.user);
                }
                body = serde_json::to_vec(&json).unwrap();
            }
            _ => {}
        }
        let (status, kind, bytes) = match backend.call(&req.method, op, &req.query, &body) {
            Ok(answer) => answer,
            Err(e) => return Response::error(500, "INTERNAL_ERROR", &format!("MLflow: {e}")),
        };
        let response = if kind.contains("json") {
            let answer: Value = serde_json::from_slice(&bytes).unwrap_or(Value::Null);
            if op == "experiments/create" && status == 200 {
                let name = req.json()["name"].as_str().unwrap_or("").to_string();
                self.workspace
                    .insert(name, ("MLFLOW_EXPERIMENT".into(), Vec::new()));
            }
            Response::json(status, databricks_forms(answer))
        } else if status == 404 {
            Response::error(
                404,
                "ENDPOINT_NOT_FOUND",
                &format!("No API found for '{} /api/2.0/mlflow/{op}'", req.method),
            )
        } else {
            Response::bytes(status, bytes).with_content_type(&kind)
        };
        response.header("x-databricks-org-id", super::WORKSPACE_ID)
    }

    /// What the workspace asks of a new experiment's name before MLflow sees it.
    fn databricks_experiment_rules(&self, body: &Value) -> Option<Response> {
        let name = body["name"].as_str().unwrap_or("");
        if !name.starts_with('/') {
            return Some(Response::error(
                400,
                "INVALID_PARAMETER_VALUE",
                &format!(
                    "Got an invalid experiment name '{name}'. An experiment name must be an absolute path within the Databricks workspace, e.g. '/Users/<some-username>/my-experiment'."
                ),
            ));
        }
        let dir = parent(name).unwrap_or_default();
        if self
            .workspace
            .get(&dir)
            .is_none_or(|(t, _)| t != "DIRECTORY")
        {
            return Some(Response::error(
                404,
                "RESOURCE_DOES_NOT_EXIST",
                &format!("Parent directory {dir} does not exist."),
            ));
        }
        None
    }
}
