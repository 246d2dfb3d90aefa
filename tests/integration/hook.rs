//! The pre-push hook with real git: a bare remote, pushes of branches, tags and deletions, a
//! manifest that blocks the push, and a user's own hook that keeps running.

use crate::support::{Project, assert_has, test_python};

/// A project with an `init` scaffold, pushed nowhere yet, and a bare `origin`.
fn setup() -> (Project, tempfile::TempDir) {
    let p = Project::git();
    p.mlops(&["init", "--name", "hooked"]).success();
    p.git_cmd(&["add", "-A"]);
    p.git_cmd(&["commit", "-qm", "scaffold"]);
    let remote = tempfile::tempdir().unwrap();
    let out = std::process::Command::new("git")
        .args(["init", "-q", "--bare", "-b", "main"])
        .arg(remote.path())
        .output()
        .unwrap();
    assert!(out.status.success());
    p.git_cmd(&["remote", "add", "origin", remote.path().to_str().unwrap()]);
    (p, remote)
}

fn remote_has(remote: &tempfile::TempDir, reference: &str) -> bool {
    std::process::Command::new("git")
        .args(["rev-parse", "--verify", "-q", reference])
        .current_dir(remote.path())
        .output()
        .unwrap()
        .status
        .success()
}

fn push(p: &Project, args: &[&str]) -> crate::support::Run {
    let mut all = vec!["push", "-q"];
    all.extend_from_slice(args);
    // The hook's own cargo-mlops finds the tests' Python tools through MLOPS_PYTHON.
    let _ = test_python();
    p.git_run(&all)
}

#[test]
fn pushes_of_branches_are_checked_and_tags_and_deletions_are_not() {
    let (p, remote) = setup();
    p.mlops(&["hook", "install"]).success();
    let out = push(&p, &["origin", "main"]);
    out.success();
    assert_has(&out.stderr, &["Checking main at"]);
    assert!(remote_has(&remote, "refs/heads/main"));

    // The same commit again (under another branch name): remembered, not checked again.
    let out = push(&p, &["origin", "main:copy"]);
    out.success();
    assert_has(&out.stderr, &["Checked copy at", "(already)"]);

    // Several branches at once, none of them checked out: each is checked at its own commit.
    p.git_cmd(&["branch", "a"]);
    p.git_cmd(&["switch", "-q", "-c", "b"]);
    p.file("mlproject/extra.py", "print('b')\n");
    p.git_cmd(&["add", "-A"]);
    p.git_cmd(&["commit", "-qm", "b"]);
    p.git_cmd(&["switch", "-q", "main"]);
    p.file("mlproject/other.py", "print('main')\n");
    p.git_cmd(&["add", "-A"]);
    p.git_cmd(&["commit", "-qm", "main 2"]);
    let out = push(&p, &["origin", "main", "b"]);
    out.success();
    assert_has(&out.stderr, &["Checking main at", "Checking b at"]);
    assert!(remote_has(&remote, "refs/heads/b"));

    // A tag push and a deletion check nothing.
    p.git_cmd(&["tag", "v1"]);
    let out = push(&p, &["origin", "v1"]);
    out.success();
    assert!(!out.stderr.contains("Checking"), "{}", out.stderr);
    let out = push(&p, &["origin", "--delete", "b"]);
    out.success();
    assert!(!out.stderr.contains("Checking"), "{}", out.stderr);
    assert!(!remote_has(&remote, "refs/heads/b"));
}

