//! `cargo mlops run` on a Databricks target, against the fake workspace: experiment, MLflow
//! run, job submission, following, failures, Ctrl-C, faults, CI outputs.

use serde_json::Value;

use crate::support::fake::{FakeWorkspace, Faults, JobBehaviour};
use crate::support::{Project, Run, assert_has, project_from_fixture, test_python};

fn demo() -> Project {
    let p = project_from_fixture("demo");
    let manifest = p
        .read("mlops.toml")
        .replace("15.4.x-scala2.12", "14.3.x-scala2.12")
        + "\n[targets.dbfs]\nkind = \"databricks\"\nartifacts = \"dbfs:/mlops/{project}\"\nexperiment = \"/Users/{user}/{project}/{branch}\"\nmlflow_version = \"2.21.3\"\n";
    p.file("mlops.toml", &manifest);
    p.git_cmd(&["commit", "-qam", "dbfs target"]);
    let python = test_python();
    p.mlops_shared_target(&["build", "--python", python.to_str().unwrap()], &[])
        .success();
    p
}

fn run(p: &Project, ws: &FakeWorkspace, args: &[&str], env: &[(&str, &str)]) -> Run {
    let python = test_python();
    let mut all = vec!["run", "--python", python.to_str().unwrap()];
    all.extend_from_slice(args);
    p.mlops_ws(ws, &all, env)
}

/// `run --entry train --target dbfs --no-wait --json`: submitted, not followed.
fn submit_no_wait(p: &Project, ws: &FakeWorkspace) -> Run {
    run(
        p,
        ws,
        &[
            "--entry",
            "train",
            "--target",
            "dbfs",
            "--no-wait",
            "--json",
        ],
        &[],
    )
}

fn mlflow_run(ws: &FakeWorkspace, id: &str) -> Value {
    ws.mlflow_run(id).expect("the MLflow run exists")
}

fn tag(run: &Value, key: &str) -> Option<String> {
    run["data"]["tags"]
        .as_array()?
        .iter()
        .find(|t| t["key"] == key)
        .and_then(|t| t["value"].as_str().map(str::to_string))
}

fn submitted(ws: &FakeWorkspace) -> Vec<Value> {
    ws.log()
        .into_iter()
        .filter(|l| l.path.ends_with("/jobs/runs/submit") && l.status == Some(200))
        .filter_map(|l| l.json)
        .collect()
}

