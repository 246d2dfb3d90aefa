//! A fake Databricks workspace on loopback, for tests and for trying the tool by hand
//! (`cargo run --example fake_workspace`). It follows `shared/databricks-api.md`, keeps a log
//! of every request, and injects faults: 503s, 429s with `Retry-After`, connection resets
//! before a request is handled or after it was (the answer is lost), and latency.
#![allow(dead_code)]

pub mod auth;
mod bodies;
pub mod ci_tokens;
pub mod dbfs;
pub mod executor;
pub mod files;
pub mod http;
pub mod job_defs;
mod jobs;
pub mod marks;
pub mod mlflow;
pub mod mlflow_server;
pub mod models;
pub mod serving;
pub mod state;
pub mod workspace;

use std::io::BufReader;
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

/// The workspace id the fake answers with (`x-databricks-org-id`).
pub const WORKSPACE_ID: &str = "6051921418418893";

#[allow(unused_imports)]
pub use state::{JobBehaviour, State};

/// Which faults to inject, as probabilities per request (0.0 to 1.0), from a fixed seed so a
/// failing test fails the same way again.
#[derive(Clone, Debug, Default)]
pub struct Faults {
    pub seed: u64,
    pub unavailable: f64,
    pub too_many: f64,
    /// A bare gateway error: 502 or 504 with an HTML page and no error envelope, as the
    /// load balancers in front of a workspace answer now and then.
    pub gateway: f64,
    /// A 403 PERMISSION_DENIED, as MLflow on Databricks answers a read of another team's
    /// experiment.
    pub denied: f64,
    pub retry_after_secs: u64,
    pub reset_before: f64,
    pub reset_after: f64,
    pub latency: Duration,
    /// Only requests whose path contains this are faulted (all when empty).
    pub only: String,
    /// The answer to this request (counted from 0 since `set_faults`, among those `only`
    /// selects) is lost: the request is acted on and the connection reset.
    pub lose_answer_of: Option<u64>,
    /// How fast request bodies are read (a slow link, a link that stalls half-way).
    pub pace: http::Pace,
}

/// One logged request.
#[derive(Clone, Debug)]
pub struct Logged {
    pub method: String,
    pub path: String,
    pub query: std::collections::BTreeMap<String, String>,
    /// The status sent, or `None` when the connection was reset instead.
    pub status: Option<u16>,
    /// `unavailable`, `too_many`, `gateway`, `denied`, `reset_before`, `reset_after`, or empty.
    pub fault: &'static str,
    pub body_len: usize,
    /// The length of the answer's body.
    pub answer_len: usize,
    /// The JSON body, for small JSON requests.
    pub json: Option<serde_json::Value>,
    pub authorization: Option<String>,
    /// When the answer was sent (or the connection reset).
    pub at: std::time::Instant,
}

struct Shared {
    /// `METHOD path` of every request as it arrives (before latency and handling).
    arrivals: Mutex<Vec<String>>,
    state: Mutex<State>,
    faults: Mutex<(Faults, u64)>,
    /// Requests `only` selected since `set_faults`.
    counted: std::sync::atomic::AtomicU64,
    log: Mutex<Vec<Logged>>,
    stop: AtomicBool,
}

pub struct FakeWorkspace {
    addr: SocketAddr,
    shared: Arc<Shared>,
}

pub const TOKEN: &str = "dapi-fake-token-0123456789abcdef";

impl FakeWorkspace {
    /// Starts on a free loopback port.
    pub fn start() -> FakeWorkspace {
        Self::start_on("127.0.0.1:0")
    }

    pub fn start_on(addr: &str) -> FakeWorkspace {
        let listener = TcpListener::bind(addr).expect("bind the fake workspace");
        let addr = listener.local_addr().unwrap();
        let shared = Arc::new(Shared {
            arrivals: Mutex::new(Vec::new()),
            state: Mutex::new(State::new(TOKEN)),
            faults: Mutex::new((Faults::default(), 0)),
            counted: std::sync::atomic::AtomicU64::new(0),
            log: Mutex::new(Vec::new()),
            stop: AtomicBool::new(false),
        });
        let s = shared.clone();
        std::thread::spawn(move || {
            for stream in listener.incoming() {
                if s.stop.load(Ordering::SeqCst) {
                    break;
                }
                let Ok(stream) = stream else { continue };
                let s = s.clone();
                std::thread::spawn(move || serve(stream, &s));
            }
        });
        FakeWorkspace { addr, shared }
    }

    pub fn url(&self) -> String {
        format!("http://{}", self.addr)
    }

    pub fn port(&self) -> u16 {
        self.addr.port()
    }

