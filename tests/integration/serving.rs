//! `[serving.*]`: a serving endpoint that follows an alias, through the executing fake (the
//! registry job and the served model run for real with MLflow 3): `check` before the first
//! version, a release that creates the endpoint and smoke-tests it with the model's own input
//! example, a release that changes nothing, a failed config update and a failed smoke request
//! that both put the alias and the endpoint back, `promote` moving a production endpoint, and
//! gc deleting a gone branch's preview endpoint (but not one serving a release branch's).

use serde_json::Value;

use crate::support::fake::FakeWorkspace;
use crate::support::{Project, Run, assert_has, test_python};

const BRANCH: &str = "feature/x";

fn project() -> Project {
    crate::compute::demo_releasing(|manifest| {
        manifest
            + "\n[serving.preview]\ntarget = \"jobcluster\"\nendpoint = \"{project}-{branch}\"\n\n[serving.prod]\ntarget = \"jobcluster\"\nendpoint = \"{project}-prod\"\nalias = \"champion\"\nworkload_size = \"Medium\"\n"
    })
}

/// On the branch whose preview endpoint the test follows.
fn on(p: &Project, ws: &FakeWorkspace, args: &[&str]) -> Run {
    let mut all = args.to_vec();
    all.extend(["--branch", BRANCH]);
    crate::compute::on_jobcluster(p, ws, &all)
}

/// The changes asked of the serving API so far (creates, config updates, deletes).
fn changes(ws: &FakeWorkspace) -> Vec<String> {
    ws.log()
        .into_iter()
        .filter(|l| l.path.starts_with("/api/2.0/serving-endpoints") && l.method != "GET")
        .map(|l| format!("{} {}", l.method, l.path))
        .collect()
}

/// What the endpoint serves: its entities' versions, and its tags as `key=value`.
fn serves(ws: &FakeWorkspace, name: &str) -> (Vec<String>, Vec<String>) {
    ws.with_state(|s| {
        let e = &s.serving[name];
        let versions = e.config["served_entities"]
            .as_array()
            .unwrap()
            .iter()
            .map(|v| v["entity_version"].as_str().unwrap().to_string())
            .collect();
        let tags = e
            .tags
            .iter()
            .map(|t| {
                format!(
                    "{}={}",
                    t["key"].as_str().unwrap(),
                    t["value"].as_str().unwrap()
                )
            })
            .collect();
        (versions, tags)
    })
}

fn alias(ws: &FakeWorkspace, name: &str) -> Option<u64> {
    ws.with_state(|s| s.models["main.ml.demo"].aliases.get(name).copied())
}

fn train(p: &Project, ws: &FakeWorkspace, epochs: &str) {
    let epochs = format!("epochs={epochs}");
    on(p, ws, &["run", "--entry", "train", "-P", &epochs, "-q"]).success();
}

