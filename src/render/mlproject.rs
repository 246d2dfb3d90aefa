//! MLproject: the project's own, with the manifest's entry points added and the environment
//! file named; or the built-in template filled from mlops.toml.

use serde_yaml::{Mapping, Value as Yaml};

use super::text::yaml_text;
use crate::error::{Error, Result};
use crate::manifest::ParamType;
use crate::manifest::project::{self, MlflowProject};
use crate::plan::Plan;
use crate::support::templates;

/// MLproject: the project's own, with the manifest's entry points added where it has none of
/// that name and the environment file named; or the built-in template filled from mlops.toml.
pub(super) fn render_mlproject(
    plan: &Plan,
    project: &MlflowProject,
    env_file: &str,
) -> Result<String> {
    let mut map = match &project.mlproject {
        Some(own) => own.value.clone(),
        None => {
            let value: Yaml = serde_yaml::from_str(templates::MLPROJECT)
                .map_err(|e| Error::usage(format!("templates/MLproject: {e}")))?;
            let mut map = value.as_mapping().cloned().unwrap_or_default();
            map.insert("name".into(), plan.project.as_str().into());
            map
        }
    };
    let has_env = ["conda_env", "python_env", "docker_env"]
        .iter()
        .any(|k| map.contains_key(*k));
    // MLflow refuses an environment key in a Databricks Spark job project; its environment
    // file is still written beside it for the local target.
    if !has_env && project.spark_job.is_none() {
        map.insert("conda_env".into(), env_file.into());
    }
    // A `python_file` job runs as `main` without entry points (MLflow refuses both).
    if project
        .spark_job
        .as_ref()
        .is_some_and(|j| j.python_file.is_some())
    {
        return yaml_text(&map);
    }
    let entries = map
        .entry(Yaml::from("entry_points"))
        .or_insert_with(|| Yaml::Mapping(Mapping::new()));
    if !entries.is_mapping() {
        *entries = Yaml::Mapping(Mapping::new());
    }
    let entries = entries.as_mapping_mut().expect("made a mapping above");
    for (name, entry) in &project.entry_points {
        if entries.contains_key(name.as_str()) {
            continue;
        }
        let mut params = Mapping::new();
        for (pname, p) in &entry.parameters {
            let mut spec = Mapping::new();
            spec.insert("type".into(), p.ty.to_string().into());
            if let Some(default) = &p.default {
                spec.insert("default".into(), default_value(p.ty, default));
            }
            params.insert(pname.as_str().into(), Yaml::Mapping(spec));
        }
        let mut e = Mapping::new();
        e.insert("command".into(), entry.command.as_str().into());
        if !params.is_empty() {
            e.insert("parameters".into(), Yaml::Mapping(params));
        }
        entries.insert(name.as_str().into(), Yaml::Mapping(e));
    }
    yaml_text(&map)
}

/// Numbers stay numbers in YAML so MLflow shows them as such.
fn default_value(ty: ParamType, default: &str) -> Yaml {
    match ty {
        ParamType::Int => default
            .parse::<i64>()
            .map_or_else(|_| default.into(), Yaml::from),
        ParamType::Float => default
            .parse::<f64>()
            .map_or_else(|_| default.into(), Yaml::from),
        _ => default.into(),
    }
}

pub(super) fn mlproject_name(project: &MlflowProject) -> String {
    project
        .mlproject
        .as_ref()
        .map_or_else(|| project::MLPROJECT.to_string(), |m| m.name.clone())
}
