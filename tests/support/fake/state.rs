//! The fake workspace's state and its REST handlers, following `shared/databricks-api.md`:
//! DBFS, the Files API (volumes), Workspace, MLflow tracking, Jobs runs, SCIM `Me`, and the
//! OAuth token endpoint.

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use base64::Engine;
use serde_json::{Value, json};

use super::executor::{Execution, Executor};
use super::http::{Request, Response, multipart};

const B64: base64::engine::GeneralPurpose = base64::engine::general_purpose::STANDARD;
const MAX_BLOCK: usize = 1024 * 1024;

fn now_ms() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as i64)
}

#[derive(Clone, Debug)]
pub struct File {
    pub data: Vec<u8>,
    pub modified_ms: i64,
}

/// How a submitted job run ends.
#[derive(Clone, Debug)]
pub struct JobBehaviour {
    /// Time in PENDING, then in RUNNING.
    pub pending: Duration,
    pub running: Duration,
    /// `SUCCESS`, `FAILED`, ...
    pub result: String,
    pub error: String,
    pub error_trace: String,
    pub logs: String,
}

impl Default for JobBehaviour {
    fn default() -> Self {
        JobBehaviour {
            pending: Duration::from_millis(300),
            running: Duration::from_millis(700),
            result: "SUCCESS".into(),
            error: String::new(),
            error_trace: String::new(),
            logs: "training...\ndone\n".into(),
        }
    }
}

#[derive(Clone, Debug)]
pub struct JobRun {
    pub run_id: u64,
    pub task_run_id: u64,
    pub task_key: String,
    pub submitted: Instant,
    pub start_ms: i64,
    pub body: Value,
    pub behaviour: JobBehaviour,
    pub cancelled_at: Option<Instant>,
    /// The task run for real (see [`State::executor`]), or why it could not start.
    pub execution: Option<Result<Arc<Execution>, String>>,
}

#[derive(Default, Debug)]
pub struct State {
    pub token: String,
    pub client_id: String,
    pub client_secret: String,
    pub user: String,
    pub dbfs_dirs: BTreeSet<String>,
    pub dbfs_files: BTreeMap<String, File>,
    pub handles: HashMap<u64, (String, Vec<u8>)>,
    pub volumes: BTreeSet<String>,
    pub volume_dirs: BTreeSet<String>,
    pub volume_files: BTreeMap<String, File>,
    pub workspace: BTreeMap<String, (String, Vec<u8>)>,
    pub experiments: BTreeMap<String, Value>,
    pub runs: BTreeMap<String, Value>,
    pub jobs: BTreeMap<u64, JobRun>,
    pub idempotency: HashMap<String, u64>,
    pub next_id: u64,
    pub job_behaviour: JobBehaviour,
    /// When set, submitted `spark_python_task`s run for real (see `executor.rs`) instead of
    /// following `job_behaviour`.
    pub executor: Option<Executor>,
    pub oauth_tokens_issued: u64,
    /// The next experiments/create loses a race: another client creates the experiment
    /// first, and this one gets RESOURCE_ALREADY_EXISTS.
    pub lose_next_experiment_race: bool,
}

/// MLflow's answer for an unknown run id.
fn no_run(id: &str) -> Response {
    Response::error(
        404,
        "RESOURCE_DOES_NOT_EXIST",
        &format!("Run '{id}' not found."),
    )
}

fn norm_dbfs(path: &str) -> String {
    let p = path.strip_prefix("dbfs:").unwrap_or(path);
    let p = format!("/{}", p.trim_matches('/'));
    if p == "/" {
        p
    } else {
        p.trim_end_matches('/').to_string()
    }
}

fn parent(path: &str) -> Option<String> {
    let (dir, _) = path.rsplit_once('/')?;
    Some(if dir.is_empty() {
        "/".into()
    } else {
        dir.into()
    })
}

fn ancestors(path: &str) -> Vec<String> {
    let mut out = Vec::new();
    let mut p = parent(path);
    while let Some(dir) = p {
        out.push(dir.clone());
        if dir == "/" {
            break;
        }
        p = parent(&dir);
    }
    out
}

