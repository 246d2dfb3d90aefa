//! The one HTTP client for the workspace: rustls, timeouts, the error envelope parsed into
//! [`ApiError`]s that callers branch on by `error_code`, and retries of 429/503 and connection
//! failures with exponential backoff, jitter, `Retry-After` and a total time budget. A request
//! that is not idempotent is retried only when the failure proves it was never sent.

use std::io::Read;
use std::path::PathBuf;
use std::sync::Mutex;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use serde_json::Value;

use super::auth::{AZURE_DATABRICKS_RESOURCE, Config, Method};
use super::error::ApiError;
use super::secret::Secret;
use crate::process::Cmd;

/// Told the number of file bytes sent so far during an upload.
pub type Progress = std::sync::Arc<dyn Fn(u64) + Send + Sync>;

/// What a request sends.
pub enum Body {
    Empty,
    Json(Value),
    /// `application/x-www-form-urlencoded`.
    Form(String),
    /// A local file, streamed, optionally framed (multipart). Re-opened on every attempt.
    File {
        path: PathBuf,
        len: u64,
        prefix: Vec<u8>,
        suffix: Vec<u8>,
        content_type: String,
        /// Called with the number of file bytes sent so far.
        progress: Option<Progress>,
    },
    Bytes(Vec<u8>, String),
}

pub struct Request<'a> {
    pub method: reqwest::Method,
    pub path: &'a str,
    pub query: Vec<(&'a str, String)>,
    pub body: Body,
    /// Safe to send twice: retried on any transport failure, not only before sending.
    pub idempotent: bool,
}

impl<'a> Request<'a> {
    pub fn get(path: &'a str) -> Self {
        Request {
            method: reqwest::Method::GET,
            path,
            query: Vec::new(),
            body: Body::Empty,
            idempotent: true,
        }
    }

    pub fn post(path: &'a str, body: Value) -> Self {
        Request {
            method: reqwest::Method::POST,
            path,
            query: Vec::new(),
            body: Body::Json(body),
            idempotent: false,
        }
    }

    pub fn query(mut self, key: &'a str, value: impl Into<String>) -> Self {
        self.query.push((key, value.into()));
        self
    }

    pub fn idempotent(mut self, yes: bool) -> Self {
        self.idempotent = yes;
        self
    }
}

pub struct Response {
    pub status: u16,
    pub headers: reqwest::header::HeaderMap,
    pub body: Vec<u8>,
}

impl Response {
    pub fn content_type(&self) -> &str {
        self.headers
            .get("content-type")
            .and_then(|v| v.to_str().ok())
            .unwrap_or("")
    }

    pub fn json(&self) -> Value {
        if self.body.is_empty() {
            return Value::Object(Default::default());
        }
        serde_json::from_slice(&self.body).unwrap_or(Value::Null)
    }
}

/// How long and how often to retry.
#[derive(Clone, Debug)]
pub struct RetryPolicy {
    pub budget: Duration,
    pub first_backoff: Duration,
    pub max_backoff: Duration,
}

impl Default for RetryPolicy {
    fn default() -> Self {
        let ms = |var: &str, default: u64| {
            std::env::var(var)
                .ok()
                .and_then(|v| v.parse().ok())
                .unwrap_or(default)
        };
        RetryPolicy {
            // As the SDKs: five minutes in all.
            budget: Duration::from_secs(ms("MLOPS_RETRY_BUDGET_SECS", 300)),
            first_backoff: Duration::from_millis(ms("MLOPS_RETRY_FIRST_MS", 500)),
            max_backoff: Duration::from_secs(10),
        }
    }
}

/// Requests and payload bytes sent, for `--json` reports and benchmarks.
#[derive(Default, Debug)]
pub struct Stats {
    pub requests: AtomicU64,
    pub payload_bytes: AtomicU64,
}

pub struct Client {
    http: reqwest::blocking::Client,
    /// File uploads go through the async client, which takes a stream of 1 MiB pieces; the
    /// blocking client would push a reader through in 8 KiB pieces, which costs more than a
    /// fast network does.
    uploads: reqwest::Client,
    /// Made on the first upload, so commands that send no file start no threads.
    runtime: std::sync::OnceLock<tokio::runtime::Runtime>,
    pub host: String,
    pub source: String,
    method: Method,
    token: Mutex<Option<(Secret, Option<Instant>)>>,
    pub retry: RetryPolicy,
    pub stats: Stats,
    /// After Ctrl-C new requests are refused, except while cleaning up (cancelling the
    /// remote run, marking the MLflow run KILLED).
    cleaning_up: std::sync::atomic::AtomicBool,
}

const CONNECT_TIMEOUT: Duration = Duration::from_secs(30);
const REQUEST_TIMEOUT: Duration = Duration::from_secs(60);

