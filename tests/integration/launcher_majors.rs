//! The launcher under both MLflow majors users run: the latest 2.x (2.22) and the current 3.x.
//! Its run mode and every registry mode (register, find = `of_run`, alias, get, set_alias,
//! copy = promote, a job's release) run for real: on a local SQLite store, the whole chain
//! under each major; against the fake workspace's Unity Catalog registry, on a version that
//! exists, whose search answers MLflow's UC client turns into `ModelVersionSearch` objects
//! (their `tags` raise), as a repaired or re-run release task meets them.

use std::path::{Path, PathBuf};
use std::process::Command;

use serde_json::{Value, json};

use crate::support::fake::FakeWorkspace;
use crate::support::{mlflow2_python, test_python};

/// An entry point that logs `accuracy` (its argument) and a pyfunc model under `model`.
const TRAIN: &str = r#"
import sys
import mlflow
import mlflow.pyfunc
from mlflow.models import ModelSignature
from mlflow.types import ColSpec, Schema


class Echo(mlflow.pyfunc.PythonModel):
    def predict(self, context, model_input):
        return model_input


# Unity Catalog takes only models with a signature.
columns = Schema([ColSpec("double", "x")])
logged = dict(python_model=Echo(), pip_requirements=["mlflow"], signature=ModelSignature(columns, columns))
mlflow.log_metric("accuracy", float(sys.argv[1]))
if mlflow.__version__.startswith("2."):
    mlflow.pyfunc.log_model("model", **logged)
else:
    mlflow.pyfunc.log_model(name="model", **logged)
print("trained under MLflow " + mlflow.__version__)
"#;

fn majors() -> [(&'static str, PathBuf); 2] {
    [("3.x", test_python()), ("2.x", mlflow2_python())]
}

fn launcher() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("templates/launcher.py")
}

