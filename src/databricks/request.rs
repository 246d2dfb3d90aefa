//! What one request to the workspace is: method, path, query, body (JSON, a form, bytes, or a
//! file streamed from disk), how it authenticates, and whether sending it twice is harmless;
//! and the answer as it came.

use std::path::PathBuf;

use serde_json::Value;

use super::secret::Secret;

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
    /// How the request authenticates.
    pub auth: Auth,
}

/// How a request authenticates.
#[derive(Clone, Debug, Default)]
pub enum Auth {
    /// `Authorization: Bearer <token>` with the client's token (the default).
    #[default]
    Bearer,
    /// HTTP Basic with a client id and secret (the OAuth token endpoint).
    Basic { id: String, secret: Secret },
    /// Nothing: the credential is in the form (the OIDC token exchange).
    None,
}

impl<'a> Request<'a> {
    pub fn get(path: &'a str) -> Self {
        Request {
            method: reqwest::Method::GET,
            path,
            query: Vec::new(),
            body: Body::Empty,
            idempotent: true,
            auth: Auth::Bearer,
        }
    }

    pub fn post(path: &'a str, body: Value) -> Self {
        Request {
            method: reqwest::Method::POST,
            path,
            query: Vec::new(),
            body: Body::Json(body),
            idempotent: false,
            auth: Auth::Bearer,
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
}
