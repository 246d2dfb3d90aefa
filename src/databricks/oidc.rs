//! Workload identity federation: the CI system's OIDC ID token is exchanged at the workspace's
//! `/oidc/v1/token` for a workspace token, so CI holds no long-lived Databricks secret. This
//! follows databricks-sdk-py: `credentials_provider.py` (`github_oidc`, `azure_devops_oidc`,
//! `env_oidc`, and `_oidc_credentials_provider` for the exchange), `oidc_token_supplier.py`
//! (`GitHubOIDCTokenSupplier`, `AzureDevOpsOIDCTokenSupplier`) and `oidc.py`
//! (`DatabricksOidcTokenSource._exchange_id_token`).

use percent_encoding::{NON_ALPHANUMERIC, utf8_percent_encode};

use super::error::ApiError;
use super::secret::Secret;

/// Where the CI system's ID token comes from.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Supplier {
    /// GitHub Actions: `GET $ACTIONS_ID_TOKEN_REQUEST_URL&audience=...` with
    /// `$ACTIONS_ID_TOKEN_REQUEST_TOKEN`; the answer's `value`.
    GitHub { url: String, token: Secret },
    /// Azure Pipelines: `POST <oidctoken url>?api-version=7.2-preview.1` with
    /// `$SYSTEM_ACCESSTOKEN`; the answer's `oidcToken` (its audience is fixed by Azure DevOps).
    AzureDevOps { url: String, token: Secret },
    /// The token itself, in an environment variable (`DATABRICKS_OIDC_TOKEN`, or the one
    /// `DATABRICKS_OIDC_TOKEN_ENV` names).
    Env { var: String, token: Secret },
    /// The token in a file, read at each exchange (a Kubernetes projected service account
    /// token is rotated in place): sdk-py `credentials_provider.py` `file_oidc`,
    /// `oidc_token_supplier.py` `FileOIDCTokenSupplier`.
    File { path: String },
}

impl Supplier {
    pub fn auth_type(&self) -> &'static str {
        match self {
            Supplier::GitHub { .. } => "github-oidc",
            Supplier::AzureDevOps { .. } => "azure-devops-oidc",
            Supplier::Env { .. } => "env-oidc",
            Supplier::File { .. } => "file-oidc",
        }
    }

    fn describe(&self) -> String {
        match self {
            Supplier::GitHub { .. } => "GitHub Actions' OIDC token".into(),
            Supplier::AzureDevOps { .. } => "Azure Pipelines' OIDC token".into(),
            Supplier::Env { var, .. } => format!("the OIDC token in {var}"),
            Supplier::File { path } => format!("the OIDC token in {path}"),
        }
    }
}

/// A federated credential: whose ID token, for which service principal and audience.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Federated {
    /// The service principal's application id (`None`: account-wide token federation).
    pub client_id: Option<String>,
    pub supplier: Supplier,
    /// `token_audience`; `None`: the host's advertised one, else the token endpoint.
    pub audience: Option<String>,
    /// The OAuth scopes asked for in the exchange, space-separated (default `all-apis`).
    pub scopes: String,
}

/// The `auth_type`s this module serves.
pub const AUTH_TYPES: &[&str] = &["github-oidc", "azure-devops-oidc", "env-oidc", "file-oidc"];

/// The GitHub Actions supplier, when the job may ask for ID tokens.
fn github(env: &dyn Fn(&str) -> Option<String>) -> Option<Supplier> {
    Some(Supplier::GitHub {
        url: env("ACTIONS_ID_TOKEN_REQUEST_URL")?,
        token: Secret::new(env("ACTIONS_ID_TOKEN_REQUEST_TOKEN")?),
    })
}

