//! Unity Catalog models over the REST API the Databricks SDKs use
//! (`/api/2.1/unity-catalog/models/{full_name}/...`, the SDK's `model_versions` and
//! `registered_models`): versions, a version by alias, and setting an alias. Creating a
//! version needs the model's files copied with cloud credentials, which only MLflow's client
//! does (in the workspace); everything else here is metadata.

use serde::Deserialize;
use serde_json::json;

use super::client::{Client, Request};
use super::error::ApiError;

/// A model version as `ModelVersionInfo` has it (the fields we read).
#[derive(Clone, Debug, Deserialize)]
pub struct VersionInfo {
    pub version: u64,
    #[serde(default)]
    pub run_id: Option<String>,
    /// What it was registered from: under MLflow 3 `models:/<model_id>`, its LoggedModel.
    #[serde(default)]
    pub source: Option<String>,
    /// `PENDING_REGISTRATION`, `FAILED_REGISTRATION` or `READY` (databricks-sdk-py
    /// `service/catalog.py` `ModelVersionInfoStatus`); absent counts as `READY`.
    #[serde(default)]
    pub status: Option<String>,
}

impl VersionInfo {
    /// Whether the version's files are all there: a registration that died leaves it
    /// `PENDING_REGISTRATION` (or `FAILED_REGISTRATION`), holding no usable model.
    pub fn is_ready(&self) -> bool {
        self.status.as_deref().is_none_or(|s| s == "READY")
    }
}

#[derive(Deserialize)]
struct Versions {
    #[serde(default)]
    model_versions: Vec<VersionInfo>,
    #[serde(default)]
    next_page_token: Option<String>,
}

pub struct Models<'a> {
    pub client: &'a Client,
}

// "Not found" is a 404 or the RESOURCE_DOES_NOT_EXIST / NOT_FOUND code, whichever the
// service sends (`ApiError::is_not_found`), as the SDKs map errors by status first
// (databricks-sdk-py `databricks/sdk/errors/mapper.py`: 404 is `NotFound`).
fn path(full_name: &str, rest: &str) -> String {
    format!("/api/2.1/unity-catalog/models/{full_name}/{rest}")
}

impl Models<'_> {
    /// Every version of `full_name` (none when the model does not exist yet).
    pub fn versions(&self, full_name: &str) -> Result<Vec<VersionInfo>, ApiError> {
        let url = path(full_name, "versions");
        let mut out = Vec::new();
        let mut token: Option<String> = None;
        loop {
            let mut query = vec![("max_results", "1000".to_string())];
            if let Some(t) = &token {
                query.push(("page_token", t.clone()));
            }
            let q: Vec<(&str, &str)> = query.iter().map(|(k, v)| (*k, v.as_str())).collect();
            let page: Versions = match self.client.get_as(&url, &q) {
                Ok(p) => p,
                Err(e) if e.is_not_found() => return Ok(out),
                Err(e) => return Err(e),
            };
            out.extend(page.model_versions);
            match page.next_page_token.filter(|t| !t.is_empty()) {
                Some(t) => token = Some(t),
                None => return Ok(out),
            }
        }
    }

    /// The version `alias` points at, if any.
    pub fn by_alias(&self, full_name: &str, alias: &str) -> Result<Option<VersionInfo>, ApiError> {
        match self
            .client
            .get_as(&path(full_name, &format!("aliases/{alias}")), &[])
        {
            Ok(v) => Ok(Some(v)),
            Err(e) if e.is_not_found() => Ok(None),
            Err(e) => Err(e),
        }
    }

    /// Version `version`, if it exists.
    pub fn get(&self, full_name: &str, version: u64) -> Result<Option<VersionInfo>, ApiError> {
        match self
            .client
            .get_as(&path(full_name, &format!("versions/{version}")), &[])
        {
            Ok(v) => Ok(Some(v)),
            Err(e) if e.is_not_found() => Ok(None),
            Err(e) => Err(e),
        }
    }

    /// Points `alias` at `version` (a PUT of the same value is harmless to repeat).
    pub fn set_alias(&self, full_name: &str, alias: &str, version: u64) -> Result<(), ApiError> {
        let url = path(full_name, &format!("aliases/{alias}"));
        let mut req = Request::post(&url, json!({ "version_num": version })).idempotent(true);
        req.method = reqwest::Method::PUT;
        self.client.execute(&req).map(drop)
    }

    /// Removes `alias` (one that is gone already counts as removed).
    pub fn delete_alias(&self, full_name: &str, alias: &str) -> Result<(), ApiError> {
        self.client
            .delete_if_present(&path(full_name, &format!("aliases/{alias}")))
    }
}
