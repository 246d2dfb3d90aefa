//! Which credentials the resolved settings give: the method `auth_type` names, else the first
//! of the SDK's default chain that the settings allow (databricks-sdk-py
//! `databricks/sdk/credentials_provider.py` `DefaultCredentials`: `pat_auth`, `basic_auth`,
//! `oauth_service_principal`, `env_oidc`, `file_oidc`, `github_oidc`, `azure_devops_oidc`,
//! ..., `azure_cli`, ..., `databricks_cli`).

use super::config::Method;
use crate::databricks::oidc;
use crate::databricks::secret::Secret;
use crate::error::{Error, Result};

/// A setting picked from the layers: its value and which layer gave it.
pub type Picked = Option<(String, String)>;

/// What the methods read: a setting by key (with its source), the environment, the host.
pub struct Inputs<'a> {
    pub pick: &'a dyn Fn(&str) -> Picked,
    pub env: &'a dyn Fn(&str) -> Option<String>,
    pub host: &'a str,
}

impl Inputs<'_> {
    fn value(&self, key: &str) -> Option<String> {
        (self.pick)(key).map(|(v, _)| v)
    }

    /// `scopes` as the SDK parses them (`config.py` `_parse_scopes`: split on commas and
    /// spaces, deduplicated, sorted), space-separated as OAuth sends them; `all-apis` unset.
    pub fn scopes(&self) -> String {
        let mut scopes: Vec<String> = self
            .value("scopes")
            .unwrap_or_default()
            .split([',', ' '])
            .filter(|s| !s.is_empty())
            .map(str::to_string)
            .collect();
        scopes.sort();
        scopes.dedup();
        if scopes.is_empty() {
            "all-apis".into()
        } else {
            scopes.join(" ")
        }
    }

    fn oidc(&self) -> oidc::Settings<'_> {
        oidc::Settings {
            client_id: self.value("client_id"),
            audience: self.value("token_audience"),
            token_env: self.value("oidc_token_env"),
            token_file: self.value("oidc_token_filepath"),
            scopes: self.scopes(),
            env: self.env,
        }
    }

    fn m2m(&self) -> Option<(Method, String)> {
        let (id, source) = (self.pick)("client_id")?;
        let (secret, _) = (self.pick)("client_secret")?;
        Some((
            Method::OAuthM2M {
                client_id: id,
                client_secret: Secret::new(secret),
                scopes: self.scopes(),
            },
            source,
        ))
    }

    fn federated(&self, f: oidc::Federated) -> (Method, String) {
        let source = match (self.pick)("client_id") {
            Some((id, from)) => format!("service principal {id}, client id from {from}"),
            None => format!("account-wide token federation ({})", f.supplier.auth_type()),
        };
        (Method::Oidc(f), source)
    }
}

/// The `auth_type` values we know (the SDKs' names).
pub const AUTH_TYPES: &[&str] = &[
    "pat",
    "oauth-m2m",
    "azure-cli",
    "databricks-cli",
    "external-browser",
    "github-oidc",
    "azure-devops-oidc",
    "env-oidc",
    "file-oidc",
];

/// The method `auth_type` (`kind`, from `from`) names; `None` when its settings are missing.
pub fn by_auth_type(kind: &str, from: &str, i: &Inputs<'_>) -> Result<Option<(Method, String)>> {
    Ok(match kind {
        "pat" => (i.pick)("token").map(|(t, s)| (Method::Pat(Secret::new(t)), s)),
        "oauth-m2m" => i.m2m(),
        "azure-cli" => Some((Method::AzureCli, "the Azure CLI (az)".to_string())),
        "databricks-cli" | "external-browser" => Some((
            Method::DatabricksCli {
                external_browser: kind == "external-browser",
            },
            format!(
                "the Databricks CLI's login (`databricks auth token`; auth_type `{kind}` from {from})"
            ),
        )),
        kind if oidc::AUTH_TYPES.contains(&kind) => {
            let method = oidc::method_for(kind, i.oidc()).map_err(|(why, help)| {
                Error::usage(format!("{why} (auth_type from {from})")).with_help(help)
            })?;
            Some(i.federated(method))
        }
        other => {
            return Err(
                Error::usage(format!("unknown auth_type `{other}` (from {from})")).with_help(
                    crate::support::diagnostic::suggestion(
                        "auth types",
                        other,
                        AUTH_TYPES.iter().copied(),
                    ),
                ),
            );
        }
    })
}