    pub fn token(&self) -> &'static str {
        TOKEN
    }

    /// Runs every job submitted from now on for real, with `python` as the cluster's Python
    /// (see `executor.rs`).
    pub fn execute_jobs(&self, python: &std::path::Path) {
        let shared = Arc::downgrade(&self.shared);
        let executor = executor::Executor {
            python: python.to_path_buf(),
            base_url: self.url(),
            token: TOKEN.into(),
            sink: executor::Sink(Arc::new(move |path, bytes| {
                shared
                    .upgrade()
                    .is_some_and(|s| s.state.lock().unwrap().mounted_write(path, bytes))
            })),
        };
        self.with_state(|s| s.executor = Some(executor));
    }

    pub fn set_faults(&self, faults: Faults) {
        let mut f = self.shared.faults.lock().unwrap();
        *f = (faults, 0);
        self.shared.counted.store(0, Ordering::SeqCst);
    }

    /// Runs `f` on the state (to seed it or look at it).
    pub fn with_state<R>(&self, f: impl FnOnce(&mut State) -> R) -> R {
        f(&mut self.shared.state.lock().unwrap())
    }

    pub fn dbfs_file(&self, path: &str) -> Option<Vec<u8>> {
        self.with_state(|s| s.dbfs_files.get(path).map(|f| f.data.clone()))
    }

    pub fn dbfs_paths(&self) -> Vec<String> {
        self.with_state(|s| s.dbfs_files.keys().cloned().collect())
    }

    pub fn volume_file(&self, path: &str) -> Option<Vec<u8>> {
        self.with_state(|s| s.volume_files.get(path).map(|f| f.data.clone()))
    }

    pub fn volume_paths(&self) -> Vec<String> {
        self.with_state(|s| s.volume_files.keys().cloned().collect())
    }

    pub fn log(&self) -> Vec<Logged> {
        self.shared.log.lock().unwrap().clone()
    }

    pub fn clear_log(&self) {
        self.shared.log.lock().unwrap().clear();
    }

    /// Whether a request whose path contains `part` has arrived (it may still be handled).
    pub fn arrived(&self, part: &str) -> bool {
        self.shared
            .arrivals
            .lock()
            .unwrap()
            .iter()
            .any(|a| a.contains(part))
    }

    /// This workspace's MLflow, asked directly (not logged, never faulted): how tests look
    /// at what the real server holds.
    pub fn mlflow(&self) -> mlflow::MlflowBackend {
        self.with_state(|s| s.mlflow_backend())
            .expect("the MLflow server behind the fake")
    }

    /// The experiments this workspace's MLflow holds.
    pub fn mlflow_experiments(&self) -> Vec<serde_json::Value> {
        let answer = self.mlflow().json(
            "POST",
            "experiments/search",
            &[],
            serde_json::json!({ "max_results": 1000 }),
        );
        answer["experiments"]
            .as_array()
            .cloned()
            .unwrap_or_default()
    }

    /// One MLflow run, as `runs/get` answers it.
    pub fn mlflow_run(&self, run_id: &str) -> Option<serde_json::Value> {
        let backend = self.mlflow();
        let query = [("run_id".to_string(), run_id.to_string())].into();
        let (status, _, body) = backend.call("GET", "runs/get", &query, &[]).unwrap();
        (status == 200)
            .then(|| serde_json::from_slice::<serde_json::Value>(&body).unwrap()["run"].clone())
    }

    /// Every MLflow run of every experiment here, newest first.
    pub fn mlflow_runs(&self) -> Vec<serde_json::Value> {
        let ids: Vec<serde_json::Value> = self
            .mlflow_experiments()
            .iter()
            .map(|e| e["experiment_id"].clone())
            .collect();
        if ids.is_empty() {
            return Vec::new();
        }
        let answer = self.mlflow().json(
            "POST",
            "runs/search",
            &[],
            serde_json::json!({ "experiment_ids": ids, "max_results": 1000 }),
        );
        answer["runs"].as_array().cloned().unwrap_or_default()
    }

    /// Bytes of request bodies received (the payload sent to the workspace).
    pub fn bytes_received(&self) -> usize {
        self.log().iter().map(|l| l.body_len).sum()
    }
}

impl Drop for FakeWorkspace {
    fn drop(&mut self) {
        self.shared.stop.store(true, Ordering::SeqCst);
        // Wake the accept loop so it sees the flag.
        let _ = TcpStream::connect(self.addr);
        // The bodies the test sent, as the SDK would have sent them (not while a failing
        // test unwinds: its own failure says more).
        if !std::thread::panicking() {
            let problems = bodies::problems(&self.shared.log.lock().unwrap());
            assert!(
                problems.is_empty(),
                "request bodies the Databricks SDK would not send:\n{problems}"
            );
        }
    }
}

/// A small deterministic generator (splitmix64), so faults repeat from a seed.
fn roll(faults: &mut (Faults, u64)) -> f64 {
    faults.1 += 1;
    let mut z = faults
        .0
        .seed
        .wrapping_add(faults.1.wrapping_mul(0x9E37_79B9_7F4A_7C15));
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^= z >> 31;
    (z >> 11) as f64 / (1u64 << 53) as f64
}

