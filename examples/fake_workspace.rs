//! The fake Databricks workspace of the tests, on its own, for trying the tool by hand:
//!
//!     cargo run --example fake_workspace -- [--execute] [PORT]
//!
//! then, in another shell, with the printed host and token:
//!
//!     DATABRICKS_HOST=http://127.0.0.1:PORT DATABRICKS_TOKEN=... cargo mlops run -t dev --entry train
//!
//! It keeps everything in memory; the volume `/Volumes/main/mlops/artifacts` exists. Its
//! MLflow requests go to a real `mlflow server`, started on the first of them with
//! `MLOPS_PYTHON` (else `python3`), which must have `mlflow` installed. With `--execute`,
//! submitted tasks run for real with that Python, as the tests run them: their libraries
//! installed, their output streamed back to `cargo mlops run` as it comes (see
//! `tests/support/fake/executor.rs`); without it, a job run passes through its states and
//! succeeds without running anything.
#![allow(clippy::print_stdout)]

#[path = "../tests/support/fake/mod.rs"]
mod fake;

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let execute = args.iter().any(|a| a == "--execute");
    let port: u16 = args.iter().find_map(|a| a.parse().ok()).unwrap_or(0);
    let ws = fake::FakeWorkspace::start_on(&format!("127.0.0.1:{port}"));
    if execute {
        let python = std::env::var_os("MLOPS_PYTHON").unwrap_or_else(|| "python3".into());
        ws.execute_jobs(std::path::Path::new(&python));
    }
    println!("DATABRICKS_HOST={}", ws.url());
    println!("DATABRICKS_TOKEN={}", ws.token());
    if execute {
        println!(
            "(tasks run for real with {})",
            std::env::var("MLOPS_PYTHON").unwrap_or_else(|_| "python3".into())
        );
    }
    println!("(Ctrl-C to stop)");
    loop {
        std::thread::sleep(std::time::Duration::from_secs(3600));
    }
}
