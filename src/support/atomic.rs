//! Files written whole or not at all: a temporary file beside the destination, persisted
//! into place (`tempfile::NamedTempFile`), so no reader ever sees part of one.

use std::io::Write;
use std::path::Path;

use crate::error::{Error, Result};

/// A temporary file in `path`'s folder (created when missing), named `.tmp-<name>-...` so
/// that `gc` recognises one left by an interrupted write.
pub fn temp_beside(path: &Path) -> Result<tempfile::NamedTempFile> {
    let dir = match path.parent() {
        Some(d) if !d.as_os_str().is_empty() => d,
        _ => Path::new("."),
    };
    fs_err::create_dir_all(dir)?;
    let name = path
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    tempfile::Builder::new()
        .prefix(&format!(".tmp-{name}-"))
        .tempfile_in(dir)
        .map_err(|e| Error::io(format!("cannot make a file in {}", dir.display()), e))
}

/// Puts `tmp` at `path`, replacing what is there.
pub fn persist(tmp: tempfile::NamedTempFile, path: &Path) -> Result<()> {
    tmp.persist(path)
        .map(drop)
        .map_err(|e| Error::io(format!("cannot write {}", path.display()), e.error))
}

/// Writes `bytes` to `path` whole, replacing what is there.
pub fn write(path: &Path, bytes: &[u8]) -> Result<()> {
    let mut tmp = temp_beside(path)?;
    tmp.write_all(bytes)
        .map_err(|e| Error::io(format!("cannot write {}", path.display()), e))?;
    persist(tmp, path)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn writes_replace_whole_and_leave_nothing_beside() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("sub/record.json");
        write(&path, b"one").unwrap();
        write(&path, b"two").unwrap();
        assert_eq!(fs_err::read(&path).unwrap(), b"two");
        let names: Vec<_> = fs_err::read_dir(dir.path().join("sub"))
            .unwrap()
            .map(|e| e.unwrap().file_name())
            .collect();
        assert_eq!(names, ["record.json"]);
    }
}
