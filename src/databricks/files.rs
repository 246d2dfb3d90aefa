//! The Files API for Unity Catalog volumes: the calls the volume artifact store needs.

use std::path::Path;

use percent_encoding::{AsciiSet, CONTROLS, utf8_percent_encode};
use serde::Deserialize;

use super::client::{Body, Client, Progress, Request};
use super::error::ApiError;

/// Everything but unreserved characters and `/` is encoded in a Files API path.
const PATH: &AsciiSet = &CONTROLS
    .add(b' ')
    .add(b'"')
    .add(b'#')
    .add(b'%')
    .add(b'<')
    .add(b'>')
    .add(b'?')
    .add(b'`')
    .add(b'{')
    .add(b'}')
    .add(b'[')
    .add(b']')
    .add(b'^')
    .add(b'|')
    .add(b'\\')
    .add(b'+')
    .add(b'&')
    .add(b'=')
    .add(b';')
    .add(b'\'');

fn endpoint(kind: &str, path: &str) -> String {
    format!("/api/2.0/fs/{kind}{}", utf8_percent_encode(path, PATH))
}

/// One entry of a directory listing (`file_size` and `last_modified` are absent for
/// directories).
#[derive(Clone, Debug, PartialEq, Eq, Deserialize)]
#[serde(from = "RawEntry")]
pub struct Entry {
    pub path: String,
    pub is_dir: bool,
    pub size: u64,
    pub modified_ms: i64,
}

/// A listing entry as the Files API sends it: every field is optional in the SDKs'
/// `DirectoryEntry` (databricks-sdk-py `service/files.py`), so an entry without
/// `is_directory` is a directory when it has no size or its path ends with `/`.
#[derive(Deserialize)]
struct RawEntry {
    path: String,
    #[serde(default)]
    is_directory: Option<bool>,
    #[serde(default)]
    file_size: Option<u64>,
    #[serde(default)]
    last_modified: Option<i64>,
}

impl From<RawEntry> for Entry {
    fn from(raw: RawEntry) -> Entry {
        Entry {
            is_dir: raw
                .is_directory
                .unwrap_or(raw.file_size.is_none() || raw.path.ends_with('/')),
            path: raw.path.trim_end_matches('/').to_string(),
            size: raw.file_size.unwrap_or(0),
            modified_ms: raw.last_modified.unwrap_or(0),
        }
    }
}

/// A page of a directory listing (`contents` is absent for an empty directory).
#[derive(Deserialize)]
struct Page {
    #[serde(default)]
    contents: Vec<Entry>,
    #[serde(default)]
    next_page_token: Option<String>,
}

pub struct Files<'a> {
    pub client: &'a Client,
}

