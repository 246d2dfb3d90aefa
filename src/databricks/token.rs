//! The bearer token a client sends: a personal access token as given, or one fetched (OAuth
//! M2M from the workspace's `/oidc/v1/token`, or `az account get-access-token`) and kept until
//! shortly before it expires. Tokens are `Secret`s: never shown, never in `Debug`.

use std::sync::Mutex;
use std::time::{Duration, Instant};

use serde::Deserialize;

use super::auth::{AZURE_DATABRICKS_RESOURCE, Method};
use super::error::ApiError;
use super::secret::Secret;
use crate::support::process::{Cmd, CmdError};

/// How early before its expiry a fetched token is replaced.
const REFRESH_BEFORE: Duration = Duration::from_secs(60);

/// The token of one client, fetched when missing or about to expire.
pub struct TokenCache {
    cached: Mutex<Option<(Secret, Option<Instant>)>>,
}

/// A fetched token and how long it lives (`None`: for as long as the client).
pub struct Fetched {
    pub token: Secret,
    pub lifetime: Option<Duration>,
}

impl Fetched {
    pub fn new(token: Secret, lifetime: Option<Duration>) -> Fetched {
        Fetched { token, lifetime }
    }
}

impl TokenCache {
    pub fn new(method: &Method) -> Self {
        let token = match method {
            Method::Pat(t) => Some((t.clone(), None)),
            _ => None,
        };
        TokenCache {
            cached: Mutex::new(token),
        }
    }

    /// The token, from the cache while it is fresh, else from `fetch` (called with the lock
    /// held, so concurrent requests wait for one fetch instead of making several).
    pub fn get(
        &self,
        fetch: impl FnOnce() -> Result<Fetched, ApiError>,
    ) -> Result<Secret, ApiError> {
        let mut cached = self.cached.lock().unwrap_or_else(|p| p.into_inner());
        if let Some((token, expiry)) = cached.as_ref() {
            if expiry.is_none_or(|at| at > Instant::now() + REFRESH_BEFORE) {
                return Ok(token.clone());
            }
        }
        let Fetched { token, lifetime } = fetch()?;
        *cached = Some((token.clone(), lifetime.map(|l| Instant::now() + l)));
        Ok(token)
    }
}

/// The OAuth token endpoint's answer.
#[derive(Deserialize)]
pub struct OAuthToken {
    pub access_token: String,
    /// A number, or a string of one, depending on the identity provider.
    #[serde(default)]
    pub expires_in: Option<serde_json::Value>,
}

impl OAuthToken {
    pub fn into_fetched(self) -> Fetched {
        let secs = match &self.expires_in {
            Some(serde_json::Value::Number(n)) => n.as_u64(),
            Some(serde_json::Value::String(s)) => s.parse().ok(),
            _ => None,
        }
        .unwrap_or(3600);
        Fetched::new(
            Secret::new(&self.access_token),
            Some(Duration::from_secs(secs)),
        )
    }
}

/// What `databricks auth token --host <host>` prints.
#[derive(Deserialize)]
struct CliToken {
    access_token: String,
    /// RFC 3339, often with a local offset (`2026-12-02T15:27:02.22+01:00`).
    #[serde(default)]
    expiry: Option<String>,
}

/// How long a token lives that says nothing we can read about its expiry: asked for again
/// soon (the CLI keeps its own cache, so that is cheap).
const UNKNOWN_LIFETIME: Duration = Duration::from_secs(300);

