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
        "runs",
        "compare",
        "release",
        "promote",
        "gc",
        "completions",
        "schema",
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

#[test]
fn the_fixture_manifests_satisfy_the_schema_and_a_bad_one_does_not() {
    let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR"));
    let script = r#"
import json, sys, tomllib
import jsonschema
schema = json.load(open(sys.argv[1]))
bad = []
for path in sys.argv[2:]:
    with open(path, "rb") as f:
        doc = tomllib.load(f)
    errors = list(jsonschema.Draft202012Validator(schema).iter_errors(doc))
    print(json.dumps({"path": path, "errors": [e.message for e in errors]}))
"#;
    let dir = tempfile::tempdir().unwrap();
    let bad = dir.path().join("bad.toml");
    std::fs::write(&bad, "[project]\nname = \"x\"\n[cluster]\nnum_worker = 2\n").unwrap();
    let out = std::process::Command::new(crate::support::test_python())
        .args(["-c", script])
        .arg(root.join("mlops.schema.json"))
        .arg(root.join("fixtures/demo/mlops.toml"))
        .arg(root.join("fixtures/seed/mlops.toml"))
        .arg(root.join("templates/init/mlops.toml"))
        .arg(&bad)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let results: Vec<serde_json::Value> = String::from_utf8_lossy(&out.stdout)
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(results.len(), 4);
    for r in &results[..3] {
        assert_eq!(r["errors"], serde_json::json!([]), "{r}");
    }
    assert!(
        results[3]["errors"].to_string().contains("num_worker"),
        "{}",
        results[3]
    );
}
