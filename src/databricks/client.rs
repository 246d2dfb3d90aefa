//! The one HTTP client for the workspace: rustls, timeouts, the error envelope parsed into
//! [`ApiError`]s that callers branch on by `error_code`, and retries of 429/503, the platform's
//! transient errors, gateway 500/502/504 on requests safe to repeat, and connection failures,
//! with exponential backoff, jitter, `Retry-After` and a total time budget. A request that is
//! not idempotent is retried after a lost answer only when the failure proves it was never sent.

use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use serde::de::DeserializeOwned;
use serde_json::Value;

use super::auth::{Config, Method};
use super::error::ApiError;
pub use super::request::{Auth, Body, Progress, Request, Response};
pub use super::retry::RetryPolicy;
use super::retry::retry_after;
use super::secret::Secret;
use super::token::{self, TokenCache};

/// Requests and payload bytes sent, for `--json` reports and benchmarks.
#[derive(Default, Debug)]
pub struct Stats {
    pub requests: AtomicU64,
    pub payload_bytes: AtomicU64,
}

impl Stats {
    /// Requests sent and payload bytes uploaded so far.
    pub fn totals(&self) -> (u64, u64) {
        (
            self.requests.load(Ordering::Relaxed),
            self.payload_bytes.load(Ordering::Relaxed),
        )
    }
}

/// The messages of errors the platform gives for passing conditions, retried whatever the
/// status and the method, as databricks-sdk-py does (`databricks/sdk/_base_client.py`
/// `_BaseClient._is_retryable`, `transient_error_string_matches`; the Go SDK's
/// `apierr/errors.go` has the same list).
const TRANSIENT_MESSAGES: &[&str] = &[
    "com.databricks.backend.manager.util.UnknownWorkerEnvironmentException",
    "does not have any associated worker environments",
    "There is no worker environment with id",
    "Unknown worker environment",
    "ClusterNotReadyException",
    "Unexpected error",
    "Please try again later or try a faster operation.",
    "RPC token bucket limit has been exceeded",
];

/// Whether an error answer names a passing condition (see [`TRANSIENT_MESSAGES`]).
fn transient(resp: &Response) -> bool {
    if (200..300).contains(&resp.status) {
        return false;
    }
    let text = String::from_utf8_lossy(&resp.body);
    TRANSIENT_MESSAGES.iter().any(|m| text.contains(m))
}

pub struct Client {
    pub(super) http: reqwest::blocking::Client,
    /// File uploads go through the async client, which takes a stream of 1 MiB pieces; the
    /// blocking client would push a reader through in 8 KiB pieces, which costs more than a
    /// fast network does.
    pub(super) uploads: reqwest::Client,
    /// Made on the first upload, so commands that send no file start no threads.
    pub(super) runtime: std::sync::OnceLock<tokio::runtime::Runtime>,
    pub host: String,
    pub source: String,
    method: Method,
    token: TokenCache,
    pub retry: RetryPolicy,
    /// How long an upload may move no bytes before it is given up (see `upload.rs`).
    pub upload_stall: Duration,
    /// When files go to a volume in parts (see `multipart.rs`).
    pub multipart: super::limits::Multipart,
    pub stats: Stats,
    /// After Ctrl-C new requests are refused, except while cleaning up (cancelling the
    /// remote run, marking the MLflow run KILLED).
    cleaning_up: std::sync::atomic::AtomicBool,
    /// Where `-vv` shows every request (method, path, status, time; never a header or body),
    /// and where an unreachable host is said.
    trace: std::sync::OnceLock<crate::output::Output>,
    said_unreachable: std::sync::atomic::AtomicBool,
}

/// A connection not made in this time is a failure to reach the host (tried again within
/// [`RetryPolicy::connect_budget`]).
const CONNECT_TIMEOUT: Duration = Duration::from_secs(10);
use super::limits::REQUEST_TIMEOUT;

