//! `cargo mlops deploy` against the fake workspace: content-addressed uploads, no payload on an
//! unchanged redeploy, faults, concurrency, Ctrl-C and a wrong token.

use std::path::Path;

use serde_json::Value;

use crate::support::fake::{FakeWorkspace, Faults};
use crate::support::{
    Project, Run, assert_has, project_from_fixture, sha256_file, shared_cargo_target, test_python,
};

/// The demo with a DBFS target (runtime 14.3, where DBFS libraries still work) beside its
/// volume target.
fn demo() -> Project {
    let p = project_from_fixture("demo");
    let manifest = p.read("mlops.toml")
        + "\n[targets.dbfs]\nkind = \"databricks\"\nartifacts = \"dbfs:/mlops/{project}\"\n";
    let manifest = manifest.replace("15.4.x-scala2.12", "14.3.x-scala2.12");
    p.file("mlops.toml", &manifest);
    p.git_cmd(&["commit", "-qam", "dbfs target"]);
    // Build once up front (with the shared cargo target) so deploys below only publish.
    let python = test_python();
    p.mlops_shared_target(&["build", "--python", python.to_str().unwrap()], &[])
        .success();
    p
}

fn deploy(p: &Project, ws: &FakeWorkspace, target: &str, extra: &[&str]) -> Run {
    let python = test_python();
    let mut args = vec![
        "deploy",
        "--json",
        "--target",
        target,
        "--python",
        python.to_str().unwrap(),
    ];
    args.extend_from_slice(extra);
    p.mlops_ws(ws, &args, &[])
}

/// `deploy` with other credentials in the environment (an empty value unsets one).
fn deploy_with(p: &Project, ws: &FakeWorkspace, env: &[(&str, &str)]) -> Run {
    let python = test_python();
    let args = [
        "deploy",
        "--json",
        "--target",
        "dbfs",
        "--python",
        python.to_str().unwrap(),
    ];
    p.mlops_ws(ws, &args, env)
}

fn wheels(report: &Value) -> Vec<Value> {
    report["wheels"].as_array().unwrap().clone()
}

/// The store path of a DBFS artifact as the fake keys it.
fn dbfs_key(remote: &str) -> String {
    remote.strip_prefix("dbfs:").unwrap().to_string()
}

/// Every wheel, the tarball and the launcher are at their paths with the local bytes.
fn assert_stored(p: &Project, ws: &FakeWorkspace, report: &Value) {
    for w in wheels(report) {
        let remote = w["remote_path"].as_str().unwrap();
        let stored = if remote.starts_with("dbfs:") {
            ws.dbfs_file(&dbfs_key(remote))
        } else {
            ws.volume_file(remote)
        }
        .unwrap_or_else(|| panic!("{remote} is not in the workspace"));
        let local = p.path().join(".mlops/wheels");
        let local_wheel = find_file(&local, w["file"].as_str().unwrap());
        assert_eq!(sha256_bytes(&stored), sha256_file(&local_wheel), "{remote}");
        assert_eq!(w["sha256"], sha256_bytes(&stored).as_str());
        let address = &w["sha256"].as_str().unwrap()[..16];
        assert!(remote.contains(&format!("/main/{address}/")), "{remote}");
    }
}

fn find_file(dir: &Path, name: &str) -> std::path::PathBuf {
    for entry in std::fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        if path.is_dir() {
            let candidate = path.join(name);
            if candidate.is_file() {
                return candidate;
            }
        }
    }
    panic!("{name} not under {}", dir.display())
}

