//! Databricks unified authentication, as the SDKs do it: explicit (target) settings, then
//! `DATABRICKS_*` environment variables, then a `~/.databrickscfg` profile (`layers.rs`);
//! then personal access tokens, OAuth machine-to-machine, workload identity federation or a
//! login tool (`methods.rs`).

mod config;
mod layers;
mod methods;

use crate::error::{Error, Result};
pub use config::{AZURE_DATABRICKS_RESOURCE, Config, Method, Settings};

pub use methods::AUTH_TYPES;

/// Resolves the target's workspace and credentials, with no network: the SDK's loaders in
/// their order (`layers.rs`), the host from the first layer that has one, then the
/// credentials (`methods.rs`).
pub fn resolve(settings: &Settings<'_>) -> Result<Config> {
    let env = |k: &str| (settings.env)(k).filter(|v| !v.trim().is_empty());
    let mut tried = vec![format!("environment ({})", layers::environment_names())];
    let target = layers::target(settings);
    let from_env = layers::environment(&env);
    let named = settings
        .profile
        .map(str::to_string)
        .or_else(|| env("DATABRICKS_CONFIG_PROFILE"));
    let before = layers::Before {
        target: &target,
        env: &from_env,
        named,
    };
    let profile = layers::file(&env, &before, &mut tried)?;
    let all: Vec<&layers::Layer> = [Some(&target), Some(&from_env), profile.as_ref()]
        .into_iter()
        .flatten()
        .collect();
    let pick = |key: &str| -> methods::Picked {
        all.iter()
            .find_map(|l| l.values.get(key).map(|v| (v.clone(), l.name.clone())))
    };
    let host = host(settings, &pick, &tried)?;
    let inputs = methods::Inputs {
        pick: &pick,
        env: &env,
        host: &host,
    };
    let found = match pick("auth_type") {
        Some((kind, from)) => methods::by_auth_type(&kind, &from, &inputs)?,
        None => methods::default_chain(&inputs)?,
    };
    let Some((method, source)) = found else {
        return Err(Error::usage(format!(
            "no Databricks credentials for {host} (target `{}`); tried: {}",
            settings.target,
            tried.join(", ")
        ))
        .with_help(HELP));
    };
    if let Method::Pat(t) = &method {
        if t.is_empty() {
            return Err(Error::usage(format!("the token from {source} is empty")).with_help(HELP));
        }
    }
    Ok(Config {
        host,
        method,
        source,
    })
}

const HELP: &str = "set DATABRICKS_HOST and DATABRICKS_TOKEN, or add `host` and `token` to a profile in ~/.databrickscfg (and name it with `profile = ...` in the target), or use a service principal (DATABRICKS_CLIENT_ID/DATABRICKS_CLIENT_SECRET), or `auth_type = databricks-cli` after `databricks auth login`, or `auth_type = azure-cli` after `az login`, or in CI without a secret `auth_type = github-oidc` (or `azure-devops-oidc`, `env-oidc`, `file-oidc`) with DATABRICKS_CLIENT_ID";

/// The workspace URL from the first layer that sets one, normalised.
fn host(
    settings: &Settings<'_>,
    pick: &dyn Fn(&str) -> methods::Picked,
    tried: &[String],
) -> Result<String> {
    let Some((raw, from)) = pick("host") else {
        return Err(Error::usage(format!(
            "no Databricks host for target `{}`; tried: target settings, {}",
            settings.target,
            tried.join(", ")
        ))
        .with_help(HELP));
    };
    super::host::normalize_host(&raw).map_err(|why| {
        Error::usage(format!("host `{raw}` (from {from}): {why}")).with_help(
            "use the workspace URL, e.g. https://adb-1234567890123456.7.azuredatabricks.net",
        )
    })
}

#[cfg(test)]
mod tests {
    use std::collections::HashMap;

    use crate::databricks::secret::Secret;

    use super::*;

    struct Env {
        vars: HashMap<String, String>,
        _home: tempfile::TempDir,
    }

    fn env(vars: &[(&str, &str)], cfg: Option<&str>) -> Env {
        let home = tempfile::tempdir().unwrap();
        let mut map: HashMap<String, String> = vars
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        map.insert("HOME".into(), home.path().to_string_lossy().into_owned());
        if let Some(text) = cfg {
            fs_err::write(home.path().join(".databrickscfg"), text).unwrap();
        }
        Env {
            vars: map,
            _home: home,
        }
    }

