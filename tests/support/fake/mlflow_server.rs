//! One real `mlflow server` (the version the tests install) for the whole test binary, so
//! that what our client asks of MLflow's REST API is answered by MLflow itself: its error
//! codes, its filter syntax, its limits on keys and values, its run lifecycle. Started on
//! first use; a small Python wrapper holds it in its own process group and ends it when the
//! test binary's end closes the wrapper's standard input, so no server outlives the tests.
//!
//! The server runs with `--enable-workspaces`: each fake workspace is its own MLflow workspace
//! (see `mlflow.rs`), so tests that share the server never see each other's experiments,
//! while clients that send no workspace header (the local target's tests) use MLflow's
//! default workspace and its local artifact folder.

use std::io::Write;
use std::path::PathBuf;
use std::process::{Child, ChildStdin, Command, Stdio};
use std::sync::{Mutex, OnceLock};
use std::time::{Duration, Instant};

pub struct MlflowServer {
    pub url: String,
    pub log: PathBuf,
    _dir: tempfile::TempDir,
    _child: Mutex<(Child, ChildStdin)>,
}

const WRAPPER: &str = r#"
import os, signal, subprocess, sys
port, db, artifacts, log = sys.argv[1:5]
server = subprocess.Popen(
    [sys.executable, "-m", "mlflow", "server", "--host", "127.0.0.1", "--port", port,
     "--backend-store-uri", "sqlite:///" + db, "--default-artifact-root", artifacts,
     "--workers", "1", "--enable-workspaces"],
    start_new_session=True, stdout=open(log, "w"), stderr=subprocess.STDOUT,
)
try:
    sys.stdin.read()
finally:
    os.killpg(server.pid, signal.SIGTERM)
"#;

static SERVER: OnceLock<MlflowServer> = OnceLock::new();

/// The interpreter that has MLflow: `MLOPS_PYTHON` (the test venv), else `python3`.
pub fn python() -> std::path::PathBuf {
    std::env::var_os("MLOPS_PYTHON")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from("python3"))
}

/// The shared server, started on first use (about ten seconds on 2 cores).
pub fn mlflow_server() -> &'static MlflowServer {
    SERVER.get_or_init(start)
}

fn start() -> MlflowServer {
    let dir = tempfile::tempdir().unwrap();
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let log = dir.path().join("server.log");
    let mut child = Command::new(python())
        .arg("-c")
        .arg(WRAPPER)
        .arg(port.to_string())
        .arg(dir.path().join("mlflow.db"))
        .arg(dir.path().join("artifacts"))
        .arg(&log)
        .stdin(Stdio::piped())
        .stdout(Stdio::null())
        .spawn()
        .expect("the test Python starts mlflow server");
    let stdin = child.stdin.take().unwrap();
    let url = format!("http://127.0.0.1:{port}");
    let http = reqwest::blocking::Client::new();
    let started = Instant::now();
    loop {
        if http
            .get(format!("{url}/health"))
            .send()
            .is_ok_and(|r| r.status().is_success())
        {
            break;
        }
        assert!(
            started.elapsed() < Duration::from_secs(180),
            "mlflow server did not start:\n{}",
            fs_err::read_to_string(&log).unwrap_or_default()
        );
        std::thread::sleep(Duration::from_millis(200));
    }
    let mut stdin = stdin;
    let _ = stdin.flush();
    MlflowServer {
        url,
        log,
        _dir: dir,
        _child: Mutex::new((child, stdin)),
    }
}
