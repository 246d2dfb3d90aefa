//! The binary's shape: cargo subcommand and direct use, global flags, check, init, exit codes.

use crate::support::{Project, assert_has, clean_command, project_from_fixture, snapshot_settings};

const SIMPLE: &str = r#"[project]
name = "churn"

[[wheel]]
path = "python/feat"

[entry_points.train]
command = "python train.py --alpha {alpha}"
parameters.alpha = { type = "float", default = 0.5 }

[targets.dev]
kind = "databricks"
host = "https://adb-1.2.azuredatabricks.net"
artifacts = "/Volumes/main/mlops/artifacts"
experiment = "/Users/{user}/{project}/{branch}"
"#;

fn simple_project() -> Project {
    let p = Project::git();
    p.file("mlops.toml", SIMPLE)
        .file("python/feat/pyproject.toml", "[project]\nname = \"feat\"\n")
        .dir("mlproject");
    p
}

#[test]
fn help_lists_only_working_commands() {
    let p = Project::bare();
    let run = p.mlops(&["--help"]);
    run.success();
    snapshot_settings().bind(|| insta::assert_snapshot!("help", run.snapshot()));
    let run = p.mlops(&["check", "--help"]);
    run.success();
    snapshot_settings().bind(|| insta::assert_snapshot!("check_help", run.snapshot()));
}

#[test]
fn runs_as_a_cargo_subcommand() {
    // cargo finds `cargo-mlops` on PATH and passes `mlops` as the first argument.
    let p = simple_project();
    let bin_dir = crate::support::bin().parent().unwrap().to_path_buf();
    let path = std::env::join_paths(
        std::iter::once(bin_dir).chain(std::env::split_paths(&std::env::var_os("PATH").unwrap())),
    )
    .unwrap();
    let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".into());
    let mut cmd = clean_command(std::path::Path::new(&cargo));
    cmd.args(["mlops", "check", "--json"])
        .current_dir(p.path())
        .env("PATH", path);
    let out = cmd.output().unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let plan: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(plan["project"], "churn");
    // And directly, with the same result.
    let direct = p.mlops(&["check", "--json"]);
    assert_eq!(direct.success().json(), plan);
}

#[test]
fn check_prints_the_plan() {
    let p = simple_project();
    let run = p.mlops(&["check", "--entry", "train"]);
    run.success();
    snapshot_settings().bind(|| insta::assert_snapshot!("check_local", run.snapshot()));
}

#[test]
fn check_json_has_the_documented_keys() {
    let p = simple_project();
    let plan = p
        .mlops_offline_creds(&[
            "check",
            "--json",
            "--target",
            "dev",
            "--branch",
            "Feature/Login",
        ])
        .success()
        .json();
    for key in [
        "target",
        "branch",
        "branch_slug",
        "experiment",
        "artifacts",
        "wheels",
        "entry_points",
    ] {
        assert!(plan.get(key).is_some(), "missing `{key}` in {plan:#}");
    }
    assert_eq!(plan["target"], "dev");
    assert_eq!(plan["target_kind"], "databricks");
    assert_eq!(plan["branch"], "Feature/Login");
    assert_eq!(plan["branch_source"], "--branch");
    let slug = cargo_mlops::support::naming::slug("Feature/Login");
    assert_eq!(plan["branch_slug"], slug.as_str());
    assert_eq!(plan["experiment"], format!("/Users/{{user}}/churn/{slug}"));
    assert_eq!(plan["artifacts"], "/Volumes/main/mlops/artifacts");
    assert_eq!(
        plan["branch_artifacts"],
        format!("/Volumes/main/mlops/artifacts/{slug}")
    );
    assert_eq!(plan["wheels"][0]["declared"], "python/feat");
    assert_eq!(plan["wheels"][0]["install"], "driver");
    assert_eq!(
        plan["entry_points"]["train"]["parameters"]["alpha"]["default"],
        "0.5"
    );
    assert_eq!(plan["commit"].as_str().unwrap().len(), 40);
}

#[test]
fn manifest_is_found_upward_and_by_path() {
    let p = simple_project();
    p.dir("mlproject/deep/er");
    let from_below = p.mlops_in("mlproject/deep/er", &["check", "--json"], &[]);
    assert_eq!(from_below.success().json()["project"], "churn");
    let other = Project::bare();
    for path in [p.path().to_path_buf(), p.path().join("mlops.toml")] {
        let run = other.mlops(&["check", "--json", "--manifest-path", path.to_str().unwrap()]);
        assert_eq!(run.success().json()["project"], "churn");
    }
    let none = Project::bare().mlops(&["check"]);
    none.code(2);
    assert!(
        none.stderr.contains("could not find `mlops.toml`"),
        "{}",
        none.stderr
    );
    assert!(none.stderr.contains("cargo mlops init"), "{}", none.stderr);
}

