//! A Unity Catalog volume as an artifact store (Files API). `PUT ?overwrite=false` is atomic
//! for readers and refuses an existing file (409), which also makes a retry after a lost
//! answer safe: the retry finds our own upload.

use std::path::Path;

use super::api::{Listing, Placed, Progress, Store};
use crate::databricks::Client;
use crate::databricks::files::Files;
use crate::error::Result;

pub struct VolumeStore {
    client: std::sync::Arc<Client>,
}

impl VolumeStore {
    pub fn new(client: std::sync::Arc<Client>) -> Self {
        VolumeStore { client }
    }

    fn api(&self) -> Files<'_> {
        Files {
            client: &self.client,
        }
    }
}

impl Store for VolumeStore {
    fn describe(&self) -> String {
        format!("a Unity Catalog volume on {}", self.client.host)
    }

    fn size(&self, path: &str) -> Result<Option<u64>> {
        Ok(self.api().head(path)?)
    }

    fn place(&self, local: &Path, size: u64, dest: &str, progress: &Progress) -> Result<Placed> {
        match self
            .api()
            .put_file(dest, local, size, false, Some(progress.clone()))
        {
            Ok(()) => Ok(Placed::Written),
            Err(e) if e.status == Some(409) || e.is("RESOURCE_ALREADY_EXISTS") => {
                Ok(Placed::AlreadyThere)
            }
            Err(e) => Err(e.into()),
        }
    }

    fn write_small(&self, dest: &str, bytes: &[u8]) -> Result<()> {
        Ok(self.api().put_bytes(dest, bytes, true)?)
    }

    fn read_small(&self, path: &str) -> Result<Option<Vec<u8>>> {
        Ok(self.api().get(path)?)
    }

    fn list(&self, dir: &str) -> Result<Vec<Listing>> {
        Ok(self
            .api()
            .list(dir)?
            .into_iter()
            .map(|e| Listing {
                path: e.path,
                is_dir: e.is_dir,
                size: e.size,
                modified_ms: e.modified_ms,
            })
            .collect())
    }

    fn folder_exists(&self, path: &str) -> Result<bool> {
        Ok(self.api().dir_exists(path)?)
    }

    fn delete(&self, path: &str) -> Result<()> {
        let files = self.api();
        let entries = files.list(path)?;
        if entries.is_empty() {
            files.delete(path)?;
            return files.delete_dir(path).map_err(Into::into);
        }
        for entry in entries {
            if entry.is_dir {
                self.delete(&entry.path)?;
            } else {
                files.delete(&entry.path)?;
            }
        }
        Ok(files.delete_dir(path)?)
    }
}