    fn resolve_with(e: &Env, host: Option<&str>, profile: Option<&str>) -> Result<Config> {
        resolve(&Settings {
            target: "dev",
            host,
            profile,
            env: &|k| e.vars.get(k).cloned(),
        })
    }

    #[test]
    fn environment_token() {
        let e = env(
            &[
                ("DATABRICKS_HOST", "adb-1.2.azuredatabricks.net/"),
                ("DATABRICKS_TOKEN", "dapiSECRET"),
            ],
            None,
        );
        let c = resolve_with(&e, None, None).unwrap();
        assert_eq!(c.host, "https://adb-1.2.azuredatabricks.net");
        assert_eq!(c.method, Method::Pat(Secret::new("dapiSECRET")));
        assert!(!format!("{c:?}").contains("dapiSECRET"));
    }

    #[test]
    fn target_settings_win_then_env_then_profile() {
        let cfg = "[DEFAULT]\nhost = https://from-profile\ntoken = ptoken\n[other]\nhost = https://other\ntoken = otoken\n";
        let e = env(&[("DATABRICKS_TOKEN", "etoken")], Some(cfg));
        let c = resolve_with(&e, Some("https://from-target"), None).unwrap();
        assert_eq!(c.host, "https://from-target");
        assert_eq!(c.method, Method::Pat(Secret::new("etoken")));
        let e = env(&[], Some(cfg));
        let c = resolve_with(&e, None, None).unwrap();
        assert_eq!(
            (c.host.as_str(), c.source.contains("DEFAULT")),
            ("https://from-profile", true)
        );
        let c = resolve_with(&e, None, Some("other")).unwrap();
        assert_eq!(c.method, Method::Pat(Secret::new("otoken")));
        let e = env(&[("DATABRICKS_CONFIG_PROFILE", "other")], Some(cfg));
        assert_eq!(resolve_with(&e, None, None).unwrap().host, "https://other");
    }

    #[test]
    fn settings_default_profile_and_missing_profiles() {
        let cfg = "[__settings__]\ndefault_profile = prod\n[prod]\nhost = prod.cloud.databricks.com\ntoken = t\n";
        let e = env(&[], Some(cfg));
        assert_eq!(
            resolve_with(&e, None, None).unwrap().host,
            "https://prod.cloud.databricks.com"
        );
        let err = resolve_with(&e, None, Some("nope")).unwrap_err();
        assert!(
            err.message().contains("profile `nope` is not in"),
            "{}",
            err.message()
        );
        assert!(err.help().unwrap().contains("prod"));
        let e = env(&[], None);
        let err = resolve_with(&e, None, Some("nope")).unwrap_err();
        assert!(err.message().contains("does not exist"));
        // Complete environment credentials outrank the profile, so its absence is no error.
        let e = env(
            &[("DATABRICKS_HOST", "https://x"), ("DATABRICKS_TOKEN", "t")],
            None,
        );
        assert_eq!(
            resolve_with(&e, None, Some("DEFAULT")).unwrap().host,
            "https://x"
        );
    }

