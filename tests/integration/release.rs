//! `release` and `promote` on the local target, against the local store's real MLflow
//! registry: gates, must_beat both ways, idempotent re-release, the branch guard, dry runs,
//! promoting an alias and copying a version into another target's model.

use serde_json::Value;

use crate::support::{Project, Run, assert_has, local_store, python_json, test_python};

const TRAIN: &str = r#"import argparse

import mlflow
import mlflow.pyfunc

parser = argparse.ArgumentParser()
parser.add_argument("--alpha", type=float)
parser.add_argument("--epochs", type=int)
args = parser.parse_args()


class Echo(mlflow.pyfunc.PythonModel):
    def predict(self, context, model_input):
        return model_input


mlflow.log_metric("accuracy", args.alpha)
mlflow.pyfunc.log_model(name="model", python_model=Echo(), pip_requirements=["mlflow"])
"#;

pub(crate) fn project() -> Project {
    let p = Project::git();
    p.mlops(&["init", "--name", "rel"]).success();
    let manifest = p.read("mlops.toml")
        + r#"
[release]
model = "rel-model"
entry = "train"
gates = { accuracy = ">= 0.5" }
must_beat = { alias = "champion", metric = "accuracy" }

[targets.local]
kind = "local"
release_branches = ["main", "release/*"]

[targets.prod]
kind = "local"
model = "rel-prod"
release_branches = ["main"]
"#;
    p.file("mlops.toml", &manifest)
        .file("mlproject/train.py", TRAIN);
    p.git_cmd(&["add", "-A"]);
    p.git_cmd(&["commit", "-qm", "release"]);
    p
}

pub(crate) fn run(p: &Project, alpha: &str) -> String {
    run_with(p, alpha, &[])
}

/// A train run with `accuracy = alpha`, with extra environment variables; its MLflow run id.
pub(crate) fn run_with(p: &Project, alpha: &str, env: &[(&str, &str)]) -> String {
    let python = test_python();
    let out = p.mlops_shared_target(
        &[
            "run",
            "--python",
            python.to_str().unwrap(),
            "--entry",
            "train",
            "-P",
            &format!("alpha={alpha}"),
            "--json",
        ],
        env,
    );
    out.success();
    out.json()["mlflow_run_id"].as_str().unwrap().to_string()
}

fn release(p: &Project, extra: &[&str]) -> Run {
    let mut args = vec!["release", "--json"];
    args.extend_from_slice(extra);
    p.mlops(&args)
}

/// The registry as MLflow's own client reads it: each version's run and tags, and aliases.
fn registry(p: &Project, model: &str) -> Value {
    python_json(
        "import json, sys\nfrom mlflow.tracking import MlflowClient\nc = MlflowClient(sys.argv[1])\nvs = c.search_model_versions(\"name='%s'\" % sys.argv[2])\nm = c.get_registered_model(sys.argv[2]) if vs else None\nprint(json.dumps({'versions': {str(v.version): {'run_id': v.run_id, 'tags': v.tags} for v in vs}, 'aliases': {k: str(v) for k, v in (m.aliases if m else {}).items()}}))",
        &[&local_store(p), model],
    )
}

/// The newest local environment's interpreter replaced by a shell script (`$0` is its path;
/// the interpreter is at `$0.kept`) while this lives.
pub(crate) struct Interposed {
    python: std::path::PathBuf,
}

impl Interposed {
    pub(crate) fn new(p: &Project, script: &str) -> Interposed {
        use std::os::unix::fs::PermissionsExt;
        let python = std::fs::read_dir(p.path().join(".mlops/envs"))
            .unwrap()
            .map(|e| e.unwrap().path().join("bin/python"))
            .find(|p| p.exists())
            .unwrap();
        std::fs::rename(&python, python.with_file_name("python.kept")).unwrap();
        std::fs::write(&python, format!("#!/bin/sh\n{script}\n")).unwrap();
        std::fs::set_permissions(&python, std::fs::Permissions::from_mode(0o755)).unwrap();
        Interposed { python }
    }

    /// How many times the interpreter was started (for a script that logs its starts).
    pub(crate) fn starts(&self) -> usize {
        std::fs::read_to_string(self.python.with_file_name("python.log"))
            .unwrap_or_default()
            .lines()
            .count()
    }
}

impl Drop for Interposed {
    fn drop(&mut self) {
        let _ = std::fs::remove_file(&self.python);
        let _ = std::fs::remove_file(self.python.with_file_name("python.log"));
        let _ = std::fs::rename(self.python.with_file_name("python.kept"), &self.python);
    }
}