fn sha256_bytes(bytes: &[u8]) -> String {
    use sha2::Digest;
    sha2::Sha256::digest(bytes)
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

#[test]
fn dbfs_deploy_then_unchanged_redeploy_sends_nothing() {
    let p = demo();
    let ws = FakeWorkspace::start();
    let first = deploy(&p, &ws, "dbfs", &[]);
    first.success();
    let report = first.json();
    assert_stored(&p, &ws, &report);
    for w in wheels(&report) {
        assert_eq!(w["uploaded"], true);
        assert_eq!(w["bytes_sent"], w["size"]);
        assert!(
            w["remote_path"]
                .as_str()
                .unwrap()
                .starts_with("dbfs:/mlops/demo/main/")
        );
    }
    assert!(
        report["tarball"]["remote_path"]
            .as_str()
            .unwrap()
            .ends_with("/project.tar.gz")
    );
    assert!(
        report["launcher"]["remote_path"]
            .as_str()
            .unwrap()
            .ends_with("/mlops_launcher.py")
    );
    // The deploy record names the commit and every wheel's full hash and path.
    let commit = p.git_cmd(&["rev-parse", "HEAD"]);
    let record_path = format!("/mlops/demo/main/deploys/{commit}.json");
    let record: Value =
        serde_json::from_slice(&ws.dbfs_file(&record_path).expect("a deploy record")).unwrap();
    assert_eq!(record["branch"], "main");
    assert_eq!(record["commit"], commit.as_str());
    assert_eq!(record["wheels"].as_array().unwrap().len(), 2);
    assert_eq!(record["wheels"][0]["sha256"].as_str().unwrap().len(), 64);
    assert_eq!(record["tarball"]["path"], report["tarball"]["remote_path"]);
    // No temporary upload is left behind.
    assert!(
        ws.dbfs_paths().iter().all(|p| !p.contains("/.tmp-")),
        "{:?}",
        ws.dbfs_paths()
    );

    ws.clear_log();
    let second = deploy(&p, &ws, "dbfs", &[]);
    second.success();
    let again = second.json();
    for w in wheels(&again)
        .iter()
        .chain([&again["tarball"], &again["launcher"]])
    {
        assert_eq!(w["uploaded"], false, "{w:#}");
        assert_eq!(w["bytes_sent"], 0);
    }
    // Nothing but lookups: no request carries a body.
    let sent: Vec<_> = ws.log().into_iter().filter(|l| l.body_len > 0).collect();
    assert!(sent.is_empty(), "payload was sent again: {sent:#?}");
    assert_eq!(again["payload_bytes"], 0);
}

#[test]
fn volume_deploy_uses_the_files_api() {
    let p = demo();
    let ws = FakeWorkspace::start();
    let run = deploy(&p, &ws, "dev", &[]);
    run.success();
    let report = run.json();
    assert_stored(&p, &ws, &report);
    assert!(
        wheels(&report)[0]["remote_path"]
            .as_str()
            .unwrap()
            .starts_with("/Volumes/main/mlops/artifacts/demo/main/")
    );
    let log = ws.log();
    assert!(log.iter().any(|l| l.method == "PUT"
        && l.path.starts_with("/api/2.0/fs/files/Volumes/")
        && l.query.get("overwrite").map(String::as_str) == Some("false")));
    let again = deploy(&p, &ws, "dev", &[]);
    for w in wheels(&again.success().json()) {
        assert_eq!(w["bytes_sent"], 0);
    }
    // A missing volume is a clear remote error.
    ws.with_state(|s| s.volumes.clear());
    let run = deploy(&p, &ws, "dev", &[]);
    run.code(3);
    assert_has(
        &run.stderr,
        &["/api/2.0/fs/files/Volumes/main/mlops/artifacts", "404"],
    );
}

#[test]
fn deploys_succeed_under_every_kind_of_fault() {
    let p = demo();
    for (name, faults) in [
        (
            "503",
            Faults {
                seed: 1,
                unavailable: 0.3,
                ..Faults::default()
            },
        ),
        (
            "429",
            Faults {
                seed: 2,
                too_many: 0.3,
                retry_after_secs: 1,
                ..Faults::default()
            },
        ),
        (
            "reset before",
            Faults {
                seed: 3,
                reset_before: 0.3,
                ..Faults::default()
            },
        ),
        (
            "reset after (lost answers)",
            Faults {
                seed: 4,
                reset_after: 0.3,
                ..Faults::default()
            },
        ),
        (
            "latency",
            Faults {
                latency: std::time::Duration::from_millis(30),
                ..Faults::default()
            },
        ),
    ] {
        for target in ["dbfs", "dev"] {
            let ws = FakeWorkspace::start();
            ws.set_faults(faults.clone());
            let run = deploy(&p, &ws, target, &[]);
            assert_eq!(run.code, 0, "{name} on {target}:\n{}", run.snapshot());
            assert_stored(&p, &ws, &run.json());
            let faulted = ws.log().iter().filter(|l| !l.fault.is_empty()).count();
            if name != "latency" {
                assert!(faulted > 0, "{name}: no fault was injected");
            }
        }
    }
}

#[test]
fn a_lost_upload_answer_never_leaves_a_wrong_file_at_the_final_path() {
    let p = demo();
    for target in ["dbfs", "dev"] {
        let ws = FakeWorkspace::start();
        // Every second upload and move loses its answer after the service acted on it.
        ws.set_faults(Faults {
            seed: 9,
            reset_after: 0.5,
            only: if target == "dbfs" {
                "/dbfs/".into()
            } else {
                "/fs/files".into()
            },
            ..Faults::default()
        });
        let run = deploy(&p, &ws, target, &[]);
        assert_eq!(run.code, 0, "{}", run.snapshot());
        assert!(ws.log().iter().any(|l| l.fault == "reset_after"));
        assert_stored(&p, &ws, &run.json());
    }
}

#[test]
fn two_deploys_of_one_branch_at_once_leave_one_copy() {
    let p = demo();
    let ws = FakeWorkspace::start();
    ws.set_faults(Faults {
        latency: std::time::Duration::from_millis(20),
        ..Faults::default()
    });
    let (a, b) = std::thread::scope(|s| {
        let a = s.spawn(|| deploy(&p, &ws, "dbfs", &[]));
        let b = s.spawn(|| deploy(&p, &ws, "dbfs", &[]));
        (a.join().unwrap(), b.join().unwrap())
    });
    a.success();
    b.success();
    assert_stored(&p, &ws, &a.json());
    let wheel_files: Vec<String> = ws
        .dbfs_paths()
        .into_iter()
        .filter(|p| p.ends_with(".whl"))
        .collect();
    assert_eq!(wheel_files.len(), 2, "{wheel_files:?}");
    assert!(
        ws.dbfs_paths().iter().all(|p| !p.contains("/.tmp-")),
        "{:?}",
        ws.dbfs_paths()
    );
}

#[test]
fn ctrl_c_during_an_upload_leaves_nothing_at_the_final_path() {
    let p = demo();
    let ws = FakeWorkspace::start();
    ws.set_faults(Faults {
        latency: std::time::Duration::from_secs(3),
        only: "/dbfs/put".into(),
        ..Faults::default()
    });
    let mut child = spawn_deploy(&p, &ws, &[]);
    let started = std::time::Instant::now();
    while !ws.arrived("/dbfs/put") {
        assert!(started.elapsed().as_secs() < 60, "no upload started");
        std::thread::sleep(std::time::Duration::from_millis(20));
    }
    child.signal("INT");
    let out = child.wait_output();
    let run = Run::from(out, p.path());
    run.code(130);
    let finals: Vec<String> = ws
        .dbfs_paths()
        .into_iter()
        .filter(|path| path.starts_with("/mlops/demo/main/") && !path.contains("/.tmp-"))
        .collect();
    assert!(
        finals.is_empty(),
        "files reached their final paths: {finals:?}"
    );
}

#[test]
fn a_wrong_token_exits_3_and_names_the_host() {
    let p = demo();
    let ws = FakeWorkspace::start();
    let url = ws.url();
    let run = deploy_with(&p, &ws, &[("DATABRICKS_TOKEN", "dapi-wrong-token-xyz")]);
    run.code(3);
    assert_has(
        &run.stderr,
        &[
            "were rejected by",
            &url,
            "Invalid access token",
            "DATABRICKS_TOKEN",
        ],
    );
    assert!(
        !run.stderr.contains("dapi-wrong-token-xyz")
            && !run.stdout.contains("dapi-wrong-token-xyz")
    );
}

#[test]
fn tokens_never_appear_in_any_output() {
    let p = demo();
    let ws = FakeWorkspace::start();
    let run = deploy(&p, &ws, "dbfs", &["-v"]);
    run.success();
    assert!(!run.stdout.contains(ws.token()) && !run.stderr.contains(ws.token()));
    // The token went only into the Authorization header.
    assert!(
        ws.log()
            .iter()
            .all(|l| l.authorization.as_deref() == Some(&format!("Bearer {}", ws.token())))
    );
}

#[test]
fn dry_run_writes_nothing_anywhere() {
    let p = demo();
    let ws = FakeWorkspace::start();
    let before: Vec<String> = walk(p.path());
    let run = deploy(&p, &ws, "dbfs", &["--dry-run"]);
    run.success();
    let report = run.json();
    assert_eq!(report["dry_run"], true);
    assert_eq!(report["wheels"][0]["cached"], true);
    assert!(
        report["wheels"][0]["remote_path"]
            .as_str()
            .unwrap()
            .starts_with("dbfs:/mlops/demo/main/")
    );
    assert!(ws.log().is_empty(), "the workspace was contacted");
    assert_eq!(walk(p.path()), before, "local files changed");
}

fn walk(dir: &Path) -> Vec<String> {
    let mut out = Vec::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        for e in std::fs::read_dir(&d).unwrap() {
            let path = e.unwrap().path();
            if path.ends_with(".git") {
                continue;
            }
            if path.is_dir() {
                stack.push(path.clone());
            }
            out.push(path.to_string_lossy().into_owned());
        }
    }
    out.sort();
    out
}

