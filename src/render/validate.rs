//! What rendering would refuse (and what deserves a warning), checked at plan time without
//! writing anything: `docker_env`, DBFS on new runtimes, what serverless compute cannot carry,
//! conda-only packages and shell entry points on Databricks.

use crate::error::{Error, Result};
use crate::manifest::project::{Env, MlflowProject};
use crate::manifest::{Compute, Manifest, TargetKind};
use crate::plan::Plan;
use crate::support::diagnostic::Diagnostic;

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
    let mut warnings = Vec::new();
    let target = manifest.target(Some(&plan.target))?;
    if !target.artifacts.uses("project") {
        warnings.push(format!(
            "{}: `targets.{}.artifacts = \"{}\"` has no `{{project}}`: another project deploying there would share its branch folders (cargo mlops refuses a root marked by another project); write `\"{}/{{project}}\"`",
            manifest.display_path.display(),
            plan.target,
            target.artifacts.raw(),
            target.artifacts.raw().trim_end_matches('/')
        ));
    }
    match &plan.compute {
        Compute::JobCluster => {
            warnings.extend(super::library_forms::cluster_warnings(
                plan, manifest, project,
            ));
            new_cluster_check(project)?;
            // A cluster.json naming an existing cluster runs on that cluster's runtime, which
            // no file of ours holds: it is asked of the cluster before a deploy
            // (`check::existing_cluster_runtime`), never judged by `[cluster] spark_version`.
            let existing = project
                .cluster
                .as_ref()
                .is_some_and(|c| c.value.get("existing_cluster_id").is_some());
            if !existing {
                let dbfs = plan.artifacts.starts_with("dbfs:/");
                warnings.extend(runtime_check(plan, manifest, project, dbfs)?);
            }
        }
        Compute::Serverless {
            environment_version,
        } => {
            serverless_check(plan, manifest, project)?;
            super::library_forms::serverless_check(plan, manifest, project)?;
            warnings.extend(serverless_python_warning(project, environment_version));
        }
        Compute::ExistingCluster { .. } => {
            warnings.extend(super::library_forms::cluster_warnings(
                plan, manifest, project,
            ));
        }
    }
    warnings.extend(conda_only_warnings(manifest, project));
    if let Some(crate::run::launch::Entry::Shell { command }) = &plan.launch {
        warnings.push(format!(
            "entry point `{}` runs `{command}` as a subprocess of a shell: on Databricks it has no Spark session (only a `python FILE` or `python -m MODULE` entry point runs in the task's own Python process)",
            plan.entry.as_deref().unwrap_or_default()
        ));
    }
    Ok(warnings)
}

/// DBFS-root libraries are disabled by default from Databricks Runtime 15.0: "storing library
/// files in the DBFS root is deprecated and disabled by default starting with Databricks
/// Runtime 15.0 ... set the following Spark configuration parameter:
/// spark.databricks.driver.dbfsLibraryInstallationAllowed true" (Databricks Runtime 15.0
/// release notes, Breaking changes, https://docs.databricks.com/release-notes/runtime/15.0.html).
pub const DBFS_LIBRARIES_OFF_FROM: (u32, u32) = (15, 0);

/// Unity Catalog volumes (and libraries installed from them) need Databricks Runtime 13.3 LTS
/// or above (https://docs.databricks.com/en/volumes/index.html, "Requirements").
pub const VOLUMES_FROM: (u32, u32) = (13, 3);

/// The Spark conf that lets a cluster install libraries from the DBFS root again.
pub const DBFS_LIBRARY_OPT_IN: &str = "spark.databricks.driver.dbfsLibraryInstallationAllowed";

/// The cluster settings of a cluster.json in either form MLflow reads (`{"new_cluster": ...}`
/// or a bare spec).
fn spec_of(value: &serde_json::Value) -> &serde_json::Value {
    value.get("new_cluster").unwrap_or(value)
}

/// Whether a value of [`DBFS_LIBRARY_OPT_IN`] turns the opt-in on.
pub fn opts_in_to_dbfs_libraries(value: Option<&str>) -> bool {
    value.is_some_and(|v| v.trim().eq_ignore_ascii_case("true"))
}

