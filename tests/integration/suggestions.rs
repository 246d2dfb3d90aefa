//! Every command the tool suggests runs as printed: the target, manifest path and other
//! flags it needs are in it. Each suggestion is taken from real output and run.

use crate::support::fake::{FakeWorkspace, JobBehaviour};
use crate::support::{Group, Project, Run, assert_has, bin, clean_command, test_python};

/// The backticked `cargo mlops ...` commands in `text`.
fn suggested(text: &str) -> Vec<String> {
    text.split('`')
        .skip(1)
        .step_by(2)
        .filter(|s| s.starts_with("cargo mlops "))
        .map(str::to_string)
        .collect()
}

/// Runs a suggested `cargo mlops ...` command in `dir`, as a shell would split it.
fn run_suggested(command: &str, dir: &std::path::Path, env: &[(&str, &str)]) -> Run {
    let words = shlex::split(command).expect("a shell word list");
    assert_eq!(&words[..2], ["cargo", "mlops"], "{command}");
    let mut cmd = clean_command(&bin());
    cmd.args(&words[2..]).current_dir(dir);
    for (k, v) in env {
        cmd.env(k, v);
    }
    Run::from(cmd.output().unwrap(), dir)
}

#[test]
fn databricks_suggestions_name_the_target_and_manifest() {
    let p = crate::compute::demo();
    let ws = FakeWorkspace::start();
    ws.with_state(|s| {
        s.job_behaviour = JobBehaviour {
            result: "FAILED".into(),
            error: "boom".into(),
            logs: "the job's own log line\n".into(),
            ..JobBehaviour::default()
        }
    });
    // From another folder, with the manifest named on the command line.
    let elsewhere = tempfile::tempdir().unwrap();
    let manifest = p.path().join("mlops.toml");
    let python = test_python();
    let url = ws.url();
    let home = p.path().to_str().unwrap().to_string();
    let target_dir = crate::support::shared_cargo_target();
    let env = [
        ("DATABRICKS_HOST", url.as_str()),
        ("DATABRICKS_TOKEN", ws.token()),
        ("HOME", home.as_str()),
        ("MLOPS_POLL_FIRST_MS", "100"),
        ("MLOPS_RETRY_FIRST_MS", "20"),
        ("CARGO_TARGET_DIR", target_dir.to_str().unwrap()),
    ];
    let failed = run_suggested(
        &format!(
            "cargo mlops run --entry train --target jobcluster --python {} --manifest-path {}",
            python.display(),
            manifest.display()
        ),
        elsewhere.path(),
        &env,
    );
    failed.code(1);
    let logs = suggested(&failed.stderr);
    assert_eq!(logs.len(), 1, "{}", failed.stderr);
    assert_has(
        &logs[0],
        &[
            "cargo mlops logs ",
            "--target jobcluster",
            "--manifest-path ",
        ],
    );
    let shown = run_suggested(&logs[0], elsewhere.path(), &env);
    shown.success();
    assert_has(&shown.stdout, &["the job's own log line"]);

    // --no-wait suggests how to follow the run.
    let submitted = run_suggested(
        &format!(
            "cargo mlops run --entry train --target jobcluster --no-wait --python {} --manifest-path {}",
            python.display(),
            manifest.display()
        ),
        elsewhere.path(),
        &env,
    );
    submitted.success();
    let follow = suggested(&submitted.stderr);
    assert_eq!(follow.len(), 1, "{}", submitted.stderr);
    assert_has(&follow[0], &["cargo mlops status ", "--target jobcluster"]);
    let status = run_suggested(&follow[0], elsewhere.path(), &env);
    status.success();
    assert_has(&status.stdout, &["state"]);
}

#[test]
fn local_suggestions_run_as_printed() {
    // `init` names the next step.
    let p = Project::git();
    let init = p.mlops(&["init", "--name", "hints"]);
    init.success();
    let next = suggested(&init.stderr);
    assert_eq!(next, ["cargo mlops check"]);
    run_suggested(&next[0], p.path(), &[]).success();
    p.git_cmd(&["add", "-A"]);
    p.git_cmd(&["commit", "-qm", "init"]);
    let remote = crate::gc::with_remote(&p);

    // A local run names the command that shows it in MLflow's UI; it starts a UI on that store.
    let python = test_python();
    let run = p.mlops_shared_target(
        &[
            "run",
            "--python",
            python.to_str().unwrap(),
            "--entry",
            "train",
            "--json",
        ],
        &[],
    );
    run.success();
    let ui = run.json()["ui"].as_str().unwrap().to_string();
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let mut server = Group::spawn(
        std::process::Command::new("sh")
            .arg("-c")
            .arg(format!("{ui} --port {port}"))
            .current_dir(p.path())
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null())
            .env("MLFLOW_SERVER_ENABLE_JOB_EXECUTION", "false"),
    );
    let started = std::time::Instant::now();
    let mut up = false;
    while started.elapsed().as_secs() < 90 {
        if std::net::TcpStream::connect(("127.0.0.1", port)).is_ok() {
            up = true;
            break;
        }
        std::thread::sleep(std::time::Duration::from_millis(200));
    }
    server.end();
    assert!(up, "`{ui}` did not start a UI");
    assert!(!server.any_alive());

    // gc's plan names the command that carries it out.
    let plan = p.mlops(&["gc", "--keep-days", "0"]);
    plan.success();
    let execute = suggested(&plan.stderr);
    assert_eq!(
        execute,
        ["cargo mlops gc --keep-days 0 --execute"],
        "{}",
        plan.stderr
    );
    let done = run_suggested(&execute[0], p.path(), &[]);
    done.success();
    assert_has(&done.stderr, &["Deleted", "Freed"]);
    drop(remote);
}
