//! The model registry, through MLflow's own client: the launcher's registry mode, run by the
//! interpreter of a local run environment against the local store's registry. Registering
//! copies the model's files where the registry keeps them, which MLflow's client does with
//! the store's credentials; on Databricks that must happen inside the workspace.

use serde::Deserialize;
use serde_json::{Value, json};

use crate::error::{Error, Result};
use crate::process::Cmd;

/// A model version, with its run's metrics.
#[derive(Clone, Debug, Deserialize, serde::Serialize)]
pub struct Version {
    pub model: String,
    pub version: String,
    pub run_id: Option<String>,
    #[serde(default)]
    pub metrics: std::collections::BTreeMap<String, f64>,
    #[serde(default)]
    pub tags: std::collections::BTreeMap<String, String>,
    /// Whether this operation registered it (false: it existed).
    #[serde(default)]
    pub registered: bool,
}

#[derive(Deserialize)]
struct Found {
    found: Option<Version>,
}

/// The local store's registry.
pub struct Local {
    pub python: std::path::PathBuf,
    pub tracking_uri: String,
}

impl Local {
    fn call(&self, op: Value) -> Result<Value> {
        let dir =
            tempfile::tempdir().map_err(|e| Error::io("cannot make a temporary folder", e))?;
        let result = dir.path().join("answer.json");
        let out = Cmd::new(&self.python)
            .args(["-c", crate::templates::LAUNCHER, "--registry"])
            .arg(op.to_string())
            .arg("--tracking-uri")
            .arg(&self.tracking_uri)
            .arg("--result-file")
            .arg(&result)
            .env("MLFLOW_TRACKING_URI", &self.tracking_uri)
            .output();
        if let Err(e) = out {
            // MLflow's own words are the last lines of its traceback.
            let why = match &e {
                crate::process::CmdError::Failed { output, .. } => {
                    format!("\n{}", crate::process::tail(&output.stderr, 15))
                }
                _ => format!(": {e}"),
            };
            return Err(Error::failed(format!(
                "the model registry in {} refused `{}`{why}",
                self.tracking_uri,
                op["op"].as_str().unwrap_or("?")
            )));
        }
        let text = fs_err::read_to_string(&result)?;
        serde_json::from_str(&text)
            .map_err(|e| Error::failed(format!("the registry's answer was not understood: {e}")))
    }

    fn found(&self, op: Value) -> Result<Option<Version>> {
        let answer: Found = serde_json::from_value(self.call(op)?)
            .map_err(|e| Error::failed(format!("the registry's answer was not understood: {e}")))?;
        Ok(answer.found)
    }

    /// The version registered from `run_id`, if any.
    pub fn version_of_run(&self, model: &str, run_id: &str) -> Result<Option<Version>> {
        self.found(json!({"op": "find", "model": model, "run_id": run_id}))
    }

    /// The version `alias` points at, if any.
    pub fn alias(&self, model: &str, alias: &str) -> Result<Option<Version>> {
        self.found(json!({"op": "alias", "model": model, "alias": alias}))
    }

    /// Registers the run's logged model (unless a version of that run exists) and sets `alias`.
    pub fn register(
        &self,
        model: &str,
        run_id: &str,
        artifact_path: &str,
        tags: &std::collections::BTreeMap<String, String>,
        alias: &str,
    ) -> Result<Version> {
        let answer = self.call(json!({
            "op": "register", "model": model, "run_id": run_id,
            "artifact_path": artifact_path, "tags": tags, "alias": alias,
        }))?;
        serde_json::from_value(answer)
            .map_err(|e| Error::failed(format!("the registry's answer was not understood: {e}")))
    }

    /// Version `version` of `model`, if it exists.
    pub fn get(&self, model: &str, version: &str) -> Result<Option<Version>> {
        self.found(json!({"op": "get", "model": model, "version": version}))
    }

    /// Points `alias` at `version`.
    pub fn set_alias(&self, model: &str, alias: &str, version: &str) -> Result<Option<Version>> {
        self.found(json!({"op": "set_alias", "model": model, "alias": alias, "version": version}))
    }

    /// Copies `version` of `from_model` into `model`, with `tags`, and points `alias` at it.
    pub fn copy(
        &self,
        from_model: &str,
        version: &str,
        model: &str,
        tags: &std::collections::BTreeMap<String, String>,
        alias: &str,
    ) -> Result<Option<Version>> {
        self.found(json!({
            "op": "copy", "from_model": from_model, "version": version, "model": model,
            "tags": tags, "alias": alias,
        }))
    }
}
