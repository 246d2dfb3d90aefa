//! DBFS as an artifact store: upload to a temporary name beside the destination (one
//! multipart `put`, safe to retry), check its size, then `move` it into place. A destination
//! that appeared meanwhile means a concurrent deploy won; a missing source on a retried move
//! means our first move went through.

use std::path::Path;

use super::api::{Listing, Placed, Progress, Store, temp_name};
use crate::databricks::Client;
use crate::databricks::dbfs::Dbfs;
use crate::error::{Error, Result};

pub struct DbfsStore {
    client: std::sync::Arc<Client>,
}

impl DbfsStore {
    pub fn new(client: std::sync::Arc<Client>) -> Self {
        DbfsStore { client }
    }

    fn api(&self) -> Dbfs<'_> {
        Dbfs {
            client: &self.client,
        }
    }
}

impl Store for DbfsStore {
    fn describe(&self) -> String {
        format!("DBFS on {}", self.client.host)
    }

    fn size(&self, path: &str) -> Result<Option<u64>> {
        Ok(self
            .api()
            .get_status(path)?
            .filter(|f| !f.is_dir)
            .map(|f| f.size))
    }

    fn place(&self, local: &Path, size: u64, dest: &str, progress: &Progress) -> Result<Placed> {
        let dbfs = self.api();
        let tmp = temp_name(dest);
        let result = (|| -> Result<Placed> {
            if size > crate::databricks::dbfs::PUT_LIMIT {
                dbfs.put_streaming(&tmp, local, Some(progress.clone()))?;
            } else {
                dbfs.put_file(&tmp, local, size, true, Some(progress.clone()))?;
            }
            crate::support::interrupt::check()?;
            match dbfs.get_status(&tmp)? {
                Some(info) if info.size == size => {}
                other => {
                    return Err(Error::remote(format!(
                        "the upload of `{dest}` arrived with {} bytes instead of {size}",
                        other.map_or(0, |i| i.size)
                    ))
                    .with_help("run the deploy again"));
                }
            }
            match dbfs.rename(&tmp, dest) {
                Ok(()) => Ok(Placed::Written),
                Err(e) if e.is("RESOURCE_ALREADY_EXISTS") => Ok(Placed::AlreadyThere),
                // A retried move whose first attempt went through finds no source.
                Err(e) if e.is_not_found() && dbfs.get_status(dest)?.is_some() => {
                    Ok(Placed::Written)
                }
                Err(e) => Err(e.into()),
            }
        })();
        if !matches!(result, Ok(Placed::Written)) {
            // Best effort: a leftover temporary file is never at a final path, and `gc`
            // removes it later.
            let _ = dbfs.delete(&tmp, false);
        }
        result
    }

    fn write_small(&self, dest: &str, bytes: &[u8]) -> Result<()> {
        Ok(self.api().put_bytes(dest, bytes, true)?)
    }

    fn read_small(&self, path: &str) -> Result<Option<Vec<u8>>> {
        Ok(self.api().read(path)?)
    }

    fn list(&self, dir: &str) -> Result<Vec<Listing>> {
        Ok(self
            .api()
            .list(dir)?
            .into_iter()
            .map(|f| Listing {
                path: format!("dbfs:{}", f.path),
                is_dir: f.is_dir,
                size: f.size,
                modified_ms: f.modified_ms,
            })
            .collect())
    }

    fn folder_exists(&self, path: &str) -> Result<bool> {
        Ok(self.api().get_status(path)?.is_some_and(|f| f.is_dir))
    }

    fn delete(&self, path: &str) -> Result<()> {
        Ok(self.api().delete(path, true)?)
    }
}
