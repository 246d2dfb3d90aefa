//! Model serving endpoints (`/api/2.0/serving-endpoints`), as databricks-sdk-py's
//! `service/serving.py` `ServingEndpointsAPI` drives them: `create` and `update_config` answer
//! at once with the endpoint's state `config_update = IN_PROGRESS`, and the SDK's
//! `wait_get_serving_endpoint_not_updating` polls `get` until `NOT_UPDATING` (done) or
//! `UPDATE_FAILED`/`UPDATE_CANCELED` (failed: the previous config still serves). Here a
//! pending config applies after a few `get`s; `failing_changes` names the ones that fail.
//! Queries (`/serving-endpoints/{name}/invocations`) answer one prediction per record; in a
//! workspace that executes jobs, the served version's files (as registered under
//! `/Models/...`) are loaded with MLflow and predict on the request for real, parsed as
//! MLflow's scoring server parses it (`mlflow/pyfunc/scoring_server` `infer_and_parse_data`).

use serde_json::{Value, json};

use super::http::{Request, Response};
use super::state::State;

/// An endpoint: what `get` answers (`ServingEndpointDetailed`), and its pending change.
#[derive(Clone, Debug, Default)]
pub struct Endpoint {
    pub name: String,
    pub tags: Vec<Value>,
    /// `EndpointCoreConfigOutput`: `served_entities`, `traffic_config`, `config_version`;
    /// null until a first config applied.
    pub config: Value,
    /// The config being applied, the `get`s left before it is, and its change's number.
    pub pending: Option<(Value, u32, u32)>,
    pub ready: bool,
    pub config_update: String,
    pub creator: String,
}

/// How the fake's endpoints behave.
#[derive(Clone, Debug)]
pub struct ServingBehaviour {
    /// `get`s before a pending config applies (or fails).
    pub polls_to_apply: u32,
    /// The config changes that end `UPDATE_FAILED`, numbered in the order they were asked
    /// for across the workspace (an endpoint's create is a change).
    pub failing_changes: std::collections::BTreeSet<u32>,
    /// Config changes asked for so far.
    pub changes: u32,
    /// Queries answer 400 (a model that fails on its input).
    pub fail_queries: bool,
}

impl Default for ServingBehaviour {
    fn default() -> Self {
        ServingBehaviour {
            polls_to_apply: 2,
            failing_changes: Default::default(),
            changes: 0,
            fail_queries: false,
        }
    }
}

fn not_found(name: &str) -> Response {
    Response::error(
        404,
        "RESOURCE_DOES_NOT_EXIST",
        &format!("Endpoint with name '{name}' does not exist."),
    )
}

impl Endpoint {
    fn detailed(&self) -> Value {
        let mut out = json!({
            "name": self.name,
            "id": format!("{:032x}", self.name.len() * 7919),
            "creator": self.creator,
            "tags": self.tags,
            "state": {
                "ready": if self.ready { "READY" } else { "NOT_READY" },
                "config_update": self.config_update,
            },
            "endpoint_url": format!("/serving-endpoints/{}/invocations", self.name),
            "permission_level": "CAN_MANAGE",
        });
        if !self.config.is_null() {
            out["config"] = self.config.clone();
        }
        if let Some((pending, _, _)) = &self.pending {
            out["pending_config"] = pending.clone();
        }
        out
    }

    fn summary(&self) -> Value {
        let mut out = self.detailed();
        let map = out.as_object_mut().expect("an object");
        for key in ["pending_config", "endpoint_url", "permission_level"] {
            map.remove(key);
        }
        if let Some(config) = map.get_mut("config") {
            let entities: Vec<Value> = config["served_entities"]
                .as_array()
                .into_iter()
                .flatten()
                .map(|e| json!({ "name": e["name"], "entity_name": e["entity_name"] }))
                .collect();
            *config = json!({ "served_entities": entities });
        }
        out
    }

    /// One `get`: a pending config comes a poll closer to applying (or failing).
    fn advance(&mut self, behaviour: &ServingBehaviour) {
        let Some((pending, left, number)) = self.pending.take() else {
            return;
        };
        if left > 1 {
            self.pending = Some((pending, left - 1, number));
            return;
        }
        if behaviour.failing_changes.contains(&number) {
            self.config_update = "UPDATE_FAILED".into();
            return;
        }
        let version = self.config["config_version"].as_u64().unwrap_or(0) + 1;
        let mut config = pending;
        config["config_version"] = json!(version);
        self.config = config;
        self.ready = true;
        self.config_update = "NOT_UPDATING".into();
    }
}

