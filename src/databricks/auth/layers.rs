//! Where settings come from, each a loader of the SDK's, in its order (databricks-sdk-py
//! `databricks/sdk/config.py` `Config.__init__`): the target's own settings
//! (`_set_inner_config`), the environment (`_load_from_env`), then a profile of the config
//! file (`_known_file_config_loader`, with the Databricks CLI's profile-by-host step before it).

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use super::config::Settings;
use crate::error::{Error, Result};

/// One configuration attribute, as databricks-sdk-py declares it (`config.py`
/// `ConfigAttribute`): its key in a profile, its environment variables, and the auth method it
/// configures (`auth=...`), if any.
pub struct Attribute {
    pub key: &'static str,
    pub env: &'static [&'static str],
    pub auth: Option<&'static str>,
}

const fn attr(
    key: &'static str,
    env: &'static [&'static str],
    auth: Option<&'static str>,
) -> Attribute {
    Attribute { key, env, auth }
}

/// The attributes read from the environment and profiles. Those with an `auth` count as
/// "credentials configured" (`Config.is_any_auth_configured`), even the ones cargo mlops
/// cannot use itself (Azure service principals, Google, basic, the metadata service).
pub const ATTRIBUTES: &[Attribute] = &[
    attr("host", &["DATABRICKS_HOST"], None),
    attr("token", &["DATABRICKS_TOKEN"], Some("pat")),
    attr("client_id", &["DATABRICKS_CLIENT_ID"], Some("oauth")),
    attr(
        "client_secret",
        &["DATABRICKS_CLIENT_SECRET"],
        Some("oauth"),
    ),
    attr("auth_type", &["DATABRICKS_AUTH_TYPE"], None),
    attr(
        "token_audience",
        &["DATABRICKS_TOKEN_AUDIENCE"],
        Some("github-oidc"),
    ),
    attr(
        "oidc_token_env",
        &["DATABRICKS_OIDC_TOKEN_ENV"],
        Some("env-oidc"),
    ),
    // sdk-py reads DATABRICKS_OIDC_TOKEN_FILE; the Go SDK and the CLI the longer name.
    attr(
        "oidc_token_filepath",
        &[
            "DATABRICKS_OIDC_TOKEN_FILE",
            "DATABRICKS_OIDC_TOKEN_FILEPATH",
        ],
        Some("file-oidc"),
    ),
    attr("username", &["DATABRICKS_USERNAME"], Some("basic")),
    attr("password", &["DATABRICKS_PASSWORD"], Some("basic")),
    attr(
        "google_service_account",
        &["DATABRICKS_GOOGLE_SERVICE_ACCOUNT"],
        Some("google"),
    ),
    attr(
        "google_credentials",
        &["GOOGLE_CREDENTIALS"],
        Some("google"),
    ),
    attr(
        "azure_workspace_resource_id",
        &["DATABRICKS_AZURE_RESOURCE_ID"],
        Some("azure"),
    ),
    attr("azure_use_msi", &["ARM_USE_MSI"], Some("azure")),
    attr("azure_client_secret", &["ARM_CLIENT_SECRET"], Some("azure")),
    attr("azure_client_id", &["ARM_CLIENT_ID"], Some("azure")),
    attr("azure_tenant_id", &["ARM_TENANT_ID"], Some("azure")),
    attr(
        "metadata_service_url",
        &["DATABRICKS_METADATA_SERVICE_URL"],
        Some("metadata-service"),
    ),
    // No environment variable in the SDK: a profile's or the constructor's.
    attr("scopes", &[], None),
];

/// One layer of settings (the target, the environment, a profile).
#[derive(Default, Debug)]
pub struct Layer {
    pub name: String,
    pub values: BTreeMap<&'static str, String>,
}

impl Layer {
    fn has(&self, key: &str) -> bool {
        self.values.contains_key(key)
    }

    /// Whether any attribute that configures an auth method is set
    /// (`Config.is_any_auth_configured`).
    pub fn any_auth(&self) -> bool {
        ATTRIBUTES
            .iter()
            .any(|a| a.auth.is_some() && self.has(a.key))
    }

    /// A profile's values, read as the SDK reads them (blank values are unset).
    fn of_section(name: String, section: &BTreeMap<String, String>) -> Layer {
        let mut layer = Layer {
            name,
            ..Layer::default()
        };
        for a in ATTRIBUTES {
            if let Some(v) = section.get(a.key).filter(|v| !v.trim().is_empty()) {
                layer.values.insert(a.key, v.clone());
            }
        }
        layer
    }
}

/// The target's own settings in mlops.toml (the SDK's constructor arguments).
pub fn target(settings: &Settings<'_>) -> Layer {
    let mut layer = Layer {
        name: format!("[targets.{}] in mlops.toml", settings.target),
        ..Layer::default()
    };
    if let Some(host) = settings.host {
        layer.values.insert("host", host.to_string());
    }
    layer
}

