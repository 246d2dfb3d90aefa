//! What rendering would refuse (and what deserves a warning), checked at plan time without
//! writing anything: `docker_env`, DBFS on new runtimes, what serverless compute cannot carry,
//! conda-only packages and shell entry points on Databricks.

use crate::error::{Error, Result};
use crate::manifest::{Cluster, Compute, Manifest, TargetKind};
use crate::plan::Plan;
use crate::project::{Env, MlflowProject};

/// Checks what rendering would refuse, without writing anything; returns what works but
/// deserves a warning.
pub fn validate(plan: &Plan, manifest: &Manifest, project: &MlflowProject) -> Result<Vec<String>> {
    if let Env::Docker = project.env {
        return Err(Error::usage(format!(
            "the MLflow project in `{}` uses `docker_env`, which cargo mlops cannot ship wheels into",
            crate::manifest::display_path(&project.dir).display()
        ))
        .with_help("use `conda_env` or `python_env` in MLproject (or remove the environment to generate one from [environment])"));
    }
    if plan.target_kind != TargetKind::Databricks {
        return Ok(Vec::new());
    }
    match &plan.compute {
        Compute::JobCluster if plan.artifacts.starts_with("dbfs:/") => {
            dbfs_runtime_check(plan, manifest, project)?
        }
        Compute::Serverless { .. } => serverless_check(plan, manifest, project)?,
        _ => {}
    }
    let mut warnings = conda_only_warnings(manifest, project);
    if let Some(crate::launch::Entry::Shell { command }) = &plan.launch {
        warnings.push(format!(
            "entry point `{}` runs `{command}` as a subprocess of a shell: on Databricks it has no Spark session (only a `python FILE` or `python -m MODULE` entry point runs in the task's own Python process)",
            plan.entry.as_deref().unwrap_or_default()
        ));
    }
    Ok(warnings)
}

/// DBFS libraries are disabled from Databricks Runtime 15.1.
fn dbfs_runtime_check(plan: &Plan, manifest: &Manifest, project: &MlflowProject) -> Result<()> {
    let version = spark_version(project, &manifest.cluster);
    if let Some((major, minor)) = parse_runtime(&version) {
        if (major, minor) >= (15, 1) {
            return Err(Error::usage(format!(
                "target `{}` stores wheels on DBFS (`{}`), but the cluster runs Databricks Runtime {major}.{minor} (`{version}`): libraries on DBFS are disabled from 15.1",
                plan.target, plan.artifacts
            ))
            .with_help(format!(
                "store them in a Unity Catalog volume: `artifacts = \"/Volumes/<catalog>/<schema>/<volume>/{}\"` under [targets.{}], or use a runtime below 15.1",
                plan.project, plan.target
            )));
        }
    }
    Ok(())
}

/// Cluster settings that change what the code sees and that serverless compute has no place
/// for (it supports no init scripts, Spark configuration or environment variables of a
/// cluster: https://docs.databricks.com/aws/en/compute/serverless/limitations). Sizing keys
/// (`spark_version`, `node_type_id`, `num_workers`...) are ignored there: serverless sizes
/// itself.
const CLUSTER_ONLY: &[&str] = &[
    "spark_conf",
    "spark_env_vars",
    "init_scripts",
    "docker_image",
    "cluster_log_conf",
    "single_user_name",
];

/// What a serverless target cannot carry over from the cluster settings.
fn serverless_check(plan: &Plan, manifest: &Manifest, project: &MlflowProject) -> Result<()> {
    let refuse = |what: String, help: &str| {
        Err(Error::usage(format!(
            "target `{}` runs on serverless compute, but {what}",
            plan.target
        ))
        .with_help(help.to_string()))
    };
    if let Some(own) = &project.cluster {
        let shown = crate::manifest::display_path(&own.path);
        let shown = shown.display();
        if own.value.get("existing_cluster_id").is_some() {
            return refuse(
                format!("{shown} sets `existing_cluster_id`"),
                "remove it from cluster.json (a target's `cluster_id` picks an existing cluster), or run this target on a cluster",
            );
        }
        let spec = own.value.get("new_cluster").unwrap_or(&own.value);
        if let Some(key) = CLUSTER_ONLY.iter().find(|k| spec.get(**k).is_some()) {
            return refuse(
                format!("{shown} sets `{key}`, which only a cluster has"),
                "remove it from cluster.json, or run this target on a job cluster (remove `compute = \"serverless\"`)",
            );
        }
        for lib in own.value["libraries"].as_array().into_iter().flatten() {
            let pip = lib.get("whl").is_some()
                || lib.get("requirements").is_some()
                || (lib.get("pypi").is_some() && lib["pypi"].get("repo").is_none());
            if !pip {
                return refuse(
                    format!("{shown} has the library {lib}, which is not a pip requirement"),
                    "serverless dependencies are pip requirement lines: keep `pypi` (without `repo`), `whl` and `requirements` libraries only",
                );
            }
        }
    }
    for (key, map) in [
        ("spark_conf", &manifest.cluster.spark_conf),
        ("spark_env_vars", &manifest.cluster.spark_env_vars),
    ] {
        if !map.is_empty() && project.cluster.is_none() {
            return refuse(
                format!(
                    "{} sets `[cluster] {key}`, which only a cluster has",
                    manifest.display_path.display()
                ),
                "remove it, or run this target on a job cluster (remove `compute = \"serverless\"`)",
            );
        }
    }
    Ok(())
}

/// Conda packages cannot be installed on Databricks: only pip packages become job libraries
/// or serverless dependencies, so conda-only entries of the environment are left out.
fn conda_only_warnings(manifest: &Manifest, project: &MlflowProject) -> Vec<String> {
    let warn = |file: String, package: &str| {
        format!(
            "{file}: the conda package `{package}` cannot be installed on Databricks (only pip packages become job libraries or serverless dependencies); it is left out there; move it to the pip list if it is on PyPI"
        )
    };
    let is_conda_only = |spec: &str| {
        let name = spec.split(['=', '<', '>', '!', ' ']).next().unwrap_or("");
        !matches!(name, "python" | "pip" | "")
    };
    match &project.env {
        Env::Conda(file) => file.value["dependencies"]
            .as_sequence()
            .into_iter()
            .flatten()
            .filter_map(|d| d.as_str())
            .filter(|d| is_conda_only(d))
            .map(|d| {
                warn(
                    crate::manifest::display_path(&file.path)
                        .display()
                        .to_string(),
                    d,
                )
            })
            .collect(),
        Env::Missing => manifest
            .environment
            .conda
            .iter()
            .filter(|d| is_conda_only(d))
            .map(|d| {
                warn(
                    format!("{} ([environment] conda)", manifest.display_path.display()),
                    d,
                )
            })
            .collect(),
        Env::Python(_) | Env::Docker => Vec::new(),
    }
}

/// The runtime the job cluster will run: the project's cluster.json, else `[cluster]`.
pub(super) fn spark_version(project: &MlflowProject, cluster: &Cluster) -> String {
    project
        .cluster
        .as_ref()
        .and_then(|c| {
            c.value
                .get("new_cluster")
                .unwrap_or(&c.value)
                .get("spark_version")
                .and_then(|v| v.as_str())
                .map(str::to_string)
        })
        .unwrap_or_else(|| cluster.spark_version.clone())
}

/// `15.4.x-scala2.12` → (15, 4).
pub fn parse_runtime(spark_version: &str) -> Option<(u32, u32)> {
    let mut parts = spark_version.split(['.', '-']);
    let major = parts.next()?.parse().ok()?;
    let minor = parts.next()?.parse().ok()?;
    Some((major, minor))
}
