//! The launcher runs for real: the tool's own tarball, extracted and run by `launcher.py` with
//! `mlflow run`, logging into a run created beforehand, with the exit code passed back.

use std::path::Path;
use std::process::Command;

use crate::support::{Project, test_python};

fn python_env(cmd: &mut Command, db: &Path) {
    let bin = test_python().parent().unwrap().to_path_buf();
    let path = format!("{}:{}", bin.display(), std::env::var("PATH").unwrap());
    cmd.env("PATH", path)
        .env("MLFLOW_TRACKING_URI", format!("sqlite:///{}", db.display()))
        .env_remove("DATABRICKS_HOST");
}

fn create_run(db: &Path) -> String {
    let mut cmd = Command::new(test_python());
    cmd.args([
        "-c",
        "from mlflow.tracking import MlflowClient\nc = MlflowClient()\ne = c.create_experiment('launcher-test')\nprint(c.create_run(e).info.run_id)",
    ]);
    python_env(&mut cmd, db);
    let out = cmd.output().unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).trim().to_string()
}

fn run_info(db: &Path, run_id: &str) -> serde_json::Value {
    let mut cmd = Command::new(test_python());
    cmd.args([
        "-c",
        "import json, sys\nfrom mlflow.tracking import MlflowClient\nr = MlflowClient().get_run(sys.argv[1])\nprint(json.dumps({'status': r.info.status, 'params': r.data.params, 'metrics': r.data.metrics}))",
        run_id,
    ]);
    python_env(&mut cmd, db);
    let out = cmd.output().unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_slice(&out.stdout).unwrap()
}

#[test]
fn the_launcher_runs_the_entry_point_under_the_given_run() {
    let p = Project::git();
    p.mlops(&["init", "--name", "launch"]).success();
    p.git_cmd(&["add", "-A"]);
    p.git_cmd(&["commit", "-qm", "scaffold"]);
    let python = test_python();
    p.mlops(&[
        "render",
        "--out",
        "out",
        "--tarball",
        "project.tar.gz",
        "--python",
        python.to_str().unwrap(),
    ])
    .success();
    let db = p.path().join("mlflow.db");
    let launcher = p.path().join("out/mlops_launcher.py");
    let tarball = p.path().join("project.tar.gz");

    let run_id = create_run(&db);
    let mut cmd = Command::new(test_python());
    cmd.arg(&launcher)
        .args([
            "--tarball",
            tarball.to_str().unwrap(),
            "--entry",
            "train",
            "--run-id",
            &run_id,
        ])
        .args([
            "--env-manager",
            "local",
            "-P",
            "alpha=0.2",
            "-P",
            "epochs=3",
        ]);
    python_env(&mut cmd, &db);
    let out = cmd.output().unwrap();
    assert!(
        out.status.success(),
        "{}\n{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    let info = run_info(&db, &run_id);
    assert_eq!(info["status"], "FINISHED");
    assert_eq!(info["params"]["alpha"], "0.2");
    assert_eq!(info["params"]["epochs"], "3");
    assert!(info["metrics"]["mse"].as_f64().is_some(), "{info:#}");

    // A failing entry point's exit code comes back through the launcher.
    let run_id = {
        let mut cmd = Command::new(test_python());
        cmd.args([
            "-c",
            "from mlflow.tracking import MlflowClient\nc = MlflowClient()\nprint(c.create_run(c.get_experiment_by_name('launcher-test').experiment_id).info.run_id)",
        ]);
        python_env(&mut cmd, &db);
        String::from_utf8_lossy(&cmd.output().unwrap().stdout)
            .trim()
            .to_string()
    };
    let mut cmd = Command::new(test_python());
    cmd.arg(&launcher)
        .args([
            "--tarball",
            tarball.to_str().unwrap(),
            "--entry",
            "train",
            "--run-id",
            &run_id,
        ])
        .args(["-P", "epochs=many"]);
    python_env(&mut cmd, &db);
    let out = cmd.output().unwrap();
    assert_eq!(
        out.status.code(),
        Some(1),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(run_info(&db, &run_id)["status"], "FAILED");
}

#[test]
fn the_launcher_refuses_tarballs_that_escape_their_folder() {
    let dir = tempfile::tempdir().unwrap();
    let evil = dir.path().join("evil.tar.gz");
    let mut cmd = Command::new(test_python());
    cmd.args([
        "-c",
        "import io, sys, tarfile\nwith tarfile.open(sys.argv[1], 'w:gz') as t:\n    data = b'x'\n    info = tarfile.TarInfo('mlflow-project/../../escape.txt')\n    info.size = 1\n    t.addfile(info, io.BytesIO(data))",
        evil.to_str().unwrap(),
    ]);
    assert!(cmd.status().unwrap().success());
    let launcher = Path::new(env!("CARGO_MANIFEST_DIR")).join("templates/launcher.py");
    let out = Command::new(test_python())
        .arg(launcher)
        .args([
            "--tarball",
            evil.to_str().unwrap(),
            "--entry",
            "main",
            "--run-id",
            "x",
        ])
        .output()
        .unwrap();
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("unsafe path"));
}