#[test]
fn releases_pass_gates_beat_the_champion_and_are_idempotent() {
    let p = project();
    let weak = run(&p, "0.3");
    let failed = release(&p, &[]);
    failed.code(1);
    let r = failed.json();
    assert_eq!(r["run_id"], weak.as_str());
    assert_eq!(r["passed"], false);
    assert_eq!(r["gates"][0]["metric"], "accuracy");
    assert_eq!(r["gates"][0]["passed"], false);
    assert_has(
        &failed.stderr,
        &["did not pass the release checks: nothing was registered"],
    );
    assert_eq!(registry(&p, "rel-model")["versions"], serde_json::json!({}));
    let text = p.mlops(&["release"]);
    assert_has(&text.stdout, &["accuracy", "0.3", ">= 0.5", "FAIL"]);

    let good = run(&p, "0.7");
    let dry = release(&p, &["--dry-run"]);
    dry.success();
    assert_eq!(dry.json()["passed"], true);
    assert_eq!(dry.json()["version"], Value::Null);
    assert_eq!(
        registry(&p, "rel-model")["versions"],
        serde_json::json!({}),
        "a dry run registered"
    );

    let gh = tempfile::tempdir().unwrap();
    let outputs = gh.path().join("out");
    let first = p.mlops_in(
        ".",
        &["release", "--json"],
        &[
            ("GITHUB_ACTIONS", "true"),
            ("GITHUB_OUTPUT", outputs.to_str().unwrap()),
        ],
    );
    first.success();
    assert_eq!(first.json()["version"], "1");
    assert_eq!(first.json()["registered"], true);
    assert_eq!(first.json()["alias"], "challenger");
    assert_has(
        &std::fs::read_to_string(&outputs).unwrap(),
        &["model=rel-model", "model_version=1", "alias=challenger"],
    );
    let reg = registry(&p, "rel-model");
    assert_eq!(reg["versions"]["1"]["run_id"], good.as_str());
    assert_eq!(reg["aliases"]["challenger"], "1");
    let tags = &reg["versions"]["1"]["tags"];
    assert_eq!(tags["mlops.run_id"], good.as_str());
    assert_eq!(tags["mlops.branch"], "main");
    assert_eq!(tags["mlops.target"], "local");
    assert_eq!(tags["mlops.commit"].as_str().unwrap().len(), 40);
    assert!(
        tags["mlops.deploy_record"]
            .as_str()
            .unwrap()
            .contains("/deploys/")
    );

    // Again: the same version, nothing registered, and no Python started for it: the store is
    // read directly (the environment's interpreter fails while these run).
    let (again, dry_again, listed) = {
        let _broken = Interposed::new(&p, "echo 'no Python should start' >&2\nexit 97");
        (
            release(&p, &[]),
            release(&p, &["--dry-run"]),
            p.mlops(&["runs", "--json"]),
        )
    };
    again.success();
    dry_again.success();
    assert_eq!(dry_again.json()["version"], "1");
    assert_eq!(listed.json()["runs"][0]["run_id"], good.as_str());
    let table = crate::json_shapes::documented();
    crate::json_shapes::assert_documented(&table, "release", &again);
    assert_eq!(again.json()["version"], "1");
    assert_eq!(again.json()["registered"], false);
    assert_eq!(
        registry(&p, "rel-model")["versions"]
            .as_object()
            .unwrap()
            .len(),
        1
    );

    // Promote the challenger; a weaker run cannot beat the champion, a stronger one can.
    p.mlops(&["promote", "--alias", "champion", "--from", "challenger"])
        .success();
    assert_eq!(registry(&p, "rel-model")["aliases"]["champion"], "1");
    run(&p, "0.6");
    let beaten = release(&p, &[]);
    beaten.code(1);
    assert_eq!(beaten.json()["must_beat"]["version"], "1");
    assert_eq!(beaten.json()["must_beat"]["passed"], false);
    assert_eq!(beaten.json()["gates"][0]["passed"], true);
    let strong = run(&p, "0.9");
    // A release that registers starts one Python process, whatever its steps (the lookups
    // read the store); so does a promote.
    let counted = Interposed::new(&p, "echo started >> \"$0.log\"\nexec \"$0.kept\" \"$@\"");
    let better = release(&p, &[]);
    assert_eq!(
        counted.starts(),
        1,
        "Python processes for a release that registers"
    );
    better.success();
    assert_eq!(better.json()["must_beat"]["passed"], true);
    assert_eq!(better.json()["version"], "2");
    let reg = registry(&p, "rel-model");
    assert_eq!(reg["versions"]["2"]["run_id"], strong.as_str());
    assert_eq!(reg["aliases"]["challenger"], "2");
    assert_eq!(reg["aliases"]["champion"], "1");
    p.mlops(&["promote", "--alias", "staging", "--from", "challenger"])
        .success();
    assert_eq!(counted.starts(), 2, "Python processes for a promote");
    drop(counted);

    // Into another target's model, keeping the lineage.
    let copied = p.mlops(&[
        "promote",
        "--alias",
        "champion",
        "--version",
        "2",
        "--to-target",
        "prod",
        "--json",
    ]);
    copied.success();
    crate::json_shapes::assert_documented(&table, "promote", &copied);
    assert_eq!(copied.json()["model"], "rel-prod");
    let prod = registry(&p, "rel-prod");
    let version = copied.json()["version"].as_str().unwrap().to_string();
    assert_eq!(prod["aliases"]["champion"], version.as_str());
    assert_eq!(
        prod["versions"][&version]["tags"]["mlops.copied_from"],
        "rel-model/2"
    );
    assert_eq!(
        prod["versions"][&version]["tags"]["mlops.run_id"],
        strong.as_str()
    );

    // A gate on a metric the run never logged is a mistake in the manifest, not a bad model:
    // its own error, naming the closest metric the run has, after the checks table.
    let manifest = p.read("mlops.toml").replace(
        "gates = { accuracy = \">= 0.5\" }",
        "gates = { acuracy = \">= 0.5\" }",
    );
    p.file("mlops.toml", &manifest);
    let typo = p.mlops(&["release"]);
    typo.code(2);
    assert_has(&typo.stdout, &["acuracy", "no such metric"]);
    assert_has(
        &typo.stderr,
        &[
            "has no metric `acuracy` (named by [release] gates)",
            "did you mean `accuracy`?",
            "nothing was registered",
        ],
    );
    assert!(!typo.stderr.contains("improve the run"), "{}", typo.stderr);
    let json = p.mlops(&["release", "--json"]);
    json.code(2);
    assert_eq!(json.json()["missing"][0]["metric"], "acuracy");
    assert_eq!(json.json()["missing"][0]["closest"][0], "accuracy");
}