/// The output form of an input config (`EndpointCoreConfigInput` to `...Output`): each served
/// entity keeps its fields and gets a name when it has none, as the service names it.
fn output_config(input: &Value) -> Value {
    let entities: Vec<Value> = input["served_entities"]
        .as_array()
        .cloned()
        .unwrap_or_default()
        .into_iter()
        .map(|mut e| {
            if e.get("name").is_none() {
                let name = format!(
                    "{}-{}",
                    e["entity_name"]
                        .as_str()
                        .unwrap_or("model")
                        .replace('.', "-"),
                    e["entity_version"].as_str().unwrap_or("1")
                );
                e["name"] = json!(name);
            }
            e["state"] = json!({"deployment": "DEPLOYMENT_READY"});
            e
        })
        .collect();
    let mut out = json!({ "served_entities": entities });
    if let Some(traffic) = input.get("traffic_config") {
        out["traffic_config"] = traffic.clone();
    }
    out
}

impl State {
    pub(super) fn serving_api(&mut self, rest: &str, req: &Request) -> Response {
        let parts: Vec<&str> = rest.trim_matches('/').split('/').collect();
        let body: Value = serde_json::from_slice(&req.body).unwrap_or(Value::Null);
        match (req.method.as_str(), parts.as_slice()) {
            ("POST", [""]) => self.create_endpoint(&body),
            // `list`: every endpoint as `ServingEndpoint`, whose config is a summary
            // (`EndpointCoreConfigSummary`: the served entities' names, no traffic).
            ("GET", [""]) => {
                let endpoints: Vec<Value> = self.serving.values().map(Endpoint::summary).collect();
                Response::ok(json!({ "endpoints": endpoints }))
            }
            ("GET", [name]) => {
                let behaviour = &self.serving_behaviour;
                match self.serving.get_mut(*name) {
                    Some(e) => {
                        e.advance(behaviour);
                        Response::ok(e.detailed())
                    }
                    None => not_found(name),
                }
            }
            ("DELETE", [name]) => match self.serving.remove(*name) {
                Some(_) => Response::ok(json!({})),
                None => not_found(name),
            },
            ("PUT", [name, "config"]) => {
                let polls = self.serving_behaviour.polls_to_apply;
                let number = self.serving_behaviour.changes + 1;
                let Some(e) = self.serving.get_mut(*name) else {
                    return not_found(name);
                };
                if e.pending.is_some() {
                    // As the service refuses a second change while one is applied.
                    return Response::error(
                        409,
                        "RESOURCE_CONFLICT",
                        &format!("Endpoint {name} is currently being updated."),
                    );
                }
                e.pending = Some((output_config(&body), polls.max(1), number));
                e.config_update = "IN_PROGRESS".into();
                let answer = e.detailed();
                self.serving_behaviour.changes = number;
                Response::ok(answer)
            }
            ("POST", [name, "invocations"]) => self.query_endpoint(name, &body),
            (m, _) => Response::error(
                404,
                "ENDPOINT_NOT_FOUND",
                &format!("No API found for '{m} /api/2.0/serving-endpoints/{rest}'"),
            ),
        }
    }

    fn create_endpoint(&mut self, body: &Value) -> Response {
        let name = body["name"].as_str().unwrap_or_default().to_string();
        if name.is_empty()
            || !name
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_')
        {
            return Response::error(
                400,
                "INVALID_PARAMETER_VALUE",
                &format!("Endpoint name '{name}' may hold only letters, digits, '-' and '_'."),
            );
        }
        if self.serving.contains_key(&name) {
            return Response::error(
                409,
                "RESOURCE_ALREADY_EXISTS",
                &format!("Endpoint with name '{name}' already exists."),
            );
        }
        let endpoint = Endpoint {
            name: name.clone(),
            tags: body["tags"].as_array().cloned().unwrap_or_default(),
            config: Value::Null,
            pending: Some((
                output_config(&body["config"]),
                self.serving_behaviour.polls_to_apply.max(1),
                self.serving_behaviour.changes + 1,
            )),
            ready: false,
            config_update: "IN_PROGRESS".into(),
            creator: self.user.clone(),
        };
        let answer = endpoint.detailed();
        self.serving_behaviour.changes += 1;
        self.serving.insert(name, endpoint);
        Response::ok(answer)
    }

