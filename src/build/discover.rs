//! With no `[[wheel]]` in mlops.toml, the wheels are the cargo workspace's PyO3 crates: members
//! that have a pyproject.toml whose build backend is maturin.

use std::path::{Path, PathBuf};

use crate::error::{Error, Result};

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
    let metadata = cargo_metadata::MetadataCommand::new()
        .manifest_path(&cargo_toml)
        .no_deps()
        .exec()
        .map_err(|e| {
            Error::usage(format!(
                "cannot list the cargo workspace of `{}` to find PyO3 crates: {e}",
                cargo_toml.display()
            ))
            .with_help("fix the workspace so `cargo metadata` works, or list the wheels with `[[wheel]] path = ...` in mlops.toml")
        })?;
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
