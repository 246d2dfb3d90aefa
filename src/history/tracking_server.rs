//! An MLflow tracking server named by `MLFLOW_TRACKING_URI=http(s)://...`, read over MLflow's
//! REST API with our own client, so that `runs`, `compare` and the registry lookups of
//! `release` start no Python there either. Every write still goes through MLflow's client.
//!
//! The credentials are MLflow's (`mlflow/utils/credentials.py` `get_default_host_creds`,
//! sent as `mlflow/utils/rest_utils.py` `http_request` sends them): basic authentication from
//! `MLFLOW_TRACKING_USERNAME`/`MLFLOW_TRACKING_PASSWORD` first, else the bearer
//! `MLFLOW_TRACKING_TOKEN`, else none. What this client does not do as MLflow does (an auth
//! plugin, AWS SigV4, TLS settings, a workspace header, credentials in `~/.mlflow/credentials`)
//! leaves the reading to MLflow's client.

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
    let method = match (
        env("MLFLOW_TRACKING_USERNAME"),
        env("MLFLOW_TRACKING_PASSWORD"),
        env("MLFLOW_TRACKING_TOKEN"),
    ) {
        (Some(username), Some(password), _) => Method::Basic {
            username,
            password: Secret::new(password),
        },
        (_, _, Some(token)) => Method::Pat(Secret::new(token)),
        // MLflow also reads the user name and password from `~/.mlflow/credentials`.
        _ if env("HOME").is_some_and(|h| {
            std::path::Path::new(&h)
                .join(".mlflow/credentials")
                .exists()
        }) =>
        {
            return None;
        }
        _ => Method::Anonymous,
    };
    Client::new(Config {
        host: uri.trim_end_matches('/').to_string(),
        method,
        source: "MLFLOW_TRACKING_URI".into(),
    })
    .ok()
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
}