#[test]
fn local_deploy_uses_the_same_layout() {
    let p = demo();
    let python = test_python();
    let run = p.mlops_shared_target(
        &["deploy", "--json", "--python", python.to_str().unwrap()],
        &[],
    );
    run.success();
    let report = run.json();
    for w in wheels(&report) {
        let remote = w["remote_path"].as_str().unwrap();
        assert!(
            remote.starts_with(p.path().join(".mlops/artifacts/main").to_str().unwrap()),
            "{remote}"
        );
        assert_eq!(
            sha256_file(Path::new(remote)),
            w["sha256"].as_str().unwrap()
        );
    }
    let again = p.mlops_shared_target(
        &["deploy", "--json", "--python", python.to_str().unwrap()],
        &[],
    );
    for w in wheels(&again.success().json()) {
        assert_eq!(w["uploaded"], false);
    }
}

#[test]
fn oauth_m2m_fetches_one_token_and_reuses_it() {
    let p = demo();
    let ws = FakeWorkspace::start();
    let url = ws.url();
    let run = deploy_with(
        &p,
        &ws,
        &[
            ("DATABRICKS_TOKEN", ""),
            ("DATABRICKS_CLIENT_ID", "fake-client"),
            ("DATABRICKS_CLIENT_SECRET", "fake-secret"),
        ],
    );
    run.success();
    assert_stored(&p, &ws, &run.json());
    assert_eq!(
        ws.with_state(|s| s.oauth_tokens_issued),
        1,
        "the token is fetched once and reused"
    );
    let token_calls: Vec<_> = ws
        .log()
        .into_iter()
        .filter(|l| l.path == "/oidc/v1/token")
        .collect();
    assert_eq!(token_calls.len(), 1);
    assert!(
        token_calls[0]
            .authorization
            .as_deref()
            .unwrap()
            .starts_with("Basic ")
    );
    assert!(!run.stderr.contains("fake-secret"));
    // A wrong secret says which credentials were refused, by which host.
    let run = deploy_with(
        &p,
        &ws,
        &[
            ("DATABRICKS_TOKEN", ""),
            ("DATABRICKS_CLIENT_ID", "fake-client"),
            ("DATABRICKS_CLIENT_SECRET", "wrong"),
        ],
    );
    run.code(3);
    assert_has(&run.stderr, &["client id/secret", "rejected by", &url]);
}