#[test]
fn only_release_branches_release_and_bad_settings_are_manifest_errors() {
    let p = project();
    p.git_cmd(&["switch", "-q", "-c", "feature/x"]);
    let refused = p.mlops(&["release"]);
    refused.code(2);
    assert_has(
        &refused.stderr,
        &[
            "branch `feature/x` may not release to target `local`",
            "`main`, `release/*`",
        ],
    );
    let refused = p.mlops(&["promote", "--alias", "champion", "--version", "1"]);
    refused.code(2);
    assert_has(&refused.stderr, &["may not promote"]);
    // A matching pattern passes the guard (and then finds nothing to release).
    p.git_cmd(&["switch", "-q", "-c", "release/1.0"]);
    let allowed = p.mlops(&["release"]);
    allowed.code(2);
    assert!(
        !allowed.stderr.contains("may not release"),
        "{}",
        allowed.stderr
    );
    // Into prod only from main.
    let to_prod = p.mlops(&[
        "promote",
        "--alias",
        "champion",
        "--version",
        "1",
        "--to-target",
        "prod",
    ]);
    to_prod.code(2);
    assert_has(&to_prod.stderr, &["may not promote to target `prod`"]);

    let bad_gate = p
        .read("mlops.toml")
        .replace("\">= 0.5\"", "\"at least 0.5\"");
    p.file("mlops.toml", &bad_gate);
    let out = p.mlops(&["check"]);
    out.code(2);
    assert_has(
        &out.stderr,
        &[
            "mlops.toml:",
            "gate `accuracy`",
            "does not start with",
            "release.gates.accuracy",
        ],
    );
    let bad_model = bad_gate.replace("\"at least 0.5\"", "\">= 0.5\"")
        + "\n[targets.dev]\nkind = \"databricks\"\nartifacts = \"/Volumes/main/ml/artifacts\"\nmodel = \"just-a-name\"\n";
    p.file("mlops.toml", &bad_model);
    let out = p.mlops(&["check"]);
    out.code(2);
    assert_has(
        &out.stderr,
        &[
            "is not a Unity Catalog model name",
            "targets.dev.model",
            "catalog.schema.model",
        ],
    );
    let unknown = bad_gate.replace("entry = \"train\"", "entry = \"train\"\nalais = \"x\"");
    p.file("mlops.toml", &unknown);
    let out = p.mlops(&["check"]);
    out.code(2);
    assert_has(&out.stderr, &["alais", "alias"]);
}

