//! Our MLflow client, and the commands that read runs back over REST (`runs`, `compare`),
//! against a real `mlflow server` of the version the tests install: MLflow's own error codes,
//! filter syntax, key rules and run lifecycle, not our fake's reading of them.

use cargo_mlops::databricks::Client;
use cargo_mlops::databricks::auth::{Config, Method};
use cargo_mlops::databricks::mlflow::Mlflow;
use cargo_mlops::databricks::secret::Secret;
use serde_json::{Value, json};

use crate::support::fake::FakeWorkspace;
use crate::support::mlflow_server::mlflow_server;
use crate::support::{Project, assert_has};

fn client() -> Client {
    Client::new(Config {
        host: mlflow_server().url.clone(),
        method: Method::Pat(Secret::new("dapi-unused-by-mlflow-server")),
        source: "the test".into(),
    })
    .unwrap()
}

/// A name no other test uses on the shared server.
fn unique(prefix: &str) -> String {
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_nanos();
    format!("{prefix}{nanos:x}")
}

fn now_ms() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_millis() as i64
}

#[test]
fn the_run_lifecycle_as_mlflow_itself_answers_it() {
    let c = client();
    let m = Mlflow { client: &c };
    let name = unique("/Users/ada@example.com/lifecycle/");
    assert!(m.experiment_by_name(&name).unwrap().is_none());
    let id = m.create_experiment(&name).unwrap();
    // A second create is MLflow's RESOURCE_ALREADY_EXISTS, which `submit` resolves by name.
    let again = m.create_experiment(&name).unwrap_err();
    assert!(again.is("RESOURCE_ALREADY_EXISTS"), "{again}");
    assert_eq!(
        m.experiment_by_name(&name).unwrap().unwrap().experiment_id,
        id
    );

    let tags = vec![("mlops.target".to_string(), "dev".to_string())];
    let run = m
        .create_run(&id, "p:train@main", now_ms(), &tags, "req-1")
        .unwrap();
    // The backtick filter our lookups and target filter use is MLflow's syntax.
    assert_eq!(
        m.run_by_tag(&id, "mlops.request_id", "req-1").unwrap(),
        Some(run.clone())
    );
    assert_eq!(m.run_by_tag(&id, "mlops.target", "prod").unwrap(), None);

    // Parameters: 150 go in two batches; the same values again are harmless; a changed
    // value is MLflow's INVALID_PARAMETER_VALUE (parameters are write-once).
    let params: Vec<(String, String)> =
        (0..150).map(|i| (format!("p{i}"), i.to_string())).collect();
    m.log_params(&run, &params).unwrap();
    m.log_params(&run, &params).unwrap();
    let changed = m
        .log_params(&run, &[("p0".to_string(), "other".to_string())])
        .unwrap_err();
    assert!(changed.is("INVALID_PARAMETER_VALUE"), "{changed}");

    // A wheel with a local version: MLflow refuses `+` in a tag key; ours is accepted.
    let file = "demo-0.1.0+local.1-py3-none-any.whl";
    let raw = m
        .set_tag(&run, &format!("mlops.wheel.{file}"), "abc")
        .unwrap_err();
    assert!(raw.is("INVALID_PARAMETER_VALUE"), "{raw}");
    m.set_tag(&run, &cargo_mlops::run::tags::wheel_tag(file), "abc")
        .unwrap();

    assert_eq!(m.status(&run).unwrap(), "RUNNING");
    assert!(m.metrics(&run).unwrap().is_empty());
    m.end_run(&run, "FINISHED", now_ms()).unwrap();
    assert_eq!(m.status(&run).unwrap(), "FINISHED");
    // An unknown run is MLflow's not-found.
    let missing = m.status("0123456789abcdef0123456789abcdef").unwrap_err();
    assert!(missing.is_not_found(), "{missing}");
}