/// A token from the Databricks CLI's login for `host` (`databricks auth login --host ...`),
/// as the SDKs' `databricks-cli` auth type gets one. A missing CLI or an expired login says
/// how to log in; the token itself is never shown.
pub fn databricks_cli_token(host: &str, external_browser: bool) -> Result<Fetched, ApiError> {
    let login = format!("run `databricks auth login --host {host}`");
    let tool = "databricks auth token";
    let out = Cmd::new("databricks")
        .args(["auth", "token", "--host", host])
        .read()
        .map_err(|e| match e {
            CmdError::NotFound { .. } => ApiError::login(
                host,
                tool,
                "the Databricks CLI (`databricks`) is not on PATH",
                format!(
                    "install it (https://docs.databricks.com/aws/en/dev-tools/cli/install), then {login}{}",
                    if external_browser { " to log in with your browser" } else { "" }
                ),
            ),
            CmdError::Failed { output, .. } => {
                let why = output
                    .stderr
                    .lines()
                    .map(str::trim)
                    .find(|l| !l.is_empty())
                    .unwrap_or("it failed")
                    .trim_start_matches("Error: ")
                    .to_string();
                ApiError::login(host, tool, &why, format!("{login} (the login is missing or has expired)"))
            }
            other => ApiError::login(host, tool, &other.to_string(), login.clone()),
        })?;
    let token: CliToken = serde_json::from_str(&out).map_err(|e| {
        ApiError::login(
            host,
            tool,
            &format!("its output is not the token JSON it should be ({e})"),
            format!("update the Databricks CLI, then {login}"),
        )
    })?;
    let lifetime = token
        .expiry
        .as_deref()
        .and_then(expires_in)
        .unwrap_or(UNKNOWN_LIFETIME);
    Ok(Fetched::new(
        Secret::new(&token.access_token),
        Some(lifetime),
    ))
}

/// The time until an RFC 3339 instant (any offset), if it can be read.
fn expires_in(at: &str) -> Option<Duration> {
    let (stamp, offset_secs) = split_offset(at)?;
    let utc = humantime::parse_rfc3339_weak(&stamp).ok()?;
    let utc = if offset_secs >= 0 {
        utc.checked_sub(Duration::from_secs(offset_secs as u64))?
    } else {
        utc.checked_add(Duration::from_secs((-offset_secs) as u64))?
    };
    Some(
        utc.duration_since(std::time::SystemTime::now())
            .unwrap_or_default(),
    )
}

/// `2026-12-02T15:27:02.22+01:00` → (`2026-12-02T15:27:02.22`, 3600); `...Z` → (…, 0).
fn split_offset(at: &str) -> Option<(String, i64)> {
    let at = at.trim();
    if let Some(stamp) = at.strip_suffix('Z').or_else(|| at.strip_suffix('z')) {
        return Some((stamp.to_string(), 0));
    }
    let i = at.rfind(['+', '-']).filter(|i| *i > 10)?;
    let (stamp, off) = at.split_at(i);
    let sign = if off.starts_with('-') { -1 } else { 1 };
    let (h, m) = off[1..]
        .split_once(':')
        .unwrap_or((&off[1..3.min(off.len())], "0"));
    Some((
        stamp.to_string(),
        sign * (h.parse::<i64>().ok()? * 3600 + m.parse::<i64>().ok()? * 60),
    ))
}

/// What `az account get-access-token --output json` prints.
#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct AzureToken {
    access_token: String,
    #[serde(default, rename = "expires_on")]
    expires_on: Option<serde_json::Value>,
}

/// A token from the Azure CLI for Azure Databricks.
pub fn azure_cli_token(host: &str) -> Result<Fetched, ApiError> {
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
    let token: AzureToken = serde_json::from_str(&out).map_err(|e| {
        ApiError::protocol(
            host,
            "az account get-access-token",
            &format!("its output is not the token JSON it should be: {e}"),
        )
    })?;
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs());
    let expires_on = match &token.expires_on {
        Some(serde_json::Value::Number(n)) => n.as_u64(),
        Some(serde_json::Value::String(s)) => s.parse().ok(),
        _ => None,
    };
    let lifetime = expires_on
        .map(|at| Duration::from_secs(at.saturating_sub(now)))
        .unwrap_or(Duration::from_secs(300));
    Ok(Fetched::new(
        Secret::new(&token.access_token),
        Some(lifetime),
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn expiries_with_any_offset() {
        let in_an_hour = std::time::SystemTime::now() + Duration::from_secs(3600);
        let utc = humantime::format_rfc3339_seconds(in_an_hour).to_string();
        let left = expires_in(&utc).unwrap();
        assert!(left > Duration::from_secs(3500), "{left:?}");
        // The same instant written in +01:00.
        let plus_one = humantime::format_rfc3339_seconds(in_an_hour + Duration::from_secs(3600))
            .to_string()
            .replace('Z', "+01:00");
        let left = expires_in(&plus_one).unwrap();
        assert!(
            left > Duration::from_secs(3500) && left <= Duration::from_secs(3601),
            "{left:?}"
        );
        assert_eq!(
            expires_in("2020-01-01T00:00:00.5-05:00"),
            Some(Duration::ZERO)
        );
        assert_eq!(expires_in("soon"), None);
    }
}
