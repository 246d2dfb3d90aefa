//! The files shipped inside the binary, kept in `templates/` so they can be read and edited as
//! the files they are. The YAML and JSON ones are parsed and filled in as data, never pasted.

/// `mlops.toml` written by `cargo mlops init`; `__PROJECT_NAME__` is replaced by the name.
pub const INIT_MANIFEST: &str = include_str!("../../templates/init/mlops.toml");

/// The scaffold's training script.
pub const INIT_TRAIN: &str = include_str!("../../templates/init/train.py");

/// The token in [`INIT_MANIFEST`] that stands for the project name (a validated name, which
/// cannot contain TOML syntax).
pub const PROJECT_NAME_TOKEN: &str = "__PROJECT_NAME__";

/// The MLproject used when the project has none.
pub const MLPROJECT: &str = include_str!("../../templates/MLproject");

/// The conda environment used when the project has no environment file.
pub const CONDA: &str = include_str!("../../templates/conda.yaml");

/// The cluster spec used when the project has no cluster.json.
pub const CLUSTER: &str = include_str!("../../templates/cluster.json");

/// The script that runs an entry point of the deployed project, on Databricks and locally.
pub const LAUNCHER: &str = include_str!("../../templates/launcher.py");

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn structured_templates_parse() {
        let m: serde_yaml::Value = serde_yaml::from_str(MLPROJECT).unwrap();
        assert!(m.get("entry_points").is_some());
        let c: serde_yaml::Value = serde_yaml::from_str(CONDA).unwrap();
        assert!(c.get("dependencies").unwrap().is_sequence());
        let j: serde_json::Value = serde_json::from_str(CLUSTER).unwrap();
        assert!(j["libraries"].is_array());
    }
}