#[test]
fn branch_comes_from_flag_env_ci_then_git() {
    let p = simple_project();
    p.git_cmd(&["switch", "-q", "-c", "feature/from-git"]);
    let json = |env: &[(&str, &str)], extra: &[&str]| {
        let mut args = vec!["check", "--json"];
        args.extend_from_slice(extra);
        p.mlops_in(".", &args, env).success().json()
    };
    assert_eq!(json(&[], &[])["branch"], "feature/from-git");
    assert_eq!(json(&[], &[])["branch_source"], "git");
    let azure = [
        ("TF_BUILD", "True"),
        ("SYSTEM_PULLREQUEST_SOURCEBRANCH", "refs/heads/feature/pr"),
        ("BUILD_SOURCEBRANCH", "refs/pull/9/merge"),
    ];
    assert_eq!(json(&azure, &[])["branch"], "feature/pr");
    let mut with_env = azure.to_vec();
    with_env.push(("MLOPS_BRANCH", "from-env"));
    assert_eq!(json(&with_env, &[])["branch"], "from-env");
    assert_eq!(
        json(&with_env, &["--branch", "from-flag"])["branch"],
        "from-flag"
    );
}

#[test]
fn detached_head_is_a_clear_error() {
    let p = simple_project();
    p.git_cmd(&["checkout", "-q", "--detach"]);
    let run = p.mlops(&["check"]);
    run.code(2);
    snapshot_settings().bind(|| insta::assert_snapshot!("detached_head", run.snapshot()));
    // A CI variable (GitHub runs PR builds on a detached merge commit) resolves it.
    let run = p.mlops_in(
        ".",
        &["check", "--json"],
        &[
            ("GITHUB_ACTIONS", "true"),
            ("GITHUB_HEAD_REF", "feature/pr"),
        ],
    );
    assert_eq!(run.success().json()["branch"], "feature/pr");
}

#[test]
fn unknown_target_and_entry_point_suggest_names() {
    let p = simple_project();
    let run = p.mlops(&["check", "--target", "dve"]);
    run.code(2);
    snapshot_settings().bind(|| insta::assert_snapshot!("unknown_target", run.snapshot()));
    let run = p.mlops(&["check", "--entry", "trian"]);
    run.code(2);
    snapshot_settings().bind(|| insta::assert_snapshot!("unknown_entry", run.snapshot()));
}

#[test]
fn init_writes_a_project_that_passes_check() {
    let p = Project::git();
    let run = p.mlops(&["init", "--name", "churn"]);
    run.success();
    snapshot_settings().bind(|| insta::assert_snapshot!("init", run.snapshot()));
    assert!(p.read("mlops.toml").contains("name = \"churn\""));
    assert!(p.read("mlproject/train.py").contains("import mlflow"));
    assert!(p.read(".gitignore").contains(".mlops/"));
    let plan = p
        .mlops(&["check", "--json", "--entry", "train"])
        .success()
        .json();
    assert_eq!(plan["project"], "churn");
    assert_eq!(
        plan["entry_points"]["train"]["parameters"]["epochs"]["type"],
        "int"
    );
}

#[test]
fn init_refuses_to_overwrite_without_force() {
    let p = Project::git();
    p.file("mlops.toml", "# mine\n");
    let run = p.mlops(&["init"]);
    run.code(2);
    assert!(
        run.stderr
            .contains("refusing to overwrite existing files: mlops.toml"),
        "{}",
        run.stderr
    );
    assert!(run.stderr.contains("--force"), "{}", run.stderr);
    assert_eq!(p.read("mlops.toml"), "# mine\n", "nothing was changed");
    assert!(
        !p.path().join("mlproject").exists(),
        "nothing else was written"
    );
    p.mlops(&["init", "--force"]).success();
    assert!(p.read("mlops.toml").contains("[project]"));
    // The folder name becomes the project name.
    let name = p.path().file_name().unwrap().to_str().unwrap();
    assert!(p.read("mlops.toml").contains(&format!("name = \"{name}\"")));
}

#[test]
fn init_rejects_a_bad_name_before_writing() {
    let p = Project::git();
    let run = p.mlops(&["init", "--name", "my model"]);
    run.code(2);
    assert!(
        run.stderr.contains("invalid project name"),
        "{}",
        run.stderr
    );
    assert!(!p.path().join("mlops.toml").exists());
}