impl Client {
    pub fn new(config: Config) -> Result<Client, ApiError> {
        let agent = format!(
            "cargo-mlops/{} os/{} auth/{}",
            env!("CARGO_PKG_VERSION"),
            std::env::consts::OS,
            config.method.name()
        );
        // A loopback host (the fake workspace, a local tunnel) never goes through a proxy, as
        // curl's NO_PROXY default has it: a plain-http proxy would see the bearer token in
        // clear text. An https workspace honours HTTPS_PROXY (the token stays inside the
        // CONNECT tunnel) and NO_PROXY, as reqwest reads them.
        let direct = reqwest::Url::parse(&config.host)
            .ok()
            .and_then(|u| u.host_str().map(super::host::is_loopback))
            .unwrap_or(false);
        let mut http = reqwest::blocking::Client::builder()
            .user_agent(agent.clone())
            .connect_timeout(CONNECT_TIMEOUT)
            .timeout(None)
            .use_rustls_tls();
        let mut uploads = reqwest::Client::builder()
            .user_agent(agent)
            .connect_timeout(CONNECT_TIMEOUT)
            .use_rustls_tls();
        if direct {
            http = http.no_proxy();
            uploads = uploads.no_proxy();
        }
        let http = http
            .build()
            .map_err(|e| ApiError::network(&config.host, "client", &e.to_string()))?;
        let uploads = uploads
            .build()
            .map_err(|e| ApiError::network(&config.host, "client", &e.to_string()))?;
        Ok(Client {
            http,
            uploads,
            runtime: std::sync::OnceLock::new(),
            host: config.host,
            source: config.source,
            token: TokenCache::new(&config.method),
            method: config.method,
            retry: RetryPolicy::default(),
            upload_stall: super::limits::stall_limit(),
            multipart: Default::default(),
            stats: Stats::default(),
            cleaning_up: std::sync::atomic::AtomicBool::new(false),
            trace: std::sync::OnceLock::new(),
            said_unreachable: std::sync::atomic::AtomicBool::new(false),
        })
    }

