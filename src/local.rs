//! The local target's runner: the same pipeline with local parts. A virtual environment keyed
//! by the interpreter, the requirements and the wheels' hashes is made once under
//! `.mlops/envs/<key>` (with `uv` when it is on PATH, else `python -m venv` and pip) and
//! reused; the deployed launcher runs the entry point in it, in one process, exactly as a
//! Databricks task does, against a local tracking store.

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use crate::build::wheel_file::hex;
use crate::commands::deploy::Deployment;
use crate::error::{Error, Result};
use crate::launch::{Launch, NewRun, RunRef};
use crate::output::Output;
use crate::plan::Plan;
use crate::process::{Cmd, CmdError, tail};
use crate::tools::{self, Python};

/// Written last into a finished environment; one without it is never reused.
const READY: &str = ".mlops-env-ready";

/// A ready environment.
#[derive(Clone, Debug)]
pub struct Env {
    pub dir: PathBuf,
    pub python: PathBuf,
    pub created: bool,
}

/// What pip must install: the environment file's pip list, the conda dependencies pip can
/// install, mlflow, and the wheels (by their local store paths).
pub fn requirements(env_file: &str, env_text: &str, wheel_paths: &[String]) -> Vec<String> {
    let value: serde_yaml::Value =
        serde_yaml::from_str(env_text).unwrap_or(serde_yaml::Value::Null);
    let mut reqs: Vec<String> = Vec::new();
    let deps = value["dependencies"]
        .as_sequence()
        .cloned()
        .unwrap_or_default();
    for dep in &deps {
        if let Some(s) = dep.as_str() {
            if env_file.contains("python_env") {
                reqs.push(s.to_string());
                continue;
            }
            // A conda spec `name=1.2` is pip's `name==1.2`; python and pip come with the venv.
            let name = s.split(['=', '<', '>', '!', ' ']).next().unwrap_or("");
            if matches!(name, "python" | "pip" | "") {
                continue;
            }
            let spec = match s.split_once('=') {
                Some((n, v)) if !v.starts_with('=') => format!("{n}=={v}"),
                _ => s.to_string(),
            };
            reqs.push(spec);
        } else if let Some(pip) = dep.get("pip").and_then(|p| p.as_sequence()) {
            reqs.extend(pip.iter().filter_map(|p| p.as_str().map(str::to_string)));
        }
    }
    // Wheels are installed from where the local store keeps them.
    reqs.retain(|r| !r.ends_with(".whl"));
    let has_mlflow = reqs.iter().any(|r| {
        let name: String = r
            .chars()
            .take_while(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_'))
            .collect();
        name.eq_ignore_ascii_case("mlflow") || name.eq_ignore_ascii_case("mlflow-skinny")
    });
    if !has_mlflow {
        reqs.push("mlflow".into());
    }
    reqs.extend(wheel_paths.iter().cloned());
    reqs
}

/// The environment's key: the interpreter, the requirements and the wheels' hashes.
pub fn env_key(python: &Python, reqs: &[String], wheel_hashes: &[String]) -> String {
    let mut h = Sha256::new();
    h.update(tools::fingerprint(&python.path).as_bytes());
    for r in reqs {
        h.update(b"\0req:");
        h.update(r.as_bytes());
    }
    for w in wheel_hashes {
        h.update(b"\0whl:");
        h.update(w.as_bytes());
    }
    hex(&h.finalize())[..16].to_string()
}

fn bin_dir(env: &Path) -> PathBuf {
    if cfg!(windows) {
        env.join("Scripts")
    } else {
        env.join("bin")
    }
}

/// The environment for `reqs`, made when missing (or half made).
pub fn ensure_env(
    state_dir: &Path,
    python: &Python,
    reqs: &[String],
    key: &str,
    output: &Output,
) -> Result<Env> {
    let dir = state_dir.join("envs").join(key);
    let env_python = bin_dir(&dir).join(if cfg!(windows) {
        "python.exe"
    } else {
        "python"
    });
    if dir.join(READY).is_file() && env_python.exists() {
        output.status(
            "Fresh",
            format!(
                "environment {}",
                crate::manifest::display_path(&dir).display()
            ),
        );
        return Ok(Env {
            dir,
            python: env_python,
            created: false,
        });
    }
    if dir.exists() {
        // Left by a failed or interrupted creation: never reuse it.
        fs_err::remove_dir_all(&dir)?;
    }
    fs_err::create_dir_all(dir.parent().expect("envs folder"))?;
    output.status(
        "Creating",
        format!(
            "environment {} ({} requirements)",
            crate::manifest::display_path(&dir).display(),
            reqs.len()
        ),
    );
    let made = create(python, &dir, &env_python, reqs, output);
    if let Err(e) = made {
        let _ = fs_err::remove_dir_all(&dir);
        return Err(e);
    }
    fs_err::write(dir.join(READY), reqs.join("\n"))?;
    Ok(Env {
        dir,
        python: env_python,
        created: true,
    })
}

fn create(
    python: &Python,
    dir: &Path,
    env_python: &Path,
    reqs: &[String],
    output: &Output,
) -> Result<()> {
    let uv = tools::resolve(Path::new("uv"), std::env::var_os("PATH").as_deref());
    let (make, install) = match &uv {
        Some(uv) => (
            Cmd::new(uv)
                .args(["venv", "--quiet", "--python"])
                .arg(&python.path)
                .arg(dir),
            Cmd::new(uv)
                .args(["pip", "install", "--quiet", "--python"])
                .arg(env_python)
                .args(reqs),
        ),
        None => (
            Cmd::new(&python.path).args(["-m", "venv"]).arg(dir),
            Cmd::new(env_python)
                .args([
                    "-m",
                    "pip",
                    "install",
                    "--quiet",
                    "--disable-pip-version-check",
                ])
                .args(reqs),
        ),
    };
    for cmd in [make, install] {
        output.verbose("Running", cmd.display());
        cmd.output().map_err(|e| env_error(&e, uv.is_some()))?;
    }
    Ok(())
}

fn env_error(e: &CmdError, with_uv: bool) -> Error {
    let detail = match e {
        CmdError::Failed { output, .. } => format!(
            "\n{}",
            tail(&format!("{}{}", output.stdout, output.stderr), 30)
        ),
        _ => String::new(),
    };
    Error::failed(format!("cannot create the run environment: {e}{detail}")).with_help(if with_uv {
        "check the requirements in the environment file and [environment]; the package index must be reachable"
    } else {
        "check the requirements; `python3 -m venv` needs the venv module (Debian: apt-get install python3-venv)"
    })
}

/// The tracking store: `MLFLOW_TRACKING_URI` when set, else a SQLite store under `.mlops/`
/// (the store MLflow recommends since file stores were deprecated).
pub fn tracking_uri(state_dir: &Path) -> String {
    std::env::var("MLFLOW_TRACKING_URI")
        .ok()
        .filter(|v| !v.is_empty())
        .unwrap_or_else(|| format!("sqlite:///{}", state_dir.join("mlflow.db").display()))
}

/// The outcome of a local run, read back from the tracking store.
#[derive(Clone, Debug, Serialize)]
pub struct LocalRun {
    pub mlflow_run_id: String,
    pub status: String,
    pub experiment: String,
    pub tracking_uri: String,
    pub params: serde_json::Value,
    pub metrics: serde_json::Value,
    pub environment: PathBuf,
    pub ui: String,
}

/// What the launcher writes to its `--result-file`.
#[derive(Debug, Deserialize)]
struct LaunchResult {
    run_id: String,
    status: String,
    #[serde(default)]
    params: serde_json::Value,
    #[serde(default)]
    metrics: serde_json::Value,
}

/// Runs the entry point of the deployed project in `env` the way a Databricks task does: the
/// deployed launcher extracts the deployed tarball and runs the entry point in its own
/// process, after creating the MLflow run (with the same tags as on Databricks) in that same
/// process, so MLflow is imported once. Its output streams through.
pub fn run(
    plan: &Plan,
    state_dir: &Path,
    deployment: &Deployment,
    env: &Env,
    entry: &str,
    output: &Output,
) -> Result<LocalRun> {
    let uri = tracking_uri(state_dir);
    let user = crate::plan::local_user().unwrap_or_else(|| "unknown".into());
    let repo_url = crate::git::remote_url(&plan.mlproject);
    let tags =
        crate::submit::run_tags(plan, entry, &user, repo_url.as_deref(), deployment, "local");
    fs_err::create_dir_all(state_dir)?;
    let result_file = tempfile::Builder::new()
        .prefix(".run-")
        .suffix(".json")
        .tempfile_in(state_dir)
        .map_err(|e| Error::io(format!("cannot make a file in {}", state_dir.display()), e))?;
    let launch = Launch {
        tarball: deployment.tarball.remote_path.clone(),
        run: RunRef::New(NewRun {
            experiment: plan.experiment.clone(),
            run_name: format!("{entry}@{}", plan.branch),
            tags: tags.into_iter().collect(),
            params: plan.parameters.clone(),
        }),
        tracking_uri: Some(uri.clone()),
        result_file: Some(result_file.path().to_string_lossy().into_owned()),
        entry: crate::submit::entry_of(plan)?,
    };
    let path = std::env::join_paths(std::iter::once(bin_dir(&env.dir)).chain(
        std::env::split_paths(&std::env::var_os("PATH").unwrap_or_default()),
    ))
    .map_err(|e| Error::failed(format!("cannot build PATH: {e}")))?;
    let mut cmd = Command::new(&env.python);
    cmd.arg(&deployment.launcher.remote_path)
        .args(launch.args())
        .env("PATH", path)
        .env("VIRTUAL_ENV", &env.dir)
        .env("MLFLOW_TRACKING_URI", &uri)
        .env("PYTHONUNBUFFERED", "1")
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    output.status(
        "Running",
        format!(
            "`{entry}` {} ({})",
            if launch.entry.in_process() {
                "in-process"
            } else {
                "in a shell"
            },
            crate::submit::describe_params(&plan.parameters)
        ),
    );
    let mut child = cmd
        .spawn()
        .map_err(|e| Error::io(format!("cannot start {}", env.python.display()), e))?;
    // Both streams pass through as they come, to stderr: stdout holds the command's result.
    let stdout = child.stdout.take().expect("piped");
    let stderr = child.stderr.take().expect("piped");
    let err_thread = {
        let output = output.clone();
        std::thread::spawn(move || {
            for line in BufReader::new(stderr).lines().map_while(|l| l.ok()) {
                output.passthrough(&line);
            }
        })
    };
    for line in BufReader::new(stdout).lines().map_while(|l| l.ok()) {
        output.passthrough(&line);
    }
    let _ = err_thread.join();
    let status = child
        .wait()
        .map_err(|e| Error::io("cannot wait for the local run", e))?;
    if crate::interrupt::requested() {
        return Err(Error::interrupted());
    }
    let result: Option<LaunchResult> = fs_err::read(result_file.path())
        .ok()
        .and_then(|bytes| serde_json::from_slice(&bytes).ok());
    let Some(result) = result else {
        return Err(Error::failed(format!(
            "the local run ended ({}) before MLflow started a run",
            status
                .code()
                .map_or("killed by a signal".to_string(), |c| format!("status {c}"))
        ))
        .with_help("its output above says why"));
    };
    let ui = format!(
        "{} -m mlflow ui --backend-store-uri {uri}",
        crate::process::shell_quote(&env.python.to_string_lossy())
    );
    // A launcher killed before it could end the run leaves it RUNNING: it failed.
    let status = if result.status == "RUNNING" {
        "FAILED".to_string()
    } else {
        result.status
    };
    Ok(LocalRun {
        mlflow_run_id: result.run_id,
        status,
        experiment: plan.experiment.clone(),
        tracking_uri: uri,
        params: result.params,
        metrics: result.metrics,
        environment: env.dir.clone(),
        ui,
    })
}