/// `DATABRICKS_*` (and the `ARM_*`, Google) variables (`Config._load_from_env`).
pub fn environment(env: &dyn Fn(&str) -> Option<String>) -> Layer {
    let mut layer = Layer {
        name: "environment variables".into(),
        ..Layer::default()
    };
    for a in ATTRIBUTES {
        if let Some(v) = a.env.iter().find_map(|var| env(var)) {
            layer.values.insert(a.key, v);
        }
    }
    layer
}

/// The variables [`environment`] reads, for "tried" lists.
pub fn environment_names() -> String {
    ATTRIBUTES
        .iter()
        .flat_map(|a| a.env.iter().copied())
        .filter(|v| v.starts_with("DATABRICKS_"))
        .take(7)
        .collect::<Vec<_>>()
        .join(", ")
}

/// The config file: `DATABRICKS_CONFIG_FILE`, else `~/.databrickscfg`.
fn config_path(env: &dyn Fn(&str) -> Option<String>) -> Option<PathBuf> {
    env("DATABRICKS_CONFIG_FILE")
        .map(PathBuf::from)
        .or_else(|| {
            env("HOME")
                .or_else(|| env("USERPROFILE"))
                .map(|h| PathBuf::from(h).join(".databrickscfg"))
        })
}

/// What the file loader needs to know of the layers before it.
pub struct Before<'a> {
    pub target: &'a Layer,
    pub env: &'a Layer,
    /// The profile named by the target's `profile` or `DATABRICKS_CONFIG_PROFILE`.
    pub named: Option<String>,
}

impl Before<'_> {
    fn host(&self) -> Option<&String> {
        self.target
            .values
            .get("host")
            .or_else(|| self.env.values.get("host"))
    }

    /// Whether the environment alone says a host and a credential, so that a named profile
    /// that is missing does not matter (environment variables outrank a profile).
    fn env_complete(&self) -> bool {
        let v = &self.env.values;
        v.contains_key("host")
            && (v.contains_key("token")
                || (v.contains_key("client_id") && v.contains_key("client_secret")))
    }
}

/// The profile layer (`Config._known_file_config_loader`): with no profile named, the file
/// is not read once a host or any credential is configured, so a DEFAULT profile made by
/// `databricks auth login` never mixes with DATABRICKS_HOST/DATABRICKS_TOKEN in CI; then only
/// the Databricks CLI's host match may pick one ([`by_host`]).
pub fn file(
    env: &dyn Fn(&str) -> Option<String>,
    before: &Before<'_>,
    tried: &mut Vec<String>,
) -> Result<Option<Layer>> {
    let Some(path) = config_path(env) else {
        return Ok(None);
    };
    if !path.is_file() {
        return missing_file(&path, before, tried);
    }
    let configured = before.host().is_some() || before.env.any_auth();
    if before.named.is_none() && configured {
        return by_host(&path, before, tried);
    }
    let text = fs_err::read_to_string(&path)?;
    let ini = crate::databricks::config_file::parse_ini(&text);
    named_or_default(&path, &ini, before, tried)
}

/// No config file: an error only when a profile was asked for and the environment does not
/// say everything itself.
fn missing_file(
    path: &Path,
    before: &Before<'_>,
    tried: &mut Vec<String>,
) -> Result<Option<Layer>> {
    if let Some(name) = before.named.as_ref().filter(|_| !before.env_complete()) {
        return Err(Error::usage(format!(
            "profile `{name}` was asked for, but {} does not exist",
            path.display()
        ))
        .with_help(
            "create it (`databricks configure`), or set DATABRICKS_HOST and DATABRICKS_TOKEN",
        ));
    }
    tried.push(format!("{} (missing)", path.display()));
    Ok(None)
}

/// The Databricks CLI's step before the SDK's (databricks/cli `libs/databrickscfg/loader.go`
/// `profileFromHostLoader.Configure`): a host with no credential and no auth type takes the
/// one profile whose host is that host; several are an error.
fn by_host(path: &Path, before: &Before<'_>, tried: &mut Vec<String>) -> Result<Option<Layer>> {
    let host = before
        .host()
        .filter(|_| !before.env.any_auth() && !before.env.has("auth_type"));
    let Some(host) = host else {
        tried.push(format!(
            "{} (not read: the environment configures credentials and no profile is named, as the SDKs do)",
            path.display()
        ));
        return Ok(None);
    };
    let ini = crate::databricks::config_file::parse_ini(&fs_err::read_to_string(path)?);
    let matching = profiles_for(&ini, host);
    match matching.as_slice() {
        [] => {
            tried.push(format!("a profile for {host} in {} (none)", path.display()));
            Ok(None)
        }
        [name] => {
            tried.push(format!(
                "profile `{name}` in {} (its host is {host})",
                path.display()
            ));
            Ok(Some(Layer::of_section(
                format!(
                    "profile `{name}` in {} (matched by its host)",
                    path.display()
                ),
                &ini[name.as_str()],
            )))
        }
        several => Err(Error::usage(format!(
            "{host}: several profiles in {} are for this host: {}",
            path.display(),
            crate::support::diagnostic::quote_list(
                &several.iter().map(String::as_str).collect::<Vec<_>>()
            )
        ))
        .with_help(
            "name one with `profile = \"...\"` on the target, or DATABRICKS_CONFIG_PROFILE",
        )),
    }
}

