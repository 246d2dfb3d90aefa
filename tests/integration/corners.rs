//! The smaller corners adopting real projects found: a project without wheels, the manifest
//! inside the MLflow project folder, the user name without `$USER`, `check --online` on a
//! fresh DBFS workspace.

use crate::support::fake::FakeWorkspace;
use crate::support::{Project, assert_has, test_python};

fn plain_project() -> Project {
    let p = Project::git();
    p.mlops(&["init", "--name", "plain"]).success();
    p.git_cmd(&["add", "-A"]);
    p.git_cmd(&["commit", "-qm", "init"]);
    p
}

#[test]
fn a_project_without_wheels_is_told_once_and_only_where_building_was_asked() {
    let p = plain_project();
    let check = p.mlops(&["check"]);
    check.success();
    assert!(!check.stderr.contains("wheel"), "{}", check.stderr);
    assert_has(&check.stderr, &["no problems found"]);
    let build = p.mlops(&["build"]);
    build.success();
    assert_has(&build.stderr, &["nothing to build", "`discover = false`"]);
    // There is no cargo workspace here to speak of.
    assert!(
        !build.stderr.contains("cargo workspace"),
        "{}",
        build.stderr
    );
    let py = test_python();
    let deploy = p.mlops(&["deploy", "--python", py.to_str().unwrap()]);
    deploy.success();
    assert!(!deploy.stderr.contains("wheel"), "{}", deploy.stderr);
    // `discover = false` silences it.
    let manifest = p.read("mlops.toml").replace(
        "mlproject = \"mlproject\"",
        "mlproject = \"mlproject\"\ndiscover = false",
    );
    p.file("mlops.toml", &manifest);
    let build = p.mlops(&["build"]);
    build.success();
    assert!(
        !build.stderr.contains("nothing to build"),
        "{}",
        build.stderr
    );
}

#[test]
fn the_manifest_in_the_project_folder_stays_out_of_the_tarball() {
    let p = plain_project();
    std::fs::rename(
        p.path().join("mlproject/train.py"),
        p.path().join("train.py"),
    )
    .unwrap();
    let manifest = p
        .read("mlops.toml")
        .replace("mlproject = \"mlproject\"", "mlproject = \".\"");
    p.file("mlops.toml", &manifest);
    let out = p.path().join("rendered");
    let render = p.mlops(&["render", "--out", out.to_str().unwrap(), "--json"]);
    render.success();
    let files: Vec<String> = render.json()["files"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| f.as_str().unwrap().to_string())
        .collect();
    assert!(files.contains(&"train.py".to_string()), "{files:?}");
    assert!(!files.contains(&"mlops.toml".to_string()), "{files:?}");
    assert!(!out.join("mlops.toml").exists());
}

#[test]
fn the_user_name_comes_from_the_login_when_user_is_unset() {
    let p = plain_project();
    let manifest = p.read("mlops.toml")
        + "\n[targets.mine]\nkind = \"local\"\nexperiment = \"{project}/{user}\"\n";
    p.file("mlops.toml", &manifest);
    let mut cmd = crate::support::clean_command(&crate::support::bin());
    cmd.args(["check", "--target", "mine", "--json"])
        .current_dir(p.path())
        .env_remove("USER");
    let out = crate::support::Run::from(cmd.output().unwrap(), p.path());
    out.success();
    let experiment = out.json()["experiment"].as_str().unwrap().to_string();
    let login = String::from_utf8(
        std::process::Command::new("id")
            .arg("-un")
            .output()
            .unwrap()
            .stdout,
    )
    .unwrap();
    assert_eq!(experiment, format!("plain/{}", login.trim()));
}

#[test]
fn check_online_asks_what_a_first_deploy_needs_on_dbfs() {
    let p = plain_project();
    let manifest = p.read("mlops.toml")
        + "\n[cluster]\nspark_version = \"14.3.x-scala2.12\"\n\n[targets.dev]\nkind = \"databricks\"\nartifacts = \"dbfs:/mlops/{project}\"\n";
    p.file("mlops.toml", &manifest);
    // A fresh workspace: nothing under dbfs:/ yet, and the first deploy makes it all.
    let ws = FakeWorkspace::start();
    let out = p.mlops_ws(
        &ws,
        &["check", "--target", "dev", "--online", "--json"],
        &[],
    );
    out.success();
    assert_eq!(out.json()["artifacts_parent"], "dbfs:/");
    let py = test_python();
    p.mlops_ws(
        &ws,
        &[
            "deploy",
            "--target",
            "dev",
            "--python",
            py.to_str().unwrap(),
        ],
        &[],
    )
    .success();
    let out = p.mlops_ws(
        &ws,
        &["check", "--target", "dev", "--online", "--json"],
        &[],
    );
    assert_eq!(
        out.success().json()["artifacts_parent"],
        "dbfs:/mlops/plain"
    );
    // A file where a folder must go cannot be deployed past: said, with how to fix it.
    ws.with_state(|s| {
        s.dbfs_files.insert(
            "/blocked".into(),
            crate::support::fake::state::File {
                data: b"x".to_vec(),
                modified_ms: 1,
            },
        )
    });
    p.file(
        "mlops.toml",
        &p.read("mlops.toml")
            .replace("dbfs:/mlops/{project}", "dbfs:/blocked/{project}"),
    );
    let out = p.mlops_ws(&ws, &["check", "--target", "dev", "--online"], &[]);
    out.code(2);
    assert_has(
        &out.stderr,
        &["`dbfs:/blocked` is a file", "targets.dev.artifacts"],
    );
}