impl State {
    pub fn new(token: &str) -> State {
        let mut s = State {
            token: token.into(),
            client_id: "fake-client".into(),
            client_secret: "fake-secret".into(),
            user: "ada@example.com".into(),
            next_id: 1000,
            ..State::default()
        };
        s.dbfs_dirs.insert("/".into());
        for dir in ["/", "/Users", "/Shared", "/Users/ada@example.com"] {
            s.workspace
                .insert(dir.into(), ("DIRECTORY".into(), Vec::new()));
        }
        s.volumes.insert("/Volumes/main/mlops/artifacts".into());
        s
    }

    fn id(&mut self) -> u64 {
        self.next_id += 1;
        self.next_id
    }

    pub fn handle(&mut self, req: &Request) -> Response {
        let p = req.path.as_str();
        let m = req.method.as_str();
        if p == "/oidc/v1/token" {
            return self.oauth(req);
        }
        if p.starts_with("/.well-known/") || p.starts_with("/oidc/.well-known/") {
            // Host metadata the SDKs probe for; this workspace publishes none.
            return Response::error(404, "NOT_FOUND", "Not Found");
        }
        let bearer = req
            .header("authorization")
            .and_then(|h| h.strip_prefix("Bearer "))
            .unwrap_or("");
        if bearer.is_empty() {
            return Response::error(
                401,
                "401",
                "Credential was not sent or was of an unsupported type for this API.",
            );
        }
        if bearer != self.token {
            return Response::error(403, "403", "Invalid access token.");
        }
        if let Some(rest) = p.strip_prefix("/api/2.0/dbfs/") {
            return self.dbfs(m, rest, req);
        }
        if let Some(rest) = p.strip_prefix("/api/2.0/fs/files") {
            return self.files(m, rest, req);
        }
        if let Some(rest) = p.strip_prefix("/api/2.0/fs/directories") {
            return self.directories(m, rest, req);
        }
        if let Some(rest) = p.strip_prefix("/api/2.0/workspace/") {
            return self.workspace_api(rest, req);
        }
        if let Some(rest) = p.strip_prefix("/api/2.0/mlflow/") {
            return self.mlflow(rest, req);
        }
        for prefix in ["/api/2.1/jobs/", "/api/2.2/jobs/", "/api/2.0/jobs/"] {
            if let Some(rest) = p.strip_prefix(prefix) {
                return self.jobs(rest, req);
            }
        }
        if p == "/api/2.0/preview/scim/v2/Me" {
            return Response::ok(json!({
                "id": "1234", "userName": self.user, "displayName": "Ada Lovelace", "active": true,
            }));
        }
        Response::error(
            404,
            "ENDPOINT_NOT_FOUND",
            &format!("No API found for '{m} {p}'"),
        )
    }

    fn oauth(&mut self, req: &Request) -> Response {
        let basic = req
            .header("authorization")
            .and_then(|h| h.strip_prefix("Basic "))
            .and_then(|b| B64.decode(b).ok())
            .map(|b| String::from_utf8_lossy(&b).into_owned());
        let form = super::http::parse_query(&String::from_utf8_lossy(&req.body));
        let (id, secret) = match basic.as_deref().and_then(|b| b.split_once(':')) {
            Some((i, s)) => (i.to_string(), s.to_string()),
            None => (
                form.get("client_id").cloned().unwrap_or_default(),
                form.get("client_secret").cloned().unwrap_or_default(),
            ),
        };
        if id != self.client_id || secret != self.client_secret {
            return Response::json(
                401,
                json!({ "error": "invalid_client", "error_description": "Client authentication failed" }),
            );
        }
        self.oauth_tokens_issued += 1;
        Response::ok(
            json!({ "access_token": self.token, "token_type": "Bearer", "expires_in": "3600" }),
        )
    }

    // ---- DBFS -------------------------------------------------------------------------