/// The runtime a job cluster of the target runs, and where it is set (for messages).
pub fn runtime_of(plan: &Plan, manifest: &Manifest, project: &MlflowProject) -> (String, String) {
    let own = project.cluster.as_ref().and_then(|c| {
        let version = spec_of(&c.value)
            .get("spark_version")?
            .as_str()?
            .to_string();
        let text = fs_err::read_to_string(&c.path).unwrap_or_default();
        let line = text
            .lines()
            .position(|l| l.contains("\"spark_version\""))
            .map_or(1, |i| i + 1);
        Some((
            version,
            format!(
                "`spark_version` in {}:{line}",
                crate::manifest::display_path(&c.path).display()
            ),
        ))
    });
    own.unwrap_or_else(|| {
        let cluster = manifest.cluster_for(&plan.target);
        let key = if cluster.spark_version != manifest.cluster.spark_version {
            format!("[targets.{}.cluster] spark_version", plan.target)
        } else {
            "[cluster] spark_version".to_string()
        };
        (
            cluster.spark_version.clone(),
            format!("{key} in {}", manifest.display_path.display()),
        )
    })
}

/// Whether the target's job cluster sets the DBFS-library opt-in.
fn dbfs_opt_in(plan: &Plan, manifest: &Manifest, project: &MlflowProject) -> bool {
    let own = project.cluster.as_ref().and_then(|c| {
        spec_of(&c.value)
            .get("spark_conf")?
            .get(DBFS_LIBRARY_OPT_IN)
            .map(|v| v.as_str().map_or(v.to_string(), str::to_string))
    });
    let value = own.or_else(|| {
        manifest
            .cluster_for(&plan.target)
            .spark_conf
            .get(DBFS_LIBRARY_OPT_IN)
            .cloned()
    });
    opts_in_to_dbfs_libraries(value.as_deref())
}

/// `(major, minor)` as people write it: `15.x` for the newest minor release.
fn shown(major: u32, minor: u32) -> String {
    if minor == u32::MAX {
        format!("{major}.x")
    } else {
        format!("{major}.{minor}")
    }
}

/// The runtime checks of a job cluster, both ways: DBFS libraries from 15.0 (unless the
/// cluster opts back in), volumes below 13.3. A runtime that cannot be read is a warning:
/// the checks that depend on it could not be made.
fn runtime_check(
    plan: &Plan,
    manifest: &Manifest,
    project: &MlflowProject,
    dbfs: bool,
) -> Result<Option<String>> {
    let (version, source) = runtime_of(plan, manifest, project);
    let Some((major, minor)) = super::runtimes::parse_runtime(&version) else {
        return Ok(Some(format!(
            "cannot tell which Databricks Runtime `{version}` ({source}) is (expected a form like `15.4.x-scala2.12`); checks that depend on it were skipped{}",
            if dbfs {
                ", among them that DBFS libraries are disabled from 15.0"
            } else {
                ", among them that volumes need 13.3 or above"
            }
        )));
    };
    let (off_major, off_minor) = DBFS_LIBRARIES_OFF_FROM;
    if dbfs && (major, minor) >= DBFS_LIBRARIES_OFF_FROM && !dbfs_opt_in(plan, manifest, project) {
        return Err(Error::usage(format!(
            "target `{}` stores wheels on DBFS (`{}`), but its cluster runs Databricks Runtime {} (`{version}`, set by {source}): libraries in the DBFS root are disabled from {off_major}.{off_minor}",
            plan.target, plan.artifacts, shown(major, minor)
        ))
        .with_help(format!(
            "store them in a Unity Catalog volume (`artifacts = \"/Volumes/<catalog>/<schema>/<volume>/{{project}}\"` under [targets.{}]), pin a runtime below {off_major}.{off_minor} for this target only (`[targets.{}.cluster] spark_version = \"14.3.x-scala2.12\"`), or opt back in with the Spark conf `{DBFS_LIBRARY_OPT_IN} = \"true\"`",
            plan.target, plan.target
        )));
    }
    let (vol_major, vol_minor) = VOLUMES_FROM;
    if plan.artifacts.starts_with("/Volumes/") && (major, minor) < VOLUMES_FROM {
        return Err(Error::usage(format!(
            "target `{}` stores wheels in a Unity Catalog volume (`{}`), but its cluster runs Databricks Runtime {} (`{version}`, set by {source}): volumes need {vol_major}.{vol_minor} LTS or above",
            plan.target, plan.artifacts, shown(major, minor)
        ))
        .with_help(format!(
            "pick a newer runtime (set {source}, e.g. `15.4.x-scala2.12`), or for an old runtime store the wheels on DBFS (`artifacts = \"dbfs:/mlops/{{project}}\"` under [targets.{}])",
            plan.target
        )));
    }
    Ok(None)
}

