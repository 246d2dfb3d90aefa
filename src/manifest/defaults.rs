//! Every default of `mlops.toml`, in one place. docs/manifest.md lists the same
//! values; `tests/integration/manifest.rs` checks that an empty manifest resolves to them.

/// The file name searched for upward from the current directory.
pub const MANIFEST_FILE: &str = "mlops.toml";

/// The folder holding the MLflow project code, relative to the manifest.
pub const MLPROJECT_DIR: &str = "mlproject";

/// The folder (relative to the manifest) for everything the tool keeps locally: built wheels,
/// the local artifact store, environments.
pub const STATE_DIR: &str = ".mlops";

/// The target used when none is named.
pub const TARGET: &str = "local";

/// Python used by the rendered environment when the project has no conda.yaml.
/// Matches the interpreter of Databricks Runtime 15.4 LTS.
pub const PYTHON: &str = "3.11";

/// Cluster used when the project has no cluster.json of its own.
pub const SPARK_VERSION: &str = "15.4.x-scala2.12";
pub const NODE_TYPE_ID: &str = "Standard_DS3_v2";
pub const NUM_WORKERS: u32 = 1;

/// Where the local target keeps its content-addressed artifacts (relative to the manifest).
pub const LOCAL_ARTIFACTS: &str = ".mlops/artifacts";

/// Experiment names: local MLflow accepts any name; Databricks wants a workspace path.
pub const LOCAL_EXPERIMENT: &str = "{project}/{branch}";
pub const DATABRICKS_EXPERIMENT: &str = "/Shared/{project}/{branch}";

/// The serverless environment version a `compute = "serverless"` target runs on when it sets
/// none: version 4 (Python 3.12, released August 2025, supported until August 2028) is
/// documented on every cloud (https://docs.databricks.com/aws/en/release-notes/serverless/environment-version).
pub const SERVERLESS_ENVIRONMENT_VERSION: &str = "4";
