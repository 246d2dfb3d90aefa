//! The Unity Catalog registry of a Databricks target: finding versions, reading and moving
//! aliases over REST; creating or copying a version, which moves the model's files, as a job
//! in the workspace (see [`super::workspace_job`]).

use std::collections::BTreeMap;
use std::sync::Arc;

use super::registry::{self, Found, Registry, Version};
use super::workspace_job::WorkspaceJob;
use crate::databricks::Client;
use crate::databricks::mlflow::Mlflow;
use crate::databricks::models::{Models, VersionInfo};
use crate::error::{Error, Result};

pub struct UnityCatalog {
    pub client: Arc<Client>,
    pub job: WorkspaceJob,
}

impl UnityCatalog {
    fn version(&self, model: &str, info: VersionInfo) -> Result<Version> {
        // The run's metrics, for `must_beat`. Only a run that is gone has none: any other
        // failure to read them (a 403 on another team's experiment, an outage) is an error,
        // or the gate would count an unread champion as beaten.
        let metrics = match &info.run_id {
            Some(run) => match (Mlflow {
                client: &self.client,
            })
            .metrics(run)
            {
                Ok(metrics) => metrics,
                Err(e) if e.is_not_found() => BTreeMap::new(),
                Err(e) => {
                    return Err(Error::remote(format!(
                        "could not read the metrics of run {run}, which version {} of {model} was registered from: {e}",
                        info.version
                    ))
                    .with_help(
                        "`must_beat` compares with that run, and a release never counts a champion it cannot read as beaten: check that these credentials can read the run's experiment (CAN READ), or that the workspace is reachable, then release again",
                    ));
                }
            },
            None => BTreeMap::new(),
        };
        let model_id = info
            .source
            .as_deref()
            .and_then(crate::history::logged_models::model_id_of_source);
        let mut metrics = metrics;
        if let Some(id) = &model_id {
            let logged = crate::history::logged_models::rest_get(&self.client, id)?;
            metrics.extend(logged.map(|m| m.metrics).unwrap_or_default());
        }
        Ok(Version {
            model: model.to_string(),
            version: info.version.to_string(),
            run_id: info.run_id,
            model_id,
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
}

impl Registry for UnityCatalog {
    fn version_of_run(&self, model: &str, run_id: &str) -> Result<Option<Version>> {
        let found = Models {
            client: &self.client,
        }
        .versions(model)?
        .into_iter()
        .find(|v| v.run_id.as_deref() == Some(run_id) && v.is_ready());
        found.map(|v| self.version(model, v)).transpose()
    }

    fn alias(&self, model: &str, alias: &str) -> Result<Option<Version>> {
        let found = Models {
            client: &self.client,
        }
        .by_alias(model, alias)?;
        found.map(|v| self.version(model, v)).transpose()
    }

    fn alias_version(&self, model: &str, alias: &str) -> Result<Option<String>> {
        let found = Models {
            client: &self.client,
        }
        .by_alias(model, alias)?;
        Ok(found.map(|v| v.version.to_string()))
    }

    fn get(&self, model: &str, version: &str) -> Result<Option<Version>> {
        let found = Models {
            client: &self.client,
        }
        .get(model, Self::number(version)?)?;
        found.map(|v| self.version(model, v)).transpose()
    }

    fn logged_model_of_run(
        &self,
        experiment_id: Option<&str>,
        run_id: &str,
        name: &str,
    ) -> Result<Option<super::registry::LoggedModel>> {
        crate::history::logged_models::rest_of_run(&self.client, experiment_id, run_id, name)
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
        artifact_path: &str,
        tags: &BTreeMap<String, String>,
        alias: &str,
    ) -> Result<Version> {
        // A run that has a version already needs no files moved: only the alias.
        if let Some(v) = self.version_of_run(model, run_id)? {
            self.set_alias(model, alias, &v.version)?;
            return Ok(v);
        }
        let answer = self.job.call(&registry::register_op(
            model,
            run_id,
            artifact_path,
            tags,
            alias,
        ))?;
        registry::understood(serde_json::from_value(answer))
    }

    fn copy(
        &self,
        from_model: &str,
        version: &str,
        model: &str,
        tags: &BTreeMap<String, String>,
        alias: &str,
    ) -> Result<Option<Version>> {
        let answer = self
            .job
            .call(&registry::copy_op(from_model, version, model, tags, alias))?;
        let found: Found = registry::understood(serde_json::from_value(answer))?;
        Ok(found.found)
    }
}
