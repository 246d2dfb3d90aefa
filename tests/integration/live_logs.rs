//! The task's own output while it runs (issue 35): the launcher tees it into numbered chunks
//! in the run's folder (through the volume mount on the executing fake, a plain folder
//! locally), `run` shows the lines as they arrive, `logs` shows them so far or follows them,
//! and the whole output ends as artifacts of the MLflow run.

use std::sync::mpsc::Receiver;
use std::time::{Duration, Instant};

use crate::support::fake::FakeWorkspace;
use crate::support::{
    Group, Project, Run, assert_has, clean_command, local_store, python_json, shared_cargo_target,
    test_python,
};

/// An entry point that prints a line every `every` seconds, `count` times, with the time it
/// printed it, and a line on stderr before and after. Plain `print`: the launcher makes the
/// streams line-buffered.
const TICK: &str = r#"import argparse
import sys
import time

parser = argparse.ArgumentParser()
parser.add_argument("--count", type=int)
parser.add_argument("--every", type=float)
args = parser.parse_args()
print("warming up", file=sys.stderr)
for i in range(args.count):
    print("tick %d at %.3f" % (i, time.time()))
    time.sleep(args.every)
print("cooling down", file=sys.stderr)
"#;

fn project() -> Project {
    let p = Project::git();
    p.mlops(&["init", "--name", "tick"]).success();
    let manifest = p.read("mlops.toml")
        + r#"
[entry_points.tick]
command = "python tick.py --count {count} --every {every}"
parameters.count = { type = "int", default = 20 }
parameters.every = { type = "float", default = 1.0 }

[targets.dev]
kind = "databricks"
artifacts = "/Volumes/main/mlops/artifacts"
experiment = "/Users/{user}/{project}/{branch}"
"#;
    p.file("mlops.toml", &manifest)
        .file("mlproject/tick.py", TICK);
    p.git_cmd(&["add", "-A"]);
    p.git_cmd(&["commit", "-qm", "tick"]);
    p
}

/// `cargo-mlops ARGS` against `ws` in the background, as a CI runner sees it on GitHub
/// Actions: stdout and stderr in one stream, read as it comes.
fn spawn(p: &Project, ws: &FakeWorkspace, args: &[&str]) -> (Group, Receiver<(Instant, String)>) {
    let mut cmd = clean_command(std::path::Path::new("sh"));
    // `exec`: the signal the test sends reaches cargo-mlops itself.
    cmd.args(["-c", "exec \"$0\" \"$@\" 1>&2"])
        .arg(crate::support::bin())
        .args(args)
        .env("GITHUB_ACTIONS", "true");
    let mut group = Group::spawn(p.against(ws, &mut cmd));
    let lines = group.stderr_lines();
    (group, lines)
}

/// Lines of stderr with the moment each was read.
type Seen = Vec<(Instant, String)>;

fn joined(seen: &Seen) -> String {
    seen.iter()
        .map(|(_, l)| l.as_str())
        .collect::<Vec<_>>()
        .join("\n")
}

/// Reads `lines` into `seen` until one contains `wanted`.
fn wait_for(lines: &Receiver<(Instant, String)>, seen: &mut Seen, wanted: &str) {
    let deadline = Instant::now() + Duration::from_secs(180);
    while !seen.iter().any(|(_, l)| l.contains(wanted)) {
        let left = deadline.saturating_duration_since(Instant::now());
        match lines.recv_timeout(left) {
            Ok(line) => seen.push(line),
            Err(_) => panic!("no line with `{wanted}`; so far:\n{}", joined(seen)),
        }
    }
}

/// Waits for the process and adds the rest of its stderr to `seen`.
fn finish(
    mut group: Group,
    lines: Receiver<(Instant, String)>,
    seen: &mut Seen,
    p: &Project,
) -> Run {
    let out = group.wait_output();
    seen.extend(lines.iter());
    let mut run = Run::from(out, p.path());
    run.stderr = joined(seen);
    run
}

/// Whether every executed task of the fake is still running.
fn all_running(ws: &FakeWorkspace) -> bool {
    ws.with_state(|s| {
        !s.jobs.is_empty()
            && s.jobs
                .values()
                .all(|j| matches!(&j.execution, Some(Ok(e)) if e.poll().is_none()))
    })
}

