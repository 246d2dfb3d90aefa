//! A local folder as an artifact store (the local target), with the same layout and rules.

use std::path::{Path, PathBuf};

use super::api::{Listing, Placed, Progress, Store};
use crate::error::{Error, Result};

pub struct LocalStore {
    root: PathBuf,
}

impl LocalStore {
    pub fn new(root: impl Into<PathBuf>) -> Self {
        LocalStore { root: root.into() }
    }
}

fn modified_ms(meta: &std::fs::Metadata) -> i64 {
    meta.modified()
        .ok()
        .and_then(|t| t.duration_since(std::time::UNIX_EPOCH).ok())
        .map_or(0, |d| d.as_millis() as i64)
}

impl Store for LocalStore {
    fn describe(&self) -> String {
        format!("folder {}", self.root.display())
    }

    fn size(&self, path: &str) -> Result<Option<u64>> {
        match fs_err::metadata(path) {
            Ok(meta) if meta.is_file() => Ok(Some(meta.len())),
            Ok(_) => Ok(None),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
            Err(e) => Err(e.into()),
        }
    }

    fn place(&self, local: &Path, size: u64, dest: &str, progress: &Progress) -> Result<Placed> {
        let dest = Path::new(dest);
        if let Some(dir) = dest.parent() {
            fs_err::create_dir_all(dir)?;
        }
        let mut tmp = crate::support::atomic::temp_beside(dest)?;
        let mut from = fs_err::File::open(local)?;
        std::io::copy(&mut from, tmp.as_file_mut()).map_err(|e| {
            Error::io(
                format!("cannot copy {} to {}", local.display(), dest.display()),
                e,
            )
        })?;
        crate::support::interrupt::check()?;
        progress(size);
        // Persisted without replacing: a file already there (a concurrent deploy) is never
        // overwritten, and the destination appears whole (a link, then the temporary name
        // goes).
        match tmp.persist_noclobber(dest) {
            Ok(_) => Ok(Placed::Written),
            Err(e) if e.error.kind() == std::io::ErrorKind::AlreadyExists => {
                Ok(Placed::AlreadyThere)
            }
            Err(e) => Err(Error::io(
                format!("cannot write {}", dest.display()),
                e.error,
            )),
        }
    }

    fn write_small(&self, dest: &str, bytes: &[u8]) -> Result<()> {
        crate::support::atomic::write(Path::new(dest), bytes)
    }

    fn read_small(&self, path: &str) -> Result<Option<Vec<u8>>> {
        match fs_err::read(path) {
            Ok(bytes) => Ok(Some(bytes)),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
            Err(e) => Err(e.into()),
        }
    }

    fn list(&self, dir: &str) -> Result<Vec<Listing>> {
        let entries = match std::fs::read_dir(dir) {
            Ok(entries) => entries,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Vec::new()),
            Err(e) => return Err(Error::io(format!("cannot list `{dir}`"), e)),
        };
        let mut out = Vec::new();
        for entry in entries {
            let entry = entry.map_err(|e| Error::io(format!("cannot list `{dir}`"), e))?;
            let meta = entry
                .metadata()
                .map_err(|e| Error::io(format!("cannot read `{}`", entry.path().display()), e))?;
            out.push(Listing {
                path: entry.path().to_string_lossy().into_owned(),
                is_dir: meta.is_dir(),
                size: if meta.is_dir() { 0 } else { meta.len() },
                modified_ms: modified_ms(&meta),
            });
        }
        out.sort_by(|a, b| a.path.cmp(&b.path));
        Ok(out)
    }

    fn folder_exists(&self, path: &str) -> Result<bool> {
        Ok(Path::new(path).is_dir())
    }

    fn delete(&self, path: &str) -> Result<()> {
        let p = Path::new(path);
        let result = if p.is_dir() {
            fs_err::remove_dir_all(p)
        } else {
            fs_err::remove_file(p)
        };
        match result {
            Ok(()) => Ok(()),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(()),
            Err(e) => Err(e.into()),
        }
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use super::*;
    use crate::store::publish;

    #[test]
    fn publish_writes_once_and_skips_after() {
        let tmp = tempfile::tempdir().unwrap();
        let store = LocalStore::new(tmp.path().join("art"));
        let src = tmp.path().join("w.whl");
        fs_err::write(&src, b"0123456789").unwrap();
        let dest = tmp
            .path()
            .join("art/main/abcd/w.whl")
            .to_string_lossy()
            .into_owned();
        let progress = || -> Progress { Arc::new(|_| {}) };
        let first = publish(&store, &src, 10, &dest, &progress).unwrap();
        assert!(first.uploaded);
        assert_eq!(first.bytes_sent, 10);
        let second = publish(&store, &src, 10, &dest, &progress).unwrap();
        assert!(!second.uploaded);
        assert_eq!(second.bytes_sent, 0);
        assert_eq!(fs_err::read(&dest).unwrap(), b"0123456789");
        // No temporary files are left beside it.
        let names: Vec<_> = store
            .list(&tmp.path().join("art/main/abcd").to_string_lossy())
            .unwrap();
        assert_eq!(names.len(), 1, "{names:?}");
        // A different file at a content-addressed path is never overwritten.
        fs_err::write(&dest, b"xx").unwrap();
        let err = publish(&store, &src, 10, &dest, &progress).unwrap_err();
        assert!(
            err.message().contains("never overwritten"),
            "{}",
            err.message()
        );
        assert_eq!(fs_err::read(&dest).unwrap(), b"xx");
    }
}