#[test]
fn a_successful_run_end_to_end() {
    let p = demo();
    let ws = FakeWorkspace::start();
    let out = run(
        &p,
        &ws,
        &[
            "--entry", "train", "--target", "dbfs", "-P", "epochs=5", "--json",
        ],
        &[],
    );
    out.success();
    let report = out.json();
    assert_eq!(report["result"], "SUCCESS");
    let run_id = report["mlflow_run_id"].as_str().unwrap().to_string();
    let job_id = report["databricks_run_id"].as_u64().unwrap();
    assert!(
        report["run_page_url"]
            .as_str()
            .unwrap()
            .contains(&job_id.to_string())
    );
    assert_has(
        &out.stderr,
        &["PENDING", "RUNNING", "TERMINATED SUCCESS", "Submitted"],
    );

    // The experiment, named from the template with {user} from SCIM Me, in a folder made first.
    assert_eq!(report["experiment"], "/Users/ada@example.com/demo/main");
    let log = ws.log();
    let mkdirs = log
        .iter()
        .position(|l| l.path == "/api/2.0/workspace/mkdirs")
        .unwrap();
    let create = log
        .iter()
        .position(|l| l.path == "/api/2.0/mlflow/experiments/create")
        .unwrap();
    assert!(mkdirs < create);
    assert!(log.iter().any(|l| l.path == "/api/2.0/preview/scim/v2/Me"));

    // The MLflow run: created before the job, with MLflow's tags and ours, ended FINISHED.
    let mrun = mlflow_run(&ws, &run_id);
    assert_eq!(mrun["info"]["status"], "FINISHED");
    assert!(mrun["info"]["end_time"].as_i64().unwrap() > 0);
    let commit = p.git_cmd(&["rev-parse", "HEAD"]);
    for (k, v) in [
        ("mlflow.user", "ada@example.com"),
        ("mlflow.source.type", "PROJECT"),
        ("mlflow.source.git.commit", commit.as_str()),
        ("mlflow.source.git.branch", "main"),
        ("mlflow.project.entryPoint", "train"),
        ("mlflow.project.backend", "databricks"),
        ("mlops.branch", "main"),
        ("mlops.target", "dbfs"),
        (
            "mlflow.databricks.shellJobRunID",
            job_id.to_string().as_str(),
        ),
    ] {
        assert_eq!(tag(&mrun, k).as_deref(), Some(v), "tag {k}");
    }
    assert!(
        tag(&mrun, "mlflow.databricks.runURL")
            .unwrap()
            .contains(&job_id.to_string())
    );
    assert_eq!(
        tag(&mrun, "mlflow.databricks.webappURL").as_deref(),
        Some(ws.url().as_str())
    );
    assert!(
        tag(&mrun, "mlops.wheel.demo_features-0.1.0-py3-none-any.whl")
            .unwrap()
            .len()
            == 64
    );
    let params = mrun["data"]["params"].as_array().unwrap();
    let param = |k: &str| {
        params
            .iter()
            .find(|p| p["key"] == k)
            .map(|p| p["value"].clone())
    };
    assert_eq!(param("epochs"), Some(Value::from("5")));
    assert_eq!(param("learning_rate"), Some(Value::from("0.5")));

    // The submitted body, field by field.
    let bodies = submitted(&ws);
    assert_eq!(bodies.len(), 1);
    let body = &bodies[0];
    assert_eq!(body["run_name"], "demo:train@main");
    assert_eq!(body["idempotency_token"], run_id.as_str());
    let task = &body["tasks"][0];
    assert_eq!(task["task_key"], "mlops");
    let python_file = task["spark_python_task"]["python_file"].as_str().unwrap();
    assert!(
        python_file.starts_with("dbfs:/mlops/demo/main/")
            && python_file.ends_with("/mlops_launcher.py")
    );
    let params: Vec<&str> = crate::support::task_params(task);
    let tarball = params[1];
    assert_eq!(params[0], "--tarball");
    assert!(tarball.starts_with("dbfs:/mlops/demo/main/") && tarball.ends_with("/project.tar.gz"));
    assert!(
        ws.dbfs_file(&tarball["dbfs:".len()..]).is_some(),
        "the tarball was deployed"
    );
    assert!(
        ws.dbfs_file(&python_file["dbfs:".len()..]).is_some(),
        "the launcher was deployed"
    );
    let experiment_id = report["experiment_id"].as_str().unwrap();
    // The live log goes into the run's folder beside the branch's content folders.
    let branch_folder = tarball.rsplitn(3, '/').nth(2).unwrap();
    let log_dir = format!("{branch_folder}/runs/{run_id}/logs");
    assert_eq!(
        &params[2..],
        [
            "--run-id",
            run_id.as_str(),
            "--experiment-id",
            experiment_id,
            "--tracking-uri",
            "databricks",
            "--log-dir",
            log_dir.as_str(),
            "--python-file",
            "train.py",
            "--",
            "--learning-rate",
            "0.5",
            "--epochs",
            "5",
            "--samples",
            "2000"
        ]
    );
    assert_eq!(task["new_cluster"]["spark_version"], "14.3.x-scala2.12");
    assert_eq!(task["new_cluster"]["node_type_id"], "Standard_DS3_v2");
    assert!(task.get("existing_cluster_id").is_none());
    let libs = task["libraries"].as_array().unwrap();
    let whls: Vec<&str> = libs.iter().filter_map(|l| l["whl"].as_str()).collect();
    assert_eq!(whls.len(), 2, "{libs:#?}");
    assert!(whls.iter().all(|w| w.starts_with("dbfs:/mlops/demo/main/")));
    let pypi: Vec<&str> = libs
        .iter()
        .filter_map(|l| l["pypi"]["package"].as_str())
        .collect();
    // The environment's `mlflow` is already there, so the configured version is not added twice.
    assert_eq!(
        pypi.iter().filter(|p| p.starts_with("mlflow")).count(),
        1,
        "{pypi:?}"
    );
}

#[test]
fn mlflow_is_added_once_with_the_configured_version() {
    let p = demo();
    let manifest = p
        .read("mlops.toml")
        .replace("pip = [\"mlflow\"]", "pip = []");
    p.file("mlops.toml", &manifest);
    let ws = FakeWorkspace::start();
    run(
        &p,
        &ws,
        &["--entry", "train", "--target", "dbfs", "--no-wait"],
        &[],
    )
    .success();
    let body = &submitted(&ws)[0];
    let pypi: Vec<String> = body["tasks"][0]["libraries"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|l| l["pypi"]["package"].as_str().map(str::to_string))
        .collect();
    assert_eq!(pypi, ["mlflow==2.21.3"]);
}

