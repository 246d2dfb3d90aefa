//! The local target with `MLFLOW_TRACKING_URI` naming an MLflow tracking server (the tests'
//! real `mlflow server`): `runs`, `compare` and the lookups of `release` read it over MLflow's
//! REST API, starting no Python, and print what MLflow's own client reads; a registration and
//! a promote start Python once each.

use crate::release::{Interposed, project, run_with};
use crate::support::fake::mlflow_server::mlflow_server;
use crate::support::{Run, python_json};

#[test]
fn a_tracking_server_is_read_over_its_rest_api_as_mlflow_reads_it() {
    let url = mlflow_server().url.clone();
    let p = project();
    // A project and model no other test uses on the shared server.
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_nanos();
    let name = format!("srv{nanos:x}");
    let model = format!("{name}-model");
    let manifest = p
        .read("mlops.toml")
        .replace("name = \"rel\"", &format!("name = \"{name}\""))
        .replace("rel-model", &model);
    p.file("mlops.toml", &manifest);
    p.git_cmd(&["commit", "-qam", "own names"]);
    let env = [("MLFLOW_TRACKING_URI", url.as_str())];
    let weak = run_with(&p, "0.6", &env);
    let strong = run_with(&p, "0.8", &env);
    p.git_cmd(&["switch", "-q", "-c", "feature/srv"]);
    let feature = run_with(&p, "0.7", &env);

    let counted = Interposed::new(&p, "echo started >> \"$0.log\"\nexec \"$0.kept\" \"$@\"");
    let ours = |args: &[&str]| p.mlops_in(".", args, &env);
    let mlflows =
        |args: &[&str]| p.mlops_in(".", args, &[env[0], ("MLOPS_READ_STORE_WITH_MLFLOW", "1")]);
    let reads: [&[&str]; 4] = [
        &["runs", "--json"],
        &["runs"],
        &["compare", "--json"],
        &["compare"],
    ];
    let read: Vec<Run> = reads.iter().map(|args| ours(args)).collect();
    assert_eq!(counted.starts(), 0, "Python processes for runs and compare");
    for (args, out) in reads.iter().zip(&read) {
        out.success();
        let by_mlflow = mlflows(args);
        by_mlflow.success();
        assert_eq!(out.stdout, by_mlflow.stdout, "{args:?}");
    }
    assert!(counted.starts() >= reads.len(), "the fallback used MLflow");
    let listed = read[0].json();
    assert_eq!(listed["runs"][0]["run_id"], feature.as_str());
    let compared = read[2].json();
    assert_eq!(
        compared["base_run"]["run_id"],
        strong.as_str(),
        "{compared}"
    );

    // Back on main: a release registers with one Python process; again, it reads the
    // server and starts none; a promote starts one.
    p.git_cmd(&["switch", "-q", "main"]);
    let before = counted.starts();
    let first = ours(&["release", "--json"]);
    first.success();
    assert_eq!(
        counted.starts(),
        before + 1,
        "Python for a registering release"
    );
    assert_eq!(first.json()["run_id"], strong.as_str());
    assert_eq!(first.json()["registered"], true);
    let again = ours(&["release", "--json"]);
    let dry = ours(&["release", "--dry-run", "--json"]);
    assert_eq!(
        counted.starts(),
        before + 1,
        "Python for a release with nothing to do"
    );
    again.success();
    dry.success();
    assert_eq!(again.json()["registered"], false);
    assert_eq!(again.json()["version"], first.json()["version"]);
    assert_eq!(dry.json()["version"], first.json()["version"]);
    ours(&["promote", "--alias", "champion", "--from", "challenger"]).success();
    assert_eq!(counted.starts(), before + 2, "Python for a promote");
    drop(counted);

    let registry = python_json(
        "import json, sys\nfrom mlflow.tracking import MlflowClient\nc = MlflowClient(sys.argv[1])\nm = c.get_registered_model(sys.argv[2])\nvs = c.search_model_versions(\"name='%s'\" % sys.argv[2])\nprint(json.dumps({'runs': [v.run_id for v in vs], 'aliases': {k: str(v) for k, v in m.aliases.items()}}))",
        &[&url, &model],
    );
    assert_eq!(registry["runs"], serde_json::json!([strong]));
    assert_eq!(registry["aliases"]["champion"], "1");
    assert_eq!(registry["aliases"]["challenger"], "1");
    assert_ne!(weak, strong);
}
