//! The resolved model of `mlops.toml` that every later stage reads: the project, wheels,
//! environment, cluster, entry points, targets and hooks, with every default filled in.

use std::collections::BTreeMap;
use std::fmt;
use std::ops::Range;
use std::path::PathBuf;

use serde::{Deserialize, Serialize};

use super::defaults;
use super::placeholders::Template;
use crate::error::{Error, Result};
use crate::support::diagnostic::suggestion;

/// A validated `mlops.toml` with every default filled in.
#[derive(Clone, Debug)]
pub struct Manifest {
    /// Absolute path of the manifest file.
    pub path: PathBuf,
    /// The folder holding the manifest; relative paths in it are relative to this folder.
    pub root: PathBuf,
    /// How the path is shown in messages (relative to the current directory when below it).
    pub display_path: PathBuf,
    pub project: Project,
    pub wheels: Vec<WheelSpec>,
    pub environment: Environment,
    pub cluster: Cluster,
    pub entry_points: BTreeMap<String, EntryPoint>,
    pub targets: BTreeMap<String, Target>,
    pub hooks: Hooks,
    /// `[compare] base`: the base branch outside pull requests.
    pub compare_base: Option<String>,
    /// `[release]`.
    pub release: super::release::Release,
    /// `[jobs.<name>]`.
    pub jobs: BTreeMap<String, super::jobs::Job>,
    /// `[serving.<name>]`.
    pub serving: BTreeMap<String, super::serving::Serving>,
    pub(super) source: String,
    pub(super) mlproject_span: Option<Range<usize>>,
}

#[derive(Clone, Debug, Serialize)]
pub struct Project {
    pub name: String,
    /// Absolute path of the MLflow project folder.
    pub mlproject: PathBuf,
    /// `discover`: whether the cargo workspace's PyO3 crates are wheels too. `None`: only
    /// when `[[wheel]]` lists none (and unlisted ones are warned about).
    pub discover: Option<bool>,
}

#[derive(Clone, Debug, Serialize)]
pub struct WheelSpec {
    /// Absolute path of the package folder (the one holding `pyproject.toml`).
    pub path: PathBuf,
    /// The path as written in the manifest.
    pub declared: String,
    pub install: Install,
    #[serde(skip)]
    pub(super) span: Range<usize>,
}

/// Where a wheel is installed on Databricks.
#[derive(
    Clone, Copy, Debug, Default, PartialEq, Eq, Deserialize, Serialize, schemars::JsonSchema,
)]
#[serde(rename_all = "lowercase")]
pub enum Install {
    /// Into the driver's project environment (conda `pip:` list).
    #[default]
    Driver,
    /// On every node, as a cluster library.
    Cluster,
}

impl fmt::Display for Install {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Install::Driver => "driver",
            Install::Cluster => "cluster",
        })
    }
}

#[derive(Clone, Debug, Serialize)]
pub struct Environment {
    pub python: String,
    pub conda: Vec<String>,
    pub pip: Vec<String>,
}

#[derive(Clone, Debug, Serialize)]
pub struct Cluster {
    pub spark_version: String,
    pub node_type_id: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub driver_node_type_id: Option<String>,
    pub workers: Workers,
    pub spark_conf: BTreeMap<String, String>,
    pub spark_env_vars: BTreeMap<String, String>,
    pub custom_tags: BTreeMap<String, String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub policy_id: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub data_security_mode: Option<String>,
    pub pypi: Vec<String>,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Workers {
    Fixed(u32),
    Autoscale { min_workers: u32, max_workers: u32 },
}

#[derive(Clone, Debug, Serialize)]
pub struct EntryPoint {
    pub command: String,
    pub parameters: BTreeMap<String, Parameter>,
}

#[derive(Clone, Debug, Serialize)]
pub struct Parameter {
    #[serde(rename = "type")]
    pub ty: ParamType,
    /// The default as MLflow will see it on the command line; `None` makes it required.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub default: Option<String>,
}

/// MLflow project parameter types.
#[derive(
    Clone, Copy, Debug, Default, PartialEq, Eq, Deserialize, Serialize, schemars::JsonSchema,
)]
#[serde(rename_all = "lowercase")]
pub enum ParamType {
    #[default]
    String,
    Float,
    Int,
    Path,
    Uri,
}

impl fmt::Display for ParamType {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            ParamType::String => "string",
            ParamType::Float => "float",
            ParamType::Int => "int",
            ParamType::Path => "path",
            ParamType::Uri => "uri",
        })
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Deserialize, Serialize, schemars::JsonSchema)]
#[serde(rename_all = "lowercase")]
pub enum TargetKind {
    Local,
    Databricks,
}

impl fmt::Display for TargetKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            TargetKind::Local => "local",
            TargetKind::Databricks => "databricks",
        })
    }
}

/// What the pre-push hook does for each pushed branch.
#[derive(
    Clone, Copy, Debug, Default, PartialEq, Eq, Deserialize, Serialize, schemars::JsonSchema,
)]
#[serde(rename_all = "lowercase")]
pub enum HookAction {
    /// Validate, build and render into a temporary folder (the default).
    #[default]
    Check,
    /// Deploy to `[hooks] target`.
    Deploy,
    /// Do nothing.
    Off,
}

/// `[hooks]`.
#[derive(Clone, Debug, Default, Serialize)]
pub struct Hooks {
    pub pre_push: HookAction,
    /// The target `deploy` publishes to.
    pub target: Option<String>,
}

