//! The `mlops.toml` schema exactly as written, with spans kept where later checks need to
//! point back into the file. Table keys are plain strings: a `Spanned` key would hide the key
//! from the error path that serde_path_to_error reports. Every table denies unknown keys. Defaults are not applied here:
//! `defaults.rs` is the one place that knows them.

use std::collections::BTreeMap;

use schemars::JsonSchema;
use serde::Deserialize;
use toml::Spanned;

use super::model::{ComputeKind, EnvManager, HookAction, Install, ParamType, TargetKind};

#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct RawManifest {
    #[schemars(with = "Option<RawProject>")]
    pub project: Option<Spanned<RawProject>>,
    #[serde(default, rename = "wheel")]
    #[schemars(with = "Vec<RawWheel>")]
    pub wheels: Vec<Spanned<RawWheel>>,
    pub environment: Option<RawEnvironment>,
    pub cluster: Option<RawCluster>,
    /// Entry points of this project besides the MLproject's own `entry_points` (which an
    /// adopted project keeps there): a name defined in both takes the MLproject's. Commands,
    /// jobs and `[release] entry` name entry points from either.
    #[serde(default)]
    #[schemars(with = "BTreeMap<String, RawEntryPoint>")]
    pub entry_points: BTreeMap<String, Spanned<RawEntryPoint>>,
    #[serde(default)]
    #[schemars(with = "BTreeMap<String, RawTarget>")]
    pub targets: BTreeMap<String, Spanned<RawTarget>>,
    pub hooks: Option<RawHooks>,
    pub compare: Option<RawCompare>,
    pub release: Option<super::release::RawRelease>,
    /// `[jobs.<name>]`: persistent Databricks jobs (scheduled retraining and release).
    #[serde(default)]
    #[schemars(with = "BTreeMap<String, super::jobs::RawJob>")]
    pub jobs: BTreeMap<String, Spanned<super::jobs::RawJob>>,
    /// `[serving.<name>]`: model serving endpoints that follow an alias.
    #[serde(default)]
    #[schemars(with = "BTreeMap<String, super::serving::RawServing>")]
    pub serving: BTreeMap<String, Spanned<super::serving::RawServing>>,
}

/// `[compare]`: what `cargo mlops compare` sets a branch's runs beside.
#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct RawCompare {
    /// The base branch when no pull request names one (default `main`).
    pub base: Option<String>,
}

#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct RawHooks {
    pub pre_push: Option<HookAction>,
    #[schemars(with = "Option<String>")]
    pub target: Option<Spanned<String>>,
}

#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct RawProject {
    #[schemars(with = "String")]
    pub name: Spanned<String>,
    #[schemars(with = "Option<String>")]
    pub mlproject: Option<Spanned<String>>,
    /// Also ship the cargo workspace's PyO3 (maturin) crates that `[[wheel]]` does not list
    /// (default: only without a `[[wheel]]` list).
    pub discover: Option<bool>,
}

#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct RawWheel {
    #[schemars(with = "String")]
    pub path: Spanned<String>,
    pub install: Option<Install>,
}

#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct RawEnvironment {
    #[schemars(with = "Option<String>")]
    pub python: Option<Spanned<String>>,
    pub conda: Option<Vec<String>>,
    pub pip: Option<Vec<String>>,
}

#[derive(Clone, Debug, Default, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct RawCluster {
    #[schemars(with = "Option<String>")]
    pub spark_version: Option<Spanned<String>>,
    pub node_type_id: Option<String>,
    pub driver_node_type_id: Option<String>,
    #[schemars(with = "Option<u32>")]
    pub num_workers: Option<Spanned<u32>>,
    #[schemars(with = "Option<RawAutoscale>")]
    pub autoscale: Option<Spanned<RawAutoscale>>,
    pub spark_conf: Option<BTreeMap<String, String>>,
    pub spark_env_vars: Option<BTreeMap<String, String>>,
    pub custom_tags: Option<BTreeMap<String, String>>,
    pub policy_id: Option<String>,
    pub data_security_mode: Option<String>,
    pub pypi: Option<Vec<String>>,
}

