use std::path::Path;

use super::*;
use crate::error::Result;

const MINIMAL: &str = "[project]\nname = \"churn\"\n";

fn parse_str(source: &str) -> Result<Manifest> {
    parse(Path::new("/proj/mlops.toml"), source)
}

/// The error's diagnostic, for asserting where it points.
fn diag(source: &str) -> Diagnostic {
    let err = parse_str(source).expect_err("manifest should be rejected");
    assert_eq!(err.exit_code(), 2, "manifest errors are usage errors");
    err.diagnostic_ref().expect("a diagnostic").clone()
}

fn line_col(d: &Diagnostic) -> (usize, usize) {
    (d.line, d.column)
}

#[test]
fn minimal_manifest_gets_every_default() {
    let m = parse_str(MINIMAL).unwrap();
    assert_eq!(m.project.name, "churn");
    assert_eq!(m.project.mlproject, Path::new("/proj/mlproject"));
    assert_eq!(m.root, Path::new("/proj"));
    assert!(m.wheels.is_empty());
    assert_eq!(m.environment.python, defaults::PYTHON);
    assert_eq!(m.cluster.spark_version, defaults::SPARK_VERSION);
    assert_eq!(m.cluster.workers, Workers::Fixed(defaults::NUM_WORKERS));
    let local = m.target(None).unwrap();
    assert_eq!(local.name, "local");
    assert_eq!(local.kind, TargetKind::Local);
    assert!(local.builtin);
    assert_eq!(local.artifacts.raw(), defaults::LOCAL_ARTIFACTS);
    assert_eq!(local.experiment.raw(), defaults::LOCAL_EXPERIMENT);
}

#[test]
fn full_manifest_from_the_design_parses() {
    let m = parse_str(
        r#"
[project]
name = "churn"
mlproject = "mlproject"

[[wheel]]
path = "python/churn_features"
install = "driver"

[[wheel]]
path = "rust/churn_fast"
install = "cluster"

[environment]
python = "3.10"
conda = ["scikit-learn"]
pip = ["mlflow"]

[cluster]
spark_version = "15.4.x-scala2.12"
node_type_id = "Standard_DS3_v2"
num_workers = 2
pypi = ["convertdate"]

[entry_points.train]
command = "python train.py --alpha {alpha} --l1 {l1_ratio}"
parameters.alpha = { type = "float", default = 0.5 }
parameters.l1_ratio = { type = "float", default = 1 }

[targets.local]
kind = "local"

[targets.dev]
kind = "databricks"
profile = "DEFAULT"
artifacts = "/Volumes/main/mlops/artifacts"
experiment = "/Shared/{project}/{branch}"
cluster_id = "0101-123456-abcd"
"#,
    )
    .unwrap();
    assert_eq!(m.wheels.len(), 2);
    assert_eq!(m.wheels[1].install, Install::Cluster);
    assert_eq!(m.wheels[0].path, Path::new("/proj/python/churn_features"));
    assert_eq!(m.environment.python, "3.10");
    assert_eq!(m.cluster.workers, Workers::Fixed(2));
    let train = &m.entry_points["train"];
    assert_eq!(train.parameters["alpha"].default.as_deref(), Some("0.5"));
    assert_eq!(train.parameters["l1_ratio"].default.as_deref(), Some("1"));
    let dev = m.target(Some("dev")).unwrap();
    assert_eq!(dev.kind, TargetKind::Databricks);
    assert_eq!(dev.compute.cluster_id(), Some("0101-123456-abcd"));
    assert!(!m.target(Some("local")).unwrap().builtin);
}

#[test]
fn unknown_key_names_line_column_key_and_closest_name() {
    let d = diag("[project]\nname = \"churn\"\n\n[cluster]\nnum_worker = 2\n");
    assert_eq!(line_col(&d), (5, 1));
    assert_eq!(d.key.as_deref(), Some("cluster.num_worker"));
    assert!(
        d.message.starts_with("unknown field `num_worker`"),
        "{}",
        d.message
    );
    assert_eq!(d.help.as_deref(), Some("did you mean `num_workers`?"));
    assert_eq!(d.file, Path::new("/proj/mlops.toml"));
}

