//! `runs` and `compare` on the local target read MLflow's SQLite store themselves (no Python):
//! on a store written by the real MLflow the tests install, their output is the same as
//! MLflow's own client gives (`MLOPS_READ_STORE_WITH_MLFLOW=1` reads through it), and a store
//! of a schema version we do not know is read by MLflow, with a note saying why.

use std::path::Path;

use crate::support::{Project, Run, python_json, test_python};

/// Writes runs into `<project>/.mlops/mlflow.db` with MLflow's client: on `main` and
/// `feature`, of two targets, finished, failed and deleted, with metrics logged more than
/// once (the latest counts) and parameters that vary.
const WRITE: &str = r#"
import json, sys
from mlflow.tracking import MlflowClient
c = MlflowClient("sqlite:///" + sys.argv[1])
made = {}
for branch, n in (("main", 4), ("feature", 3)):
    e = c.create_experiment("hist/" + branch)
    for i in range(n):
        target = "other" if i == 1 else "local"
        r = c.create_run(e, start_time=1_700_000_000_000 + i * 1000 + (0 if branch == "main" else 50), tags={
            "mlflow.project.entryPoint": "train" if i != 2 else "evaluate",
            "mlflow.source.git.commit": f"{i:040x}",
            "mlops.target": target,
        })
        rid = r.info.run_id
        c.log_param(rid, "epochs", str(10 * (i + 1)))
        c.log_param(rid, "learning_rate", "0.5")
        for step, v in enumerate((0.5, 0.6 + i / 100 + (0.05 if branch == "feature" else 0))):
            c.log_metric(rid, "accuracy", v, step=step)
        c.log_metric(rid, "log_loss", 0.4 - i / 100)
        c.set_terminated(rid, "FAILED" if i == 3 else "FINISHED")
        made.setdefault(branch, []).append(rid)
    gone = c.create_run(e, start_time=1_700_000_100_000)
    c.delete_run(gone.info.run_id)
print(json.dumps(made))
"#;

fn project() -> Project {
    let p = Project::git();
    p.mlops(&["init", "--name", "hist"]).success();
    p.git_cmd(&["add", "-A"]);
    p.git_cmd(&["commit", "-qm", "init"]);
    p.git_cmd(&["branch", "feature"]);
    std::fs::create_dir_all(p.path().join(".mlops")).unwrap();
    let db = p.path().join(".mlops/mlflow.db");
    python_json(WRITE, &[db.to_str().unwrap()]);
    p
}

/// A local run environment whose interpreter has MLflow (the test venv), as the fallback
/// path needs one.
fn environment(p: &Project) {
    // The test venv seen from another folder: its interpreter, its pyvenv.cfg, its packages.
    let env = p.path().join(".mlops/envs/0123456789abcdef");
    let venv = test_python()
        .parent()
        .unwrap()
        .parent()
        .unwrap()
        .to_path_buf();
    std::fs::create_dir_all(env.join("bin")).unwrap();
    std::os::unix::fs::symlink(test_python(), env.join("bin/python")).unwrap();
    std::os::unix::fs::symlink(venv.join("lib"), env.join("lib")).unwrap();
    std::fs::copy(venv.join("pyvenv.cfg"), env.join("pyvenv.cfg")).unwrap();
    std::fs::write(env.join(".mlops-env-ready"), "mlflow\n").unwrap();
}

fn mlops(p: &Project, args: &[&str], with_mlflow: bool) -> Run {
    let env: &[(&str, &str)] = if with_mlflow {
        &[("MLOPS_READ_STORE_WITH_MLFLOW", "1")]
    } else {
        &[]
    };
    p.mlops_in(".", args, env)
}

#[test]
fn runs_and_compare_read_mlflows_sqlite_store_as_mlflow_does() {
    let p = project();
    // No environment at all: MLflow's client could not even be started, yet the runs are read.
    let direct = mlops(&p, &["runs", "--json", "--all-targets"], false);
    direct.success();
    let json = direct.json();
    let runs = json["runs"].as_array().unwrap();
    assert_eq!(runs.len(), 4, "{}", direct.stdout);
    assert_eq!(runs[0]["status"], "FAILED");
    assert_eq!(runs[0]["metrics"]["accuracy"], 0.63);
    assert_eq!(runs[1]["entry"], "evaluate");
    assert!(Path::new(&p.path().join(".mlops/envs")).read_dir().is_err());

    // The same store read by MLflow's own client: the same output, in every form.
    environment(&p);
    for args in [
        &["runs", "--json", "--all-targets"][..],
        &["runs", "--json"][..],
        &["runs", "--all-targets"][..],
        &["runs", "--entry", "train", "--limit", "2"][..],
        &["compare", "--branch", "feature", "--base", "main", "--json"][..],
        &["compare", "--branch", "feature", "--base", "main"][..],
    ] {
        let ours = mlops(&p, args, false);
        let theirs = mlops(&p, args, true);
        assert_eq!(
            (ours.code, &ours.stdout),
            (theirs.code, &theirs.stdout),
            "`cargo mlops {}` differs from MLflow's reading:\n{}",
            args.join(" "),
            theirs.stderr
        );
        assert!(!ours.stdout.is_empty(), "{args:?}");
    }
    let compared = mlops(
        &p,
        &["compare", "--branch", "feature", "--base", "main", "--json"],
        false,
    );
    assert!(compared.stdout.contains("accuracy"), "{}", compared.stdout);

    // A schema from an MLflow we do not know: MLflow reads it, and we say why.
    crate::support::python_json(
        "import sqlite3, sys, json\nc = sqlite3.connect(sys.argv[1])\nc.execute(\"UPDATE alembic_version SET version_num = 'ffffffffffff'\")\nc.commit()\nprint(json.dumps(1))",
        &[p.path().join(".mlops/mlflow.db").to_str().unwrap()],
    );
    let unknown = mlops(&p, &["runs", "--json"], false);
    assert!(
        unknown.stderr.contains("schema version ffffffffffff"),
        "{}",
        unknown.stderr
    );
}