/// A finished run of `entry` on `target`, with a commit and metrics, as `run` leaves it.
fn finished_run(
    m: &Mlflow<'_>,
    experiment: &str,
    target: &str,
    entry: &str,
    accuracy: f64,
) -> String {
    let tags = vec![
        ("mlops.target".to_string(), target.to_string()),
        ("mlflow.project.entryPoint".to_string(), entry.to_string()),
        (
            "mlflow.source.git.commit".to_string(),
            "0123456789abcdef".to_string(),
        ),
    ];
    let run = m
        .create_run(experiment, "r", now_ms(), &tags, &unique("req-"))
        .unwrap();
    m.log_params(
        &run,
        &[("epochs".to_string(), (accuracy * 100.0).round().to_string())],
    )
    .unwrap();
    m.client
        .post_json(
            "/api/2.0/mlflow/runs/log-batch",
            json!({ "run_id": run, "metrics": [
                { "key": "accuracy", "value": accuracy, "timestamp": now_ms(), "step": 0 }
            ] }),
            true,
        )
        .unwrap();
    m.end_run(&run, "FINISHED", now_ms()).unwrap();
    run
}

#[test]
fn runs_and_compare_read_a_real_servers_runs_and_tell_targets_apart() {
    let c = client();
    let m = Mlflow { client: &c };
    let project = unique("p");
    let p = Project::git();
    p.mlops(&["init", "--name", &project]).success();
    let manifest = p.read("mlops.toml")
        + "\n[targets.dev]\nkind = \"databricks\"\nartifacts = \"/Volumes/main/mlops/artifacts/{project}\"\ncompute = \"serverless\"\n\n[targets.dev2]\nkind = \"databricks\"\nartifacts = \"/Volumes/main/mlops/artifacts/{project}\"\ncompute = \"serverless\"\n";
    p.file("mlops.toml", &manifest);
    p.git_cmd(&["add", "-A"]);
    p.git_cmd(&["commit", "-qm", "targets"]);
    p.git_cmd(&["branch", "feature"]);
    // Both targets write to /Shared/<project>/<branch> (the default), on the same workspace.
    let base = m
        .create_experiment(&format!("/Shared/{project}/main"))
        .unwrap();
    let this = m
        .create_experiment(&format!("/Shared/{project}/feature"))
        .unwrap();
    finished_run(&m, &base, "dev", "train", 0.8);
    let ours = finished_run(&m, &this, "dev", "train", 0.9);
    let theirs = finished_run(&m, &this, "dev2", "train", 0.5);
    let url = mlflow_server().url.clone();
    let home = p.path().to_string_lossy().into_owned();
    let env = [
        ("DATABRICKS_HOST", url.as_str()),
        ("DATABRICKS_TOKEN", "dapi-unused-by-mlflow-server"),
        ("HOME", home.as_str()),
    ];
    let listed = p.mlops_in(
        ".",
        &["runs", "--target", "dev", "--branch", "feature", "--json"],
        &env,
    );
    listed.success();
    let ids: Vec<&str> = listed.json()["runs"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["run_id"].as_str().unwrap())
        .collect::<Vec<_>>()
        .into_iter()
        .map(|s| {
            if s == ours {
                "ours"
            } else if s == theirs {
                "theirs"
            } else {
                "other"
            }
        })
        .collect();
    assert_eq!(ids, ["ours"], "{}", listed.stdout);
    let all = p.mlops_in(
        ".",
        &[
            "runs",
            "--target",
            "dev",
            "--branch",
            "feature",
            "--all-targets",
        ],
        &env,
    );
    all.success();
    assert_has(&all.stdout, &["target", "dev2", "accuracy"]);

    let compared = p.mlops_in(
        ".",
        &[
            "compare", "--target", "dev", "--branch", "feature", "--base", "main", "--json",
        ],
        &env,
    );
    compared.success();
    let c: Value = compared.json();
    assert_eq!(c["run"]["run_id"], ours.as_str());
    assert_eq!(c["base_exists"], true);
    let accuracy = c["metrics"]
        .as_array()
        .unwrap()
        .iter()
        .find(|m| m["metric"] == "accuracy")
        .unwrap()
        .clone();
    assert_eq!(accuracy["base"], 0.8);
    assert_eq!(accuracy["this"], 0.9);
}

/// Our client against a fake workspace, whose MLflow half is the real server.
fn fake_client(ws: &FakeWorkspace) -> Client {
    Client::new(Config {
        host: ws.url(),
        method: Method::Pat(Secret::new(ws.token())),
        source: "the test".into(),
    })
    .unwrap()
}