/// The lines of `text` that are ticks, in order, without the time they were printed.
fn ticks(text: &str, prefix: &str) -> Vec<String> {
    text.lines()
        .filter_map(|l| l.trim_start().strip_prefix(prefix))
        .filter(|l| l.starts_with("tick "))
        .map(|l| l.split(" at ").next().unwrap().to_string())
        .collect()
}

/// For each tick line that reached our stderr, how long after the task printed it.
fn lags(seen: &[(Instant, String)]) -> Vec<f64> {
    // One moment on both clocks: the task's times are wall-clock, ours are Instants.
    let (now, wall) = (Instant::now(), std::time::SystemTime::now());
    let wall = wall
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs_f64();
    seen.iter()
        .filter_map(|(at, line)| {
            let printed: f64 = line
                .split("[out] tick ")
                .nth(1)?
                .split(" at ")
                .nth(1)?
                .parse()
                .ok()?;
            Some(wall - now.duration_since(*at).as_secs_f64() - printed)
        })
        .collect()
}

fn expected_ticks(n: usize) -> Vec<String> {
    (0..n).map(|i| format!("tick {i}")).collect()
}

#[test]
fn the_tasks_lines_arrive_while_it_runs_and_logs_follows_it_from_half_way() {
    let p = project();
    let ws = FakeWorkspace::start();
    ws.execute_jobs(&test_python());
    let (run, lines) = spawn(&p, &ws, &["run", "-t", "dev", "--entry", "tick"]);
    let mut seen = Vec::new();
    wait_for(&lines, &mut seen, "[out] tick 0");
    // The first line is on our terminal while the task still runs, not after it ended.
    assert!(all_running(&ws), "{}", joined(&seen));

    // `logs` (the branch's last run) prints what the task printed so far, and returns.
    let so_far = p.mlops_ws(&ws, &["logs", "-t", "dev"], &[]);
    so_far.success();
    let printed = ticks(&so_far.stdout, "");
    assert!(
        !printed.is_empty() && printed.len() < 20,
        "{}",
        so_far.snapshot()
    );
    assert_eq!(printed, expected_ticks(printed.len()));

    // `logs --follow`, attached half-way: everything from the start, then to the end, with
    // the task's stdout on stdout and its stderr on stderr; it exits as `run` does.
    let followed = p.mlops_ws(&ws, &["logs", "-t", "dev", "--follow"], &[]);
    followed.success();
    assert_eq!(
        ticks(&followed.stdout, ""),
        expected_ticks(20),
        "{}",
        followed.snapshot()
    );
    assert_has(
        &followed.stderr,
        &["warming up", "cooling down", "TERMINATED SUCCESS"],
    );
    assert!(!followed.stdout.contains("warming up"));

    let out = finish(run, lines, &mut seen, &p);
    out.success();
    // Every line once, in order, marked as the task's, its stderr told apart.
    assert_eq!(
        ticks(&out.stderr, "[out] "),
        expected_ticks(20),
        "{}",
        out.stderr
    );
    assert_has(&out.stderr, &["[err] warming up", "[err] cooling down"]);
    let running = out.stderr.find("RUNNING").unwrap();
    let first = out.stderr.find("[out] tick 0").unwrap();
    let terminated = out.stderr.find("TERMINATED").unwrap();
    assert!(running < first && first < terminated, "{}", out.stderr);
    // In CI the task's lines fold away with the states, in the run's group.
    let group = out.stderr.find("::group::Follow run").unwrap();
    let end = group + out.stderr[group..].find("::endgroup::").unwrap();
    let last = out.stderr.find("[out] tick 19").unwrap();
    assert!(group < first && last < end, "{}", out.stderr);
    // Each line within 10 s of the task printing it (chunks every 3 s, reads every 2 s).
    let lags = lags(&seen);
    assert_eq!(lags.len(), 20);
    assert!(lags.iter().all(|&lag| lag < 10.0), "{lags:?}");

    // The chunks are in the run's folder on the volume, ended by end.json.
    let run_id = ws.mlflow_runs()[0]["info"]["run_id"]
        .as_str()
        .unwrap()
        .to_string();
    let folder = format!("/Volumes/main/mlops/artifacts/main/runs/{run_id}/logs/");
    let chunks: Vec<String> = ws
        .volume_paths()
        .into_iter()
        .filter(|f| f.starts_with(&folder))
        .collect();
    assert!(
        chunks.iter().any(|c| c.ends_with("/000001.txt")),
        "{chunks:?}"
    );
    assert!(
        chunks.iter().any(|c| c.ends_with("/end.json")),
        "{chunks:?}"
    );
    assert!(chunks.len() > 3, "a chunk every few seconds: {chunks:?}");

    // The whole output is an artifact of the MLflow run.
    let artifact = |name: &str| {
        let path = ws
            .volume_paths()
            .into_iter()
            .find(|f| f.contains(&run_id) && f.ends_with(&format!("/logs/{name}")))
            .unwrap_or_else(|| panic!("no {name} artifact: {:?}", ws.volume_paths()));
        String::from_utf8(ws.volume_file(&path).unwrap()).unwrap()
    };
    assert_eq!(ticks(&artifact("stdout.txt"), ""), expected_ticks(20));
    assert_has(&artifact("stderr.txt"), &["warming up", "cooling down"]);
}