#[test]
fn unknown_top_level_table_is_rejected() {
    let d = diag("[project]\nname = \"churn\"\n[enviroment]\npython = \"3.10\"\n");
    assert_eq!(line_col(&d), (3, 2));
    assert!(
        d.message.contains("unknown field `enviroment`"),
        "{}",
        d.message
    );
    assert_eq!(d.help.as_deref(), Some("did you mean `environment`?"));
}

#[test]
fn wrong_type_names_the_key_and_what_was_expected() {
    let d = diag("[project]\nname = \"churn\"\n[cluster]\nnum_workers = \"two\"\n");
    assert_eq!(line_col(&d), (4, 15));
    assert_eq!(d.key.as_deref(), Some("cluster.num_workers"));
    assert!(
        d.message.contains("invalid type: string \"two\""),
        "{}",
        d.message
    );
    assert!(
        d.message.contains("expected a whole number"),
        "{}",
        d.message
    );
}

#[test]
fn wrong_enum_value_suggests_the_closest() {
    let d = diag("[project]\nname = \"x\"\n[targets.dev]\nkind = \"databrick\"\n");
    assert_eq!(d.key.as_deref(), Some("targets.dev.kind"));
    assert_eq!(line_col(&d), (4, 8));
    assert_eq!(d.help.as_deref(), Some("did you mean `databricks`?"));
}

#[test]
fn unknown_placeholder_points_at_it_and_lists_valid_ones() {
    let d = diag(
        "[project]\nname = \"x\"\n[targets.dev]\nkind = \"databricks\"\nartifacts = \"dbfs:/w\"\nexperiment = \"/Shared/{projct}/{branch}\"\n",
    );
    assert_eq!(d.key.as_deref(), Some("targets.dev.experiment"));
    assert_eq!(line_col(&d), (6, 23));
    assert_eq!(d.message, "unknown placeholder `{projct}`");
    let help = d.help.unwrap();
    assert!(help.starts_with("did you mean `project`?"), "{help}");
    assert!(help.contains("{commit}"), "{help}");
}

#[test]
fn unknown_target_suggests_the_closest() {
    let m = parse_str(
        "[project]\nname = \"x\"\n[targets.dev]\nkind = \"databricks\"\nartifacts = \"dbfs:/w\"\n",
    )
    .unwrap();
    let err = m.target(Some("dve")).unwrap_err();
    assert_eq!(err.exit_code(), 2);
    assert!(err.message().contains("unknown target `dve`"));
    assert!(err.message().contains("/proj/mlops.toml"));
    assert_eq!(err.help(), Some("did you mean `dev`?"));
}

#[test]
fn duplicate_wheel_path_points_at_the_second() {
    let d = diag(
        "[project]\nname = \"x\"\n[[wheel]]\npath = \"python/a\"\n[[wheel]]\npath = \"./python/a/\"\n",
    );
    assert_eq!(line_col(&d), (6, 8));
    assert_eq!(d.key.as_deref(), Some("wheel[1].path"));
    assert!(d.message.contains("duplicate wheel path"), "{}", d.message);
    assert!(d.message.contains("`wheel[0]`"), "{}", d.message);
}

#[test]
fn missing_project_table_says_how_to_add_it() {
    let d = diag("[[wheel]]\npath = \"a\"\n");
    assert_eq!(line_col(&d), (1, 1));
    assert_eq!(d.message, "missing `[project]` table");
    assert!(d.help.unwrap().contains("[project]\n    name ="));
}

#[test]
fn databricks_experiment_must_be_an_absolute_workspace_path() {
    let d = diag(
        "[project]\nname = \"x\"\n[targets.dev]\nkind = \"databricks\"\nartifacts = \"dbfs:/w\"\nexperiment = \"{project}/{branch}\"\n",
    );
    assert_eq!(d.key.as_deref(), Some("targets.dev.experiment"));
    assert_eq!(line_col(&d), (6, 14));
    assert!(
        d.message.contains("not an absolute workspace path"),
        "{}",
        d.message
    );
    assert!(d.help.unwrap().contains("/Shared/{project}/{branch}"));
}

#[test]
fn local_experiment_may_be_relative() {
    parse_str("[project]\nname = \"x\"\n[targets.mine]\nkind = \"local\"\nexperiment = \"{project}-{branch}\"\n")
        .unwrap();
}

