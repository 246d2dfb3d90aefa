//! Errors of the workspace API, typed so that callers branch on `error_code` (never on the
//! HTTP status alone: the 2.0 services use odd statuses), and turned into the crate's error
//! (exit code 3) with the host and endpoint named.

use std::fmt;

use crate::error::Error;

#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Kind {
    /// The service answered with an error.
    Http,
    /// The credentials were refused (401, or a 403 about the token); `by` says where they
    /// came from.
    Auth { by: String },
    /// The credentials are good but lack a privilege on the resource (403
    /// `PERMISSION_DENIED`); `by` says where they came from.
    Denied { by: String },
    /// No token could be had from a login tool (the Databricks CLI, the Azure CLI): it is
    /// missing or its login expired; `help` says how to log in.
    Login { help: String },
    /// The request may or may not have reached the service (`sent`), and no answer came.
    Transport { sent: bool },
    /// A local problem while sending (the file to upload could not be read).
    Local,
    /// The answer was not what the contract says.
    Protocol,
    /// Ctrl-C stopped it.
    Cancelled,
}

/// An API failure; boxed, so that results carrying it stay small.
#[derive(Clone, Debug)]
pub struct ApiError(Box<Details>);

/// What an [`ApiError`] knows (reachable through `Deref`: `err.code`, `err.status`, ...).
#[derive(Clone, Debug)]
pub struct Details {
    pub host: String,
    pub endpoint: String,
    pub status: Option<u16>,
    /// `error_code` from the envelope (`RESOURCE_ALREADY_EXISTS`, ...), or a status-derived
    /// name when the service sent none.
    pub code: String,
    pub message: String,
    pub kind: Kind,
    pub attempts: u32,
}

impl std::ops::Deref for ApiError {
    type Target = Details;
    fn deref(&self) -> &Details {
        &self.0
    }
}

impl std::ops::DerefMut for ApiError {
    fn deref_mut(&mut self) -> &mut Details {
        &mut self.0
    }
}

impl ApiError {
    fn new(host: &str, endpoint: &str, kind: Kind, code: &str, message: &str) -> Self {
        ApiError(Box::new(Details {
            host: host.into(),
            endpoint: endpoint.into(),
            status: None,
            code: code.into(),
            message: message.into(),
            kind,
            attempts: 1,
        }))
    }

    pub fn network(host: &str, endpoint: &str, message: &str) -> Self {
        Self::new(
            host,
            endpoint,
            Kind::Transport { sent: false },
            "NETWORK",
            message,
        )
    }

    pub fn local(host: &str, endpoint: &str, message: &str) -> Self {
        Self::new(host, endpoint, Kind::Local, "LOCAL", message)
    }

    pub fn cancelled(host: &str, endpoint: &str) -> Self {
        Self::new(host, endpoint, Kind::Cancelled, "CANCELLED", "interrupted")
    }

    pub fn protocol(host: &str, endpoint: &str, message: &str) -> Self {
        Self::new(host, endpoint, Kind::Protocol, "PROTOCOL", message)
    }

    /// From a reqwest failure: a connection that could not be made means nothing was sent.
    pub fn transport(host: &str, endpoint: &str, err: &reqwest::Error) -> Self {
        let sent = !err.is_connect();
        let mut text = err.to_string();
        let mut refused = false;
        let mut source = std::error::Error::source(err);
        while let Some(s) = source {
            text.push_str(&format!(": {s}"));
            if let Some(io) = s.downcast_ref::<std::io::Error>() {
                refused |= io.kind() == std::io::ErrorKind::ConnectionRefused;
            }
            source = s.source();
        }
        let code = if sent {
            if err.is_timeout() {
                "TIMEOUT"
            } else {
                "NETWORK"
            }
        } else {
            super::unreachable::code(refused, err.is_timeout(), &text)
        };
        Self::new(host, endpoint, Kind::Transport { sent }, code, &text)
    }

    /// An upload that moved no bytes and got no answer for `limit`; it may have been partly
    /// received, so it counts as sent.
    pub fn stalled(host: &str, endpoint: &str, limit: std::time::Duration) -> Self {
        Self::new(
            host,
            endpoint,
            Kind::Transport { sent: true },
            "TIMEOUT",
            &format!(
                "the upload stalled: no bytes moved and no answer for {} s",
                limit.as_secs()
            ),
        )
    }

    /// Whether no connection to the host could be made (see [`super::unreachable::UNREACHABLE`]).
    pub fn is_unreachable(&self) -> bool {
        self.kind == Kind::Transport { sent: false }
            && super::unreachable::UNREACHABLE
                .iter()
                .any(|(c, _)| *c == self.code)
    }

