//! MLflow's "Databricks Spark job" project format (an MLproject with `databricks_spark_job`)
//! renders so that MLflow's own loader still reads it, and runs: its python file is the entry
//! point and its `python_libraries` join our packages.

use serde_json::Value;

use crate::support::fake::FakeWorkspace;
use crate::support::{Project, assert_has, project_from_fixture, test_python};

fn mlflow_spark_job_view(dir: &std::path::Path) -> Value {
    let script = r#"
import json, sys
from mlflow.projects._project_spec import load_project
p = load_project(sys.argv[1])
s = p.databricks_spark_job_spec
print(json.dumps({"python_file": s.python_file, "parameters": s.parameters,
                  "python_libraries": s.python_libraries, "env_type": p.env_type}))
"#;
    let out = std::process::Command::new(test_python())
        .args(["-c", script])
        .arg(dir)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "MLflow refuses the rendered project: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_slice(&out.stdout).unwrap()
}

fn python() -> String {
    test_python().to_string_lossy().into_owned()
}

#[test]
fn a_spark_job_project_renders_as_mlflow_reads_it() {
    let p = project_from_fixture("spark_job");
    p.mlops_shared_target(
        &[
            "render",
            "--target",
            "serverless",
            "--out",
            "out",
            "--python",
            &python(),
        ],
        &[],
    )
    .success();
    let view = mlflow_spark_job_view(&p.path().join("out"));
    assert_eq!(view["python_file"], "train.py");
    assert_eq!(view["parameters"], serde_json::json!(["--rows", "120"]));
    assert_eq!(view["python_libraries"], serde_json::json!(["six"]));
    let mlproject = p.read("out/MLproject");
    assert!(
        !mlproject.contains("conda_env") && !mlproject.contains("entry_points"),
        "{mlproject}"
    );
    // The environment file beside it (for the local target) holds the libraries and the wheel.
    let conda = p.read("out/conda.yaml");
    assert_has(
        &conda,
        &["- mlflow", "- six", "sj_features-0.1.0-py3-none-any.whl"],
    );

    let out = p.mlops_offline_creds(&[
        "check",
        "--target",
        "serverless",
        "--entry",
        "main",
        "--json",
    ]);
    out.success();
    assert_eq!(
        out.json()["launch"],
        serde_json::json!({"kind": "python_file", "file": "train.py", "args": ["--rows", "120"]})
    );
}

#[test]
fn a_spark_job_project_runs_on_serverless_with_its_libraries() {
    let p = project_from_fixture("spark_job");
    let ws = FakeWorkspace::start();
    ws.execute_jobs(&test_python());
    let out = p.mlops_ws(
        &ws,
        &[
            "run",
            "--target",
            "serverless",
            "--entry",
            "main",
            "--python",
            &python(),
            "--json",
        ],
        &[],
    );
    assert_eq!(out.code, 0, "{}", out.snapshot());
    let body = ws
        .log()
        .into_iter()
        .filter(|l| l.path.ends_with("/runs/submit") && l.status == Some(200))
        .find_map(|l| l.json)
        .unwrap();
    let deps: Vec<&str> = body["environments"][0]["spec"]["dependencies"]
        .as_array()
        .unwrap()
        .iter()
        .map(|d| d.as_str().unwrap())
        .collect();
    assert_eq!(deps.len(), 3, "{deps:?}");
    assert!(deps[0].ends_with("/sj_features-0.1.0-py3-none-any.whl"));
    assert_eq!(&deps[1..], ["mlflow", "six"]);
    let params = body["tasks"][0]["spark_python_task"]["parameters"].clone();
    let params: Vec<&str> = params
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v.as_str().unwrap())
        .collect();
    assert_eq!(
        &params[params.len() - 5..],
        ["--python-file", "train.py", "--", "--rows", "120"]
    );
    let run_id = out.json()["mlflow_run_id"].as_str().unwrap().to_string();
    let run = ws.mlflow_run(&run_id).unwrap();
    let rows = run["data"]["metrics"]
        .as_array()
        .unwrap()
        .iter()
        .find(|m| m["key"] == "rows")
        .map(|m| m["value"].clone());
    assert_eq!(rows, Some(Value::from(120.0)), "{run:#}");

    // On a job cluster the libraries join ours as job libraries.
    let ws = FakeWorkspace::start();
    p.mlops_ws(
        &ws,
        &[
            "run",
            "--target",
            "dev",
            "--entry",
            "main",
            "--python",
            &python(),
            "--no-wait",
        ],
        &[],
    )
    .success();
    let body = ws
        .log()
        .into_iter()
        .filter(|l| l.path.ends_with("/runs/submit") && l.status == Some(200))
        .find_map(|l| l.json)
        .unwrap();
    let pypi: Vec<&str> = body["tasks"][0]["libraries"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|l| l["pypi"]["package"].as_str())
        .collect();
    assert_eq!(pypi, ["mlflow", "six"]);
}

#[test]
fn spark_job_sections_are_checked_as_mlflow_checks_them() {
    for (mlproject, says) in [
        (
            "name: x\ndatabricks_spark_job:\n  python_file: train.py\nentry_points:\n  main:\n    command: python train.py\n",
            "cannot have both `databricks_spark_job.python_file` and `entry_points`",
        ),
        (
            "name: x\ndatabricks_spark_job:\n  python_libraries: [six]\n",
            "needs `databricks_spark_job.python_file` or `entry_points`",
        ),
        (
            "name: x\nconda_env: conda.yaml\ndatabricks_spark_job:\n  python_file: train.py\n",
            "cannot set `conda_env`",
        ),
        (
            "name: x\ndatabricks_spark_job:\n  python_libraries: [six]\nentry_points:\n  main:\n    parameters:\n      data: path\n    command: python train.py {data}\n",
            "is a `path`, which a Databricks Spark job project cannot have",
        ),
        (
            "name: x\ndatabricks_spark_job:\n  python_file: train.py\n  libraries: [six]\n",
            "unknown key `databricks_spark_job.libraries`",
        ),
    ] {
        let p = Project::git();
        p.file("mlops.toml", "[project]\nname = \"x\"\n")
            .file("mlproject/MLproject", mlproject)
            .file("mlproject/train.py", "print(1)\n");
        let out = p.mlops(&["check"]);
        out.code(2);
        assert_has(&out.stderr, &["mlproject/MLproject", says]);
    }
    // Entry points beside the section work, with their parameters.
    let p = Project::git();
    p.file("mlops.toml", "[project]\nname = \"x\"\n")
        .file(
            "mlproject/MLproject",
            "name: x\ndatabricks_spark_job:\n  python_libraries: [six]\nentry_points:\n  fit:\n    parameters:\n      n: {type: int, default: 3}\n    command: python train.py --n {n}\n",
        )
        .file("mlproject/train.py", "print(1)\n");
    let out = p.mlops(&["check", "--entry", "fit", "-P", "n=7", "--json"]);
    out.success();
    assert_eq!(
        out.json()["launch"]["args"],
        serde_json::json!(["--n", "7"])
    );
}