#[test]
fn a_failing_task_exits_1_and_shows_why() {
    let p = demo();
    let ws = FakeWorkspace::start();
    ws.with_state(|s| {
        s.job_behaviour = JobBehaviour {
            result: "FAILED".into(),
            error: "ValueError: learning rate too high".into(),
            error_trace: "Traceback (most recent call last):\n  File \"train.py\", line 3\nValueError: learning rate too high".into(),
            logs: (1..=80).map(|i| format!("log line {i}\n")).collect(),
            ..JobBehaviour::default()
        }
    });
    let out = run(
        &p,
        &ws,
        &["--entry", "train", "--target", "dbfs", "--json"],
        &[],
    );
    out.code(1);
    assert_has(
        &out.stderr,
        &[
            "ValueError: learning rate too high",
            "Traceback",
            "log line 80",
            "log line 31",
            "ended FAILED",
        ],
    );
    assert!(
        !out.stderr.contains("log line 30\n"),
        "only the last 50 lines"
    );
    let report = out.json();
    assert_eq!(report["result"], "FAILED");
    let mrun = mlflow_run(&ws, report["mlflow_run_id"].as_str().unwrap());
    assert_eq!(mrun["info"]["status"], "FAILED");
    // get-output was asked with the task's run id, not the parent's.
    let ask = ws
        .log()
        .into_iter()
        .find(|l| l.path.ends_with("/runs/get-output"))
        .unwrap();
    assert_ne!(ask.query["run_id"], report["databricks_run_id"].to_string());
}

/// `run --entry train --target dbfs` in the background, to be interrupted.
fn spawn_run(p: &Project, ws: &FakeWorkspace) -> crate::support::Group {
    let python = test_python();
    let mut cmd = crate::support::clean_command(&crate::support::bin());
    cmd.args([
        "run",
        "--entry",
        "train",
        "--target",
        "dbfs",
        "--python",
        python.to_str().unwrap(),
    ]);
    crate::support::Group::spawn(p.against(ws, &mut cmd))
}

fn wait_for(what: &str, done: impl Fn() -> bool) {
    let started = std::time::Instant::now();
    while !done() {
        assert!(started.elapsed().as_secs() < 90, "never happened: {what}");
        std::thread::sleep(std::time::Duration::from_millis(20));
    }
}

#[test]
fn ctrl_c_cancels_the_remote_run_and_marks_it_killed() {
    let p = demo();
    let ws = FakeWorkspace::start();
    ws.with_state(|s| s.job_behaviour.running = std::time::Duration::from_secs(60));
    let mut child = spawn_run(&p, &ws);
    wait_for("the job was submitted 800 ms ago", || {
        ws.with_state(|s| {
            s.jobs
                .values()
                .any(|j| j.submitted.elapsed() > std::time::Duration::from_millis(800))
        })
    });
    child.signal("INT");
    let out = Run::from(child.wait_output(), p.path());
    out.code(130);
    assert_has(&out.stderr, &["Cancelling", "CANCELED"]);
    assert!(ws.log().iter().any(|l| l.path.ends_with("/runs/cancel")));
    let status = ws.mlflow_runs()[0]["info"]["status"].clone();
    assert_eq!(status, "KILLED");
}

#[test]
fn ctrl_c_at_each_step_of_submitting_leaves_no_orphan() {
    let p = demo();
    // (the step after which Ctrl-C comes, the request made slow so that it lands there,
    // how the step is seen from the workspace)
    let recorded = |ws: &FakeWorkspace| ws.dbfs_paths().iter().any(|f| f.contains("/runs/"));
    type Step = (&'static str, &'static str, fn(&FakeWorkspace) -> bool);
    let steps: [Step; 3] = [
        ("MLflow run created", "/mlflow/runs/log-batch", |ws| {
            ws.log()
                .iter()
                .any(|l| l.path.ends_with("/mlflow/runs/create") && l.status == Some(200))
        }),
        ("job submitted", "/jobs/runs/get", |ws| {
            ws.log()
                .iter()
                .any(|l| l.path.ends_with("/jobs/runs/submit") && l.status == Some(200))
        }),
        ("run recorded", "/jobs/runs/get", |ws| {
            ws.dbfs_paths().iter().any(|f| f.contains("/runs/"))
        }),
    ];
    for (step, slow, reached) in steps {
        let ws = FakeWorkspace::start();
        ws.with_state(|s| s.job_behaviour.running = std::time::Duration::from_secs(60));
        ws.set_faults(Faults {
            latency: std::time::Duration::from_millis(1000),
            only: slow.into(),
            ..Default::default()
        });
        let mut child = spawn_run(&p, &ws);
        wait_for(step, || reached(&ws));
        child.signal("INT");
        let out = Run::from(child.wait_output(), p.path());
        out.code(130);
        let status = ws.mlflow_runs()[0]["info"]["status"].clone();
        assert_eq!(status, "KILLED", "after `{step}`: {}", out.stderr);
        let jobs: Vec<(u64, bool)> = ws.with_state(|s| {
            s.jobs
                .values()
                .map(|j| (j.run_id, j.cancelled_at.is_some()))
                .collect()
        });
        if step == "MLflow run created" {
            assert!(jobs.is_empty(), "after `{step}` a job was submitted");
            assert!(!recorded(&ws));
            continue;
        }
        let [(id, cancelled)] = jobs[..] else {
            panic!("after `{step}`: {jobs:?}")
        };
        assert!(
            cancelled,
            "after `{step}` job {id} was left running: {}",
            out.stderr
        );
        assert_has(&out.stderr, &[&format!("run {id}"), "Cancelling"]);
        assert!(
            ws.dbfs_paths()
                .iter()
                .any(|f| f.ends_with(&format!("/runs/{id}.json"))),
            "after `{step}` run {id} has no record: {:?}",
            ws.dbfs_paths()
        );
    }
}

