//! Credential resolution walked as a matrix: environment × config file × named or unnamed
//! profile × target host, each cell with the result databricks-sdk-py's `Config` gives (and
//! the Databricks CLI's host matching where the SDK reads no file). The README's precedence
//! table says the same.

use cargo_mlops::databricks::auth::{Method, Settings, resolve};

/// A config file with a DEFAULT profile made by `databricks auth login` for workspace A, and
/// a PAT profile `b` for workspace B.
const CFG: &str = "[DEFAULT]\nhost = https://a.cloud.databricks.com\nauth_type = databricks-cli\n\n[b]\nhost = https://b.cloud.databricks.com\ntoken = dapi-profile-b\n";

#[derive(Clone, Copy, Debug)]
enum Envs {
    None,
    /// DATABRICKS_HOST and DATABRICKS_TOKEN, as in CI.
    HostAndToken,
    /// DATABRICKS_TOKEN only.
    Token,
}

/// One cell: environment, config file, named profile, target host, and what resolving gives.
type Cell<'a> = (Envs, bool, Option<&'a str>, Option<&'a str>, &'a str);

/// What resolving gives: host and method name and where it came from, or the error text.
fn outcome(envs: Envs, file: bool, profile: Option<&str>, host: Option<&str>) -> String {
    let home = tempfile::tempdir().unwrap();
    if file {
        std::fs::write(home.path().join(".databrickscfg"), CFG).unwrap();
    }
    let mut vars = vec![(
        "HOME".to_string(),
        home.path().to_string_lossy().into_owned(),
    )];
    match envs {
        Envs::None => {}
        Envs::HostAndToken => {
            vars.push((
                "DATABRICKS_HOST".into(),
                "https://ci.cloud.databricks.com".into(),
            ));
            vars.push(("DATABRICKS_TOKEN".into(), "dapi-env".into()));
        }
        Envs::Token => vars.push(("DATABRICKS_TOKEN".into(), "dapi-env".into())),
    }
    let lookup = |k: &str| vars.iter().find(|(n, _)| n == k).map(|(_, v)| v.clone());
    match resolve(&Settings {
        target: "dev",
        host,
        profile,
        env: &lookup,
    }) {
        Ok(c) => {
            let token = match &c.method {
                Method::Pat(t) => format!(" {}", t.expose()),
                _ => String::new(),
            };
            format!("{} {}{token}", c.host, c.method.name())
        }
        Err(e) => format!("error: {}", e.message()),
    }
}

#[test]
fn credentials_resolve_as_the_sdks_do_in_every_combination() {
    let a = "https://a.cloud.databricks.com";
    let b = "https://b.cloud.databricks.com";
    let ci = "https://ci.cloud.databricks.com";
    // (environment, config file, named profile, target host) → result.
    let cells: &[Cell<'_>] = &[
        // Nothing configured but the file: its DEFAULT profile.
        (Envs::None, true, None, None, &format!("{a} databricks-cli")),
        (Envs::None, false, None, None, "error: no Databricks host"),
        // CI: host and token in the environment never mix with a DEFAULT profile.
        (
            Envs::HostAndToken,
            true,
            None,
            None,
            &format!("{ci} pat dapi-env"),
        ),
        (
            Envs::HostAndToken,
            false,
            None,
            None,
            &format!("{ci} pat dapi-env"),
        ),
        // A named profile is read, and the environment still outranks it key by key.
        (
            Envs::HostAndToken,
            true,
            Some("b"),
            None,
            &format!("{ci} pat dapi-env"),
        ),
        (
            Envs::None,
            true,
            Some("b"),
            None,
            &format!("{b} pat dapi-profile-b"),
        ),
        (
            Envs::None,
            true,
            Some("nope"),
            None,
            "error: profile `nope` is not in",
        ),
        // A token alone counts as configured credentials: the file is not read, so no host.
        (Envs::Token, true, None, None, "error: no Databricks host"),
        (
            Envs::Token,
            true,
            None,
            Some(b),
            &format!("{b} pat dapi-env"),
        ),
        // A target host with no credential: the profile whose host it is (the CLI's match),
        // never the DEFAULT profile of another workspace.
        (
            Envs::None,
            true,
            None,
            Some(b),
            &format!("{b} pat dapi-profile-b"),
        ),
        (
            Envs::None,
            true,
            None,
            Some(a),
            &format!("{a} databricks-cli"),
        ),
        (
            Envs::None,
            true,
            None,
            Some("https://other.cloud.databricks.com"),
            "error: no Databricks credentials for https://other.cloud.databricks.com",
        ),
        (
            Envs::None,
            false,
            None,
            Some(b),
            "error: no Databricks credentials",
        ),
        // A named profile for another workspace than the target's host: refused, as the
        // Databricks CLI refuses it, or its token would go to a host it is not for.
        (
            Envs::None,
            true,
            Some("b"),
            Some(a),
            "error: profile `b` in",
        ),
        (
            Envs::None,
            true,
            Some("b"),
            Some(b),
            &format!("{b} pat dapi-profile-b"),
        ),
        (
            Envs::HostAndToken,
            true,
            None,
            Some(b),
            &format!("{b} pat dapi-env"),
        ),
    ];
    let mut wrong = Vec::new();
    for (envs, file, profile, host, want) in cells {
        let got = outcome(*envs, *file, *profile, *host);
        if !got.starts_with(want) {
            wrong.push(format!(
                "env {envs:?}, file {file}, profile {profile:?}, host {host:?}:\n  want {want}\n  got  {got}"
            ));
        }
    }
    assert!(wrong.is_empty(), "{}", wrong.join("\n"));
}

#[test]
fn two_profiles_for_one_host_are_an_error_that_names_them() {
    let home = tempfile::tempdir().unwrap();
    std::fs::write(
        home.path().join(".databrickscfg"),
        "[one]\nhost = https://x.cloud.databricks.com\ntoken = t1\n[two]\nhost = x.cloud.databricks.com/\ntoken = t2\n",
    )
    .unwrap();
    let h = home.path().to_string_lossy().into_owned();
    let err = resolve(&Settings {
        target: "dev",
        host: Some("https://x.cloud.databricks.com"),
        profile: None,
        env: &|k| (k == "HOME").then(|| h.clone()),
    })
    .unwrap_err();
    assert!(
        err.message().contains("several profiles") && err.message().contains("`one`, `two`"),
        "{}",
        err.message()
    );
    assert!(err.help().unwrap().contains("DATABRICKS_CONFIG_PROFILE"));
}