#[test]
fn a_store_that_refuses_the_live_log_does_not_fail_the_training() {
    let p = project();
    let ws = FakeWorkspace::start();
    ws.execute_jobs(&test_python());
    let few = ["-P", "count=3", "-P", "every=0.2"];
    // First, --quiet: the task's lines are not shown (they are still in the run's folder).
    let quiet = p.mlops_ws(
        &ws,
        &[&["run", "-t", "dev", "--entry", "tick", "-q"][..], &few].concat(),
        &[],
    );
    quiet.success();
    assert!(!quiet.stderr.contains("tick"), "{}", quiet.stderr);
    assert!(
        ws.volume_paths()
            .iter()
            .any(|f| f.ends_with("/logs/end.json")),
        "{:?}",
        ws.volume_paths()
    );

    ws.with_state(|s| s.refuse_mount_writes = true);
    let out = p.mlops_ws(
        &ws,
        &[
            "run",
            "-t",
            "dev",
            "--entry",
            "tick",
            "-P",
            "count=3",
            "-P",
            "every=0.2",
            "--json",
        ],
        &[],
    );
    out.success();
    assert_eq!(out.json()["result"], "SUCCESS");
    let runs = ws.mlflow_runs();
    assert!(
        runs.iter().all(|r| r["info"]["status"] == "FINISHED"),
        "{runs:?}"
    );
    let run_id = out.json()["mlflow_run_id"].as_str().unwrap().to_string();
    assert!(
        !ws.volume_paths()
            .iter()
            .any(|f| f.contains(&format!("/runs/{run_id}/logs/"))),
        "{:?}",
        ws.volume_paths()
    );
    // `logs` falls back to the task's own log and says so; the launcher said once that the
    // store refused, and the training went on.
    let logs = p.mlops_ws(&ws, &["logs", "-t", "dev"], &[]);
    logs.success();
    assert_has(&logs.stderr, &["has no live log", "runs/get-output"]);
    assert_eq!(
        ticks(&logs.stdout, ""),
        expected_ticks(3),
        "{}",
        logs.snapshot()
    );
    assert_eq!(
        logs.stdout.matches("cannot write the live log").count(),
        1,
        "{}",
        logs.stdout
    );
}

#[test]
fn ctrl_c_cancels_and_the_tasks_last_lines_are_shown() {
    let p = project();
    let ws = FakeWorkspace::start();
    ws.execute_jobs(&test_python());
    let (run, lines) = spawn(
        &p,
        &ws,
        &[
            "run",
            "-t",
            "dev",
            "--entry",
            "tick",
            "-P",
            "count=60",
            "-P",
            "every=0.5",
        ],
    );
    let mut seen = Vec::new();
    wait_for(&lines, &mut seen, "[out] tick 4");
    run.signal("INT");
    let out = finish(run, lines, &mut seen, &p);
    out.code(130);
    assert_has(&out.stderr, &["Cancelling", "CANCELED"]);
    assert_eq!(ws.mlflow_runs()[0]["info"]["status"], "KILLED");
    // Every line the task printed before it was stopped reached us, the last ones after
    // the cancel (from the task's own log where its last chunk was never written).
    let task_log = ws.with_state(|s| {
        s.jobs
            .values()
            .find_map(|j| j.execution.as_ref()?.as_ref().ok().map(|e| e.log()))
            .unwrap()
    });
    let printed = ticks(&task_log, "");
    assert!(printed.len() >= 5, "{task_log}");
    assert_eq!(ticks(&out.stderr, "[out] "), printed, "{}", out.stderr);
}

