//! The fake workspace's state, and the routing of each request to its service's handler
//! (one file per service, mirroring `src/databricks/`: `dbfs.rs`, `files.rs`, `workspace.rs`,
//! `mlflow.rs`, `jobs.rs`, `auth.rs`), following `shared/databricks-api.md`; MLflow's own
//! endpoints are answered by a real `mlflow server` behind the fake (`mlflow.rs`).

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use serde_json::{Value, json};

use super::executor::{Execution, Executor};
use super::http::{Request, Response};

pub(super) const B64: base64::engine::GeneralPurpose = base64::engine::general_purpose::STANDARD;
pub(super) const MAX_BLOCK: usize = 1024 * 1024;

pub(super) fn now_ms() -> i64 {
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
    /// A job's tasks after the one running, started in order once it succeeds (run-now of a
    /// multi-task job with an executor; see `job_defs.rs`).
    pub pending_tasks: Vec<Value>,
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
    /// Volumes the token's identity may not write to: a Files API write there answers 403
    /// `PERMISSION_DENIED`, as Unity Catalog does without WRITE VOLUME.
    pub read_only_volumes: BTreeSet<String>,
    /// Existing clusters, by id: what `clusters/get` answers (`spark_version`, `spark_conf`).
    pub clusters: BTreeMap<String, Value>,
    pub volume_dirs: BTreeSet<String>,
    pub volume_files: BTreeMap<String, File>,
    /// Multipart upload sessions of the Files API, by session token (`files.rs`).
    pub uploads: BTreeMap<String, super::files::Upload>,
    pub workspace: BTreeMap<String, (String, Vec<u8>)>,
    pub jobs: BTreeMap<u64, JobRun>,
    /// Persistent jobs by id (`job_defs.rs`).
    pub job_defs: BTreeMap<u64, super::job_defs::JobDef>,
    pub idempotency: HashMap<String, u64>,
    pub next_id: u64,
    pub job_behaviour: JobBehaviour,
    /// When set, submitted `spark_python_task`s run for real (see `executor.rs`) instead of
    /// following `job_behaviour`.
    pub executor: Option<Executor>,
    /// Executed tasks' writes through the `/dbfs` and `/Volumes` mounts fail (see
    /// `executor.rs`), as a mount the store refuses.
    pub refuse_mount_writes: bool,
    /// Unity Catalog answers an alias PUT as done and keeps nothing: the registry that
    /// databricks/cli#4012 describes, where a declared alias never arrives.
    pub drop_aliases: bool,
    /// Model serving endpoints by name (`serving.rs`), and how they behave.
    pub serving: BTreeMap<String, super::serving::Endpoint>,
    pub serving_behaviour: super::serving::ServingBehaviour,
    pub oauth_tokens_issued: u64,
    /// Federation policies of service principals (`auth.rs`).
    pub federation: Vec<super::auth::Federation>,
    /// `token_federation_default_oidc_audiences` of the host metadata (none: no metadata).
    pub advertised_audiences: Vec<String>,
    /// The next experiments/create loses a race: another client creates the experiment
    /// first, and this one gets RESOURCE_ALREADY_EXISTS.
    pub lose_next_experiment_race: bool,
    /// Unity Catalog models by full name (see `models.rs`).
    pub models: BTreeMap<String, super::models::Model>,
    /// This fake's workspace on the real MLflow server (see `mlflow.rs`), made on first use.
    pub mlflow_backend: Option<super::mlflow::MlflowBackend>,
}

pub(super) fn norm_dbfs(path: &str) -> String {
    let p = path.strip_prefix("dbfs:").unwrap_or(path);
    let p = format!("/{}", p.trim_matches('/'));
    if p == "/" {
        p
    } else {
        p.trim_end_matches('/').to_string()
    }
}

pub(super) fn parent(path: &str) -> Option<String> {
    let (dir, _) = path.rsplit_once('/')?;
    Some(if dir.is_empty() {
        "/".into()
    } else {
        dir.into()
    })
}

pub(super) fn ancestors(path: &str) -> Vec<String> {
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
        for id in ["0101-123456-abcd", "0101-abc"] {
            s.clusters.insert(
                id.into(),
                json!({ "cluster_id": id, "spark_version": "14.3.x-scala2.12", "state": "RUNNING", "spark_conf": {} }),
            );
        }
        s
    }

    pub(super) fn id(&mut self) -> u64 {
        self.next_id += 1;
        self.next_id
    }

    pub fn handle(&mut self, req: &Request) -> Response {
        let p = req.path.as_str();
        let m = req.method.as_str();
        if p == "/oidc/v1/token" {
            return self.oauth(req);
        }
        if p == "/.well-known/databricks-config" {
            return self.host_metadata();
        }
        if p.starts_with("/.well-known/") || p.starts_with("/oidc/.well-known/") {
            // Host metadata the SDKs probe for; this workspace publishes none.
            return Response::error(404, "NOT_FOUND", "Not Found");
        }
        // Presigned cloud storage URLs carry their own signature, never a workspace token.
        if let Some(rest) = p.strip_prefix("/_cloud/") {
            return self.cloud(m, rest, req);
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
        if let Some(rest) = p.strip_prefix("/api/2.0/fs/create-") {
            return self.upload_urls(rest, req);
        }
        if let Some(rest) = p.strip_prefix("/api/2.0/fs/files") {
            if m == "PUT" {
                if let Some(v) = self
                    .read_only_volumes
                    .iter()
                    .find(|v| rest.starts_with(v.as_str()))
                {
                    return Response::error(
                        403,
                        "PERMISSION_DENIED",
                        &format!(
                            "User does not have WRITE VOLUME on Volume '{}'.",
                            v.trim_start_matches("/Volumes/").replace('/', ".")
                        ),
                    );
                }
            }
            return self.files(m, rest, req);
        }
        if let Some(rest) = p.strip_prefix("/api/2.0/fs/directories") {
            return self.directories(m, rest, req);
        }
        if let Some(rest) = p.strip_prefix("/api/2.0/workspace/") {
            return self.workspace_api(rest, req);
        }
        if let Some(rest) = p
            .strip_prefix("/api/2.0/mlflow/")
            .or_else(|| p.strip_prefix("/api/2.0/preview/mlflow/"))
        {
            return self.mlflow(rest, req);
        }
        for prefix in ["/api/2.1/jobs/", "/api/2.2/jobs/", "/api/2.0/jobs/"] {
            if let Some(rest) = p.strip_prefix(prefix) {
                return self.jobs(rest, req);
            }
        }
        // Queries go to `/serving-endpoints/{name}/invocations`, outside /api (service/
        // serving.py ServingEndpointsAPI.query).
        if let Some(rest) = p.strip_prefix("/serving-endpoints/") {
            return self.serving_api(rest, req);
        }
        if p == "/api/2.0/serving-endpoints" {
            return self.serving_api("", req);
        }
        if let Some(rest) = p.strip_prefix("/api/2.0/serving-endpoints/") {
            return self.serving_api(rest, req);
        }
        if let Some(rest) = p.strip_prefix("/api/2.1/unity-catalog/models/") {
            return self.models_api(rest, req);
        }
        if p == "/api/2.1/clusters/get" || p == "/api/2.0/clusters/get" {
            let id = req.query.get("cluster_id").cloned().unwrap_or_default();
            // As the Clusters API answers an unknown id.
            return match self.clusters.get(&id) {
                Some(c) => Response::ok(c.clone()),
                None => Response::error(
                    400,
                    "INVALID_PARAMETER_VALUE",
                    &format!("Cluster {id} does not exist"),
                ),
            };
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
}
