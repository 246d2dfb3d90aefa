//! The fake Databricks workspace of the tests, on its own, for trying the tool by hand:
//!
//!     cargo run --example fake_workspace -- [PORT]
//!
//! then, in another shell, with the printed host and token:
//!
//!     DATABRICKS_HOST=http://127.0.0.1:PORT DATABRICKS_TOKEN=... cargo mlops deploy --target dev
//!
//! It keeps everything in memory; the volume `/Volumes/main/mlops/artifacts` exists. Its
//! MLflow requests go to a real `mlflow server`, started on the first of them with
//! `MLOPS_PYTHON` (else `python3`), which must have `mlflow` installed.
#![allow(clippy::print_stdout)]

#[path = "../tests/support/fake/mod.rs"]
mod fake;

fn main() {
    let port: u16 = std::env::args()
        .nth(1)
        .and_then(|p| p.parse().ok())
        .unwrap_or(0);
    let ws = fake::FakeWorkspace::start_on(&format!("127.0.0.1:{port}"));
    println!("DATABRICKS_HOST={}", ws.url());
    println!("DATABRICKS_TOKEN={}", ws.token());
    println!("(Ctrl-C to stop)");
    loop {
        std::thread::sleep(std::time::Duration::from_secs(3600));
    }
}