/// The profiles of `ini` whose host is `host` (both normalised).
fn profiles_for(ini: &BTreeMap<String, BTreeMap<String, String>>, host: &str) -> Vec<String> {
    let want = super::super::host::normalize_host(host).ok();
    ini.iter()
        .filter(|(name, _)| *name != "__settings__")
        .filter(|(_, section)| {
            section
                .get("host")
                .and_then(|h| super::super::host::normalize_host(h).ok())
                .is_some_and(|h| Some(h) == want)
        })
        .map(|(name, _)| name.clone())
        .collect()
}

/// The named profile, else the file's `default_profile` (the CLI's `[__settings__]`), else
/// DEFAULT. A named profile whose host is another workspace's than the one the target or the
/// environment sets is refused, as the CLI refuses it (databricks/cli
/// `libs/databrickscfg/ops.go` `ValidateConfigAndProfileHost`): its token would be sent to a
/// host it was not made for.
fn named_or_default(
    path: &Path,
    ini: &BTreeMap<String, BTreeMap<String, String>>,
    before: &Before<'_>,
    tried: &mut Vec<String>,
) -> Result<Option<Layer>> {
    let name = before.named.clone().or_else(|| {
        ini.get("__settings__")
            .and_then(|s| s.get("default_profile"))
            .cloned()
    });
    let chosen = name.clone().unwrap_or_else(|| "DEFAULT".into());
    tried.push(format!("profile `{chosen}` in {}", path.display()));
    let Some(section) = ini.get(&chosen) else {
        if name.is_some() && !before.env_complete() {
            return Err(no_such_profile(path, ini, &chosen));
        }
        return Ok(None);
    };
    // Only a credential the profile gives (one the environment does not set) would go to
    // the wrong host; the environment's own outrank the profile's.
    let gives_credentials = ATTRIBUTES
        .iter()
        .any(|a| a.auth.is_some() && section.contains_key(a.key) && !before.env.has(a.key));
    if before.named.is_some() && gives_credentials {
        same_host(path, ini, &chosen, section, before)?;
    }
    Ok(Some(Layer::of_section(
        format!("profile `{chosen}` in {}", path.display()),
        section,
    )))
}

/// [`named_or_default`]'s host check.
fn same_host(
    path: &Path,
    ini: &BTreeMap<String, BTreeMap<String, String>>,
    name: &str,
    section: &BTreeMap<String, String>,
    before: &Before<'_>,
) -> Result<()> {
    let normal = |h: &str| super::super::host::normalize_host(h).ok();
    let (Some(theirs), Some(ours)) = (
        section.get("host").and_then(|h| normal(h)),
        before.host().and_then(|h| normal(h)),
    ) else {
        return Ok(());
    };
    if theirs == ours {
        return Ok(());
    }
    let from = if before.target.has("host") {
        before.target.name.clone()
    } else {
        "DATABRICKS_HOST".to_string()
    };
    let help = match profiles_for(ini, &ours).first() {
        Some(other) => format!(
            "profile `{other}` in {} is for {ours}: name it instead (`profile = \"{other}\"`), or remove the host from {from}",
            path.display()
        ),
        None => format!(
            "name a profile for {ours}, or remove the host from {from} so that the profile's host is used"
        ),
    };
    Err(Error::usage(format!(
        "profile `{name}` in {} is for {theirs}, but {from} sets the host {ours}: its credentials would go to a workspace they are not for",
        path.display()
    ))
    .with_help(help))
}

fn no_such_profile(
    path: &Path,
    ini: &BTreeMap<String, BTreeMap<String, String>>,
    chosen: &str,
) -> Error {
    let names: Vec<&str> = ini
        .keys()
        .filter(|k| *k != "__settings__")
        .map(String::as_str)
        .collect();
    let near = crate::support::diagnostic::closest(chosen, names.iter().copied());
    let help = match near.first() {
        Some(n) => format!("did you mean `{n}`? (profiles there: {})", names.join(", ")),
        None => format!(
            "add a `[{chosen}]` section with `host` and `token`, or name another profile (profiles there: {})",
            names.join(", ")
        ),
    };
    Error::usage(format!("profile `{chosen}` is not in {}", path.display())).with_help(help)
}
