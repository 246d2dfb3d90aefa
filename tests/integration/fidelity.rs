//! The fake workspace is only as good as its fidelity: the real `databricks-sdk` drives it,
//! and where the two disagree, the fake is wrong.

use crate::support::fake::FakeWorkspace;
use crate::support::test_python;

/// Runs `tests/fidelity/<script>` with the real databricks-sdk against `ws`; its JSON summary.
pub fn sdk_script(ws: &FakeWorkspace, script: &str) -> serde_json::Value {
    let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fidelity")
        .join(script);
    let out = std::process::Command::new(test_python())
        .arg(&path)
        .arg(ws.url())
        .arg(ws.token())
        .env_remove("DATABRICKS_HOST")
        .env_remove("DATABRICKS_TOKEN")
        .env_remove("DATABRICKS_CONFIG_PROFILE")
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "databricks-sdk disagrees with the fake ({script}):\n{}\n{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_slice(&out.stdout).unwrap()
}

#[test]
fn the_python_sdk_works_against_the_fake() {
    let ws = FakeWorkspace::start();
    ws.with_state(|s| s.add_model_version("main.fidelity.model", "fidelity-run"));
    let summary = sdk_script(&ws, "sdk_client.py");
    assert_eq!(summary["dbfs_bytes"], 256 * 9000);
    // The SDK sent its 50 MiB file in parts through the fake's multipart flow.
    assert!(summary["multipart_bytes"].as_u64().unwrap() > 50 * 1024 * 1024);
    let parts = ws
        .log()
        .iter()
        .filter(|l| l.path.starts_with("/_cloud/") && l.method == "PUT" && l.status == Some(200))
        .count();
    assert!(parts >= 5, "the SDK sent {parts} parts");
    assert_eq!(summary["uc_alias_version"], 1);
    assert!(
        summary["serverless_refusal"]
            .as_str()
            .unwrap()
            .contains("Libraries field is not supported for serverless task"),
        "{summary}"
    );
    // The serverless submit the SDK made, as the fake received it.
    let serverless = ws
        .log()
        .into_iter()
        .filter(|l| l.path.ends_with("/jobs/runs/submit") && l.status == Some(200))
        .filter_map(|l| l.json)
        .find(|b| b["run_name"] == "fidelity-serverless")
        .expect("the serverless submit was accepted");
    assert_eq!(serverless["tasks"][0]["environment_key"], "default");
    assert_eq!(
        serverless["environments"][0]["spec"]["environment_version"],
        "4"
    );
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
        // The aliases the script looks up before it sets them, and after it deletes one,
        // are missing on purpose.
        .filter(|l| {
            !l.path
                .ends_with("/models/main.fidelity.model/aliases/champion")
                && !l
                    .path
                    .ends_with("/models/main.fidelity.model/aliases/challenger")
        })
        .filter(|l| {
            !l.path.ends_with("/fs/create-download-url")
                && !l.path.ends_with("/fs/create-upload-part-urls")
                && !l.path.contains("/.well-known/")
        })
        .collect();
    assert!(unknown.is_empty(), "{unknown:#?}");
}

/// Posts a `runs/submit` body to the fake; returns the status and the error message.
fn submit(ws: &FakeWorkspace, body: serde_json::Value) -> (u16, String) {
    let resp = reqwest::blocking::Client::new()
        .post(format!("{}/api/2.1/jobs/runs/submit", ws.url()))
        .bearer_auth(ws.token())
        .header("Content-Type", "application/json")
        .body(body.to_string())
        .send()
        .unwrap();
    let status = resp.status().as_u16();
    let v: serde_json::Value = serde_json::from_slice(&resp.bytes().unwrap()).unwrap();
    (status, v["message"].as_str().unwrap_or("").to_string())
}

