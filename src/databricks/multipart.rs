//! Large files into a volume the way the SDKs send them (databricks-sdk-py
//! `databricks/sdk/mixins/files.py` `FilesExt.upload`, `_perform_multipart_upload`,
//! `_complete_multipart_upload`, `_abort_multipart_upload`): at and above
//! [`Multipart::threshold`] (the SDK's `files_ext_multipart_upload_min_stream_size`, 50 MiB),
//! `initiate-upload`, then each part PUT straight to cloud storage at a presigned URL from
//! `create-upload-part-urls`, then `complete-upload` with the parts' ETags. A workspace that
//! offers no multipart session (GCP's resumable uploads, an older workspace), or a first part
//! the storage refuses, falls back to one PUT, as the SDK falls back; a later failure aborts
//! the session.

use std::io::{Read, Seek, SeekFrom};
use std::path::Path;

use serde::Deserialize;
use serde_json::{Value, json};

use super::client::{Client, Progress, Request};
use super::error::ApiError;
pub use super::limits::Multipart;

#[derive(Deserialize)]
struct Initiated {
    #[serde(default)]
    multipart_upload: Option<Session>,
}

#[derive(Deserialize)]
struct Session {
    session_token: String,
}

#[derive(Deserialize)]
struct PartUrls {
    #[serde(default)]
    upload_part_urls: Vec<PartUrl>,
}

#[derive(Deserialize)]
struct PartUrl {
    url: String,
    part_number: u64,
    #[serde(default)]
    headers: Vec<Header>,
}

#[derive(Deserialize)]
struct Header {
    name: String,
    value: String,
}

/// How a multipart upload ended when it did not complete.
pub enum NotDone {
    /// Nothing was stored: send the file in one PUT instead.
    FallBack,
    Failed(ApiError),
}

/// An hour from now, as `expire_time` takes it (`_get_upload_url_expire_time`).
fn expire_time() -> String {
    crate::support::time::rfc3339(crate::support::time::now_secs() + 3600)
}

impl Client {
    /// Uploads `local` to the Files API path `api_path` (`/api/2.0/fs/files/...`) in parts.
    pub fn upload_in_parts(
        &self,
        api_path: &str,
        target: &str,
        local: &Path,
        overwrite: bool,
        progress: Option<&Progress>,
    ) -> Result<(), NotDone> {
        let initiated = Request::post(api_path, json!({}))
            .query("action", "initiate-upload")
            .query("overwrite", overwrite.to_string())
            .idempotent(true);
        let session = match self
            .execute(&initiated)
            .and_then(|r| self.decode::<Initiated>(api_path, &r))
        {
            Ok(Initiated {
                multipart_upload: Some(s),
            }) => s.session_token,
            // A 409 is the file that exists: no fallback would store it either.
            Err(e) if e.is("ALREADY_EXISTS") => return Err(NotDone::Failed(e)),
            _ => return Err(NotDone::FallBack),
        };
        let done = self
            .send_parts(target, &session, local, progress)
            .and_then(|etags| {
                let parts: Vec<Value> = etags
                    .iter()
                    .enumerate()
                    .map(|(i, etag)| json!({ "part_number": i + 1, "etag": etag }))
                    .collect();
                let complete = Request::post(api_path, json!({ "parts": parts }))
                    .query("action", "complete-upload")
                    .query("upload_type", "multipart")
                    .query("session_token", session.clone())
                    .idempotent(true);
                self.execute(&complete).map(drop).map_err(NotDone::Failed)
            });
        if done.is_err() {
            self.abort_parts(target, &session);
        }
        done
    }

    /// Sends each part; their ETags in order. A first part that fails is a fallback.
    fn send_parts(
        &self,
        target: &str,
        session: &str,
        local: &Path,
        progress: Option<&Progress>,
    ) -> Result<Vec<String>, NotDone> {
        let failed = |e: std::io::Error| {
            NotDone::Failed(ApiError::local(&self.host, target, &e.to_string()))
        };
        let mut file = fs_err::File::open(local).map_err(failed)?;
        let len = file.metadata().map_err(failed)?.len();
        let mut etags = Vec::new();
        let mut offset = 0u64;
        while offset < len {
            let size = self.multipart.part_size.min(len - offset);
            let mut piece = vec![0u8; size as usize];
            file.seek(SeekFrom::Start(offset)).map_err(failed)?;
            file.read_exact(&mut piece).map_err(failed)?;
            let number = etags.len() as u64 + 1;
            match self.send_part(target, session, number, piece) {
                Ok(etag) => etags.push(etag),
                Err(_) if number == 1 => return Err(NotDone::FallBack),
                Err(e) => return Err(NotDone::Failed(e)),
            }
            offset += size;
            if let Some(p) = progress {
                p(offset);
            }
        }
        Ok(etags)
    }

    /// One part: its presigned URL, then a PUT of its bytes there (no workspace token: the
    /// URL carries the storage's own signature); its ETag.
    fn send_part(
        &self,
        target: &str,
        session: &str,
        number: u64,
        piece: Vec<u8>,
    ) -> Result<String, ApiError> {
        let path = "/api/2.0/fs/create-upload-part-urls";
        let body = json!({
            "path": target, "session_token": session, "start_part_number": number,
            "count": 1, "expire_time": expire_time(),
        });
        let urls: PartUrls = self.post_as(path, body, true)?;
        let url = urls
            .upload_part_urls
            .into_iter()
            .find(|u| u.part_number == number)
            .ok_or_else(|| {
                ApiError::protocol(
                    &self.host,
                    path,
                    &format!("no upload URL for part {number}"),
                )
            })?;
        let mut put = self
            .http
            .put(&url.url)
            .header("Content-Type", "application/octet-stream")
            // A part is a known, bounded size: given up only below about 64 KiB/s.
            .timeout(
                self.upload_stall + std::time::Duration::from_secs(piece.len() as u64 / 65_536),
            );
        for h in &url.headers {
            put = put.header(&h.name, &h.value);
        }
        self.stats
            .requests
            .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        self.stats
            .payload_bytes
            .fetch_add(piece.len() as u64, std::sync::atomic::Ordering::Relaxed);
        let answer = put
            .body(piece)
            .send()
            .map_err(|e| ApiError::transport(&self.host, "a part's presigned URL", &e))?;
        if !answer.status().is_success() {
            return Err(ApiError::from_response(
                &self.host,
                "a part's presigned URL",
                answer.status().as_u16(),
                &answer.bytes().unwrap_or_default(),
                "",
            ));
        }
        Ok(answer
            .headers()
            .get("etag")
            .and_then(|v| v.to_str().ok())
            .unwrap_or_default()
            .to_string())
    }

    /// Best effort: the session's abort URL, then a DELETE of it.
    fn abort_parts(&self, target: &str, session: &str) {
        let body =
            json!({ "path": target, "session_token": session, "expire_time": expire_time() });
        let Ok(answer) = self.post_json("/api/2.0/fs/create-abort-upload-url", body, true) else {
            return;
        };
        if let Some(url) = answer["abort_upload_url"]["url"].as_str() {
            let mut delete = self.http.delete(url);
            for h in answer["abort_upload_url"]["headers"]
                .as_array()
                .into_iter()
                .flatten()
            {
                if let (Some(n), Some(v)) = (h["name"].as_str(), h["value"].as_str()) {
                    delete = delete.header(n, v);
                }
            }
            let _ = delete.send();
        }
    }
}
