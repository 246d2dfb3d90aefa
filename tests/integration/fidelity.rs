//! The fake workspace is only as good as its fidelity: the real `databricks-sdk` drives it,
//! and where the two disagree, the fake is wrong.

use crate::support::fake::FakeWorkspace;
use crate::support::test_python;

#[test]
fn the_python_sdk_works_against_the_fake() {
    let ws = FakeWorkspace::start();
    let script =
        std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fidelity/sdk_client.py");
    let out = std::process::Command::new(test_python())
        .arg(&script)
        .arg(ws.url())
        .arg(ws.token())
        .env_remove("DATABRICKS_HOST")
        .env_remove("DATABRICKS_TOKEN")
        .env_remove("DATABRICKS_CONFIG_PROFILE")
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "databricks-sdk disagrees with the fake:\n{}\n{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    let summary: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(summary["dbfs_bytes"], 256 * 9000);
    // What the SDK did is visible in the fake's log: DBFS blocks of at most 1 MiB, a volume
    // PUT, an experiment, a job run.
    let log = ws.log();
    let blocks = log
        .iter()
        .filter(|l| l.path == "/api/2.0/dbfs/add-block")
        .count();
    assert!(blocks >= 3, "{blocks} add-block calls");
    assert!(
        log.iter()
            .any(|l| l.method == "PUT" && l.path.starts_with("/api/2.0/fs/files/Volumes/"))
    );
    assert!(
        log.iter()
            .any(|l| l.path == "/api/2.0/mlflow/experiments/create")
    );
    assert!(log.iter().any(|l| l.path.ends_with("/jobs/runs/submit")));
    // Every call the SDK made is one the fake knows, except the presigned-URL APIs and the
    // host-metadata probe, which the fake answers as a workspace without them does; the SDK
    // then falls back (to the Files API, to the explicit configuration).
    let unknown: Vec<_> = log
        .iter()
        .filter(|l| l.status == Some(404) && !l.path.contains("get-by-name"))
        .filter(|l| {
            !l.path.ends_with("/fs/create-download-url")
                && !l.path.ends_with("/fs/create-upload-part-urls")
                && !l.path.contains("/.well-known/")
        })
        .collect();
    assert!(unknown.is_empty(), "{unknown:#?}");
}