#[test]
fn a_broken_manifest_blocks_the_push_and_says_how_to_skip() {
    let (p, remote) = setup();
    p.mlops(&["hook", "install"]).success();
    p.git_cmd(&["switch", "-q", "-c", "broken"]);
    let manifest = p
        .read("mlops.toml")
        .replace("[project]", "[project]\nnam = \"typo\"");
    p.file("mlops.toml", &manifest);
    p.git_cmd(&["commit", "-qam", "typo"]);
    // Back on main, whose manifest is fine: the pushed commit's manifest is what is checked.
    p.git_cmd(&["switch", "-q", "main"]);
    let out = push(&p, &["origin", "broken"]);
    assert_ne!(out.code, 0, "the push went through:\n{}", out.snapshot());
    assert_has(
        &out.stderr,
        &[
            "unknown field `nam`",
            "the pre-push check of `broken` failed",
            "git push --no-verify",
        ],
    );
    // Checked in a temporary worktree that is gone now: files are named as the commit holds
    // them (`<commit>:python/gone`), never by the vanished path.
    p.git_cmd(&["switch", "-q", "broken"]);
    let manifest = p.read("mlops.toml").replace("nam = \"typo\"\n", "")
        + "\n[[wheel]]\npath = \"python/gone\"\n";
    p.file("mlops.toml", &manifest);
    p.git_cmd(&["commit", "-qam", "a wheel that is not there"]);
    let sha = p.git_cmd(&["rev-parse", "broken"]);
    p.git_cmd(&["switch", "-q", "main"]);
    let out = push(&p, &["origin", "broken"]);
    assert_ne!(out.code, 0, "the push went through:\n{}", out.snapshot());
    let short = &sha.trim()[..12];
    assert_has(&out.stderr, &[&format!("{short}:python/gone")]);
    assert!(!out.stderr.contains("worktree"), "{}", out.stderr);
    assert!(!remote_has(&remote, "refs/heads/broken"));
    let out = push(&p, &["--no-verify", "origin", "broken"]);
    out.success();
}

#[test]
fn an_existing_hook_keeps_running_and_is_restored_exactly() {
    let (p, _remote) = setup();
    let marker = p.path().join("user-hook-ran");
    let user_hook = format!("#!/bin/sh\ncat > /dev/null\ntouch '{}'\n", marker.display());
    let hook_path = p.path().join(".git/hooks/pre-push");
    std::fs::write(&hook_path, &user_hook).unwrap();
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(&hook_path, std::fs::Permissions::from_mode(0o751)).unwrap();

    let out = p.mlops(&["hook", "install"]);
    out.success();
    assert_has(&out.stderr, &["existing pre-push hook is kept"]);
    p.mlops(&["hook", "install"]).success();
    let out = push(&p, &["origin", "main"]);
    out.success();
    assert!(marker.exists(), "the user's hook did not run");
    assert_has(&out.stderr, &["Checking main"]);

    p.mlops(&["hook", "uninstall"]).success();
    assert_eq!(std::fs::read_to_string(&hook_path).unwrap(), user_hook);
    let mode = std::fs::metadata(&hook_path).unwrap().permissions().mode() & 0o777;
    assert_eq!(mode, 0o751);
}

#[test]
fn core_hooks_path_is_honoured() {
    let (p, _remote) = setup();
    p.git_cmd(&["config", "core.hooksPath", ".githooks"]);
    p.mlops(&["hook", "install"]).success();
    assert!(p.path().join(".githooks/pre-push").is_file());
    assert!(!p.path().join(".git/hooks/pre-push").exists());
    let out = push(&p, &["origin", "main"]);
    out.success();
    assert_has(&out.stderr, &["Checking main"]);
    p.mlops(&["hook", "uninstall"]).success();
    assert!(!p.path().join(".githooks/pre-push").exists());
}

#[test]
fn the_deploy_action_deploys_the_pushed_branch_under_its_own_name() {
    let (p, _remote) = setup();
    let manifest = p.read("mlops.toml") + "\n[hooks]\npre_push = \"deploy\"\ntarget = \"local\"\n";
    p.file("mlops.toml", &manifest);
    p.git_cmd(&["commit", "-qam", "deploy on push"]);
    p.git_cmd(&["branch", "feature/x"]);
    p.mlops(&["hook", "install"]).success();
    let out = push(&p, &["origin", "feature/x"]);
    out.success();
    assert_has(&out.stderr, &["Deploying feature/x at"]);
    let slug = cargo_mlops::support::naming::slug("feature/x");
    let records = p.path().join(format!(".mlops/artifacts/{slug}/deploys"));
    let commit = p.git_cmd(&["rev-parse", "feature/x"]);
    assert!(
        records.join(format!("{commit}.json")).is_file(),
        "no deploy record in {}",
        records.display()
    );
    // A deploy action without a target is a manifest error.
    let broken = p.read("mlops.toml").replace("target = \"local\"\n", "");
    p.file("mlops.toml", &broken);
    let out = p.mlops(&["check"]);
    out.code(2);
    assert_has(&out.stderr, &["needs a `target`"]);
}

