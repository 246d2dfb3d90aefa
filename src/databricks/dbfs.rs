//! DBFS API 2.0: the calls the DBFS artifact store needs.

use std::path::Path;

use base64::Engine;
use serde::Deserialize;
use serde_json::json;

use super::client::{Body, Client, Progress, Request};
use super::error::ApiError;

/// A file or folder as DBFS describes it (`FileInfo`; `file_size` is 0 for folders, and
/// `is_dir`/`modification_time` are left out by some services when false or unknown).
#[derive(Clone, Debug, PartialEq, Eq, Deserialize)]
pub struct FileInfo {
    pub path: String,
    #[serde(default)]
    pub is_dir: bool,
    #[serde(default, rename = "file_size")]
    pub size: u64,
    #[serde(default, rename = "modification_time")]
    pub modified_ms: i64,
}

/// `list`'s answer: `files` is absent for an empty folder.
#[derive(Deserialize)]
struct Listed {
    #[serde(default)]
    files: Vec<FileInfo>,
}

/// `read`'s answer.
/// The largest file sent in one multipart `put`; larger ones use the streaming API (the
/// Databricks CLI's `MaxDbfsUploadLimitForPutApi`, 2 MiB).
pub const PUT_LIMIT: u64 = 2 * 1024 * 1024;

/// The bytes of one `add-block` (its documented limit: 1 MB).
const BLOCK: usize = 1024 * 1024;

#[derive(Deserialize)]
struct Read {
    bytes_read: u64,
    #[serde(default)]
    data: String,
}

/// `dbfs:/a/b` → `/a/b`, the form the API takes.
pub fn api_path(path: &str) -> String {
    match path.strip_prefix("dbfs:") {
        Some(rest) => format!("/{}", rest.trim_start_matches('/')),
        None => path.to_string(),
    }
}

pub struct Dbfs<'a> {
    pub client: &'a Client,
}