#[test]
fn azure_cli_tokens_come_from_az() {
    let p = demo();
    let ws = FakeWorkspace::start();
    let bin = tempfile::tempdir().unwrap();
    let az = bin.path().join("az");
    let log = bin.path().join("az.log");
    std::fs::write(
        &az,
        format!(
            "#!/bin/sh\necho \"$*\" >> '{}'\necho '{{\"accessToken\": \"{}\", \"expires_on\": 4102444800, \"tokenType\": \"Bearer\"}}'\n",
            log.display(),
            ws.token()
        ),
    )
    .unwrap();
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(&az, std::fs::Permissions::from_mode(0o755)).unwrap();
    let path = format!(
        "{}:{}",
        bin.path().display(),
        std::env::var("PATH").unwrap()
    );
    let run = deploy_with(
        &p,
        &ws,
        &[
            ("DATABRICKS_TOKEN", ""),
            ("DATABRICKS_AUTH_TYPE", "azure-cli"),
            ("PATH", path.as_str()),
        ],
    );
    run.success();
    let calls = std::fs::read_to_string(&log).unwrap();
    assert_eq!(
        calls.lines().count(),
        1,
        "one az call, then reused: {calls}"
    );
    assert!(
        calls.contains("account get-access-token --resource 2ff814a6-3304-4ab8-85cb-cd0e6f879c1d"),
        "{calls}"
    );
}

