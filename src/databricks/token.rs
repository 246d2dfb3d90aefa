//! The bearer token a client sends: a personal access token as given, or one fetched (OAuth
//! M2M from the workspace's `/oidc/v1/token`, or `az account get-access-token`) and kept until
//! shortly before it expires. Tokens are `Secret`s: never shown, never in `Debug`.

use std::sync::Mutex;
use std::time::{Duration, Instant};

use serde::Deserialize;

use super::auth::{AZURE_DATABRICKS_RESOURCE, Method};
use super::error::ApiError;
use super::secret::Secret;
use crate::process::Cmd;

/// How early before its expiry a fetched token is replaced.
const REFRESH_BEFORE: Duration = Duration::from_secs(60);

/// The token of one client, fetched when missing or about to expire.
pub struct TokenCache {
    cached: Mutex<Option<(Secret, Option<Instant>)>>,
}

/// A fetched token and how long it lives.
pub type Fetched = (Secret, Option<Duration>);

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
        let (token, lifetime) = fetch()?;
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
        (
            Secret::new(&self.access_token),
            Some(Duration::from_secs(secs)),
        )
    }
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
pub fn azure_cli_token(host: &str) -> Result<(Secret, Option<Duration>), ApiError> {
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
    Ok((Secret::new(&token.access_token), Some(lifetime)))
}
