//! Credentials as the Databricks CLI leaves them: profiles made by `databricks auth login`
//! (`auth_type = databricks-cli`, `external-browser`), with a stand-in `databricks` CLI on
//! PATH; and errors that name the file and profile a setting came from.

use std::path::Path;

use crate::support::fake::FakeWorkspace;
use crate::support::{Project, Run, assert_has, shared_cargo_target, test_python};

/// A `databricks` that answers `auth token --host <logged in host>` with the fake's token,
/// logs its calls, and fails as the real CLI does for a host with no login.
fn fake_cli(dir: &Path, logged_in: &str, token: &str) {
    let script = format!(
        r#"#!/bin/sh
echo "$@" >> "{calls}"
if [ "$1 $2 $3" = "auth token --host" ] && [ "$4" = "{logged_in}" ]; then
  printf '{{"access_token":"%s","token_type":"Bearer","expiry":"2999-01-01T00:00:00.123+01:00"}}' "{token}"
  exit 0
fi
echo "Error: cache: databricks OAuth is not configured for this host. Try logging in again with \`databricks auth login --host $4\` before retrying." >&2
exit 1
"#,
        calls = dir.join("calls.log").display()
    );
    let path = dir.join("databricks");
    std::fs::write(&path, script).unwrap();
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o755)).unwrap();
}

fn project(ws: &FakeWorkspace, profile_section: &str) -> Project {
    let p = Project::git();
    p.mlops(&["init", "--name", "authy"]).success();
    let manifest = p.read("mlops.toml")
        + "\n[cluster]\nspark_version = \"14.3.x-scala2.12\"\n\n[targets.dev]\nkind = \"databricks\"\nprofile = \"dev-login\"\nartifacts = \"dbfs:/mlops/{project}\"\n";
    p.file("mlops.toml", &manifest);
    p.file(
        ".databrickscfg",
        &format!(
            "[DEFAULT]\nhost = https://unused.example.com\n\n{}",
            profile_section.replace("HOST", &ws.url())
        ),
    );
    p.git_cmd(&["add", "-A"]);
    p.git_cmd(&["commit", "-qm", "auth"]);
    p
}

/// `cargo-mlops ARGS` with the project as HOME (its `.databrickscfg`), no DATABRICKS_*
/// variables, and `bin` first on PATH.
fn mlops(p: &Project, bin: &Path, args: &[&str]) -> Run {
    let python = test_python();
    let path = format!(
        "{}:{}:{}",
        bin.display(),
        python.parent().unwrap().display(),
        std::env::var("PATH").unwrap()
    );
    let home = p.path().to_string_lossy().into_owned();
    let target = shared_cargo_target();
    let mut all = args.to_vec();
    all.extend(["--python", python.to_str().unwrap()]);
    p.mlops_in(
        ".",
        &all,
        &[
            ("HOME", home.as_str()),
            ("PATH", path.as_str()),
            ("CARGO_TARGET_DIR", target.to_str().unwrap()),
            ("MLOPS_RETRY_FIRST_MS", "20"),
        ],
    )
}

fn calls(bin: &Path) -> Vec<String> {
    std::fs::read_to_string(bin.join("calls.log"))
        .unwrap_or_default()
        .lines()
        .map(str::to_string)
        .collect()
}

#[test]
fn profiles_made_by_databricks_auth_login_work_through_the_cli() {
    for auth_type in ["databricks-cli", "external-browser"] {
        let ws = FakeWorkspace::start();
        let p = project(
            &ws,
            &format!("[dev-login]\nhost = HOST\nauth_type = {auth_type}\n"),
        );
        let bin = tempfile::tempdir().unwrap();
        fake_cli(bin.path(), &ws.url(), ws.token());
        let out = mlops(&p, bin.path(), &["deploy", "--target", "dev", "-v"]);
        out.success();
        // One token for the whole command (many requests), asked for the target's host.
        assert_eq!(
            calls(bin.path()),
            [format!("auth token --host {}", ws.url())],
            "{auth_type}"
        );
        assert!(ws.log().len() > 5);
        assert!(
            ws.log()
                .iter()
                .all(|l| l.authorization.as_deref() == Some(&format!("Bearer {}", ws.token())))
        );
        assert!(!out.stderr.contains(ws.token()) && !out.stdout.contains(ws.token()));
        assert_has(&out.stderr, &[auth_type]);
    }
}

#[test]
fn no_login_or_no_cli_says_how_to_log_in() {
    let ws = FakeWorkspace::start();
    let p = project(
        &ws,
        "[dev-login]\nhost = HOST\nauth_type = databricks-cli\n",
    );
    // A CLI with a login for another host only.
    let bin = tempfile::tempdir().unwrap();
    fake_cli(bin.path(), "https://other.example.com", ws.token());
    let out = mlops(&p, bin.path(), &["deploy", "--target", "dev"]);
    out.code(2);
    assert_has(
        &out.stderr,
        &[
            "OAuth is not configured for this host",
            &format!("databricks auth login --host {}", ws.url()),
        ],
    );
    // No CLI on PATH at all.
    let empty = tempfile::tempdir().unwrap();
    let out = p.mlops_in(
        ".",
        &[
            "deploy",
            "--target",
            "dev",
            "--python",
            test_python().to_str().unwrap(),
        ],
        &[
            ("HOME", p.path().to_str().unwrap()),
            ("PATH", &format!("{}:/usr/bin:/bin", empty.path().display())),
        ],
    );
    out.code(2);
    assert_has(
        &out.stderr,
        &[
            "the Databricks CLI (`databricks`) is not on PATH",
            "install it",
            &format!("databricks auth login --host {}", ws.url()),
        ],
    );
    assert!(
        ws.log().iter().all(|l| !l.path.contains("/dbfs/put")),
        "nothing was uploaded"
    );
}

#[test]
fn auth_errors_name_the_file_and_profile_and_the_closest_profile() {
    let ws = FakeWorkspace::start();
    let p = project(
        &ws,
        "[dev-login]\nhost = HOST\nauth_type = databricks-clii\n",
    );
    let bin = tempfile::tempdir().unwrap();
    let out = mlops(&p, bin.path(), &["check", "--target", "dev"]);
    out.code(2);
    assert_has(
        &out.stderr,
        &[
            "unknown auth_type `databricks-clii`",
            "profile `dev-login` in",
            ".databrickscfg",
            "did you mean `databricks-cli`?",
        ],
    );
    let manifest = p
        .read("mlops.toml")
        .replace("profile = \"dev-login\"", "profile = \"dev-logn\"");
    p.file("mlops.toml", &manifest);
    let out = mlops(&p, bin.path(), &["check", "--target", "dev"]);
    out.code(2);
    assert_has(
        &out.stderr,
        &[
            "profile `dev-logn` is not in",
            ".databrickscfg",
            "did you mean `dev-login`?",
        ],
    );
}