/// Where a major's runs are made: the tarball of a one-file project, and the environment.
struct Place {
    dir: tempfile::TempDir,
    env: Vec<(&'static str, String)>,
    tracking: String,
    registry: Option<&'static str>,
}

impl Place {
    fn new(
        env: Vec<(&'static str, String)>,
        tracking: &str,
        registry: Option<&'static str>,
    ) -> Place {
        let dir = tempfile::tempdir().unwrap();
        let out = Command::new(test_python())
            .args([
                "-c",
                "import io, sys, tarfile\nwith tarfile.open(sys.argv[1], 'w:gz') as t:\n    data = sys.argv[2].encode()\n    info = tarfile.TarInfo('mlflow-project/train.py')\n    info.size = len(data)\n    t.addfile(info, io.BytesIO(data))",
            ])
            .arg(dir.path().join("project.tar.gz"))
            .arg(TRAIN)
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        Place {
            dir,
            env,
            tracking: tracking.to_string(),
            registry,
        }
    }

    fn command(&self, python: &Path) -> Command {
        let mut cmd = Command::new(python);
        cmd.arg(launcher())
            .current_dir(self.dir.path())
            .env("HOME", self.dir.path())
            .env_remove("MLFLOW_RUN_ID")
            .env_remove("MLFLOW_EXPERIMENT_ID")
            .env_remove("MLFLOW_TRACKING_URI")
            .env_remove("MLFLOW_REGISTRY_URI")
            .env_remove("DATABRICKS_HOST")
            .env_remove("DATABRICKS_TOKEN");
        for (k, v) in &self.env {
            cmd.env(k, v);
        }
        cmd
    }

    /// The launcher's run mode with `--new-run`, as a job's train task starts it; the run's id.
    fn train(&self, python: &Path, experiment: &str, job_run: &str, accuracy: &str) -> String {
        let result = self.dir.path().join(format!("run-{job_run}.json"));
        let spec = json!({
            "experiment": experiment,
            "run_name": "train",
            "tags": { "mlops.job_run_id": job_run },
            "params": { "accuracy": accuracy },
        });
        let out = self
            .command(python)
            .args([
                "--tarball",
                "project.tar.gz",
                "--new-run",
                &spec.to_string(),
            ])
            .args(["--tracking-uri", &self.tracking, "--result-file"])
            .arg(&result)
            .args(["--python-file", "train.py", "--", accuracy])
            .output()
            .unwrap();
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(out.status.success(), "{}", stderr);
        let result: Value = serde_json::from_slice(&std::fs::read(&result).unwrap()).unwrap();
        assert_eq!(result["status"], "FINISHED", "{result}");
        assert_eq!(
            result["metrics"]["accuracy"],
            accuracy.parse::<f64>().unwrap()
        );
        result["run_id"].as_str().unwrap().to_string()
    }

    /// One registry operation; its answer, or the launcher's stderr when it failed.
    fn registry(&self, python: &Path, op: Value) -> Result<Value, String> {
        let result = self.dir.path().join("registry.json");
        let _ = std::fs::remove_file(&result);
        let mut cmd = self.command(python);
        cmd.args([
            "--registry",
            &op.to_string(),
            "--tracking-uri",
            &self.tracking,
        ])
        .arg("--result-file")
        .arg(&result);
        if let Some(uri) = self.registry {
            cmd.args(["--registry-uri", uri]);
        }
        let out = cmd.output().unwrap();
        if !out.status.success() {
            return Err(String::from_utf8_lossy(&out.stderr).into_owned());
        }
        Ok(serde_json::from_slice(&std::fs::read(&result).unwrap()).unwrap())
    }

    fn ok(&self, major: &str, python: &Path, op: Value) -> Value {
        let what = op["op"].clone();
        self.registry(python, op)
            .unwrap_or_else(|e| panic!("MLflow {major}: `{what}` failed:\n{e}"))
    }
}

fn release_op(model: &str, experiment: &str, job_run: &str, alias: &str) -> Value {
    json!({
        "op": "release", "model": model, "experiment": experiment,
        "run_tag": { "key": "mlops.job_run_id", "value": job_run },
        "gates": [{ "metric": "accuracy", "op": ">=", "threshold": 0.5 }],
        "must_beat": { "alias": "champion", "metric": "accuracy", "better": "higher" },
        "alias": alias, "artifact_path": "model", "tags": { "mlops.job": "nightly" },
    })
}

#[test]
fn every_launcher_mode_works_under_mlflow_2_and_3_on_a_local_store() {
    for (major, python) in majors() {
        let place = Place::new(Vec::new(), "", None);
        let tracking = format!("sqlite:///{}", place.dir.path().join("mlflow.db").display());
        let place = Place { tracking, ..place };
        let run = place.train(&python, "majors", "77", "0.9");

        let registered = place.ok(
            major,
            &python,
            json!({"op": "register", "model": "m", "run_id": run, "artifact_path": "model",
                   "tags": {"mlops.branch": "main"}, "alias": "champion"}),
        );
        assert_eq!(registered["registered"], true, "{major}: {registered}");
        assert_eq!(registered["version"], "1");
        assert_eq!(registered["tags"]["mlops.branch"], "main");
        assert_eq!(registered["metrics"]["accuracy"], 0.9);
        // Again: the run's version is found (of_run), nothing new is made.
        let again = place.ok(
            major,
            &python,
            json!({"op": "register", "model": "m", "run_id": run, "artifact_path": "model",
                   "tags": {}, "alias": "challenger"}),
        );
        assert_eq!(again["registered"], false, "{major}: {again}");
        assert_eq!(again["version"], "1");

        let found = place.ok(
            major,
            &python,
            json!({"op": "find", "model": "m", "run_id": run}),
        );
        assert_eq!(found["found"]["version"], "1", "{major}");
        for (alias, want) in [("challenger", json!("1")), ("nobody", Value::Null)] {
            let got = place.ok(
                major,
                &python,
                json!({"op": "alias", "model": "m", "alias": alias}),
            );
            assert_eq!(
                got["found"]["version"], want,
                "{major}: alias {alias}: {got}"
            );
        }
        for (version, want) in [("1", json!("1")), ("9", Value::Null)] {
            let got = place.ok(
                major,
                &python,
                json!({"op": "get", "model": "m", "version": version}),
            );
            assert_eq!(got["found"]["version"], want, "{major}: version {version}");
        }
        let moved = place.ok(
            major,
            &python,
            json!({"op": "set_alias", "model": "m", "alias": "staging", "version": "1"}),
        );
        assert_eq!(moved["found"]["version"], "1");

        // promote: a copy into another model (MLflow 2.x has no `model_id` keyword).
        let copied = place.ok(
            major,
            &python,
            json!({"op": "copy", "from_model": "m", "version": "1", "model": "m-prod",
                   "tags": {"mlops.promoted_from": "m/1"}, "alias": "champion"}),
        );
        assert_eq!(copied["found"]["version"], "1", "{major}: {copied}");
        assert_eq!(copied["found"]["run_id"], run.as_str());
        assert_eq!(copied["found"]["tags"]["mlops.promoted_from"], "m/1");
        assert_eq!(
            copied["found"]["tags"]["mlops.branch"], "main",
            "the source's tags"
        );

        // A job's release task: a better run passes the gate and beats the champion.
        let better = place.train(&python, "majors", "78", "0.95");
        let released = place.ok(major, &python, release_op("m", "majors", "78", "champion"));
        assert_eq!(released["registered"], true, "{major}: {released}");
        assert_eq!(released["version"], "2");
        assert_eq!(released["run_id"], better.as_str());
        // A worse one is refused, and registers nothing.
        place.train(&python, "majors", "79", "0.7");
        let refused = place
            .registry(&python, release_op("m", "majors", "79", "champion"))
            .expect_err("a worse run must not release");
        assert!(
            refused.contains("does not beat `champion`'s 0.95"),
            "{major}: {refused}"
        );
        let champion = place.ok(
            major,
            &python,
            json!({"op": "alias", "model": "m", "alias": "champion"}),
        );
        assert_eq!(champion["found"]["version"], "2", "{major}");
    }
}

#[test]
fn registry_modes_read_unity_catalogs_search_answers_under_mlflow_2_and_3() {
    let ws = FakeWorkspace::start();
    let env = vec![
        ("DATABRICKS_HOST", ws.url()),
        ("DATABRICKS_TOKEN", ws.token().to_string()),
        ("DATABRICKS_AUTH_TYPE", "pat".to_string()),
    ];
    let place = Place::new(env, "databricks", Some("databricks-uc"));
    let model = "main.mlops.majors";
    // The run and its first version, made as a job's train and release tasks make them.
    let run = place.train(&test_python(), "/Shared/majors", "77", "0.9");
    let first = place.ok(
        "3.x",
        &test_python(),
        json!({"op": "register", "model": model, "run_id": run, "artifact_path": "model",
               "tags": {"mlops.branch": "main"}, "alias": "champion"}),
    );
    assert_eq!(first["registered"], true, "{first}");

    for (major, python) in majors() {
        // of_run meets a `ModelVersionSearch` (its tags raise) and reads the version itself.
        let found = place.ok(
            major,
            &python,
            json!({"op": "find", "model": model, "run_id": run}),
        );
        assert_eq!(found["found"]["version"], "1", "{major}: {found}");
        assert_eq!(found["found"]["tags"]["mlops.branch"], "main", "{major}");
        // A release task repaired or re-run after it registered: nothing new, no crash.
        let again = place.ok(
            major,
            &python,
            release_op(model, "/Shared/majors", "77", "champion"),
        );
        assert_eq!(again["registered"], false, "{major}: {again}");
        assert_eq!(again["version"], "1");
        for (alias, want) in [("champion", json!("1")), ("nobody", Value::Null)] {
            let got = place.ok(
                major,
                &python,
                json!({"op": "alias", "model": model, "alias": alias}),
            );
            assert_eq!(
                got["found"]["version"], want,
                "{major}: alias {alias}: {got}"
            );
        }
        let copy_to = format!("main.mlops.majors_prod_{}", &major[..1]);
        let copied = place.ok(
            major,
            &python,
            json!({"op": "copy", "from_model": model, "version": "1", "model": copy_to,
                   "tags": {"mlops.promoted_from": format!("{model}/1")}, "alias": "champion"}),
        );
        assert_eq!(copied["found"]["version"], "1", "{major}: {copied}");
        assert_eq!(copied["found"]["run_id"], run.as_str());
    }
}
