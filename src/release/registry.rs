//! The model registry. Locally through MLflow's own client (the launcher's registry mode, run
//! by the interpreter of a local run environment against the local store's registry); on
//! Databricks over the Unity Catalog REST API. Registering or copying a version moves the
//! model's files where the registry keeps them, which MLflow's client does with the store's
//! credentials: on Databricks that has to happen inside the workspace.

use std::collections::BTreeMap;

use serde::Deserialize;
use serde_json::{Value, json};

use crate::error::{Error, Result};
pub use crate::history::logged_models::LoggedModel;
use crate::support::process::Cmd;

/// A model version, with its run's metrics.
#[derive(Clone, Debug, Deserialize, serde::Serialize)]
pub struct Version {
    pub model: String,
    pub version: String,
    pub run_id: Option<String>,
    /// The MLflow 3 LoggedModel it was registered from (its `model_id`, or a
    /// `models:/<model_id>` source), whose metrics are over its run's in `metrics`.
    #[serde(default)]
    pub model_id: Option<String>,
    /// Its run's metrics, with its LoggedModel's over them.
    #[serde(default)]
    pub metrics: std::collections::BTreeMap<String, f64>,
    #[serde(default)]
    pub tags: std::collections::BTreeMap<String, String>,
    /// Whether this operation registered it (false: it existed).
    #[serde(default)]
    pub registered: bool,
}

#[derive(Deserialize)]
pub(super) struct Found {
    pub found: Option<Version>,
}

/// What `release` and `promote` ask of a registry.
pub trait Registry {
    /// The version registered from `run_id`, if any.
    fn version_of_run(&self, model: &str, run_id: &str) -> Result<Option<Version>>;
    /// The version `alias` points at (with its run's metrics), if any.
    fn alias(&self, model: &str, alias: &str) -> Result<Option<Version>>;
    /// The number of the version `alias` points at, if any (without its run's metrics).
    fn alias_version(&self, model: &str, alias: &str) -> Result<Option<String>> {
        Ok(self.alias(model, alias)?.map(|v| v.version))
    }
    /// Version `version` of `model`, if it exists.
    fn get(&self, model: &str, version: &str) -> Result<Option<Version>>;
    /// The MLflow 3 LoggedModel run `run_id` logged as `name`, with its metrics (none under
    /// MLflow 2, or when the run logged none of that name).
    fn logged_model_of_run(
        &self,
        experiment_id: Option<&str>,
        run_id: &str,
        name: &str,
    ) -> Result<Option<LoggedModel>>;
    /// Points `alias` at `version`.
    fn set_alias(&self, model: &str, alias: &str, version: &str) -> Result<Option<Version>>;
    /// Registers the run's logged model (unless a version of that run exists) and sets `alias`.
    fn register(
        &self,
        model: &str,
        run_id: &str,
        artifact_path: &str,
        tags: &BTreeMap<String, String>,
        alias: &str,
    ) -> Result<Version>;
    /// Copies `version` of `from_model` into `model`, with `tags`, and points `alias` at it.
    fn copy(
        &self,
        from_model: &str,
        version: &str,
        model: &str,
        tags: &BTreeMap<String, String>,
        alias: &str,
    ) -> Result<Option<Version>>;
}

/// The local store's registry.
pub struct Local {
    /// The newest local run environment's interpreter (`None`: no run was made here yet).
    pub python: Option<std::path::PathBuf>,
    /// The command that makes a first run, for the error when there is no environment.
    pub make_a_run: String,
    pub tracking_uri: String,
}

impl Local {
    /// The registry of the local store kept in `state_dir` (or named by
    /// `MLFLOW_TRACKING_URI`), through the newest local run environment's interpreter.
    pub fn of_state(state_dir: &std::path::Path, make_a_run: String) -> Local {
        Local {
            python: crate::environment::newest_python(state_dir),
            make_a_run,
            tracking_uri: crate::run::local::tracking_uri(state_dir),
        }
    }

    /// One operation of the launcher's registry mode, in one MLflow client.
    pub(crate) fn call(&self, op: Value) -> Result<Value> {
        let dir =
            tempfile::tempdir().map_err(|e| Error::io("cannot make a temporary folder", e))?;
        let result = dir.path().join("answer.json");
        let python = self.python.as_ref().ok_or_else(|| {
            Error::usage("there is no local run environment yet, so no run to release")
                .with_help(format!("make a run first with `{}`", self.make_a_run))
        })?;
        let out = Cmd::new(python)
            .args(["-c", crate::support::templates::LAUNCHER, "--registry"])
            .arg(op.to_string())
            .arg("--tracking-uri")
            .arg(&self.tracking_uri)
            .arg("--result-file")
            .arg(&result)
            .env("MLFLOW_TRACKING_URI", &self.tracking_uri)
            .output();
        if let Err(e) = out {
            let why = match &e {
                crate::support::process::CmdError::Failed { output, .. } => {
                    if let Some(said) = plain_error(&output.stderr) {
                        return Err(said);
                    }
                    // MLflow's own words are the last lines of its traceback.
                    format!("\n{}", crate::support::process::tail(&output.stderr, 15))
                }
                _ => format!(": {e}"),
            };
            return Err(Error::failed(format!(
                "the model registry in {} refused `{}`{why}",
                self.tracking_uri,
                op["op"].as_str().unwrap_or("?")
            )));
        }
        understood(serde_json::from_str(&fs_err::read_to_string(&result)?))
    }

