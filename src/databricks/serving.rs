//! Model serving endpoints (`/api/2.0/serving-endpoints`), called as databricks-sdk-py's
//! `service/serving.py` `ServingEndpointsAPI` calls them: `create` (POST, the config inside
//! the body), `update_config` (PUT `{name}/config`, the config as the body), `get`, `list`,
//! `delete`, and `query` (POST `/serving-endpoints/{name}/invocations`: outside `/api`).
//! A create or a config update answers at once; [`Serving::wait`] then polls as the SDK's
//! `wait_get_serving_endpoint_not_updating` does.

use serde::Deserialize;
use serde_json::{Value, json};

use super::client::{Client, Request};
use super::error::ApiError;

/// An endpoint tag (`EndpointTag`).
#[derive(Clone, Debug, Deserialize, PartialEq, Eq)]
pub struct Tag {
    pub key: String,
    #[serde(default)]
    pub value: Option<String>,
}

/// `EndpointState`: whether it serves (`READY`/`NOT_READY`) and whether a config is being
/// applied (`NOT_UPDATING`, `IN_PROGRESS`, `UPDATE_FAILED`, `UPDATE_CANCELED`).
#[derive(Clone, Debug, Default, Deserialize)]
pub struct State {
    #[serde(default)]
    pub ready: Option<String>,
    #[serde(default)]
    pub config_update: Option<String>,
}

/// An endpoint as `get` (`ServingEndpointDetailed`) and `list` (`ServingEndpoint`) answer it:
/// the fields we read. `config` is the config being served (absent until a first one applied).
#[derive(Clone, Debug, Deserialize)]
pub struct Endpoint {
    pub name: String,
    #[serde(default)]
    pub tags: Vec<Tag>,
    #[serde(default)]
    pub state: State,
    #[serde(default)]
    pub config: Option<Value>,
    /// The caller's permission on it (`CAN_MANAGE`, `CAN_QUERY`, `CAN_VIEW`); only `get`
    /// says it.
    #[serde(default)]
    pub permission_level: Option<String>,
    #[serde(default)]
    pub creator: Option<String>,
}

impl Endpoint {
    pub fn tag(&self, key: &str) -> Option<&str> {
        self.tags
            .iter()
            .find(|t| t.key == key)
            .and_then(|t| t.value.as_deref())
    }

    pub fn config_update(&self) -> &str {
        self.state
            .config_update
            .as_deref()
            .unwrap_or("NOT_UPDATING")
    }

    pub fn is_ready(&self) -> bool {
        self.state.ready.as_deref() == Some("READY")
    }

    /// The served entities' `(entity_name, entity_version)`, as served now.
    pub fn served(&self) -> Vec<(String, String)> {
        served_of(self.config.as_ref())
    }
}

/// The `(entity_name, entity_version)` pairs of a config (input or output form).
pub fn served_of(config: Option<&Value>) -> Vec<(String, String)> {
    config
        .and_then(|c| c["served_entities"].as_array())
        .into_iter()
        .flatten()
        .filter_map(|e| {
            Some((
                e["entity_name"].as_str()?.to_string(),
                e["entity_version"].as_str()?.to_string(),
            ))
        })
        .collect()
}

/// The config an endpoint serves, in the form `update_config` takes it back
/// (`EndpointCoreConfigInput`): what only the output has (`ServedEntityOutput.state`,
/// `creator`, `creation_timestamp`, `foundation_model`; the config's `config_version`) is
/// left out.
pub fn as_input(config: &Value) -> Value {
    let entities: Vec<Value> = config["served_entities"]
        .as_array()
        .into_iter()
        .flatten()
        .map(|e| {
            let mut e = e.clone();
            if let Some(map) = e.as_object_mut() {
                for key in ["state", "creator", "creation_timestamp", "foundation_model"] {
                    map.remove(key);
                }
            }
            e
        })
        .collect();
    let mut out = json!({ "served_entities": entities });
    if let Some(traffic) = config.get("traffic_config").filter(|t| !t.is_null()) {
        out["traffic_config"] = traffic.clone();
    }
    out
}

#[derive(Deserialize)]
struct Listed {
    #[serde(default)]
    endpoints: Vec<Endpoint>,
}

pub struct Serving<'a> {
    pub client: &'a Client,
}

fn path(name: &str) -> String {
    format!("/api/2.0/serving-endpoints/{name}")
}

impl Serving<'_> {
    /// The endpoint `name`, if it exists.
    pub fn get(&self, name: &str) -> Result<Option<Endpoint>, ApiError> {
        match self.client.get_as(&path(name), &[]) {
            Ok(e) => Ok(Some(e)),
            Err(e) if e.is_not_found() => Ok(None),
            Err(e) => Err(e),
        }
    }

    /// Every endpoint of the workspace (one answer: the API does not page).
    pub fn list(&self) -> Result<Vec<Endpoint>, ApiError> {
        let listed: Listed = self.client.get_as("/api/2.0/serving-endpoints", &[])?;
        Ok(listed.endpoints)
    }

    /// Creates `name` serving `config` (`EndpointCoreConfigInput`), with `tags`. Not retried
    /// after a lost answer: a second create fails with `RESOURCE_ALREADY_EXISTS`.
    pub fn create(
        &self,
        name: &str,
        config: &Value,
        tags: &[(String, String)],
    ) -> Result<Endpoint, ApiError> {
        let tags: Vec<Value> = tags
            .iter()
            .map(|(k, v)| json!({ "key": k, "value": v }))
            .collect();
        self.client.post_as(
            "/api/2.0/serving-endpoints",
            json!({ "name": name, "config": config, "tags": tags }),
            false,
        )
    }

    /// Starts applying `config` to `name` (the same config twice is harmless to send).
    pub fn update_config(&self, name: &str, config: &Value) -> Result<Endpoint, ApiError> {
        let url = format!("{}/config", path(name));
        let mut req = Request::post(&url, config.clone()).idempotent(true);
        req.method = reqwest::Method::PUT;
        let resp = self.client.execute(&req)?;
        self.client.decode(&url, &resp)
    }

    /// Deletes `name` (gone already counts as deleted).
    pub fn delete(&self, name: &str) -> Result<(), ApiError> {
        self.client.delete_if_present(&path(name))
    }

    /// Sends one request to the model `name` serves; its answer (the predictions).
    pub fn query(&self, name: &str, body: &Value) -> Result<Value, ApiError> {
        self.client.post_as(
            &format!("/serving-endpoints/{name}/invocations"),
            body.clone(),
            true,
        )
    }
}