/// How an entry point's environment is made. On Databricks only `local` (the platform's own
/// Python, with the environment installed as job libraries or serverless dependencies) can
/// work: the other values are parsed so that an old manifest gets an error that says why.
#[derive(
    Clone, Copy, Debug, Default, PartialEq, Eq, Deserialize, Serialize, schemars::JsonSchema,
)]
#[serde(rename_all = "lowercase")]
pub enum EnvManager {
    /// The task's own Python: the environment's pip packages and every wheel are installed
    /// by the platform (the default, and the only value Databricks targets accept).
    #[default]
    Local,
    /// Refused on Databricks: `mlflow run` cannot run inside a job cluster from Runtime 13.0 ML.
    Conda,
    Virtualenv,
    Uv,
}

/// `compute` of a Databricks target, as written.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Deserialize, Serialize, schemars::JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum ComputeKind {
    /// A new job cluster from the rendered cluster.json (the default), or the target's
    /// `cluster_id`.
    JobCluster,
    /// Serverless compute: no cluster and no libraries; dependencies come from the run's
    /// environment.
    Serverless,
}

/// Where a Databricks job runs, resolved from `compute`, `cluster_id` and
/// `environment_version`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum Compute {
    /// A new cluster made for the run from the rendered cluster.json.
    JobCluster,
    /// An existing, all-purpose cluster (`existing_cluster_id`).
    ExistingCluster { cluster_id: String },
    /// Serverless compute on this environment version.
    Serverless { environment_version: String },
}

impl Compute {
    pub fn is_serverless(&self) -> bool {
        matches!(self, Compute::Serverless { .. })
    }

    pub fn cluster_id(&self) -> Option<&str> {
        match self {
            Compute::ExistingCluster { cluster_id } => Some(cluster_id),
            _ => None,
        }
    }
}

impl fmt::Display for Compute {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Compute::JobCluster => f.write_str("a new job cluster"),
            Compute::ExistingCluster { cluster_id } => {
                write!(f, "the existing cluster {cluster_id}")
            }
            Compute::Serverless {
                environment_version,
            } => write!(f, "serverless (environment version {environment_version})"),
        }
    }
}

impl fmt::Display for EnvManager {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            EnvManager::Local => "local",
            EnvManager::Conda => "conda",
            EnvManager::Virtualenv => "virtualenv",
            EnvManager::Uv => "uv",
        })
    }
}

#[derive(Clone, Debug)]
pub struct Target {
    pub name: String,
    pub kind: TargetKind,
    pub host: Option<String>,
    pub profile: Option<String>,
    pub artifacts: Template,
    pub experiment: Template,
    /// Databricks only: where the job runs.
    pub compute: Compute,
    /// Databricks only: always `local` (anything else is refused when parsing).
    pub env_manager: EnvManager,
    /// Databricks only: the `mlflow` version installed on the job cluster (default: latest).
    pub mlflow_version: Option<String>,
    /// True for the `local` target the manifest did not declare.
    pub builtin: bool,
    /// Its model and the branches allowed to release to it.
    pub release: super::release::TargetRelease,
    /// `[targets.NAME.cluster]` laid over `[cluster]` (`None`: the project's `[cluster]`).
    pub cluster: Option<Cluster>,
}

impl Manifest {
    /// The model `target` releases into: its own `model`, else `[release] model`.
    pub fn model_of(&self, target: &str) -> Result<String> {
        let t = self.target(Some(target))?;
        t.release
            .model
            .clone()
            .or_else(|| self.release.model.clone())
            .ok_or_else(|| {
                Error::usage(format!(
                    "{} names no model to release into",
                    self.display_path.display()
                ))
                .with_help("add `[release] model = \"churn\"` (on Databricks `catalog.schema.model`), or `model` on the target")
            })
    }

    /// Where the tool keeps its local state for this project (`.mlops/` beside the manifest).
    pub fn state_dir(&self) -> PathBuf {
        self.root.join(defaults::STATE_DIR)
    }

    /// The state folder, made when missing, with a `.gitignore` of `*` in it (as pytest and
    /// mypy do with their caches): our builds, environments and local artifacts never show
    /// up as uncommitted changes, whether or not the project's own `.gitignore` names them.
    pub fn make_state_dir(&self) -> Result<PathBuf> {
        let dir = self.state_dir();
        let ignore = dir.join(".gitignore");
        if !ignore.exists() {
            fs_err::create_dir_all(&dir)?;
            fs_err::write(
                &ignore,
                "# Made by cargo-mlops: its local state is never committed.\n*\n",
            )?;
        }
        Ok(dir)
    }

    /// The named target, or the default (`local`) when `name` is `None`.
    /// The `[cluster]` settings of a target: its own `[targets.NAME.cluster]` over the
    /// project's.
    pub fn cluster_for(&self, target: &str) -> &Cluster {
        self.targets
            .get(target)
            .and_then(|t| t.cluster.as_ref())
            .unwrap_or(&self.cluster)
    }

    pub fn target(&self, name: Option<&str>) -> Result<&Target> {
        let name = name.unwrap_or(defaults::TARGET);
        self.targets.get(name).ok_or_else(|| {
            Error::usage(format!(
                "unknown target `{name}` (targets are `[targets.NAME]` tables in {})",
                self.display_path.display()
            ))
            .with_help(suggestion(
                "targets",
                name,
                self.targets.keys().map(String::as_str),
            ))
        })
    }
}
