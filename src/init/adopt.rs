//! `cargo mlops init --adopt`: an mlops.toml for an MLflow project that exists already. It
//! finds the project's MLproject folder(s) and its Python packages (pyproject.toml or
//! setup.py), proposes them, and writes `mlops.toml` only.

use std::path::{Path, PathBuf};

use crate::error::{Error, Result};
use crate::manifest::{self, MANIFEST_FILE};
use crate::output::Output;

/// What adopting found in a folder.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Found {
    /// Folders holding an `MLproject` file, relative, nearest the top first.
    pub mlprojects: Vec<PathBuf>,
    /// Python package folders (pyproject.toml or setup.py), relative, outermost only.
    pub packages: Vec<PathBuf>,
}

/// Folders never searched: tools' state, environments and caches.
const SKIP: &[&str] = &[
    ".git",
    ".mlops",
    "mlruns",
    "node_modules",
    "target",
    "__pycache__",
    ".venv",
    "venv",
    ".tox",
    "build",
    "dist",
];

/// Looks through `dir` (as git sees it: ignored files are left out).
pub fn find(dir: &Path) -> Result<Found> {
    let walker = ignore::WalkBuilder::new(dir)
        .hidden(false)
        .require_git(false)
        .sort_by_file_name(|a, b| a.cmp(b))
        .filter_entry(|e| {
            let name = e.file_name().to_string_lossy();
            !(e.file_type().is_some_and(|t| t.is_dir())
                && (SKIP.contains(&name.as_ref()) || name.ends_with(".egg-info")))
        })
        .build();
    let mut found = Found::default();
    for entry in walker {
        let entry = entry.map_err(|e| {
            Error::failed(format!("cannot list the files of `{}`: {e}", dir.display()))
        })?;
        if !entry.file_type().is_some_and(|t| t.is_file()) {
            continue;
        }
        let rel = entry
            .path()
            .strip_prefix(dir)
            .expect("the walk stays below its root");
        let folder = rel.parent().unwrap_or(Path::new("")).to_path_buf();
        match rel.file_name().and_then(|n| n.to_str()) {
            Some("MLproject") => found.mlprojects.push(folder),
            Some("pyproject.toml" | "setup.py") if !folder.as_os_str().is_empty() => {
                found.packages.push(folder)
            }
            _ => {}
        }
    }
    found
        .mlprojects
        .sort_by_key(|p| (p.components().count(), p.clone()));
    found.packages.sort();
    found.packages.dedup();
    // A package inside another package (its tests, a vendored copy) is the outer one's.
    let all = found.packages.clone();
    found
        .packages
        .retain(|p| !all.iter().any(|outer| outer != p && p.starts_with(outer)));
    // An MLflow project folder is the code, not a package to ship.
    found
        .packages
        .retain(|p| !found.mlprojects.iter().any(|m| m == p));
    Ok(found)
}

fn slash(p: &Path) -> String {
    let s = p.to_string_lossy().replace('\\', "/");
    if s.is_empty() { ".".into() } else { s }
}

/// The manifest for what was found.
pub fn manifest_text(name: &str, found: &Found) -> String {
    let mut out = String::from(
        "# cargo-mlops manifest for an existing MLflow project: see docs/manifest.md in the cargo-mlops repository.\n\n[project]\n",
    );
    out.push_str(&format!("name = \"{name}\"\n"));
    out.push_str(&format!(
        "mlproject = \"{}\"        # its MLproject, environment file and cluster.json are used as they are\n",
        slash(&found.mlprojects[0])
    ));
    for other in &found.mlprojects[1..] {
        out.push_str(&format!(
            "# another MLflow project found: mlproject = \"{}\"\n",
            slash(other)
        ));
    }
    if found.packages.is_empty() {
        out.push_str("discover = false               # no Python package of its own to build\n");
    }
    for p in &found.packages {
        out.push_str(&format!("\n[[wheel]]\npath = \"{}\"\n", slash(p)));
    }
    out.push_str(
        "\n# The built-in `local` target runs everything on this machine. Add a Databricks target:\n\
         # [targets.dev]\n\
         # kind = \"databricks\"\n\
         # profile = \"DEFAULT\"\n\
         # artifacts = \"/Volumes/main/mlops/artifacts/{project}\"   # or \"dbfs:/mlops/{project}\" for runtimes below 15.0\n\
         # experiment = \"/Shared/{project}/{branch}\"\n",
    );
    out
}

