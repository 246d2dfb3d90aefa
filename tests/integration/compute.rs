//! The demo on every compute kind, end to end against the fake workspace, with the submitted
//! job run for real (`executor.rs`): the fake installs the task's libraries (or its serverless
//! environment's wheels) from what was deployed, mounts the volume, and executes the imported
//! launcher, which logs into the fake's MLflow with `MLFLOW_TRACKING_URI=databricks`.

use serde_json::{Value, json};

use crate::support::fake::FakeWorkspace;
use crate::support::{Project, Run, assert_has, project_from_fixture, test_python};

/// The three ways a target can run a job.
const COMPUTES: [(&str, &str); 3] = [
    ("jobcluster", ""),
    ("existing", "cluster_id = \"0101-123456-abcd\"\n"),
    (
        "serverless",
        "compute = \"serverless\"\nenvironment_version = \"3\"\n",
    ),
];

pub fn demo() -> Project {
    let p = project_from_fixture("demo");
    let mut manifest = p.read("mlops.toml");
    for (name, extra) in COMPUTES {
        manifest.push_str(&format!(
            "\n[targets.{name}]\nkind = \"databricks\"\nartifacts = \"/Volumes/main/mlops/artifacts\"\nexperiment = \"/Users/{{user}}/{{project}}/{{branch}}\"\n{extra}"
        ));
    }
    p.file("mlops.toml", &manifest);
    p.git_cmd(&["commit", "-qam", "compute targets"]);
    let python = test_python();
    p.mlops_shared_target(&["build", "--python", python.to_str().unwrap()], &[])
        .success();
    p
}

/// The demo releasing into `main.ml.demo` from the job-cluster target, with `edit` applied
/// to its manifest, committed.
pub fn demo_releasing(edit: impl Fn(String) -> String) -> Project {
    let p = demo();
    let manifest = p.read("mlops.toml").replace(
        "[targets.jobcluster]\n",
        "[targets.jobcluster]\nmodel = \"main.ml.demo\"\n",
    );
    p.file("mlops.toml", &edit(manifest));
    p.git_cmd(&["commit", "-qam", "release from jobcluster"]);
    p
}

/// `cargo mlops ARGS --target jobcluster --python <the test interpreter>` against `ws`.
pub fn on_jobcluster(p: &Project, ws: &FakeWorkspace, args: &[&str]) -> Run {
    on_jobcluster_with(p, ws, args, &[])
}

/// The same, with extra environment variables.
pub fn on_jobcluster_with(
    p: &Project,
    ws: &FakeWorkspace,
    args: &[&str],
    env: &[(&str, &str)],
) -> Run {
    let python = test_python();
    let mut all = args.to_vec();
    all.extend([
        "--target",
        "jobcluster",
        "--python",
        python.to_str().unwrap(),
    ]);
    p.mlops_ws(ws, &all, env)
}

fn run(p: &Project, ws: &FakeWorkspace, args: &[&str]) -> Run {
    let python = test_python();
    let mut all = vec!["run", "--python", python.to_str().unwrap()];
    all.extend_from_slice(args);
    p.mlops_ws(ws, &all, &[])
}

fn submitted(ws: &FakeWorkspace) -> Value {
    let bodies: Vec<Value> = ws
        .log()
        .into_iter()
        .filter(|l| l.path.ends_with("/jobs/runs/submit") && l.status == Some(200))
        .filter_map(|l| l.json)
        .collect();
    assert_eq!(bodies.len(), 1, "{bodies:#?}");
    bodies[0].clone()
}

fn metric(run: &Value, key: &str) -> Option<f64> {
    run["data"]["metrics"]
        .as_array()?
        .iter()
        .find(|m| m["key"] == key)
        .and_then(|m| m["value"].as_f64())
}

