//! `[release] deployment_job`: the model linked to an MLflow 3 deployment job, the run a new
//! version starts followed to its approval task, and `approve` setting the approval tag and
//! repairing the run, through the executing fake (each task runs for real).

use serde_json::Value;

use crate::support::fake::FakeWorkspace;
use crate::support::{Project, assert_has, test_python};

fn project() -> Project {
    crate::compute::demo_releasing(|manifest| {
        manifest.replace(
            "must_beat = { alias = \"champion\", metric = \"accuracy\" }\n",
            "must_beat = { alias = \"champion\", metric = \"accuracy\" }\ndeployment_job = \"deploy\"\n",
        ) + "\n[jobs.deploy]\nentry = \"train\"\ntarget = \"jobcluster\"\nparameters = { epochs = 5 }\napproval = \"Approval_Check\"\n"
    })
}

use crate::compute::on_jobcluster as on;

fn version_tags(ws: &FakeWorkspace) -> Vec<(String, String)> {
    ws.with_state(|s| {
        s.models["main.ml.demo"].versions[0]["tags"]
            .as_array()
            .unwrap()
            .iter()
            .map(|t| {
                (
                    t["key"].as_str().unwrap().to_string(),
                    t["value"].as_str().unwrap().to_string(),
                )
            })
            .collect()
    })
}

#[test]
fn a_new_version_starts_its_deployment_job_which_waits_for_approval() {
    let p = project();
    let ws = FakeWorkspace::start();
    ws.execute_jobs(&test_python());

    // Not deployed yet: the release says how to deploy the job, and registers nothing.
    on(
        &p,
        &ws,
        &["run", "--entry", "train", "-P", "epochs=30", "-q"],
    )
    .success();
    let early = on(&p, &ws, &["release"]);
    early.code(2);
    assert_has(
        &early.stderr,
        &[
            "the deployment job `deploy` ([release] deployment_job) is not deployed",
            "jobs deploy deploy",
        ],
    );
    assert!(ws.with_state(|s| s.models.is_empty()));

    // The job takes the parameters a new version starts it with; its approval task runs
    // first.
    on(&p, &ws, &["jobs", "deploy", "deploy"]).success();
    let settings = ws.with_state(|s| s.job_defs.values().next().unwrap().settings.clone());
    let names: Vec<&str> = settings["parameters"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| p["name"].as_str().unwrap())
        .collect();
    assert_eq!(names, ["model_name", "model_version"]);
    assert_eq!(settings["tasks"][0]["task_key"], "Approval_Check");
    assert_eq!(
        settings["tasks"][1]["depends_on"],
        serde_json::json!([{ "task_key": "Approval_Check" }])
    );
    let job_id = ws.with_state(|s| *s.job_defs.keys().next().unwrap());

    // The release links the model, registers version 1 (which starts the job) and follows
    // the run to the approval task, where it waits.
    let released = on(&p, &ws, &["release", "--json"]);
    released.success();
    assert_has(
        &released.stderr,
        &[
            "Linked",
            "Deploying",
            "Waiting",
            "waits at task `Approval_Check` for version 1 to be approved",
            "/explore/data/models/main/ml/demo/version/1",
            "cargo mlops approve 1",
        ],
    );
    let deployment = &released.json()["deployment"];
    assert_eq!(deployment["state"], "approval", "{deployment}");
    assert_eq!(deployment["task"], "Approval_Check");
    assert_eq!(
        ws.with_state(|s| s.models["main.ml.demo"].deployment_job_id),
        Some(job_id)
    );
    assert!(!version_tags(&ws).iter().any(|(k, _)| k == "Approval_Check"));

    // `approve` sets the tag the task reads and who approved, repairs the run, and follows
    // it to the end.
    let approved = on(&p, &ws, &["approve", "--json"]);
    approved.success();
    let table = crate::json_shapes::documented();
    crate::json_shapes::assert_documented(&table, "approve", &approved);
    crate::json_shapes::assert_documented(&table, "release", &released);
    let a = approved.json();
    assert_eq!(a["version"], "1");
    assert_eq!(a["approved_by"], "ada@example.com");
    assert_eq!(a["deployment"]["state"], "succeeded", "{}", approved.stderr);
    assert_has(
        &approved.stderr,
        &[
            "Approved",
            "version 1 of main.ml.demo by ada@example.com",
            "Deployed",
        ],
    );
    let tags = version_tags(&ws);
    for (k, v) in [
        ("Approval_Check", "Approved"),
        ("mlops.approved_by", "ada@example.com"),
    ] {
        assert!(
            tags.iter().any(|t| t.0 == k && t.1 == v),
            "{k} not in {tags:?}"
        );
    }
    let repairs: Vec<Value> = ws
        .log()
        .into_iter()
        .filter(|l| l.path.ends_with("/jobs/runs/repair"))
        .filter_map(|l| l.json)
        .collect();
    assert_eq!(repairs.len(), 1);
    assert_eq!(
        repairs[0]["rerun_tasks"],
        serde_json::json!(["Approval_Check"])
    );

    // Nothing waits any more.
    let again = on(&p, &ws, &["approve", "1"]);
    again.code(2);
    assert_has(
        &again.stderr,
        &["has no deployment run waiting for approval", "SUCCEEDED"],
    );
}
