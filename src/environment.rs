//! The local target's Python environments: a virtual environment keyed by the interpreter,
//! the requirements and the wheels' hashes is made once under `.mlops/envs/<key>` (with `uv`
//! when it is on PATH, else `python -m venv` and pip) and reused.

use std::path::{Path, PathBuf};

use sha2::{Digest, Sha256};

use crate::build::wheel_file::hex;
use crate::error::{Error, Result};
use crate::output::Output;
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

pub fn bin_dir(env: &Path) -> PathBuf {
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
