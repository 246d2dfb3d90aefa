//! Completions, help for every command (snapshots), and panics as short errors.

use crate::support::{Project, assert_has, snapshot_settings};

#[test]
fn completions_for_every_shell() {
    let p = Project::bare();
    for shell in ["bash", "zsh", "fish", "powershell"] {
        let out = p.mlops(&["completions", shell]);
        out.success();
        assert_has(&out.stdout, &["cargo-mlops", "deploy", "manifest-path"]);
    }
    let bash = p.mlops(&["completions", "bash"]).stdout;
    let check = std::process::Command::new("bash")
        .args(["-n", "-c", &bash])
        .output()
        .unwrap();
    assert!(
        check.status.success(),
        "{}",
        String::from_utf8_lossy(&check.stderr)
    );
    p.mlops(&["completions", "tcsh"]).code(2);
}

#[test]
fn every_command_has_help() {
    let p = Project::bare();
    for command in [
        "init",
        "check",
        "build",
        "render",
        "deploy",
        "run",
        "status",
        "logs",
        "cancel",
        "hook",
        "gc",
        "completions",
    ] {
        let out = p.mlops(&[command, "--help"]);
        out.success();
        snapshot_settings()
            .bind(|| insta::assert_snapshot!(format!("help_{command}"), out.snapshot()));
    }
    // Every subcommand and flag says what it is for in one line.
    use clap::CommandFactory;
    let cmd = cargo_mlops::cli::Cargo::command();
    let mlops = cmd.find_subcommand("mlops").unwrap();
    for sub in mlops.get_subcommands() {
        assert!(
            sub.get_about().is_some(),
            "`{}` has no help",
            sub.get_name()
        );
        for arg in sub.get_arguments() {
            assert!(
                arg.get_help().is_some(),
                "`{} --{}` has no help",
                sub.get_name(),
                arg.get_id()
            );
        }
    }
}

#[test]
fn a_panic_is_a_short_error_with_exit_code_2() {
    let p = Project::bare();
    let out = p.mlops_in(".", &["check"], &[("CARGO_MLOPS_TEST_PANIC", "1")]);
    out.code(2);
    assert_has(
        &out.stderr,
        &[
            "internal error",
            "a deliberate panic",
            "this is a bug in cargo-mlops",
        ],
    );
    assert!(!out.stderr.contains("stack backtrace"), "{}", out.stderr);
}

#[test]
fn the_schema_command_prints_the_committed_schema() {
    let p = Project::bare();
    let out = p.mlops(&["schema"]);
    out.success();
    let printed: serde_json::Value = serde_json::from_str(&out.stdout).unwrap();
    let committed: serde_json::Value = serde_json::from_str(
        &std::fs::read_to_string(
            std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("mlops.schema.json"),
        )
        .unwrap(),
    )
    .unwrap();
    assert_eq!(printed, committed);
}
