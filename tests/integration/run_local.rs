//! `cargo mlops run` on the built-in local target: a real run of the demo, a real MLflow
//! store, an environment made once and reused.

use std::path::Path;
use std::process::Command;

use serde_json::Value;

use crate::support::{Group, Project, Run, assert_has, project_from_fixture, test_python};

fn run_local(p: &Project, args: &[&str], env: &[(&str, &str)]) -> Run {
    let python = test_python();
    let mut all = vec!["run", "--python", python.to_str().unwrap()];
    all.extend_from_slice(args);
    p.mlops_shared_target(&all, env)
}

/// A run as MLflow's own client reads it from `uri`.
fn read_run(uri: &str, run_id: &str) -> Value {
    crate::support::python_json(
        "import json, sys\nfrom mlflow.tracking import MlflowClient\nr = MlflowClient(sys.argv[1]).get_run(sys.argv[2])\ne = MlflowClient(sys.argv[1]).get_experiment(r.info.experiment_id)\nprint(json.dumps({'status': r.info.status, 'params': r.data.params, 'metrics': r.data.metrics, 'experiment': e.name}))",
        &[uri, run_id],
    )
}

#[test]
fn the_demo_runs_end_to_end_and_a_warm_run_rebuilds_nothing() {
    let p = project_from_fixture("demo");
    let first = run_local(&p, &["--entry", "train", "-P", "epochs=50", "--json"], &[]);
    first.success();
    assert_has(
        &first.stderr,
        &["Building", "Creating environment", "accuracy="],
    );
    let report = first.json();
    assert_eq!(report["status"], "FINISHED");
    let uri = format!("sqlite:///{}", p.path().join(".mlops/mlflow.db").display());
    assert_eq!(report["tracking_uri"], uri.as_str());
    let stored = read_run(&uri, report["mlflow_run_id"].as_str().unwrap());
    assert_eq!(stored["status"], "FINISHED");
    assert_eq!(stored["experiment"], "demo/main");
    assert_eq!(stored["params"]["epochs"], "50");
    assert_eq!(stored["params"]["learning_rate"], "0.5");
    let accuracy = stored["metrics"]["accuracy"].as_f64().unwrap();
    assert!(accuracy > 0.7, "the model learned nothing: {accuracy}");
    assert!(stored["metrics"]["log_loss"].as_f64().unwrap() > 0.0);
    assert!(
        report["ui"]
            .as_str()
            .unwrap()
            .contains("-m mlflow ui --backend-store-uri")
    );
    // The wheels went through the local store, in the same layout as remote ones.
    let env = report["environment"].as_str().unwrap();
    assert!(Path::new(env).starts_with(p.path().join(".mlops/envs")));
    assert!(Path::new(env).join(".mlops-env-ready").is_file());

    // The logged model is kept with the local store, not in `./mlruns` of wherever the
    // command ran.
    assert!(!p.path().join("mlruns").exists());
    let kept = walk_names(&p.path().join(".mlops/mlartifacts/main"));
    assert!(kept.iter().any(|n| n == "MLmodel"), "{kept:?}");

    // The README's next step: the demo's [release] registers the model train logged, and
    // MLflow loads it by its alias and scores with it.
    let released = p.mlops(&["release", "--json"]);
    released.success();
    assert_eq!(released.json()["version"], "1", "{}", released.stderr);
    assert_eq!(released.json()["model"], "churn");
    let scored = crate::support::python_json(
        "import json, sys, mlflow, pandas as pd\nmlflow.set_tracking_uri(sys.argv[1])\nm = mlflow.pyfunc.load_model('models:/churn@challenger')\nnames = m.metadata.get_input_schema().input_names()\nprint(json.dumps(list(m.predict(pd.DataFrame([[0.0] * len(names), [1.0] * len(names)], columns=names)))))",
        &[&uri],
    );
    let scores = scored.as_array().unwrap();
    assert_eq!(scores.len(), 2);
    assert!(
        scores
            .iter()
            .all(|s| (0.0..=1.0).contains(&s.as_f64().unwrap())),
        "{scored}"
    );

    let second = run_local(&p, &["--entry", "train", "-P", "epochs=20", "--json"], &[]);
    second.success();
    assert_has(
        &second.stderr,
        &[
            "Fresh demo_features",
            "Fresh demo_fast",
            "Fresh environment",
        ],
    );
    assert!(
        !second.stderr.contains("Building") && !second.stderr.contains("Creating environment"),
        "{}",
        second.stderr
    );
    assert_eq!(second.json()["environment"], report["environment"]);
    let stored = read_run(&uri, second.json()["mlflow_run_id"].as_str().unwrap());
    assert_eq!(stored["params"]["epochs"], "20");
}

