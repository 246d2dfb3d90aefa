//! Finding the programs we run (the Python interpreter, maturin) without running them, so a
//! cache hit can be decided with no subprocess at all.

use std::env;
use std::ffi::OsString;
use std::path::{Path, PathBuf};

use crate::error::{Error, Result};

/// The Python interpreter used for builds and environments, and how it was chosen.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Python {
    pub path: PathBuf,
    pub source: String,
}

#[cfg(windows)]
const DEFAULT_PYTHON: &str = "python";
#[cfg(not(windows))]
const DEFAULT_PYTHON: &str = "python3";

#[cfg(windows)]
const VENV_BIN: &str = "Scripts";
#[cfg(not(windows))]
const VENV_BIN: &str = "bin";

/// The interpreter from `--python`, then `MLOPS_PYTHON`, then the active virtualenv, then
/// `python3` on PATH. `env` reads an environment variable.
pub fn find_python(flag: Option<&Path>, env: &dyn Fn(&str) -> Option<OsString>) -> Result<Python> {
    let path_var = env("PATH");
    let non_empty = |k: &str| env(k).filter(|v| !v.is_empty());
    let (candidate, source): (PathBuf, String) = if let Some(p) = flag {
        (p.to_path_buf(), "--python".into())
    } else if let Some(p) = non_empty("MLOPS_PYTHON") {
        (PathBuf::from(p), "MLOPS_PYTHON".into())
    } else if let Some(venv) = non_empty("VIRTUAL_ENV") {
        let exe = if cfg!(windows) {
            "python.exe"
        } else {
            "python"
        };
        (
            Path::new(&venv).join(VENV_BIN).join(exe),
            "the active virtualenv (VIRTUAL_ENV)".into(),
        )
    } else {
        (PathBuf::from(DEFAULT_PYTHON), "PATH".into())
    };
    match resolve(&candidate, path_var.as_deref()) {
        Some(path) => Ok(Python { path, source }),
        None => Err(Error::usage(format!(
            "Python interpreter `{}` (from {source}) was not found",
            candidate.display()
        ))
        .with_help(
            "install Python 3 (e.g. `apt-get install python3 python3-venv`, or python.org), or name an interpreter with `--python PATH` or `MLOPS_PYTHON=PATH`",
        )),
    }
}

/// `program` as the shell would run it: a path with folders as given (when executable), a
/// bare name searched in `path_var` (`which`).
pub fn resolve(program: &Path, path_var: Option<&std::ffi::OsStr>) -> Option<PathBuf> {
    let cwd = env::current_dir().ok()?;
    if program.components().count() > 1 || program.is_absolute() {
        return which::which_in(program, None::<&str>, cwd).ok();
    }
    which::which_in(program, Some(path_var?), cwd).ok()
}

/// Finds `name` beside the interpreter (the same virtualenv), then on PATH.
pub fn beside_or_on_path(python: &Python, name: &str) -> Option<PathBuf> {
    python
        .path
        .parent()
        .and_then(|dir| which::which_in(name, Some(dir), dir).ok())
        .or_else(|| resolve(Path::new(name), env::var_os("PATH").as_deref()))
}

/// A fingerprint of an executable that changes when it is replaced or upgraded: its path, and
/// the size and modification time of the file it resolves to (and of a virtualenv's
/// `pyvenv.cfg`, which names the base interpreter's version).
pub fn fingerprint(path: &Path) -> String {
    let mut parts = vec![path.display().to_string()];
    let real = fs_err::canonicalize(path).unwrap_or_else(|_| path.to_path_buf());
    parts.push(real.display().to_string());
    for file in [
        Some(real.clone()),
        path.parent()
            .and_then(Path::parent)
            .map(|v| v.join("pyvenv.cfg")),
    ]
    .into_iter()
    .flatten()
    {
        if let Ok(meta) = file.metadata() {
            let mtime = meta
                .modified()
                .ok()
                .and_then(|t| t.duration_since(std::time::UNIX_EPOCH).ok())
                .map_or(0, |d| d.as_nanos());
            parts.push(format!("{}:{}:{mtime}", file.display(), meta.len()));
        }
    }
    parts.join("|")
}

