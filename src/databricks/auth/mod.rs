//! Databricks unified authentication, as the SDKs do it: explicit (target) settings, then
//! `DATABRICKS_*` environment variables, then a `~/.databrickscfg` profile; personal access
//! tokens, OAuth machine-to-machine, or the Azure CLI.

use std::collections::BTreeMap;
use std::path::PathBuf;

use super::secret::Secret;
use crate::error::{Error, Result};

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
    },
    /// `az account get-access-token`.
    AzureCli,
    /// `databricks auth token --host <host>`: the login `databricks auth login` made, as the
    /// SDKs' `databricks-cli` auth type does (`external-browser` is the same login, asked
    /// for by its other name).
    DatabricksCli { external_browser: bool },
    /// Workload identity federation: the CI system's OIDC ID token exchanged for a workspace
    /// token (`oidc.rs`).
    Oidc(super::oidc::Federated),
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

/// One layer of settings (the target, the environment, a profile).
#[derive(Default, Debug)]
struct Layer {
    name: String,
    values: BTreeMap<&'static str, String>,
}

const KEYS: &[(&str, &str)] = &[
    ("host", "DATABRICKS_HOST"),
    ("token", "DATABRICKS_TOKEN"),
    ("client_id", "DATABRICKS_CLIENT_ID"),
    ("client_secret", "DATABRICKS_CLIENT_SECRET"),
    ("auth_type", "DATABRICKS_AUTH_TYPE"),
    ("token_audience", "DATABRICKS_TOKEN_AUDIENCE"),
    ("oidc_token_env", "DATABRICKS_OIDC_TOKEN_ENV"),
];

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
];