#[test]
fn missing_credentials_say_what_was_tried() {
    let p = demo();
    let python = test_python();
    let run = p.mlops_in(
        ".",
        &[
            "deploy",
            "--target",
            "dbfs",
            "--python",
            python.to_str().unwrap(),
        ],
        &[
            ("DATABRICKS_HOST", "https://adb-1.2.azuredatabricks.net"),
            ("HOME", p.path().to_str().unwrap()),
            ("CARGO_TARGET_DIR", shared_cargo_target().to_str().unwrap()),
        ],
    );
    run.code(2);
    assert_has(
        &run.stderr,
        &[
            "no Databricks credentials for https://adb-1.2.azuredatabricks.net",
            "DATABRICKS_TOKEN",
            ".databrickscfg",
        ],
    );
    let run = p.mlops_in(
        ".",
        &[
            "deploy",
            "--target",
            "dbfs",
            "--python",
            python.to_str().unwrap(),
        ],
        &[
            ("DATABRICKS_HOST", "http://adb-1.2.azuredatabricks.net"),
            ("DATABRICKS_TOKEN", "t"),
            ("HOME", p.path().to_str().unwrap()),
        ],
    );
    run.code(2);
    assert_has(&run.stderr, &["unencrypted"]);
}

#[test]
fn ctrl_c_during_a_retry_back_off_acts_at_once() {
    let p = demo();
    let ws = FakeWorkspace::start();
    // Every answer is a 503, and the first back-off is 4 s (then 8 s, 10 s...).
    ws.set_faults(Faults {
        unavailable: 1.0,
        ..Faults::default()
    });
    let mut child = spawn_deploy(&p, &ws, &[("MLOPS_RETRY_FIRST_MS", "4000")]);
    let started = std::time::Instant::now();
    while ws.log().is_empty() {
        assert!(started.elapsed().as_secs() < 60, "no request was made");
        std::thread::sleep(std::time::Duration::from_millis(20));
    }
    // Now in the first back-off.
    std::thread::sleep(std::time::Duration::from_millis(300));
    let interrupted = std::time::Instant::now();
    child.signal("INT");
    let out = child.wait_output();
    let took = interrupted.elapsed();
    let run = Run::from(out, p.path());
    run.code(130);
    // A bound on responsiveness, far below the 4 s the sleep had left.
    assert!(
        took < std::time::Duration::from_millis(2500),
        "Ctrl-C took {took:?} to act during a back-off"
    );
}

