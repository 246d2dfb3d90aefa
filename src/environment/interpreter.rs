//! Which interpreter a local environment is made with: the build interpreter, unless the
//! environment file asks for another Python (`python_env.yaml`'s `python: "3.9"`, conda's
//! `python=3.9`) and one is installed here: `python3.9` on PATH, a pyenv version, or one uv
//! knows (`uv python find`, never downloading). Each candidate is asked its version.

use std::ffi::OsString;
use std::path::{Path, PathBuf};

use crate::support::tools::{self, Python};

/// The interpreter chosen, and a warning when the one asked for is not installed.
pub struct Chosen {
    pub python: Python,
    pub warning: Option<String>,
}

/// The interpreter for an environment file that asks for `wanted` (as written there).
pub fn for_env(
    env_file: &str,
    wanted: Option<&str>,
    build: &Python,
    env: &dyn Fn(&str) -> Option<OsString>,
) -> Chosen {
    let keep = |warning| Chosen {
        python: build.clone(),
        warning,
    };
    let Some(wanted) = wanted else {
        return keep(None);
    };
    let Some(want) = minor_of(wanted) else {
        return keep(None);
    };
    let have = tools::python_version(build);
    if have == Some(want) {
        return keep(None);
    }
    for path in candidates(want, env) {
        let candidate = Python {
            path: path.clone(),
            source: format!(
                "Python {}.{} asked for by {env_file}",
                want.major, want.minor
            ),
        };
        if tools::python_version(&candidate) == Some(want) {
            return Chosen {
                python: candidate,
                warning: None,
            };
        }
    }
    let have = have.map_or("another version".to_string(), |v| format!("Python {v}"));
    keep(Some(format!(
        "{env_file} asks for Python {wanted}, but no Python {}.{} is installed here (looked for python{}.{} on PATH, in pyenv and with uv): the environment is made with {have} ({}); install it (`uv python install {}.{}` or `pyenv install {}.{}`) to run as the project expects",
        want.major,
        want.minor,
        want.major,
        want.minor,
        build.path.display(),
        want.major,
        want.minor,
        want.major,
        want.minor
    )))
}

/// `3.9`, `3.9.18`, `>=3.9` → 3.9.
fn minor_of(wanted: &str) -> Option<crate::build::tags::Version> {
    let text = wanted.trim_start_matches(['=', '>', '<', '~', '^', ' ']);
    crate::build::tags::parse_version(text.trim_end_matches(".*"))
}

/// Where an interpreter of `want` may be, best first.
fn candidates(
    want: crate::build::tags::Version,
    env: &dyn Fn(&str) -> Option<OsString>,
) -> Vec<PathBuf> {
    let name = format!("python{}.{}", want.major, want.minor);
    let mut out = Vec::new();
    if let Some(found) = tools::resolve(Path::new(&name), env("PATH").as_deref()) {
        out.push(found);
    }
    let pyenv_root = env("PYENV_ROOT")
        .map(PathBuf::from)
        .or_else(|| env("HOME").map(|h| PathBuf::from(h).join(".pyenv")));
    if let Some(versions) = pyenv_root.map(|r| r.join("versions")) {
        let prefix = format!("{}.{}", want.major, want.minor);
        let mut found: Vec<PathBuf> = fs_err::read_dir(&versions)
            .into_iter()
            .flatten()
            .filter_map(|e| e.ok())
            .filter(|e| {
                let n = e.file_name().to_string_lossy().into_owned();
                n == prefix || n.starts_with(&format!("{prefix}."))
            })
            .map(|e| e.path().join("bin").join("python"))
            .filter(|p| p.is_file())
            .collect();
        found.sort();
        out.extend(found.into_iter().rev());
    }
    if let Some(uv) = tools::resolve(Path::new("uv"), env("PATH").as_deref()) {
        let asked = crate::support::process::Cmd::new(&uv)
            .args(["python", "find", &format!("{}.{}", want.major, want.minor)])
            .env("UV_PYTHON_DOWNLOADS", "never")
            .read();
        if let Ok(path) = asked {
            out.push(PathBuf::from(path.trim()));
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A stand-in interpreter that says it is Python `version`.
    fn fake_python(dir: &Path, name: &str, version: &str) -> PathBuf {
        use std::os::unix::fs::PermissionsExt;
        let path = dir.join(name);
        fs_err::write(&path, format!("#!/bin/sh\necho {version}\n")).unwrap();
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o755)).unwrap();
        path
    }

    #[test]
    fn the_requested_python_is_used_where_one_is_installed() {
        let dir = tempfile::tempdir().unwrap();
        let build = Python {
            path: fake_python(dir.path(), "build-python", "3.11"),
            source: "test".into(),
        };
        let bin = dir.path().join("bin");
        fs_err::create_dir_all(&bin).unwrap();
        let home = dir.path().join("home");
        let pyenv = home.join(".pyenv/versions/3.8.18/bin");
        fs_err::create_dir_all(&pyenv).unwrap();
        fake_python(&pyenv, "python", "3.8");
        fake_python(&bin, "python3.9", "3.9");
        let vars = |k: &str| -> Option<OsString> {
            match k {
                "PATH" => Some(bin.clone().into_os_string()),
                "HOME" => Some(home.clone().into_os_string()),
                _ => None,
            }
        };
        let on_path = for_env("python_env.yaml", Some("3.9"), &build, &vars);
        assert_eq!(on_path.python.path, bin.join("python3.9"));
        assert!(on_path.warning.is_none());
        let from_pyenv = for_env("python_env.yaml", Some("3.8.10"), &build, &vars);
        assert_eq!(from_pyenv.python.path, pyenv.join("python"));
        let same = for_env("python_env.yaml", Some("3.11"), &build, &vars);
        assert_eq!(same.python.path, build.path);
        let missing = for_env("python_env.yaml", Some("3.7"), &build, &vars);
        assert_eq!(missing.python.path, build.path);
        let warning = missing.warning.unwrap();
        assert!(
            warning.contains("asks for Python 3.7") && warning.contains("uv python install 3.7"),
            "{warning}"
        );
    }
}
