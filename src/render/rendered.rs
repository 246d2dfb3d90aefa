//! The rendered project as written: its folder, its files, the wheels it points at.

use std::path::PathBuf;

use serde::Serialize;

use super::tarball;
use super::wheels::WheelRef;
use crate::error::{Error, Result};

/// The rendered project, written to `dir`.
#[derive(Clone, Debug, Serialize)]
pub struct Rendered {
    pub dir: PathBuf,
    /// Every file of the project, relative to `dir`, sorted.
    pub files: Vec<PathBuf>,
    pub wheels: Vec<WheelRef>,
    pub env_file: String,
}

impl Rendered {
    /// Writes the project tarball to `out` and returns its hash and size.
    pub fn tarball(&self, out: impl std::io::Write) -> Result<tarball::Written> {
        tarball::write(&self.dir, &self.files, out).map_err(|e| {
            Error::io(
                format!(
                    "cannot write the project tarball of `{}`",
                    self.dir.display()
                ),
                e,
            )
        })
    }
}