impl Client {
    pub fn new(config: Config) -> Result<Client, ApiError> {
        let agent = format!(
            "cargo-mlops/{} os/{} auth/{}",
            env!("CARGO_PKG_VERSION"),
            std::env::consts::OS,
            config.method.name()
        );
        let http = reqwest::blocking::Client::builder()
            .user_agent(agent.clone())
            .connect_timeout(CONNECT_TIMEOUT)
            .timeout(None)
            .use_rustls_tls()
            .build()
            .map_err(|e| ApiError::network(&config.host, "client", &e.to_string()))?;
        let uploads = reqwest::Client::builder()
            .user_agent(agent)
            .connect_timeout(CONNECT_TIMEOUT)
            .use_rustls_tls()
            .build()
            .map_err(|e| ApiError::network(&config.host, "client", &e.to_string()))?;
        let token = match &config.method {
            Method::Pat(t) => Some((t.clone(), None)),
            _ => None,
        };
        Ok(Client {
            http,
            uploads,
            runtime: std::sync::OnceLock::new(),
            host: config.host,
            source: config.source,
            method: config.method,
            token: Mutex::new(token),
            retry: RetryPolicy::default(),
            stats: Stats::default(),
            cleaning_up: std::sync::atomic::AtomicBool::new(false),
        })
    }

    /// Lets requests through after Ctrl-C, for the clean-up that must still reach the
    /// workspace.
    pub fn clean_up_after_interrupt(&self) {
        self.cleaning_up.store(true, Ordering::SeqCst);
    }

    fn stopped(&self) -> bool {
        crate::interrupt::requested() && !self.cleaning_up.load(Ordering::SeqCst)
    }

    /// The bearer token, fetched (OAuth M2M, Azure CLI) when missing or about to expire.
    fn bearer(&self) -> Result<Secret, ApiError> {
        let mut cached = self.token.lock().unwrap_or_else(|p| p.into_inner());
        if let Some((token, expiry)) = cached.as_ref() {
            let fresh = expiry.is_none_or(|at| at > Instant::now() + Duration::from_secs(60));
            if fresh {
                return Ok(token.clone());
            }
        }
        let (token, lifetime) = match &self.method {
            Method::Pat(t) => (t.clone(), None),
            Method::OAuthM2M {
                client_id,
                client_secret,
            } => self.oauth_token(client_id, client_secret)?,
            Method::AzureCli => azure_cli_token(&self.host)?,
        };
        let expiry = lifetime.map(|l| Instant::now() + l);
        *cached = Some((token.clone(), expiry));
        Ok(token)
    }

    fn oauth_token(
        &self,
        id: &str,
        secret: &Secret,
    ) -> Result<(Secret, Option<Duration>), ApiError> {
        let url = format!("{}/oidc/v1/token", self.host);
        let resp = self
            .http
            .post(&url)
            .basic_auth(id, Some(secret.expose()))
            .header("Content-Type", "application/x-www-form-urlencoded")
            .body("grant_type=client_credentials&scope=all-apis")
            .timeout(REQUEST_TIMEOUT)
            .send()
            .map_err(|e| ApiError::network(&self.host, "/oidc/v1/token", &e.to_string()))?;
        let status = resp.status().as_u16();
        let body = resp.bytes().unwrap_or_default().to_vec();
        if !(200..300).contains(&status) {
            return Err(
                ApiError::from_response(&self.host, "/oidc/v1/token", status, &body, "")
                    .as_auth(format!("the client id/secret from {}", self.source)),
            );
        }
        let json: Value = serde_json::from_slice(&body).unwrap_or(Value::Null);
        let token = json["access_token"].as_str().ok_or_else(|| {
            ApiError::protocol(
                &self.host,
                "/oidc/v1/token",
                "no access_token in the answer",
            )
        })?;
        // `expires_in` is a number, or a string of one, depending on the identity provider.
        let secs = json["expires_in"]
            .as_u64()
            .or_else(|| json["expires_in"].as_str().and_then(|s| s.parse().ok()))
            .unwrap_or(3600);
        Ok((Secret::new(token), Some(Duration::from_secs(secs))))
    }

