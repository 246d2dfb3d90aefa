//! Every `--json` prints one object whose keys are the guide's "JSON output" table
//! (`docs/commands.md`); `run`
//! has the same keys on the local target and on Databricks.

use std::collections::{BTreeMap, BTreeSet};

use serde_json::Value;

use crate::support::fake::FakeWorkspace;
use crate::support::{Run, test_python};

/// The guide's table (`docs/commands.md`): command → (required keys, optional keys).
pub fn documented() -> BTreeMap<String, (BTreeSet<String>, BTreeSet<String>)> {
    let readme =
        std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/docs/commands.md")).unwrap();
    let section = readme
        .split("\n## JSON output\n")
        .nth(1)
        .expect("docs/commands.md has a JSON output section");
    let section = section.split("\n## ").next().unwrap();
    let mut table = BTreeMap::new();
    for line in section.lines().filter(|l| l.starts_with("| `")) {
        let cells: Vec<&str> = line.trim_matches('|').split('|').map(str::trim).collect();
        let command = cells[0].trim_matches('`').to_string();
        let (mut required, mut optional) = (BTreeSet::new(), BTreeSet::new());
        for key in cells[1].split(',').map(|k| k.trim().trim_matches('`')) {
            match key.strip_suffix('?') {
                Some(k) => optional.insert(k.to_string()),
                None => required.insert(key.to_string()),
            };
        }
        table.insert(command, (required, optional));
    }
    table
}

fn keys(run: &Run) -> BTreeSet<String> {
    match run.json() {
        Value::Object(map) => map.keys().cloned().collect(),
        other => panic!("not one object: {other}"),
    }
}

pub fn assert_documented(
    table: &BTreeMap<String, (BTreeSet<String>, BTreeSet<String>)>,
    command: &str,
    run: &Run,
) {
    let (required, optional) = table
        .get(command)
        .unwrap_or_else(|| panic!("`{command}` is not in the JSON table of docs/commands.md"));
    let got = keys(run);
    let missing: Vec<&String> = required.difference(&got).collect();
    let extra: Vec<&String> = got
        .iter()
        .filter(|k| !required.contains(*k) && !optional.contains(*k))
        .collect();
    assert!(
        missing.is_empty() && extra.is_empty(),
        "`{command} --json`: missing {missing:?}, undocumented {extra:?}"
    );
}

#[test]
fn every_json_output_has_the_documented_keys() {
    let table = documented();
    let python = test_python();
    let py = python.to_str().unwrap();

    let p = crate::environments::project("");
    let remote = crate::gc::with_remote(&p);
    let local = |args: &[&str]| {
        let mut all = args.to_vec();
        all.extend(["--json", "--python", py]);
        let run = p.mlops_shared_target(&all, &[]);
        assert_eq!(run.code, 0, "{args:?}: {}", run.snapshot());
        run
    };
    assert_documented(&table, "check", &local(&["check", "--entry", "train"]));
    assert_documented(&table, "build", &local(&["build"]));
    assert_documented(&table, "render", &local(&["render", "--out", "rendered"]));
    assert_documented(&table, "deploy --dry-run", &local(&["deploy", "--dry-run"]));
    assert_documented(&table, "deploy", &local(&["deploy"]));
    let local_run = local(&["run", "--entry", "train"]);
    assert_documented(&table, "run", &local_run);
    assert_documented(&table, "gc", &local(&["gc"]));
    assert_documented(&table, "runs", &p.mlops(&["runs", "--json"]));
    assert_documented(&table, "compare", &p.mlops(&["compare", "--json"]));
    drop(remote);

    let d = crate::compute::demo();
    let ws = FakeWorkspace::start();
    let remote_run = d.mlops_ws(
        &ws,
        &[
            "run",
            "--entry",
            "train",
            "--target",
            "jobcluster",
            "--json",
            "--python",
            py,
        ],
        &[],
    );
    assert_eq!(remote_run.code, 0, "{}", remote_run.snapshot());
    assert_eq!(
        keys(&remote_run),
        keys(&local_run),
        "run --json differs by target"
    );
    let id = remote_run.json()["databricks_run_id"].to_string();
    for command in ["status", "logs", "cancel"] {
        let out = d.mlops_ws(
            &ws,
            &[command, &id, "--target", "jobcluster", "--json"],
            &[],
        );
        assert_eq!(out.code, 0, "{command}: {}", out.snapshot());
        assert_documented(&table, command, &out);
    }
    // Every command in the table was checked (`release` and `promote` in release.rs, the
    // `jobs` commands in jobs.rs, `approve` in deployment_jobs.rs).
    assert_eq!(
        table.keys().map(String::as_str).collect::<Vec<_>>(),
        [
            "approve",
            "build",
            "cancel",
            "check",
            "compare",
            "deploy",
            "deploy --dry-run",
            "gc",
            "jobs deploy",
            "jobs list",
            "jobs remove",
            "jobs run",
            "logs",
            "promote",
            "release",
            "render",
            "run",
            "runs",
            "status"
        ]
    );
}