#[test]
fn on_databricks_registering_and_copying_run_as_jobs_in_the_workspace() {
    // The demo's own [release], with Unity Catalog models for a job-cluster target and a
    // serverless one (the fake runs both jobs for real, see `executor.rs`).
    let p = crate::compute::demo_releasing(|manifest| {
        manifest.replace(
            "[targets.serverless]\n",
            "[targets.serverless]\nmodel = \"prod.ml.demo\"\nrelease_branches = [\"main\"]\n",
        )
    });
    let ws = crate::support::fake::FakeWorkspace::start();
    ws.execute_jobs(&test_python());
    let on = |args: &[&str]| crate::compute::on_jobcluster(&p, &ws, args);
    let submits = || {
        ws.log()
            .into_iter()
            .filter(|l| l.path.ends_with("/jobs/runs/submit") && l.status == Some(200))
            .filter_map(|l| l.json)
            .collect::<Vec<Value>>()
    };
    let run = on(&["run", "--entry", "train", "-P", "epochs=30", "--json"]);
    run.success();
    let run_id = run.json()["mlflow_run_id"].as_str().unwrap().to_string();

    let dry = on(&["release", "--dry-run", "--json"]);
    dry.success();
    assert_eq!(dry.json()["passed"], true, "{}", dry.stdout);
    assert_eq!(dry.json()["run_id"], run_id.as_str());
    assert_eq!(dry.json()["version"], Value::Null);
    assert!(ws.with_state(|s| s.models.is_empty()));
    assert_eq!(submits().len(), 1, "a dry run submits nothing");

    // A registry job that fails still shows the checks it passed first: the launcher the job
    // would import (content-addressed by its bytes) is one that fails.
    let launcher_file =
        std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("templates/launcher.py");
    let launcher = std::fs::read(&launcher_file).unwrap();
    let sha = crate::support::sha256_file(&launcher_file);
    let at = format!(
        "/Users/ada@example.com/.cargo-mlops/demo/{}/mlops_launcher.py",
        &sha[..16]
    );
    let put = |bytes: &[u8]| {
        ws.with_state(|s| {
            s.workspace
                .insert(at.clone(), ("FILE".to_string(), bytes.to_vec()))
        })
    };
    put(b"import sys\nprint('registry boom')\nsys.exit(3)\n");
    let failed = on(&["release"]);
    assert_ne!(failed.code, 0, "{}", failed.stderr);
    assert_has(&failed.stdout, &["check", "accuracy", ">= 0.7", "pass"]);
    assert!(ws.with_state(|s| s.models.is_empty()));
    put(&launcher);

    // A new version: a job on the target's compute runs the launcher's registry mode, whose
    // MLflow copies the logged model's files into the version's storage.
    let released = on(&["release", "--json"]);
    released.success();
    assert_eq!(released.json()["version"], "1", "{}", released.stderr);
    assert_eq!(released.json()["registered"], true);
    // MLflow 3 logged the demo's model as a LoggedModel: it is what was registered.
    let model_id = released.json()["model_id"].as_str().unwrap().to_string();
    assert!(model_id.starts_with("m-"), "{model_id}");
    assert_has(
        &released.stderr,
        &["Submitted", "register of main.ml.demo as job run"],
    );
    let job = submits().pop().unwrap();
    let task = &job["tasks"][0];
    let params: Vec<&str> = crate::support::task_params(task);
    assert_eq!(params[0], "--registry");
    assert_eq!(
        &params[2..],
        [
            "--tracking-uri",
            "databricks",
            "--registry-uri",
            "databricks-uc"
        ]
    );
    assert!(task["new_cluster"]["spark_version"].is_string(), "{job:#}");
    assert_eq!(
        task["libraries"],
        serde_json::json!([{ "pypi": { "package": "mlflow" } }])
    );
    let (version, alias) = ws.with_state(|s| {
        let m = &s.models["main.ml.demo"];
        (m.versions[0].clone(), m.aliases.get("challenger").copied())
    });
    assert_eq!(version["run_id"], run_id.as_str());
    assert_eq!(version["source"], format!("models:/{model_id}").as_str());
    assert_eq!(version["status"], "READY");
    assert_eq!(alias, Some(1));
    let tags: Vec<(String, String)> = version["tags"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| {
            (
                t["key"].as_str().unwrap().into(),
                t["value"].as_str().unwrap().into(),
            )
        })
        .collect();
    for key in [
        "mlops.branch",
        "mlops.commit",
        "mlops.run_id",
        "mlops.deploy_record",
    ] {
        assert!(
            tags.iter().any(|(k, _)| k == key),
            "{key} missing from {tags:?}"
        );
    }
    assert!(
        tags.iter().any(|(k, _)| k.starts_with("mlops.wheel.")),
        "{tags:?}"
    );
    let mlmodel = ws
        .volume_file("/Models/main/ml/demo/1/MLmodel")
        .expect("the version's files are in its storage");
    assert!(String::from_utf8_lossy(&mlmodel).contains("signature:"));

    // Released again: that version, nothing registered, no job.
    let again = on(&["release", "--json"]);
    again.success();
    assert_eq!(again.json()["version"], "1");
    assert_eq!(again.json()["registered"], false);
    assert_eq!(submits().len(), 3); // the run, the failed registry job, this one

    on(&["promote", "--alias", "champion", "--from", "challenger"]).success();
    assert_eq!(
        ws.with_state(|s| s.models["main.ml.demo"].aliases.get("champion").copied()),
        Some(1)
    );
    assert_eq!(submits().len(), 3, "moving an alias is one REST call");
    // The champion's metrics come from its run: the same run beats itself trivially.
    let beat = on(&["release", "--json"]);
    beat.success();
    assert_eq!(beat.json()["must_beat"]["version"], "1");
    assert_eq!(beat.json()["must_beat"]["passed"], true);
    // A champion whose run cannot be read (a 403 on another team's experiment) is never
    // counted as beaten: the release fails, saying why, and no alias moves.
    ws.set_faults(crate::support::fake::Faults {
        denied: 1.0,
        only: "/mlflow/runs/get".into(),
        ..Default::default()
    });
    let unread = on(&["release", "--json"]);
    ws.set_faults(crate::support::fake::Faults::default());
    unread.code(3);
    assert_has(
        &unread.stderr,
        &[
            "could not read the metrics of run",
            "PERMISSION_DENIED",
            "CAN READ",
        ],
    );
    // A registry that answers an alias change as done and keeps nothing is caught by reading
    // the alias back (databricks/cli#4012's failure): exit 1, saying what it reads.
    ws.with_state(|s| s.drop_aliases = true);
    let dropped = on(&["promote", "--alias", "staging", "--version", "1"]);
    ws.with_state(|s| s.drop_aliases = false);
    dropped.code(1);
    assert_has(
        &dropped.stderr,
        &[
            "alias `staging` of model `main.ml.demo` was set to version 1, but the registry reads no version",
            "promote --alias staging --version 1",
        ],
    );
    let missing = on(&["promote", "--alias", "champion", "--version", "7"]);
    missing.code(2);
    assert_has(&missing.stderr, &["has no version 7"]);

    // Into the other target's catalog: a copy job on that target's serverless compute.
    let copied = on(&[
        "promote",
        "--alias",
        "champion",
        "--from",
        "champion",
        "--to-target",
        "serverless",
        "--json",
    ]);
    copied.success();
    assert_eq!(copied.json()["model"], "prod.ml.demo", "{}", copied.stderr);
    assert_eq!(copied.json()["version"], "1");
    let job = submits().pop().unwrap();
    assert_eq!(job["tasks"][0]["environment_key"], "default", "{job:#}");
    assert_eq!(
        job["environments"][0]["spec"]["dependencies"],
        serde_json::json!(["mlflow"])
    );
    let (copy, champion) = ws.with_state(|s| {
        let m = &s.models["prod.ml.demo"];
        (m.versions[0].clone(), m.aliases.get("champion").copied())
    });
    assert_eq!(champion, Some(1));
    assert_eq!(copy["run_id"], run_id.as_str());
    let copy_tags = copy["tags"].to_string();
    assert!(copy_tags.contains("main.ml.demo/1"), "{copy_tags}");
    assert!(
        copy_tags.contains("mlops.deploy_record"),
        "lineage kept: {copy_tags}"
    );
    assert!(ws.volume_file("/Models/prod/ml/demo/1/MLmodel").is_some());

    // Into a model that exists already: Unity Catalog answers the create with ALREADY_EXISTS
    // (409), which is no failure.
    let again = on(&[
        "promote",
        "--alias",
        "champion",
        "--version",
        "1",
        "--to-target",
        "serverless",
        "--json",
    ]);
    again.success();
    assert_eq!(again.json()["version"], "2", "{}", again.stderr);
    assert!(
        ws.log()
            .iter()
            .any(|l| l.path.ends_with("/registered-models/create") && l.status == Some(409))
    );
}