    fn dbfs_info(&self, path: &str) -> Option<Value> {
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
    fn dbfs_parents(&mut self, path: &str) -> Result<(), Response> {
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

    fn dbfs_write(&mut self, path: &str, data: Vec<u8>, overwrite: bool) -> Response {
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

    fn dbfs(&mut self, m: &str, op: &str, req: &Request) -> Response {
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

    // ---- Files API (volumes) ----------------------------------------------------------

    fn volume_of(&self, path: &str) -> Option<String> {
        self.volumes
            .iter()
            .find(|v| path == v.as_str() || path.starts_with(&format!("{v}/")))
            .cloned()
    }

    fn files(&mut self, m: &str, path: &str, req: &Request) -> Response {
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

    fn directories(&mut self, m: &str, path: &str, req: &Request) -> Response {
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

    // ---- Workspace --------------------------------------------------------------------

    fn workspace_api(&mut self, op: &str, req: &Request) -> Response {
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

    // ---- MLflow -----------------------------------------------------------------------

    fn experiment_by_name(&self, name: &str) -> Option<&Value> {
        self.experiments.values().find(|e| e["name"] == name)
    }

    fn mlflow(&mut self, op: &str, req: &Request) -> Response {
        let body = req.json();
        match op {
            "experiments/get-by-name" => {
                let name = req
                    .query
                    .get("experiment_name")
                    .cloned()
                    .unwrap_or_default();
                match self.experiment_by_name(&name) {
                    Some(e) => Response::ok(json!({ "experiment": e })),
                    None => Response::error(
                        404,
                        "RESOURCE_DOES_NOT_EXIST",
                        &format!("Node named '{name}' does not exist."),
                    ),
                }
            }
            "experiments/get" => {
                let id = req.query.get("experiment_id").cloned().unwrap_or_default();
                match self.experiments.get(&id) {
                    Some(e) => Response::ok(json!({ "experiment": e })),
                    None => Response::error(
                        404,
                        "RESOURCE_DOES_NOT_EXIST",
                        &format!("Experiment '{id}' does not exist."),
                    ),
                }
            }
            "experiments/create" => {
                let name = body["name"].as_str().unwrap_or("").to_string();
                if !name.starts_with('/') {
                    return Response::error(
                        400,
                        "INVALID_PARAMETER_VALUE",
                        &format!(
                            "Got an invalid experiment name '{name}'. An experiment name must be an absolute path within the Databricks workspace, e.g. '/Users/<some-username>/my-experiment'."
                        ),
                    );
                }
                if std::mem::take(&mut self.lose_next_experiment_race) {
                    let id = self.id().to_string();
                    self.experiments.insert(
                        id.clone(),
                        json!({
                            "experiment_id": id, "name": name, "lifecycle_stage": "active",
                        }),
                    );
                }
                if self.experiment_by_name(&name).is_some() {
                    return Response::error(
                        400,
                        "RESOURCE_ALREADY_EXISTS",
                        &format!("Node named '{name}' already exists"),
                    );
                }
                let dir = parent(&name).unwrap_or_default();
                if self
                    .workspace
                    .get(&dir)
                    .is_none_or(|(t, _)| t != "DIRECTORY")
                {
                    return Response::error(
                        404,
                        "RESOURCE_DOES_NOT_EXIST",
                        &format!("Parent directory {dir} does not exist."),
                    );
                }
                let id = self.id().to_string();
                self.workspace
                    .insert(name.clone(), ("MLFLOW_EXPERIMENT".into(), Vec::new()));
                self.experiments.insert(id.clone(), json!({
                    "experiment_id": id, "name": name, "artifact_location": format!("dbfs:/databricks/mlflow-tracking/{id}"),
                    "lifecycle_stage": "active", "tags": body["tags"].clone(),
                }));
                Response::ok(json!({ "experiment_id": id }))
            }
            "runs/create" => {
                let exp = body["experiment_id"].as_str().unwrap_or("").to_string();
                if !self.experiments.contains_key(&exp) {
                    return Response::error(
                        404,
                        "RESOURCE_DOES_NOT_EXIST",
                        &format!("Experiment '{exp}' does not exist."),
                    );
                }
                let id = format!("{:032x}", self.id() as u128 * 7_919);
                let tags = body["tags"].clone();
                let run = json!({
                    "info": {
                        "run_id": id, "run_uuid": id, "experiment_id": exp, "run_name": body["run_name"].clone(),
                        "status": "RUNNING", "start_time": body["start_time"].clone(), "lifecycle_stage": "active",
                        "artifact_uri": format!("dbfs:/databricks/mlflow-tracking/{exp}/{id}/artifacts"),
                        "user_id": self.user,
                    },
                    "data": { "tags": if tags.is_null() { json!([]) } else { tags }, "params": [], "metrics": [] },
                });
                self.runs.insert(id, run.clone());
                Response::ok(json!({ "run": run }))
            }
            "runs/get" => {
                let id = req.query.get("run_id").cloned().unwrap_or_default();
                match self.runs.get(&id) {
                    Some(r) => Response::ok(json!({ "run": r })),
                    None => no_run(&id),
                }
            }
            "runs/search" => {
                let experiments: Vec<String> = body["experiment_ids"]
                    .as_array()
                    .into_iter()
                    .flatten()
                    .filter_map(|e| e.as_str().map(str::to_string))
                    .collect();
                let filter = match RunFilter::parse(body["filter"].as_str().unwrap_or("")) {
                    Ok(f) => f,
                    Err(e) => return Response::error(400, "INVALID_PARAMETER_VALUE", &e),
                };
                let mut found: Vec<&Value> = self
                    .runs
                    .values()
                    .filter(|r| {
                        r["info"]["experiment_id"]
                            .as_str()
                            .is_some_and(|e| experiments.iter().any(|x| x == e))
                    })
                    .filter(|r| filter.matches(r))
                    .collect();
                // Newest first, as MLflow orders by default (start_time DESC).
                found.sort_by_key(|r| {
                    std::cmp::Reverse(r["info"]["start_time"].as_i64().unwrap_or(0))
                });
                let max = body["max_results"].as_u64().unwrap_or(1000) as usize;
                let start: usize = body["page_token"]
                    .as_str()
                    .and_then(|t| t.parse().ok())
                    .unwrap_or(0);
                let page: Vec<Value> = found
                    .iter()
                    .skip(start)
                    .take(max)
                    .map(|r| (*r).clone())
                    .collect();
                let mut out = json!({ "runs": page });
                if start + max < found.len() {
                    out["next_page_token"] = json!((start + max).to_string());
                }
                if page_is_empty(&out) {
                    // MLflow omits empty lists.
                    out = json!({});
                }
                Response::ok(out)
            }
            "runs/update" => {
                let id = body["run_id"].as_str().unwrap_or("").to_string();
                match self.runs.get_mut(&id) {
                    Some(r) => {
                        if let Some(s) = body["status"].as_str() {
                            r["info"]["status"] = json!(s);
                        }
                        if !body["end_time"].is_null() {
                            r["info"]["end_time"] = body["end_time"].clone();
                        }
                        Response::ok(json!({ "run_info": r["info"].clone() }))
                    }
                    None => no_run(&id),
                }
            }
            "runs/set-tag" => {
                let id = body["run_id"].as_str().unwrap_or("").to_string();
                match self.runs.get_mut(&id) {
                    Some(r) => {
                        let tags = r["data"]["tags"].as_array_mut().unwrap();
                        tags.retain(|t| t["key"] != body["key"]);
                        tags.push(json!({ "key": body["key"], "value": body["value"] }));
                        Response::ok(json!({}))
                    }
                    None => no_run(&id),
                }
            }
            "runs/log-metric" | "runs/log-parameter" => {
                // The one-item forms of log-batch (`mlflow.log_metric`, `mlflow.log_param`).
                let kind = if op == "runs/log-metric" {
                    "metrics"
                } else {
                    "params"
                };
                let mut item = json!({ "key": body["key"], "value": body["value"] });
                if kind == "metrics" {
                    item["timestamp"] = body["timestamp"].clone();
                    item["step"] = body["step"].clone();
                }
                let batch = json!({ "run_id": body["run_id"], kind: [item] });
                let req = Request {
                    body: serde_json::to_vec(&batch).unwrap(),
                    ..req.clone()
                };
                self.mlflow("runs/log-batch", &req)
            }
            "runs/log-batch" => {
                let id = body["run_id"].as_str().unwrap_or("").to_string();
                match self.runs.get_mut(&id) {
                    Some(r) => {
                        for kind in ["params", "tags", "metrics"] {
                            if let Some(items) = body[kind].as_array() {
                                let list = r["data"][kind].as_array_mut().unwrap();
                                for item in items {
                                    if kind == "params" {
                                        if let Some(old) =
                                            list.iter().find(|p| p["key"] == item["key"])
                                        {
                                            if old["value"] != item["value"] {
                                                return Response::error(
                                                    400,
                                                    "INVALID_PARAMETER_VALUE",
                                                    &format!(
                                                        "Changing param values is not allowed. Param with key='{}' was already logged",
                                                        item["key"]
                                                    ),
                                                );
                                            }
                                            continue;
                                        }
                                    }
                                    if kind == "tags" {
                                        list.retain(|t| t["key"] != item["key"]);
                                    }
                                    list.push(item.clone());
                                }
                            }
                        }
                        Response::ok(json!({}))
                    }
                    None => no_run(&id),
                }
            }
            _ => Response::error(404, "ENDPOINT_NOT_FOUND", op),
        }
    }

    // ---- Jobs -------------------------------------------------------------------------

    /// A file the workspace holds, by any path form a job names it with.
    fn stored(&self, path: &str) -> Option<Vec<u8>> {
        if let Some(rest) = path
            .strip_prefix("dbfs:")
            .or_else(|| path.strip_prefix("/dbfs"))
        {
            return self
                .dbfs_files
                .get(&norm_dbfs(rest))
                .map(|f| f.data.clone());
        }
        if path.starts_with("/Volumes/") {
            return self.volume_files.get(path).map(|f| f.data.clone());
        }
        let ws = path.strip_prefix("/Workspace").unwrap_or(path);
        self.workspace
            .get(ws)
            .filter(|(t, _)| t == "FILE")
            .map(|(_, b)| b.clone())
    }

    fn job_state(&self, run: &JobRun) -> (String, Option<String>, String) {
        let elapsed = run.submitted.elapsed();
        let b = &run.behaviour;
        if let Some(Ok(exec)) = &run.execution {
            if run.cancelled_at.is_some() {
                exec.kill();
            }
        }
        if let Some(at) = run.cancelled_at {
            if at.elapsed() < Duration::from_millis(200) {
                return (
                    "TERMINATING".into(),
                    None,
                    "Run cancellation requested".into(),
                );
            }
            return (
                "TERMINATED".into(),
                Some("CANCELED".into()),
                "Run cancelled.".into(),
            );
        }
        match &run.execution {
            Some(Err(why)) => {
                return ("TERMINATED".into(), Some("FAILED".into()), why.clone());
            }
            Some(Ok(exec)) => {
                return match exec.poll() {
                    None => ("RUNNING".into(), None, "In run".into()),
                    Some(Some(0)) => ("TERMINATED".into(), Some("SUCCESS".into()), String::new()),
                    Some(_) => ("TERMINATED".into(), Some("FAILED".into()), exec.error().0),
                };
            }
            None => {}
        }
        if elapsed < b.pending {
            ("PENDING".into(), None, "Waiting for cluster".into())
        } else if elapsed < b.pending + b.running {
            ("RUNNING".into(), None, "In run".into())
        } else if b.result == "SUCCESS" {
            ("TERMINATED".into(), Some("SUCCESS".into()), String::new())
        } else {
            ("TERMINATED".into(), Some(b.result.clone()), b.error.clone())
        }
    }

    fn job_json(&self, run: &JobRun) -> Value {
        let (life, result, message) = self.job_state(run);
        let mut state = json!({ "life_cycle_state": life, "state_message": message });
        let mut task_state = state.clone();
        if let Some(r) = &result {
            state["result_state"] = json!(r);
            task_state["result_state"] = json!(r);
            if r != "SUCCESS" && r != "CANCELED" {
                // The parent of a failed task ends as INTERNAL_ERROR with the task's message.
                state["life_cycle_state"] = json!("INTERNAL_ERROR");
                state["state_message"] = json!(format!(
                    "Task {} failed with message: {}",
                    run.task_key, message
                ));
            }
        }
        let url = format!(
            "https://fake.cloud.databricks.com/?o=1#job/1/run/{}",
            run.run_id
        );
        let task = &run.body["tasks"][0];
        json!({
            "run_id": run.run_id,
            "run_name": run.body["run_name"],
            "run_page_url": url,
            "start_time": run.start_ms,
            "state": state,
            "tasks": [{
                "run_id": run.task_run_id,
                "task_key": run.task_key,
                "state": task_state,
                "run_page_url": format!("{url}/task/{}", run.task_run_id),
                "spark_python_task": task["spark_python_task"],
                "libraries": task["libraries"],
            }],
        })
    }

    fn jobs(&mut self, op: &str, req: &Request) -> Response {
        let body = req.json();
        match op {
            "runs/submit" => {
                // Jobs API 2.0 (which MLflow's own databricks backend still uses) takes the
                // one task's fields at the top level.
                let mut body = body;
                if body["tasks"].is_null() {
                    let mut task = serde_json::Map::new();
                    task.insert("task_key".into(), json!("run"));
                    for key in [
                        "new_cluster",
                        "existing_cluster_id",
                        "libraries",
                        "spark_python_task",
                        "python_wheel_task",
                        "notebook_task",
                        "spark_jar_task",
                        "shell_command_task",
                        "timeout_seconds",
                    ] {
                        if let Some(v) = body.as_object_mut().and_then(|o| o.remove(key)) {
                            task.insert(key.into(), v);
                        }
                    }
                    if task.len() > 1 {
                        body["tasks"] = json!([Value::Object(task)]);
                    }
                }
                let Some(tasks) = body["tasks"].as_array().filter(|t| !t.is_empty()) else {
                    return Response::error(
                        400,
                        "INVALID_PARAMETER_VALUE",
                        "At least one task is required.",
                    );
                };
                let task = &tasks[0];
                let Some(key) = task["task_key"].as_str() else {
                    return Response::error(
                        400,
                        "INVALID_PARAMETER_VALUE",
                        "Missing required field: task_key",
                    );
                };
                let kinds = [
                    "spark_python_task",
                    "python_wheel_task",
                    "notebook_task",
                    "spark_jar_task",
                    "shell_command_task",
                ];
                if kinds.iter().filter(|k| !task[**k].is_null()).count() != 1 {
                    return Response::error(
                        400,
                        "INVALID_PARAMETER_VALUE",
                        "A task must have exactly one task type.",
                    );
                }
                if let Err(e) = compute_of(&body, task) {
                    return e;
                }
                if let Some(token) = body["idempotency_token"].as_str() {
                    if token.len() > 64 {
                        return Response::error(
                            400,
                            "INVALID_PARAMETER_VALUE",
                            "idempotency_token is longer than 64 characters",
                        );
                    }
                    if let Some(id) = self.idempotency.get(token) {
                        return Response::ok(json!({ "run_id": id }));
                    }
                }
                let run_id = self.id();
                let task_run_id = self.id();
                if let Some(token) = body["idempotency_token"].as_str() {
                    self.idempotency.insert(token.into(), run_id);
                }
                let execution = self.executor.as_ref().map(|ex| {
                    let python_file = task["spark_python_task"]["python_file"]
                        .as_str()
                        .unwrap_or_default();
                    let parameters: Vec<String> = task["spark_python_task"]["parameters"]
                        .as_array()
                        .into_iter()
                        .flatten()
                        .filter_map(|p| p.as_str().map(str::to_string))
                        .collect();
                    let wheels = wheels_of(&body, task);
                    Execution::start(ex, python_file, &parameters, &wheels, &|p| self.stored(p))
                        .map(Arc::new)
                });
                self.jobs.insert(
                    run_id,
                    JobRun {
                        run_id,
                        task_run_id,
                        task_key: key.into(),
                        submitted: Instant::now(),
                        start_ms: now_ms(),
                        body: body.clone(),
                        behaviour: self.job_behaviour.clone(),
                        cancelled_at: None,
                        execution,
                    },
                );
                Response::ok(json!({ "run_id": run_id }))
            }
            "runs/get" => {
                let id: u64 = req
                    .query
                    .get("run_id")
                    .and_then(|v| v.parse().ok())
                    .unwrap_or(0);
                match self.jobs.get(&id) {
                    Some(run) => Response::ok(self.job_json(run)),
                    None => Response::error(
                        400,
                        "INVALID_PARAMETER_VALUE",
                        &format!("Run {id} does not exist."),
                    ),
                }
            }
            "runs/get-output" => {
                let id: u64 = req
                    .query
                    .get("run_id")
                    .and_then(|v| v.parse().ok())
                    .unwrap_or(0);
                if self.jobs.contains_key(&id) {
                    return Response::error(
                        400,
                        "INVALID_PARAMETER_VALUE",
                        "Retrieving the output of runs with multiple tasks is not supported. Please retrieve the output of each individual task run instead.",
                    );
                }
                match self.jobs.values().find(|r| r.task_run_id == id) {
                    Some(run) => {
                        let mut b = run.behaviour.clone();
                        match &run.execution {
                            Some(Ok(exec)) => {
                                b.logs = exec.log();
                                (b.error, b.error_trace) = exec.error();
                            }
                            Some(Err(why)) => {
                                b.logs = String::new();
                                b.error = why.clone();
                            }
                            None => {}
                        }
                        let mut out = json!({ "logs": b.logs, "logs_truncated": false, "metadata": self.job_json(run)["tasks"][0].clone() });
                        if self
                            .job_state(run)
                            .1
                            .as_deref()
                            .is_some_and(|r| r != "SUCCESS")
                            && !b.error.is_empty()
                        {
                            out["error"] = json!(b.error);
                            out["error_trace"] = json!(b.error_trace);
                        }
                        Response::ok(out)
                    }
                    None => Response::error(
                        400,
                        "INVALID_PARAMETER_VALUE",
                        &format!("Run {id} does not exist."),
                    ),
                }
            }
            "runs/cancel" => {
                let id = body["run_id"].as_u64().unwrap_or(0);
                let terminal = self.jobs.get(&id).map(|r| self.job_state(r).1.is_some());
                match (self.jobs.get_mut(&id), terminal) {
                    (Some(run), Some(false)) => {
                        run.cancelled_at.get_or_insert(Instant::now());
                        Response::ok(json!({}))
                    }
                    (Some(_), _) => Response::ok(json!({})),
                    (None, _) => Response::error(
                        400,
                        "INVALID_PARAMETER_VALUE",
                        &format!("Run {id} does not exist."),
                    ),
                }
            }
            _ => Response::error(404, "ENDPOINT_NOT_FOUND", op),
        }
    }
}

/// What a task runs on: a cluster (new or existing) or serverless compute, checked as the
/// Jobs service checks a submit
/// (https://docs.databricks.com/aws/en/jobs/run-serverless-jobs): a serverless Python task
/// names one of the run's `environments` and has no `libraries`; a cluster task has no
/// `environment_key`; serverless compute reads no DBFS.
fn compute_of(body: &Value, task: &Value) -> Result<(), Response> {
    let bad = |m: &str| Err(Response::error(400, "INVALID_PARAMETER_VALUE", m));
    let new = !task["new_cluster"].is_null();
    let existing = !task["existing_cluster_id"].is_null();
    if new && existing {
        return bad("A task can have only one of new_cluster and existing_cluster_id.");
    }
    let python_task = !task["spark_python_task"].is_null() || !task["python_wheel_task"].is_null();
    if new || existing {
        if !task["environment_key"].is_null() {
            return bad(
                "The environment_key field is only supported for tasks that run on serverless compute.",
            );
        }
        return Ok(());
    }
    if !task["libraries"].is_null() {
        return bad(
            "Libraries field is not supported for serverless task, please specify libraries in environment.",
        );
    }
    let Some(key) = task["environment_key"].as_str() else {
        if python_task {
            return bad(
                "A task environment can not be found, please add an environment in the job definition.",
            );
        }
        return Ok(());
    };
    let environment = body["environments"]
        .as_array()
        .into_iter()
        .flatten()
        .find(|e| e["environment_key"] == key);
    let Some(environment) = environment else {
        return bad(&format!(
            "The environment {key} referenced by task {} is not defined in the job's environments.",
            task["task_key"]
        ));
    };
    let spec = &environment["spec"];
    if spec["environment_version"].is_null()
        && spec["client"].is_null()
        && spec["base_environment"].is_null()
    {
        return bad("An environment spec needs environment_version (or base_environment).");
    }
    let is_dbfs = |p: &str| p.starts_with("dbfs:") || p.starts_with("/dbfs/");
    for dep in spec["dependencies"].as_array().into_iter().flatten() {
        if dep
            .as_str()
            .is_some_and(|d| d.split_whitespace().any(is_dbfs))
        {
            return bad(&format!(
                "DBFS paths are not supported in serverless dependencies: {dep}. Use a workspace file or a Unity Catalog volume."
            ));
        }
    }
    if task["spark_python_task"]["python_file"]
        .as_str()
        .is_some_and(is_dbfs)
    {
        return bad(
            "DBFS is not supported on serverless compute: the python_file must be a workspace file or in a Unity Catalog volume.",
        );
    }
    Ok(())
}

/// The wheel files a task installs: its `whl` libraries (and `pypi` packages that are wheel
/// paths) on a cluster, its environment's wheel dependencies on serverless.
fn wheels_of(body: &Value, task: &Value) -> Vec<String> {
    let mut out = Vec::new();
    for lib in task["libraries"].as_array().into_iter().flatten() {
        if let Some(w) = lib["whl"].as_str().or(lib["pypi"]["package"].as_str()) {
            if w.ends_with(".whl") {
                out.push(w.to_string());
            }
        }
    }
    if let Some(key) = task["environment_key"].as_str() {
        for env in body["environments"].as_array().into_iter().flatten() {
            if env["environment_key"] == key {
                for dep in env["spec"]["dependencies"].as_array().into_iter().flatten() {
                    if let Some(d) = dep.as_str().filter(|d| d.ends_with(".whl")) {
                        out.push(d.to_string());
                    }
                }
            }
        }
    }
    out
}

fn page_is_empty(v: &Value) -> bool {
    v["runs"].as_array().is_some_and(|r| r.is_empty()) && v.get("next_page_token").is_none()
}

/// The subset of MLflow's search filter grammar the tool sends: `tags.X`, `params.X`,
/// `metrics.X` and `attributes.status`/`attributes.run_name` compared with `=`, `!=` (and
/// `>`, `<`, `>=`, `<=` for metrics), joined by `AND`; keys may be in backticks, values are
/// quoted strings or numbers.
pub struct RunFilter(Vec<(String, String, String, String)>);

impl RunFilter {
    pub fn parse(text: &str) -> Result<RunFilter, String> {
        let mut out = Vec::new();
        if text.trim().is_empty() {
            return Ok(RunFilter(out));
        }
        for clause in split_and(text) {
            let clause = clause.trim();
            let ops = ["!=", ">=", "<=", "=", ">", "<"];
            let (at, op) = ops
                .iter()
                .filter_map(|op| clause.find(op).map(|i| (i, *op)))
                .min_by_key(|(i, op)| (*i, std::cmp::Reverse(op.len())))
                .ok_or_else(|| format!("Invalid clause '{clause}'"))?;
            let (lhs, rhs) = (clause[..at].trim(), clause[at + op.len()..].trim());
            let (kind, key) = lhs
                .split_once('.')
                .ok_or_else(|| format!("Invalid identifier '{lhs}'"))?;
            let key = key.trim_matches('`').to_string();
            let value = rhs
                .strip_prefix('\'')
                .and_then(|v| v.strip_suffix('\''))
                .or_else(|| rhs.strip_prefix('"').and_then(|v| v.strip_suffix('"')))
                .unwrap_or(rhs)
                .replace("\\'", "'");
            let kind = match kind {
                "tags" | "tag" => "tags",
                "params" | "param" => "params",
                "metrics" | "metric" => "metrics",
                "attributes" | "attribute" | "attr" | "run" => "attributes",
                other => return Err(format!("Invalid entity type '{other}'")),
            };
            out.push((kind.to_string(), key, op.to_string(), value));
        }
        Ok(RunFilter(out))
    }

    pub fn matches(&self, run: &Value) -> bool {
        self.0.iter().all(|(kind, key, op, value)| {
            let got: Option<String> =
                if kind == "attributes" {
                    run["info"][key.as_str()].as_str().map(str::to_string)
                } else {
                    run["data"][kind.as_str()].as_array().and_then(|items| {
                        items.iter().rev().find(|i| i["key"] == key.as_str()).map(
                            |i| match &i["value"] {
                                Value::String(s) => s.clone(),
                                other => other.to_string(),
                            },
                        )
                    })
                };
            let Some(got) = got else { return op == "!=" };
            let num = |s: &str| s.parse::<f64>().ok();
            match op.as_str() {
                "=" => got == *value || num(&got).zip(num(value)).is_some_and(|(a, b)| a == b),
                "!=" => got != *value,
                _ => match (num(&got), num(value)) {
                    (Some(a), Some(b)) => match op.as_str() {
                        ">" => a > b,
                        "<" => a < b,
                        ">=" => a >= b,
                        _ => a <= b,
                    },
                    _ => false,
                },
            }
        })
    }
}

/// Splits a filter on ` AND ` outside quotes.
fn split_and(text: &str) -> Vec<String> {
    let mut out = vec![String::new()];
    let mut quote = None;
    let chars: Vec<char> = text.chars().collect();
    let mut i = 0;
    while i < chars.len() {
        let c = chars[i];
        match quote {
            Some(q) if c == q => quote = None,
            Some(_) => {}
            None if c == '\'' || c == '"' || c == '`' => quote = Some(c),
            None => {
                let rest: String = chars[i..].iter().take(5).collect();
                if rest.eq_ignore_ascii_case(" and ") {
                    out.push(String::new());
                    i += 5;
                    continue;
                }
            }
        }
        out.last_mut().unwrap().push(c);
        i += 1;
    }
    out
}