#[test]
fn databricks_target_needs_artifacts_in_a_volume_or_dbfs() {
    let d = diag("[project]\nname = \"x\"\n[targets.dev]\nkind = \"databricks\"\n");
    assert_eq!(d.key.as_deref(), Some("targets.dev.artifacts"));
    assert!(d.help.unwrap().contains("/Volumes/"));
    let d = diag(
        "[project]\nname = \"x\"\n[targets.dev]\nkind = \"databricks\"\nartifacts = \"/Volumes/main\"\n",
    );
    assert!(
        d.message.contains("does not name a volume"),
        "{}",
        d.message
    );
    let d = diag(
        "[project]\nname = \"x\"\n[targets.dev]\nkind = \"databricks\"\nartifacts = \"s3://b\"\n",
    );
    assert!(d.message.contains("neither"), "{}", d.message);
}

#[test]
fn local_target_rejects_databricks_keys() {
    let d =
        diag("[project]\nname = \"x\"\n[targets.mine]\nkind = \"local\"\nhost = \"https://x\"\n");
    assert_eq!(d.key.as_deref(), Some("targets.mine.host"));
    assert!(d.message.contains("only applies to databricks targets"));
}

#[test]
fn the_local_target_cannot_be_remote() {
    let d = diag(
        "[project]\nname = \"x\"\n[targets.local]\nkind = \"databricks\"\nartifacts = \"dbfs:/w\"\n",
    );
    assert_eq!(d.key.as_deref(), Some("targets.local.kind"));
}

#[test]
fn parameter_defaults_are_type_checked() {
    let d = diag(
        "[project]\nname = \"x\"\n[entry_points.train]\ncommand = \"python t.py {alpha}\"\nparameters.alpha = { type = \"float\", default = \"high\" }\n",
    );
    assert_eq!(
        d.key.as_deref(),
        Some("entry_points.train.parameters.alpha.default")
    );
    assert!(d.message.contains("the string \"high\""), "{}", d.message);
    assert!(d.message.contains("`float`"), "{}", d.message);
}

#[test]
fn command_placeholders_must_be_parameters() {
    let d = diag(
        "[project]\nname = \"x\"\n[entry_points.train]\ncommand = \"python t.py {alhpa} {{literal}}\"\nparameters.alpha = { type = \"float\" }\n",
    );
    assert_eq!(d.key.as_deref(), Some("entry_points.train.command"));
    assert_eq!(line_col(&d), (4, 24));
    assert!(d.help.unwrap().starts_with("did you mean `alpha`?"));
}

#[test]
fn syntax_errors_point_at_the_place() {
    let d = diag("[project]\nname = \"x\n");
    assert_eq!(d.line, 2);
    assert!(d.help.unwrap().contains("TOML syntax"));
}

#[test]
fn num_workers_and_autoscale_are_exclusive() {
    let d = diag(
        "[project]\nname = \"x\"\n[cluster]\nnum_workers = 2\nautoscale = { min_workers = 1, max_workers = 3 }\n",
    );
    assert_eq!(d.key.as_deref(), Some("cluster.num_workers"));
}

#[test]
fn invalid_names_are_rejected() {
    let d = diag("[project]\nname = \"my project\"\n");
    assert_eq!(d.key.as_deref(), Some("project.name"));
    let d = diag("[project]\nname = \"x\"\n[targets.\"a/b\"]\nkind = \"local\"\n");
    assert_eq!(d.key.as_deref(), Some("targets.a/b"));
}

#[test]
fn diagnostics_show_the_line() {
    let d = diag("[project]\nname = \"churn\"\n[cluster]\nnum_workers = \"two\"\n");
    assert_eq!(
        d.snippet().unwrap(),
        "  |\n4 | num_workers = \"two\"\n  |               ^^^^^"
    );
}

#[test]
fn the_committed_schema_is_fresh() {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("mlops.schema.json");
    let fresh = serde_json::to_string_pretty(&schema()).unwrap() + "\n";
    if std::env::var_os("MLOPS_UPDATE_SCHEMA").is_some() {
        fs_err::write(&path, &fresh).unwrap();
    }
    let committed = fs_err::read_to_string(&path).unwrap_or_default();
    assert!(
        committed == fresh,
        "mlops.schema.json is stale: run `MLOPS_UPDATE_SCHEMA=1 cargo test --lib the_committed_schema_is_fresh` and commit it"
    );
    // Unknown keys are refused by the schema too.
    assert_eq!(schema()["additionalProperties"], false);
    assert!(schema()["properties"]["targets"].is_object());
}
