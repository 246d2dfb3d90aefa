//! With no `[[wheel]]` in mlops.toml, the wheels are the cargo workspace's PyO3 crates: members
//! that have a pyproject.toml whose build backend is maturin.

use std::path::{Path, PathBuf};

use crate::error::{Error, Result};
use crate::support::process::{Cmd, CmdError};

use super::backend::{self, Backend};

/// Package folders of maturin crates in the cargo workspace around `root`, sorted; empty when
/// there is no Cargo.toml at or above `root`.
pub fn maturin_members(root: &Path) -> Result<Vec<PathBuf>> {
    let Some(cargo_toml) = root
        .ancestors()
        .map(|d| d.join("Cargo.toml"))
        .find(|p| p.is_file())
    else {
        return Ok(Vec::new());
    };
    let failed = |e: String| {
        Error::usage(format!(
            "cannot list the cargo workspace of `{}` to find PyO3 crates: {e}",
            cargo_toml.display()
        ))
        .with_help("fix the workspace so `cargo metadata` works, or list the wheels with `[[wheel]] path = ...` in mlops.toml")
    };
    // `cargo metadata` through the one process wrapper; cargo_metadata reads its answer.
    let cargo = std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into());
    let json = Cmd::new(cargo)
        .args([
            "metadata",
            "--format-version",
            "1",
            "--no-deps",
            "--manifest-path",
        ])
        .arg(&cargo_toml)
        .read()
        .map_err(|e| match &e {
            CmdError::Failed { output, .. } => failed(format!("{e}: {}", output.stderr.trim())),
            _ => failed(e.to_string()),
        })?;
    let metadata =
        cargo_metadata::MetadataCommand::parse(&json).map_err(|e| failed(e.to_string()))?;
    let mut found: Vec<PathBuf> = metadata
        .workspace_packages()
        .into_iter()
        .filter_map(|p| {
            p.manifest_path
                .parent()
                .map(|d| d.as_std_path().to_path_buf())
        })
        .filter(|dir| dir.join("pyproject.toml").is_file())
        .filter(|dir| backend::read(dir).is_ok_and(|b| b.backend == Backend::Maturin))
        .collect();
    found.sort();
    found.dedup();
    Ok(found)
}