#[test]
fn registry_errors_are_one_plain_line_with_the_fix_and_leave_nothing_behind() {
    let p = project();
    // The entry point logs its model under another name than `[release] artifact_path`.
    p.file(
        "mlproject/train.py",
        &TRAIN.replace("log_model(name=\"model\"", "log_model(name=\"clf\""),
    );
    p.git_cmd(&["commit", "-qam", "clf"]);
    run(&p, "0.9");
    let failed = p.mlops(&["release"]);
    assert_ne!(failed.code, 0);
    assert_has(
        &failed.stderr,
        &[
            "has no model at `model`: it logged models named `clf`",
            "artifact_path = \"clf\"",
        ],
    );
    assert!(!failed.stderr.contains("Traceback"), "{}", failed.stderr);
    // No empty registered model is left behind.
    let models = python_json(
        "import json, sys\nfrom mlflow.tracking import MlflowClient\nprint(json.dumps([m.name for m in MlflowClient(sys.argv[1]).search_registered_models()]))",
        &[&local_store(&p)],
    );
    assert_eq!(models, serde_json::json!([]), "debris: {models}");

    // A version that does not exist: one line, no traceback.
    let missing = p.mlops(&["promote", "--alias", "champion", "--version", "99"]);
    assert_ne!(missing.code, 0);
    assert_has(&missing.stderr, &["no version 99"]);
    assert!(!missing.stderr.contains("Traceback"), "{}", missing.stderr);
}

