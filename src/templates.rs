//! The files shipped inside the binary: `init`'s scaffold (and, later, the built-in MLflow
//! project files). Kept in `templates/` so they can be read and edited as the files they are.

/// `mlops.toml` written by `cargo mlops init`; `__PROJECT_NAME__` is replaced by the name.
pub const INIT_MANIFEST: &str = include_str!("../templates/init/mlops.toml");

/// The scaffold's training script.
pub const INIT_TRAIN: &str = include_str!("../templates/init/train.py");

/// The token in [`INIT_MANIFEST`] that stands for the project name.
pub const PROJECT_NAME_TOKEN: &str = "__PROJECT_NAME__";
