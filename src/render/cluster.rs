//! cluster.json: the project's own (either form MLflow reads) with the wheels put in, each in
//! the path form its reader takes, or one generated from `[cluster]`.

use serde_json::json;

use super::placeholder;
use super::text::json_text;
use super::wheels::WheelRef;
use crate::error::{Error, Result};
use crate::manifest::project::MlflowProject;
use crate::manifest::{Cluster, Install, Manifest, Workers};
use crate::plan::Plan;
use crate::support::templates;

/// cluster.json: the project's own (either form MLflow reads) with the wheels put in, or one
/// generated from `[cluster]`. A target's `cluster_id` replaces the new cluster.
pub(super) fn render_cluster(
    plan: &Plan,
    manifest: &Manifest,
    project: &MlflowProject,
    wheels: &[WheelRef],
) -> Result<String> {
    // A `pypi` library's package is handed to pip, which reads the `/dbfs/...` FUSE path but
    // not a `dbfs:/` URI; `whl` (and the other library kinds) take the `dbfs:/` form.
    let library_path = |keys: &[String], i: usize| {
        if keys.first().is_some_and(|k| k == "pypi") {
            wheels[i].env_path.clone()
        } else {
            wheels[i].library_path.clone()
        }
    };
    let cluster_wheels: Vec<serde_json::Value> = wheels
        .iter()
        .filter(|w| w.install == Install::Cluster)
        .map(|w| json!({ "whl": w.library_path }))
        .collect();
    let mut value = match &project.cluster {
        Some(own) => {
            let mut value = own.value.clone();
            placeholder::mark_known_wheels(&mut value, &super::wheels::distributions(wheels));
            if placeholder::contains(&value) {
                placeholder::substitute(&mut value, wheels.len(), &library_path).map_err(|e| {
                    Error::usage(format!(
                        "{}: {e}",
                        crate::manifest::display_path(&own.path).display()
                    ))
                    .with_help("put the WHEELPATH placeholder in the `libraries` list")
                })?;
            } else if !cluster_wheels.is_empty() {
                wrap_bare_spec(&mut value);
                value["libraries"]
                    .as_array_mut()
                    .expect("wrapped specs have a libraries list")
                    .extend(cluster_wheels);
            }
            value
        }
        None => generated_cluster(manifest.cluster_for(&plan.target), cluster_wheels)?,
    };
    if let Some(id) = plan.compute.cluster_id() {
        wrap_bare_spec(&mut value);
        let obj = value.as_object_mut().expect("wrapped specs are objects");
        obj.shift_remove("new_cluster");
        obj.insert("existing_cluster_id".into(), id.into());
    }
    Ok(json_text(&value))
}

/// The compute of cluster.json and no libraries, for a task that needs only what the
/// platform installs for it (the registry job): `{new_cluster}` (the project's own spec, or
/// the one `[cluster]` makes), or `{existing_cluster_id}` for a target's `cluster_id`.
pub fn compute_only(
    plan: &Plan,
    manifest: &Manifest,
    project: &MlflowProject,
) -> Result<serde_json::Value> {
    let mut value = match &project.cluster {
        Some(own) => own.value.clone(),
        None => generated_cluster(manifest.cluster_for(&plan.target), Vec::new())?,
    };
    wrap_bare_spec(&mut value);
    let obj = value.as_object_mut().expect("wrapped specs are objects");
    obj.shift_remove("libraries");
    if let Some(id) = plan.compute.cluster_id() {
        obj.shift_remove("new_cluster");
        obj.insert("existing_cluster_id".into(), id.into());
    }
    Ok(value)
}

/// MLflow reads a bare cluster spec or `{"new_cluster": ..., "libraries": [...]}`; libraries
/// need the second form.
fn wrap_bare_spec(value: &mut serde_json::Value) {
    let wrapped = ["new_cluster", "existing_cluster_id", "libraries"]
        .iter()
        .any(|k| value.get(*k).is_some());
    if !wrapped {
        *value = json!({ "new_cluster": value.take(), "libraries": [] });
    }
    if !value["libraries"].is_array() {
        value["libraries"] = json!([]);
    }
}

fn generated_cluster(
    cluster: &Cluster,
    wheels: Vec<serde_json::Value>,
) -> Result<serde_json::Value> {
    let mut value: serde_json::Value = serde_json::from_str(templates::CLUSTER)
        .map_err(|e| Error::usage(format!("templates/cluster.json: {e}")))?;
    let mut spec = serde_json::Map::new();
    spec.insert(
        "spark_version".into(),
        cluster.spark_version.as_str().into(),
    );
    spec.insert("node_type_id".into(), cluster.node_type_id.as_str().into());
    if let Some(driver) = &cluster.driver_node_type_id {
        spec.insert("driver_node_type_id".into(), driver.as_str().into());
    }
    match cluster.workers {
        Workers::Fixed(n) => {
            spec.insert("num_workers".into(), n.into());
        }
        Workers::Autoscale {
            min_workers,
            max_workers,
        } => {
            spec.insert(
                "autoscale".into(),
                json!({ "min_workers": min_workers, "max_workers": max_workers }),
            );
        }
    }
    for (key, map) in [
        ("spark_conf", &cluster.spark_conf),
        ("spark_env_vars", &cluster.spark_env_vars),
        ("custom_tags", &cluster.custom_tags),
    ] {
        if !map.is_empty() {
            spec.insert(key.into(), json!(map));
        }
    }
    if let Some(policy) = &cluster.policy_id {
        spec.insert("policy_id".into(), policy.as_str().into());
    }
    if let Some(mode) = &cluster.data_security_mode {
        spec.insert("data_security_mode".into(), mode.as_str().into());
    }
    value["new_cluster"] = serde_json::Value::Object(spec);
    let mut libraries: Vec<serde_json::Value> = cluster
        .pypi
        .iter()
        .map(|p| json!({ "pypi": { "package": p } }))
        .collect();
    libraries.extend(wheels);
    value["libraries"] = serde_json::Value::Array(libraries);
    Ok(value)
}
