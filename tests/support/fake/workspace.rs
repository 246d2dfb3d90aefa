//! The fake's Workspace API (`/api/2.0/workspace/...`): folders and imported files.

use base64::Engine;
use serde_json::json;

use super::http::{Request, Response, multipart};
use super::state::*;

impl State {
    pub(super) fn workspace_api(&mut self, op: &str, req: &Request) -> Response {
        let body = req.json();
        match op {
            "mkdirs" => {
                let path = body["path"]
                    .as_str()
                    .unwrap_or("")
                    .trim_end_matches('/')
                    .to_string();
                let mut all = ancestors(&path);
                all.reverse();
                all.push(path.clone());
                for dir in all {
                    match self.workspace.get(&dir) {
                        Some((t, _)) if t != "DIRECTORY" => {
                            return Response::error(
                                400,
                                "RESOURCE_ALREADY_EXISTS",
                                &format!("{dir} exists and is not a directory"),
                            );
                        }
                        Some(_) => {}
                        None => {
                            if parent(&dir).as_deref() == Some("/Users") {
                                return Response::error(
                                    403,
                                    "DIRECTORY_PROTECTED",
                                    &format!("Cannot create {dir}"),
                                );
                            }
                            self.workspace.insert(dir, ("DIRECTORY".into(), Vec::new()));
                        }
                    }
                }
                Response::ok(json!({}))
            }
            "get-status" => {
                let path = req.query.get("path").cloned().unwrap_or_default();
                match self.workspace.get(path.trim_end_matches('/')) {
                    Some((t, _)) => {
                        Response::ok(json!({ "object_type": t, "path": path, "object_id": 1 }))
                    }
                    None => Response::error(
                        404,
                        "RESOURCE_DOES_NOT_EXIST",
                        &format!("Path ({path}) doesn't exist."),
                    ),
                }
            }
            "import" => {
                // JSON with base64 `content` (our client), or a multipart form with the raw
                // file in `content` (the SDK's `workspace.upload`).
                let ct = req.header("content-type").unwrap_or("");
                let (path, content, format, overwrite) = if ct.starts_with("multipart/form-data") {
                    let parts = multipart(ct, &req.body);
                    let text = |k: &str| {
                        parts
                            .get(k)
                            .map(|v| String::from_utf8_lossy(v).into_owned())
                            .unwrap_or_default()
                    };
                    (
                        text("path"),
                        parts.get("content").cloned().unwrap_or_default(),
                        text("format"),
                        text("overwrite").eq_ignore_ascii_case("true"),
                    )
                } else {
                    (
                        body["path"].as_str().unwrap_or("").to_string(),
                        B64.decode(body["content"].as_str().unwrap_or(""))
                            .unwrap_or_default(),
                        body["format"].as_str().unwrap_or("").to_string(),
                        body["overwrite"].as_bool().unwrap_or(false),
                    )
                };
                if content.len() > 10 * 1024 * 1024 {
                    return Response::error(400, "MAX_NOTEBOOK_SIZE_EXCEEDED", "too large");
                }
                // RAW and AUTO of a plain file make a workspace file; SOURCE makes a notebook.
                let kind = if matches!(format.as_str(), "RAW" | "AUTO") {
                    "FILE"
                } else {
                    "NOTEBOOK"
                };
                if self.workspace.contains_key(&path) && !overwrite {
                    return Response::error(
                        400,
                        "RESOURCE_ALREADY_EXISTS",
                        &format!("{path} already exists"),
                    );
                }
                match parent(&path) {
                    Some(dir)
                        if self
                            .workspace
                            .get(&dir)
                            .is_some_and(|(t, _)| t == "DIRECTORY") => {}
                    _ => {
                        return Response::error(
                            404,
                            "RESOURCE_DOES_NOT_EXIST",
                            &format!("The parent folder of {path} does not exist."),
                        );
                    }
                }
                self.workspace.insert(path, (kind.into(), content));
                Response::ok(json!({}))
            }
            "delete" => {
                let path = body["path"].as_str().unwrap_or("").to_string();
                let prefix = format!("{path}/");
                self.workspace
                    .retain(|k, _| *k != path && !k.starts_with(&prefix));
                Response::ok(json!({}))
            }
            _ => Response::error(404, "ENDPOINT_NOT_FOUND", op),
        }
    }
}
