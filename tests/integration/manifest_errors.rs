//! Each class of manifest error, as the user sees it: file, line, column, key, expectation,
//! closest names, exit code 2.

use crate::support::{Project, snapshot_settings};

fn check_with(manifest: &str) -> crate::support::Run {
    let p = Project::git();
    p.file("mlops.toml", manifest)
        .dir("mlproject")
        .dir("python/a");
    p.file("python/a/pyproject.toml", "");
    let run = p.mlops(&["check"]);
    run.code(2);
    run
}

macro_rules! manifest_error {
    ($name:ident, $manifest:expr, $($expected:expr),+) => {
        #[test]
        fn $name() {
            let run = check_with($manifest);
            $(assert!(run.stderr.contains($expected), "missing {:?} in:\n{}", $expected, run.stderr);)+
            snapshot_settings().bind(|| insta::assert_snapshot!(stringify!($name), run.snapshot()));
        }
    };
}

manifest_error!(
    unknown_key,
    "[project]\nname = \"churn\"\n\n[cluster]\nnum_worker = 2\n",
    "mlops.toml:5:1",
    "`cluster.num_worker`",
    "did you mean `num_workers`?"
);

manifest_error!(
    wrong_type,
    "[project]\nname = \"churn\"\n[cluster]\nnum_workers = \"two\"\n",
    "mlops.toml:4:15",
    "`cluster.num_workers`",
    "expected a whole number"
);

manifest_error!(
    unknown_placeholder,
    "[project]\nname = \"churn\"\n[targets.dev]\nkind = \"databricks\"\nartifacts = \"dbfs:/mlops/{branh}\"\n",
    "mlops.toml:5:26",
    "`targets.dev.artifacts`",
    "unknown placeholder `{branh}`",
    "did you mean `branch`?"
);

manifest_error!(
    duplicate_wheel_path,
    "[project]\nname = \"churn\"\n[[wheel]]\npath = \"python/a\"\n[[wheel]]\npath = \"python/a/\"\n",
    "mlops.toml:6:8",
    "`wheel[1].path`",
    "duplicate wheel path"
);

manifest_error!(
    missing_project,
    "[environment]\npython = \"3.11\"\n",
    "mlops.toml:1:1",
    "missing `[project]` table"
);

manifest_error!(
    relative_databricks_experiment,
    "[project]\nname = \"churn\"\n[targets.dev]\nkind = \"databricks\"\nartifacts = \"/Volumes/a/b/c\"\nexperiment = \"churn/{branch}\"\n",
    "mlops.toml:6:14",
    "`targets.dev.experiment`",
    "not an absolute workspace path",
    "/Shared/{project}/{branch}"
);

manifest_error!(
    missing_wheel_folder,
    "[project]\nname = \"churn\"\n[[wheel]]\npath = \"python/missing\"\n",
    "mlops.toml:4:8",
    "`wheel[0].path`",
    "does not exist"
);

manifest_error!(
    missing_mlproject_folder,
    "[project]\nname = \"churn\"\nmlproject = \"nope\"\n",
    "mlops.toml:3:13",
    "`project.mlproject`",
    "does not exist"
);

manifest_error!(syntax_error, "[project]\nname = \"churn\n", "mlops.toml:2:");

/// `check` on a manifest of raw bytes.
fn check_bytes(bytes: &[u8]) -> crate::support::Run {
    let p = Project::git();
    p.dir("mlproject");
    std::fs::write(p.path().join("mlops.toml"), bytes).unwrap();
    let run = p.mlops(&["check"]);
    run.code(2);
    run
}

#[test]
fn a_huge_manifest_is_refused_before_it_is_read() {
    let run = check_bytes(&vec![0u8; 3 * 1024 * 1024]);
    assert!(
        run.stderr
            .contains("the manifest is 3.00 MiB (at most 1.00 MiB is read)"),
        "{}",
        run.stderr
    );
    assert!(
        run.stderr.len() < 1000,
        "{} bytes of stderr",
        run.stderr.len()
    );
}

#[test]
fn a_manifest_that_is_not_utf8_gets_its_position() {
    let run = check_bytes(b"[project]\nname = \"ch\xffurn\"\n");
    assert!(run.stderr.contains("mlops.toml:2:11"), "{}", run.stderr);
    assert!(run.stderr.contains("not UTF-8"), "{}", run.stderr);
    assert!(
        run.stderr.contains("invalid byte at offset 20"),
        "{}",
        run.stderr
    );
    assert!(!run.stderr.contains("--manifest-path"), "{}", run.stderr);
}

#[test]
fn snippets_are_cut_and_control_characters_escaped() {
    // A raw escape sequence where TOML allows none, on a very long line.
    let long = format!(
        "[project]\nname = \"churn\"\ndescription = \"{}\x1b]0;owned\x07\"\n",
        "x".repeat(5000)
    );
    let run = check_bytes(long.as_bytes());
    assert!(!run.stderr.contains('\x1b'), "{:?}", run.stderr);
    assert!(!run.stderr.contains('\x07'), "{:?}", run.stderr);
    assert!(run.stderr.contains("\\u{1b}"), "{}", run.stderr);
    assert!(run.stderr.contains("mlops.toml:3:"), "{}", run.stderr);
    let widest = run.stderr.lines().map(|l| l.chars().count()).max().unwrap();
    assert!(widest < 200, "a {widest}-character line:\n{}", run.stderr);
    assert!(run.stderr.contains('…'), "{}", run.stderr);
}