#[test]
fn an_endpoint_follows_the_alias_and_whatever_fails_is_put_back() {
    let p = project();
    // The remote has only `main`: `feature/x` was never pushed, so gc counts it as gone.
    let _remote = crate::gc::with_remote(&p);
    let ws = FakeWorkspace::start();
    ws.execute_jobs(&test_python());
    let preview = format!("demo-{}", cargo_mlops::support::naming::slug(BRANCH));

    // Before the first version: the plan names the endpoints and why nothing exists yet.
    let check = on(&p, &ws, &["check", "--online"]);
    check.success();
    assert_has(
        &check.stdout,
        &[
            &format!(
                "endpoint  {preview}: not created yet: main.ml.demo has no version with alias `challenger`"
            ),
            "demo-prod: not created yet",
            "an endpoint cannot serve a model before it has one",
        ],
    );

    // A release creates the endpoint, tagged as ours, serving the new version, and sends it
    // the model's own input example (the fake runs the model on it with MLflow).
    train(&p, &ws, "30");
    let first = on(&p, &ws, &["release", "--json"]);
    first.success();
    let served = &first.json()["serving"];
    assert_eq!(served.as_array().unwrap().len(), 1, "{served}");
    assert_eq!(served[0]["endpoint"], preview.as_str());
    assert_eq!(served[0]["change"], "created");
    assert_eq!(served[0]["smoke"], "passed", "{}", first.stderr);
    assert_has(
        &first.stderr,
        &["Endpoint", "IN_PROGRESS", "READY, NOT_UPDATING", "Smoke"],
    );
    let (versions, tags) = serves(&ws, &preview);
    assert_eq!(versions, ["1"]);
    for tag in [
        "mlops.project=demo",
        "mlops.serving=preview",
        "mlops.per_branch=true",
    ] {
        assert!(tags.iter().any(|t| t == tag), "{tag} not in {tags:?}");
    }
    let smoke = ws
        .log()
        .into_iter()
        .rfind(|l| l.path == format!("/serving-endpoints/{preview}/invocations"))
        .expect("a smoke request");
    assert_eq!(smoke.status, Some(200));
    assert!(smoke.json.unwrap()["dataframe_split"]["columns"].is_array());

    // Released again: the endpoint serves that version already and is left alone.
    let before = changes(&ws);
    let again = on(&p, &ws, &["release", "--json"]);
    again.success();
    assert_eq!(again.json()["serving"][0]["change"], "unchanged");
    assert_eq!(changes(&ws), before, "nothing changed, so no endpoint call");
    let check = on(&p, &ws, &["check", "--online"]);
    check.success();
    assert_has(
        &check.stdout,
        &[&format!("{preview}: ours, serving version 1")],
    );

    // A config the service fails to apply: the endpoint keeps version 1 and the alias goes
    // back to it, though version 2 was registered.
    train(&p, &ws, "40");
    ws.with_state(|s| {
        let next = s.serving_behaviour.changes + 1;
        s.serving_behaviour.failing_changes.insert(next);
    });
    let failed = on(&p, &ws, &["release"]);
    failed.code(1);
    assert_has(
        &failed.stderr,
        &[
            &format!("serving endpoint {preview} could not apply the new config"),
            "UPDATE_FAILED",
            "Restored",
            "alias `challenger` of main.ml.demo to version 1",
            "version 2 of main.ml.demo was not served: alias `challenger` is back on version 1",
        ],
    );
    assert_eq!(alias(&ws, "challenger"), Some(1));
    assert_eq!(serves(&ws, &preview).0, ["1"]);
    assert_eq!(
        ws.with_state(|s| s.models["main.ml.demo"].versions.len()),
        2
    );

    // The update applies but the model fails its smoke request: the endpoint is given its
    // previous config again, the alias goes back.
    ws.with_state(|s| s.serving_behaviour.fail_queries = true);
    let smoke_failed = on(&p, &ws, &["release"]);
    ws.with_state(|s| s.serving_behaviour.fail_queries = false);
    smoke_failed.code(1);
    assert_has(
        &smoke_failed.stderr,
        &[
            "the smoke request (the model's input example)",
            "the model raised on it",
            &format!("Restored serving endpoint {preview} to version 1"),
            "alias `challenger` is back on version 1",
        ],
    );
    assert_eq!(alias(&ws, "challenger"), Some(1));
    assert_eq!(serves(&ws, &preview).0, ["1"]);

    // Now it passes: the endpoint moves to version 2.
    let second = on(&p, &ws, &["release", "--json"]);
    second.success();
    assert_eq!(second.json()["serving"][0]["change"], "updated");
    assert_eq!(serves(&ws, &preview).0, ["2"]);

    // `promote` moves `champion`, which the production endpoint follows.
    let promoted = on(
        &p,
        &ws,
        &[
            "promote",
            "--alias",
            "champion",
            "--from",
            "challenger",
            "--json",
        ],
    );
    promoted.success();
    assert_eq!(promoted.json()["serving"][0]["endpoint"], "demo-prod");
    assert_eq!(promoted.json()["serving"][0]["change"], "created");
    assert_eq!(serves(&ws, "demo-prod").0, ["2"]);
    let size = ws.with_state(|s| {
        s.serving["demo-prod"].config["served_entities"][0]["workload_size"].clone()
    });
    assert_eq!(size, "Medium");
    assert!(
        serves(&ws, "demo-prod")
            .1
            .iter()
            .any(|t| t == "mlops.per_branch=false"),
        "the production endpoint is no preview"
    );

    gc_deletes_the_gone_branchs_preview(&p, &ws, &preview);
}

/// `feature/x` is gone from the remote, so is its preview endpoint; the
/// production endpoint stays. While `feature/*` is a release branch, the preview serves a
/// release branch's version and is kept.
fn gc_deletes_the_gone_branchs_preview(p: &Project, ws: &FakeWorkspace, preview: &str) {
    let gc = |extra: &[&str]| {
        let mut args = vec!["gc", "--target", "jobcluster"];
        args.extend_from_slice(extra);
        p.mlops_ws(ws, &args, &[])
    };
    let manifest = p.read("mlops.toml");
    p.file(
        "mlops.toml",
        &manifest.replace(
            "[targets.jobcluster]\n",
            "[targets.jobcluster]\nrelease_branches = [\"main\", \"feature/*\"]\n",
        ),
    );
    let kept = gc(&[]);
    kept.success();
    assert_has(
        &kept.stderr,
        &[&format!(
            "kept serving endpoint {preview}: it serves version 2 of main.ml.demo, released from release branch `feature/x`"
        )],
    );
    assert!(
        !kept.stdout.contains("would delete serving endpoint"),
        "{}",
        kept.stdout
    );
    p.file("mlops.toml", &manifest);

    let plan = gc(&["--json"]);
    plan.success();
    let names: Vec<Value> = plan.json()["endpoints"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["name"].clone())
        .collect();
    assert_eq!(names, [Value::from(preview)]);
    gc(&["--execute"]).success();
    let left: Vec<String> = ws.with_state(|s| s.serving.keys().cloned().collect());
    assert_eq!(left, ["demo-prod"]);
}