/// The Azure Pipelines supplier: the URL as `AzureDevOpsOIDCTokenSupplier.get_oidc_token`
/// builds it from the predefined variables, else `SYSTEM_OIDCREQUESTURI` (the same URL, which
/// Azure DevOps also gives whole).
fn azure_devops(env: &dyn Fn(&str) -> Option<String>) -> Option<Supplier> {
    let token = Secret::new(env("SYSTEM_ACCESSTOKEN")?);
    let parts = [
        "SYSTEM_TEAMFOUNDATIONCOLLECTIONURI",
        "SYSTEM_TEAMPROJECTID",
        "SYSTEM_HOSTTYPE",
        "SYSTEM_PLANID",
        "SYSTEM_JOBID",
    ]
    .map(env);
    let url = match parts {
        [
            Some(collection),
            Some(project),
            Some(hub),
            Some(plan),
            Some(job),
        ] => format!(
            "{collection}{project}/_apis/distributedtask/hubs/{hub}/plans/{plan}/jobs/{job}/oidctoken"
        ),
        _ => env("SYSTEM_OIDCREQUESTURI")?,
    };
    Some(Supplier::AzureDevOps { url, token })
}

fn from_env(var: Option<String>, env: &dyn Fn(&str) -> Option<String>) -> Option<Supplier> {
    let var = var.unwrap_or_else(|| "DATABRICKS_OIDC_TOKEN".into());
    let token = Secret::new(env(&var)?);
    Some(Supplier::Env { var, token })
}

/// What a resolved configuration gives an OIDC method.
pub struct Settings<'a> {
    pub client_id: Option<String>,
    pub audience: Option<String>,
    /// `oidc_token_env` (`DATABRICKS_OIDC_TOKEN_ENV`).
    pub token_env: Option<String>,
    /// `oidc_token_filepath` (`DATABRICKS_OIDC_TOKEN_FILE`).
    pub token_file: Option<String>,
    /// `scopes`, space-separated.
    pub scopes: String,
    pub env: &'a dyn Fn(&str) -> Option<String>,
}

/// The method an explicit `auth_type` asks for, or why it cannot be used here.
pub fn method_for(kind: &str, s: Settings<'_>) -> Result<Federated, (String, String)> {
    let supplier = match kind {
        "github-oidc" => github(s.env).ok_or_else(|| {
            (
                "auth_type `github-oidc` needs the job's ID token, but ACTIONS_ID_TOKEN_REQUEST_URL/ACTIONS_ID_TOKEN_REQUEST_TOKEN are not set".to_string(),
                "give the job `permissions: id-token: write` in the workflow (GitHub sets those variables only then)".to_string(),
            )
        })?,
        "azure-devops-oidc" => azure_devops(s.env).ok_or_else(|| {
            (
                "auth_type `azure-devops-oidc` needs SYSTEM_ACCESSTOKEN and the pipeline's OIDC request URL (SYSTEM_OIDCREQUESTURI)".to_string(),
                "map the token into the step: `env: SYSTEM_ACCESSTOKEN: $(System.AccessToken)`".to_string(),
            )
        })?,
        "file-oidc" => s.token_file.clone().map(|path| Supplier::File { path }).ok_or_else(|| {
            (
                "auth_type `file-oidc` reads the ID token from a file, but no file is named".to_string(),
                "set DATABRICKS_OIDC_TOKEN_FILE (or `oidc_token_filepath` in the profile) to the token file's path".to_string(),
            )
        })?,
        _ => from_env(s.token_env.clone(), s.env).ok_or_else(|| {
            let var = s.token_env.clone().unwrap_or_else(|| "DATABRICKS_OIDC_TOKEN".into());
            (
                format!("auth_type `env-oidc` reads the ID token from {var}, which is not set"),
                format!("put the CI system's OIDC ID token in {var} (or name another variable with DATABRICKS_OIDC_TOKEN_ENV)"),
            )
        })?,
    };
    // No client id is account-wide token federation, which the Go SDK and the CLI allow for
    // every OIDC type asked for by name (the exchange then sends none).
    Ok(Federated {
        client_id: s.client_id,
        supplier,
        audience: s.audience,
        scopes: s.scopes,
    })
}

