//! MLflow 3 deployment jobs, over MLflow's own Unity Catalog registry API
//! (`/api/2.0/mlflow/unity-catalog/...`, `mlflow/protos/databricks_uc_registry_service.proto`,
//! called as `mlflow/store/_unity_catalog/registry/rest_store.py` calls it): linking a model to
//! its deployment job (`create_registered_model`/`update_registered_model` with
//! `deployment_job_id`, which needs MANAGE on the model), reading a version's
//! `deployment_job_state`, and tagging a version (the approval tag). databricks-sdk-py's
//! catalog API has no deployment job fields.

use serde::Deserialize;
use serde_json::json;

use super::client::{Client, Request};
use super::error::ApiError;

const BASE: &str = "/api/2.0/mlflow/unity-catalog";

/// `ModelVersionDeploymentJobState`: the job run a version started and where it is
/// (`run_state`: `PENDING`, `RUNNING`, `APPROVAL`, `SUCCEEDED`, `FAILED`, ...).
#[derive(Clone, Debug, Default, Deserialize)]
pub struct DeploymentState {
    #[serde(default)]
    pub job_id: Option<String>,
    #[serde(default)]
    pub run_id: Option<String>,
    #[serde(default)]
    pub run_state: Option<String>,
    #[serde(default)]
    pub current_task_name: Option<String>,
}

#[derive(Deserialize)]
struct RegisteredModel {
    #[serde(default)]
    deployment_job_id: Option<String>,
}

#[derive(Deserialize)]
struct ModelAnswer {
    registered_model: RegisteredModel,
}

#[derive(Deserialize)]
struct VersionAnswer {
    model_version: Version,
}

#[derive(Deserialize)]
struct Version {
    #[serde(default)]
    deployment_job_state: Option<DeploymentState>,
}

pub struct DeploymentJobs<'a> {
    pub client: &'a Client,
}

impl DeploymentJobs<'_> {
    /// The job the model is linked to: `None` when the model does not exist yet,
    /// `Some(None)` when it is linked to none.
    pub fn linked(&self, model: &str) -> Result<Option<Option<String>>, ApiError> {
        let url = format!("{BASE}/registered-models/get");
        match self.client.get_as::<ModelAnswer>(&url, &[("name", model)]) {
            Ok(a) => Ok(Some(
                a.registered_model
                    .deployment_job_id
                    .filter(|j| !j.is_empty()),
            )),
            Err(e) if e.is_not_found() => Ok(None),
            Err(e) => Err(e),
        }
    }

    /// Links `model` to job `job_id`: creates the model linked when `exists` is false.
    pub fn link(&self, model: &str, job_id: u64, exists: bool) -> Result<(), ApiError> {
        let body = json!({ "name": model, "deployment_job_id": job_id.to_string() });
        if !exists {
            let url = format!("{BASE}/registered-models/create");
            return self.client.post_json(&url, body, false).map(drop);
        }
        let url = format!("{BASE}/registered-models/update");
        let mut req = Request::post(&url, body).idempotent(true);
        req.method = reqwest::Method::PATCH;
        self.client.execute(&req).map(drop)
    }

    /// Version `version`'s deployment job state, once it has one.
    pub fn state(&self, model: &str, version: &str) -> Result<Option<DeploymentState>, ApiError> {
        let url = format!("{BASE}/model-versions/get");
        let a: VersionAnswer = self
            .client
            .get_as(&url, &[("name", model), ("version", version)])?;
        Ok(a.model_version.deployment_job_state)
    }

    /// Sets tag `key` of version `version` (setting it again is harmless).
    pub fn set_tag(
        &self,
        model: &str,
        version: &str,
        key: &str,
        value: &str,
    ) -> Result<(), ApiError> {
        let url = format!("{BASE}/model-versions/set-tag");
        let body = json!({ "name": model, "version": version, "key": key, "value": value });
        self.client.post_json(&url, body, true).map(drop)
    }
}
