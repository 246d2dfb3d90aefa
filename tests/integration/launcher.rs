//! The launcher runs for real, with the test venv's Python against a local MLflow store and a
//! run created beforehand, started as Databricks starts a `spark_python_task`: as
//! `python mlops_launcher.py ARGS`, and with its source `exec()`-ed in a fresh `__main__`.

use std::path::{Path, PathBuf};
use std::process::Command;

use serde_json::Value;

use crate::support::{Group, Project, assert_has, test_python};

/// How the launcher is started.
#[derive(Clone, Copy, Debug)]
enum Start {
    /// `python mlops_launcher.py ARGS`
    File,
    /// `exec()` of its source in a fresh `__main__` namespace: no `__file__`.
    Exec,
}

struct Rendered {
    project: Project,
    launcher: PathBuf,
    tarball: PathBuf,
    db: PathBuf,
}

const ENTRY: &str = r#"
import json, os, sys
import mlflow

args = sys.argv[1:]
with open(os.environ["PROBE_FILE"], "w") as f:
    json.dump({
        "pid": os.getpid(),
        "argv": sys.argv,
        "run_id": os.environ.get("MLFLOW_RUN_ID"),
        "experiment_id": os.environ.get("MLFLOW_EXPERIMENT_ID"),
        "cwd_has_mlproject": os.path.exists("MLproject"),
        "name": __name__,
    }, f)
mlflow.log_params({"alpha": args[1]})
mlflow.log_metric("loss", 0.25)
"#;

const FAILING: &str = r#"
import mlflow
mlflow.log_metric("started", 1)
raise ValueError("the data has no rows")
"#;

const SHELL: &str = r#"#!/usr/bin/env bash
printf '{"pid": %s, "run_id": "%s", "python": "%s"}' "$$" "$MLFLOW_RUN_ID" "$(command -v python)" > "$PROBE_FILE"
"#;

fn rendered() -> Rendered {
    let p = Project::git();
    p.mlops(&["init", "--name", "launch"]).success();
    p.file("mlproject/probe.py", ENTRY)
        .file("mlproject/fail.py", FAILING)
        .file("mlproject/exit3.py", "import sys\nsys.exit(3)\n")
        .file("mlproject/probe.sh", SHELL);
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
    Rendered {
        launcher: p.path().join("out/mlops_launcher.py"),
        tarball: p.path().join("project.tar.gz"),
        db: p.path().join("mlflow.db"),
        project: p,
    }
}

fn python_env(cmd: &mut Command, db: &Path) {
    let bin = test_python().parent().unwrap().to_path_buf();
    let path = format!("{}:{}", bin.display(), std::env::var("PATH").unwrap());
    cmd.env("PATH", path)
        .env("MLFLOW_TRACKING_URI", format!("sqlite:///{}", db.display()))
        .env_remove("MLFLOW_RUN_ID")
        .env_remove("DATABRICKS_HOST");
}

/// Runs a Python snippet with MLflow against the store; returns its stdout.
fn py(db: &Path, code: &str, args: &[&str]) -> String {
    let mut cmd = Command::new(test_python());
    cmd.arg("-c").arg(code).args(args);
    python_env(&mut cmd, db);
    let out = cmd.output().unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).trim().to_string()
}

/// A run created beforehand, as `cargo mlops run` creates it: (run id, experiment id).
fn create_run(db: &Path) -> (String, String) {
    let out = py(
        db,
        "from mlflow.tracking import MlflowClient\nc = MlflowClient()\ne = c.get_experiment_by_name('launcher-test')\ne = e.experiment_id if e else c.create_experiment('launcher-test')\nprint(c.create_run(e).info.run_id, e)",
        &[],
    );
    let (run, exp) = out.split_once(' ').unwrap();
    (run.to_string(), exp.to_string())
}

fn run_info(db: &Path, run_id: &str) -> Value {
    serde_json::from_str(&py(
        db,
        "import json, sys\nfrom mlflow.tracking import MlflowClient\nr = MlflowClient().get_run(sys.argv[1])\nprint(json.dumps({'status': r.info.status, 'params': r.data.params, 'metrics': r.data.metrics}))",
        &[run_id],
    ))
    .unwrap()
}

struct Launched {
    pid: u32,
    code: Option<i32>,
    stderr: String,
    probe: Option<Value>,
}