    /// What an unreachable host's failure was, in words (`connection refused`...).
    pub fn unreachable_reason(&self) -> Option<&'static str> {
        super::unreachable::UNREACHABLE
            .iter()
            .find(|(c, _)| self.kind == Kind::Transport { sent: false } && *c == self.code)
            .map(|(_, words)| *words)
    }

    /// From an error answer: the JSON envelope, `CODE: message` text, an HTML `<pre>`, or
    /// nothing (then the status's reason phrase).
    pub fn from_response(
        host: &str,
        endpoint: &str,
        status: u16,
        body: &[u8],
        content_type: &str,
    ) -> Self {
        let text = String::from_utf8_lossy(body);
        let (code, message) = parse_envelope(status, &text, content_type);
        let mut e = Self::new(host, endpoint, Kind::Http, &code, &message);
        e.status = Some(status);
        e
    }

    /// A login tool could not give a token: `message` says why, `help` how to log in.
    pub fn login(host: &str, tool: &str, message: &str, help: String) -> Self {
        Self::new(host, tool, Kind::Login { help }, "LOGIN", message)
    }

    pub fn as_auth(mut self, by: String) -> Self {
        self.kind = Kind::Auth { by };
        self
    }

    /// A refused request (401 or 403), told apart as databricks-sdk-py does: by the status
    /// and `error_code` (`databricks/sdk/errors/mapper.py` `_error_mapper`: 401 is
    /// `Unauthenticated`, 403 `PermissionDenied`), and for the older APIs that answer a bad
    /// token with a bare 403, by its message ("Invalid access token."). Only an invalid or
    /// expired credential is a credentials problem; anything else is a missing privilege.
    pub fn as_refused(self, by: String) -> Self {
        let message = self.message.to_lowercase();
        let about_the_credential = self.status == Some(401)
            || matches!(self.code.as_str(), "UNAUTHENTICATED" | "INVALID_TOKEN")
            || (message.contains("token")
                && ["invalid", "expired", "revoked", "malformed"]
                    .iter()
                    .any(|w| message.contains(w)))
            || message.contains("not authenticated")
            || (message.contains("credential") && !about_uc_securables(&message));
        if about_the_credential {
            self.as_auth(by)
        } else {
            let mut e = self;
            e.kind = Kind::Denied { by };
            e
        }
    }

    /// The resource a refused request was about, for messages: a volume, a model, a
    /// workspace path, or the endpoint itself.
    pub fn resource(&self) -> String {
        let ep = self.endpoint.split('?').next().unwrap_or(&self.endpoint);
        if let Some((_, rest)) = ep.split_once("/Volumes/") {
            let parts: Vec<&str> = rest.split('/').take(3).collect();
            return format!("volume {}", parts.join("."));
        }
        if let Some((_, rest)) = ep.split_once("/unity-catalog/models/") {
            return format!("model {}", rest.split('/').next().unwrap_or(rest));
        }
        format!("`{ep}`")
    }

    pub fn with_attempts(mut self, attempts: u32) -> Self {
        self.attempts = attempts;
        self
    }

    /// Whether the service said `code` (also matching the older spellings of a few codes).
    pub fn is(&self, code: &str) -> bool {
        self.code == code
            || (code == "RESOURCE_ALREADY_EXISTS" && self.code == "ALREADY_EXISTS")
            || (code == "RESOURCE_DOES_NOT_EXIST" && self.code == "NOT_FOUND")
    }

    pub fn is_not_found(&self) -> bool {
        self.status == Some(404) || self.is("RESOURCE_DOES_NOT_EXIST")
    }

    /// Whether the request may have been acted on although no answer came (the answer was
    /// lost): a retry of a call that is not idempotent must first look for its effect.
    pub fn may_have_been_applied(&self) -> bool {
        matches!(self.kind, Kind::Transport { sent: true })
    }

    /// Retry a transport failure when nothing was sent, or when sending twice is harmless.
    pub fn retryable(&self, idempotent: bool) -> bool {
        match self.kind {
            Kind::Transport { sent } => !sent || idempotent,
            _ => false,
        }
    }
}

/// Whether a refusal's message is about a Unity Catalog securable whose name has
/// "credential" in it (a storage or service credential, an external location), not about the
/// caller's own credentials: "User does not have READ FILES on Storage Credential 'x'" is a
/// missing privilege (403 `PERMISSION_DENIED`), never a bad token.
fn about_uc_securables(message: &str) -> bool {
    [
        "storage credential",
        "service credential",
        "external location",
    ]
    .iter()
    .any(|s| message.contains(s))
}

