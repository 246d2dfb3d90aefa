//! `runs` and `compare`: a branch's runs read back from the tracking store (the fake
//! workspace over REST, the local store through MLflow), and a branch's latest finished run
//! beside its base branch's, also in a pull request build's summary.

use serde_json::Value;

use crate::support::fake::FakeWorkspace;
use crate::support::{Project, assert_has, test_python};

use crate::compute::on_jobcluster_with as on_fake;

fn metric<'a>(compared: &'a Value, name: &str) -> &'a Value {
    compared["metrics"]
        .as_array()
        .unwrap()
        .iter()
        .find(|m| m["metric"] == name)
        .unwrap_or_else(|| panic!("no {name} in {compared}"))
}

#[test]
fn a_branch_is_compared_with_its_base_on_databricks() {
    let p = crate::compute::demo();
    let ws = FakeWorkspace::start();
    ws.execute_jobs(&test_python());
    on_fake(
        &p,
        &ws,
        &["run", "--entry", "train", "-P", "epochs=20"],
        &[],
    )
    .success();

    p.git_cmd(&["switch", "-q", "-c", "feature/more-epochs"]);
    let run = on_fake(
        &p,
        &ws,
        &["run", "--entry", "train", "-P", "epochs=80", "--json"],
        &[],
    );
    run.success();
    let run_id = run.json()["mlflow_run_id"].as_str().unwrap().to_string();

    let listed = on_fake(&p, &ws, &["runs", "--json"], &[]);
    listed.success();
    let runs = listed.json()["runs"].as_array().unwrap().clone();
    assert_eq!(runs.len(), 1, "{runs:?}");
    assert_eq!(runs[0]["run_id"], run_id.as_str());
    assert_eq!(runs[0]["entry"], "train");
    assert_eq!(runs[0]["params"]["epochs"], "80");
    assert!(runs[0]["metrics"]["accuracy"].as_f64().is_some());

    let compared = on_fake(&p, &ws, &["compare", "--json"], &[]);
    compared.success();
    let c = compared.json();
    assert_eq!(c["base_branch"], "main");
    assert_eq!(c["base_source"], "default");
    assert_eq!(c["run"]["run_id"], run_id.as_str());
    assert_eq!(c["base_run"]["params"]["epochs"], "20");
    let accuracy = metric(&c, "accuracy");
    let (base, this) = (
        accuracy["base"].as_f64().unwrap(),
        accuracy["this"].as_f64().unwrap(),
    );
    assert!((accuracy["difference"].as_f64().unwrap() - (this - base)).abs() < 1e-9);
    assert_eq!(
        c["params"],
        serde_json::json!([{"param": "epochs", "base": "20", "this": "80"}])
    );
    let text = on_fake(&p, &ws, &["compare"], &[]);
    text.success();
    assert_has(
        &text.stdout,
        &[
            "metric",
            "base (main)",
            "this (feature/more-epochs)",
            "accuracy",
            "epochs",
        ],
    );

    // A base that is no branch is said as such, not failed.
    let lonely = on_fake(&p, &ws, &["compare", "--base", "nowhere"], &[]);
    lonely.success();
    assert_has(
        &lonely.stderr,
        &[
            "there is no branch `nowhere` here or on a remote",
            "--base BRANCH",
        ],
    );
    // A branch without finished runs of the entry point is said too.
    p.git_cmd(&["branch", "quiet"]);
    let quiet = on_fake(&p, &ws, &["compare", "--base", "quiet"], &[]);
    quiet.success();
    assert_has(
        &quiet.stderr,
        &["the base branch `quiet` (from --base) has no finished run of entry point `train`"],
    );

    // A pull request build: the comparison lands in the step summary.
    let summary = p.path().join("summary.md");
    let pr = on_fake(
        &p,
        &ws,
        &["run", "--entry", "train", "-P", "epochs=40"],
        &[
            ("GITHUB_ACTIONS", "true"),
            ("GITHUB_BASE_REF", "main"),
            ("GITHUB_HEAD_REF", "feature/more-epochs"),
            ("GITHUB_STEP_SUMMARY", summary.to_str().unwrap()),
        ],
    );
    pr.success();
    let md = std::fs::read_to_string(&summary).unwrap();
    assert_has(
        &md,
        &[
            "### `train` on `feature/more-epochs` compared with `main`",
            "| metric | base | this | change |",
            "| accuracy |",
            "| epochs | `20` | `40` |",
        ],
    );
}

#[test]
fn local_runs_are_listed_and_compared() {
    let p = Project::git();
    p.mlops(&["init", "--name", "cmp"]).success();
    p.git_cmd(&["add", "-A"]);
    p.git_cmd(&["commit", "-qm", "init"]);
    let python = test_python();
    let run = |params: &[&str]| {
        let mut args = vec![
            "run",
            "--python",
            python.to_str().unwrap(),
            "--entry",
            "train",
            "--json",
        ];
        args.extend_from_slice(params);
        let out = p.mlops_shared_target(&args, &[]);
        out.success();
        out.json()["mlflow_run_id"].as_str().unwrap().to_string()
    };
    // Nothing yet: an empty list, not an error.
    let empty = p.mlops(&["runs"]);
    empty.success();
    assert_has(&empty.stderr, &["has no runs yet"]);
    let first = run(&["-P", "alpha=0.1"]);
    let second = run(&["-P", "alpha=0.3"]);
    let listed = p.mlops(&["runs", "--json"]);
    listed.success();
    let ids: Vec<String> = listed.json()["runs"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["run_id"].as_str().unwrap().to_string())
        .collect();
    assert_eq!(ids, [second.clone(), first.clone()], "newest first");
    let text = p.mlops(&["runs", "--limit", "5"]);
    text.success();
    let header = text.stdout.lines().next().unwrap();
    for column in ["run", "start", "status", "entry", "commit", "alpha", "mse"] {
        assert!(header.split_whitespace().any(|c| c == column), "{header}");
    }
    assert!(
        !header.contains("epochs"),
        "a parameter that never varied is a column: {header}"
    );
    let one = p.mlops(&["runs", "--limit", "1", "--json"]);
    assert_eq!(one.json()["runs"].as_array().unwrap().len(), 1);

    p.git_cmd(&["switch", "-q", "-c", "try-alpha"]);
    let mine = run(&["-P", "alpha=0.5"]);
    let compared = p.mlops(&["compare", "--json"]);
    compared.success();
    let c = compared.json();
    assert_eq!(c["run"]["run_id"], mine.as_str());
    assert_eq!(
        c["base_run"]["run_id"],
        second.as_str(),
        "the base's latest finished run"
    );
    assert!(metric(&c, "mse")["percent"].as_f64().is_some());
    // A named run, against a base named in mlops.toml.
    let manifest = p.read("mlops.toml") + "\n[compare]\nbase = \"main\"\n";
    p.file("mlops.toml", &manifest);
    let named = p.mlops(&["compare", &mine, "--json"]);
    named.success();
    assert_eq!(named.json()["base_source"], "[compare] base");
    let unknown = p.mlops(&["compare", "no-such-run"]);
    unknown.code(2);
    assert_has(
        &unknown.stderr,
        &["run `no-such-run` is not among", "cargo mlops runs"],
    );
}
