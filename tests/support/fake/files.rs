//! The fake's Files API (`/api/2.0/fs/files`, `/directories`): Unity Catalog volumes, and
//! the workspace-managed roots MLflow's Databricks SDK artifact repositories write through the
//! same API (`/WorkspaceInternal/Mlflow/Artifacts/...` for run and logged-model artifacts,
//! `/Models/<catalog>/<schema>/<model>/<version>` for Unity Catalog model versions).

use serde_json::{Value, json};

use super::http::{Request, Response};
use super::state::*;

/// A multipart upload in progress (databricks-sdk-py `mixins/files.py` `FilesExt`): the
/// target, whether it may overwrite, and the parts stored so far (number: ETag and bytes).
#[derive(Clone, Debug, Default)]
pub struct Upload {
    pub path: String,
    pub overwrite: bool,
    pub parts: std::collections::BTreeMap<u64, (String, Vec<u8>)>,
}

/// Storage the workspace manages itself, which exists without a volume.
const MANAGED_ROOTS: [&str; 2] = ["/WorkspaceInternal", "/Models"];

impl State {
    /// Stores a file of `volume`, with the folders above it (as the Files API makes them).
    pub(super) fn put_volume_file(&mut self, volume: &str, path: &str, data: Vec<u8>) {
        for dir in ancestors(path) {
            if dir.len() > volume.len() {
                self.volume_dirs.insert(dir);
            }
        }
        self.volume_files.insert(
            path.to_string(),
            File {
                data,
                modified_ms: now_ms(),
            },
        );
    }

    pub(super) fn volume_of(&self, path: &str) -> Option<String> {
        self.volumes
            .iter()
            .map(String::as_str)
            .chain(MANAGED_ROOTS)
            .find(|v| path == *v || path.starts_with(&format!("{v}/")))
            .map(str::to_string)
    }

    pub(super) fn files(&mut self, m: &str, path: &str, req: &Request) -> Response {
        let path = path.trim_end_matches('/').to_string();
        let Some(volume) = self.volume_of(&path) else {
            return Response::error(
                404,
                "NOT_FOUND",
                &format!(
                    "The volume of {path} does not exist (catalog, schema or volume missing)."
                ),
            );
        };
        match m {
            "PUT" => {
                let overwrite = req.query.get("overwrite").is_some_and(|v| v == "true");
                if self.volume_dirs.contains(&path) {
                    return Response::error(
                        409,
                        "ALREADY_EXISTS",
                        &format!("A directory exists at {path}."),
                    );
                }
                if !overwrite && self.volume_files.contains_key(&path) {
                    return Response::error(
                        409,
                        "ALREADY_EXISTS",
                        &format!("The file being created already exists: {path}."),
                    );
                }
                self.put_volume_file(&volume, &path, req.body.clone());
                Response::empty(204)
            }
            "GET" | "HEAD" => match self.volume_files.get(&path) {
                Some(f) => {
                    let mut resp = Response::bytes(200, f.data.clone())
                        .header("Last-Modified", "Wed, 01 May 2024 12:00:00 GMT");
                    if m == "HEAD" {
                        resp.head_length = Some(f.data.len() as u64);
                        resp.body.clear();
                    } else if let Some(range) =
                        req.header("range").and_then(|r| r.strip_prefix("bytes="))
                    {
                        let (a, b) = range.split_once('-').unwrap_or((range, ""));
                        let start: usize = a.parse().unwrap_or(0).min(f.data.len());
                        let end: usize = b
                            .parse::<usize>()
                            .map_or(f.data.len(), |e| (e + 1).min(f.data.len()));
                        resp = Response::bytes(206, f.data[start..end.max(start)].to_vec());
                    }
                    resp
                }
                None => Response::error(
                    404,
                    "NOT_FOUND",
                    &format!("The file {path} does not exist."),
                ),
            },
            "DELETE" => match self.volume_files.remove(&path) {
                Some(_) => Response::empty(204),
                None => Response::error(
                    404,
                    "NOT_FOUND",
                    &format!("The file {path} does not exist."),
                ),
            },
            "POST" => self.upload_action(&path, req),
            _ => Response::error(405, "METHOD_NOT_ALLOWED", m),
        }
    }