#[test]
fn bad_entry_or_parameter_fails_before_anything_is_uploaded() {
    let p = demo();
    let ws = FakeWorkspace::start();
    let out = run(&p, &ws, &["--entry", "tran", "--target", "dbfs"], &[]);
    out.code(2);
    assert_has(
        &out.stderr,
        &["unknown entry point `tran`", "did you mean `train`?"],
    );
    let out = run(
        &p,
        &ws,
        &[
            "--entry",
            "train",
            "--target",
            "dbfs",
            "-P",
            "learning_rate=fast",
        ],
        &[],
    );
    out.code(2);
    assert_has(&out.stderr, &["`learning_rate`", "`float`", "`fast`"]);
    assert!(
        ws.log().is_empty(),
        "the workspace was contacted: {:#?}",
        ws.log()
    );
}

#[test]
fn a_lost_submit_answer_still_starts_exactly_one_run() {
    let p = demo();
    let ws = FakeWorkspace::start();
    ws.set_faults(Faults {
        reset_after: 1.0,
        only: "/jobs/runs/submit".into(),
        ..Faults::default()
    });
    // Every submit answer is lost; the fault is lifted after the first two.
    let lift = std::thread::scope(|s| {
        let h = s.spawn(|| {
            run(
                &p,
                &ws,
                &["--entry", "train", "--target", "dbfs", "--json"],
                &[],
            )
        });
        let started = std::time::Instant::now();
        while ws
            .log()
            .iter()
            .filter(|l| l.path.ends_with("/runs/submit"))
            .count()
            < 2
        {
            assert!(started.elapsed().as_secs() < 60);
            std::thread::sleep(std::time::Duration::from_millis(10));
        }
        ws.set_faults(Faults::default());
        h.join().unwrap()
    });
    lift.success();
    let attempts = ws
        .log()
        .iter()
        .filter(|l| l.path.ends_with("/runs/submit"))
        .count();
    assert!(attempts >= 3, "{attempts} submits");
    assert_eq!(
        ws.with_state(|s| s.jobs.len()),
        1,
        "a retried submit started a second run"
    );
}

#[test]
fn a_full_run_survives_faults() {
    let p = demo();
    let ws = FakeWorkspace::start();
    ws.set_faults(Faults {
        seed: 11,
        unavailable: 0.1,
        too_many: 0.1,
        retry_after_secs: 0,
        reset_before: 0.05,
        reset_after: 0.05,
        ..Faults::default()
    });
    let out = run(
        &p,
        &ws,
        &["--entry", "train", "--target", "dbfs", "--json"],
        &[],
    );
    assert_eq!(out.code, 0, "{}", out.snapshot());
    assert_eq!(out.json()["result"], "SUCCESS");
    assert_eq!(ws.with_state(|s| s.jobs.len()), 1);
    assert!(ws.log().iter().filter(|l| !l.fault.is_empty()).count() > 0);
}