impl Files<'_> {
    /// The file's size, or `None` when it does not exist.
    pub fn head(&self, path: &str) -> Result<Option<u64>, ApiError> {
        let url = endpoint("files", path);
        let req = Request {
            method: reqwest::Method::HEAD,
            ..Request::get(&url)
        };
        match self.client.execute(&req) {
            Ok(resp) => resp
                .headers
                .get("content-length")
                .and_then(|v| v.to_str().ok())
                .and_then(|v| v.parse().ok())
                .map(Some)
                .ok_or_else(|| {
                    ApiError::protocol(
                        &self.client.host,
                        &url,
                        "the answer's `content-length` header is missing or not a number",
                    )
                }),
            Err(e) if e.is_not_found() => Ok(None),
            Err(e) => Err(e),
        }
    }

    /// Whether a directory (or the volume itself) exists at `path`.
    pub fn dir_exists(&self, path: &str) -> Result<bool, ApiError> {
        let url = endpoint("directories", path);
        let req = Request {
            method: reqwest::Method::HEAD,
            ..Request::get(&url)
        };
        match self.client.execute(&req) {
            Ok(_) => Ok(true),
            Err(e) if e.is_not_found() => Ok(false),
            Err(e) => Err(e),
        }
    }

    /// Uploads a local file: in parts from the client's multipart threshold on (see
    /// `multipart.rs`), else (or when the workspace offers no parts) in one PUT. With
    /// `overwrite = false` an existing file is a `RESOURCE_ALREADY_EXISTS` (409) error, which
    /// also makes a retry after a lost answer safe.
    pub fn put_file(
        &self,
        path: &str,
        local: &Path,
        len: u64,
        overwrite: bool,
        progress: Option<Progress>,
    ) -> Result<(), ApiError> {
        let url = endpoint("files", path);
        if len >= self.client.multipart.threshold {
            match self
                .client
                .upload_in_parts(&url, path, local, overwrite, progress.as_ref())
            {
                Ok(()) => return Ok(()),
                Err(super::multipart::NotDone::Failed(e)) => return Err(e),
                Err(super::multipart::NotDone::FallBack) => {}
            }
        }
        let req = Request {
            method: reqwest::Method::PUT,
            path: &url,
            query: vec![("overwrite", overwrite.to_string())],
            body: Body::File {
                path: local.to_path_buf(),
                len,
                prefix: Vec::new(),
                suffix: Vec::new(),
                content_type: "application/octet-stream".into(),
                progress,
            },
            idempotent: true,
            auth: Default::default(),
        };
        self.client.execute(&req).map(drop)
    }

    pub fn put_bytes(&self, path: &str, bytes: &[u8], overwrite: bool) -> Result<(), ApiError> {
        let url = endpoint("files", path);
        let req = Request {
            method: reqwest::Method::PUT,
            path: &url,
            query: vec![("overwrite", overwrite.to_string())],
            body: Body::Bytes(bytes.to_vec(), "application/octet-stream".into()),
            idempotent: true,
            auth: Default::default(),
        };
        self.client.execute(&req).map(drop)
    }

    pub fn get(&self, path: &str) -> Result<Option<Vec<u8>>, ApiError> {
        let url = endpoint("files", path);
        match self.client.execute(&Request::get(&url)) {
            Ok(resp) => Ok(Some(resp.body)),
            Err(e) if e.is_not_found() => Ok(None),
            Err(e) => Err(e),
        }
    }

    /// Deletes a file; a missing one is no error.
    pub fn delete(&self, path: &str) -> Result<(), ApiError> {
        self.delete_at("files", path)
    }

    /// Deletes an empty directory; a missing one is no error.
    pub fn delete_dir(&self, path: &str) -> Result<(), ApiError> {
        self.delete_at("directories", path)
    }

    fn delete_at(&self, kind: &str, path: &str) -> Result<(), ApiError> {
        let url = endpoint(kind, path);
        let req = Request {
            method: reqwest::Method::DELETE,
            ..Request::get(&url)
        };
        match self.client.execute(&req) {
            Ok(_) => Ok(()),
            Err(e) if e.is_not_found() => Ok(()),
            Err(e) => Err(e),
        }
    }

    /// Every entry of a directory (all pages); empty when it does not exist.
    pub fn list(&self, path: &str) -> Result<Vec<Entry>, ApiError> {
        let url = endpoint("directories", path);
        let mut out = Vec::new();
        let mut token: Option<String> = None;
        loop {
            let mut req = Request::get(&url).query("page_size", "1000");
            if let Some(t) = &token {
                req = req.query("page_token", t.clone());
            }
            let page: Page = match self.client.execute(&req) {
                Ok(resp) => self.client.decode(&url, &resp)?,
                Err(e) if e.is_not_found() => return Ok(out),
                Err(e) => return Err(e),
            };
            out.extend(page.contents);
            match page.next_page_token {
                Some(t) if !t.is_empty() => token = Some(t),
                _ => return Ok(out),
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn paths_are_encoded_except_slashes() {
        assert_eq!(
            endpoint("files", "/Volumes/main/s/v/a b/c+d.whl"),
            "/api/2.0/fs/files/Volumes/main/s/v/a%20b/c%2Bd.whl"
        );
    }
}