/// With no `auth_type`, the method the SDKs' default chain would find after a token and a
/// client secret (`DefaultCredentials` in `credentials_provider.py`: `env_oidc`, `file_oidc`,
/// then `github_oidc`, then `azure_devops_oidc`). Found by detection, the CI systems' tokens
/// need a client id here: a job that may ask for ID tokens for another cloud is not taken for
/// a Databricks federation unless it names a service principal (or asks by `auth_type`).
pub fn detect(s: Settings<'_>) -> Option<Federated> {
    let supplier = from_env(s.token_env.clone(), s.env)
        .or_else(|| s.token_file.clone().map(|path| Supplier::File { path }))
        .or_else(|| {
            s.client_id.as_ref()?;
            github(s.env).or_else(|| azure_devops(s.env))
        })?;
    Some(Federated {
        client_id: s.client_id,
        supplier,
        audience: s.audience,
        scopes: s.scopes,
    })
}

/// The ID token, from the CI system. `audience` is what the workspace's federation policy
/// expects (by default the workspace's token endpoint, as `_oidc_credentials_provider` says).
pub fn id_token(
    http: &reqwest::blocking::Client,
    host: &str,
    supplier: &Supplier,
    audience: &str,
) -> Result<Secret, ApiError> {
    let fail = |why: String, help: &str| {
        ApiError::login(host, &supplier.describe(), &why, help.to_string())
    };
    let (request, field) = match supplier {
        Supplier::Env { token, .. } => return Ok(token.clone()),
        Supplier::File { path } => {
            let help = "check the path of the token file (DATABRICKS_OIDC_TOKEN_FILE)";
            return match fs_err::read_to_string(path) {
                Ok(text) if !text.trim().is_empty() => Ok(Secret::new(text.trim())),
                Ok(_) => Err(fail(format!("{path} is empty"), help)),
                Err(e) => Err(fail(format!("cannot read it: {e}"), help)),
            };
        }
        Supplier::GitHub { url, token } => (
            http.get(format!(
                "{url}&audience={}",
                utf8_percent_encode(audience, NON_ALPHANUMERIC)
            ))
            .bearer_auth(token.expose()),
            "value",
        ),
        Supplier::AzureDevOps { url, token } => (
            http.post(format!("{url}?api-version=7.2-preview.1"))
                .bearer_auth(token.expose())
                .header("Content-Type", "application/json")
                .header("Content-Length", "0"),
            "oidcToken",
        ),
    };
    let help = match supplier {
        Supplier::GitHub { .. } => {
            "check that the job has `permissions: id-token: write` and runs in this repository's workflow"
        }
        _ => "check that the pipeline's service connection allows OIDC tokens for this job",
    };
    let answer = request
        .send()
        .map_err(|e| fail(format!("the token request failed: {e}"), help))?;
    let status = answer.status();
    let body: serde_json::Value = answer
        .bytes()
        .ok()
        .and_then(|b| serde_json::from_slice(&b).ok())
        .unwrap_or_default();
    if !status.is_success() {
        return Err(fail(format!("the CI system answered {status}"), help));
    }
    body[field]
        .as_str()
        .map(Secret::new)
        .ok_or_else(|| fail(format!("its answer has no `{field}`"), help))
}

/// The form `_exchange_id_token` posts to `/oidc/v1/token` (`ClientCredentials` with
/// `use_params=True`: the client id in the form, no secret), with the configured `scopes`.
pub fn exchange_form(id_token: &Secret, client_id: Option<&str>, scopes: &str) -> String {
    let enc = |v: &str| utf8_percent_encode(v, NON_ALPHANUMERIC).to_string();
    let mut form = format!(
        "grant_type={}&subject_token_type={}&subject_token={}&scope={}",
        enc("urn:ietf:params:oauth:grant-type:token-exchange"),
        enc("urn:ietf:params:oauth:token-type:jwt"),
        enc(id_token.expose()),
        enc(scopes).replace("%2D", "-"),
    );
    if let Some(id) = client_id {
        form.push_str(&format!("&client_id={}", enc(id)));
    }
    form
}