#[test]
fn no_wait_and_timeout() {
    let p = demo();
    let ws = FakeWorkspace::start();
    ws.with_state(|s| s.job_behaviour.running = std::time::Duration::from_secs(60));
    let out = submit_no_wait(&p, &ws);
    out.success();
    assert_eq!(out.json()["result"], "SUBMITTED");
    assert!(!ws.log().iter().any(|l| l.path.ends_with("/runs/cancel")));
    let out = run(
        &p,
        &ws,
        &[
            "--entry",
            "train",
            "--target",
            "dbfs",
            "--timeout",
            "2s",
            "--json",
        ],
        &[],
    );
    out.code(1);
    assert_has(&out.stderr, &["took longer than --timeout 2s", "cancelled"]);
    assert_eq!(out.json()["result"], "TIMEDOUT");
    let run_id = out.json()["mlflow_run_id"].as_str().unwrap().to_string();
    assert_eq!(mlflow_run(&ws, &run_id)["info"]["status"], "FAILED");
    let out = run(
        &p,
        &ws,
        &["--entry", "train", "--target", "dbfs", "--timeout", "soon"],
        &[],
    );
    out.code(2);
}

#[test]
fn ci_systems_get_the_ids() {
    let p = demo();
    let ws = FakeWorkspace::start();
    let dir = tempfile::tempdir().unwrap();
    let gh_out = dir.path().join("out");
    let gh_sum = dir.path().join("summary");
    let out = run(
        &p,
        &ws,
        &["--entry", "train", "--target", "dbfs", "--no-wait"],
        &[
            ("GITHUB_ACTIONS", "true"),
            ("GITHUB_OUTPUT", gh_out.to_str().unwrap()),
            ("GITHUB_STEP_SUMMARY", gh_sum.to_str().unwrap()),
            ("MLOPS_BRANCH", "main"),
        ],
    );
    out.success();
    let text = std::fs::read_to_string(&gh_out).unwrap();
    assert_has(
        &text,
        &[
            "mlflow_run_id=",
            "databricks_run_id=",
            "run_page_url=https://",
            "result=SUBMITTED",
        ],
    );
    assert_has(
        &std::fs::read_to_string(&gh_sum).unwrap(),
        &["### cargo mlops run", "MLflow run"],
    );
    let out = run(
        &p,
        &ws,
        &["--entry", "train", "--target", "dbfs", "--no-wait"],
        &[("TF_BUILD", "True"), ("MLOPS_BRANCH", "main")],
    );
    out.success();
    assert_has(
        &out.stdout,
        &[
            "##vso[task.setvariable variable=mlflow_run_id;isOutput=true]",
            "##vso[task.setvariable variable=databricks_run_id;isOutput=true]",
        ],
    );
}

#[test]
fn status_logs_and_cancel_commands() {
    let p = demo();
    // A package only conda has: `run` warns about it; looking at the run again does not.
    p.file(
        "mlops.toml",
        &p.read("mlops.toml").replace(
            "pip = [\"mlflow\"]",
            "pip = [\"mlflow\"]\nconda = [\"libgomp\"]",
        ),
    );
    p.git_cmd(&["commit", "-qam", "conda"]);
    let ws = FakeWorkspace::start();
    ws.with_state(|s| s.job_behaviour.running = std::time::Duration::from_secs(60));
    let out = submit_no_wait(&p, &ws);
    assert_has(&out.stderr, &["warning:", "libgomp"]);
    let id = out.success().json()["databricks_run_id"]
        .as_u64()
        .unwrap()
        .to_string();
    let status = p.mlops_ws(&ws, &["status", &id, "--target", "dbfs", "--json"], &[]);
    let state = status.success().json()["life_cycle_state"].clone();
    assert!(state == "PENDING" || state == "RUNNING", "{state}");
    assert!(!status.stderr.contains("warning"), "{}", status.stderr);
    // Still going: the workspace has no output for it yet, and `logs` says so.
    let logs = p.mlops_ws(&ws, &["logs", &id, "--target", "dbfs"], &[]);
    logs.success();
    assert_has(&logs.stderr, &[&format!("run {id} is"), "no output yet"]);
    assert!(!logs.stderr.contains("warning"), "{}", logs.stderr);
    let mlflow_id = out.json()["mlflow_run_id"].as_str().unwrap().to_string();
    assert_eq!(mlflow_run(&ws, &mlflow_id)["info"]["status"], "RUNNING");
    let cancel = p.mlops_ws(&ws, &["cancel", &id, "--target", "dbfs", "--json"], &[]);
    assert_eq!(cancel.success().json()["result"], "CANCELED");
    assert!(!cancel.stderr.contains("warning"), "{}", cancel.stderr);
    // The MLflow run the job logged into ends KILLED too, found from the job's own task.
    assert_eq!(cancel.json()["mlflow_run_id"], mlflow_id.as_str());
    assert_eq!(mlflow_run(&ws, &mlflow_id)["info"]["status"], "KILLED");
    assert_has(&cancel.stderr, &["MLflow run", "KILLED"]);
    // A cancelled run is no success: `status` exits 1, its JSON still printed.
    let status = p.mlops_ws(&ws, &["status", &id, "--target", "dbfs", "--json"], &[]);
    assert_eq!(status.code(1).json()["result_state"], "CANCELED");
    let missing = p.mlops_ws(&ws, &["status", "999999", "--target", "dbfs"], &[]);
    missing.code(3);
    assert_has(&missing.stderr, &["does not exist"]);
}

