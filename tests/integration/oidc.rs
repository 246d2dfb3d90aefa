//! Workload identity federation, as the Databricks SDKs do it: the CI system's OIDC ID token
//! (from a stand-in for GitHub Actions' and Azure Pipelines' token endpoints, or from an
//! environment variable) exchanged at the fake workspace's `/oidc/v1/token` under a service
//! principal's federation policy. No Databricks secret is configured anywhere.

use crate::support::fake::FakeWorkspace;
use crate::support::fake::auth::Federation;
use crate::support::fake::ci_tokens::{self, CiTokens};
use crate::support::{Project, Run, assert_has, project_from_fixture};

const SP: &str = "7f2a1c9e-0d1b-4e59-9a77-3c1c5b0f5e21";

fn policy(issuer: &str, subject: &str, audience: Option<&str>) -> Federation {
    Federation {
        client_id: SP.into(),
        issuer: issuer.into(),
        subject: subject.into(),
        audience: audience.map(str::to_string),
    }
}

fn check(p: &Project, ws: &FakeWorkspace, env: &[(&str, &str)]) -> Run {
    let home = p.path().to_string_lossy().into_owned();
    let url = ws.url();
    let mut all = vec![("HOME", home.as_str()), ("DATABRICKS_HOST", url.as_str())];
    all.extend_from_slice(env);
    p.mlops_in(
        ".",
        &["check", "--target", "dev", "--online", "--json", "-vv"],
        &all,
    )
}

/// The exchanges the fake saw, and what they asked for.
fn exchanges(ws: &FakeWorkspace) -> Vec<Option<u16>> {
    ws.log()
        .iter()
        .filter(|l| l.path == "/oidc/v1/token")
        .map(|l| l.status)
        .collect()
}

#[test]
fn github_actions_exchanges_the_jobs_token_without_a_secret() {
    let p = project_from_fixture("demo");
    let ci = CiTokens::start();
    let ws = FakeWorkspace::start();
    let gh_url = ci.github_url();
    let github = [
        ("DATABRICKS_CLIENT_ID", SP),
        ("ACTIONS_ID_TOKEN_REQUEST_URL", gh_url.as_str()),
        ("ACTIONS_ID_TOKEN_REQUEST_TOKEN", ci_tokens::REQUEST_TOKEN),
    ];
    // The policy trusts this repository's main branch, for the workspace's token endpoint
    // (the SDKs' default audience).
    ws.with_state(|s| {
        s.federation = vec![policy(
            ci_tokens::GITHUB_ISSUER,
            ci_tokens::GITHUB_SUBJECT,
            None,
        )]
    });
    // Found with no auth_type, as the SDKs' default chain finds it; and asked for by name.
    for auth_type in [None, Some("github-oidc")] {
        let mut env = github.to_vec();
        env.extend(auth_type.map(|a| ("DATABRICKS_AUTH_TYPE", a)));
        let out = check(&p, &ws, &env);
        out.success();
        assert_eq!(out.json()["workspace_user"], "ada@example.com");
        assert_has(
            &out.stderr,
            &[&format!("(github-oidc, from service principal {SP}")],
        );
        for secret in [ci_tokens::REQUEST_TOKEN, ws.token(), "eyJ"] {
            assert!(
                !out.stdout.contains(secret) && !out.stderr.contains(secret),
                "a token was shown"
            );
        }
    }
    assert_eq!(exchanges(&ws), [Some(200), Some(200)]);

    // A policy for another audience: the error says which audience to configure, and the
    // configured audience is then asked of GitHub and accepted.
    ws.with_state(|s| {
        s.federation = vec![policy(
            ci_tokens::GITHUB_ISSUER,
            ci_tokens::GITHUB_SUBJECT,
            Some("https://acme.example/databricks"),
        )]
    });
    let out = check(&p, &ws, &github);
    out.code(2);
    assert_has(
        &out.stderr,
        &[
            "the workspace refused the exchange",
            "audience",
            &format!("federation policy of service principal {SP}"),
            "DATABRICKS_TOKEN_AUDIENCE",
        ],
    );
    let mut with_audience = github.to_vec();
    with_audience.push((
        "DATABRICKS_TOKEN_AUDIENCE",
        "https://acme.example/databricks",
    ));
    check(&p, &ws, &with_audience).success();
    // The workspace can advertise the audience itself (host metadata), as the SDKs read it.
    ws.with_state(|s| s.advertised_audiences = vec!["https://acme.example/databricks".into()]);
    check(&p, &ws, &github).success();

    // A policy that trusts another branch refuses this job's token: said as such.
    ws.with_state(|s| {
        s.advertised_audiences.clear();
        s.federation = vec![policy(
            ci_tokens::GITHUB_ISSUER,
            "repo:acme/churn:ref:refs/heads/release",
            None,
        )]
    });
    let out = check(&p, &ws, &github);
    out.code(2);
    assert_has(
        &out.stderr,
        &[
            "do not match the federation policy",
            "issuer and subject must match",
        ],
    );

    // Without `permissions: id-token: write`, GitHub gives no token variables.
    let out = check(
        &p,
        &ws,
        &[
            ("DATABRICKS_CLIENT_ID", SP),
            ("DATABRICKS_AUTH_TYPE", "github-oidc"),
        ],
    );
    out.code(2);
    assert_has(&out.stderr, &["id-token: write"]);
    // A request token GitHub refuses.
    let out = check(
        &p,
        &ws,
        &[
            ("DATABRICKS_CLIENT_ID", SP),
            ("ACTIONS_ID_TOKEN_REQUEST_URL", gh_url.as_str()),
            ("ACTIONS_ID_TOKEN_REQUEST_TOKEN", "expired"),
        ],
    );
    out.code(2);
    assert_has(&out.stderr, &["403", "id-token: write"]);
}