/// The interpreter's version (`(3, 11)`): a virtualenv's `pyvenv.cfg` says it without starting
/// a process (`version` as `python -m venv` writes it, `version_info` as uv does); otherwise it
/// is asked. `None` when it does not answer.
pub fn python_version(python: &Python) -> Option<crate::build::tags::Version> {
    let cfg = python
        .path
        .parent()
        .and_then(Path::parent)
        .map(|venv| venv.join("pyvenv.cfg"));
    if let Some(text) = cfg.and_then(|c| fs_err::read_to_string(c).ok()) {
        let version = text.lines().find_map(|line| {
            let (key, value) = line.split_once('=')?;
            matches!(key.trim(), "version" | "version_info").then(|| value.trim().to_string())
        });
        if let Some(v) = version.and_then(|v| crate::build::tags::parse_version(&v)) {
            return Some(v);
        }
    }
    let out = crate::support::process::Cmd::new(&python.path)
        .args(["-c", "import sys; print('%d.%d' % sys.version_info[:2])"])
        .read()
        .ok()?;
    crate::build::tags::parse_version(&out)
}

#[cfg(test)]
mod tests {
    use std::collections::HashMap;

    use super::*;

    fn env_of(vars: HashMap<&'static str, OsString>) -> impl Fn(&str) -> Option<OsString> {
        move |k| vars.get(k).cloned()
    }

    fn fake_exe(dir: &Path, name: &str) -> PathBuf {
        let path = dir.join(name);
        fs_err::write(&path, "#!/bin/sh\n").unwrap();
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            fs_err::set_permissions(&path, std::fs::Permissions::from_mode(0o755)).unwrap();
        }
        path
    }

    #[test]
    fn order_is_flag_env_virtualenv_path() {
        let tmp = tempfile::tempdir().unwrap();
        let bin = tmp.path().join("bin");
        fs_err::create_dir_all(&bin).unwrap();
        let on_path = fake_exe(&bin, "python3");
        let venv_py = fake_exe(&bin, "python");
        let explicit = fake_exe(tmp.path(), "py-explicit");

        let mut vars = HashMap::from([("PATH", bin.clone().into_os_string())]);
        let found = find_python(None, &env_of(vars.clone())).unwrap();
        assert_eq!((found.path, found.source.as_str()), (on_path, "PATH"));

        vars.insert("VIRTUAL_ENV", tmp.path().into());
        let found = find_python(None, &env_of(vars.clone())).unwrap();
        assert_eq!(found.path, venv_py);

        vars.insert("MLOPS_PYTHON", explicit.clone().into_os_string());
        let found = find_python(None, &env_of(vars.clone())).unwrap();
        assert_eq!(
            (found.path.clone(), found.source.as_str()),
            (explicit.clone(), "MLOPS_PYTHON")
        );

        let found = find_python(Some(Path::new("python3")), &env_of(vars)).unwrap();
        assert_eq!(found.source, "--python");
        assert_eq!(found.path, bin.join("python3"));
    }

    #[test]
    fn missing_interpreter_says_how_to_get_one() {
        let err = find_python(
            Some(Path::new("/nonexistent/python9")),
            &env_of(HashMap::new()),
        )
        .unwrap_err();
        assert_eq!(err.exit_code(), 2);
        assert!(err.message().contains("/nonexistent/python9"));
        assert!(err.help().unwrap().contains("--python"));
    }

    #[test]
    fn fingerprint_changes_when_the_file_changes() {
        let tmp = tempfile::tempdir().unwrap();
        let exe = fake_exe(tmp.path(), "python");
        let before = fingerprint(&exe);
        assert_eq!(before, fingerprint(&exe));
        fs_err::write(&exe, "#!/bin/sh\n# upgraded\n").unwrap();
        assert_ne!(before, fingerprint(&exe));
    }
}