/// Makes the working tree's manifest broken (uncommitted), as a half-done edit leaves it.
fn break_working_tree(p: &Project) {
    let manifest = p
        .read("mlops.toml")
        .replace("[project]", "[project]\nnam = \"typo\"");
    p.file("mlops.toml", &manifest);
}

#[test]
fn deletions_are_skipped_before_any_manifest_is_read() {
    let (p, remote) = setup();
    p.mlops(&["hook", "install"]).success();
    push(&p, &["--no-verify", "origin", "main", "main:old"]).success();
    // The checked-out branch's manifest is broken, in the tree and in a commit.
    p.git_cmd(&["switch", "-q", "-c", "wip"]);
    break_working_tree(&p);
    p.git_cmd(&["commit", "-qam", "broken"]);
    let out = push(&p, &["origin", "--delete", "old"]);
    out.success();
    assert!(!out.stderr.contains("error"), "{}", out.stderr);
    assert!(!remote_has(&remote, "refs/heads/old"));
    // A tag push is skipped the same way.
    p.git_cmd(&["tag", "v2"]);
    push(&p, &["origin", "v2"]).success();
}

#[test]
fn a_good_branch_pushes_while_a_broken_one_is_checked_out() {
    let (p, remote) = setup();
    p.mlops(&["hook", "install"]).success();
    p.git_cmd(&["branch", "good"]);
    p.git_cmd(&["switch", "-q", "-c", "wip"]);
    break_working_tree(&p);
    p.git_cmd(&["commit", "-qam", "broken"]);
    let out = push(&p, &["origin", "good"]);
    out.success();
    assert_has(&out.stderr, &["Checking good at"]);
    assert!(remote_has(&remote, "refs/heads/good"));
    // The broken branch itself is still stopped.
    let out = push(&p, &["origin", "wip"]);
    assert_ne!(out.code, 0);
    assert_has(
        &out.stderr,
        &["unknown field `nam`", "the pre-push check of `wip` failed"],
    );
}

#[test]
fn the_checked_out_commit_is_checked_as_committed_not_as_edited() {
    let (p, remote) = setup();
    p.mlops(&["hook", "install"]).success();
    // An uncommitted, broken edit does not block pushing the good commit under it...
    break_working_tree(&p);
    let out = push(&p, &["origin", "main"]);
    out.success();
    assert_has(&out.stderr, &["Checking main at"]);
    assert!(remote_has(&remote, "refs/heads/main"));
    // ...and the tree is left as it was.
    assert!(p.read("mlops.toml").contains("nam = \"typo\""));
}

#[test]
fn each_pushed_commit_uses_its_own_hooks_settings() {
    let (p, remote) = setup();
    p.mlops(&["hook", "install"]).success();
    p.git_cmd(&["switch", "-q", "-c", "quiet"]);
    let manifest = p.read("mlops.toml") + "\n[hooks]\npre_push = \"off\"\n";
    p.file("mlops.toml", &manifest);
    p.git_cmd(&["commit", "-qam", "hooks off here"]);
    p.git_cmd(&["switch", "-q", "main"]);
    // `quiet` turns the hook off for itself; `main` (checked out) does not.
    let out = push(&p, &["origin", "quiet", "main"]);
    out.success();
    assert!(!out.stderr.contains("quiet at"), "{}", out.stderr);
    assert_has(&out.stderr, &["Checking main at"]);
    assert!(remote_has(&remote, "refs/heads/quiet"));
    // A commit without a manifest has nothing to check.
    p.git_cmd(&["switch", "-q", "--orphan", "docs"]);
    p.file("README", "docs\n");
    p.git_cmd(&["add", "README"]);
    p.git_cmd(&["commit", "-qm", "docs"]);
    let out = push(&p, &["origin", "docs"]);
    out.success();
    assert_has(&out.stderr, &["Skipped docs at", "it has no mlops.toml"]);
}