fn parse_envelope(status: u16, text: &str, content_type: &str) -> (String, String) {
    let fallback_code = match status {
        400 => "BAD_REQUEST",
        401 => "UNAUTHENTICATED",
        403 => "PERMISSION_DENIED",
        404 => "NOT_FOUND",
        409 => "ALREADY_EXISTS",
        429 => "REQUEST_LIMIT_EXCEEDED",
        500 => "INTERNAL_ERROR",
        503 => "TEMPORARILY_UNAVAILABLE",
        _ => "UNKNOWN",
    }
    .to_string();
    if let Ok(json) = serde_json::from_str::<serde_json::Value>(text) {
        let code = json["error_code"]
            .as_str()
            .map(str::to_string)
            .unwrap_or_else(|| fallback_code.clone());
        // An OAuth endpoint's error is `{error, error_description}` (read as
        // databricks-sdk-py `oauth.py` `retrieve_token` reads it).
        let oauth = match (json["error"].as_str(), json["error_description"].as_str()) {
            (Some(e), Some(d)) => Some(format!("{e}: {d}")),
            (e, _) => e.map(str::to_string),
        };
        let message = json["message"]
            .as_str()
            .map(str::to_string)
            .or(oauth)
            .unwrap_or_default();
        return (code, message);
    }
    let trimmed = text.trim();
    if content_type.contains("html") || trimmed.starts_with('<') {
        let inner = trimmed
            .split_once("<pre>")
            .and_then(|(_, rest)| rest.split_once("</pre>"))
            .map_or("", |(pre, _)| pre.trim());
        return (fallback_code, inner.to_string());
    }
    if let Some((code, message)) = trimmed.split_once(": ") {
        if !code.is_empty() && code.chars().all(|c| c.is_ascii_uppercase() || c == '_') {
            return (code.to_string(), message.to_string());
        }
    }
    if trimmed.is_empty() {
        let reason = reqwest::StatusCode::from_u16(status)
            .ok()
            .and_then(|s| s.canonical_reason())
            .unwrap_or("no reason given");
        return (fallback_code, reason.to_string());
    }
    (fallback_code, trimmed.chars().take(500).collect())
}

impl fmt::Display for ApiError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}{}: ", self.host, self.endpoint)?;
        if let Some(status) = self.status {
            write!(f, "{status} ")?;
        }
        write!(f, "{}", self.code)?;
        if !self.message.is_empty() {
            write!(f, ": {}", self.message)?;
        }
        if self.attempts > 1 {
            write!(f, " (after {} attempts)", self.attempts)?;
        }
        Ok(())
    }
}

impl std::error::Error for ApiError {}

impl ApiError {
    /// The innermost cause of a transport failure, and how many attempts were made.
    fn message_tail(&self) -> String {
        let cause = self.message.rsplit(": ").next().unwrap_or(&self.message);
        if self.attempts > 1 {
            format!("{cause}; {} attempts", self.attempts)
        } else {
            cause.to_string()
        }
    }
}