    fn found(&self, op: Value) -> Result<Option<Version>> {
        let answer: Found = understood(serde_json::from_value(self.call(op)?))?;
        Ok(answer.found)
    }
}

impl Registry for Local {
    /// The version registered from `run_id`, if any.
    fn version_of_run(&self, model: &str, run_id: &str) -> Result<Option<Version>> {
        self.found(json!({"op": "find", "model": model, "run_id": run_id}))
    }

    /// The version `alias` points at, if any.
    fn alias(&self, model: &str, alias: &str) -> Result<Option<Version>> {
        self.found(json!({"op": "alias", "model": model, "alias": alias}))
    }

    /// Registers the run's logged model (unless a version of that run exists) and sets `alias`.
    fn register(
        &self,
        model: &str,
        run_id: &str,
        artifact_path: &str,
        tags: &BTreeMap<String, String>,
        alias: &str,
    ) -> Result<Version> {
        let answer = self.call(register_op(model, run_id, artifact_path, tags, alias))?;
        understood(serde_json::from_value(answer))
    }

    /// The number of the version `alias` points at, if any (without its run's metrics).
    fn alias_version(&self, model: &str, alias: &str) -> Result<Option<String>> {
        Ok(self.alias(model, alias)?.map(|v| v.version))
    }
    /// Version `version` of `model`, if it exists.
    fn get(&self, model: &str, version: &str) -> Result<Option<Version>> {
        self.found(json!({"op": "get", "model": model, "version": version}))
    }

    fn logged_model_of_run(
        &self,
        _experiment_id: Option<&str>,
        run_id: &str,
        name: &str,
    ) -> Result<Option<LoggedModel>> {
        #[derive(Deserialize)]
        struct Answer {
            model_id: Option<String>,
            #[serde(default)]
            metrics: BTreeMap<String, f64>,
        }
        let op = json!({"op": "logged_model", "run_id": run_id, "artifact_path": name});
        let answer: Answer = understood(serde_json::from_value(self.call(op)?))?;
        Ok(answer.model_id.map(|model_id| LoggedModel {
            model_id,
            metrics: answer.metrics,
        }))
    }

    /// Points `alias` at `version`.
    fn set_alias(&self, model: &str, alias: &str, version: &str) -> Result<Option<Version>> {
        self.found(json!({"op": "set_alias", "model": model, "alias": alias, "version": version}))
    }

    /// Copies `version` of `from_model` into `model`, with `tags`, and points `alias` at it.
    fn copy(
        &self,
        from_model: &str,
        version: &str,
        model: &str,
        tags: &BTreeMap<String, String>,
        alias: &str,
    ) -> Result<Option<Version>> {
        self.found(copy_op(from_model, version, model, tags, alias))
    }
}

/// The registry mode's `register`: the run's logged model as a new version (unless the run
/// has one), with `tags`, and `alias` pointed at it.
pub(super) fn register_op(
    model: &str,
    run_id: &str,
    artifact_path: &str,
    tags: &BTreeMap<String, String>,
    alias: &str,
) -> Value {
    json!({
        "op": "register", "model": model, "run_id": run_id,
        "artifact_path": artifact_path, "tags": tags, "alias": alias,
    })
}

/// The registry mode's `copy`: `version` of `from_model` copied into `model`, with `tags`,
/// and `alias` pointed at the copy.
pub(super) fn copy_op(
    from_model: &str,
    version: &str,
    model: &str,
    tags: &BTreeMap<String, String>,
    alias: &str,
) -> Value {
    json!({
        "op": "copy", "from_model": from_model, "version": version, "model": model,
        "tags": tags, "alias": alias,
    })
}

/// The one-line error (and its fix) the launcher's registry mode ends with when an operation
/// cannot be done (`templates/launcher.py` `plain_error`), from its output.
pub(crate) fn plain_error(output: &str) -> Option<Error> {
    let line = |prefix: &str| {
        output
            .lines()
            .rev()
            .find_map(|l| l.trim().strip_prefix(prefix).map(str::to_string))
    };
    let message = line("cargo-mlops registry: error: ")?;
    let error = Error::failed(message);
    Some(match line("cargo-mlops registry: help: ") {
        Some(help) => error.with_help(help),
        None => error,
    })
}

/// An answer of the registry mode, or why it could not be read.
pub(super) fn understood<T>(parsed: serde_json::Result<T>) -> Result<T> {
    parsed.map_err(|e| Error::failed(format!("the registry's answer was not understood: {e}")))
}

/// Reads `alias` back from the registry after it was set, before anything says done. A
/// registry that accepted the change and does not show it (the Databricks CLI's bundles never
/// apply declared aliases, databricks/cli#4012; a Unity Catalog answer that lost it) fails
/// the command rather than leave a release that serves the old version unannounced.
pub fn read_back(registry: &dyn Registry, model: &str, alias: &str, version: &str) -> Result<()> {
    let found = registry.alias(model, alias)?;
    if found.as_ref().is_some_and(|v| v.version == version) {
        return Ok(());
    }
    let reads = found.map_or("no version".to_string(), |v| {
        format!("version {}", v.version)
    });
    Err(Error::failed(format!(
        "alias `{alias}` of model `{model}` was set to version {version}, but the registry reads {reads}"
    ))
    .with_help(format!(
        "set it again with `cargo mlops promote --alias {alias} --version {version}`, and check that you may manage the model's aliases"
    )))
}