#[test]
fn quiet_and_verbose() {
    let p = simple_project();
    let quiet = p.mlops(&["check", "-q"]);
    assert!(quiet.success().stderr.is_empty(), "{}", quiet.stderr);
    assert!(quiet.stdout.contains("experiment"));
    let verbose = p.mlops(&["check", "-v"]);
    assert!(
        verbose.success().stderr.contains("Reading"),
        "{}",
        verbose.stderr
    );
    let both = p.mlops(&["check", "-q", "-v"]);
    both.code(2);
}

#[test]
fn exit_codes() {
    let p = simple_project();
    p.mlops(&["check"]).code(0);
    p.mlops(&["--version"]).code(0);
    p.mlops(&["check", "--no-such-flag"]).code(2);
    p.mlops(&["no-such-command"]).code(2);
    p.file("mlops.toml", "[project]\nname = 1\n");
    p.mlops(&["check"]).code(2);
}

#[test]
fn colour_is_off_unless_asked() {
    let p = simple_project();
    p.file("mlops.toml", "[projec]\n");
    let plain = p.mlops(&["check"]);
    assert!(!plain.stderr.contains('\x1b'));
    let coloured = p.mlops(&["check", "--color", "always"]);
    assert!(coloured.stderr.contains("\x1b["), "{}", coloured.stderr);
}

#[test]
fn the_demo_fixture_checks() {
    let p = project_from_fixture("demo");
    let plan = p
        .mlops(&["check", "--json", "--entry", "train"])
        .success()
        .json();
    assert_eq!(plan["project"], "demo");
    assert_eq!(plan["wheels"].as_array().unwrap().len(), 2);
    let plan = p
        .mlops_offline_creds(&["check", "--json", "--target", "dev"])
        .success()
        .json();
    assert_eq!(plan["experiment"], "/Shared/demo/main");
}

#[test]
fn an_out_of_range_timeout_is_a_usage_error_naming_the_limit() {
    let p = simple_project();
    for timeout in ["300000000000000d", "99999999999999999999s", "100years"] {
        let out = p.mlops(&["run", "--entry", "train", "--timeout", timeout]);
        out.code(2);
        assert_has(
            &out.stderr,
            &[
                "--timeout",
                timeout,
                "longer than the longest timeout",
                "2147483647 seconds",
            ],
        );
        assert!(!out.stderr.contains("panicked"), "{}", out.stderr);
    }
}

#[test]
fn check_resolves_credentials_without_the_network_and_online_asks_the_workspace() {
    // No credentials at all: exit 2, saying what was tried.
    let p = project_from_fixture("demo");
    let home = p.path().to_string_lossy().into_owned();
    let out = p.mlops_in(
        ".",
        &["check", "--target", "dev"],
        &[("HOME", home.as_str())],
    );
    out.code(2);
    assert_has(
        &out.stderr,
        &["no Databricks host for target `dev`", "tried:"],
    );
    let out = p.mlops_in(
        ".",
        &["deploy", "--target", "dev", "--dry-run"],
        &[("HOME", home.as_str())],
    );
    out.code(2);
    // Offline: the credentials are shown (never the token), and nothing is sent.
    let out = p.mlops_offline_creds(&["check", "--target", "dev"]);
    out.success();
    assert_has(
        &out.stdout,
        &[
            "workspace  https://adb-1234567890123456.7.azuredatabricks.net (pat, from environment variables)",
        ],
    );
    assert!(!out.stdout.contains("dapi-offline-test-token"));
    // Online, against the fake: who we are, and the volume exists.
    let ws = crate::support::fake::FakeWorkspace::start();
    let out = p.mlops_ws(
        &ws,
        &["check", "--target", "dev", "--online", "--json"],
        &[],
    );
    out.success();
    let checked = out.json();
    assert_eq!(checked["workspace_user"], "ada@example.com");
    assert_eq!(checked["artifacts_parent"], "/Volumes/main/mlops/artifacts");
    assert!(
        ws.log()
            .iter()
            .any(|l| l.path == "/api/2.0/preview/scim/v2/Me")
    );
    // A volume that does not exist is refused with exit 2.
    let manifest = p.read("mlops.toml").replace(
        "/Volumes/main/mlops/artifacts",
        "/Volumes/main/mlops/nosuch",
    );
    p.file("mlops.toml", &manifest);
    let out = p.mlops_ws(&ws, &["check", "--target", "dev", "--online"], &[]);
    out.code(2);
    assert_has(
        &out.stderr,
        &[
            "the volume `/Volumes/main/mlops/nosuch` that `targets.dev.artifacts` names does not exist",
            "CREATE VOLUME main.mlops.nosuch",
        ],
    );
}
