//! The wheel cache: `<state>/wheels/<key>/` holds one built wheel and `entry.json`, where the
//! key covers everything the build read. Entries appear atomically (built in a temporary
//! folder beside them, then renamed), so an interrupted build never leaves a half entry.

use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use crate::error::{Error, Result};

/// What the cache remembers about a wheel.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Entry {
    pub key: String,
    pub file: String,
    pub sha256: String,
    pub size: u64,
    pub backend: String,
}

pub struct Cache {
    dir: PathBuf,
}

const ENTRY_FILE: &str = "entry.json";

impl Cache {
    pub fn new(dir: PathBuf) -> Self {
        Cache { dir }
    }

    #[cfg(test)]
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    fn entry_dir(&self, key: &str) -> PathBuf {
        self.dir.join(&key[..32.min(key.len())])
    }

    /// The cached wheel for `key`, if its entry is whole (the file exists with its size).
    pub fn lookup(&self, key: &str) -> Option<(Entry, PathBuf)> {
        let dir = self.entry_dir(key);
        let text = fs_err::read_to_string(dir.join(ENTRY_FILE)).ok()?;
        let entry: Entry = serde_json::from_str(&text).ok()?;
        let wheel = dir.join(&entry.file);
        let size = wheel.metadata().ok()?.len();
        (entry.key == key && size == entry.size).then_some((entry, wheel))
    }

    /// A fresh temporary folder inside the cache, removed when dropped.
    pub fn staging(&self) -> Result<tempfile::TempDir> {
        fs_err::create_dir_all(&self.dir)?;
        tempfile::Builder::new()
            .prefix(".tmp-")
            .tempdir_in(&self.dir)
            .map_err(|e| {
                Error::io(
                    format!("cannot create a folder in `{}`", self.dir.display()),
                    e,
                )
            })
    }

    /// Moves `wheel` (inside `staging`) into the entry for `entry.key`, replacing an older
    /// entry, and returns the wheel's final path.
    pub fn store(
        &self,
        staging: tempfile::TempDir,
        wheel: &Path,
        entry: &Entry,
    ) -> Result<PathBuf> {
        let tmp_entry = staging.path().join("entry");
        fs_err::create_dir_all(&tmp_entry)?;
        fs_err::rename(wheel, tmp_entry.join(&entry.file))?;
        let json = serde_json::to_string_pretty(entry).expect("entries serialize");
        fs_err::write(tmp_entry.join(ENTRY_FILE), json)?;
        let dest = self.entry_dir(&entry.key);
        if dest.exists() {
            // `--no-cache` rebuilt it (or a concurrent build won): the new one replaces it.
            let old = staging.path().join("old");
            fs_err::rename(&dest, &old)?;
        }
        fs_err::rename(&tmp_entry, &dest)?;
        Ok(dest.join(&entry.file))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn store_then_lookup_and_reject_damaged_entries() {
        let tmp = tempfile::tempdir().unwrap();
        let cache = Cache::new(tmp.path().join("wheels"));
        let key = "ab".repeat(32);
        assert!(cache.lookup(&key).is_none());
        let staging = cache.staging().unwrap();
        let wheel = staging.path().join("x-1.0-py3-none-any.whl");
        fs_err::write(&wheel, b"wheel bytes").unwrap();
        let entry = Entry {
            key: key.clone(),
            file: "x-1.0-py3-none-any.whl".into(),
            sha256: "00".repeat(32),
            size: 11,
            backend: "pep517".into(),
        };
        let stored = cache.store(staging, &wheel, &entry).unwrap();
        let (found, path) = cache.lookup(&key).unwrap();
        assert_eq!((found, path.clone()), (entry.clone(), stored));
        // No temporary folders are left behind.
        let names: Vec<_> = fs_err::read_dir(cache.dir())
            .unwrap()
            .map(|e| e.unwrap().file_name())
            .collect();
        assert_eq!(names.len(), 1, "{names:?}");
        // A truncated wheel is not a hit.
        fs_err::write(&path, b"wheel").unwrap();
        assert!(cache.lookup(&key).is_none());
    }
}
