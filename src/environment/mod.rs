//! The local target's Python environments. An environment is keyed by the interpreter and
//! its third-party requirements alone (the environment file's packages and the dependencies
//! our wheels declare), made once under `.mlops/envs/<key>` and reused. Our own wheels are
//! installed into it with `--no-deps` whenever they change, so a code change costs a
//! reinstall of one wheel, not a new environment of hundreds of megabytes. uv makes it when
//! it is on PATH, else `python -m venv` and pip.

pub mod interpreter;
mod markers;
pub mod requirements;
mod stale;

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};

use sha2::{Digest, Sha256};

use crate::build::wheel_file::{WheelName, hex};
use crate::error::{Error, Result};
use crate::output::Output;
use crate::support::process::{Cmd, CmdError, tail};
use crate::support::tools::{self, Python};

pub use stale::{Stale, stale};

use markers::{READY, USED, WHEELS};

/// A ready environment.
#[derive(Clone, Debug)]
pub struct Env {
    pub dir: PathBuf,
    pub python: PathBuf,
    pub created: bool,
}

/// One of our wheels, as the local store keeps it.
#[derive(Clone, Debug)]
pub struct OurWheel {
    pub file: String,
    pub path: PathBuf,
    pub sha256: String,
}

/// What an environment holds: third-party requirements (its key) and our wheels.
#[derive(Clone, Debug)]
pub struct Spec {
    pub reqs: Vec<String>,
    pub wheels: Vec<OurWheel>,
}

impl Spec {
    /// The environment for an environment file and our wheels: the file's packages, then
    /// what each wheel requires that is not one of ours.
    pub fn new(env_file: &str, env_text: &str, wheels: Vec<OurWheel>) -> Result<Spec> {
        let ours: BTreeSet<String> = wheels
            .iter()
            .filter_map(|w| WheelName::parse(&w.file).ok())
            .map(|n| requirements::name_of(&n.name))
            .collect();
        let mut reqs = requirements::from_env_file(env_file, env_text);
        for wheel in &wheels {
            for req in requirements::of_wheel(&wheel.path)? {
                if !ours.contains(&requirements::name_of(&req)) && !reqs.contains(&req) {
                    reqs.push(req);
                }
            }
        }
        Ok(Spec { reqs, wheels })
    }

    /// The environment's key: the interpreter and the third-party requirements (not our
    /// wheels, which are reinstalled in place).
    pub fn key(&self, python: &Python) -> String {
        let mut h = Sha256::new();
        h.update(tools::fingerprint(&python.path).as_bytes());
        for r in &self.reqs {
            h.update(b"\0req:");
            h.update(r.as_bytes());
        }
        hex(&h.finalize())[..16].to_string()
    }

    /// The installed-wheels record this spec wants.
    fn wheel_lines(&self) -> String {
        self.wheels
            .iter()
            .map(|w| format!("{} {}\n", w.sha256, w.file))
            .collect()
    }
}

pub fn bin_dir(env: &Path) -> PathBuf {
    if cfg!(windows) {
        env.join("Scripts")
    } else {
        env.join("bin")
    }
}

/// The interpreter of the environment in `dir`.
fn python_of(dir: &Path) -> PathBuf {
    bin_dir(dir).join(if cfg!(windows) {
        "python.exe"
    } else {
        "python"
    })
}

/// The environment for `spec`: reused with changed wheels reinstalled, or made (again, when
/// a creation was left half done).
pub fn ensure_env(state_dir: &Path, python: &Python, spec: &Spec, output: &Output) -> Result<Env> {
    let dir = state_dir.join("envs").join(spec.key(python));
    let env_python = python_of(&dir);
    let shown = crate::manifest::display_path(&dir).display().to_string();
    let installer = Installer::find(&env_python);
    if dir.join(READY).is_file() && env_python.exists() {
        touch(&dir.join(USED))?;
        let installed = fs_err::read_to_string(dir.join(WHEELS)).unwrap_or_default();
        let changed: Vec<&OurWheel> = spec
            .wheels
            .iter()
            .filter(|w| !installed.contains(&format!("{} {}\n", w.sha256, w.file)))
            .collect();
        if changed.is_empty() {
            output.status("Fresh", format!("environment {shown}"));
        } else {
            let files: Vec<&str> = changed.iter().map(|w| w.file.as_str()).collect();
            output.status(
                "Updating",
                format!("environment {shown}: {} (--no-deps)", files.join(", ")),
            );
            // Forget what was installed first: a failed reinstall is retried next time.
            let _ = fs_err::remove_file(dir.join(WHEELS));
            let paths: Vec<&Path> = changed.iter().map(|w| w.path.as_path()).collect();
            installer
                .reinstall_no_deps(&paths, output)
                .map_err(|e| env_error(&e, installer.uv, Step::Update))?;
            fs_err::write(dir.join(WHEELS), spec.wheel_lines())?;
        }
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
    let what = format!(
        "environment {shown} ({} requirements, {} wheels)",
        spec.reqs.len(),
        spec.wheels.len()
    );
    let _group = output.group("Create the run environment");
    output.status("Creating", &what);
    if !installer.uv {
        output.note(
            "installing uv (https://docs.astral.sh/uv/, `pipx install uv` or `python3 -m pip install uv`) makes creating environments several times faster; it is used whenever it is on PATH",
        );
    }
    let spinner = output.spinner("Creating", &what);
    let made = installer.create(python, &dir, spec, output);
    spinner.finish();
    if let Err((step, e)) = made {
        let _ = fs_err::remove_dir_all(&dir);
        return Err(env_error(&e, installer.uv, step));
    }
    fs_err::write(dir.join(WHEELS), spec.wheel_lines())?;
    touch(&dir.join(USED))?;
    fs_err::write(dir.join(READY), spec.reqs.join("\n"))?;
    Ok(Env {
        dir,
        python: env_python,
        created: true,
    })
}

/// The interpreter of the most recently used ready environment (it has MLflow), if any.
pub fn newest_python(state_dir: &Path) -> Option<PathBuf> {
    let used = |dir: &Path| {
        fs_err::metadata(dir.join(USED))
            .and_then(|m| m.modified())
            .ok()
    };
    fs_err::read_dir(state_dir.join("envs"))
        .ok()?
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|dir| dir.join(READY).is_file())
        .max_by_key(|dir| used(dir))
        .map(|dir| python_of(&dir))
        .filter(|python| python.exists())
}