#[derive(Clone, Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct RawAutoscale {
    pub min_workers: u32,
    pub max_workers: u32,
}

#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct RawEntryPoint {
    #[schemars(with = "String")]
    pub command: Spanned<String>,
    #[serde(default)]
    #[schemars(with = "BTreeMap<String, RawParameter>")]
    pub parameters: BTreeMap<String, Spanned<RawParameter>>,
}

#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct RawParameter {
    #[serde(rename = "type")]
    pub ty: Option<ParamType>,
    #[schemars(with = "Option<serde_json::Value>")]
    pub default: Option<Spanned<toml::Value>>,
}

#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct RawTarget {
    pub kind: TargetKind,
    #[schemars(with = "Option<String>")]
    pub host: Option<Spanned<String>>,
    #[schemars(with = "Option<String>")]
    pub profile: Option<Spanned<String>>,
    #[schemars(with = "Option<String>")]
    pub artifacts: Option<Spanned<String>>,
    #[schemars(with = "Option<String>")]
    pub experiment: Option<Spanned<String>>,
    #[schemars(with = "Option<String>")]
    pub cluster_id: Option<Spanned<String>>,
    #[schemars(with = "Option<EnvManager>")]
    pub env_manager: Option<Spanned<EnvManager>>,
    #[schemars(with = "Option<String>")]
    pub mlflow_version: Option<Spanned<String>>,
    #[schemars(with = "Option<ComputeKind>")]
    pub compute: Option<Spanned<ComputeKind>>,
    /// The serverless environment version (a string or a whole number, e.g. "4").
    #[schemars(with = "Option<serde_json::Value>")]
    pub environment_version: Option<Spanned<toml::Value>>,
    /// The model this target releases into (instead of `[release] model`).
    #[schemars(with = "Option<String>")]
    pub model: Option<Spanned<String>>,
    /// Glob patterns of the branches allowed to release to this target (default: any).
    pub release_branches: Option<Vec<String>>,
    /// `[targets.NAME.cluster]`: `[cluster]` settings for this target only (each key set here
    /// replaces the project's; the maps are merged).
    pub cluster: Option<RawCluster>,
}

impl RawCluster {
    /// The project's `[cluster]` with a target's keys laid over it.
    pub fn overlaid(base: Option<&RawCluster>, over: &RawCluster) -> RawCluster {
        let base = base.cloned().unwrap_or_default();
        let merge = |b: Option<BTreeMap<String, String>>, o: &Option<BTreeMap<String, String>>| {
            match (b, o) {
                (None, None) => None,
                (b, o) => {
                    let mut m = b.unwrap_or_default();
                    m.extend(o.clone().unwrap_or_default());
                    Some(m)
                }
            }
        };
        // A size set on the target replaces the project's, in either form.
        let sized = over.num_workers.is_some() || over.autoscale.is_some();
        RawCluster {
            spark_version: over.spark_version.clone().or(base.spark_version),
            node_type_id: over.node_type_id.clone().or(base.node_type_id),
            driver_node_type_id: over
                .driver_node_type_id
                .clone()
                .or(base.driver_node_type_id),
            num_workers: if sized {
                over.num_workers.clone()
            } else {
                base.num_workers
            },
            autoscale: if sized {
                over.autoscale.clone()
            } else {
                base.autoscale
            },
            spark_conf: merge(base.spark_conf, &over.spark_conf),
            spark_env_vars: merge(base.spark_env_vars, &over.spark_env_vars),
            custom_tags: merge(base.custom_tags, &over.custom_tags),
            policy_id: over.policy_id.clone().or(base.policy_id),
            data_security_mode: over.data_security_mode.clone().or(base.data_security_mode),
            pypi: over.pypi.clone().or(base.pypi),
        }
    }
}
