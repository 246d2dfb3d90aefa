//! Where a project's MLproject file is, and the entry points it names: what the manifest
//! needs of it before the project itself is read (a job's `entry` may be an entry point only
//! the MLproject declares, as in a project adopted with `init --adopt`).

use std::path::{Path, PathBuf};

/// The entry point MLflow runs a `databricks_spark_job.python_file` project as.
pub const SPARK_JOB_ENTRY: &str = "main";

/// The MLproject file in `dir` (MLflow matches the name case-insensitively), if any.
pub fn find(dir: &Path) -> Option<PathBuf> {
    let entries = fs_err::read_dir(dir).ok()?;
    let mut found: Vec<PathBuf> = entries
        .filter_map(|e| e.ok())
        .filter(|e| e.file_name().to_string_lossy().to_lowercase() == "mlproject")
        .map(|e| e.path())
        .filter(|p| p.is_file())
        .collect();
    found.sort();
    found.into_iter().next()
}

/// The names of the entry points the MLproject in `dir` declares (`main` for a Databricks
/// Spark job project). A file that cannot be read gives none here: reading the project says
/// what is wrong with it, with its place.
pub fn entry_point_names(dir: &Path) -> Vec<String> {
    let Some(text) = find(dir).and_then(|p| fs_err::read_to_string(p).ok()) else {
        return Vec::new();
    };
    let Ok(serde_yaml::Value::Mapping(map)) = serde_yaml::from_str::<serde_yaml::Value>(&text)
    else {
        return Vec::new();
    };
    let mut names: Vec<String> = map
        .get("entry_points")
        .and_then(|e| e.as_mapping())
        .into_iter()
        .flat_map(|m| m.keys())
        .filter_map(|k| k.as_str().map(str::to_string))
        .collect();
    if map
        .get("databricks_spark_job")
        .and_then(|j| j.get("python_file"))
        .is_some()
    {
        names.push(SPARK_JOB_ENTRY.to_string());
    }
    names
}