/// Starts the launcher as Databricks would, with these launcher arguments.
fn launch(r: &Rendered, start: Start, run: &(String, String), what: &[&str]) -> Launched {
    let probe = r.project.path().join(format!("probe-{}.json", run.0));
    let mut cmd = Command::new(test_python());
    match start {
        Start::File => {
            cmd.arg(&r.launcher);
        }
        Start::Exec => {
            cmd.args([
                "-c",
                "import sys\np = sys.argv[1]\nsys.argv = sys.argv[1:]\nexec(compile(open(p).read(), p, 'exec'), {'__name__': '__main__'})",
            ])
            .arg(&r.launcher);
        }
    }
    cmd.args(["--tarball", r.tarball.to_str().unwrap()])
        .args(["--run-id", &run.0, "--experiment-id", &run.1])
        .args(what)
        .env("PROBE_FILE", &probe)
        .current_dir(r.project.path());
    python_env(&mut cmd, &r.db);
    let mut child = Group::spawn(
        cmd.stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::piped()),
    );
    let pid = child.id();
    let out = child.wait_output();
    // Nothing the entry point started outlives the launcher.
    assert!(!child.any_alive(), "the launcher left processes behind");
    Launched {
        pid,
        code: out.status.code(),
        stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
        probe: std::fs::read_to_string(&probe)
            .ok()
            .map(|t| serde_json::from_str(&t).unwrap()),
    }
}

#[test]
fn a_python_entry_point_runs_in_the_launchers_process_under_the_created_run() {
    let r = rendered();
    for start in [Start::File, Start::Exec] {
        let run = create_run(&r.db);
        let out = launch(
            &r,
            start,
            &run,
            &["--python-file", "probe.py", "--", "--alpha", "0.2"],
        );
        assert_eq!(out.code, Some(0), "{start:?}: {}", out.stderr);
        let probe = out.probe.expect("the entry point ran");
        assert_eq!(
            probe["pid"], out.pid,
            "{start:?}: not in the launcher's process"
        );
        assert_eq!(probe["run_id"], run.0.as_str());
        assert_eq!(probe["experiment_id"], run.1.as_str());
        assert_eq!(probe["name"], "__main__");
        assert_eq!(
            probe["argv"],
            serde_json::json!(["probe.py", "--alpha", "0.2"])
        );
        assert_eq!(
            probe["cwd_has_mlproject"], true,
            "not in the extracted project"
        );
        let info = run_info(&r.db, &run.0);
        assert_eq!(info["status"], "FINISHED", "{start:?}");
        assert_eq!(info["params"]["alpha"], "0.2");
        assert_eq!(info["metrics"]["loss"], 0.25);
    }
}

#[test]
fn a_failing_entry_point_fails_the_launcher_with_its_traceback() {
    let r = rendered();
    for start in [Start::File, Start::Exec] {
        let run = create_run(&r.db);
        let out = launch(&r, start, &run, &["--python-file", "fail.py"]);
        assert_eq!(out.code, Some(1), "{start:?}");
        assert_has(
            &out.stderr,
            &[
                "Traceback (most recent call last):",
                "fail.py",
                "ValueError: the data has no rows",
            ],
        );
        let info = run_info(&r.db, &run.0);
        assert_eq!(info["status"], "FAILED", "{start:?}");
        assert_eq!(info["metrics"]["started"], 1.0);

        let run = create_run(&r.db);
        let out = launch(&r, start, &run, &["--python-file", "exit3.py"]);
        assert_eq!(
            out.code,
            Some(3),
            "{start:?}: SystemExit(3) is the task's result"
        );
        assert_has(&out.stderr, &["exited with status 3"]);
        assert_eq!(run_info(&r.db, &run.0)["status"], "FAILED");
    }
}

#[test]
fn a_shell_entry_point_runs_as_a_subprocess_with_the_same_environment() {
    let r = rendered();
    let run = create_run(&r.db);
    let out = launch(&r, Start::File, &run, &["--shell", "bash probe.sh"]);
    assert_eq!(out.code, Some(0), "{}", out.stderr);
    let probe = out.probe.expect("the script ran");
    assert_ne!(probe["pid"], out.pid, "a shell entry point is a subprocess");
    assert_eq!(probe["run_id"], run.0.as_str());
    // `python` inside it is the launcher's interpreter.
    let python = probe["python"].as_str().unwrap();
    assert!(
        Path::new(python).parent() == test_python().parent(),
        "{python}"
    );
    let run = create_run(&r.db);
    let out = launch(&r, Start::File, &run, &["--shell", "exit 4"]);
    assert_eq!(out.code, Some(4));
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
    let mut cmd = Command::new(test_python());
    cmd.arg(launcher)
        .args([
            "--tarball",
            evil.to_str().unwrap(),
            "--run-id",
            "x",
            "--python-file",
            "train.py",
        ])
        .current_dir(dir.path());
    python_env(&mut cmd, &dir.path().join("mlflow.db"));
    let out = cmd.output().unwrap();
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("unsafe path"));
    assert!(!dir.path().join("escape.txt").exists());
}