/// Writes `mlops.toml` for the project in `dir` and nothing else; returns the project's name.
/// The project's name: the one given, else the MLproject's own `name` (as MLflow shows it),
/// else the folder's.
fn name_of(dir: &Path, given: Option<String>, found: &Found) -> String {
    if let Some(name) = given {
        return name;
    }
    let from_mlproject = found.mlprojects.first().and_then(|folder| {
        let file = manifest::mlproject_file::find(&dir.join(folder))?;
        let yaml: serde_yaml::Value =
            serde_yaml::from_str(&fs_err::read_to_string(file).ok()?).ok()?;
        yaml.get("name")?
            .as_str()
            .map(crate::init::scaffold::project_name_from)
    });
    from_mlproject.unwrap_or_else(|| crate::init::scaffold::name_from_folder(dir))
}

pub fn adopt(dir: &Path, name: Option<String>, force: bool, output: &Output) -> Result<String> {
    let path = dir.join(MANIFEST_FILE);
    if path.exists() && !force {
        return Err(Error::usage(format!(
            "refusing to overwrite {}",
            manifest::display_path(&path).display()
        ))
        .with_help("pass `--force` to replace it"));
    }
    let found = find(dir)?;
    if found.mlprojects.is_empty() {
        return Err(Error::usage(format!(
            "no MLproject file under {}, so there is no MLflow project to adopt",
            manifest::display_path(dir).display()
        ))
        .with_help("run `cargo mlops init` without --adopt to start a new project here"));
    }
    let name = name_of(dir, name, &found);
    let text = manifest_text(&name, &found);
    // Checked before it is written: a bad name leaves the folder untouched.
    manifest::parse(&path, &text)?;
    for m in &found.mlprojects {
        output.status("Found", format!("MLflow project {}", slash(m)));
    }
    for p in &found.packages {
        output.status("Found", format!("Python package {}", slash(p)));
    }
    fs_err::write(&path, text)?;
    output.status("Created", manifest::display_path(&path).display());
    Ok(name)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn finds_mlprojects_and_outermost_packages() {
        let dir = tempfile::tempdir().unwrap();
        let d = dir.path();
        for (f, text) in [
            ("projects/Train/MLproject", "name: t\n"),
            ("projects/Train/train.py", ""),
            (
                "libs/mylib/setup.py",
                "from setuptools import setup\nsetup(name='mylib')\n",
            ),
            ("libs/mylib/tests/setup.py", ""),
            ("libs/other/pyproject.toml", "[project]\nname = \"other\"\n"),
            ("MLproject", "name: top\n"),
            (".mlops/envs/x/pyproject.toml", ""),
        ] {
            let p = d.join(f);
            fs_err::create_dir_all(p.parent().unwrap()).unwrap();
            fs_err::write(p, text).unwrap();
        }
        let found = find(d).unwrap();
        assert_eq!(
            found.mlprojects,
            vec![PathBuf::from(""), PathBuf::from("projects/Train")]
        );
        assert_eq!(
            found.packages,
            vec![PathBuf::from("libs/mylib"), PathBuf::from("libs/other")]
        );
        let text = manifest_text("t", &found);
        assert!(text.contains("mlproject = \".\""), "{text}");
        assert!(text.contains("# another MLflow project found: mlproject = \"projects/Train\""));
        manifest::parse(&d.join("mlops.toml"), &text).unwrap();
    }
}
