//! An MLflow tracking server named by `MLFLOW_TRACKING_URI=http(s)://...`, read over MLflow's
//! REST API with our own client, so that `runs`, `compare` and the registry lookups of
//! `release` start no Python there either. Every write still goes through MLflow's client.
//!
//! The credentials are MLflow's (`mlflow/utils/credentials.py` `get_default_host_creds`,
//! sent as `mlflow/utils/rest_utils.py` `http_request` sends them): basic authentication when a
//! user name and a password are both known, each from `MLFLOW_TRACKING_USERNAME`/`_PASSWORD`
//! or else from `~/.mlflow/credentials` (`read_mlflow_creds`), else the bearer
//! `MLFLOW_TRACKING_TOKEN`, else none. What this client does not do as MLflow does (an auth
//! plugin, AWS SigV4, TLS settings, a workspace header) leaves the reading to MLflow's client.

use crate::databricks::Client;
use crate::databricks::auth::{Config, Method};
use crate::databricks::secret::Secret;

/// Settings only MLflow's client honours: with any of them set, MLflow reads the server.
const MLFLOW_ONLY: &[&str] = &[
    "MLFLOW_TRACKING_AUTH",
    "MLFLOW_TRACKING_AWS_SIGV4",
    "MLFLOW_TRACKING_INSECURE_TLS",
    "MLFLOW_TRACKING_CLIENT_CERT_PATH",
    "MLFLOW_TRACKING_SERVER_CERT_PATH",
    "MLFLOW_WORKSPACE",
    "MLOPS_READ_STORE_WITH_MLFLOW",
];

/// A client for the tracking server `uri` names, or `None` when MLflow's client must read it
/// (not an http(s) server, or a setting only MLflow honours).
pub fn client(uri: &str) -> Option<Client> {
    client_with(uri, &|k| std::env::var(k).ok().filter(|v| !v.is_empty()))
}

fn client_with(uri: &str, env: &dyn Fn(&str) -> Option<String>) -> Option<Client> {
    let url = reqwest::Url::parse(uri).ok()?;
    if !matches!(url.scheme(), "http" | "https") || MLFLOW_ONLY.iter().any(|k| env(k).is_some()) {
        return None;
    }
    let (file_user, file_password) = credentials_file(env);
    let method = match (
        env("MLFLOW_TRACKING_USERNAME").or(file_user),
        env("MLFLOW_TRACKING_PASSWORD").or(file_password),
        env("MLFLOW_TRACKING_TOKEN"),
    ) {
        (Some(username), Some(password), _) => Method::Basic {
            username,
            password: Secret::new(password),
        },
        (_, _, Some(token)) => Method::Pat(Secret::new(token)),
        _ => Method::Anonymous,
    };
    Client::new(Config {
        host: uri.trim_end_matches('/').to_string(),
        method,
        source: "MLFLOW_TRACKING_URI".into(),
    })
    .ok()
}

/// The user name and password in `~/.mlflow/credentials`, read as
/// `_read_mlflow_creds_from_file` reads them: the `[mlflow]` section (configparser's DEFAULT
/// values fill its gaps), keys `mlflow_tracking_username` and `mlflow_tracking_password`.
fn credentials_file(env: &dyn Fn(&str) -> Option<String>) -> (Option<String>, Option<String>) {
    let Some(home) = env("HOME") else {
        return (None, None);
    };
    let path = std::path::Path::new(&home).join(".mlflow/credentials");
    let Ok(text) = fs_err::read_to_string(path) else {
        return (None, None);
    };
    let ini = crate::databricks::config_file::parse_ini(&text);
    let Some(section) = ini.get("mlflow") else {
        return (None, None);
    };
    let get = |key: &str| {
        section
            .get(key)
            .or_else(|| ini.get("DEFAULT").and_then(|d| d.get(key)))
            .filter(|v| !v.is_empty())
            .cloned()
    };
    (
        get("mlflow_tracking_username"),
        get("mlflow_tracking_password"),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    fn env<'a>(vars: &'a [(&'a str, &'a str)]) -> impl Fn(&str) -> Option<String> + 'a {
        move |k| {
            vars.iter()
                .find(|(n, _)| *n == k)
                .map(|(_, v)| v.to_string())
        }
    }

    #[test]
    fn mlflows_credentials_in_mlflows_order() {
        let basic = client_with(
            "https://mlflow.example.com/",
            &env(&[
                ("MLFLOW_TRACKING_USERNAME", "ada"),
                ("MLFLOW_TRACKING_PASSWORD", "pw"),
                ("MLFLOW_TRACKING_TOKEN", "t"),
            ]),
        )
        .unwrap();
        assert_eq!(basic.method_name(), "basic");
        assert_eq!(basic.host, "https://mlflow.example.com");
        let token = client_with(
            "http://10.0.0.5:5000",
            &env(&[
                ("MLFLOW_TRACKING_USERNAME", "ada"),
                ("MLFLOW_TRACKING_TOKEN", "t"),
            ]),
        )
        .unwrap();
        assert_eq!(token.method_name(), "pat");
        for uri in [
            "sqlite:///x.db",
            "databricks",
            "file:///tmp/mlruns",
            "postgresql://h/db",
        ] {
            assert!(client_with(uri, &env(&[])).is_none(), "{uri}");
        }
        assert!(
            client_with(
                "https://mlflow.example.com",
                &env(&[("MLFLOW_TRACKING_INSECURE_TLS", "true")])
            )
            .is_none()
        );
    }

    #[test]
    fn the_credentials_file_is_merged_with_the_environment_as_mlflow_merges_it() {
        let home = tempfile::tempdir().unwrap();
        let h = home.path().to_str().unwrap().to_string();
        fs_err::create_dir_all(home.path().join(".mlflow")).unwrap();
        fs_err::write(
            home.path().join(".mlflow/credentials"),
            "[mlflow]\nmlflow_tracking_username = ada\nmlflow_tracking_password = from-file\n",
        )
        .unwrap();
        let uri = "https://mlflow.example.com";
        // The file alone: basic.
        let c = client_with(uri, &env(&[("HOME", &h)])).unwrap();
        assert_eq!(c.method_name(), "basic");
        // A password from the environment and the user from the file: still basic (field by
        // field), and basic outranks a token, as `http_request` sends it.
        let c = client_with(
            uri,
            &env(&[
                ("HOME", &h),
                ("MLFLOW_TRACKING_PASSWORD", "env"),
                ("MLFLOW_TRACKING_TOKEN", "t"),
            ]),
        )
        .unwrap();
        assert_eq!(c.method_name(), "basic");
        // A file with only a user name and a token in the environment: the token.
        fs_err::write(
            home.path().join(".mlflow/credentials"),
            "[mlflow]\nmlflow_tracking_username = ada\n",
        )
        .unwrap();
        let c = client_with(uri, &env(&[("HOME", &h), ("MLFLOW_TRACKING_TOKEN", "t")])).unwrap();
        assert_eq!(c.method_name(), "pat");
    }
}