#[test]
fn conventions_of_cargo_subcommands() {
    let p = crate::environments::project("");
    // -t is --target.
    let out = p.mlops(&["check", "-t", "nope"]);
    out.code(2);
    assert!(
        out.stderr.contains("unknown target `nope`"),
        "{}",
        out.stderr
    );
    // -vv shows more than -v: every HTTP request.
    let ws = FakeWorkspace::start();
    let manifest = p.read("mlops.toml")
        + "\n[targets.dev]\nkind = \"databricks\"\nartifacts = \"/Volumes/main/mlops/artifacts\"\ncompute = \"serverless\"\n";
    p.file("mlops.toml", &manifest);
    p.git_cmd(&["commit", "-qam", "dev"]);
    let python = test_python();
    let deploy = |flag: &str| {
        let out = p.mlops_ws(
            &ws,
            &[
                "deploy",
                "-t",
                "dev",
                flag,
                "--python",
                python.to_str().unwrap(),
            ],
            &[],
        );
        out.success();
        out.stderr.clone()
    };
    let v = deploy("-v");
    let vv = deploy("-vv");
    assert!(!v.contains("HTTP "), "{v}");
    assert!(
        vv.contains("HTTP GET /api/2.0/fs/directories/")
            || vv.contains("HTTP HEAD /api/2.0/fs/files/"),
        "{vv}"
    );
    assert!(vv.contains("-> 200"), "{vv}");
    assert!(!vv.contains(ws.token()), "a token in the trace");
    // CARGO_TERM_COLOR is honoured as cargo honours it (the flag still wins).
    let coloured = p.mlops_in(
        ".",
        &["check", "-t", "nope"],
        &[("CARGO_TERM_COLOR", "always")],
    );
    assert!(coloured.stderr.contains("\u{1b}["), "{}", coloured.stderr);
    let plain = p.mlops_in(
        ".",
        &["check", "-t", "nope", "--color", "never"],
        &[("CARGO_TERM_COLOR", "always")],
    );
    assert!(!plain.stderr.contains("\u{1b}["), "{}", plain.stderr);
    let bad = p.mlops_in(".", &["check"], &[("CARGO_TERM_COLOR", "sometimes")]);
    bad.code(2);
    // build's table has headers.
    let built = p.mlops_shared_target(&["build", "--python", python.to_str().unwrap()], &[]);
    built.success();
    let header = built.stdout.lines().next().unwrap();
    for column in ["wheel", "version", "size", "address", "from", "file"] {
        assert!(header.split_whitespace().any(|c| c == column), "{header}");
    }
    assert!(
        built.stdout.lines().nth(1).unwrap().starts_with("greet"),
        "{}",
        built.stdout
    );
}
