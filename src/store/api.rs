//! What every artifact store offers (one trait), the entries it lists, and the temporary names
//! uploads use before they move into place.

use std::path::Path;

use crate::error::Result;

/// A file or folder in a store.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Listing {
    /// The full path, in the store's own form (`dbfs:/...`, `/Volumes/...`, a local path).
    pub path: String,
    pub is_dir: bool,
    pub size: u64,
    pub modified_ms: i64,
}

/// How a file reached its path.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Placed {
    /// It was already there (an earlier or a concurrent deploy).
    AlreadyThere,
    /// This call wrote it.
    Written,
}

pub trait Store: Send + Sync {
    /// What the store is, for messages: `DBFS`, `volume /Volumes/...`, `folder ...`.
    fn describe(&self) -> String;

    /// The size of the file at `path`, or `None` when there is none.
    fn size(&self, path: &str) -> Result<Option<u64>>;

    /// Makes `dest` hold the bytes of `local` (`size` bytes) without any reader seeing a
    /// partial file there; `progress` is told the bytes sent so far.
    fn place(&self, local: &Path, size: u64, dest: &str, progress: &Progress) -> Result<Placed>;

    /// Writes a small file that may be replaced (deploy records).
    fn write_small(&self, dest: &str, bytes: &[u8]) -> Result<()>;

    /// A small file's bytes, or `None` when it does not exist.
    fn read_small(&self, path: &str) -> Result<Option<Vec<u8>>>;

    /// The entries of a folder (empty when it does not exist).
    fn list(&self, dir: &str) -> Result<Vec<Listing>>;

    /// Whether a folder exists at `path`.
    fn folder_exists(&self, path: &str) -> Result<bool>;

    /// Deletes a file, or a folder and everything in it.
    fn delete(&self, path: &str) -> Result<()>;
}

/// Progress of one upload, shared with the HTTP layer.
pub use crate::databricks::client::Progress;

/// A name beside `dest` for writing before the move into place. Unique per process and call.
pub fn temp_name(dest: &str) -> String {
    use std::sync::atomic::{AtomicU64, Ordering};
    static COUNTER: AtomicU64 = AtomicU64::new(0);
    let (dir, name) = dest.rsplit_once('/').unwrap_or(("", dest));
    let n = COUNTER.fetch_add(1, Ordering::Relaxed);
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.subsec_nanos());
    format!("{dir}/.tmp-{name}-{}-{n}-{nanos:08x}", std::process::id())
}

/// Whether a listed name is an upload that never reached its final path.
pub fn is_temp_name(name: &str) -> bool {
    name.rsplit('/')
        .next()
        .is_some_and(|n| n.starts_with(".tmp-"))
}

/// The folder part of a store path.
pub fn parent(path: &str) -> &str {
    path.rsplit_once('/').map_or("", |(dir, _)| dir)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn temp_names_sit_beside_the_destination_and_differ() {
        let a = temp_name("dbfs:/w/main/abc/x.whl");
        let b = temp_name("dbfs:/w/main/abc/x.whl");
        assert!(a.starts_with("dbfs:/w/main/abc/.tmp-x.whl-"), "{a}");
        assert_ne!(a, b);
        assert!(is_temp_name(&a));
        assert!(!is_temp_name("dbfs:/w/main/abc/x.whl"));
        assert_eq!(parent("dbfs:/w/main/abc/x.whl"), "dbfs:/w/main/abc");
    }
}
