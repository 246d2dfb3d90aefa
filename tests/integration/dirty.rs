//! Uncommitted changes are never invisible: a deploy from a dirty tree says so, records it,
//! keys its record by content, and its runs carry `mlops.dirty` beside the other provenance.

use serde_json::Value;

use crate::environments::project;
use crate::support::{Project, assert_has, local_store, python_json, test_python};

fn deploy(p: &Project) -> crate::support::Run {
    let python = test_python();
    p.mlops_shared_target(
        &["deploy", "--json", "--python", python.to_str().unwrap()],
        &[],
    )
}

/// The tags of a local run, as MLflow's client reads them.
fn run_tags(p: &Project, run_id: &str) -> Value {
    python_json(
        "import json, sys\nfrom mlflow.tracking import MlflowClient\nprint(json.dumps(MlflowClient(sys.argv[1]).get_run(sys.argv[2]).data.tags))",
        &[&local_store(p), run_id],
    )
}

#[test]
fn dirty_deploys_warn_are_recorded_by_content_and_tag_their_runs() {
    let p = project("");
    p.git_cmd(&[
        "remote",
        "add",
        "origin",
        "https://example.com/team/envs.git",
    ]);
    let commit = p.git_cmd(&["rev-parse", "HEAD"]).trim().to_string();

    let clean = deploy(&p);
    clean.success();
    assert!(!clean.stderr.contains("uncommitted"), "{}", clean.stderr);
    let clean_record = clean.json()["record"].as_str().unwrap().to_string();
    assert!(
        clean_record.ends_with(&format!("/deploys/{commit}.json")),
        "{clean_record}"
    );
    // The tool's own state never counts as a change.
    assert_eq!(p.git_cmd(&["status", "--porcelain"]).trim(), "");

    // An edit in the wheel and six new files: the warning names five, and counts the rest.
    p.file("greet/greet.py", "WORD = 'edited'\n");
    for i in 0..6 {
        p.file(&format!("notes/{i}.txt"), "x\n");
    }
    let dirty = deploy(&p);
    dirty.success();
    assert_has(
        &dirty.stderr,
        &[
            "warning: the working tree has uncommitted changes",
            "greet/greet.py",
            "and 2 more",
            "recorded as dirty",
        ],
    );
    let first = dirty.json()["record"].as_str().unwrap().to_string();
    let prefix = format!("/deploys/{commit}-dirty-");
    let key = first
        .rsplit_once(&prefix)
        .expect(&first)
        .1
        .trim_end_matches(".json");
    assert!(
        key.len() == 16 && key.chars().all(|c| c.is_ascii_hexdigit()),
        "{first}"
    );
    let record: Value = serde_json::from_str(&std::fs::read_to_string(&first).unwrap()).unwrap();
    let listed: Vec<&str> = record["dirty"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v.as_str().unwrap())
        .collect();
    assert!(listed.contains(&"greet/greet.py"), "{listed:?}");
    assert_eq!(listed.len(), 7, "{listed:?}");
    let first_text = std::fs::read_to_string(&first).unwrap();

    // Another uncommitted edit: its own record; neither the first nor the clean one is touched.
    p.file("greet/greet.py", "WORD = 'edited again'\n");
    let second = deploy(&p);
    second.success();
    let second_record = second.json()["record"].as_str().unwrap().to_string();
    assert_ne!(second_record, first);
    assert_eq!(std::fs::read_to_string(&first).unwrap(), first_text);
    assert!(std::path::Path::new(&clean_record).is_file());

    // Back to the first edit: the same content finds the same record.
    p.file("greet/greet.py", "WORD = 'edited'\n");
    assert_eq!(deploy(&p).success().json()["record"], first.as_str());

    // A run from the dirty tree carries the same provenance as a Databricks run, and the flag.
    let python = test_python();
    let run = p.mlops_shared_target(
        &[
            "run",
            "--python",
            python.to_str().unwrap(),
            "--entry",
            "train",
            "--json",
        ],
        &[],
    );
    run.success();
    let run_id = run.json()["mlflow_run_id"].as_str().unwrap().to_string();
    let tags = run_tags(&p, &run_id);
    assert_eq!(tags["mlops.dirty"], "true");
    assert_eq!(tags["mlflow.source.git.commit"], commit.as_str());
    assert_eq!(tags["mlflow.source.git.branch"], "main");
    assert_eq!(
        tags["mlflow.source.git.repoURL"],
        "https://example.com/team/envs.git"
    );
    assert_eq!(tags["mlops.branch"], "main");
    assert_eq!(tags["mlops.target"], "local");
    assert_eq!(tags["mlops.deploy_record"], first.as_str());
    let wheel_tag = tags
        .as_object()
        .unwrap()
        .iter()
        .find(|(k, _)| k.starts_with("mlops.wheel.greet-0.1.0"))
        .expect("a wheel hash tag");
    assert_eq!(wheel_tag.1.as_str().unwrap().len(), 64);

    // Committed: clean again, and no flag.
    p.git_cmd(&["add", "-A"]);
    p.git_cmd(&["commit", "-qm", "edits"]);
    let run = p.mlops_shared_target(
        &[
            "run",
            "--python",
            python.to_str().unwrap(),
            "--entry",
            "train",
            "--json",
            "-q",
        ],
        &[],
    );
    run.success();
    let tags = run_tags(&p, run.json()["mlflow_run_id"].as_str().unwrap());
    assert!(tags.get("mlops.dirty").is_none(), "{tags}");
}