    /// Sends `req`, retrying what can safely be retried within the time budget.
    pub fn execute(&self, req: &Request<'_>) -> Result<Response, ApiError> {
        let started = Instant::now();
        let mut attempt: u32 = 0;
        loop {
            attempt += 1;
            if self.stopped() {
                return Err(ApiError::cancelled(&self.host, req.path));
            }
            let outcome = self.attempt(req);
            let wait = match &outcome {
                Ok(resp) if (200..300).contains(&resp.status) => return outcome,
                Ok(resp) if resp.status == 429 || resp.status == 503 => {
                    let retry_after = resp
                        .headers
                        .get("retry-after")
                        .and_then(|v| v.to_str().ok())
                        .and_then(|v| v.trim().parse::<u64>().ok())
                        .map(Duration::from_secs);
                    Some(retry_after.unwrap_or_default().max(self.backoff(attempt)))
                }
                Ok(_) => None,
                Err(e) if e.retryable(req.idempotent) => Some(self.backoff(attempt)),
                Err(_) => None,
            };
            let Some(wait) = wait.filter(|w| started.elapsed() + *w <= self.retry.budget) else {
                return match outcome {
                    Ok(resp) => Err(ApiError::from_response(
                        &self.host,
                        req.path,
                        resp.status,
                        &resp.body,
                        resp.content_type(),
                    )
                    .with_attempts(attempt)),
                    Err(e) => Err(e.with_attempts(attempt)),
                };
            };
            std::thread::sleep(wait);
        }
    }

    fn backoff(&self, attempt: u32) -> Duration {
        let exp = self
            .retry
            .first_backoff
            .saturating_mul(1u32 << attempt.saturating_sub(1).min(16));
        let base = exp.min(self.retry.max_backoff);
        base + jitter(self.retry.first_backoff)
    }

    fn attempt(&self, req: &Request<'_>) -> Result<Response, ApiError> {
        let token = self.bearer()?;
        let url = format!("{}{}", self.host, req.path);
        let mut builder = self
            .http
            .request(req.method.clone(), &url)
            .bearer_auth(token.expose());
        if !req.query.is_empty() {
            builder = builder.query(&req.query);
        }
        let timeout = REQUEST_TIMEOUT;
        let mut payload = 0u64;
        builder = match &req.body {
            Body::Empty => builder,
            Body::Json(v) => {
                let bytes = serde_json::to_vec(v).expect("JSON values serialize");
                payload = bytes.len() as u64;
                builder
                    .header("Content-Type", "application/json")
                    .body(bytes)
            }
            Body::Form(text) => {
                payload = text.len() as u64;
                builder
                    .header("Content-Type", "application/x-www-form-urlencoded")
                    .body(text.clone())
            }
            Body::Bytes(bytes, content_type) => {
                payload = bytes.len() as u64;
                builder
                    .header("Content-Type", content_type)
                    .body(bytes.clone())
            }
            Body::File {
                path,
                len,
                prefix,
                suffix,
                content_type,
                progress,
            } => {
                let total = prefix.len() as u64 + len + suffix.len() as u64;
                self.stats.requests.fetch_add(1, Ordering::Relaxed);
                self.stats.payload_bytes.fetch_add(total, Ordering::Relaxed);
                return self.upload(
                    req,
                    &token,
                    path,
                    *len,
                    prefix,
                    suffix,
                    content_type,
                    progress.clone(),
                );
            }
        };
        self.stats.requests.fetch_add(1, Ordering::Relaxed);
        self.stats
            .payload_bytes
            .fetch_add(payload, Ordering::Relaxed);
        let resp = builder.timeout(timeout).send().map_err(|e| {
            if crate::interrupt::requested() {
                ApiError::cancelled(&self.host, req.path)
            } else {
                ApiError::transport(&self.host, req.path, &e)
            }
        })?;
        let status = resp.status().as_u16();
        let headers = resp.headers().clone();
        let body = resp
            .bytes()
            .map_err(|e| ApiError::transport(&self.host, req.path, &e))?
            .to_vec();
        self.refused(
            req.path,
            Response {
                status,
                headers,
                body,
            },
        )
    }

    /// A 401 or 403 answer means the credentials were refused: say which, and by whom.
    fn refused(&self, path: &str, resp: Response) -> Result<Response, ApiError> {
        if resp.status != 401 && resp.status != 403 {
            return Ok(resp);
        }
        Err(ApiError::from_response(
            &self.host,
            path,
            resp.status,
            &resp.body,
            resp.content_type(),
        )
        .as_auth(format!("the credentials from {}", self.source)))
    }