#[test]
fn volume_targets_import_the_launcher_and_existing_clusters_are_used() {
    let p = demo();
    let manifest = p.read("mlops.toml")
        + "\n[targets.shared]\nkind = \"databricks\"\nartifacts = \"/Volumes/main/mlops/artifacts\"\ncluster_id = \"0101-123456-abcd\"\n";
    p.file("mlops.toml", &manifest);
    let ws = FakeWorkspace::start();
    let out = run(
        &p,
        &ws,
        &["--entry", "train", "--target", "shared", "--json"],
        &[],
    );
    out.success();
    let body = &submitted(&ws)[0];
    let task = &body["tasks"][0];
    assert_eq!(task["existing_cluster_id"], "0101-123456-abcd");
    assert!(task.get("new_cluster").is_none());
    let python_file = task["spark_python_task"]["python_file"].as_str().unwrap();
    assert!(
        python_file.starts_with("/Users/ada@example.com/.cargo-mlops/demo/")
            && python_file.ends_with("/mlops_launcher.py"),
        "{python_file}"
    );
    let imported = ws
        .with_state(|s| s.workspace.get(python_file).map(|(_, bytes)| bytes.clone()))
        .expect("the launcher was imported");
    assert!(String::from_utf8_lossy(&imported).contains("cargo-mlops launcher"));
    let tarball = task["spark_python_task"]["parameters"][1].as_str().unwrap();
    assert!(ws.volume_file(tarball).is_some(), "{tarball}");
    let whls: Vec<&str> = task["libraries"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|l| l["whl"].as_str())
        .collect();
    assert!(
        whls.iter()
            .all(|w| w.starts_with("/Volumes/main/mlops/artifacts/main/")),
        "{whls:?}"
    );
}

#[test]
fn a_concurrent_creator_winning_the_experiment_race_is_fine() {
    let p = demo();
    let ws = FakeWorkspace::start();
    ws.with_state(|s| s.lose_next_experiment_race = true);
    let out = submit_no_wait(&p, &ws);
    out.success();
    let report = out.json();
    let experiments = ws.mlflow_experiments();
    assert_eq!(experiments.len(), 1, "{experiments:#?}");
    let exp = &experiments[0];
    assert_eq!(exp["name"], "/Users/ada@example.com/demo/main");
    assert_eq!(report["experiment_id"], exp["experiment_id"]);
    let run = mlflow_run(&ws, report["mlflow_run_id"].as_str().unwrap());
    assert_eq!(run["info"]["experiment_id"], exp["experiment_id"]);
    assert!(
        ws.log()
            .iter()
            .any(|l| l.path.ends_with("/experiments/create") && l.status == Some(400))
    );
}

/// Drops the answer of each request of a whole `run` in turn (the request is acted on, the
/// connection reset): every create is safe to retry, so each run still succeeds with exactly
/// one experiment, one MLflow run and one job run.
fn every_lost_answer_is_survived(target: &str) {
    let p = demo();
    let manifest = p.read("mlops.toml")
        + "\n[targets.volume]\nkind = \"databricks\"\nartifacts = \"/Volumes/main/mlops/artifacts\"\nexperiment = \"/Users/{user}/{project}/{branch}\"\n";
    p.file("mlops.toml", &manifest);
    let fast = |ws: &FakeWorkspace| {
        ws.with_state(|s| {
            s.job_behaviour.pending = std::time::Duration::ZERO;
            s.job_behaviour.running = std::time::Duration::from_millis(150);
        })
    };
    let args = ["--entry", "train", "--target", target, "--json"];
    let ws = FakeWorkspace::start();
    fast(&ws);
    run(&p, &ws, &args, &[]).success();
    let calls: Vec<String> = ws
        .log()
        .iter()
        .map(|l| format!("{} {}", l.method, l.path))
        .collect();
    assert!(calls.len() > 15, "{calls:#?}");
    for (i, call) in calls.iter().enumerate() {
        let ws = FakeWorkspace::start();
        fast(&ws);
        ws.set_faults(Faults {
            lose_answer_of: Some(i as u64),
            ..Faults::default()
        });
        let out = run(&p, &ws, &args, &[]);
        assert_eq!(
            out.code,
            0,
            "losing the answer of {call} (#{i}):\n{}",
            out.snapshot()
        );
        let lost: Vec<String> = ws
            .log()
            .iter()
            .filter(|l| l.fault == "reset_after")
            .map(|l| format!("{} {}", l.method, l.path))
            .collect();
        // How often the run is polled depends on timing: a run that ended before making
        // request #i had nothing to lose.
        if lost.is_empty() && ws.log().len() <= i {
            continue;
        }
        assert_eq!(lost.len(), 1, "#{i}: {lost:?}");
        let (experiments, runs, jobs) = (
            ws.mlflow_experiments().len(),
            ws.mlflow_runs().len(),
            ws.with_state(|s| s.jobs.len()),
        );
        assert_eq!(
            (experiments, runs, jobs),
            (1, 1, 1),
            "losing the answer of {} (#{i}) left experiments, MLflow runs, job runs",
            lost[0]
        );
        assert_eq!(out.json()["result"], "SUCCESS");
    }
}