    /// The authentication method's name (`pat`, `oauth-m2m`, `databricks-cli`...).
    pub fn method_name(&self) -> &'static str {
        self.method.name()
    }

    /// Lets requests through after Ctrl-C, for the clean-up that must still reach the
    /// workspace.
    pub fn clean_up_after_interrupt(&self) {
        self.cleaning_up.store(true, Ordering::SeqCst);
    }

    /// Runs `f`; when Ctrl-C refused one of its requests, lets requests through and runs it
    /// again. For what must still reach the workspace once a job exists (describing it,
    /// recording it).
    pub fn even_after_interrupt<T>(
        &self,
        f: impl Fn() -> crate::error::Result<T>,
    ) -> crate::error::Result<T> {
        match f() {
            Err(e) if e.kind() == crate::error::Kind::Interrupted => {
                self.clean_up_after_interrupt();
                f()
            }
            other => other,
        }
    }

    pub(super) fn stopped(&self) -> bool {
        crate::support::interrupt::requested() && !self.cleaning_up.load(Ordering::SeqCst)
    }

    /// The bearer token, fetched (OAuth M2M, Azure CLI) when missing or about to expire.
    fn bearer(&self) -> Result<Secret, ApiError> {
        self.token.get(|| match &self.method {
            Method::Pat(t) => Ok(token::Fetched::new(t.clone(), None)),
            Method::OAuthM2M {
                client_id,
                client_secret,
                scopes,
            } => self.oauth_token(client_id, client_secret, scopes),
            Method::AzureCli => token::azure_cli_token(&self.host),
            Method::DatabricksCli { external_browser } => {
                token::databricks_cli_token(&self.host, *external_browser)
            }
            Method::Oidc(f) => self.federated_token(f),
            Method::Basic { .. } | Method::Anonymous => Err(ApiError::local(
                &self.host,
                "",
                "this connection has no bearer token",
            )),
        })
    }

    /// A workspace token for the CI system's ID token (`oidc.rs`). The audience is the
    /// configured one, else the first `token_federation_default_oidc_audiences` of the host's
    /// `/.well-known/databricks-config` (databricks-sdk-py `config.py`
    /// `Config._resolve_host_metadata`, best effort), else the token endpoint
    /// (`credentials_provider.py` `_oidc_credentials_provider`).
    fn federated_token(&self, f: &super::oidc::Federated) -> Result<token::Fetched, ApiError> {
        let (client_id, supplier) = (f.client_id.as_deref(), &f.supplier);
        let endpoint = format!("{}/oidc/v1/token", self.host);
        let audience = match f.audience.as_deref() {
            Some(a) => a.to_string(),
            None => self.advertised_audience().unwrap_or(endpoint),
        };
        let audience = audience.as_str();
        let id_token = super::oidc::id_token(&self.http, &self.host, supplier, audience)?;
        self.token_request(
            super::oidc::exchange_form(&id_token, client_id, &f.scopes),
            Auth::None,
            |e| {
                ApiError::login(
                    &self.host,
                    &format!("{} token exchange", supplier.auth_type()),
                    &format!("the workspace refused the exchange: {}", e.message),
                    super::oidc::refused_help(supplier, client_id, audience),
                )
            },
        )
    }

    /// A token from `/oidc/v1/token`, through the same retry loop as every other request
    /// (asking for a token twice is harmless); `refused` says why an answer was a refusal.
    fn token_request(
        &self,
        form: String,
        auth: Auth,
        refused: impl FnOnce(ApiError) -> ApiError,
    ) -> Result<token::Fetched, ApiError> {
        let req = Request {
            method: reqwest::Method::POST,
            path: "/oidc/v1/token",
            query: Vec::new(),
            body: Body::Form(form),
            idempotent: true,
            auth,
        };
        let answer: token::OAuthToken = self
            .execute(&req)
            .and_then(|resp| self.decode(req.path, &resp))
            .map_err(|e| match e.kind {
                super::error::Kind::Http
                | super::error::Kind::Auth { .. }
                | super::error::Kind::Denied { .. } => refused(e),
                _ => e,
            })?;
        Ok(answer.into_fetched())
    }

    /// An OAuth M2M token: the client credentials grant, the id and secret as HTTP Basic, for
    /// the configured `scopes` (sdk-py `oauth_service_principal`: `scopes=cfg.get_scopes()`).
    fn oauth_token(
        &self,
        id: &str,
        secret: &Secret,
        scopes: &str,
    ) -> Result<token::Fetched, ApiError> {
        let scope =
            percent_encoding::utf8_percent_encode(scopes, percent_encoding::NON_ALPHANUMERIC)
                .to_string()
                .replace("%2D", "-");
        self.token_request(
            format!("grant_type=client_credentials&scope={scope}"),
            Auth::Basic {
                id: id.to_string(),
                secret: secret.clone(),
            },
            |e| e.as_auth(format!("the client id/secret from {}", self.source)),
        )
    }

    /// The audience the host's metadata advertises for federated tokens, if it says one.
    fn advertised_audience(&self) -> Option<String> {
        let answer = self
            .http
            .get(format!("{}/.well-known/databricks-config", self.host))
            .timeout(std::time::Duration::from_secs(10))
            .send()
            .ok()
            .filter(|a| a.status().is_success())?;
        let meta: Value = serde_json::from_slice(&answer.bytes().ok()?).ok()?;
        meta["token_federation_default_oidc_audiences"][0]
            .as_str()
            .map(str::to_string)
    }

    /// Sends `req`, retrying what can safely be retried within the time budget.
    /// Shows every request on `output` (it prints only at `-vv`).
    pub fn trace_to(&self, output: &crate::output::Output) {
        let _ = self.trace.set(output.clone());
    }

    pub fn execute(&self, req: &Request<'_>) -> Result<Response, ApiError> {
        let started = Instant::now();
        let mut attempt: u32 = 0;
        loop {
            attempt += 1;
            if self.stopped() {
                return Err(ApiError::cancelled(&self.host, req.path));
            }
            let sent = Instant::now();
            let outcome = self.attempt(req);
            if let Some(trace) = self.trace.get() {
                let answer = match &outcome {
                    Ok(resp) => resp.status.to_string(),
                    Err(e) => format!("{:?}", e.kind),
                };
                trace.trace(
                    "HTTP",
                    format!(
                        "{} {} -> {answer} ({} ms, attempt {attempt})",
                        req.method,
                        req.path,
                        sent.elapsed().as_millis()
                    ),
                );
            }
            let wait = match &outcome {
                Ok(resp) if (200..300).contains(&resp.status) => return outcome,
                Ok(resp) if resp.status == 429 || resp.status == 503 => {
                    let asked = retry_after(&resp.headers).unwrap_or_default();
                    Some(asked.max(self.retry.backoff(attempt)))
                }
                Ok(resp) if transient(resp) => Some(self.retry.backoff(attempt)),
                // A gateway in front of the workspace answers a bare 500/502/504 now and
                // then; a request that is safe to repeat (a read, `runs/get` while following)
                // outlasts it.
                Ok(resp) if req.idempotent && matches!(resp.status, 500 | 502 | 504) => {
                    Some(self.retry.backoff(attempt))
                }
                Ok(_) => None,
                // A host that takes no connection is said at once, and tried for seconds,
                // not minutes; a TLS failure not again.
                Err(e) if e.is_unreachable() => {
                    let wait = self.retry.backoff(attempt);
                    let again =
                        e.code != "TLS" && started.elapsed() + wait <= self.retry.connect_budget;
                    if again {
                        self.say_unreachable(e);
                    }
                    again.then_some(wait)
                }
                Err(e) if e.retryable(req.idempotent) => Some(self.retry.backoff(attempt)),
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
            // Ctrl-C wakes the wait: a back-off never delays an interrupt.
            if !super::retry::pause(wait, &|| self.stopped()) {
                return Err(ApiError::cancelled(&self.host, req.path));
            }
        }
    }

    /// Says once per client that the host takes no connection, and for how long it is tried.
    fn say_unreachable(&self, e: &ApiError) {
        if self.said_unreachable.swap(true, Ordering::SeqCst) {
            return;
        }
        if let (Some(output), Some(reason)) = (self.trace.get(), e.unreachable_reason()) {
            output.warn(format!(
                "cannot reach {} ({reason}); trying again for up to {} s",
                self.host,
                self.retry.connect_budget.as_secs()
            ));
        }
    }

    fn attempt(&self, req: &Request<'_>) -> Result<Response, ApiError> {
        let url = format!("{}{}", self.host, req.path);
        let (mut builder, token) =
            self.authorized(self.http.request(req.method.clone(), &url), req)?;
        if !req.query.is_empty() {
            builder = builder.query(&req.query);
        }
        let (builder, payload) = match &req.body {
            Body::File {
                path,
                len,
                prefix,
                suffix,
                content_type,
                progress,
            } => {
                let total = prefix.len() as u64 + len + suffix.len() as u64;
                self.count(total);
                let token = token.ok_or_else(|| {
                    ApiError::local(&self.host, req.path, "uploads need a bearer token")
                })?;
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
            body => with_body(builder, body),
        };
        self.count(payload);
        let resp = builder.timeout(REQUEST_TIMEOUT).send().map_err(|e| {
            if crate::support::interrupt::requested() {
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
            req,
            Response {
                status,
                headers,
                body,
            },
        )
    }

    /// A request's credentials: the bearer token (or an MLflow tracking server's basic
    /// credentials in its place), a client's id and secret, or none. The bearer token is
    /// returned too, for uploads.
    fn authorized(
        &self,
        builder: reqwest::blocking::RequestBuilder,
        req: &Request<'_>,
    ) -> Result<(reqwest::blocking::RequestBuilder, Option<Secret>), ApiError> {
        Ok(match &req.auth {
            Auth::Bearer => match &self.method {
                Method::Basic { username, password } => {
                    (builder.basic_auth(username, Some(password.expose())), None)
                }
                Method::Anonymous => (builder, None),
                _ => {
                    let token = self.bearer()?;
                    (builder.bearer_auth(token.expose()), Some(token))
                }
            },
            Auth::Basic { id, secret } => (builder.basic_auth(id, Some(secret.expose())), None),
            Auth::None => (builder, None),
        })
    }

    /// One request sent with `payload` bytes, for the deploy's figures.
    fn count(&self, payload: u64) {
        self.stats.requests.fetch_add(1, Ordering::Relaxed);
        self.stats
            .payload_bytes
            .fetch_add(payload, Ordering::Relaxed);
    }

    /// A 401 or 403 answer: the credentials were refused, or lack a privilege (see
    /// [`ApiError::as_refused`]); say which, and by whom.
    pub(super) fn refused(&self, req: &Request<'_>, resp: Response) -> Result<Response, ApiError> {
        if resp.status != 401 && resp.status != 403 {
            return Ok(resp);
        }
        let which = match req.auth {
            Auth::Bearer => "the credentials",
            Auth::Basic { .. } => "the client id/secret",
            Auth::None => "the OIDC token",
        };
        Err(ApiError::from_response(
            &self.host,
            req.path,
            resp.status,
            &resp.body,
            resp.content_type(),
        )
        .as_refused(format!("{which} from {}", self.source)))
    }

    /// An answer as `T`; a missing or mistyped field is an error that names the endpoint and
    /// the field, never a silent default.
    pub fn decode<T: DeserializeOwned>(&self, path: &str, resp: &Response) -> Result<T, ApiError> {
        let body: &[u8] = if resp.body.is_empty() {
            b"{}"
        } else {
            &resp.body
        };
        let de = &mut serde_json::Deserializer::from_slice(body);
        serde_path_to_error::deserialize(de).map_err(|e| {
            let field = e.path().to_string();
            let what = if field == "." {
                format!("the answer is not what the API returns: {}", e.inner())
            } else {
                format!(
                    "the answer's `{field}` is not what the API returns: {}",
                    e.inner()
                )
            };
            ApiError::protocol(&self.host, path, &what)
        })
    }

    /// GET a JSON API, read as `T`.
    pub fn get_as<T: DeserializeOwned>(
        &self,
        path: &str,
        query: &[(&str, &str)],
    ) -> Result<T, ApiError> {
        let mut req = Request::get(path);
        for (k, v) in query {
            req = req.query(k, *v);
        }
        let resp = self.execute(&req)?;
        self.decode(path, &resp)
    }

    /// POST to a JSON API, read the answer as `T`; `idempotent` says whether sending it twice
    /// is harmless.
    pub fn post_as<T: DeserializeOwned>(
        &self,
        path: &str,
        body: Value,
        idempotent: bool,
    ) -> Result<T, ApiError> {
        let resp = self.execute(&Request::post(path, body).idempotent(idempotent))?;
        self.decode(path, &resp)
    }

    /// DELETE `path`; one that is gone already counts as deleted (so it is safe to repeat).
    pub fn delete_if_present(&self, path: &str) -> Result<(), ApiError> {
        let mut req = Request::get(path).idempotent(true);
        req.method = reqwest::Method::DELETE;
        match self.execute(&req) {
            Ok(_) => Ok(()),
            Err(e) if e.is_not_found() => Ok(()),
            Err(e) => Err(e),
        }
    }

    /// GET a JSON API (an answer that is not JSON is an error naming the endpoint).
    pub fn get_json(&self, path: &str, query: &[(&str, &str)]) -> Result<Value, ApiError> {
        self.get_as(path, query)
    }

    /// POST to a JSON API; `idempotent` says whether sending it twice is harmless.
    pub fn post_json(&self, path: &str, body: Value, idempotent: bool) -> Result<Value, ApiError> {
        self.post_as(path, body, idempotent)
    }
}

/// A request with an in-memory body (files go through [`Client::upload`]), and its size.
fn with_body(
    builder: reqwest::blocking::RequestBuilder,
    body: &Body,
) -> (reqwest::blocking::RequestBuilder, u64) {
    match body {
        Body::Empty | Body::File { .. } => (builder, 0),
        Body::Json(v) => {
            let bytes = serde_json::to_vec(v).expect("JSON values serialize");
            let len = bytes.len() as u64;
            (
                builder
                    .header("Content-Type", "application/json")
                    .body(bytes),
                len,
            )
        }
        Body::Form(text) => (
            builder
                .header("Content-Type", "application/x-www-form-urlencoded")
                .body(text.clone()),
            text.len() as u64,
        ),
        Body::Bytes(bytes, content_type) => (
            builder
                .header("Content-Type", content_type)
                .body(bytes.clone()),
            bytes.len() as u64,
        ),
    }
}
