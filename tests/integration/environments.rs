//! The local target's environments: keyed by third-party requirements alone, our wheels
//! reinstalled in place when they change, progress while one is made, and `gc` removing the
//! ones no recent run used.

use std::path::{Path, PathBuf};

use crate::support::{Project, Run, assert_has, test_python};

/// A project whose entry point prints what its wheel `greet` says; `greet` needs `deps`.
pub fn project(deps: &str) -> Project {
    let p = Project::git();
    p.mlops(&["init", "--name", "envs"]).success();
    let manifest = p.read("mlops.toml") + "\n[[wheel]]\npath = \"greet\"\n";
    p.file("mlops.toml", &manifest)
        .file(
            "mlproject/train.py",
            "import greet\nprint('greet says', greet.WORD)\n",
        )
        .file(
            "greet/pyproject.toml",
            &format!(
                "[build-system]\nrequires = [\"setuptools>=61\"]\nbuild-backend = \"setuptools.build_meta\"\n\n[project]\nname = \"greet\"\nversion = \"0.1.0\"\ndependencies = [{deps}]\n"
            ),
        )
        .file("greet/greet.py", "WORD = 'one'\n");
    p.git_cmd(&["add", "-A"]);
    p.git_cmd(&["commit", "-qm", "greet"]);
    p
}

fn run(p: &Project, env: &[(&str, &str)]) -> Run {
    let python = test_python();
    p.mlops_shared_target(
        &[
            "run",
            "--python",
            python.to_str().unwrap(),
            "--entry",
            "train",
            "--json",
        ],
        env,
    )
}

fn envs(p: &Project) -> Vec<PathBuf> {
    let mut found: Vec<PathBuf> = std::fs::read_dir(p.path().join(".mlops/envs"))
        .map(|d| d.map(|e| e.unwrap().path()).collect())
        .unwrap_or_default();
    found.sort();
    found
}

fn commit(p: &Project, rel: &str, text: &str) {
    p.file(rel, text);
    p.git_cmd(&["commit", "-qam", rel]);
}

#[test]
fn a_code_change_in_a_wheel_reinstalls_it_without_a_new_environment() {
    let p = project("\"packaging\"");
    let first = run(&p, &[("MLOPS_PROGRESS_INTERVAL", "100ms")]);
    first.success();
    assert_has(&first.stderr, &["Creating environment", "greet says one"]);
    // Off a terminal, environment creation reports at a steady beat.
    assert!(
        first
            .stderr
            .lines()
            .any(|l| l.contains("Creating environment") && l.trim_end().ends_with("s]")),
        "no progress line while the environment was made:\n{}",
        first.stderr
    );
    let made = envs(&p);
    assert_eq!(made.len(), 1);
    let env = first.json()["environment"].as_str().unwrap().to_string();
    assert_eq!(Path::new(&env), made[0]);

    // A one-line code change: the same environment, the new wheel in it, nothing resolved.
    commit(&p, "greet/greet.py", "WORD = 'two'\n");
    let second = run(&p, &[]);
    second.success();
    assert_has(
        &second.stderr,
        &[
            "Updating environment",
            "greet-0.1.0",
            "--no-deps",
            "greet says two",
        ],
    );
    assert!(
        !second.stderr.contains("Creating environment"),
        "{}",
        second.stderr
    );
    assert_eq!(second.json()["environment"], env.as_str());
    assert_eq!(envs(&p), made);

    // Nothing changed: nothing is installed.
    let third = run(&p, &[]);
    third.success();
    assert_has(&third.stderr, &["Fresh environment", "greet says two"]);
    assert!(
        !third.stderr.contains("Updating environment"),
        "{}",
        third.stderr
    );

    // A changed dependency of the wheel is a third-party change: a new environment.
    let pyproject = p.read("greet/pyproject.toml").replace(
        "dependencies = [\"packaging\"]",
        "dependencies = [\"packaging\", \"six\"]",
    );
    commit(&p, "greet/pyproject.toml", &pyproject);
    let fourth = run(&p, &[]);
    fourth.success();
    assert_has(&fourth.stderr, &["Creating environment", "greet says two"]);
    assert_eq!(envs(&p).len(), 2);
}

#[test]
fn gc_removes_environments_no_recent_run_used() {
    let p = project("");
    let remote = crate::gc::with_remote(&p);
    run(&p, &[]).success();
    let made = envs(&p);
    assert_eq!(made.len(), 1);
    // A half-made environment, as an interrupted creation leaves it.
    std::fs::create_dir_all(p.path().join(".mlops/envs/0123456789abcdef/bin")).unwrap();

    // Used today: kept by the default retention.
    let kept = p.mlops(&["gc", "--json"]);
    kept.success();
    assert_eq!(kept.json()["environments"], serde_json::json!([]));

    let plan = p.mlops(&["gc", "--keep-days", "0", "--json"]);
    plan.success();
    let planned: Vec<String> = plan.json()["environments"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["path"].as_str().unwrap().to_string())
        .collect();
    assert_eq!(planned.len(), 2, "{planned:?}");
    assert!(planned.contains(&made[0].display().to_string()));
    let made_entry = plan.json()["environments"]
        .as_array()
        .unwrap()
        .iter()
        .find(|e| e["path"] == made[0].display().to_string().as_str())
        .cloned()
        .unwrap();
    assert!(
        made_entry["bytes"].as_u64().unwrap() > 1_000_000,
        "{made_entry}"
    );
    assert_eq!(made_entry["reason"], "no recent run used this environment");
    assert_eq!(envs(&p).len(), 2, "a plan deleted something");

    let text = p.mlops(&["gc", "--keep-days", "0"]);
    assert_has(
        &text.stdout,
        &["would delete environment", "no recent run used"],
    );

    p.mlops(&["gc", "--keep-days", "0", "--execute"]).success();
    assert!(envs(&p).is_empty(), "{:?}", envs(&p));
    // The next run makes it again.
    let again = run(&p, &[]);
    again.success();
    assert_has(&again.stderr, &["Creating environment"]);
    drop(remote);
}
