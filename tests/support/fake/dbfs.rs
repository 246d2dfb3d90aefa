//! The fake's DBFS API 2.0 (`/api/2.0/dbfs/...`).

use base64::Engine;
use serde_json::{Value, json};

use super::http::{Request, Response, multipart};
use super::state::*;

impl State {
    pub(super) fn dbfs_info(&self, path: &str) -> Option<Value> {
        if self.dbfs_dirs.contains(path) {
            return Some(
                json!({ "path": path, "is_dir": true, "file_size": 0, "modification_time": 0 }),
            );
        }
        self.dbfs_files.get(path).map(|f| {
            json!({ "path": path, "is_dir": false, "file_size": f.data.len(), "modification_time": f.modified_ms })
        })
    }

    /// Creates the parent folders of `path`; fails when a file is on the way.
    pub(super) fn dbfs_parents(&mut self, path: &str) -> Result<(), Response> {
        for dir in ancestors(path) {
            if self.dbfs_files.contains_key(&dir) {
                return Err(Response::error(
                    400,
                    "RESOURCE_ALREADY_EXISTS",
                    &format!("A file or directory already exists at the input path {dir}."),
                ));
            }
            self.dbfs_dirs.insert(dir);
        }
        Ok(())
    }

    pub(super) fn dbfs_write(&mut self, path: &str, data: Vec<u8>, overwrite: bool) -> Response {
        if self.dbfs_dirs.contains(path) || (!overwrite && self.dbfs_files.contains_key(path)) {
            return Response::error(
                400,
                "RESOURCE_ALREADY_EXISTS",
                &format!("A file or directory already exists at the input path {path}."),
            );
        }
        if let Err(e) = self.dbfs_parents(path) {
            return e;
        }
        self.dbfs_files.insert(
            path.into(),
            File {
                data,
                modified_ms: now_ms(),
            },
        );
        Response::ok(json!({}))
    }

