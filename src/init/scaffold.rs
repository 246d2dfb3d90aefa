//! The scaffold `cargo mlops init` writes: a working mlops.toml and an MLflow project
//! (`mlproject/train.py`), validated before anything is written, and `.mlops/` ignored by git.

use std::path::{Path, PathBuf};

use crate::error::{Error, Result};
use crate::manifest::{self, MANIFEST_FILE};
use crate::output::Output;
use crate::support::templates;

/// Writes the scaffold of project `name` (default: from the folder's name) into `dir`;
/// files that exist are only replaced with `force`. Returns the project's name.
pub fn write(dir: &Path, name: Option<&str>, force: bool, output: &Output) -> Result<String> {
    let name = match name {
        Some(name) => name.to_string(),
        None => name_from_folder(dir),
    };
    let manifest_text = templates::INIT_MANIFEST.replace(templates::PROJECT_NAME_TOKEN, &name);
    let files: Vec<(PathBuf, &str)> = vec![
        (dir.join(MANIFEST_FILE), manifest_text.as_str()),
        (
            dir.join("mlproject").join("train.py"),
            templates::INIT_TRAIN,
        ),
    ];

    // Validate what we are about to write before writing anything, so a bad `--name` leaves
    // the folder untouched.
    manifest::parse(&dir.join(MANIFEST_FILE), &manifest_text)?;

    let existing: Vec<&PathBuf> = files
        .iter()
        .map(|(p, _)| p)
        .filter(|p| p.exists())
        .collect();
    if !force && !existing.is_empty() {
        let list: Vec<String> = existing
            .iter()
            .map(|p| manifest::display_path(p).display().to_string())
            .collect();
        return Err(Error::usage(format!(
            "refusing to overwrite existing files: {}",
            list.join(", ")
        ))
        .with_help("pass `--force` to overwrite them"));
    }
    for (path, contents) in &files {
        if let Some(parent) = path.parent() {
            fs_err::create_dir_all(parent)?;
        }
        fs_err::write(path, contents)?;
        output.status("Created", manifest::display_path(path).display());
    }
    ignore_mlops_folder(dir, output)?;
    Ok(name)
}

/// A project name derived from the folder name, made valid.
pub fn name_from_folder(dir: &Path) -> String {
    let raw = dir
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    project_name_from(&raw)
}

/// `raw` as a project name: letters, digits, `-`, `_` and `.`, starting with a letter or a
/// digit, at most 64 characters (`my-model` when nothing is left).
pub fn project_name_from(raw: &str) -> String {
    let mut name: String = raw
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.') {
                c
            } else {
                '-'
            }
        })
        .collect();
    name = name
        .trim_start_matches(|c: char| !c.is_ascii_alphanumeric())
        .chars()
        .take(64)
        .collect();
    if name.is_empty() {
        "my-model".into()
    } else {
        name
    }
}

/// `.mlops/` holds local artifacts and environments; keep it out of git.
fn ignore_mlops_folder(dir: &Path, output: &Output) -> Result<()> {
    let path = dir.join(".gitignore");
    let current = if path.exists() {
        fs_err::read_to_string(&path)?
    } else {
        String::new()
    };
    if current
        .lines()
        .any(|l| matches!(l.trim(), ".mlops" | ".mlops/" | "/.mlops" | "/.mlops/"))
    {
        return Ok(());
    }
    let mut text = current;
    if !text.is_empty() && !text.ends_with('\n') {
        text.push('\n');
    }
    text.push_str(".mlops/\n");
    fs_err::write(&path, text)?;
    output.status("Updated", ".gitignore (ignores .mlops/)");
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn folder_names_become_valid_project_names() {
        assert_eq!(name_from_folder(Path::new("/x/churn")), "churn");
        assert_eq!(name_from_folder(Path::new("/x/My Model!")), "My-Model-");
        assert_eq!(name_from_folder(Path::new("/x/_hidden")), "hidden");
        assert_eq!(name_from_folder(Path::new("/")), "my-model");
    }
}