#[test]
fn every_lost_answer_of_a_dbfs_run_is_survived() {
    every_lost_answer_is_survived("dbfs");
}

#[test]
fn every_lost_answer_of_a_volume_run_is_survived() {
    every_lost_answer_is_survived("volume");
}

#[test]
fn a_job_that_ends_without_its_launcher_has_its_mlflow_run_ended_by_whoever_looks() {
    // The task fails before the launcher starts (a library that does not install): nothing
    // in the job ends its MLflow run.
    let p = demo();
    let ws = FakeWorkspace::start();
    ws.with_state(|s| {
        s.job_behaviour.result = "FAILED".into();
        s.job_behaviour.error = "Library installation failed for library due to user error".into();
    });
    let submit = |p: &Project| submit_no_wait(p, &ws).success().json();
    let first = submit(&p);
    let id = first["databricks_run_id"].as_u64().unwrap().to_string();
    let mlflow_id = first["mlflow_run_id"].as_str().unwrap().to_string();
    // Let the job end (the fake's job takes about a second).
    std::thread::sleep(std::time::Duration::from_millis(1500));
    assert_eq!(mlflow_run(&ws, &mlflow_id)["info"]["status"], "RUNNING");
    // `status` ends it FAILED, says so, and exits 1 for the failed run.
    let status = p.mlops_ws(&ws, &["status", &id, "--target", "dbfs"], &[]);
    status.code(1);
    assert_has(
        &status.stderr,
        &[&format!("MLflow run {mlflow_id} FAILED"), "ended FAILED"],
    );
    assert_has(&status.stdout, &["result    FAILED"]);
    assert_eq!(mlflow_run(&ws, &mlflow_id)["info"]["status"], "FAILED");
    // `logs` shows a failed run's output and succeeds: `status` is what says how it ended.
    p.mlops_ws(&ws, &["logs", &id, "--target", "dbfs"], &[])
        .success();

    // `runs` does the same for a run nobody looked at.
    let second = submit(&p);
    let other = second["mlflow_run_id"].as_str().unwrap().to_string();
    std::thread::sleep(std::time::Duration::from_millis(1500));
    let runs = p
        .mlops_ws(&ws, &["runs", "--target", "dbfs", "--json"], &[])
        .success()
        .json();
    let listed = runs["runs"]
        .as_array()
        .unwrap()
        .iter()
        .find(|r| r["run_id"] == other.as_str())
        .unwrap()
        .clone();
    assert_eq!(listed["status"], "FAILED");
    assert_eq!(mlflow_run(&ws, &other)["info"]["status"], "FAILED");

    // A successful run's status exits 0.
    ws.with_state(|s| s.job_behaviour = Default::default());
    let ok = submit(&p);
    let ok_id = ok["databricks_run_id"].as_u64().unwrap().to_string();
    std::thread::sleep(std::time::Duration::from_millis(1500));
    p.mlops_ws(&ws, &["status", &ok_id, "--target", "dbfs"], &[])
        .success();
    assert_eq!(
        mlflow_run(&ws, ok["mlflow_run_id"].as_str().unwrap())["info"]["status"],
        "FINISHED"
    );
}