    pub(super) fn dbfs(&mut self, m: &str, op: &str, req: &Request) -> Response {
        let body = req.json();
        let q = |k: &str| req.query.get(k).cloned().unwrap_or_default();
        let bool_of = |v: &Value| {
            v.as_bool()
                .unwrap_or_else(|| v.as_str().is_some_and(|s| s.eq_ignore_ascii_case("true")))
        };
        match (m, op) {
            ("POST", "put") => {
                let ct = req.header("content-type").unwrap_or("");
                if ct.starts_with("multipart/form-data") {
                    let parts = multipart(ct, &req.body);
                    let path = norm_dbfs(&String::from_utf8_lossy(
                        parts.get("path").map(Vec::as_slice).unwrap_or(b""),
                    ));
                    let overwrite = parts
                        .get("overwrite")
                        .is_some_and(|v| String::from_utf8_lossy(v).eq_ignore_ascii_case("true"));
                    let data = parts
                        .get("file")
                        .or_else(|| parts.get("contents"))
                        .cloned()
                        .unwrap_or_default();
                    return self.dbfs_write(&path, data, overwrite);
                }
                let path = norm_dbfs(body["path"].as_str().unwrap_or(""));
                let data = match B64.decode(body["contents"].as_str().unwrap_or("")) {
                    Ok(d) => d,
                    Err(_) => {
                        return Response::error(
                            400,
                            "INVALID_PARAMETER_VALUE",
                            "contents is not base64",
                        );
                    }
                };
                if data.len() > MAX_BLOCK {
                    return Response::error(
                        400,
                        "MAX_BLOCK_SIZE_EXCEEDED",
                        "The contents exceed the 1 MB limit.",
                    );
                }
                self.dbfs_write(&path, data, bool_of(&body["overwrite"]))
            }
            ("POST", "create") => {
                let path = norm_dbfs(body["path"].as_str().unwrap_or(""));
                if !bool_of(&body["overwrite"])
                    && (self.dbfs_files.contains_key(&path) || self.dbfs_dirs.contains(&path))
                {
                    return Response::error(
                        400,
                        "RESOURCE_ALREADY_EXISTS",
                        &format!("A file or directory already exists at the input path {path}."),
                    );
                }
                if let Err(e) = self.dbfs_parents(&path) {
                    return e;
                }
                let h = self.id();
                self.handles.insert(h, (path, Vec::new()));
                Response::ok(json!({ "handle": h }))
            }
            ("POST", "add-block") => {
                let h = body["handle"].as_u64().unwrap_or(0);
                let data = B64
                    .decode(body["data"].as_str().unwrap_or(""))
                    .unwrap_or_default();
                if data.len() > MAX_BLOCK {
                    return Response::error(
                        400,
                        "MAX_BLOCK_SIZE_EXCEEDED",
                        "The block exceeds 1 MB.",
                    );
                }
                match self.handles.get_mut(&h) {
                    Some((_, buf)) => {
                        buf.extend_from_slice(&data);
                        Response::ok(json!({}))
                    }
                    None => Response::error(
                        400,
                        "RESOURCE_DOES_NOT_EXIST",
                        &format!("No file handle {h}"),
                    ),
                }
            }
            ("POST", "close") => {
                let h = body["handle"].as_u64().unwrap_or(0);
                match self.handles.remove(&h) {
                    Some((path, data)) => {
                        self.dbfs_files.insert(
                            path,
                            File {
                                data,
                                modified_ms: now_ms(),
                            },
                        );
                        Response::ok(json!({}))
                    }
                    None => Response::error(
                        400,
                        "RESOURCE_DOES_NOT_EXIST",
                        &format!("No file handle {h}"),
                    ),
                }
            }
            ("GET", "get-status") => match self.dbfs_info(&norm_dbfs(&q("path"))) {
                Some(info) => Response::ok(info),
                None => Response::error(
                    404,
                    "RESOURCE_DOES_NOT_EXIST",
                    &format!("No file or directory exists on path {}.", q("path")),
                ),
            },
            ("GET", "list") => {
                let path = norm_dbfs(&q("path"));
                if let Some(f) = self.dbfs_files.get(&path) {
                    return Response::ok(
                        json!({ "files": [{ "path": path, "is_dir": false, "file_size": f.data.len(), "modification_time": f.modified_ms }] }),
                    );
                }
                if !self.dbfs_dirs.contains(&path) {
                    return Response::error(
                        404,
                        "RESOURCE_DOES_NOT_EXIST",
                        &format!("No file or directory exists on path {path}."),
                    );
                }
                let children: Vec<Value> = self
                    .dbfs_dirs
                    .iter()
                    .chain(self.dbfs_files.keys())
                    .filter(|c| *c != &path && parent(c).as_deref() == Some(path.as_str()))
                    .filter_map(|c| self.dbfs_info(c))
                    .collect();
                if children.is_empty() {
                    Response::ok(json!({}))
                } else {
                    Response::ok(json!({ "files": children }))
                }
            }
            ("POST", "mkdirs") => {
                let path = norm_dbfs(body["path"].as_str().unwrap_or(""));
                if self.dbfs_files.contains_key(&path) {
                    return Response::error(
                        400,
                        "RESOURCE_ALREADY_EXISTS",
                        &format!("A file or directory already exists at the input path {path}."),
                    );
                }
                if let Err(e) = self.dbfs_parents(&path) {
                    return e;
                }
                self.dbfs_dirs.insert(path);
                Response::ok(json!({}))
            }
            ("POST", "move") => {
                let from = norm_dbfs(body["source_path"].as_str().unwrap_or(""));
                let to = norm_dbfs(body["destination_path"].as_str().unwrap_or(""));
                if self.dbfs_info(&from).is_none() {
                    return Response::error(
                        404,
                        "RESOURCE_DOES_NOT_EXIST",
                        &format!("No file or directory exists on path {from}."),
                    );
                }
                if self.dbfs_info(&to).is_some() {
                    return Response::error(
                        400,
                        "RESOURCE_ALREADY_EXISTS",
                        &format!("A file or directory already exists at the input path {to}."),
                    );
                }
                if let Err(e) = self.dbfs_parents(&to) {
                    return e;
                }
                let prefix = format!("{from}/");
                let files: Vec<String> = self
                    .dbfs_files
                    .keys()
                    .filter(|k| **k == from || k.starts_with(&prefix))
                    .cloned()
                    .collect();
                for k in files {
                    let f = self.dbfs_files.remove(&k).unwrap();
                    self.dbfs_files
                        .insert(format!("{to}{}", &k[from.len()..]), f);
                }
                let dirs: Vec<String> = self
                    .dbfs_dirs
                    .iter()
                    .filter(|k| **k == from || k.starts_with(&prefix))
                    .cloned()
                    .collect();
                for k in dirs {
                    self.dbfs_dirs.remove(&k);
                    self.dbfs_dirs.insert(format!("{to}{}", &k[from.len()..]));
                }
                Response::ok(json!({}))
            }
            ("POST", "delete") => {
                let path = norm_dbfs(body["path"].as_str().unwrap_or(""));
                let recursive = bool_of(&body["recursive"]);
                let prefix = format!("{path}/");
                let has_children = self.dbfs_files.keys().any(|k| k.starts_with(&prefix))
                    || self.dbfs_dirs.iter().any(|k| k.starts_with(&prefix));
                if has_children && !recursive {
                    return Response::error(
                        400,
                        "IO_ERROR",
                        &format!("Directory {path} is not empty; use recursive"),
                    );
                }
                self.dbfs_files
                    .retain(|k, _| *k != path && !k.starts_with(&prefix));
                if path != "/" {
                    self.dbfs_dirs
                        .retain(|k| *k != path && !k.starts_with(&prefix));
                }
                Response::ok(json!({}))
            }
            ("GET", "read") => {
                let path = norm_dbfs(&q("path"));
                let offset: usize = q("offset").parse().unwrap_or(0);
                let length: usize = q("length").parse().unwrap_or(512 * 1024);
                if length > MAX_BLOCK {
                    return Response::error(
                        400,
                        "MAX_READ_SIZE_EXCEEDED",
                        "Cannot read more than 1 MB at once.",
                    );
                }
                match self.dbfs_files.get(&path) {
                    Some(f) => {
                        let start = offset.min(f.data.len());
                        let end = (start + length).min(f.data.len());
                        Response::ok(
                            json!({ "bytes_read": end - start, "data": B64.encode(&f.data[start..end]) }),
                        )
                    }
                    None => Response::error(
                        404,
                        "RESOURCE_DOES_NOT_EXIST",
                        &format!("No file or directory exists on path {path}."),
                    ),
                }
            }
            _ => Response::error(
                404,
                "ENDPOINT_NOT_FOUND",
                &format!("No API found for '{m} /api/2.0/dbfs/{op}'"),
            ),
        }
    }
}
