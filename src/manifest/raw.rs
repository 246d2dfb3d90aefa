//! The `mlops.toml` schema exactly as written, with spans kept where later checks need to
//! point back into the file. Table keys are plain strings: a `Spanned` key would hide the key
//! from the error path that serde_path_to_error reports. Every table denies unknown keys. Defaults are not applied here:
//! `defaults.rs` is the one place that knows them.

use std::collections::BTreeMap;

use serde::Deserialize;
use toml::Spanned;

use super::{Install, ParamType, TargetKind};

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawManifest {
    pub project: Option<Spanned<RawProject>>,
    #[serde(default, rename = "wheel")]
    pub wheels: Vec<Spanned<RawWheel>>,
    pub environment: Option<RawEnvironment>,
    pub cluster: Option<RawCluster>,
    #[serde(default)]
    pub entry_points: BTreeMap<String, Spanned<RawEntryPoint>>,
    #[serde(default)]
    pub targets: BTreeMap<String, Spanned<RawTarget>>,
    pub hooks: Option<RawHooks>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawHooks {
    pub pre_push: Option<super::HookAction>,
    pub target: Option<Spanned<String>>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawProject {
    pub name: Spanned<String>,
    pub mlproject: Option<Spanned<String>>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawWheel {
    pub path: Spanned<String>,
    pub install: Option<Install>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawEnvironment {
    pub python: Option<Spanned<String>>,
    pub conda: Option<Vec<String>>,
    pub pip: Option<Vec<String>>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawCluster {
    pub spark_version: Option<Spanned<String>>,
    pub node_type_id: Option<String>,
    pub driver_node_type_id: Option<String>,
    pub num_workers: Option<Spanned<u32>>,
    pub autoscale: Option<Spanned<RawAutoscale>>,
    pub spark_conf: Option<BTreeMap<String, String>>,
    pub spark_env_vars: Option<BTreeMap<String, String>>,
    pub custom_tags: Option<BTreeMap<String, String>>,
    pub policy_id: Option<String>,
    pub data_security_mode: Option<String>,
    pub pypi: Option<Vec<String>>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawAutoscale {
    pub min_workers: u32,
    pub max_workers: u32,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawEntryPoint {
    pub command: Spanned<String>,
    #[serde(default)]
    pub parameters: BTreeMap<String, Spanned<RawParameter>>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawParameter {
    #[serde(rename = "type")]
    pub ty: Option<ParamType>,
    pub default: Option<Spanned<toml::Value>>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawTarget {
    pub kind: TargetKind,
    pub host: Option<Spanned<String>>,
    pub profile: Option<Spanned<String>>,
    pub artifacts: Option<Spanned<String>>,
    pub experiment: Option<Spanned<String>>,
    pub cluster_id: Option<Spanned<String>>,
    pub env_manager: Option<Spanned<super::EnvManager>>,
    pub mlflow_version: Option<Spanned<String>>,
}
