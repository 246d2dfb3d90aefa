//! `gc` on the local target cleans up a gone branch's experiments too: planned from the store
//! file without Python, moved to MLflow's trash through MLflow's client, and never an
//! experiment holding a released run.

use crate::release::{Interposed, project, run_with};
use crate::support::{local_store, python_json};

#[test]
fn local_gc_trashes_a_gone_branchs_experiment_but_keeps_one_with_a_released_run() {
    let p = project();
    let _remote = crate::gc::with_remote(&p);
    run_with(&p, "0.6", &[]);
    // Neither branch was ever pushed, so both are gone from the remote.
    run_with(&p, "0.7", &[("MLOPS_BRANCH", "feature/x")]);
    run_with(&p, "0.8", &[("MLOPS_BRANCH", "release/y")]);
    let released = p.mlops_in(
        ".",
        &["release", "--json"],
        &[("MLOPS_BRANCH", "release/y")],
    );
    released.success();
    assert_eq!(released.json()["registered"], true, "{}", released.stderr);
    let experiment = |branch: &str| {
        p.mlops_in(".", &["runs", "--json"], &[("MLOPS_BRANCH", branch)])
            .json()["experiment"]
            .as_str()
            .unwrap()
            .to_string()
    };
    let (x, y, main) = (
        experiment("feature/x"),
        experiment("release/y"),
        experiment("main"),
    );
    // feature/z (gone too) has a run still in flight: its experiment stays while it runs.
    run_with(&p, "0.5", &[("MLOPS_BRANCH", "feature/z")]);
    let z = experiment("feature/z");
    let going = python_json(
        "import json, sys\nfrom mlflow.tracking import MlflowClient\nc = MlflowClient(sys.argv[1])\ne = c.get_experiment_by_name(sys.argv[2])\nprint(json.dumps(c.create_run(e.experiment_id).info.run_id))",
        &[&local_store(&p), &z],
    );

    // The plan reads the store itself: no Python starts.
    let plan = {
        let _broken = Interposed::new(&p, "echo 'no Python should start' >&2\nexit 97");
        p.mlops(&["gc", "--json"])
    };
    plan.success();
    let report = plan.json();
    let names = |key: &str| -> Vec<String> {
        report[key]
            .as_array()
            .unwrap()
            .iter()
            .map(|e| e["name"].as_str().unwrap().to_string())
            .collect()
    };
    assert_eq!(names("experiments"), [x.as_str()], "{report}");
    let mut kept = names("kept_experiments");
    kept.sort();
    let mut want = vec![y.clone(), z.clone()];
    want.sort();
    assert_eq!(kept, want, "{report}");
    assert!(
        report["kept_experiments"].to_string().contains(&format!(
            "its run {} is still in flight",
            going.as_str().unwrap()
        )),
        "{report}"
    );

    // The same plan from MLflow's client, for a store we do not read ourselves.
    let by_mlflow = p.mlops_in(
        ".",
        &["gc", "--json"],
        &[("MLOPS_READ_STORE_WITH_MLFLOW", "1")],
    );
    by_mlflow.success();
    assert_eq!(by_mlflow.json()["experiments"], report["experiments"]);
    assert_eq!(
        by_mlflow.json()["kept_experiments"],
        report["kept_experiments"]
    );

    p.mlops(&["gc", "--execute"]).success();
    let stage = |name: &str| {
        python_json(
            "import json, sys\nfrom mlflow.tracking import MlflowClient\ne = MlflowClient(sys.argv[1]).get_experiment_by_name(sys.argv[2])\nprint(json.dumps(e.lifecycle_stage))",
            &[&local_store(&p), name],
        )
    };
    assert_eq!(stage(&x), "deleted");
    assert_eq!(stage(&y), "active");
    assert_eq!(
        stage(&z),
        "active",
        "an experiment with a run in flight was trashed"
    );
    assert_eq!(stage(&main), "active");
}