/// The project's own cluster.json, as the Jobs API takes a `new_cluster`: an object with a
/// `spark_version` string, a node type (or an instance pool) and a size, unless a cluster
/// policy supplies them (https://docs.databricks.com/api/workspace/jobs/submit).
fn new_cluster_check(project: &MlflowProject) -> Result<()> {
    let Some(own) = &project.cluster else {
        return Ok(());
    };
    if own.value.get("existing_cluster_id").is_some() {
        return Ok(());
    }
    let wrapped = own.value.get("new_cluster").is_some();
    let spec = spec_of(&own.value);
    let key = |k: &str| {
        if wrapped {
            format!("new_cluster.{k}")
        } else {
            k.to_string()
        }
    };
    let refuse = |at: &str, message: String, help: &str| {
        let shown = crate::manifest::display_path(&own.path);
        let text = fs_err::read_to_string(&own.path).unwrap_or_default();
        // Point at the key when the file names it, else at the file.
        let found = text.find(&format!("\"{at}\""));
        let d = match found {
            Some(i) => Diagnostic::at(&shown, &text, i..i + at.len() + 2, message),
            None => Diagnostic::whole_file(&shown, message),
        };
        Err(Error::diagnostic(d.key(key(at)).help(help)))
    };
    let Some(obj) = spec.as_object() else {
        return refuse(
            "new_cluster",
            format!("`new_cluster` must be an object of cluster settings, not {spec}"),
            "write `\"new_cluster\": {\"spark_version\": \"15.4.x-scala2.12\", \"node_type_id\": ..., \"num_workers\": 1}`",
        );
    };
    match obj.get("spark_version") {
        Some(serde_json::Value::String(_)) => {}
        Some(other) => {
            return refuse(
                "spark_version",
                format!(
                    "`spark_version` must be a string such as \"15.4.x-scala2.12\", not {other}"
                ),
                "quote it: a runtime version is a name (`15.4.x-scala2.12`), not a number",
            );
        }
        None if obj.contains_key("policy_id") => {}
        None => {
            return refuse(
                "new_cluster",
                "the cluster has no `spark_version`, which the Jobs API requires".into(),
                "add `\"spark_version\": \"15.4.x-scala2.12\"` (or the runtime you use)",
            );
        }
    }
    if obj.contains_key("policy_id") {
        return Ok(());
    }
    if !["node_type_id", "instance_pool_id"]
        .iter()
        .any(|k| obj.contains_key(*k))
    {
        return refuse(
            "new_cluster",
            "the cluster has neither `node_type_id` nor `instance_pool_id`, one of which the Jobs API requires".into(),
            "add `\"node_type_id\"` (e.g. \"Standard_DS3_v2\" on Azure, \"i3.xlarge\" on AWS), or a `policy_id` that sets it",
        );
    }
    if !["num_workers", "autoscale"]
        .iter()
        .any(|k| obj.contains_key(*k))
    {
        return refuse(
            "new_cluster",
            "the cluster has neither `num_workers` nor `autoscale`, one of which the Jobs API requires".into(),
            "add `\"num_workers\": 1` (0 for a single-node cluster), or `\"autoscale\": {\"min_workers\": 1, \"max_workers\": 4}`",
        );
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

/// A Python version the environment file asks for is not what serverless runs: the
/// environment version decides.
fn serverless_python_warning(project: &MlflowProject, version: &str) -> Option<String> {
    let (crate::manifest::project::Env::Conda(file) | crate::manifest::project::Env::Python(file)) =
        &project.env
    else {
        return None;
    };
    let text = serde_yaml::to_string(&file.value).ok()?;
    let wanted = crate::environment::requirements::requested_python(&file.name, &text)?;
    let have = super::runtimes::shown(super::runtimes::serverless_python(version)?);
    (!crate::environment::requirements::python_matches(&wanted, &have)).then(|| {
        format!(
            "{} asks for Python {wanted}, but serverless environment version {version} runs Python {have}: the environment version decides (`environment_version` on the target)",
            crate::manifest::display_path(&file.path).display()
        )
    })
}

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
        let spec = spec_of(&own.value);
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
        ("spark_conf", &manifest.cluster_for(&plan.target).spark_conf),
        (
            "spark_env_vars",
            &manifest.cluster_for(&plan.target).spark_env_vars,
        ),
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
