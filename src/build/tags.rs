//! Whether a wheel installs on a given CPython, from the tags in its file name (PEP 427
//! `{name}-{version}(-{build})?-{python}-{abi}-{platform}.whl`, each tag possibly a
//! `.`-joined set), judged as pip judges them (`packaging.tags` `cpython_tags` and
//! `compatible_tags`): `cp3Y-cp3Y` fits only 3.Y, `cp3X-abi3` fits 3.X and later,
//! `py3`/`py3X` with `none` fit any 3.Y from X on; the platform must be `any` or Linux.

/// A Python version, 3.11.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub struct Version {
    pub major: u32,
    pub minor: u32,
}

impl Version {
    pub const fn new(major: u32, minor: u32) -> Version {
        Version { major, minor }
    }
}

impl std::fmt::Display for Version {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}.{}", self.major, self.minor)
    }
}

/// Why a wheel does not fit.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Misfit {
    /// Built for other Pythons: the versions its tags allow, in words.
    Python(String),
    /// Built for another operating system (macOS, Windows, musl).
    Platform(String),
}

/// `3.11` → 3.11.
pub fn parse_version(text: &str) -> Option<Version> {
    let mut parts = text.trim().split('.');
    Some(Version::new(
        parts.next()?.parse().ok()?,
        parts.next()?.parse().ok()?,
    ))
}

/// `cp311` / `py310` → 3.11 / 3.10; `py3` → 3.0.
fn tag_version(tag: &str, prefix: &str) -> Option<Version> {
    let digits = tag.strip_prefix(prefix)?;
    let (major, minor) = digits.split_at(1.min(digits.len()));
    Some(Version::new(
        major.parse().ok()?,
        if minor.is_empty() {
            0
        } else {
            minor.parse().ok()?
        },
    ))
}

/// The (python, abi, platform) tag sets of a wheel file name.
fn tags(file: &str) -> Option<(Vec<&str>, Vec<&str>, Vec<&str>)> {
    let stem = file.strip_suffix(".whl")?;
    let parts: Vec<&str> = stem.split('-').collect();
    if parts.len() < 5 {
        return None;
    }
    let n = parts.len();
    Some((
        parts[n - 3].split('.').collect(),
        parts[n - 2].split('.').collect(),
        parts[n - 1].split('.').collect(),
    ))
}

fn platform_fits(platform: &str) -> bool {
    platform == "any" || platform.starts_with("manylinux") || platform.starts_with("linux_")
}

fn python_fits(py: &str, abi: &str, have: Version) -> bool {
    if let Some(v) = tag_version(py, "cp") {
        return match abi {
            "abi3" => v.major == have.major && v <= have,
            "none" => v == have,
            // `cp311`, `cp311d`, `cp37m`: that interpreter's own ABI.
            other => {
                v == have
                    && tag_version(other.trim_end_matches(['m', 'd', 'u']), "cp") == Some(have)
            }
        };
    }
    if let Some(v) = tag_version(py, "py") {
        return abi == "none" && v.major == have.major && (v.minor == 0 || v <= have);
    }
    false
}

/// Whether `file` installs on CPython `have` on Linux, or why not. A name that is not a
/// wheel's is not judged.
pub fn fits(file: &str, have: Version) -> Result<(), Misfit> {
    let Some((pys, abis, platforms)) = tags(file) else {
        return Ok(());
    };
    if !platforms.iter().any(|p| platform_fits(p)) {
        return Err(Misfit::Platform(platforms.join(".")));
    }
    let fit = pys
        .iter()
        .any(|py| abis.iter().any(|abi| python_fits(py, abi, have)));
    if fit {
        return Ok(());
    }
    Err(Misfit::Python(allowed(&pys, &abis)))
}

/// The Pythons a wheel's tags allow, in words ("CPython 3.11 only", "CPython 3.12 and later").
fn allowed(pys: &[&str], abis: &[&str]) -> String {
    let mut said: Vec<String> = Vec::new();
    for py in pys {
        let shown = match (tag_version(py, "cp"), tag_version(py, "py")) {
            (Some(v), _) if abis.contains(&"abi3") => {
                format!("CPython {}.{} and later", v.major, v.minor)
            }
            (Some(v), _) => format!("CPython {}.{} only", v.major, v.minor),
            (None, Some(v)) if v.minor > 0 => format!("Python {}.{} and later", v.major, v.minor),
            (None, Some(v)) => format!("Python {}", v.major),
            _ => format!("`{py}`"),
        };
        if !said.contains(&shown) {
            said.push(shown);
        }
    }
    said.join(", ")
}

