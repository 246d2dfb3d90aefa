//! Artifact stores behind one trait: DBFS, a Unity Catalog volume, or a local folder.
//!
//! Publishing is the same everywhere: a content-addressed path that already holds a file of
//! the right size is left alone (no payload bytes sent); otherwise the file is written so that
//! no reader can ever see part of it at its final path, and its size is checked afterwards.
//! A path, once written, is never overwritten, so a running job never sees its wheel change.

mod dbfs;
mod local;
mod volume;

use std::path::Path;

pub use dbfs::DbfsStore;
pub use local::LocalStore;
pub use volume::VolumeStore;

use crate::error::{Error, Result};

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

    /// Deletes a file, or a folder and everything in it.
    fn delete(&self, path: &str) -> Result<()>;
}

/// Progress of one upload, shared with the HTTP layer.
pub use crate::databricks::client::Progress;

/// What publishing one file did.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Published {
    pub uploaded: bool,
    pub bytes_sent: u64,
}

/// Puts `local` at the content-addressed `dest` unless it is already there. `progress` is
/// asked for only when bytes are about to be sent.
pub fn publish(
    store: &dyn Store,
    local: &Path,
    size: u64,
    dest: &str,
    progress: &dyn Fn() -> Progress,
) -> Result<Published> {
    match store.size(dest)? {
        Some(existing) if existing == size => {
            return Ok(Published {
                uploaded: false,
                bytes_sent: 0,
            });
        }
        Some(existing) => return Err(wrong_size(dest, existing, size)),
        None => {}
    }
    crate::interrupt::check()?;
    let placed = store.place(local, size, dest, &progress())?;
    match store.size(dest)? {
        Some(existing) if existing == size => Ok(Published {
            uploaded: placed == Placed::Written,
            bytes_sent: if placed == Placed::Written { size } else { 0 },
        }),
        Some(existing) => Err(wrong_size(dest, existing, size)),
        None => Err(Error::remote(format!(
            "`{dest}` is missing right after it was written to {}",
            store.describe()
        ))
        .with_help("run the deploy again; if it keeps failing, the store may be read-only or eventually consistent")),
    }
}

fn wrong_size(dest: &str, existing: u64, expected: u64) -> Error {
    Error::remote(format!(
        "`{dest}` holds {existing} bytes but its content address says {expected}: it was not written by cargo mlops (content-addressed paths are never overwritten)"
    ))
    .with_help("delete that file by hand, then deploy again")
}

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