    fn query_endpoint(&mut self, name: &str, body: &Value) -> Response {
        let Some(e) = self.serving.get(name) else {
            return not_found(name);
        };
        if !e.ready {
            return Response::error(
                400,
                "BAD_REQUEST",
                &format!("Endpoint {name} is not ready."),
            );
        }
        if self.serving_behaviour.fail_queries {
            return Response::error(
                400,
                "BAD_REQUEST",
                "Failed to process the input: the model raised on it.",
            );
        }
        if let Some(python) = self.executor.as_ref().map(|x| x.python.clone()) {
            return self.predict_for_real(&python, name, body);
        }
        // `dataframe_records`, `dataframe_split.data`, `instances` or `inputs`.
        let records = body["dataframe_records"]
            .as_array()
            .or_else(|| body["dataframe_split"]["data"].as_array())
            .or_else(|| body["instances"].as_array())
            .or_else(|| body["inputs"].as_array())
            .map_or(0, Vec::len);
        if records == 0 {
            return Response::error(
                400,
                "BAD_REQUEST",
                "The input has no records (dataframe_records, dataframe_split, instances or inputs).",
            );
        }
        Response::ok(json!({ "predictions": vec![0.5; records] }))
    }
}

/// Loads a model folder with MLflow and predicts on a scoring request (argv: folder, body).
const PREDICT: &str = r#"
import json, sys
import mlflow.pyfunc
from mlflow.pyfunc import scoring_server
model = mlflow.pyfunc.load_model(sys.argv[1])
schema = model.metadata.get_input_schema()
data = scoring_server.infer_and_parse_data(json.loads(sys.argv[2]), schema)
out = model.predict(data)
print(json.dumps({"predictions": list(getattr(out, "tolist", lambda: out)())}))
"#;

impl State {
    /// The endpoint's most-routed version, loaded from its files and run on `body`.
    fn predict_for_real(&self, python: &std::path::Path, name: &str, body: &Value) -> Response {
        let config = &self.serving[name].config;
        let routes = config["traffic_config"]["routes"]
            .as_array()
            .cloned()
            .unwrap_or_default();
        let main = routes
            .iter()
            .max_by_key(|r| r["traffic_percentage"].as_u64())
            .and_then(|r| r["served_model_name"].as_str().map(str::to_string));
        let entities = config["served_entities"]
            .as_array()
            .cloned()
            .unwrap_or_default();
        let Some(entity) = entities
            .iter()
            .find(|e| main.is_none() || e["name"].as_str() == main.as_deref())
        else {
            return Response::error(400, "BAD_REQUEST", "The endpoint serves nothing.");
        };
        let model = entity["entity_name"]
            .as_str()
            .unwrap_or_default()
            .replace('.', "/");
        let prefix = format!(
            "/Models/{model}/{}/",
            entity["entity_version"].as_str().unwrap_or("?")
        );
        let dir = tempfile::tempdir().expect("a temporary folder");
        for (path, file) in self.volume_files.range(prefix.clone()..) {
            let Some(rest) = path.strip_prefix(&prefix) else {
                break;
            };
            let to = dir.path().join(rest);
            fs_err::create_dir_all(to.parent().unwrap()).unwrap();
            fs_err::write(&to, &file.data).unwrap();
        }
        let out = std::process::Command::new(python)
            .args(["-c", PREDICT])
            .arg(dir.path())
            .arg(body.to_string())
            .output();
        match out {
            Ok(o) if o.status.success() => match serde_json::from_slice(&o.stdout) {
                Ok(v) => Response::ok(v),
                Err(e) => Response::error(500, "INTERNAL_ERROR", &format!("bad model answer: {e}")),
            },
            Ok(o) => {
                let err = String::from_utf8_lossy(&o.stderr);
                let last = err
                    .lines()
                    .rev()
                    .find(|l| !l.trim().is_empty())
                    .unwrap_or("");
                Response::error(
                    400,
                    "BAD_REQUEST",
                    &format!("Failed to process the input: {last}"),
                )
            }
            Err(e) => Response::error(500, "INTERNAL_ERROR", &format!("cannot run the model: {e}")),
        }
    }
}
