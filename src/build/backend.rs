//! Which build backend a package uses, read from its `pyproject.toml` (a package with only a
//! `setup.py` uses setuptools' legacy backend).

use std::path::Path;

use serde::Serialize;

use crate::error::{Error, Result};
use crate::support::diagnostic::Diagnostic;

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
    "setuptools-git-versioning",
    "hatch-vcs",
    "hatch_vcs",
    "uv-dynamic-versioning",
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
    // pdm-backend reads the version from git itself with `[tool.pdm.version] source = "scm"`.
    let pdm_scm = doc
        .get("tool")
        .and_then(|t| t.get("pdm"))
        .and_then(|p| p.get("version"))
        .and_then(|v| v.get("source"))
        .and_then(|s| s.as_str())
        == Some("scm");
    let vcs_version = pdm_scm
        || requires
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

/// A distribution name as wheel file names spell it (PEP 427, with PEP 503's normalisation):
/// lowercase, each run of `-`, `_` and `.` one `_`.
pub fn normalize_distribution(name: &str) -> String {
    let mut out = String::new();
    let mut sep = false;
    for c in name.trim().chars() {
        if matches!(c, '-' | '_' | '.') {
            sep = true;
            continue;
        }
        if sep && !out.is_empty() {
            out.push('_');
        }
        sep = false;
        out.extend(c.to_lowercase());
    }
    out
}

/// The distribution a wheel file is of: the first `-`-separated field of its name
/// (`mylib-1.0-py3-none-any.whl` → `mylib`), normalised; `None` for anything not a wheel.
pub fn wheel_distribution(path: &str) -> Option<String> {
    let file = path.trim().rsplit(['/', '\\']).next()?;
    let stem = file.strip_suffix(".whl")?;
    let (name, rest) = stem.split_once('-')?;
    (!name.is_empty() && !rest.is_empty()).then(|| normalize_distribution(name))
}

/// The distribution a package folder builds, read without building it: pyproject.toml's
/// `[project] name`, else (maturin) Cargo.toml's `[package] name`, else setup.cfg's
/// `[metadata] name`, else a literal `name=` in setup.py, else the folder's name.
pub fn distribution_name(package: &Path) -> String {
    let toml_name = |file: &str, table: &str| -> Option<String> {
        let text = fs_err::read_to_string(package.join(file)).ok()?;
        let doc: toml::Table = text.parse().ok()?;
        Some(doc.get(table)?.get("name")?.as_str()?.to_string())
    };
    let setup_cfg = || -> Option<String> {
        let text = fs_err::read_to_string(package.join("setup.cfg")).ok()?;
        let mut in_metadata = false;
        for line in text.lines().map(str::trim) {
            if line.starts_with('[') {
                in_metadata = line == "[metadata]";
            } else if let Some((k, v)) = line.split_once('=') {
                if in_metadata && k.trim() == "name" {
                    return Some(v.trim().to_string());
                }
            }
        }
        None
    };
    let setup_py = || -> Option<String> {
        let text = fs_err::read_to_string(package.join("setup.py")).ok()?;
        let at = text.find("name")?;
        let rest = text[at + 4..].trim_start().strip_prefix('=')?.trim_start();
        let quote = rest.chars().next().filter(|c| *c == '"' || *c == '\'')?;
        let value = &rest[1..];
        Some(value[..value.find(quote)?].to_string())
    };
    let name = toml_name("pyproject.toml", "project")
        .or_else(|| toml_name("Cargo.toml", "package"))
        .or_else(setup_cfg)
        .or_else(setup_py)
        .unwrap_or_else(|| {
            package
                .file_name()
                .map(|n| n.to_string_lossy().into_owned())
                .unwrap_or_default()
        });
    normalize_distribution(&name)
}

/// The distribution each planned wheel builds, read without building (for the checks that
/// recognise our own wheels by file name).
pub fn distributions(
    wheels: &[crate::plan::PlannedWheel],
) -> Vec<(String, &crate::plan::PlannedWheel)> {
    wheels
        .iter()
        .map(|w| (distribution_name(&w.path), w))
        .collect()
}

#[cfg(test)]
mod distribution_tests {
    use super::*;

    #[test]
    fn distributions_are_read_and_normalised_as_wheel_names_spell_them() {
        assert_eq!(normalize_distribution("My.Lib--x"), "my_lib_x");
        assert_eq!(
            wheel_distribution("/dbfs/libs/mylib-1.0-py3-none-any.whl").as_deref(),
            Some("mylib")
        );
        assert_eq!(
            wheel_distribution("dbfs:/a/Demo_Features-0.1.0-cp311-abi3-manylinux_2_17_x86_64.whl")
                .as_deref(),
            Some("demo_features")
        );
        assert_eq!(wheel_distribution("scikit-learn==1.5"), None);
        assert_eq!(wheel_distribution("/dbfs/x/WHEELPATH"), None);
        let dir = tempfile::tempdir().unwrap();
        fs_err::write(
            dir.path().join("setup.py"),
            "from setuptools import setup\nsetup(\n    name = 'my-lib',\n    version='1.0')\n",
        )
        .unwrap();
        assert_eq!(distribution_name(dir.path()), "my_lib");
        fs_err::write(
            dir.path().join("pyproject.toml"),
            "[project]\nname = \"Other.Name\"\n",
        )
        .unwrap();
        assert_eq!(distribution_name(dir.path()), "other_name");
    }
}