/// The stable-ABI floor a PyO3 crate is built for (`abi3-py39` → 3.9, plain `abi3` → 3.7), from
/// PyO3's features in its Cargo.toml (also inherited from the workspace's
/// `[workspace.dependencies]`) or in `[tool.maturin] features`; `None`: a wheel per Python.
pub fn abi3_floor(package: &std::path::Path) -> Option<Version> {
    let read = |path: &std::path::Path| -> Option<toml::Table> {
        fs_err::read_to_string(path).ok()?.parse().ok()
    };
    let mut features: Vec<String> = Vec::new();
    let mut take = |list: Option<&toml::Value>, prefix: &str| {
        for f in list.and_then(|v| v.as_array()).into_iter().flatten() {
            if let Some(f) = f.as_str().and_then(|f| f.strip_prefix(prefix)) {
                features.push(f.to_string());
            }
        }
    };
    if let Some(pyproject) = read(&package.join("pyproject.toml")) {
        take(
            pyproject
                .get("tool")
                .and_then(|t| t.get("maturin"))
                .and_then(|m| m.get("features")),
            "pyo3/",
        );
    }
    let cargo = read(&package.join("Cargo.toml"))?;
    let pyo3 = cargo.get("dependencies").and_then(|d| d.get("pyo3"));
    take(pyo3.and_then(|p| p.get("features")), "");
    if pyo3
        .and_then(|p| p.get("workspace"))
        .and_then(|w| w.as_bool())
        == Some(true)
    {
        let root = package
            .ancestors()
            .skip(1)
            .filter_map(|dir| read(&dir.join("Cargo.toml")))
            .find(|t| t.contains_key("workspace"));
        take(
            root.as_ref()
                .and_then(|r| r.get("workspace"))
                .and_then(|w| w.get("dependencies"))
                .and_then(|d| d.get("pyo3"))
                .and_then(|p| p.get("features")),
            "",
        );
    }
    features
        .iter()
        .filter_map(|f| match f.strip_prefix("abi3") {
            Some("") => Some(Version::new(3, 7)),
            Some(rest) => tag_version(rest.trim_start_matches('-'), "py"),
            None => None,
        })
        .min()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tags_fit_as_pip_judges_them() {
        let linux = "manylinux_2_17_x86_64.manylinux2014_x86_64";
        let cp311 = format!("churn-0.1.0-cp311-cp311-{linux}.whl");
        assert_eq!(fits(&cp311, Version::new(3, 11)), Ok(()));
        assert_eq!(
            fits(&cp311, Version::new(3, 10)),
            Err(Misfit::Python("CPython 3.11 only".into()))
        );
        assert!(fits(&cp311, Version::new(3, 12)).is_err());
        let abi3 = format!("demo-0.1.0-cp38-abi3-{linux}.whl");
        assert_eq!(fits(&abi3, Version::new(3, 12)), Ok(()));
        assert_eq!(
            fits(
                &format!("demo-0.1.0-cp312-abi3-{linux}.whl"),
                Version::new(3, 10)
            ),
            Err(Misfit::Python("CPython 3.12 and later".into()))
        );
        assert_eq!(
            fits("pure-1.0-py3-none-any.whl", Version::new(3, 9)),
            Ok(())
        );
        assert_eq!(
            fits("pure-1.0-py2.py3-none-any.whl", Version::new(3, 12)),
            Ok(())
        );
        assert!(fits("new-1.0-py311-none-any.whl", Version::new(3, 10)).is_err());
        assert_eq!(
            fits(
                "mac-1.0-cp311-cp311-macosx_11_0_arm64.whl",
                Version::new(3, 11)
            ),
            Err(Misfit::Platform("macosx_11_0_arm64".into()))
        );
        assert_eq!(
            fits("old-1.0-cp37-cp37m-linux_x86_64.whl", Version::new(3, 7)),
            Ok(())
        );
        assert_eq!(
            fits(
                "x-1.0-1build-cp310-cp310-linux_x86_64.whl",
                Version::new(3, 10)
            ),
            Ok(())
        );
    }

    #[test]
    fn the_abi3_floor_is_read_from_pyo3s_features_wherever_they_are() {
        let dir = tempfile::tempdir().unwrap();
        let krate = dir.path().join("crates/fast");
        fs_err::create_dir_all(&krate).unwrap();
        let write = |path: &std::path::Path, text: &str| fs_err::write(path, text).unwrap();
        write(
            &krate.join("Cargo.toml"),
            "[package]\nname = \"fast\"\n[dependencies]\npyo3 = { version = \"0.22\", features = [\"extension-module\"] }\n",
        );
        assert_eq!(abi3_floor(&krate), None);
        write(
            &krate.join("Cargo.toml"),
            "[dependencies]\npyo3 = { version = \"0.22\", features = [\"abi3-py39\"] }\n",
        );
        assert_eq!(abi3_floor(&krate), Some(Version::new(3, 9)));
        write(
            &krate.join("Cargo.toml"),
            "[dependencies]\npyo3 = { workspace = true }\n",
        );
        write(
            &dir.path().join("Cargo.toml"),
            "[workspace]\nmembers = [\"crates/*\"]\n[workspace.dependencies]\npyo3 = { version = \"0.22\", features = [\"abi3-py310\"] }\n",
        );
        assert_eq!(abi3_floor(&krate), Some(Version::new(3, 10)));
        write(&dir.path().join("Cargo.toml"), "[workspace]\n");
        write(
            &krate.join("pyproject.toml"),
            "[tool.maturin]\nfeatures = [\"pyo3/abi3\"]\n",
        );
        assert_eq!(abi3_floor(&krate), Some(Version::new(3, 7)));
    }
}