    pub(super) fn directories(&mut self, m: &str, path: &str, req: &Request) -> Response {
        let path = path.trim_end_matches('/').to_string();
        let Some(volume) = self.volume_of(&path) else {
            return Response::error(
                404,
                "NOT_FOUND",
                &format!("The volume of {path} does not exist."),
            );
        };
        let exists = path == volume || self.volume_dirs.contains(&path);
        match m {
            "PUT" => {
                if self.volume_files.contains_key(&path) {
                    return Response::error(
                        409,
                        "ALREADY_EXISTS",
                        &format!("A file exists at {path}."),
                    );
                }
                for dir in ancestors(&path).into_iter().chain([path.clone()]) {
                    if dir.len() > volume.len() {
                        self.volume_dirs.insert(dir);
                    }
                }
                Response::empty(204)
            }
            "HEAD" => Response::empty(if exists { 200 } else { 404 }),
            "GET" => {
                if !exists {
                    return Response::error(
                        404,
                        "NOT_FOUND",
                        &format!("The directory {path} does not exist."),
                    );
                }
                let mut contents: Vec<Value> = Vec::new();
                for d in &self.volume_dirs {
                    if parent(d).as_deref() == Some(path.as_str()) {
                        let name = d.rsplit('/').next().unwrap_or("");
                        contents.push(json!({ "path": d, "is_directory": true, "name": name }));
                    }
                }
                for (f, file) in &self.volume_files {
                    if parent(f).as_deref() == Some(path.as_str()) {
                        let name = f.rsplit('/').next().unwrap_or("");
                        contents.push(json!({ "path": f, "is_directory": false, "file_size": file.data.len(), "last_modified": file.modified_ms, "name": name }));
                    }
                }
                let size: usize = req
                    .query
                    .get("page_size")
                    .and_then(|s| s.parse().ok())
                    .unwrap_or(1000)
                    .clamp(1, 1000);
                let start: usize = req
                    .query
                    .get("page_token")
                    .and_then(|t| t.parse().ok())
                    .unwrap_or(0);
                let page: Vec<Value> = contents.iter().skip(start).take(size).cloned().collect();
                let mut out = json!({ "contents": page });
                if start + size < contents.len() {
                    out["next_page_token"] = json!((start + size).to_string());
                }
                Response::ok(out)
            }
            "DELETE" => {
                let prefix = format!("{path}/");
                if self.volume_files.keys().any(|k| k.starts_with(&prefix))
                    || self.volume_dirs.iter().any(|k| k.starts_with(&prefix))
                {
                    return Response::json(
                        400,
                        json!({ "error_code": "BAD_REQUEST", "message": "directory is not empty", "details": [{ "reason": "FILES_API_DIRECTORY_IS_NOT_EMPTY" }] }),
                    );
                }
                if !exists {
                    return Response::error(
                        404,
                        "NOT_FOUND",
                        &format!("The directory {path} does not exist."),
                    );
                }
                self.volume_dirs.remove(&path);
                Response::empty(204)
            }
            _ => Response::error(405, "METHOD_NOT_ALLOWED", m),
        }
    }
}