/// Marks an environment as used now (its modification time is what `gc` reads).
fn touch(path: &Path) -> Result<()> {
    fs_err::write(
        path,
        crate::support::time::rfc3339(crate::support::time::now_secs()),
    )?;
    Ok(())
}

/// uv when it is on PATH, else the interpreter's venv module and pip.
struct Installer {
    uv: bool,
    program: PathBuf,
    env_python: PathBuf,
}

impl Installer {
    fn find(env_python: &Path) -> Installer {
        match tools::resolve(Path::new("uv"), std::env::var_os("PATH").as_deref()) {
            Some(uv) => Installer {
                uv: true,
                program: uv,
                env_python: env_python.to_path_buf(),
            },
            None => Installer {
                uv: false,
                program: env_python.to_path_buf(),
                env_python: env_python.to_path_buf(),
            },
        }
    }

    fn install(&self) -> Cmd {
        if self.uv {
            Cmd::new(&self.program)
                .args(["pip", "install", "--quiet", "--python"])
                .arg(&self.env_python)
        } else {
            Cmd::new(&self.env_python).args([
                "-m",
                "pip",
                "install",
                "--quiet",
                "--disable-pip-version-check",
            ])
        }
    }

    fn create(
        &self,
        python: &Python,
        dir: &Path,
        spec: &Spec,
        output: &Output,
    ) -> std::result::Result<(), (Step, CmdError)> {
        let make = if self.uv {
            // `--seed` puts pip (and setuptools) in, as `python -m venv` and Databricks'
            // own environments have them: a project's `python -m pip ...` works the same.
            Cmd::new(&self.program)
                .args(["venv", "--quiet", "--seed", "--python"])
                .arg(&python.path)
                .arg(dir)
        } else {
            Cmd::new(&python.path).args(["-m", "venv"]).arg(dir)
        };
        // Everything in one resolution, so our wheels' dependencies agree with the rest.
        let install = self
            .install()
            .args(&spec.reqs)
            .args(spec.wheels.iter().map(|w| &w.path));
        output.verbose("Running", make.display());
        make.output().map_err(|e| (Step::Make, e))?;
        output.verbose("Running", install.display());
        install.output().map_err(|e| (Step::Install, e))?;
        Ok(())
    }

    fn reinstall_no_deps(
        &self,
        wheels: &[&Path],
        output: &Output,
    ) -> std::result::Result<(), CmdError> {
        let cmd = self
            .install()
            .arg("--no-deps")
            .arg(if self.uv {
                "--reinstall"
            } else {
                "--force-reinstall"
            })
            .args(wheels);
        output.verbose("Running", cmd.display());
        cmd.output().map(drop)
    }
}

/// Which step of making an environment failed: the advice differs.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Step {
    /// The virtualenv itself.
    Make,
    /// Installing the requirements and our wheels into it.
    Install,
    /// Reinstalling changed wheels.
    Update,
}

fn env_error(e: &CmdError, with_uv: bool, step: Step) -> Error {
    let doing = match step {
        Step::Make => "create the run environment",
        Step::Install => "install the requirements into the run environment",
        Step::Update => "update the run environment",
    };
    let detail = match e {
        CmdError::Failed { output, .. } => format!(
            "\n{}",
            tail(&format!("{}{}", output.stdout, output.stderr), 30)
        ),
        _ => String::new(),
    };
    let help = match (step, with_uv) {
        (Step::Make, false) => {
            "`python3 -m venv` needs the venv module (Debian: apt-get install python3-venv), or install uv"
        }
        (Step::Make, true) => "check that the interpreter runs (`--python PATH` picks another)",
        _ => {
            "check the requirements in the environment file and [environment], and that they install on the environment's Python (the environment file's `python` says which one the project expects); the package index must be reachable"
        }
    };
    Error::failed(format!("cannot {doing}: {e}{detail}")).with_help(help)
}