#[test]
fn azure_pipelines_and_a_token_in_the_environment_are_exchanged_too() {
    let p = project_from_fixture("demo");
    let ci = CiTokens::start();
    let ws = FakeWorkspace::start();
    ws.with_state(|s| {
        s.federation = vec![policy(
            ci_tokens::AZURE_ISSUER,
            ci_tokens::AZURE_SUBJECT,
            Some("api://AzureADTokenExchange"),
        )]
    });
    let collection = ci.azure_collection();
    let out = check(
        &p,
        &ws,
        &[
            ("DATABRICKS_AUTH_TYPE", "azure-devops-oidc"),
            ("DATABRICKS_CLIENT_ID", SP),
            ("SYSTEM_ACCESSTOKEN", ci_tokens::REQUEST_TOKEN),
            ("SYSTEM_TEAMFOUNDATIONCOLLECTIONURI", collection.as_str()),
            ("SYSTEM_TEAMPROJECTID", "churn"),
            ("SYSTEM_HOSTTYPE", "build"),
            ("SYSTEM_PLANID", "plan-1"),
            ("SYSTEM_JOBID", "job-1"),
        ],
    );
    out.success();
    assert_has(
        &out.stderr,
        &[&format!("(azure-devops-oidc, from service principal {SP}")],
    );
    // Without the token mapped into the step.
    let out = check(
        &p,
        &ws,
        &[
            ("DATABRICKS_AUTH_TYPE", "azure-devops-oidc"),
            ("DATABRICKS_CLIENT_ID", SP),
        ],
    );
    out.code(2);
    assert_has(&out.stderr, &["SYSTEM_ACCESSTOKEN: $(System.AccessToken)"]);

    // env-oidc: any CI's ID token, put in DATABRICKS_OIDC_TOKEN (found without auth_type).
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs();
    let token = ci_tokens::jwt(&serde_json::json!({
        "iss": ci_tokens::AZURE_ISSUER, "sub": ci_tokens::AZURE_SUBJECT,
        "aud": "api://AzureADTokenExchange", "exp": now + 300,
    }));
    let out = check(
        &p,
        &ws,
        &[
            ("DATABRICKS_CLIENT_ID", SP),
            ("DATABRICKS_TOKEN_AUDIENCE", "api://AzureADTokenExchange"),
            ("DATABRICKS_OIDC_TOKEN", token.as_str()),
        ],
    );
    out.success();
    assert_has(
        &out.stderr,
        &[&format!("(env-oidc, from service principal {SP}")],
    );
    assert!(!out.stdout.contains(&token) && !out.stderr.contains(&token));
    // An expired one is refused by the workspace, and said so.
    let stale = ci_tokens::jwt(&serde_json::json!({
        "iss": ci_tokens::AZURE_ISSUER, "sub": ci_tokens::AZURE_SUBJECT,
        "aud": "api://AzureADTokenExchange", "exp": now - 60,
    }));
    let out = check(
        &p,
        &ws,
        &[
            ("DATABRICKS_CLIENT_ID", SP),
            ("DATABRICKS_OIDC_TOKEN", stale.as_str()),
            ("DATABRICKS_TOKEN_AUDIENCE", "api://AzureADTokenExchange"),
        ],
    );
    out.code(2);
    assert_has(&out.stderr, &["expired"]);
}