#[test]
fn the_fake_workspace_answers_mlflow_calls_with_mlflow_itself() {
    let (a, b) = (FakeWorkspace::start(), FakeWorkspace::start());
    let (ca, cb) = (fake_client(&a), fake_client(&b));
    let (ma, mb) = (Mlflow { client: &ca }, Mlflow { client: &cb });
    // Each fake is its own MLflow workspace: the same name in two fakes is two experiments,
    // and neither sees the other's.
    let name = "/Shared/same-name";
    let ia = ma.create_experiment(name).unwrap();
    let ib = mb.create_experiment(name).unwrap();
    assert_ne!(ia, ib);
    assert_eq!(
        ma.experiment_by_name(name).unwrap().unwrap().experiment_id,
        ia
    );
    assert_eq!(
        mb.experiment_by_name(name).unwrap().unwrap().experiment_id,
        ib
    );
    assert_eq!(a.mlflow_experiments().len(), 1);
    // Databricks's artifact location, and the preview prefix the SDKs still use.
    let exp = ca
        .get_json(
            "/api/2.0/preview/mlflow/experiments/get",
            &[("experiment_id", &ia)],
        )
        .unwrap();
    assert_eq!(
        exp["experiment"]["artifact_location"],
        format!("dbfs:/databricks/mlflow-tracking/{ia}")
    );
    // What the workspace asks before MLflow sees the name.
    let relative = ma.create_experiment("fidelity-relative").unwrap_err();
    assert!(relative.is("INVALID_PARAMETER_VALUE"), "{relative}");
    let no_folder = ma.create_experiment("/Shared/nowhere/x/y").unwrap_err();
    assert!(no_folder.is_not_found(), "{no_folder}");

    // MLflow's paging: an opaque token, pages that add up to every run.
    let tags = vec![("mlops.target".to_string(), "dev".to_string())];
    let mut made = Vec::new();
    for i in 0..3 {
        made.push(
            ma.create_run(&ia, "r", now_ms() + i, &tags, &format!("req-{i}"))
                .unwrap(),
        );
    }
    let search = |token: Option<&str>| {
        let mut body = json!({ "experiment_ids": [ia], "max_results": 2 });
        if let Some(t) = token {
            body["page_token"] = json!(t);
        }
        ca.post_json("/api/2.0/mlflow/runs/search", body, true)
            .unwrap()
    };
    let first = search(None);
    let token = first["next_page_token"].as_str().expect("a second page");
    assert!(
        token.parse::<u64>().is_err(),
        "MLflow's token is opaque: {token}"
    );
    let second = search(Some(token));
    let mut seen: Vec<String> = [&first, &second]
        .iter()
        .flat_map(|p| p["runs"].as_array().unwrap().clone())
        .map(|r| r["info"]["run_id"].as_str().unwrap().to_string())
        .collect();
    seen.sort();
    made.sort();
    assert_eq!(seen, made);
    // The caller is the run's user, as on Databricks.
    assert_eq!(
        a.mlflow_run(&made[0]).unwrap()["info"]["user_id"],
        "ada@example.com"
    );
    // MLflow's own refusals: its filter grammar, its rule that a param never changes.
    let bad = ca
        .post_json(
            "/api/2.0/mlflow/runs/search",
            json!({ "experiment_ids": [ia], "filter": "attributes.nonsense = 'x'" }),
            true,
        )
        .unwrap_err();
    assert!(bad.is("INVALID_PARAMETER_VALUE"), "{bad}");
    assert_has(&bad.to_string(), &["nonsense"]);
    let params = |v: &str| vec![("epochs".to_string(), v.to_string())];
    ma.log_params(&made[0], &params("3")).unwrap();
    let changed = ma.log_params(&made[0], &params("4")).unwrap_err();
    assert!(changed.is("INVALID_PARAMETER_VALUE"), "{changed}");
    // A path MLflow has no route for is the workspace's ENDPOINT_NOT_FOUND.
    let missing = ca
        .get_json("/api/2.0/mlflow/no-such-thing", &[])
        .unwrap_err();
    assert!(missing.is("ENDPOINT_NOT_FOUND"), "{missing}");
}
