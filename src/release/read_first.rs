//! The local target's registry with its lookups read directly, without starting Python: our
//! own store file (`sqlite_registry.rs`) or a tracking server's REST API
//! (`server_registry.rs`). Only a change (a registration, an alias moved) starts MLflow's
//! client, once per command.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use super::registry::{Registry, Version};
use super::{server_registry, sqlite_registry};
use crate::databricks::Client;
use crate::error::Result;
use crate::history::logged_models;
use crate::history::sqlite_store::Unreadable;

/// Where the lookups are read without MLflow's client.
pub enum Reader {
    /// Our own SQLite store file, read-only.
    File(PathBuf),
    /// The tracking server `MLFLOW_TRACKING_URI` names, over its REST API.
    Server(Box<Client>),
}

/// A registry whose lookups are read directly (falling back to `inner` when they cannot be)
/// and whose changes go through `inner`, MLflow's client.
pub struct StoreFirst<R> {
    pub reader: Reader,
    pub inner: R,
}

impl<R: Registry> StoreFirst<R> {
    fn read_or(
        &self,
        file: impl FnOnce(&Path) -> std::result::Result<Option<Version>, Unreadable>,
        server: impl FnOnce(&Client) -> std::result::Result<Option<Version>, Unreadable>,
        fallback: impl FnOnce(&R) -> Result<Option<Version>>,
    ) -> Result<Option<Version>> {
        let read = match &self.reader {
            Reader::File(path) => file(path),
            Reader::Server(client) => server(client),
        };
        match read {
            Ok(found) => Ok(found),
            Err(_) => fallback(&self.inner),
        }
    }
}

impl<R: Registry> Registry for StoreFirst<R> {
    fn version_of_run(&self, model: &str, run_id: &str) -> Result<Option<Version>> {
        self.read_or(
            |db| sqlite_registry::version_of_run(db, model, run_id),
            |c| server_registry::version_of_run(c, model, run_id),
            |r| r.version_of_run(model, run_id),
        )
    }

    fn alias(&self, model: &str, alias_name: &str) -> Result<Option<Version>> {
        self.read_or(
            |db| sqlite_registry::alias(db, model, alias_name),
            |c| server_registry::alias(c, model, alias_name),
            |r| r.alias(model, alias_name),
        )
    }

    fn get(&self, model: &str, version: &str) -> Result<Option<Version>> {
        self.read_or(
            |db| sqlite_registry::get(db, model, version),
            |c| server_registry::get(c, model, version),
            |r| r.get(model, version),
        )
    }

    fn set_alias(&self, model: &str, alias: &str, version: &str) -> Result<Option<Version>> {
        self.inner.set_alias(model, alias, version)
    }

    fn logged_model_of_run(
        &self,
        experiment_id: Option<&str>,
        run_id: &str,
        name: &str,
    ) -> Result<Option<super::registry::LoggedModel>> {
        let read = match &self.reader {
            Reader::File(path) => logged_models::sqlite_of_run(path, run_id, name),
            Reader::Server(client) => {
                logged_models::rest_of_run(client, experiment_id, run_id, name)
            }
        };
        match read {
            Ok(found) => Ok(found),
            Err(_) => self.inner.logged_model_of_run(experiment_id, run_id, name),
        }
    }

    fn register(
        &self,
        model: &str,
        run_id: &str,
        artifact_path: &str,
        tags: &BTreeMap<String, String>,
        alias: &str,
    ) -> Result<Version> {
        self.inner
            .register(model, run_id, artifact_path, tags, alias)
    }

    fn copy(
        &self,
        from_model: &str,
        version: &str,
        model: &str,
        tags: &BTreeMap<String, String>,
        alias: &str,
    ) -> Result<Option<Version>> {
        self.inner.copy(from_model, version, model, tags, alias)
    }
}