    #[test]
    fn config_file_from_env() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("cfg");
        fs_err::write(&path, "[DEFAULT]\nhost = https://x\ntoken = t\n").unwrap();
        let e = env(&[("DATABRICKS_CONFIG_FILE", path.to_str().unwrap())], None);
        assert_eq!(resolve_with(&e, None, None).unwrap().host, "https://x");
    }

    #[test]
    fn oauth_and_ambiguity() {
        let e = env(
            &[
                ("DATABRICKS_HOST", "https://x"),
                ("DATABRICKS_CLIENT_ID", "id"),
                ("DATABRICKS_CLIENT_SECRET", "sec"),
            ],
            None,
        );
        let c = resolve_with(&e, None, None).unwrap();
        assert!(matches!(c.method, Method::OAuthM2M { ref client_id, .. } if client_id == "id"));
        let e = env(
            &[
                ("DATABRICKS_HOST", "https://x"),
                ("DATABRICKS_TOKEN", "t"),
                ("DATABRICKS_CLIENT_ID", "id"),
                ("DATABRICKS_CLIENT_SECRET", "sec"),
            ],
            None,
        );
        let err = resolve_with(&e, None, None).unwrap_err();
        assert!(err.message().contains("ambiguous"));
        assert!(err.help().unwrap().contains("auth_type"));
        let e = env(
            &[
                ("DATABRICKS_HOST", "https://x"),
                ("DATABRICKS_TOKEN", "t"),
                ("DATABRICKS_CLIENT_ID", "id"),
                ("DATABRICKS_CLIENT_SECRET", "sec"),
                ("DATABRICKS_AUTH_TYPE", "oauth-m2m"),
            ],
            None,
        );
        assert_eq!(
            resolve_with(&e, None, None).unwrap().method.name(),
            "oauth-m2m"
        );
        let e = env(
            &[
                ("DATABRICKS_HOST", "https://x"),
                ("DATABRICKS_AUTH_TYPE", "azure-cli"),
            ],
            None,
        );
        assert_eq!(
            resolve_with(&e, None, None).unwrap().method,
            Method::AzureCli
        );
    }

    #[test]
    fn missing_credentials_say_what_was_tried() {
        let e = env(&[("DATABRICKS_HOST", "https://x")], None);
        let err = resolve_with(&e, None, None).unwrap_err();
        assert_eq!(err.exit_code(), 2);
        assert!(
            err.message()
                .contains("no Databricks credentials for https://x"),
            "{}",
            err.message()
        );
        assert!(err.message().contains("DATABRICKS_TOKEN"));
        assert!(err.message().contains(".databrickscfg (missing)"));
        assert!(err.help().unwrap().contains("DATABRICKS_TOKEN"));
        let err = resolve_with(&env(&[], None), None, None).unwrap_err();
        assert!(err.message().contains("no Databricks host"));
    }

    #[test]
    fn a_named_profile_for_another_workspace_is_refused_as_the_cli_refuses_it() {
        let cfg = "[dev]\nhost = https://dev.cloud.databricks.com\ntoken = devtoken\n[prod]\nhost = https://prod.cloud.databricks.com\ntoken = prodtoken\n";
        let e = env(&[], Some(cfg));
        let err =
            resolve_with(&e, Some("https://prod.cloud.databricks.com"), Some("dev")).unwrap_err();
        assert!(
            err.message().contains("profile `dev`")
                && err
                    .message()
                    .contains("is for https://dev.cloud.databricks.com")
                && err
                    .message()
                    .contains("sets the host https://prod.cloud.databricks.com"),
            "{}",
            err.message()
        );
        assert!(
            err.help().unwrap().contains("profile `prod`"),
            "{:?}",
            err.help()
        );
        // The same host, written another way, is the same workspace.
        let c = resolve_with(&e, Some("prod.cloud.databricks.com/"), Some("prod")).unwrap();
        assert_eq!(c.method, Method::Pat(Secret::new("prodtoken")));
        // DATABRICKS_HOST is checked the same way.
        let e = env(
            &[
                ("DATABRICKS_HOST", "https://prod.cloud.databricks.com"),
                ("DATABRICKS_CONFIG_PROFILE", "dev"),
            ],
            Some(cfg),
        );
        assert!(
            resolve_with(&e, None, None)
                .unwrap_err()
                .message()
                .contains("DATABRICKS_HOST sets the host")
        );
    }

    #[test]
    fn every_credential_the_sdk_counts_keeps_the_config_file_out() {
        // A profile for the host would be matched by its host (the CLI's step) were no
        // credential configured; an OIDC token variable, an ARM_* service principal or a
        // username count as configured, as `Config.is_any_auth_configured` counts them.
        let cfg = "[ws]\nhost = https://x.cloud.databricks.com\ntoken = filetoken\n";
        for var in [
            "DATABRICKS_OIDC_TOKEN_ENV",
            "ARM_CLIENT_ID",
            "DATABRICKS_USERNAME",
            "DATABRICKS_OIDC_TOKEN_FILE",
        ] {
            let e = env(
                &[
                    ("DATABRICKS_HOST", "https://x.cloud.databricks.com"),
                    (var, "MY_VALUE"),
                    ("PATH", ""),
                ],
                Some(cfg),
            );
            match resolve_with(&e, None, None) {
                Ok(c) => assert_ne!(c.method, Method::Pat(Secret::new("filetoken")), "{var}"),
                Err(err) => assert!(
                    err.message().contains("not read"),
                    "{var}: {}",
                    err.message()
                ),
            }
        }
        let e = env(
            &[("DATABRICKS_HOST", "https://x.cloud.databricks.com")],
            Some(cfg),
        );
        assert_eq!(
            resolve_with(&e, None, None).unwrap().method,
            Method::Pat(Secret::new("filetoken"))
        );
    }

    /// A folder with executables `names` (shell scripts that fail), for PATH.
    fn tools(names: &[&str]) -> tempfile::TempDir {
        use std::os::unix::fs::PermissionsExt;
        let dir = tempfile::tempdir().unwrap();
        for name in names {
            let p = dir.path().join(name);
            fs_err::write(&p, "#!/bin/sh\nexit 1\n").unwrap();
            std::fs::set_permissions(&p, std::fs::Permissions::from_mode(0o755)).unwrap();
        }
        dir
    }

    #[test]
    fn with_no_auth_type_the_default_chain_goes_on_to_the_login_tools() {
        let both = tools(&["az", "databricks"]);
        let path = both.path().to_str().unwrap();
        let azure = env(
            &[
                ("DATABRICKS_HOST", "https://adb-1.2.azuredatabricks.net"),
                ("PATH", path),
            ],
            None,
        );
        assert_eq!(
            resolve_with(&azure, None, None).unwrap().method,
            Method::AzureCli
        );
        let aws = env(
            &[
                ("DATABRICKS_HOST", "https://x.cloud.databricks.com"),
                ("PATH", path),
            ],
            None,
        );
        assert_eq!(
            resolve_with(&aws, None, None).unwrap().method,
            Method::DatabricksCli {
                external_browser: false
            }
        );
        let none = tools(&[]);
        let bare = env(
            &[
                ("DATABRICKS_HOST", "https://adb-1.2.azuredatabricks.net"),
                ("PATH", none.path().to_str().unwrap()),
            ],
            None,
        );
        assert!(
            resolve_with(&bare, None, None)
                .unwrap_err()
                .message()
                .contains("no Databricks credentials")
        );
    }

    #[test]
    fn oidc_by_name_needs_no_client_id_file_oidc_reads_a_file_and_scopes_are_sent() {
        let e = env(
            &[
                ("DATABRICKS_HOST", "https://x"),
                ("DATABRICKS_AUTH_TYPE", "github-oidc"),
                ("ACTIONS_ID_TOKEN_REQUEST_URL", "https://gh/t?x=1"),
                ("ACTIONS_ID_TOKEN_REQUEST_TOKEN", "rt"),
            ],
            None,
        );
        let c = resolve_with(&e, None, None).unwrap();
        assert!(
            matches!(&c.method, Method::Oidc(f) if f.client_id.is_none()),
            "{:?}",
            c.method
        );
        assert!(c.source.contains("account-wide"), "{}", c.source);

        let e = env(
            &[
                ("DATABRICKS_HOST", "https://x"),
                ("DATABRICKS_OIDC_TOKEN_FILEPATH", "/var/run/token"),
            ],
            None,
        );
        let c = resolve_with(&e, None, None).unwrap();
        assert_eq!(c.method.name(), "file-oidc");
        let e = env(
            &[
                ("DATABRICKS_HOST", "https://x"),
                ("DATABRICKS_AUTH_TYPE", "file-oidc"),
            ],
            None,
        );
        assert!(
            resolve_with(&e, None, None)
                .unwrap_err()
                .help()
                .unwrap()
                .contains("DATABRICKS_OIDC_TOKEN_FILE")
        );

        let cfg = "[sp]\nhost = https://x\nclient_id = id\nclient_secret = s\nscopes = sql, all-apis sql\n";
        let e = env(&[], Some(cfg));
        let c = resolve_with(&e, None, Some("sp")).unwrap();
        assert!(
            matches!(&c.method, Method::OAuthM2M { scopes, .. } if scopes == "all-apis sql"),
            "{:?}",
            c.method
        );
    }

    #[test]
    fn a_username_and_password_are_said_to_be_unsupported() {
        let e = env(
            &[
                ("DATABRICKS_HOST", "https://x"),
                ("DATABRICKS_USERNAME", "u"),
                ("DATABRICKS_PASSWORD", "p"),
            ],
            None,
        );
        let err = resolve_with(&e, None, None).unwrap_err();
        assert!(
            err.message().contains("basic authentication"),
            "{}",
            err.message()
        );
    }
}