impl Dbfs<'_> {
    pub fn get_status(&self, path: &str) -> Result<Option<FileInfo>, ApiError> {
        match self
            .client
            .get_as::<FileInfo>("/api/2.0/dbfs/get-status", &[("path", &api_path(path))])
        {
            Ok(v) => Ok(Some(v)),
            Err(e) if e.is_not_found() => Ok(None),
            Err(e) => Err(e),
        }
    }

    pub fn mkdirs(&self, path: &str) -> Result<(), ApiError> {
        self.client
            .post_json(
                "/api/2.0/dbfs/mkdirs",
                json!({ "path": api_path(path) }),
                true,
            )
            .map(drop)
    }

    /// Uploads a local file in one multipart `put` (raw bytes, no base64), which, with
    /// `overwrite`, is safe to send again.
    pub fn put_file(
        &self,
        path: &str,
        local: &Path,
        len: u64,
        overwrite: bool,
        progress: Option<Progress>,
    ) -> Result<(), ApiError> {
        let boundary = format!("mlops-{:016x}", len ^ 0x5bd1_e995_u64.rotate_left(17));
        let field = |name: &str, value: &str| {
            format!(
                "--{boundary}\r\nContent-Disposition: form-data; name=\"{name}\"\r\n\r\n{value}\r\n"
            )
        };
        let mut prefix = field("path", &api_path(path));
        prefix.push_str(&field(
            "overwrite",
            if overwrite { "true" } else { "false" },
        ));
        prefix.push_str(&format!(
            "--{boundary}\r\nContent-Disposition: form-data; name=\"file\"; filename=\"blob\"\r\nContent-Type: application/octet-stream\r\n\r\n"
        ));
        let suffix = format!("\r\n--{boundary}--\r\n");
        let req = Request {
            method: reqwest::Method::POST,
            path: "/api/2.0/dbfs/put",
            query: Vec::new(),
            body: Body::File {
                path: local.to_path_buf(),
                len,
                prefix: prefix.into_bytes(),
                suffix: suffix.into_bytes(),
                content_type: format!("multipart/form-data; boundary={boundary}"),
                progress,
            },
            idempotent: overwrite,
            auth: Default::default(),
        };
        self.client.execute(&req).map(drop)
    }

    /// Uploads a local file with the streaming API (`create`, `add-block` in 1 MiB pieces,
    /// `close`), as the clients do for files above [`PUT_LIMIT`]: the Databricks CLI's
    /// `libs/filer/dbfs_client.go` `DbfsClient.Write` (`uploadUsingDbfsStreamingApi`), with
    /// blocks the size databricks-sdk-py's `_DbfsIO.MAX_CHUNK_SIZE` sends. A block whose
    /// answer was lost may have been appended, so the whole file is sent again from `create`
    /// (with `overwrite`), up to three times.
    pub fn put_streaming(
        &self,
        path: &str,
        local: &Path,
        progress: Option<Progress>,
    ) -> Result<(), ApiError> {
        use std::io::Read as _;
        #[derive(Deserialize)]
        struct Created {
            handle: u64,
        }
        let mut tries = 0;
        loop {
            tries += 1;
            let attempt = || -> Result<(), ApiError> {
                let created: Created = self.client.post_as(
                    "/api/2.0/dbfs/create",
                    json!({ "path": api_path(path), "overwrite": true }),
                    true,
                )?;
                let mut file = fs_err::File::open(local).map_err(|e| {
                    ApiError::local(&self.client.host, "/api/2.0/dbfs/add-block", &e.to_string())
                })?;
                let mut sent = 0u64;
                let mut block = vec![0u8; BLOCK];
                loop {
                    let mut filled = 0;
                    while filled < BLOCK {
                        match file.read(&mut block[filled..]) {
                            Ok(0) => break,
                            Ok(n) => filled += n,
                            Err(e) => {
                                return Err(ApiError::local(
                                    &self.client.host,
                                    "/api/2.0/dbfs/add-block",
                                    &e.to_string(),
                                ));
                            }
                        }
                    }
                    if filled == 0 {
                        break;
                    }
                    let data = base64::engine::general_purpose::STANDARD.encode(&block[..filled]);
                    self.client.post_json(
                        "/api/2.0/dbfs/add-block",
                        json!({ "handle": created.handle, "data": data }),
                        false,
                    )?;
                    sent += filled as u64;
                    if let Some(p) = &progress {
                        p(sent);
                    }
                }
                self.client
                    .post_json(
                        "/api/2.0/dbfs/close",
                        json!({ "handle": created.handle }),
                        false,
                    )
                    .map(drop)
            };
            match attempt() {
                Err(e) if e.may_have_been_applied() && tries < 3 => continue,
                other => return other,
            }
        }
    }

    /// A small file (under 1 MB) in one JSON `put`.
    pub fn put_bytes(&self, path: &str, bytes: &[u8], overwrite: bool) -> Result<(), ApiError> {
        let contents = base64::engine::general_purpose::STANDARD.encode(bytes);
        self.client
            .post_json(
                "/api/2.0/dbfs/put",
                json!({ "path": api_path(path), "contents": contents, "overwrite": overwrite }),
                overwrite,
            )
            .map(drop)
    }

    /// Moves a file; the caller decides what an already existing destination or a missing
    /// source (a retried move whose first attempt succeeded) means.
    pub fn rename(&self, from: &str, to: &str) -> Result<(), ApiError> {
        self.client
            .post_json(
                "/api/2.0/dbfs/move",
                json!({ "source_path": api_path(from), "destination_path": api_path(to) }),
                true,
            )
            .map(drop)
    }

    pub fn delete(&self, path: &str, recursive: bool) -> Result<(), ApiError> {
        self.client
            .post_json(
                "/api/2.0/dbfs/delete",
                json!({ "path": api_path(path), "recursive": recursive }),
                true,
            )
            .map(drop)
    }

    pub fn list(&self, path: &str) -> Result<Vec<FileInfo>, ApiError> {
        match self
            .client
            .get_as::<Listed>("/api/2.0/dbfs/list", &[("path", &api_path(path))])
        {
            Ok(v) => Ok(v.files),
            Err(e) if e.is_not_found() => Ok(Vec::new()),
            Err(e) => Err(e),
        }
    }

    /// The whole file (small files: deploy records), read in 1 MB pieces.
    /// The whole file, read as databricks-sdk-py does (`databricks/sdk/mixins/files.py`
    /// `_DbfsIO`): its size from `get-status`, then `read` in 1 MiB pieces up to that size.
    pub fn read(&self, path: &str) -> Result<Option<Vec<u8>>, ApiError> {
        let Some(status) = self.get_status(path)? else {
            return Ok(None);
        };
        let mut out = Vec::new();
        while (out.len() as u64) < status.size {
            let offset = out.len().to_string();
            let v: Read = match self.client.get_as(
                "/api/2.0/dbfs/read",
                &[
                    ("path", &api_path(path)),
                    ("offset", &offset),
                    ("length", "1048576"),
                ],
            ) {
                Ok(v) => v,
                Err(e) if e.is_not_found() => return Ok(None),
                Err(e) => return Err(e),
            };
            // A file that shrank while it was read: what was read is all there is.
            if v.bytes_read == 0 {
                return Ok(Some(out));
            }
            let data = base64::engine::general_purpose::STANDARD
                .decode(&v.data)
                .map_err(|e| {
                    ApiError::protocol(&self.client.host, "/api/2.0/dbfs/read", &e.to_string())
                })?;
            out.extend_from_slice(&data);
        }
        Ok(Some(out))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn paths_lose_the_scheme() {
        assert_eq!(api_path("dbfs:/wheels/a"), "/wheels/a");
        assert_eq!(api_path("dbfs:wheels/a"), "/wheels/a");
        assert_eq!(api_path("/wheels/a"), "/wheels/a");
    }
}