/// With no `auth_type`: a token, else a client secret (both set is ambiguous here, where the
/// SDK silently takes the token), then the OIDC suppliers, then the login tools.
pub fn default_chain(i: &Inputs<'_>) -> Result<Option<(Method, String)>> {
    let token = (i.pick)("token");
    let m2m = i.m2m();
    if token.is_some() && m2m.is_some() {
        return Err(Error::usage(
            "both a token and a client id/secret are set, so the authentication method is ambiguous",
        )
        .with_help("set `auth_type` (DATABRICKS_AUTH_TYPE) to `pat` or `oauth-m2m`, or remove one of them"));
    }
    if let Some((t, s)) = token {
        return Ok(Some((Method::Pat(Secret::new(t)), s)));
    }
    if let Some(m) = m2m {
        return Ok(Some(m));
    }
    basic_is_not_supported(i)?;
    if let Some(f) = oidc::detect(i.oidc()) {
        return Ok(Some(i.federated(f)));
    }
    Ok(login_tool(i))
}

/// `basic_auth`: Databricks has turned username/password off for workspaces; say so rather
/// than "no credentials".
fn basic_is_not_supported(i: &Inputs<'_>) -> Result<()> {
    match ((i.pick)("username"), (i.pick)("password")) {
        (Some((_, from)), Some(_)) => Err(Error::usage(format!(
            "a username and password are set ({from}), but cargo mlops does not take basic authentication: Databricks has turned it off for workspaces"
        ))
        .with_help("authenticate with a personal access token (DATABRICKS_TOKEN), a service principal (DATABRICKS_CLIENT_ID/DATABRICKS_CLIENT_SECRET), or `databricks auth login`")),
        _ => Ok(()),
    }
}

/// The SDK's chain ends with the login tools: `azure_cli` on an Azure workspace
/// (`credentials_provider.py` `azure_cli`, which skips itself when `az` is not installed),
/// then `databricks_cli` (skipped when the CLI is not found). Picked here by the tool being
/// on PATH; a tool whose login is missing says so on the first request.
fn login_tool(i: &Inputs<'_>) -> Option<(Method, String)> {
    let azure = i.host.ends_with(".azuredatabricks.net");
    if azure && on_path(i.env, "az") {
        return Some((
            Method::AzureCli,
            "the Azure CLI (az; the SDKs' default chain on an Azure workspace)".into(),
        ));
    }
    if on_path(i.env, "databricks") {
        return Some((
            Method::DatabricksCli {
                external_browser: false,
            },
            "the Databricks CLI's login (`databricks auth token`; the SDKs' default chain)".into(),
        ));
    }
    None
}

/// Whether an executable `name` is in one of `PATH`'s folders.
fn on_path(env: &dyn Fn(&str) -> Option<String>, name: &str) -> bool {
    let Some(path) = env("PATH") else {
        return false;
    };
    std::env::split_paths(&path).any(|dir| executable(&dir.join(name)))
}

#[cfg(unix)]
fn executable(path: &std::path::Path) -> bool {
    use std::os::unix::fs::PermissionsExt;
    fs_err::metadata(path).is_ok_and(|m| m.is_file() && m.permissions().mode() & 0o111 != 0)
}

#[cfg(not(unix))]
fn executable(path: &std::path::Path) -> bool {
    ["exe", "cmd", "bat"]
        .iter()
        .any(|ext| path.with_extension(ext).is_file())
}
