//! Every JSON body our client sent to the Jobs, DBFS, Workspace and Unity Catalog endpoints,
//! checked against databricks-sdk-py's own request shapes (`tests/fidelity/request_bodies.py`)
//! when a fake workspace goes away: a misspelt or unknown field fails the test that sent it,
//! although the fake itself would have taken it.

use super::Logged;

/// The endpoints whose bodies the SDK describes (MLflow's are a real MLflow's to judge).
const CHECKED: &[&str] = &[
    "/api/2.1/jobs/",
    "/api/2.2/jobs/",
    "/api/2.0/dbfs/",
    "/api/2.0/workspace/",
    "/api/2.1/unity-catalog/",
];

/// Problems found, one a line; empty when every body the workspace accepted is one the SDK
/// would send. Needs the
/// test interpreter (`MLOPS_PYTHON`, with databricks-sdk); without it (the example binary)
/// nothing is checked.
pub fn problems(log: &[Logged]) -> String {
    let Some(python) = std::env::var_os("MLOPS_PYTHON") else {
        return String::new();
    };
    let bodies: Vec<serde_json::Value> = log
        .iter()
        .filter(|l| CHECKED.iter().any(|p| l.path.starts_with(p)))
        // What the fake refused is a test's deliberate mistake, and the test's to judge.
        .filter(|l| l.status.is_some_and(|s| (200..300).contains(&s)))
        .filter_map(|l| {
            l.json
                .as_ref()
                .map(|body| serde_json::json!({ "method": l.method, "path": l.path, "body": body }))
        })
        .collect();
    if bodies.is_empty() {
        return String::new();
    }
    let file = tempfile::NamedTempFile::new().expect("a temporary file");
    fs_err::write(file.path(), serde_json::to_vec(&bodies).unwrap()).unwrap();
    let script = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/tests/fidelity/request_bodies.py"
    );
    let out = std::process::Command::new(python)
        .arg(script)
        .arg(file.path())
        .output()
        .expect("the request body checker runs");
    if out.status.success() {
        String::new()
    } else {
        format!(
            "{}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        )
    }
}