    /// Sends a file body as a stream of 1 MiB pieces through the async client.
    #[allow(clippy::too_many_arguments)]
    fn upload(
        &self,
        req: &Request<'_>,
        token: &Secret,
        path: &std::path::Path,
        len: u64,
        prefix: &[u8],
        suffix: &[u8],
        content_type: &str,
        progress: Option<Progress>,
    ) -> Result<Response, ApiError> {
        let file = fs_err::File::open(path)
            .map_err(|e| ApiError::local(&self.host, req.path, &e.to_string()))?;
        let total = prefix.len() as u64 + len + suffix.len() as u64;
        // At least 1 MiB/s before the request is given up as stuck.
        let timeout = REQUEST_TIMEOUT + Duration::from_secs(total / (1024 * 1024));
        let head = bytes::Bytes::copy_from_slice(prefix);
        let tail = bytes::Bytes::copy_from_slice(suffix);
        let state = (Some(head), file.take(len), Some(tail), 0u64, progress);
        let chunks = futures_util::stream::unfold(
            state,
            |(mut head, mut body, mut tail, sent, progress)| async move {
                if let Some(h) = head.take() {
                    return Some((
                        Ok::<_, std::io::Error>(h),
                        (None, body, tail, sent, progress),
                    ));
                }
                if crate::interrupt::requested() {
                    return Some((
                        Err(std::io::Error::other("interrupted by Ctrl-C")),
                        (None, body, None, sent, progress),
                    ));
                }
                let mut buf = vec![0u8; 1024 * 1024];
                match body.read(&mut buf) {
                    Ok(0) => tail
                        .take()
                        .map(|t| (Ok(t), (None, body, None, sent, progress))),
                    Ok(n) => {
                        buf.truncate(n);
                        let sent = sent + n as u64;
                        if let Some(p) = &progress {
                            p(sent);
                        }
                        Some((
                            Ok(bytes::Bytes::from(buf)),
                            (None, body, tail, sent, progress),
                        ))
                    }
                    Err(e) => Some((Err(e), (None, body, None, sent, progress))),
                }
            },
        );
        let url = format!("{}{}", self.host, req.path);
        let mut builder = self
            .uploads
            .request(req.method.clone(), &url)
            .bearer_auth(token.expose())
            .header("Content-Type", content_type)
            .header("Content-Length", total.to_string())
            .timeout(timeout)
            .body(reqwest::Body::wrap_stream(chunks));
        if !req.query.is_empty() {
            builder = builder.query(&req.query);
        }
        let runtime = match self.runtime.get() {
            Some(rt) => rt,
            None => {
                let rt = tokio::runtime::Builder::new_multi_thread()
                    .worker_threads(2)
                    .enable_all()
                    .build()
                    .map_err(|e| ApiError::local(&self.host, req.path, &e.to_string()))?;
                // Another thread may have won; either runtime works.
                let _ = self.runtime.set(rt);
                self.runtime.get().expect("set above")
            }
        };
        let result = runtime.block_on(async {
            let resp = builder.send().await?;
            let status = resp.status().as_u16();
            let headers = resp.headers().clone();
            let body = resp.bytes().await?.to_vec();
            Ok::<_, reqwest::Error>(Response {
                status,
                headers,
                body,
            })
        });
        let resp = result.map_err(|e| {
            if self.stopped() {
                ApiError::cancelled(&self.host, req.path)
            } else {
                ApiError::transport(&self.host, req.path, &e)
            }
        })?;
        self.refused(req.path, resp)
    }

    /// GET a JSON API.
    pub fn get_json(&self, path: &str, query: &[(&str, &str)]) -> Result<Value, ApiError> {
        let mut req = Request::get(path);
        for (k, v) in query {
            req = req.query(k, *v);
        }
        Ok(self.execute(&req)?.json())
    }

    /// POST to a JSON API; `idempotent` says whether sending it twice is harmless.
    pub fn post_json(&self, path: &str, body: Value, idempotent: bool) -> Result<Value, ApiError> {
        Ok(self
            .execute(&Request::post(path, body).idempotent(idempotent))?
            .json())
    }
}

/// Up to `max` of pseudo-random delay, so that clients retrying together spread out.
fn jitter(max: Duration) -> Duration {
    use std::hash::{BuildHasher, Hasher};
    let mut h = std::collections::hash_map::RandomState::new().build_hasher();
    h.write_u128(
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.as_nanos()),
    );
    let frac = (h.finish() % 1000) as u32;
    max.mul_f64(f64::from(frac) / 1000.0)
}

fn azure_cli_token(host: &str) -> Result<(Secret, Option<Duration>), ApiError> {
    let out = Cmd::new("az")
        .args([
            "account",
            "get-access-token",
            "--resource",
            AZURE_DATABRICKS_RESOURCE,
            "--output",
            "json",
        ])
        .read()
        .map_err(|e| {
            ApiError::protocol(
                host,
                "az account get-access-token",
                &format!("{e}; run `az login` first"),
            )
            .as_auth("the Azure CLI".into())
        })?;
    let json: Value = serde_json::from_str(&out).unwrap_or(Value::Null);
    let token = json["accessToken"].as_str().ok_or_else(|| {
        ApiError::protocol(
            host,
            "az account get-access-token",
            "no accessToken in its output",
        )
    })?;
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs());
    let lifetime = json["expires_on"]
        .as_u64()
        .or_else(|| json["expires_on"].as_str().and_then(|s| s.parse().ok()))
        .map(|at| Duration::from_secs(at.saturating_sub(now)))
        .unwrap_or(Duration::from_secs(300));
    Ok((Secret::new(token), Some(lifetime)))
}