/// MLflow 3: the metrics linked to the model a run logged (`log_metric(..., model_id=)`)
/// are what the gates and `must_beat` read, over the run's own; the version is registered
/// from that LoggedModel and the report names it.
#[test]
fn gates_and_must_beat_read_the_logged_models_metrics() {
    let p = project();
    let train = TRAIN.replace(
        "mlflow.pyfunc.log_model(name=\"model\", python_model=Echo(), pip_requirements=[\"mlflow\"])\n",
        "info = mlflow.pyfunc.log_model(name=\"model\", python_model=Echo(), pip_requirements=[\"mlflow\"])\nimport os\nif os.environ.get(\"MODEL_ACCURACY\"):\n    mlflow.log_metric(\"accuracy\", float(os.environ[\"MODEL_ACCURACY\"]), model_id=info.model_id)\n",
    );
    assert_ne!(train, TRAIN);
    p.file("mlproject/train.py", &train);
    p.git_cmd(&["commit", "-qam", "model metrics"]);
    // The run says 0.3 (below the 0.5 gate); its model says 0.8.
    run_with(&p, "0.3", &[("MODEL_ACCURACY", "0.8")]);
    let first = release(&p, &[]);
    first.success();
    let j = first.json();
    assert_eq!(j["passed"], true, "{}", first.stdout);
    assert_eq!(j["gates"][0]["value"], 0.8);
    let model_id = j["model_id"].as_str().expect("the model's id").to_string();
    assert!(model_id.starts_with("m-"), "{model_id}");
    let source = python_json(
        "import json, sys\nfrom mlflow.tracking import MlflowClient\nv = MlflowClient(sys.argv[1]).get_model_version(sys.argv[2], '1')\nprint(json.dumps(v.source))",
        &[&local_store(&p), "rel-model"],
    );
    assert_eq!(source, Value::from(format!("models:/{model_id}")));
    p.mlops(&["promote", "--alias", "champion", "--version", "1"])
        .success();

    // The champion is read the same way: its model's 0.8, not its run's 0.3, is what a run
    // of 0.7 must beat.
    run(&p, "0.7");
    let second = release(&p, &[]);
    second.code(1);
    let beat = &second.json()["must_beat"];
    assert_eq!(beat["theirs"], 0.8, "{beat}");
    assert_eq!(beat["passed"], false);
}