/// Help for a refused exchange: what the workspace's federation policy must say.
pub fn refused_help(supplier: &Supplier, client_id: Option<&str>, audience: &str) -> String {
    let who = client_id.map_or("the account's federation policy".to_string(), |id| {
        format!("the federation policy of service principal {id}")
    });
    let audience_note = match supplier {
        Supplier::AzureDevOps { .. } => {
            "its audience must be `api://AzureADTokenExchange` (Azure DevOps fixes it)".to_string()
        }
        _ => format!(
            "its audience must be `{audience}` (or set DATABRICKS_TOKEN_AUDIENCE to the policy's audience)"
        ),
    };
    format!(
        "check {who}: its issuer and subject must match this CI job, and {audience_note}; DATABRICKS_CLIENT_ID must be the service principal's application id"
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    fn env_of(vars: &'static [(&'static str, &'static str)]) -> impl Fn(&str) -> Option<String> {
        move |k| {
            vars.iter()
                .find(|(n, _)| *n == k)
                .map(|(_, v)| v.to_string())
        }
    }

    fn settings<'a>(client: Option<&str>, env: &'a dyn Fn(&str) -> Option<String>) -> Settings<'a> {
        Settings {
            client_id: client.map(str::to_string),
            audience: None,
            token_env: None,
            token_file: None,
            scopes: "all-apis".into(),
            env,
        }
    }

    #[test]
    fn azure_devops_url_is_built_as_the_sdk_builds_it() {
        let env = env_of(&[
            ("SYSTEM_ACCESSTOKEN", "t"),
            (
                "SYSTEM_TEAMFOUNDATIONCOLLECTIONURI",
                "https://dev.azure.com/org/",
            ),
            ("SYSTEM_TEAMPROJECTID", "p1"),
            ("SYSTEM_HOSTTYPE", "build"),
            ("SYSTEM_PLANID", "plan"),
            ("SYSTEM_JOBID", "job"),
            ("SYSTEM_OIDCREQUESTURI", "https://elsewhere/"),
        ]);
        let supplier = method_for("azure-devops-oidc", settings(Some("sp"), &env))
            .unwrap()
            .supplier;
        assert_eq!(
            supplier,
            Supplier::AzureDevOps {
                url: "https://dev.azure.com/org/p1/_apis/distributedtask/hubs/build/plans/plan/jobs/job/oidctoken".into(),
                token: Secret::new("t"),
            }
        );
    }

    #[test]
    fn detection_follows_the_sdk_chain_and_needs_a_client_id_for_ci_tokens() {
        let gh = env_of(&[
            ("ACTIONS_ID_TOKEN_REQUEST_URL", "https://gh/token?x=1"),
            ("ACTIONS_ID_TOKEN_REQUEST_TOKEN", "rt"),
        ]);
        assert!(detect(settings(None, &gh)).is_none());
        let m = detect(settings(Some("sp"), &gh)).unwrap();
        assert_eq!(m.supplier.auth_type(), "github-oidc");
        let both = env_of(&[
            ("ACTIONS_ID_TOKEN_REQUEST_URL", "https://gh/token?x=1"),
            ("ACTIONS_ID_TOKEN_REQUEST_TOKEN", "rt"),
            ("DATABRICKS_OIDC_TOKEN", "jwt"),
        ]);
        assert_eq!(
            detect(settings(None, &both)).unwrap().supplier.auth_type(),
            "env-oidc"
        );
        let err = method_for("github-oidc", settings(Some("sp"), &env_of(&[]))).unwrap_err();
        assert!(err.1.contains("id-token: write"), "{err:?}");
        // Asked for by name, no client id is account-wide federation.
        let m = method_for("github-oidc", settings(None, &gh)).unwrap();
        assert_eq!(m.client_id, None);
    }

    #[test]
    fn the_exchange_form_is_the_sdks() {
        let form = exchange_form(&Secret::new("a.b.c"), Some("sp-1"), "all-apis");
        assert_eq!(
            form,
            "grant_type=urn%3Aietf%3Aparams%3Aoauth%3Agrant%2Dtype%3Atoken%2Dexchange&subject_token_type=urn%3Aietf%3Aparams%3Aoauth%3Atoken%2Dtype%3Ajwt&subject_token=a%2Eb%2Ec&scope=all%2Dapis&client_id=sp%2D1".replace("all%2Dapis", "all-apis")
        );
    }
}
