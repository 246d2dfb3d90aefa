//! The fake's Files API (`/api/2.0/fs/files`, `/directories`): Unity Catalog volumes, and
//! the workspace-managed roots MLflow's Databricks SDK artifact repositories write through the
//! same API (`/WorkspaceInternal/Mlflow/Artifacts/...` for run and logged-model artifacts,
//! `/Models/<catalog>/<schema>/<model>/<version>` for Unity Catalog model versions).

use serde_json::{Value, json};

use super::http::{Request, Response};
use super::state::*;

/// Storage the workspace manages itself, which exists without a volume.
const MANAGED_ROOTS: [&str; 2] = ["/WorkspaceInternal", "/Models"];

impl State {
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
                for dir in ancestors(&path) {
                    if dir.len() > volume.len() {
                        self.volume_dirs.insert(dir);
                    }
                }
                self.volume_files.insert(
                    path,
                    File {
                        data: req.body.clone(),
                        modified_ms: now_ms(),
                    },
                );
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