/// The body's fields for `compute`, checked one by one against the Jobs API's shapes.
fn check_body(compute: &str, body: &Value, report: &Value, entry_args: &[&str]) {
    assert_eq!(body["run_name"], "demo:train@main");
    let run_id = report["mlflow_run_id"].as_str().unwrap();
    assert_eq!(body["idempotency_token"], run_id);
    let tasks = body["tasks"].as_array().unwrap();
    assert_eq!(tasks.len(), 1);
    let task = &tasks[0];
    assert_eq!(task["task_key"], "mlops");
    let python_file = task["spark_python_task"]["python_file"].as_str().unwrap();
    assert!(
        python_file.starts_with("/Users/ada@example.com/.cargo-mlops/demo/")
            && python_file.ends_with("/mlops_launcher.py"),
        "the launcher is a workspace file every compute reads: {python_file}"
    );
    let params: Vec<&str> = crate::support::task_params(task);
    assert_eq!(params[0], "--tarball");
    assert!(
        params[1].starts_with("/Volumes/main/mlops/artifacts/main/")
            && params[1].ends_with("/project.tar.gz")
    );
    let log_dir = format!("/Volumes/main/mlops/artifacts/main/runs/{run_id}/logs");
    let mut expected = vec![
        "--run-id",
        run_id,
        "--experiment-id",
        report["experiment_id"].as_str().unwrap(),
        "--tracking-uri",
        "databricks",
        "--log-dir",
        &log_dir,
        "--python-file",
        "train.py",
        "--",
    ];
    expected.extend_from_slice(entry_args);
    assert_eq!(&params[2..], expected.as_slice());
    let wheels = |paths: Vec<&str>| {
        assert_eq!(paths.len(), 2, "{paths:?}");
        assert!(
            paths.iter().all(
                |p| p.starts_with("/Volumes/main/mlops/artifacts/main/") && p.ends_with(".whl")
            ),
            "{paths:?}"
        );
    };
    match compute {
        "serverless" => {
            for key in ["new_cluster", "existing_cluster_id", "libraries"] {
                assert!(task.get(key).is_none(), "a serverless task has no {key}");
            }
            assert_eq!(task["environment_key"], "default");
            let envs = body["environments"].as_array().unwrap();
            assert_eq!(envs.len(), 1);
            assert_eq!(envs[0]["environment_key"], "default");
            let spec = &envs[0]["spec"];
            assert_eq!(spec["environment_version"], "3");
            let deps: Vec<&str> = spec["dependencies"]
                .as_array()
                .unwrap()
                .iter()
                .map(|d| d.as_str().unwrap())
                .collect();
            wheels(deps[..2].to_vec());
            assert_eq!(&deps[2..], ["mlflow"], "{deps:?}");
        }
        _ => {
            assert!(body.get("environments").is_none());
            assert!(task.get("environment_key").is_none());
            if compute == "existing" {
                assert_eq!(task["existing_cluster_id"], "0101-123456-abcd");
                assert!(task.get("new_cluster").is_none());
            } else {
                assert!(task.get("existing_cluster_id").is_none());
                assert_eq!(
                    task["new_cluster"],
                    json!({"spark_version": "15.4.x-scala2.12", "node_type_id": "Standard_DS3_v2", "num_workers": 1})
                );
            }
            let libs = task["libraries"].as_array().unwrap();
            wheels(libs.iter().filter_map(|l| l["whl"].as_str()).collect());
            let pypi: Vec<&str> = libs
                .iter()
                .filter_map(|l| l["pypi"]["package"].as_str())
                .collect();
            assert_eq!(pypi, ["mlflow"]);
            assert_eq!(libs.len(), 3);
        }
    }
}

#[test]
fn the_demo_trains_on_every_compute_kind() {
    let p = demo();
    for (compute, _) in COMPUTES {
        let ws = FakeWorkspace::start();
        ws.execute_jobs(&test_python());
        let out = run(
            &p,
            &ws,
            &[
                "--entry",
                "train",
                "--target",
                compute,
                "-P",
                "epochs=30",
                "--json",
            ],
        );
        assert_eq!(out.code, 0, "{compute}:\n{}", out.snapshot());
        let report = out.json();
        assert_eq!(report["result"], "SUCCESS", "{compute}");
        check_body(
            compute,
            &submitted(&ws),
            &report,
            &[
                "--learning-rate",
                "0.5",
                "--epochs",
                "30",
                "--samples",
                "2000",
            ],
        );
        // The entry point ran and logged into the run `cargo mlops run` created.
        let mrun = ws
            .mlflow_run(report["mlflow_run_id"].as_str().unwrap())
            .unwrap();
        assert_eq!(mrun["info"]["status"], "FINISHED", "{compute}");
        let accuracy = metric(&mrun, "accuracy").expect("the entry point logged its metrics");
        assert!(accuracy > 0.6, "{compute}: {accuracy}");
        assert_eq!(ws.mlflow_runs().len(), 1, "one MLflow run only");
        // The task's own output arrived while it was followed, a JSON event per line
        // (stdout holds the report), on every compute kind.
        let events: Vec<Value> = out
            .stderr
            .lines()
            .filter_map(|l| serde_json::from_str::<Value>(l).ok())
            .filter(|e| e["event"] == "task_output")
            .collect();
        assert!(
            events
                .iter()
                .any(|e| e["stream"] == "stdout"
                    && e["line"].as_str().unwrap().starts_with("accuracy=")),
            "{compute}: {}",
            out.stderr
        );
    }
}

