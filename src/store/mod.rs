//! Artifact stores behind one trait: DBFS, a Unity Catalog volume, or a local folder.
//!
//! Publishing is the same everywhere: a content-addressed path that already holds a file of
//! the right size is left alone (no payload bytes sent); otherwise the file is written so that
//! no reader can ever see part of it at its final path, and its size is checked afterwards.
//! A path, once written, is never overwritten, so a running job never sees its wheel change.

mod api;
mod dbfs;
mod local;
pub mod owner;
mod volume;

use std::path::Path;

pub use api::{Listing, Placed, Progress, Store, is_temp_name, parent, temp_name};
pub use dbfs::DbfsStore;
pub use local::LocalStore;
pub use volume::VolumeStore;

use crate::error::{Error, Result};

/// Which store a target's artifacts live in.
#[derive(Clone, Copy, Debug, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "snake_case")]
pub enum StoreKind {
    /// A folder on this machine (the local target).
    Local,
    /// DBFS (`dbfs:/...`).
    Dbfs,
    /// A Unity Catalog volume (`/Volumes/...`).
    Volume,
}

impl StoreKind {
    /// The store of a Databricks target's canonical artifact root (`dbfs:/...` or
    /// `/Volumes/...`), or of the local target.
    pub fn of(remote: bool, artifacts: &str) -> StoreKind {
        match (remote, artifacts.starts_with("dbfs:/")) {
            (false, _) => StoreKind::Local,
            (true, true) => StoreKind::Dbfs,
            (true, false) => StoreKind::Volume,
        }
    }
}

/// The store of `kind` at `root`; remote stores talk through `client`.
pub fn open(
    kind: StoreKind,
    root: &str,
    client: Option<std::sync::Arc<crate::databricks::Client>>,
) -> Box<dyn Store> {
    match (kind, client) {
        (StoreKind::Dbfs, Some(client)) => Box::new(DbfsStore::new(client)),
        (StoreKind::Volume, Some(client)) => Box::new(VolumeStore::new(client)),
        _ => Box::new(LocalStore::new(root)),
    }
}

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
    crate::support::interrupt::check()?;
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