#[test]
fn the_fake_answers_serverless_submits_as_the_service_does() {
    use serde_json::json;
    let ws = FakeWorkspace::start();
    let python = json!({ "python_file": "/Users/ada@example.com/x.py" });
    let env = |deps: serde_json::Value| json!([{ "environment_key": "default", "spec": { "environment_version": "4", "dependencies": deps } }]);
    let cases = [
        (
            "libraries on a task without a cluster",
            json!({ "tasks": [{ "task_key": "t", "spark_python_task": python, "environment_key": "default",
                "libraries": [{ "pypi": { "package": "mlflow" } }] }], "environments": env(json!([])) }),
            "Libraries field is not supported for serverless task",
        ),
        (
            "a serverless Python task without environment_key",
            json!({ "tasks": [{ "task_key": "t", "spark_python_task": python }] }),
            "A task environment can not be found",
        ),
        (
            "an environment_key naming no environment",
            json!({ "tasks": [{ "task_key": "t", "spark_python_task": python, "environment_key": "gpu" }],
                "environments": env(json!([])) }),
            "is not defined in the job's environments",
        ),
        (
            "environment_key on a cluster task",
            json!({ "tasks": [{ "task_key": "t", "spark_python_task": python, "environment_key": "default",
                "existing_cluster_id": "0101-1" }], "environments": env(json!([])) }),
            "only supported for tasks that run on serverless compute",
        ),
        (
            "a DBFS wheel in the dependencies",
            json!({ "tasks": [{ "task_key": "t", "spark_python_task": python, "environment_key": "default" }],
                "environments": env(json!(["dbfs:/w/x-1.0-py3-none-any.whl"])) }),
            "DBFS paths are not supported in serverless dependencies",
        ),
        (
            "a /dbfs wheel in the dependencies",
            json!({ "tasks": [{ "task_key": "t", "spark_python_task": python, "environment_key": "default" }],
                "environments": env(json!(["/dbfs/w/x-1.0-py3-none-any.whl"])) }),
            "DBFS paths are not supported in serverless dependencies",
        ),
        (
            "a DBFS python_file on serverless",
            json!({ "tasks": [{ "task_key": "t", "spark_python_task": { "python_file": "dbfs:/x.py" },
                "environment_key": "default" }], "environments": env(json!(["mlflow"])) }),
            "DBFS is not supported on serverless compute",
        ),
    ];
    for (what, body, message) in cases {
        let (status, got) = submit(&ws, body);
        assert_eq!(status, 400, "{what}: {got}");
        assert!(got.contains(message), "{what}: {got}");
    }
    assert!(ws.with_state(|s| s.jobs.is_empty()));
    // The shapes we send are accepted.
    let (status, got) = submit(
        &ws,
        json!({ "tasks": [{ "task_key": "t", "spark_python_task": python, "environment_key": "default" }],
            "environments": env(json!(["/Volumes/main/mlops/artifacts/x-1.0-py3-none-any.whl", "mlflow"])) }),
    );
    assert_eq!(status, 200, "{got}");
    let (status, got) = submit(
        &ws,
        json!({ "tasks": [{ "task_key": "t", "spark_python_task": { "python_file": "dbfs:/x.py" },
            "new_cluster": { "spark_version": "14.3.x-scala2.12" }, "libraries": [{ "whl": "dbfs:/w/x.whl" }] }] }),
    );
    assert_eq!(status, 200, "{got}");
}

#[test]
fn the_sdk_creates_updates_queries_and_deletes_serving_endpoints_on_the_fake() {
    let ws = FakeWorkspace::start();
    // The script's third config change fails (the create and the canary apply).
    ws.with_state(|s| {
        s.serving_behaviour.failing_changes.insert(3);
    });
    let summary = sdk_script(&ws, "sdk_serving.py");
    assert_eq!(summary["canary_versions"], serde_json::json!(["1", "2"]));
    assert_eq!(
        summary["created_tags"],
        serde_json::json!([{"key": "mlops.project", "value": "demo"}])
    );
    assert!(
        summary["failed"]
            .as_str()
            .unwrap()
            .contains("UPDATE_FAILED"),
        "{summary}"
    );
    assert_eq!(summary["predictions"], serde_json::json!([0.5, 0.5]));
    assert!(ws.with_state(|s| s.serving.is_empty()));
}
