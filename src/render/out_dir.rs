//! The output folder of a render: written into a fresh sibling and swapped into place when
//! complete, so a failed render never leaves a half-written project where one was.

use std::path::{Path, PathBuf};

use crate::error::{Error, Result};

/// Marks a folder as written by `render`, so a later render may replace it.
pub(super) const MARKER: &str = ".mlops-rendered";

/// A fresh sibling folder to write into; renamed over `out` when complete, so a failed render
/// never leaves a half-written project where one was.
pub(super) fn prepare_out(out: &Path) -> Result<PathBuf> {
    if out.exists() {
        let empty = fs_err::read_dir(out)?.next().is_none();
        if !out.is_dir() || !(empty || out.join(MARKER).is_file()) {
            return Err(Error::usage(format!(
                "`{}` exists and was not written by `cargo mlops render`",
                out.display()
            ))
            .with_help("choose an empty or new folder for --out"));
        }
    }
    let parent = out.parent().unwrap_or(Path::new("."));
    fs_err::create_dir_all(parent)?;
    let name = out
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    let staging = parent.join(format!(".{name}.tmp-{}", std::process::id()));
    if staging.exists() {
        fs_err::remove_dir_all(&staging)?;
    }
    fs_err::create_dir_all(&staging)?;
    Ok(staging)
}

pub(super) fn finish_out(staging: &Path, out: &Path) -> Result<()> {
    if out.exists() {
        let old = staging.with_extension("old");
        fs_err::rename(out, &old)?;
        fs_err::rename(staging, out)?;
        fs_err::remove_dir_all(&old)?;
    } else {
        fs_err::rename(staging, out)?;
    }
    Ok(())
}
