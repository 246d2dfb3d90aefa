//! The Files API for Unity Catalog volumes: the calls the volume artifact store needs.

use std::path::Path;

use percent_encoding::{AsciiSet, CONTROLS, utf8_percent_encode};

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

/// One entry of a directory listing.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Entry {
    pub path: String,
    pub is_dir: bool,
    pub size: u64,
    pub modified_ms: i64,
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
            Ok(resp) => Ok(resp
                .headers
                .get("content-length")
                .and_then(|v| v.to_str().ok())
                .and_then(|v| v.parse().ok())),
            Err(e) if e.is_not_found() => Ok(None),
            Err(e) => Err(e),
        }
    }

    /// Uploads a local file. With `overwrite = false` an existing file is a
    /// `RESOURCE_ALREADY_EXISTS` (409) error, which also makes a retry after a lost answer safe.
    pub fn put_file(
        &self,
        path: &str,
        local: &Path,
        len: u64,
        overwrite: bool,
        progress: Option<Progress>,
    ) -> Result<(), ApiError> {
        let url = endpoint("files", path);
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
            let v = match self.client.execute(&req) {
                Ok(resp) => resp.json(),
                Err(e) if e.is_not_found() => return Ok(out),
                Err(e) => return Err(e),
            };
            for item in v["contents"].as_array().into_iter().flatten() {
                out.push(Entry {
                    path: item["path"].as_str().unwrap_or("").to_string(),
                    is_dir: item["is_directory"].as_bool().unwrap_or(false),
                    size: item["file_size"].as_u64().unwrap_or(0),
                    modified_ms: item["last_modified"].as_i64().unwrap_or(0),
                });
            }
            match v["next_page_token"].as_str() {
                Some(t) if !t.is_empty() => token = Some(t.to_string()),
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
