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
        // As the local target gives it: MLflow 2.x's SQL store would otherwise put the
        // experiment's artifacts under `./mlruns` of the run's working folder, which the
        // launcher removes after the run.
        let artifacts = self.dir.path().join("artifacts");
        let spec = json!({
            "experiment": experiment,
            "artifact_location": (self.registry.is_none()).then(|| format!("file://{}", artifacts.display())),
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

    /// Registry operations in order, in one interpreter (MLflow imported once): the
    /// launcher's own `registry_op`, loaded from its file. Each answer, or what the operation
    /// raised and said on stderr.
    fn registry(&self, python: &Path, ops: &[Value]) -> Vec<Result<Value, String>> {
        let base = self.command(python);
        let mut cmd = Command::new(python);
        cmd.current_dir(self.dir.path());
        for (k, v) in base.get_envs() {
            match v {
                Some(v) => cmd.env(k, v),
                None => cmd.env_remove(k),
            };
        }
        cmd.env("MLFLOW_TRACKING_URI", &self.tracking);
        if let Some(uri) = self.registry {
            cmd.env("MLFLOW_REGISTRY_URI", uri);
        }
        let out = cmd
            .args(["-c", DRIVER])
            .arg(launcher())
            .arg(Value::from(ops.to_vec()).to_string())
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        let answers: Vec<Value> = serde_json::from_slice(&out.stdout).unwrap();
        answers
            .into_iter()
            .map(|a| match a.get("ok") {
                Some(ok) => Ok(ok.clone()),
                None => Err(a["error"].as_str().unwrap_or_default().to_string()),
            })
            .collect()
    }

    /// [`Place::registry`], every operation expected to succeed.
    fn ok(&self, major: &str, python: &Path, ops: &[Value]) -> Vec<Value> {
        self.registry(python, ops)
            .into_iter()
            .zip(ops)
            .map(|(r, op)| {
                r.unwrap_or_else(|e| panic!("MLflow {major}: `{}` failed:\n{e}", op["op"]))
            })
            .collect()
    }
}

/// Runs registry operations with the launcher's `registry_op` in one interpreter; prints each
/// answer, or what it raised with what it said on stderr (the release checks say why, then
/// raise SystemExit).
const DRIVER: &str = r#"
import io, json, runpy, sys
launcher = runpy.run_path(sys.argv[1], run_name="cargo_mlops_launcher")
answers = []
for op in json.loads(sys.argv[2]):
    said, err = io.StringIO(), sys.stderr
    sys.stderr = said
    try:
        answers.append({"ok": launcher["registry_op"](op)})
    except BaseException as e:
        answers.append({"error": "%s: %s\n%s" % (type(e).__name__, e, said.getvalue())})
    finally:
        sys.stderr = err
print(json.dumps(answers))
"#;

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
        // A job's train task three times: the first, a better one, a worse one.
        let run = place.train(&python, "majors", "77", "0.9");
        let better = place.train(&python, "majors", "78", "0.95");
        place.train(&python, "majors", "79", "0.7");
        let ops = [
            json!({"op": "register", "model": "m", "run_id": run, "artifact_path": "model",
                   "tags": {"mlops.branch": "main"}, "alias": "champion"}),
            // Again: the run's version is found (of_run), nothing new is made.
            json!({"op": "register", "model": "m", "run_id": run, "artifact_path": "model",
                   "tags": {}, "alias": "challenger"}),
            json!({"op": "find", "model": "m", "run_id": run}),
            json!({"op": "alias", "model": "m", "alias": "challenger"}),
            json!({"op": "alias", "model": "m", "alias": "nobody"}),
            json!({"op": "get", "model": "m", "version": "1"}),
            json!({"op": "get", "model": "m", "version": "9"}),
            json!({"op": "set_alias", "model": "m", "alias": "staging", "version": "1"}),
            // promote: a copy into another model (MLflow 2.x has no `model_id` keyword).
            json!({"op": "copy", "from_model": "m", "version": "1", "model": "m-prod",
                   "tags": {"mlops.promoted_from": "m/1"}, "alias": "champion"}),
            // A job's release task: a better run passes the gate and beats the champion...
            release_op("m", "majors", "78", "champion"),
            // ...and a worse one is refused, registering nothing.
            release_op("m", "majors", "79", "champion"),
            json!({"op": "alias", "model": "m", "alias": "champion"}),
        ];
        let got = place.registry(&python, &ops);
        let ok = |i: usize| -> &Value {
            got[i]
                .as_ref()
                .unwrap_or_else(|e| panic!("MLflow {major}: `{}` failed:\n{e}", ops[i]["op"]))
        };
        assert_eq!(ok(0)["registered"], true, "{major}: {:?}", got[0]);
        assert_eq!(ok(0)["version"], "1");
        assert_eq!(ok(0)["tags"]["mlops.branch"], "main");
        assert_eq!(ok(0)["metrics"]["accuracy"], 0.9);
        assert_eq!(ok(1)["registered"], false, "{major}");
        assert_eq!(ok(1)["version"], "1");
        assert_eq!(ok(2)["found"]["version"], "1", "{major}");
        assert_eq!(ok(3)["found"]["version"], "1", "{major}");
        assert_eq!(ok(4)["found"], Value::Null, "{major}");
        assert_eq!(ok(5)["found"]["version"], "1", "{major}");
        assert_eq!(ok(6)["found"], Value::Null, "{major}");
        assert_eq!(ok(7)["found"]["version"], "1");
        let copied = &ok(8)["found"];
        assert_eq!(copied["version"], "1", "{major}: {copied}");
        assert_eq!(copied["run_id"], run.as_str());
        assert_eq!(copied["tags"]["mlops.promoted_from"], "m/1");
        assert_eq!(copied["tags"]["mlops.branch"], "main", "the source's tags");
        assert_eq!(ok(9)["registered"], true, "{major}");
        assert_eq!(ok(9)["version"], "2");
        assert_eq!(ok(9)["run_id"], better.as_str());
        let refused = got[10].as_ref().expect_err("a worse run must not release");
        assert!(
            refused.contains("does not beat `champion`'s 0.95"),
            "{major}: {refused}"
        );
        assert_eq!(ok(11)["found"]["version"], "2", "{major}");
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
        &[
            json!({"op": "register", "model": model, "run_id": run, "artifact_path": "model",
                 "tags": {"mlops.branch": "main"}, "alias": "champion"}),
        ],
    );
    assert_eq!(first[0]["registered"], true, "{first:?}");

    for (major, python) in majors() {
        let copy_to = format!("main.mlops.majors_prod_{}", &major[..1]);
        let got = place.ok(
            major,
            &python,
            &[
                // of_run meets a `ModelVersionSearch` (its tags raise) and reads the version.
                json!({"op": "find", "model": model, "run_id": run}),
                // A release task repaired or re-run after it registered: nothing new.
                release_op(model, "/Shared/majors", "77", "champion"),
                json!({"op": "alias", "model": model, "alias": "champion"}),
                json!({"op": "alias", "model": model, "alias": "nobody"}),
                json!({"op": "copy", "from_model": model, "version": "1", "model": copy_to,
                       "tags": {"mlops.promoted_from": format!("{model}/1")}, "alias": "champion"}),
            ],
        );
        assert_eq!(got[0]["found"]["version"], "1", "{major}: {got:?}");
        assert_eq!(got[0]["found"]["tags"]["mlops.branch"], "main", "{major}");
        assert_eq!(got[1]["registered"], false, "{major}: {:?}", got[1]);
        assert_eq!(got[1]["version"], "1");
        assert_eq!(got[2]["found"]["version"], "1", "{major}");
        assert_eq!(got[3]["found"], Value::Null, "{major}");
        assert_eq!(got[4]["found"]["version"], "1", "{major}: {:?}", got[4]);
        assert_eq!(got[4]["found"]["run_id"], run.as_str());
    }
}