pub fn resolve(settings: &Settings<'_>) -> Result<Config> {
    let env = |k: &str| (settings.env)(k).filter(|v| !v.trim().is_empty());
    let mut tried = Vec::new();

    let mut explicit = Layer {
        name: format!("[targets.{}] in mlops.toml", settings.target),
        ..Layer::default()
    };
    if let Some(host) = settings.host {
        explicit.values.insert("host", host.to_string());
    }

    let mut from_env = Layer {
        name: "environment variables".into(),
        ..Layer::default()
    };
    for (key, var) in KEYS {
        if let Some(v) = env(var) {
            from_env.values.insert(key, v);
        }
    }
    tried.push(format!(
        "environment ({})",
        KEYS.iter().map(|(_, v)| *v).collect::<Vec<_>>().join(", ")
    ));

    let config_path = env("DATABRICKS_CONFIG_FILE")
        .map(PathBuf::from)
        .or_else(|| {
            env("HOME")
                .or_else(|| env("USERPROFILE"))
                .map(|h| PathBuf::from(h).join(".databrickscfg"))
        });
    let named_profile = settings
        .profile
        .map(str::to_string)
        .or_else(|| env("DATABRICKS_CONFIG_PROFILE"));
    // Environment variables outrank a profile, so when they already say everything (as in CI,
    // where no config file exists), a named profile that is missing does not matter.
    let env_complete = from_env.values.contains_key("host")
        && (from_env.values.contains_key("token")
            || (from_env.values.contains_key("client_id")
                && from_env.values.contains_key("client_secret")));
    // databricks-sdk-py `databricks/sdk/config.py` `Config._known_file_config_loader`: with no
    // profile named, the config file is not read at all once a host or any credential is
    // configured (here by the target or the environment), so a DEFAULT profile made by
    // `databricks auth login` never mixes with DATABRICKS_HOST/DATABRICKS_TOKEN in CI.
    let host_configured = settings.host.is_some() || from_env.values.contains_key("host");
    let auth_configured = ["token", "client_id", "client_secret"]
        .iter()
        .any(|k| from_env.values.contains_key(k));
    let skip_file = named_profile.is_none() && (host_configured || auth_configured);
    let profile = match &config_path {
        Some(path) if path.is_file() && skip_file => {
            // The Databricks CLI adds one step before that (`libs/databrickscfg/loader.go`
            // `profileFromHostLoader.Configure`): a host with no credential and no auth type
            // takes the one profile whose host is that host; several are an error.
            let host = settings
                .host
                .map(str::to_string)
                .or_else(|| from_env.values.get("host").cloned());
            match host.filter(|_| !auth_configured && !from_env.values.contains_key("auth_type")) {
                Some(host) => {
                    let text = fs_err::read_to_string(path)?;
                    let ini = super::config_file::parse_ini(&text);
                    let want = super::host::normalize_host(&host).ok();
                    let matching: Vec<&String> = ini
                        .iter()
                        .filter(|(name, _)| *name != "__settings__")
                        .filter(|(_, section)| {
                            section
                                .get("host")
                                .and_then(|h| super::host::normalize_host(h).ok())
                                .is_some_and(|h| Some(h) == want)
                        })
                        .map(|(name, _)| name)
                        .collect();
                    match matching.as_slice() {
                        [] => {
                            tried
                                .push(format!("a profile for {host} in {} (none)", path.display()));
                            None
                        }
                        [name] => {
                            tried.push(format!(
                                "profile `{name}` in {} (its host is {host})",
                                path.display()
                            ));
                            let mut layer = Layer {
                                name: format!(
                                    "profile `{name}` in {} (matched by its host)",
                                    path.display()
                                ),
                                ..Layer::default()
                            };
                            for (key, _) in KEYS {
                                if let Some(v) =
                                    ini[*name].get(*key).filter(|v| !v.trim().is_empty())
                                {
                                    layer.values.insert(key, v.clone());
                                }
                            }
                            Some(layer)
                        }
                        several => {
                            return Err(Error::usage(format!(
                                "{host}: several profiles in {} are for this host: {}",
                                path.display(),
                                several.iter().map(|n| format!("`{n}`")).collect::<Vec<_>>().join(", ")
                            ))
                            .with_help("name one with `profile = \"...\"` on the target, or DATABRICKS_CONFIG_PROFILE"));
                        }
                    }
                }
                None => {
                    tried.push(format!(
                        "{} (not read: the environment configures credentials and no profile is named, as the SDKs do)",
                        path.display()
                    ));
                    None
                }
            }
        }
        Some(path) if path.is_file() => {
            let text = fs_err::read_to_string(path)?;
            let ini = super::config_file::parse_ini(&text);
            let name = named_profile.clone().or_else(|| {
                ini.get("__settings__")
                    .and_then(|s| s.get("default_profile"))
                    .cloned()
            });
            let chosen = name.clone().unwrap_or_else(|| "DEFAULT".into());
            tried.push(format!("profile `{chosen}` in {}", path.display()));
            match ini.get(&chosen) {
                Some(section) => {
                    let mut layer = Layer {
                        name: format!("profile `{chosen}` in {}", path.display()),
                        ..Layer::default()
                    };
                    for (key, _) in KEYS {
                        if let Some(v) = section.get(*key).filter(|v| !v.trim().is_empty()) {
                            layer.values.insert(key, v.clone());
                        }
                    }
                    Some(layer)
                }
                None if name.is_some() && !env_complete => {
                    return Err(Error::usage(format!(
                        "profile `{chosen}` is not in {}",
                        path.display()
                    ))
                    .with_help({
                        let names: Vec<&str> = ini
                            .keys()
                            .filter(|k| *k != "__settings__")
                            .map(String::as_str)
                            .collect();
                        let near = crate::diagnostic::closest(&chosen, names.iter().copied());
                        match near.first() {
                            Some(n) => format!("did you mean `{n}`? (profiles there: {})", names.join(", ")),
                            None => format!(
                                "add a `[{chosen}]` section with `host` and `token`, or name another profile (profiles there: {})",
                                names.join(", ")
                            ),
                        }
                    }));
                }
                None => None,
            }
        }
        Some(path) => {
            if let Some(name) = named_profile.as_ref().filter(|_| !env_complete) {
                return Err(Error::usage(format!(
                    "profile `{name}` was asked for, but {} does not exist",
                    path.display()
                ))
                .with_help("create it (`databricks configure`), or set DATABRICKS_HOST and DATABRICKS_TOKEN"));
            }
            tried.push(format!("{} (missing)", path.display()));
            None
        }
        None => None,
    };

    let layers: Vec<&Layer> = [Some(&explicit), Some(&from_env), profile.as_ref()]
        .into_iter()
        .flatten()
        .collect();
    let pick = |key: &str| -> Option<(String, String)> {
        layers
            .iter()
            .find_map(|l| l.values.get(key).map(|v| (v.clone(), l.name.clone())))
    };

    let help = "set DATABRICKS_HOST and DATABRICKS_TOKEN, or add `host` and `token` to a profile in ~/.databrickscfg (and name it with `profile = ...` in the target), or use a service principal (DATABRICKS_CLIENT_ID/DATABRICKS_CLIENT_SECRET), or `auth_type = databricks-cli` after `databricks auth login`, or `auth_type = azure-cli` after `az login`, or in CI without a secret `auth_type = github-oidc` (or `azure-devops-oidc`, `env-oidc`) with DATABRICKS_CLIENT_ID";
    let Some((raw_host, host_source)) = pick("host") else {
        return Err(Error::usage(format!(
            "no Databricks host for target `{}`; tried: target settings, {}",
            settings.target,
            tried.join(", ")
        ))
        .with_help(help));
    };
    let host = super::host::normalize_host(&raw_host).map_err(|why| {
        Error::usage(format!("host `{raw_host}` (from {host_source}): {why}")).with_help(
            "use the workspace URL, e.g. https://adb-1234567890123456.7.azuredatabricks.net",
        )
    })?;

    let token = pick("token");
    let client = match (pick("client_id"), pick("client_secret")) {
        (Some(id), Some(secret)) => Some((id, secret)),
        _ => None,
    };
    let auth_type = pick("auth_type");
    let method_and_source = match auth_type.as_ref().map(|(v, _)| v.as_str()) {
        Some("pat") => token.map(|(t, s)| (Method::Pat(Secret::new(t)), s)),
        Some("oauth-m2m") => client.map(|((id, source), (secret, _))| {
            (
                Method::OAuthM2M {
                    client_id: id,
                    client_secret: Secret::new(secret),
                },
                source,
            )
        }),
        Some("azure-cli") => Some((Method::AzureCli, "the Azure CLI (az)".to_string())),
        Some(kind @ ("databricks-cli" | "external-browser")) => Some((
            Method::DatabricksCli {
                external_browser: kind == "external-browser",
            },
            format!(
                "the Databricks CLI's login (`databricks auth token`; auth_type `{kind}` from {})",
                auth_type.as_ref().map_or("", |(_, s)| s.as_str())
            ),
        )),
        Some(kind) if super::oidc::AUTH_TYPES.contains(&kind) => {
            let from = auth_type.as_ref().map_or("", |(_, s)| s.as_str());
            let method = super::oidc::method_for(kind, oidc_settings(&pick, &env)).map_err(
                |(why, help)| {
                    Error::usage(format!("{why} (auth_type from {from})")).with_help(help)
                },
            )?;
            Some((Method::Oidc(method), oidc_source(kind, &pick)))
        }
        Some(other) => {
            let from = auth_type.as_ref().map_or("", |(_, s)| s.as_str());
            return Err(
                Error::usage(format!("unknown auth_type `{other}` (from {from})")).with_help(
                    crate::diagnostic::suggestion("auth types", other, AUTH_TYPES.iter().copied()),
                ),
            );
        }
        None => match (token, client) {
            (Some(_), Some(_)) => {
                return Err(Error::usage(
                    "both a token and a client id/secret are set, so the authentication method is ambiguous",
                )
                .with_help("set `auth_type` (DATABRICKS_AUTH_TYPE) to `pat` or `oauth-m2m`, or remove one of them"));
            }
            (Some((t, s)), None) => Some((Method::Pat(Secret::new(t)), s)),
            (None, Some(((id, source), (secret, _)))) => Some((
                Method::OAuthM2M {
                    client_id: id,
                    client_secret: Secret::new(secret),
                },
                source,
            )),
            // The SDKs' default chain goes on to the OIDC methods (`DefaultCredentials`).
            (None, None) => super::oidc::detect(oidc_settings(&pick, &env)).map(|f| {
                let source = oidc_source(f.supplier.auth_type(), &pick);
                (Method::Oidc(f), source)
            }),
        },
    };
    let Some((method, source)) = method_and_source else {
        return Err(Error::usage(format!(
            "no Databricks credentials for {host} (target `{}`); tried: {}",
            settings.target,
            tried.join(", ")
        ))
        .with_help(help));
    };
    if let Method::Pat(t) = &method {
        if t.is_empty() {
            return Err(Error::usage(format!("the token from {source} is empty")).with_help(help));
        }
    }
    Ok(Config {
        host,
        method,
        source,
    })
}

/// What the OIDC methods read from the resolved settings.
fn oidc_settings<'a>(
    pick: &dyn Fn(&str) -> Option<(String, String)>,
    env: &'a dyn Fn(&str) -> Option<String>,
) -> super::oidc::Settings<'a> {
    super::oidc::Settings {
        client_id: pick("client_id").map(|(v, _)| v),
        audience: pick("token_audience").map(|(v, _)| v),
        token_env: pick("oidc_token_env").map(|(v, _)| v),
        env,
    }
}

fn oidc_source(kind: &str, pick: &dyn Fn(&str) -> Option<(String, String)>) -> String {
    match pick("client_id") {
        Some((id, from)) => format!("service principal {id}, client id from {from}"),
        None => format!("account-wide token federation ({kind})"),
    }
}

#[cfg(test)]
mod tests {
    use std::collections::HashMap;

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
}