#[test]
fn a_failing_entry_point_fails_the_run_with_its_error_on_every_compute_kind() {
    let p = demo();
    for (compute, _) in COMPUTES {
        let ws = FakeWorkspace::start();
        ws.execute_jobs(&test_python());
        // No rows: the demo's Rust regression refuses to fit.
        let out = run(
            &p,
            &ws,
            &[
                "--entry",
                "train",
                "--target",
                compute,
                "-P",
                "samples=0",
                "--json",
            ],
        );
        assert_eq!(out.code, 1, "{compute}:\n{}", out.snapshot());
        assert_has(
            &out.stderr,
            &[
                "ValueError: rows and labels must be non-empty",
                "Traceback",
                "train.py",
                "ended FAILED",
            ],
        );
        let report = out.json();
        assert_eq!(report["result"], "FAILED");
        let mrun = ws
            .mlflow_run(report["mlflow_run_id"].as_str().unwrap())
            .unwrap();
        assert_eq!(mrun["info"]["status"], "FAILED", "{compute}");
    }
}

#[test]
fn ctrl_c_cancels_the_remote_run_on_every_compute_kind() {
    let p = demo();
    for (compute, _) in COMPUTES {
        let ws = FakeWorkspace::start();
        // A task that runs until cancelled.
        ws.with_state(|s| s.job_behaviour.running = std::time::Duration::from_secs(120));
        let python = test_python();
        let mut cmd = crate::support::clean_command(&crate::support::bin());
        cmd.args(["run", "--entry", "train", "--target", compute, "--python"])
            .arg(&python);
        let mut child = crate::support::Group::spawn(p.against(&ws, &mut cmd));
        let started = std::time::Instant::now();
        while !ws.with_state(|s| {
            s.jobs
                .values()
                .any(|j| j.submitted.elapsed() > std::time::Duration::from_millis(500))
        }) {
            assert!(started.elapsed().as_secs() < 60, "{compute}: not submitted");
            std::thread::sleep(std::time::Duration::from_millis(50));
        }
        child.signal("INT");
        let out = Run::from(child.wait_output(), p.path());
        out.code(130);
        assert_has(&out.stderr, &["Cancelling", "CANCELED"]);
        let status = ws.mlflow_runs()[0]["info"]["status"].clone();
        let cancelled = ws.with_state(|s| s.jobs.values().all(|j| j.cancelled_at.is_some()));
        assert_eq!(status, "KILLED", "{compute}");
        assert!(cancelled, "{compute}: the remote run was not cancelled");
        let body = submitted(&ws);
        assert_eq!(
            body["tasks"][0].get("environment_key").is_some(),
            compute == "serverless"
        );
    }
}

#[test]
fn a_cluster_specs_pip_libraries_become_serverless_dependencies() {
    let p = demo();
    p.file(
        "mlproject/cluster.json",
        r#"{"new_cluster": {"spark_version": "15.4.x-scala2.12", "num_workers": 8},
            "libraries": [{"pypi": {"package": "convertdate==2.4.0"}},
                          {"requirements": "/Volumes/main/mlops/artifacts/reqs.txt"},
                          {"pypi": {"package": "/dbfs/wheels/builds/WHEELPATH"}}]}"#,
    );
    let ws = FakeWorkspace::start();
    let out = run(
        &p,
        &ws,
        &["--entry", "train", "--target", "serverless", "--no-wait"],
    );
    out.success();
    let body = submitted(&ws);
    let deps: Vec<&str> = body["environments"][0]["spec"]["dependencies"]
        .as_array()
        .unwrap()
        .iter()
        .map(|d| d.as_str().unwrap())
        .collect();
    // Each wheel once (the placeholder's copies are ours), then the pip lines.
    assert_eq!(deps.len(), 5, "{deps:?}");
    assert!(
        deps[..2]
            .iter()
            .all(|d| d.starts_with("/Volumes/") && d.ends_with(".whl"))
    );
    assert_eq!(
        &deps[2..],
        [
            "mlflow",
            "convertdate==2.4.0",
            "-r /Volumes/main/mlops/artifacts/reqs.txt"
        ]
    );
    assert!(body["tasks"][0].get("new_cluster").is_none());
}
