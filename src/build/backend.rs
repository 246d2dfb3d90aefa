//! Which build backend a package uses, read from its `pyproject.toml` (a package with only a
//! `setup.py` uses setuptools' legacy backend).

use std::path::Path;

use serde::Serialize;

use crate::diagnostic::Diagnostic;
use crate::error::{Error, Result};

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Backend {
    /// `build-backend = "maturin"`: built with `maturin build --release`.
    Maturin,
    /// Anything else (setuptools, hatchling, flit, pdm, ...): `python -m build --wheel`.
    Pep517,
}

/// What the package's pyproject.toml says about building it.
#[derive(Clone, Debug)]
pub struct BuildSystem {
    pub backend: Backend,
    /// The `build-backend` string as written (or setuptools' legacy default).
    pub name: String,
    /// The version comes from the VCS (setuptools-scm, hatch-vcs, ...), so the package must be
    /// built in place, where `.git` is, rather than from a clean copy.
    pub vcs_version: bool,
}

const VCS_VERSIONING: &[&str] = &[
    "setuptools_scm",
    "setuptools-scm",
    "hatch-vcs",
    "hatch_vcs",
    "versioningit",
    "pdm-backend-scm",
    "dunamai",
    "poetry-dynamic-versioning",
];

/// PEP 517's fallback for a package without a build backend: setuptools' legacy backend.
pub const LEGACY: &str = "setuptools.build_meta:__legacy__";

pub fn read(package: &Path) -> Result<BuildSystem> {
    let path = package.join("pyproject.toml");
    let setup = package.join("setup.py");
    if !path.is_file() && setup.is_file() {
        // A setup.py-only package: `python -m build` builds it with the legacy backend.
        let text = fs_err::read_to_string(&setup)?;
        return Ok(BuildSystem {
            backend: Backend::Pep517,
            name: LEGACY.into(),
            vcs_version: text.contains("use_scm_version") || text.contains("setuptools_scm"),
        });
    }
    let text = fs_err::read_to_string(&path)?;
    let doc: toml::Table = text.parse().map_err(|e: toml::de::Error| {
        let shown = crate::manifest::display_path(&path);
        let message = e.message().trim().to_string();
        let at = match e.span() {
            Some(span) => Diagnostic::at(&shown, &text, span, message),
            None => Diagnostic::whole_file(&shown, message),
        };
        Error::diagnostic(at.help("fix the TOML syntax of the package's pyproject.toml"))
    })?;
    let system = doc.get("build-system").and_then(|v| v.as_table());
    let name = system
        .and_then(|s| s.get("build-backend"))
        .and_then(|v| v.as_str())
        // PEP 517: without a build-backend, frontends fall back to setuptools' legacy backend.
        .unwrap_or(LEGACY)
        .to_string();
    let requires: Vec<String> = system
        .and_then(|s| s.get("requires"))
        .and_then(|v| v.as_array())
        .map(|a| {
            a.iter()
                .filter_map(|v| v.as_str())
                .map(str::to_lowercase)
                .collect()
        })
        .unwrap_or_default();
    let vcs_version = requires
        .iter()
        .any(|r| VCS_VERSIONING.iter().any(|v| r.starts_with(v)));
    let backend = if name == "maturin" || name.starts_with("maturin.") {
        Backend::Maturin
    } else {
        Backend::Pep517
    };
    Ok(BuildSystem {
        backend,
        name,
        vcs_version,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn with(pyproject: &str) -> BuildSystem {
        let tmp = tempfile::tempdir().unwrap();
        fs_err::write(tmp.path().join("pyproject.toml"), pyproject).unwrap();
        read(tmp.path()).unwrap()
    }

    #[test]
    fn maturin_and_others() {
        let m = with("[build-system]\nrequires = [\"maturin>=1\"]\nbuild-backend = \"maturin\"\n");
        assert_eq!(m.backend, Backend::Maturin);
        let h = with(
            "[build-system]\nrequires = [\"hatchling\"]\nbuild-backend = \"hatchling.build\"\n",
        );
        assert_eq!(
            (h.backend, h.name.as_str()),
            (Backend::Pep517, "hatchling.build")
        );
        assert!(!h.vcs_version);
        let legacy = with("[project]\nname = \"x\"\n");
        assert_eq!(legacy.name, "setuptools.build_meta:__legacy__");
        let scm = with("[build-system]\nrequires = [\"setuptools\", \"setuptools_scm>=8\"]\n");
        assert!(scm.vcs_version);
    }

    #[test]
    fn broken_pyproject_names_the_file() {
        let tmp = tempfile::tempdir().unwrap();
        fs_err::write(tmp.path().join("pyproject.toml"), "[build-system\n").unwrap();
        let err = read(tmp.path()).unwrap_err();
        assert!(
            err.message().contains("pyproject.toml"),
            "{}",
            err.message()
        );
        assert_eq!(err.exit_code(), 2);
    }
}