/// `deploy --target dbfs` against `ws` as its own process group, with piped output, for
/// tests that signal it.
pub fn spawn_deploy(
    p: &Project,
    ws: &FakeWorkspace,
    env: &[(&str, &str)],
) -> crate::support::Group {
    let python = test_python();
    let mut cmd = crate::support::clean_command(&crate::support::bin());
    cmd.args([
        "deploy",
        "--target",
        "dbfs",
        "--python",
        python.to_str().unwrap(),
    ])
    .current_dir(p.path())
    .env("DATABRICKS_HOST", ws.url())
    .env("DATABRICKS_TOKEN", ws.token())
    .env("HOME", p.path())
    .env("CARGO_TARGET_DIR", shared_cargo_target())
    .envs(env.iter().copied())
    .stdout(std::process::Stdio::piped())
    .stderr(std::process::Stdio::piped());
    crate::support::Group::spawn(&mut cmd)
}

#[test]
fn a_missing_privilege_is_not_called_a_bad_token() {
    let p = demo();
    let ws = FakeWorkspace::start();
    ws.with_state(|s| {
        s.read_only_volumes
            .insert("/Volumes/main/mlops/artifacts".into())
    });
    let run = deploy(&p, &ws, "dev", &[]);
    run.code(3);
    assert_has(
        &run.stderr,
        &[
            "denied access to volume main.mlops.artifacts",
            "WRITE VOLUME",
            "are valid, but their identity lacks a privilege",
            "grants",
        ],
    );
    assert!(
        !run.stderr.contains("personal access token"),
        "{}",
        run.stderr
    );
    // A wrong token is still a credentials problem.
    let wrong = p.mlops_ws(
        &ws,
        &["deploy", "--target", "dev", "--dry-run"],
        &[("DATABRICKS_TOKEN", "dapi-wrong")],
    );
    wrong.success();
    let wrong = p.mlops_ws(
        &ws,
        &["check", "--target", "dev", "--online"],
        &[("DATABRICKS_TOKEN", "dapi-wrong")],
    );
    wrong.code(3);
    assert_has(&wrong.stderr, &["were rejected", "personal access token"]);
}

#[test]
fn large_files_go_to_dbfs_with_the_streaming_api_and_survive_a_lost_block_answer() {
    let p = demo();
    // 3 MiB that do not compress: the project tarball is over the 2 MiB `put` limit.
    let mut noise = Vec::with_capacity(3 << 20);
    let mut x: u64 = 0x9e37_79b9_7f4a_7c15;
    while noise.len() < 3 << 20 {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        noise.extend_from_slice(&x.to_le_bytes());
    }
    std::fs::write(p.path().join("mlproject/weights.bin"), &noise).unwrap();
    p.git_cmd(&["add", "-A"]);
    p.git_cmd(&["commit", "-qm", "weights"]);
    let ws = FakeWorkspace::start();
    // The answer of the second block is lost: the file is sent again from `create`.
    ws.set_faults(Faults {
        only: "/dbfs/add-block".into(),
        lose_answer_of: Some(1),
        ..Default::default()
    });
    let run = deploy(&p, &ws, "dbfs", &[]);
    run.success();
    let report = run.json();
    let tarball = report["tarball"]["remote_path"].as_str().unwrap();
    let stored = ws.dbfs_file(tarball.trim_start_matches("dbfs:")).unwrap();
    assert_eq!(
        stored.len() as u64,
        report["tarball"]["size"].as_u64().unwrap()
    );
    let log = ws.log();
    let count = |end: &str| log.iter().filter(|l| l.path.ends_with(end)).count();
    assert!(
        count("/dbfs/create") >= 2,
        "the upload was not started again"
    );
    assert!(
        count("/dbfs/add-block") >= 4,
        "{}",
        count("/dbfs/add-block")
    );
    assert!(count("/dbfs/close") >= 1);
}
