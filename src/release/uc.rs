//! The Unity Catalog registry of a Databricks target, over REST: finding versions, reading
//! and moving aliases. Creating or copying a version needs the model's files copied with
//! cloud credentials inside the workspace (MLflow's `register_model` in a job); until that
//! job is built, those two operations say so and change nothing.

use std::collections::BTreeMap;
use std::sync::Arc;

use super::registry::{Registry, Version};
use crate::databricks::Client;
use crate::databricks::mlflow::Mlflow;
use crate::databricks::models::{Models, VersionInfo};
use crate::error::{Error, Result};

pub struct UnityCatalog {
    pub client: Arc<Client>,
}

impl UnityCatalog {
    fn version(&self, model: &str, info: VersionInfo) -> Result<Version> {
        // The run's metrics, for `must_beat` (a run that is gone has none).
        let metrics = match &info.run_id {
            Some(run) => Mlflow {
                client: &self.client,
            }
            .metrics(run)
            .unwrap_or_default(),
            None => BTreeMap::new(),
        };
        Ok(Version {
            model: model.to_string(),
            version: info.version.to_string(),
            run_id: info.run_id,
            metrics,
            tags: BTreeMap::new(),
            registered: false,
        })
    }

    fn number(version: &str) -> Result<u64> {
        version
            .parse()
            .map_err(|_| Error::usage(format!("`{version}` is not a model version number")))
    }

    fn needs_the_workspace(what: &str) -> Error {
        Error::usage(format!(
            "{what} into Unity Catalog copies the model's files with the workspace's credentials, which cargo mlops does not do yet"
        ))
        .with_help("register it in the workspace with `mlflow.register_model(\"runs:/<run>/model\", \"catalog.schema.model\")`, then `cargo mlops release` again finds that version and sets the alias")
    }
}

impl Registry for UnityCatalog {
    fn version_of_run(&self, model: &str, run_id: &str) -> Result<Option<Version>> {
        let found = Models {
            client: &self.client,
        }
        .versions(model)?
        .into_iter()
        .find(|v| v.run_id.as_deref() == Some(run_id));
        found.map(|v| self.version(model, v)).transpose()
    }

    fn alias(&self, model: &str, alias: &str) -> Result<Option<Version>> {
        let found = Models {
            client: &self.client,
        }
        .by_alias(model, alias)?;
        found.map(|v| self.version(model, v)).transpose()
    }

    fn get(&self, model: &str, version: &str) -> Result<Option<Version>> {
        let found = Models {
            client: &self.client,
        }
        .get(model, Self::number(version)?)?;
        found.map(|v| self.version(model, v)).transpose()
    }

    fn set_alias(&self, model: &str, alias: &str, version: &str) -> Result<Option<Version>> {
        let models = Models {
            client: &self.client,
        };
        let n = Self::number(version)?;
        if models.get(model, n)?.is_none() {
            return Ok(None);
        }
        models.set_alias(model, alias, n)?;
        self.get(model, version)
    }

    fn register(
        &self,
        model: &str,
        run_id: &str,
        _artifact_path: &str,
        _tags: &BTreeMap<String, String>,
        alias: &str,
    ) -> Result<Version> {
        // A run that has a version already needs no files moved: only the alias.
        match self.version_of_run(model, run_id)? {
            Some(v) => {
                self.set_alias(model, alias, &v.version)?;
                Ok(v)
            }
            None => Err(Self::needs_the_workspace("registering a new version")),
        }
    }

    fn copy(
        &self,
        _from_model: &str,
        _version: &str,
        _model: &str,
        _tags: &BTreeMap<String, String>,
        _alias: &str,
    ) -> Result<Option<Version>> {
        Err(Self::needs_the_workspace("copying a version"))
    }
}