#[test]
fn runs_land_in_a_real_mlflow_server() {
    let p = project_from_fixture("demo");
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let store = p.path().join("server.db");
    let mut server = Group::spawn(
        Command::new(test_python())
            .args([
                "-m",
                "mlflow",
                "server",
                "--host",
                "127.0.0.1",
                "--port",
                &port.to_string(),
                "--workers",
                "1",
            ])
            .arg("--backend-store-uri")
            .arg(format!("sqlite:///{}", store.display()))
            .arg("--default-artifact-root")
            .arg(p.path().join("server-artifacts"))
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null())
            // The server's job runner (huey workers) is not needed to track runs.
            .env("MLFLOW_SERVER_ENABLE_JOB_EXECUTION", "false"),
    );
    let url = format!("http://127.0.0.1:{port}");
    let started = std::time::Instant::now();
    while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
        assert!(
            started.elapsed().as_secs() < 90,
            "mlflow server did not start"
        );
        std::thread::sleep(std::time::Duration::from_millis(200));
    }
    let out = run_local(
        &p,
        &["--entry", "train", "-P", "epochs=10", "--json"],
        &[("MLFLOW_TRACKING_URI", url.as_str())],
    );
    let result = std::panic::catch_unwind(|| {
        out.success();
        let report = out.json();
        assert_eq!(report["tracking_uri"], url.as_str());
        let stored = read_run(&url, report["mlflow_run_id"].as_str().unwrap());
        assert_eq!(stored["status"], "FINISHED");
        assert_eq!(stored["params"]["epochs"], "10");
        assert!(stored["metrics"]["accuracy"].as_f64().is_some());
        assert!(
            !p.path().join(".mlops/mlflow.db").exists(),
            "the local store was used instead"
        );
    });
    // The server's workers (uvicorn, huey) end with it: nothing outlives the test.
    server.end();
    assert!(!server.any_alive(), "mlflow server left processes behind");
    if let Err(e) = result {
        std::panic::resume_unwind(e);
    }
}

#[test]
fn a_failing_entry_point_exits_1_and_the_run_is_failed() {
    let p = Project::git();
    p.mlops(&["init", "--name", "failing"]).success();
    let manifest = p.read("mlops.toml")
        + "\n[entry_points.crash]\ncommand = \"python -c 'import sys; sys.exit(3)'\"\n";
    p.file("mlops.toml", &manifest);
    p.git_cmd(&["add", "-A"]);
    p.git_cmd(&["commit", "-qm", "init"]);
    let out = run_local(&p, &["--entry", "crash", "--json"], &[]);
    out.code(1);
    assert_has(&out.stderr, &["the entry point `crash` failed"]);
    let report = out.json();
    assert_eq!(report["status"], "FAILED");
}

#[test]
fn a_failed_environment_is_never_reused() {
    let p = Project::git();
    p.mlops(&["init", "--name", "badenv"]).success();
    let manifest = p.read("mlops.toml").replace(
        "pip = [\"mlflow\"]",
        "pip = [\"mlflow\", \"no-such-package-mlops-test-0x1\"]",
    );
    p.file("mlops.toml", &manifest);
    p.git_cmd(&["add", "-A"]);
    p.git_cmd(&["commit", "-qm", "init"]);
    // Without uv on PATH: `python -m venv` and pip.
    let python_dir = test_python().parent().unwrap().to_path_buf();
    let path = std::env::var("PATH")
        .unwrap()
        .split(':')
        .filter(|d| Path::new(d) != python_dir)
        .collect::<Vec<_>>()
        .join(":");
    let out = run_local(&p, &["--entry", "train"], &[("PATH", path.as_str())]);
    out.code(1);
    assert_has(
        &out.stderr,
        &[
            "cannot install the requirements into the run environment",
            "no-such-package-mlops-test-0x1",
            // Without uv, the tool says what would make this step several times faster.
            "note: installing uv",
        ],
    );
    let envs = p.path().join(".mlops/envs");
    let left: Vec<_> = std::fs::read_dir(&envs)
        .map(|d| d.collect())
        .unwrap_or_default();
    assert!(
        left.is_empty(),
        "a half-made environment was left: {left:?}"
    );
}

#[test]
fn local_runs_refuse_databricks_only_flags() {
    let p = project_from_fixture("demo");
    let out = p.mlops(&["run", "--entry", "train", "--no-wait"]);
    out.code(2);
    assert_has(&out.stderr, &["apply to Databricks targets"]);
}

/// The file names below `dir`.
fn walk_names(dir: &Path) -> Vec<String> {
    let mut out = Vec::new();
    for entry in std::fs::read_dir(dir).into_iter().flatten().flatten() {
        let path = entry.path();
        if path.is_dir() {
            out.extend(walk_names(&path));
        } else {
            out.push(entry.file_name().to_string_lossy().into_owned());
        }
    }
    out
}