fn serve(stream: TcpStream, shared: &Shared) {
    let _ = stream.set_read_timeout(Some(Duration::from_secs(120)));
    let _ = stream.set_nodelay(true);
    let mut reader = BufReader::new(match stream.try_clone() {
        Ok(s) => s,
        Err(_) => return,
    });
    let mut writer = stream;
    loop {
        let pace = || shared.faults.lock().unwrap().0.pace;
        let req = match http::read_request_paced(&mut reader, &pace) {
            Ok(Some(req)) => req,
            _ => return,
        };
        if let Some(op) = req.path.strip_prefix("/_fake/") {
            // Test controls (no auth): counters for benchmarks.
            let resp = match op {
                // `?contains=TEXT`: only the requests whose path holds TEXT.
                "stats" => {
                    let log = shared.log.lock().unwrap();
                    let part = req.query.get("contains").cloned().unwrap_or_default();
                    let picked: Vec<&Logged> =
                        log.iter().filter(|l| l.path.contains(&part)).collect();
                    http::Response::ok(serde_json::json!({
                        "requests": picked.len(),
                        "payload_bytes": picked.iter().map(|l| l.body_len).sum::<usize>(),
                        "answer_bytes": picked.iter().map(|l| l.answer_len).sum::<usize>(),
                    }))
                }
                "reset" => {
                    shared.log.lock().unwrap().clear();
                    http::Response::ok(serde_json::json!({}))
                }
                _ => http::Response::error(404, "NOT_FOUND", op),
            };
            if http::write_response(&mut writer, &req.method, &resp).is_err() {
                return;
            }
            continue;
        }
        shared
            .arrivals
            .lock()
            .unwrap()
            .push(format!("{} {}", req.method, req.path));
        let (fault, latency) = {
            let mut f = shared.faults.lock().unwrap();
            let applies = f.0.only.is_empty() || req.path.contains(&f.0.only);
            let latency = f.0.latency;
            let nth = if applies {
                Some(shared.counted.fetch_add(1, Ordering::SeqCst))
            } else {
                None
            };
            let pick = if applies && f.0.lose_answer_of.is_some() {
                if nth == f.0.lose_answer_of {
                    "reset_after"
                } else {
                    ""
                }
            } else if applies {
                let r = roll(&mut f);
                let c = &f.0;
                if r < c.reset_before {
                    "reset_before"
                } else if r < c.reset_before + c.unavailable {
                    "unavailable"
                } else if r < c.reset_before + c.unavailable + c.too_many {
                    "too_many"
                } else if r < c.reset_before + c.unavailable + c.too_many + c.reset_after {
                    "reset_after"
                } else if r < c.reset_before
                    + c.unavailable
                    + c.too_many
                    + c.reset_after
                    + c.gateway
                {
                    "gateway"
                } else if r < c.reset_before
                    + c.unavailable
                    + c.too_many
                    + c.reset_after
                    + c.gateway
                    + c.denied
                {
                    "denied"
                } else {
                    ""
                }
            } else {
                ""
            };
            (pick, latency)
        };
        if !latency.is_zero() {
            std::thread::sleep(latency);
        }
        let retry_after = shared.faults.lock().unwrap().0.retry_after_secs;
        let response = match fault {
            "reset_before" => None,
            "unavailable" => Some(http::Response::error(
                503,
                "TEMPORARILY_UNAVAILABLE",
                "The service is temporarily unavailable.",
            )),
            "gateway" => Some(
                http::Response::bytes(
                    if shared.counted.load(Ordering::SeqCst) % 2 == 0 {
                        502
                    } else {
                        504
                    },
                    b"<html><body><h1>502 Bad Gateway</h1></body></html>".to_vec(),
                )
                .with_content_type("text/html"),
            ),
            "denied" => Some(http::Response::error(
                403,
                "PERMISSION_DENIED",
                "User ada@example.com does not have permission to 'View' on this experiment.",
            )),
            "too_many" => Some(
                http::Response::error(429, "REQUEST_LIMIT_EXCEEDED", "Too many requests.")
                    .header("Retry-After", &retry_after.to_string()),
            ),
            _ => Some(shared.state.lock().unwrap().handle(&req)),
        };
        let json = (req.body.len() < 64 * 1024
            && req
                .header("content-type")
                .is_some_and(|c| c.contains("json")))
        .then(|| req.json());
        let logged = Logged {
            method: req.method.clone(),
            path: req.path.clone(),
            query: req.query.clone(),
            status: if fault == "reset_after" || fault == "reset_before" {
                None
            } else {
                response.as_ref().map(|r| r.status)
            },
            fault,
            body_len: req.body.len(),
            answer_len: response.as_ref().map_or(0, |r| r.body.len()),
            json,
            authorization: req.header("authorization").map(str::to_string),
            at: std::time::Instant::now(),
        };
        shared.log.lock().unwrap().push(logged);
        match (fault, response) {
            ("reset_before" | "reset_after", _) | (_, None) => {
                http::reset(writer);
                return;
            }
            (_, Some(resp)) => {
                if http::write_response(&mut writer, &req.method, &resp).is_err() {
                    return;
                }
            }
        }
    }
}