#[test]
fn runs_of_targets_that_share_an_experiment_are_told_apart() {
    let p = demo();
    // A second target with the same experiment (and workspace) as `dbfs`.
    let manifest = p.read("mlops.toml")
        + "\n[targets.dbfs2]\nkind = \"databricks\"\nartifacts = \"dbfs:/mlops/{project}\"\nexperiment = \"/Users/{user}/{project}/{branch}\"\nmlflow_version = \"2.21.3\"\n";
    p.file("mlops.toml", &manifest);
    p.git_cmd(&["commit", "-qam", "second target"]);
    let ws = FakeWorkspace::start();
    let mut ids = Vec::new();
    for target in ["dbfs", "dbfs2"] {
        let out = run(
            &p,
            &ws,
            &[
                "--entry",
                "train",
                "--target",
                target,
                "--no-wait",
                "--json",
            ],
            &[],
        );
        ids.push(
            out.success().json()["mlflow_run_id"]
                .as_str()
                .unwrap()
                .to_string(),
        );
    }
    let listed = |args: &[&str]| -> Vec<String> {
        let mut all = vec!["runs", "--target", "dbfs", "--json"];
        all.extend_from_slice(args);
        p.mlops_ws(&ws, &all, &[]).success().json()["runs"]
            .as_array()
            .unwrap()
            .iter()
            .map(|r| r["run_id"].as_str().unwrap().to_string())
            .collect()
    };
    assert_eq!(listed(&[]), vec![ids[0].clone()]);
    let mut both = listed(&["--all-targets"]);
    both.sort();
    let mut want = ids.clone();
    want.sort();
    assert_eq!(both, want);
    let text = p.mlops_ws(&ws, &["runs", "--target", "dbfs", "--all-targets"], &[]);
    text.success();
    let header = text.stdout.lines().next().unwrap();
    assert!(header.contains("target"), "{}", text.stdout);
    assert_has(&text.stdout, &["dbfs2"]);
    let mine = p.mlops_ws(&ws, &["runs", "--target", "dbfs"], &[]);
    assert_has(
        &mine.success().stderr,
        &["made by target `dbfs` (it shares the experiment with `dbfs2`"],
    );
}

#[test]
fn following_outlasts_gateway_errors_and_gives_up_on_a_long_outage_without_cancelling() {
    let p = demo();
    let ws = FakeWorkspace::start();
    ws.with_state(|s| s.job_behaviour.running = std::time::Duration::from_secs(3));
    // Half the polls answer a bare 502/504 from a gateway: the run is followed to its end.
    ws.set_faults(crate::support::fake::Faults {
        seed: 7,
        gateway: 0.5,
        only: "/jobs/runs/get".into(),
        ..Default::default()
    });
    let out = run(
        &p,
        &ws,
        &["--entry", "train", "--target", "dbfs", "--json"],
        &[],
    );
    out.success();
    assert_eq!(out.json()["result"], "SUCCESS");
    assert!(
        ws.log().iter().any(|l| l.fault == "gateway"),
        "no gateway error was answered"
    );

    // A long outage: following gives up with exit 3, leaves the job running, and says how to
    // follow it again.
    ws.set_faults(Default::default());
    ws.with_state(|s| s.job_behaviour.running = std::time::Duration::from_secs(8));
    let submitted = submit_no_wait(&p, &ws);
    let id = submitted.success().json()["databricks_run_id"]
        .as_u64()
        .unwrap()
        .to_string();
    let mlflow_id = submitted.json()["mlflow_run_id"]
        .as_str()
        .unwrap()
        .to_string();
    ws.set_faults(crate::support::fake::Faults {
        unavailable: 1.0,
        only: "/jobs/runs/get".into(),
        ..Default::default()
    });
    let outage = [
        ("MLOPS_RETRY_BUDGET_SECS", "1"),
        ("MLOPS_FOLLOW_OUTAGE_SECS", "2"),
    ];
    let lost = p.mlops_ws(&ws, &["status", &id, "--wait", "--target", "dbfs"], &outage);
    lost.code(3);
    assert_has(
        &lost.stderr,
        &[
            "Waiting",
            &format!("lost track of run {id}"),
            "the job was not cancelled",
            &format!("status {id} --wait --target dbfs"),
        ],
    );
    assert!(
        !ws.log().iter().any(|l| l.path.ends_with("/runs/cancel")),
        "the job was cancelled"
    );
    assert_eq!(mlflow_run(&ws, &mlflow_id)["info"]["status"], "RUNNING");
    // Once the workspace answers, re-attaching follows the run to its end, as `run` would.
    ws.set_faults(Default::default());
    let back = p.mlops_ws(&ws, &["status", &id, "--wait", "--target", "dbfs"], &[]);
    back.success();
    assert_has(&back.stderr, &["TERMINATED SUCCESS"]);
    assert_eq!(mlflow_run(&ws, &mlflow_id)["info"]["status"], "FINISHED");
}