#[test]
fn a_local_run_keeps_its_live_log_and_logs_its_output_as_artifacts() {
    let p = project();
    let python = test_python();
    let out = p.mlops(&[
        "run",
        "--entry",
        "tick",
        "-P",
        "count=3",
        "-P",
        "every=0.1",
        "--python",
        python.to_str().unwrap(),
        "--json",
    ]);
    out.success();
    let run_id = out.json()["mlflow_run_id"].as_str().unwrap().to_string();
    assert_has(&out.stderr, &["tick 0", "tick 2", "warming up"]);
    // The chunks, in the local store's branch folder.
    let logs = walk(p.path())
        .into_iter()
        .find(|f| f.ends_with(format!("runs/{run_id}/logs/end.json")))
        .unwrap_or_else(|| panic!("no live log of run {run_id}"));
    let folder = logs.parent().unwrap();
    let mut joined = String::new();
    let mut chunks: Vec<_> = std::fs::read_dir(folder)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|f| f.extension().is_some_and(|e| e == "txt"))
        .collect();
    chunks.sort();
    for chunk in chunks {
        joined.push_str(&std::fs::read_to_string(chunk).unwrap());
    }
    assert_eq!(ticks(&joined, "o "), expected_ticks(3), "{joined}");
    assert_has(&joined, &["e warming up", "e cooling down"]);
    // And the artifacts of the run in the local MLflow store.
    let artifacts = python_json(
        "import json, sys\nfrom mlflow.tracking import MlflowClient\nc = MlflowClient(sys.argv[1])\nprint(json.dumps({n: open(c.download_artifacts(sys.argv[2], 'logs/' + n)).read() for n in ('stdout.txt', 'stderr.txt')}))",
        &[&local_store(&p), &run_id],
    );
    assert_eq!(
        ticks(artifacts["stdout.txt"].as_str().unwrap(), ""),
        expected_ticks(3)
    );
    assert_has(artifacts["stderr.txt"].as_str().unwrap(), &["warming up"]);
}

/// Every file under `root`.
fn walk(root: &std::path::Path) -> Vec<std::path::PathBuf> {
    let mut out = Vec::new();
    let mut stack = vec![root.to_path_buf()];
    while let Some(dir) = stack.pop() {
        for entry in std::fs::read_dir(&dir).into_iter().flatten().flatten() {
            let path = entry.path();
            if path.is_dir() {
                stack.push(path);
            } else {
                out.push(path);
            }
        }
    }
    out
}

/// The README's "Trying it without a workspace": the example workspace, started as a person
/// starts it (`--execute`, a port of its own), runs a submitted task for real and `run` shows
/// the task's lines.
#[test]
fn the_example_workspace_runs_tasks_and_shows_their_output() {
    use std::io::BufRead;
    let p = project();
    let example = crate::support::bin()
        .parent()
        .unwrap()
        .join("examples/fake_workspace");
    let mut cmd = clean_command(&example);
    cmd.args(["--execute", "0"])
        .env("MLOPS_PYTHON", test_python())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::null());
    let mut group = Group::spawn(&mut cmd);
    let mut said = std::io::BufReader::new(group.take_stdout()).lines();
    let mut next = |key: &str| {
        let line = said.next().unwrap().unwrap();
        line.strip_prefix(&format!("{key}="))
            .unwrap_or_else(|| panic!("not {key}: {line}"))
            .to_string()
    };
    let (host, token) = (next("DATABRICKS_HOST"), next("DATABRICKS_TOKEN"));
    let out = p.mlops_in(
        ".",
        &[
            "run",
            "-t",
            "dev",
            "--entry",
            "tick",
            "-P",
            "count=2",
            "-P",
            "every=0.1",
        ],
        &[
            ("DATABRICKS_HOST", host.as_str()),
            ("DATABRICKS_TOKEN", token.as_str()),
            ("HOME", p.path().to_str().unwrap()),
            ("CARGO_TARGET_DIR", shared_cargo_target().to_str().unwrap()),
        ],
    );
    out.success();
    assert_eq!(
        ticks(&out.stderr, "[out] "),
        expected_ticks(2),
        "{}",
        out.stderr
    );
    group.end();
}
