//! Every JSON body our client sent to the Jobs, DBFS, Workspace and Unity Catalog endpoints,
//! checked against databricks-sdk-py's own request shapes (MLflow's Unity Catalog registry
//! calls against MLflow's protos) (`tests/fidelity/request_bodies.py`)
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
    "/api/2.0/serving-endpoints",
    "/serving-endpoints/",
    // MLflow's own Unity Catalog registry API, checked against MLflow's protos.
    "/api/2.0/mlflow/unity-catalog/",
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
    let mut checker = CHECKER.lock().unwrap_or_else(|p| p.into_inner());
    let answer = checker
        .get_or_insert_with(|| Checker::start(&python))
        .check(&bodies);
    match answer {
        Some(problems) => problems.join("\n"),
        None => {
            // The checker died (its interpreter's problem, not the bodies'): say why.
            let dead = checker.take().map(Checker::stop).unwrap_or_default();
            format!("the request body checker stopped: {dead}")
        }
    }
}

/// One checker process for the whole test binary: importing databricks-sdk takes seconds,
/// and every fake workspace is checked when it goes away.
static CHECKER: std::sync::Mutex<Option<Checker>> = std::sync::Mutex::new(None);

struct Checker {
    child: std::process::Child,
    /// Where the checker's standard error goes (read when it dies).
    stderr: tempfile::NamedTempFile,
    stdin: std::process::ChildStdin,
    stdout: std::io::BufReader<std::process::ChildStdout>,
}

impl Checker {
    fn start(python: &std::ffi::OsStr) -> Checker {
        let script = concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/tests/fidelity/request_bodies.py"
        );
        let stderr = tempfile::NamedTempFile::new().expect("a temporary file");
        let mut child = std::process::Command::new(python)
            .arg(script)
            .arg("--serve")
            .stdin(std::process::Stdio::piped())
            .stdout(std::process::Stdio::piped())
            .stderr(stderr.reopen().expect("the temporary file reopens"))
            .spawn()
            .expect("the request body checker runs");
        Checker {
            stderr,
            stdin: child.stdin.take().expect("piped"),
            stdout: std::io::BufReader::new(child.stdout.take().expect("piped")),
            child,
        }
    }

    /// The problems with `bodies`, or `None` when the checker did not answer.
    fn check(&mut self, bodies: &[serde_json::Value]) -> Option<Vec<String>> {
        use std::io::{BufRead, Write};
        let line = serde_json::to_string(bodies).ok()?;
        writeln!(self.stdin, "{line}").ok()?;
        self.stdin.flush().ok()?;
        let mut answer = String::new();
        self.stdout.read_line(&mut answer).ok()?;
        serde_json::from_str(&answer).ok()
    }

    /// Ends the process; what it said on stderr.
    fn stop(mut self) -> String {
        let _ = self.child.kill();
        let _ = self.child.wait();
        fs_err::read_to_string(self.stderr.path()).unwrap_or_default()
    }
}
