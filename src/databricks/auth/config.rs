//! What credential resolution gives: how requests authenticate ([`Method`]), the resolved
//! connection ([`Config`]), and what a target says ([`Settings`]).

use crate::databricks::secret::Secret;

/// The Azure Databricks application id, the `--resource` of an Azure CLI token.
pub const AZURE_DATABRICKS_RESOURCE: &str = "2ff814a6-3304-4ab8-85cb-cd0e6f879c1d";

/// How requests authenticate.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Method {
    /// A personal access token (or any bearer token).
    Pat(Secret),
    /// OAuth M2M: a service principal's client id and secret, exchanged for tokens.
    OAuthM2M {
        client_id: String,
        client_secret: Secret,
        /// The OAuth scopes asked for, space-separated (`scopes`; default `all-apis`).
        scopes: String,
    },
    /// `az account get-access-token`.
    AzureCli,
    /// `databricks auth token --host <host>`: the login `databricks auth login` made, as the
    /// SDKs' `databricks-cli` auth type does (`external-browser` is the same login, asked
    /// for by its other name).
    DatabricksCli { external_browser: bool },
    /// Workload identity federation: the CI system's OIDC ID token exchanged for a workspace
    /// token (`oidc.rs`).
    Oidc(crate::databricks::oidc::Federated),
    /// HTTP basic authentication: an MLflow tracking server's `MLFLOW_TRACKING_USERNAME` and
    /// `MLFLOW_TRACKING_PASSWORD` (never a Databricks workspace's).
    Basic { username: String, password: Secret },
    /// No credentials: an MLflow tracking server that asks for none.
    Anonymous,
}

impl Method {
    /// The `auth/...` token of the User-Agent.
    pub fn name(&self) -> &'static str {
        match self {
            Method::Pat(_) => "pat",
            Method::OAuthM2M { .. } => "oauth-m2m",
            Method::AzureCli => "azure-cli",
            Method::DatabricksCli {
                external_browser: false,
            } => "databricks-cli",
            Method::DatabricksCli {
                external_browser: true,
            } => "external-browser",
            Method::Oidc(f) => f.supplier.auth_type(),
            Method::Basic { .. } => "basic",
            Method::Anonymous => "none",
        }
    }
}

/// A resolved workspace connection.
#[derive(Clone, Debug)]
pub struct Config {
    /// Normalised: `https://host` (or `http://` on loopback), no trailing `/`, no `:443`.
    pub host: String,
    pub method: Method,
    /// Where the credentials came from, for messages ("DATABRICKS_TOKEN", "profile DEFAULT
    /// in ~/.databrickscfg").
    pub source: String,
}

/// What the target says, and how to read the environment and the home folder.
pub struct Settings<'a> {
    pub target: &'a str,
    pub host: Option<&'a str>,
    pub profile: Option<&'a str>,
    pub env: &'a dyn Fn(&str) -> Option<String>,
}