impl State {
    /// `POST /api/2.0/fs/files{path}?action=initiate-upload|complete-upload`.
    fn upload_action(&mut self, path: &str, req: &Request) -> Response {
        let bad = |m: &str| Response::error(400, "INVALID_PARAMETER_VALUE", m);
        match req.query.get("action").map(String::as_str) {
            Some("initiate-upload") => {
                let overwrite = req.query.get("overwrite").is_some_and(|v| v == "true");
                if !overwrite && self.volume_files.contains_key(path) {
                    return Response::error(
                        409,
                        "ALREADY_EXISTS",
                        &format!("The file being created already exists: {path}."),
                    );
                }
                let token = format!("mpu-{}", self.id());
                self.uploads.insert(
                    token.clone(),
                    Upload {
                        path: path.to_string(),
                        overwrite,
                        parts: Default::default(),
                    },
                );
                Response::ok(json!({ "multipart_upload": { "session_token": token } }))
            }
            Some("complete-upload") => {
                if req.query.get("upload_type").map(String::as_str) != Some("multipart") {
                    return bad("upload_type must be multipart");
                }
                let token = req.query.get("session_token").cloned().unwrap_or_default();
                let Some(upload) = self.uploads.get(&token).cloned() else {
                    return Response::error(404, "NOT_FOUND", "The upload session does not exist.");
                };
                if upload.path != path {
                    return bad("The session is for another path.");
                }
                let listed = req.json()["parts"].as_array().cloned().unwrap_or_default();
                let mut data = Vec::new();
                for (i, part) in listed.iter().enumerate() {
                    let n = part["part_number"].as_u64().unwrap_or(0);
                    match upload.parts.get(&n) {
                        Some((etag, bytes))
                            if n == i as u64 + 1 && part["etag"] == etag.as_str() =>
                        {
                            data.extend_from_slice(bytes);
                        }
                        _ => {
                            return bad(&format!(
                                "Part {n} is missing or its ETag does not match."
                            ));
                        }
                    }
                }
                if listed.len() != upload.parts.len() {
                    return bad("Every uploaded part must be listed.");
                }
                self.uploads.remove(&token);
                let volume = self.volume_of(path).unwrap_or_default();
                self.put_volume_file(&volume, path, data);
                Response::ok(json!({}))
            }
            _ => bad("unknown action"),
        }
    }

    /// `POST /api/2.0/fs/create-upload-part-urls` and `create-abort-upload-url`: presigned
    /// URLs on this server's `/_cloud/`, signed by a header the PUT must carry.
    pub(super) fn upload_urls(&mut self, op: &str, req: &Request) -> Response {
        let body = req.json();
        let token = body["session_token"]
            .as_str()
            .unwrap_or_default()
            .to_string();
        if !self.uploads.contains_key(&token) {
            return Response::error(404, "NOT_FOUND", "The upload session does not exist.");
        }
        let base = format!(
            "http://{}/_cloud/{token}",
            req.header("host").unwrap_or("127.0.0.1")
        );
        let signed = json!([{ "name": "x-fake-signature", "value": token }]);
        match op {
            "upload-part-urls" => {
                let start = body["start_part_number"].as_u64().unwrap_or(1);
                let count = body["count"].as_u64().unwrap_or(1);
                let urls: Vec<Value> = (start..start + count)
                    .map(|n| json!({ "part_number": n, "url": format!("{base}/{n}"), "headers": signed }))
                    .collect();
                Response::ok(json!({ "upload_part_urls": urls }))
            }
            "abort-upload-url" => Response::ok(
                json!({ "abort_upload_url": { "url": format!("{base}/abort"), "headers": signed } }),
            ),
            _ => Response::error(404, "ENDPOINT_NOT_FOUND", op),
        }
    }

    /// The cloud storage behind the presigned URLs: a part PUT (answered with its ETag), or
    /// the abort DELETE. A request without the URL's signature header is refused with 403.
    pub(super) fn cloud(&mut self, m: &str, rest: &str, req: &Request) -> Response {
        let (token, what) = rest.split_once('/').unwrap_or((rest, ""));
        if req.header("x-fake-signature") != Some(token) {
            return Response::bytes(403, b"<Error><Code>AccessDenied</Code></Error>".to_vec());
        }
        let Some(upload) = self.uploads.get_mut(token) else {
            return Response::bytes(404, b"<Error><Code>NoSuchUpload</Code></Error>".to_vec());
        };
        match (m, what) {
            ("DELETE", "abort") => {
                self.uploads.remove(token);
                Response::empty(204)
            }
            ("PUT", n) => {
                let Ok(n) = n.parse::<u64>() else {
                    return Response::bytes(
                        400,
                        b"<Error><Code>InvalidPart</Code></Error>".to_vec(),
                    );
                };
                let etag = format!("\"etag-{n}-{}\"", req.body.len());
                upload.parts.insert(n, (etag.clone(), req.body.clone()));
                Response::empty(200).header("ETag", &etag)
            }
            _ => Response::bytes(405, Vec::new()),
        }
    }
}