impl From<ApiError> for Error {
    fn from(e: ApiError) -> Error {
        match &e.kind {
            Kind::Auth { by } => Error::remote(format!(
                "{by} were rejected by {} ({} {}: {})",
                e.host,
                e.status.map(|s| s.to_string()).unwrap_or_default(),
                e.code,
                e.message
            ))
            .with_help("check the token (or service principal) for this workspace: create a new personal access token in User Settings > Developer, or fix DATABRICKS_TOKEN / the profile's `token`"),
            Kind::Denied { by } => Error::remote(format!(
                "{} denied access to {} ({} {}: {})",
                e.host,
                e.resource(),
                e.status.map(|s| s.to_string()).unwrap_or_default(),
                e.code,
                e.message
            ))
            .with_help(format!(
                "{by} are valid, but their identity lacks a privilege on {}: check its grants (a volume needs READ VOLUME and WRITE VOLUME, and USE CATALOG and USE SCHEMA on its catalog and schema; a model needs CREATE MODEL on its schema, or to own the model); ask the owner to grant it, or switch to an identity that has it",
                e.resource()
            )),
            Kind::Login { help } => Error::usage(format!(
                "no token for {} from `{}`: {}",
                e.host, e.endpoint, e.message
            ))
            .with_help(help.clone()),
            Kind::Transport { .. } => match e.unreachable_reason() {
                Some(reason) => Error::remote(format!(
                    "cannot reach the workspace at {}: {reason} ({})",
                    e.host,
                    e.message_tail()
                ))
                .with_help(super::unreachable::help(&e.code, &e.host)),
                None => Error::remote(format!("cannot reach the workspace: {e}"))
                    .with_help("check the host and the network; the command is safe to run again"),
            },
            Kind::Local => Error::failed(e.to_string()),
            Kind::Cancelled => Error::interrupted(),
            Kind::Http | Kind::Protocol => Error::remote(e.to_string()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_403_is_a_credentials_problem_only_when_it_says_so() {
        let refused = |status: u16, body: &[u8], endpoint: &str| {
            Error::from(
                ApiError::from_response("https://h", endpoint, status, body, "application/json")
                    .as_refused("the credentials from DATABRICKS_TOKEN".into()),
            )
        };
        // The older APIs' bare 403 for a bad token.
        let e = refused(
            403,
            br#"{"error_code":"403","message":"Invalid access token."}"#,
            "/x",
        );
        assert!(e.message().contains("were rejected"), "{}", e.message());
        assert!(e.help().unwrap().contains("personal access token"));
        let e = refused(
            401,
            br#"{"error_code":"UNAUTHENTICATED","message":"no"}"#,
            "/x",
        );
        assert!(e.message().contains("were rejected"));
        // A missing privilege names the resource and the grants, not the token.
        let e = refused(
            403,
            br#"{"error_code":"PERMISSION_DENIED","message":"User does not have WRITE VOLUME on Volume 'main.mlops.artifacts'."}"#,
            "/api/2.0/fs/files/Volumes/main/mlops/artifacts/demo/main/x.whl",
        );
        assert!(
            e.message()
                .contains("denied access to volume main.mlops.artifacts")
                && e.message().contains("WRITE VOLUME"),
            "{}",
            e.message()
        );
        let help = e.help().unwrap();
        assert!(
            help.contains("grants") && !help.contains("personal access token"),
            "{help}"
        );
        assert_eq!(e.exit_code(), 3);
        let e = refused(
            403,
            br#"{"error_code":"PERMISSION_DENIED","message":"no CREATE MODEL"}"#,
            "/api/2.1/unity-catalog/models/main.ml.demo/versions",
        );
        assert!(
            e.message().contains("model main.ml.demo"),
            "{}",
            e.message()
        );
    }

    #[test]
    fn envelopes_of_every_shape() {
        let e = ApiError::from_response(
            "h",
            "/x",
            400,
            br#"{"error_code":"RESOURCE_ALREADY_EXISTS","message":"exists"}"#,
            "application/json",
        );
        assert!(e.is("RESOURCE_ALREADY_EXISTS"));
        assert_eq!(e.message, "exists");
        let e = ApiError::from_response(
            "h",
            "/x",
            400,
            b"INVALID_PARAMETER_VALUE: bad path",
            "text/plain",
        );
        assert_eq!(
            (e.code.as_str(), e.message.as_str()),
            ("INVALID_PARAMETER_VALUE", "bad path")
        );
        let e = ApiError::from_response(
            "h",
            "/x",
            502,
            b"<html><body><pre>Bad gateway upstream</pre></body></html>",
            "text/html",
        );
        assert_eq!(e.message, "Bad gateway upstream");
        let e = ApiError::from_response("h", "/x", 404, b"", "");
        assert_eq!(
            (e.code.as_str(), e.message.as_str()),
            ("NOT_FOUND", "Not Found")
        );
        assert!(e.is_not_found());
        let e = ApiError::from_response(
            "h",
            "/x",
            409,
            br#"{"error_code":"ALREADY_EXISTS","message":"m"}"#,
            "application/json",
        );
        assert!(e.is("RESOURCE_ALREADY_EXISTS"));
    }

    #[test]
    fn only_unsent_or_idempotent_requests_are_retried() {
        let unsent = ApiError::network("h", "/x", "refused");
        assert!(unsent.retryable(false));
        let mut sent = unsent.clone();
        sent.kind = Kind::Transport { sent: true };
        assert!(!sent.retryable(false));
        assert!(sent.retryable(true));
        let http = ApiError::from_response("h", "/x", 400, b"", "");
        assert!(!http.retryable(true));
    }

    #[test]
    fn rejected_credentials_name_the_host_and_exit_3() {
        let e = ApiError::from_response(
            "https://adb-1.net",
            "/api/2.0/dbfs/get-status",
            403,
            br#"{"error_code":"403","message":"Invalid access token."}"#,
            "application/json",
        )
        .as_auth("the credentials from DATABRICKS_TOKEN".into());
        let err: Error = e.into();
        assert_eq!(err.exit_code(), 3);
        assert_eq!(
            err.message(),
            "the credentials from DATABRICKS_TOKEN were rejected by https://adb-1.net (403 403: Invalid access token.)"
        );
    }

    #[test]
    fn a_refusal_about_a_storage_credential_is_a_missing_privilege_not_a_bad_token() {
        let refused = |msg: &str| {
            ApiError::from_response(
                "https://x",
                "/api/2.0/fs/files/Volumes/a/b/c/f",
                403,
                format!("{{\"error_code\":\"PERMISSION_DENIED\",\"message\":\"{msg}\"}}")
                    .as_bytes(),
                "application/json",
            )
            .as_refused("DATABRICKS_TOKEN".into())
            .kind
            .clone()
        };
        assert!(matches!(
            refused("User does not have READ FILES on Storage Credential 'creds'."),
            Kind::Denied { .. }
        ));
        assert!(matches!(
            refused("Credential was not sent or was of an unsupported type for this API."),
            Kind::Auth { .. }
        ));
    }
}
