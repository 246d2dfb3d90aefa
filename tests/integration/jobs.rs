//! Persistent jobs (`[jobs.<name>]`, `cargo mlops jobs ...`) against the fake workspace, and
//! the fake's jobs endpoints checked with the real databricks-sdk.

use std::time::Duration;

use serde_json::Value;

use crate::support::fake::FakeWorkspace;
use crate::support::{Project, assert_has, test_python};

#[test]
fn the_python_sdk_drives_the_fakes_jobs_endpoints() {
    let ws = FakeWorkspace::start();
    let summary = crate::fidelity::sdk_script(&ws, "sdk_jobs.py");
    assert_eq!(summary["jobs"], 3);
    let refusals = &summary["refusals"];
    for (why, says) in [
        ("cron", "quartz_cron_expression"),
        ("depends_on", "not a task of this job"),
        ("duplicate_key", "Duplicate task key"),
        ("deleted", "does not exist"),
    ] {
        assert!(
            refusals[why].as_str().unwrap_or_default().contains(says),
            "{why}: {refusals}"
        );
    }
    // The list calls the SDK made: pages of one, by name, with and without tasks.
    let lists = ws
        .log()
        .into_iter()
        .filter(|l| l.path == "/api/2.2/jobs/list")
        .count();
    assert!(lists >= 4, "{lists} jobs/list calls");
}

const JOBS: &str = r#"
[cluster]
spark_version = "14.3.x-scala2.12"

[targets.prod]
kind = "databricks"
artifacts = "dbfs:/jobs/{project}"
experiment = "/Shared/{project}/{branch}"
model = "main.ml.jobsdemo"
release_branches = ["main"]

[release]
entry = "train"
gates = { accuracy = ">= 0.5" }

[jobs.nightly]
entry = "train"
target = "prod"
parameters = { epochs = 400 }
schedule = { cron = "0 0 2 * * ?", timezone = "Europe/Amsterdam" }
release = true
on_failure = { email = ["ml@example.com"], webhooks = ["hook-1"] }
max_concurrent_runs = 2
timeout_seconds = 7200

[jobs.adhoc]
entry = "train"
"#;

fn project() -> (Project, tempfile::TempDir) {
    let p = Project::git();
    p.mlops(&["init", "--name", "jobsdemo"]).success();
    let manifest = p.read("mlops.toml") + JOBS;
    p.file("mlops.toml", &manifest);
    p.git_cmd(&["add", "-A"]);
    p.git_cmd(&["commit", "-qm", "jobs"]);
    let remote = crate::gc::with_remote(&p);
    (p, remote)
}

/// `cargo-mlops ARGS --python <the test Python>` against `ws`.
fn with_python(p: &Project, ws: &FakeWorkspace, args: &[&str]) -> crate::support::Run {
    let python = test_python();
    let mut all = args.to_vec();
    all.extend_from_slice(&["--python", python.to_str().unwrap()]);
    p.mlops_ws(ws, &all, &[])
}

fn jobs_in(ws: &FakeWorkspace) -> Vec<Value> {
    ws.with_state(|s| s.job_defs.values().map(|d| d.settings.clone()).collect())
}

#[test]
fn jobs_deploy_once_run_on_schedule_pause_off_main_and_keep_gc_away() {
    let (p, _remote) = project();
    let ws = FakeWorkspace::start();
    let mlops = |args: &[&str]| with_python(&p, &ws, args);

    let dry = mlops(&["jobs", "deploy", "--dry-run", "--json"]);
    dry.success();
    assert_eq!(
        dry.json()["jobs"][0]["action"],
        "would create",
        "{}",
        dry.stdout
    );
    assert!(jobs_in(&ws).is_empty(), "a dry run created a job");

    let first = mlops(&["jobs", "deploy", "--json"]);
    first.success();
    let table = crate::json_shapes::documented();
    crate::json_shapes::assert_documented(&table, "jobs deploy", &first);
    let report = first.json();
    let by_name = |r: &Value, n: &str| {
        r["jobs"]
            .as_array()
            .unwrap()
            .iter()
            .find(|j| j["name"] == n)
            .unwrap()
            .clone()
    };
    let nightly = by_name(&report, "nightly");
    assert_eq!(nightly["action"], "created");
    assert_eq!(nightly["paused"], false);
    let nightly_id = nightly["job_id"].as_u64().unwrap();
    let settings = ws.with_state(|s| s.job_defs[&nightly_id].settings.clone());
    // Found by tags, not by name.
    assert_eq!(settings["tags"]["mlops-project"], "jobsdemo");
    assert_eq!(settings["tags"]["mlops-job"], "nightly");
    assert_eq!(settings["tags"]["mlops-branch"], "main");
    assert_eq!(
        settings["schedule"]["quartz_cron_expression"],
        "0 0 2 * * ?"
    );
    assert_eq!(settings["schedule"]["timezone_id"], "Europe/Amsterdam");
    assert_eq!(settings["schedule"]["pause_status"], "UNPAUSED");
    assert_eq!(
        settings["email_notifications"]["on_failure"][0],
        "ml@example.com"
    );
    assert_eq!(
        settings["webhook_notifications"]["on_failure"][0]["id"],
        "hook-1"
    );
    assert_eq!(settings["max_concurrent_runs"], 2);
    assert_eq!(settings["timeout_seconds"], 7200);
    // A train task that makes its own MLflow run, and a release task after it.
    let tasks = settings["tasks"].as_array().unwrap();
    assert_eq!(tasks.len(), 2);
    let params: Vec<&str> = crate::support::task_params(&tasks[0]);
    let new_run: Value =
        serde_json::from_str(params[params.iter().position(|p| *p == "--new-run").unwrap() + 1])
            .unwrap();
    assert_eq!(new_run["experiment"], "/Shared/jobsdemo/main");
    assert_eq!(new_run["params"]["epochs"], "400");
    assert_eq!(new_run["tags"]["mlops.job_run_id"], "{{job.run_id}}");
    assert!(new_run["tags"]["mlflow.source.git.commit"].is_string());
    assert!(
        new_run["tags"]["mlops.deploy_record"]
            .as_str()
            .is_some_and(|r| r.starts_with("dbfs:/jobs/jobsdemo/main/") && r.ends_with(".json")),
        "{new_run}"
    );
    // The experiment is tagged as the branch's, for gc.
    assert_eq!(new_run["experiment_tags"]["mlops.branch"], "main");
    assert_eq!(tasks[1]["depends_on"][0]["task_key"], "train");
    let registry: Value = serde_json::from_str(
        tasks[1]["spark_python_task"]["parameters"][1]
            .as_str()
            .unwrap(),
    )
    .unwrap();
    assert_eq!(registry["op"], "release");
    assert_eq!(registry["model"], "main.ml.jobsdemo");
    assert_eq!(registry["gates"][0]["metric"], "accuracy");
    // The one Databricks target is the on-demand job's: no schedule.
    let adhoc = by_name(&report, "adhoc");
    assert_eq!(adhoc["schedule"], Value::Null);

    // Again: nothing changes, and it says so.
    let requests = ws.log().len();
    let again = mlops(&["jobs", "deploy"]);
    again.success();
    assert_has(&again.stderr, &["Unchanged"]);
    assert!(
        !ws.log()[requests..]
            .iter()
            .any(|l| l.path.contains("/jobs/create") || l.path.contains("/jobs/reset")),
        "a second deploy changed a job"
    );
    assert_eq!(jobs_in(&ws).len(), 2);

    // A feature branch: its own jobs, created paused.
    let feature = mlops(&[
        "jobs",
        "deploy",
        "nightly",
        "--branch",
        "feature/x",
        "--json",
    ]);
    feature.success();
    assert_has(&feature.stderr, &["paused"]);
    let f = &feature.json()["jobs"][0];
    assert_eq!(f["paused"], true);
    let fid = f["job_id"].as_u64().unwrap();
    assert_ne!(fid, nightly_id);
    let fsettings = ws.with_state(|s| s.job_defs[&fid].settings.clone());
    assert_eq!(fsettings["schedule"]["pause_status"], "PAUSED");
    assert_eq!(
        fsettings["tags"]["mlops-branch"],
        cargo_mlops::support::naming::slug("feature/x").as_str()
    );

    // A change on main updates the job in place (reset, same id).
    p.file(
        "mlproject/train.py",
        &(p.read("mlproject/train.py") + "\n# v2\n"),
    );
    p.git_cmd(&["commit", "-qam", "v2"]);
    let updated = mlops(&["jobs", "deploy", "nightly", "--json"]);
    updated.success();
    assert_eq!(updated.json()["jobs"][0]["action"], "updated");
    assert_eq!(updated.json()["jobs"][0]["job_id"], nightly_id);

    // list: schedule, paused, last run, next run.
    ws.with_state(|s| s.job_behaviour.running = Duration::from_millis(300));
    let ran = mlops(&["jobs", "run", "adhoc", "--json"]);
    ran.success();
    crate::json_shapes::assert_documented(&table, "jobs run", &ran);
    assert_eq!(ran.json()["result"], "SUCCESS");
    let listed = mlops(&["jobs", "list", "--json"]);
    listed.success();
    crate::json_shapes::assert_documented(&table, "jobs list", &listed);
    let l = listed.json();
    let n = by_name(&l, "nightly");
    assert_eq!(n["paused"], false);
    assert_eq!(n["timezone"], "Europe/Amsterdam");
    let next = n["next_run"].as_str().unwrap();
    // 02:00 in Amsterdam is 00:00 or 01:00 UTC.
    assert!(
        next.ends_with("T00:00:00Z") || next.ends_with("T01:00:00Z"),
        "{next}"
    );
    let a = by_name(&l, "adhoc");
    assert_eq!(a["last_result"], "SUCCESS");
    assert_eq!(a["last_run_id"], ran.json()["databricks_run_id"]);
    assert_eq!(a["next_run"], Value::Null);
    let shown = mlops(&["jobs", "list"]);
    assert_has(
        &shown.stdout,
        &[
            "nightly",
            "0 0 2 * * ? Europe/Amsterdam",
            "adhoc",
            "SUCCESS",
        ],
    );

    // gc keeps whatever a job uses, whatever its age.
    ws.with_state(|s| {
        s.dbfs_files
            .values_mut()
            .for_each(|f| f.modified_ms -= 40 * 86_400_000)
    });
    // `adhoc` still runs the first commit: only the job keeps its project tarball.
    let adhoc_id = by_name(&report, "adhoc")["job_id"].as_u64().unwrap();
    let used = paths_of(&ws, adhoc_id);
    let tarball = |id: u64| {
        paths_of(&ws, id)
            .into_iter()
            .find(|p| p.ends_with(".tar.gz"))
            .unwrap()
    };
    assert_ne!(tarball(adhoc_id), tarball(nightly_id));
    let plan = mlops(&["gc", "--target", "prod", "--keep-days", "0", "--json"]);
    plan.success();
    let doomed: Vec<String> = plan.json()["plan"]
        .as_array()
        .unwrap()
        .iter()
        .map(|d| d["path"].as_str().unwrap().to_string())
        .collect();
    for path in &used {
        assert!(
            !doomed.iter().any(|d| path.starts_with(d.as_str())),
            "gc planned {path} of a live job: {doomed:?}"
        );
    }

    // remove: a dry run deletes nothing; then the job is gone.
    let dry = mlops(&[
        "jobs",
        "remove",
        "nightly",
        "--branch",
        "feature/x",
        "--dry-run",
        "--json",
    ]);
    dry.success();
    crate::json_shapes::assert_documented(&table, "jobs remove", &dry);
    assert_eq!(dry.json()["jobs"][0]["job_id"], fid);
    assert!(ws.with_state(|s| s.job_defs.contains_key(&fid)));
    mlops(&["jobs", "remove", "nightly", "--branch", "feature/x"]).success();
    assert!(!ws.with_state(|s| s.job_defs.contains_key(&fid)));
}

#[test]
fn bad_jobs_are_manifest_errors_with_their_place() {
    let p = Project::git();
    p.mlops(&["init", "--name", "badjobs"]).success();
    let base = p.read("mlops.toml")
        + "\n[targets.prod]\nkind = \"databricks\"\nartifacts = \"dbfs:/x/{project}\"\n";
    for (extra, says, key) in [
        (
            "\n[jobs.nightly]\nentry = \"train\"\nschedule = { cron = \"0 2 * * *\" }\n",
            "has 5 fields",
            "jobs.nightly.schedule.cron",
        ),
        (
            "\n[jobs.nightly]\nentry = \"train\"\nschedul = { cron = \"0 0 2 * * ?\" }\n",
            "schedul",
            "jobs.nightly",
        ),
        (
            "\n[jobs.nightly]\nentry = \"trian\"\n",
            "unknown entry point `trian`",
            "jobs.nightly.entry",
        ),
        (
            "\n[jobs.nightly]\nentry = \"train\"\nrelease = true\n",
            "release = true, but target `prod` names no model",
            "jobs.nightly.release",
        ),
        (
            "\n[jobs.nightly]\nentry = \"train\"\ntarget = \"local\"\n",
            "is not a Databricks target",
            "jobs.nightly.target",
        ),
        (
            "\n[jobs.nightly]\nentry = \"train\"\nschedule = { cron = \"0 0 2 * * ?\", timezone = \"Mars/Base\" }\n",
            "not a time zone id",
            "jobs.nightly.schedule.timezone",
        ),
        (
            "\n[jobs.nightly]\nentry = \"train\"\nschedule = { cron = \"0 0 2 * * ?\", timezone = \"Europe/Amsterdm\" }\n",
            "did you mean `Europe/Amsterdam`?",
            "jobs.nightly.schedule.timezone",
        ),
        (
            "\n[jobs.nightly]\nentry = \"train\"\nschedule = { cron = \"0 0 25 * * ?\" }\n",
            "field 3 (hours) is 25, outside 0-23",
            "jobs.nightly.schedule.cron",
        ),
        (
            "\n[jobs.nightly]\nentry = \"train\"\non_failure = { webhooks = [\"a\", \"b\", \"c\", \"d\"] }\n",
            "on_failure.webhooks names 4 destinations; a job takes at most 3 per event",
            "jobs.nightly.on_failure.webhooks",
        ),
        (
            "\n[jobs.nightly]\nentry = \"train\"\ntimeout_seconds = 3000000000\n",
            "timeout_seconds = 3000000000 is more than the Jobs API takes",
            "jobs.nightly.timeout_seconds",
        ),
        (
            "\n[jobs.nightly]\nentry = \"train\"\nmax_concurrent_runs = 0\n",
            "max_concurrent_runs = 0 is out of range",
            "jobs.nightly.max_concurrent_runs",
        ),
    ] {
        p.file("mlops.toml", &(base.clone() + extra));
        let out = p.mlops(&["check"]);
        out.code(2);
        assert_has(&out.stderr, &["mlops.toml:", says, key]);
    }
}

/// The `dbfs:/` paths job `id`'s settings name.
fn paths_of(ws: &FakeWorkspace, id: u64) -> Vec<String> {
    let text = ws.with_state(|s| s.job_defs[&id].settings.to_string());
    let mut out: Vec<String> = text
        .split(['"', ' ', '\\'])
        .filter(|w| w.starts_with("dbfs:/jobs/"))
        .map(str::to_string)
        .collect();
    out.sort();
    out.dedup();
    assert!(out.len() >= 3, "{out:?}");
    out
}

#[test]
fn a_scheduled_retrain_and_release_runs_for_real_in_the_workspace() {
    // The demo on a job cluster, with a nightly job that releases into Unity Catalog; the
    // fake runs each task for real, one after the other (see `executor.rs`, `job_defs.rs`).
    let p = crate::compute::demo();
    let manifest = p.read("mlops.toml").replace(
        "[targets.jobcluster]\n",
        "[targets.jobcluster]\nmodel = \"main.ml.nightly\"\n",
    ) + "\n[jobs.nightly]\nentry = \"train\"\ntarget = \"jobcluster\"\nparameters = { epochs = 30 }\nschedule = { cron = \"0 0 2 * * ?\" }\nrelease = true\n";
    p.file("mlops.toml", &manifest);
    p.git_cmd(&["commit", "-qam", "nightly"]);
    let ws = FakeWorkspace::start();
    ws.execute_jobs(&test_python());
    let mlops = |args: &[&str]| with_python(&p, &ws, args);
    mlops(&["jobs", "deploy"]).success();
    // Both tasks run on one job cluster (`job_clusters`), not one cluster each.
    let settings = ws.with_state(|s| s.job_defs.values().next().unwrap().settings.clone());
    assert_eq!(
        settings["job_clusters"][0]["job_cluster_key"], "main",
        "{settings:#}"
    );
    assert!(settings["job_clusters"][0]["new_cluster"]["spark_version"].is_string());
    for task in settings["tasks"].as_array().unwrap() {
        assert_eq!(task["job_cluster_key"], "main", "{task:#}");
        assert!(task.get("new_cluster").is_none(), "{task:#}");
    }
    let ran = mlops(&["jobs", "run", "nightly", "--json"]);
    ran.success();
    let job_run = ran.json()["databricks_run_id"].as_u64().unwrap();
    assert_eq!(ran.json()["result"], "SUCCESS", "{}", ran.stderr);

    // The train task made a new MLflow run in the target's experiment, tagged with the job
    // run; the release task registered it and set the release alias.
    let tag = |run: &Value, key: &str| -> Option<String> {
        run["data"]["tags"]
            .as_array()?
            .iter()
            .find(|t| t["key"] == key)
            .and_then(|t| t["value"].as_str().map(str::to_string))
    };
    let runs = ws.mlflow_runs();
    let made: Vec<&Value> = runs
        .iter()
        .filter(|r| tag(r, "mlops.job_run_id") == Some(job_run.to_string()))
        .collect();
    assert_eq!(made.len(), 1, "{runs:?}");
    let run = made[0];
    assert_eq!(run["info"]["status"], "FINISHED");
    assert_eq!(tag(run, "mlops.job").as_deref(), Some("nightly"));
    assert!(tag(run, "mlflow.source.git.commit").is_some());
    let epochs = run["data"]["params"]
        .as_array()
        .unwrap()
        .iter()
        .find(|p| p["key"] == "epochs")
        .map(|p| p["value"].clone());
    assert_eq!(epochs, Some(Value::from("30")));
    let model = ws.with_state(|s| s.models.get("main.ml.nightly").cloned());
    let model = model.expect("the release task registered the model");
    assert_eq!(model.versions.len(), 1);
    assert_eq!(model.versions[0]["run_id"], run["info"]["run_id"]);
    assert_eq!(model.aliases.get("challenger"), Some(&1));

    // A feature branch (the target sets no release_branches: only the default branch is
    // live): its job is paused, and run by hand it checks the gates but registers nothing.
    let feature = mlops(&[
        "jobs",
        "deploy",
        "nightly",
        "--branch",
        "feature/try",
        "--json",
    ]);
    feature.success();
    assert_has(
        &feature.stderr,
        &["paused: only `main`", "registers nothing"],
    );
    assert_eq!(feature.json()["jobs"][0]["release_checks_only"], true);
    let tried = mlops(&["jobs", "run", "nightly", "--branch", "feature/try"]);
    tried.success();
    let model = ws.with_state(|s| s.models["main.ml.nightly"].clone());
    assert_eq!(
        model.versions.len(),
        1,
        "a feature branch's job registered a version"
    );
    assert_eq!(
        model.aliases.get("challenger"),
        Some(&1),
        "a feature branch moved the alias"
    );

    // A run that does not pass the gates registers nothing and fails the job.
    let weak = p.read("mlops.toml").replace(
        "gates = { accuracy = \">= 0.7\" }",
        "gates = { accuracy = \">= 1.01\" }",
    );
    assert_ne!(weak, p.read("mlops.toml"), "the demo's gate moved");
    p.file("mlops.toml", &weak);
    p.git_cmd(&["commit", "-qam", "weak"]);
    mlops(&["jobs", "deploy", "nightly"]).success();
    let failed = mlops(&["jobs", "run", "nightly"]);
    failed.code(1);
    assert_has(&failed.stderr, &["did not pass the release checks"]);
    let model = ws.with_state(|s| s.models["main.ml.nightly"].clone());
    assert_eq!(model.versions.len(), 1, "a failing run was registered");
}

#[test]
fn a_gone_branchs_jobs_and_experiments_are_cleaned_up_but_released_runs_stay() {
    let (p, _remote) = project();
    let ws = FakeWorkspace::start();
    // The runs' jobs end at once: their MLflow runs (never ended, as after `--no-wait`) are
    // not in flight.
    ws.with_state(|s| {
        s.job_behaviour.pending = std::time::Duration::ZERO;
        s.job_behaviour.running = std::time::Duration::ZERO;
    });
    let mlops = |args: &[&str]| with_python(&p, &ws, args);
    // main: its job and a run. feature/x (never pushed, so gone): a job and a run.
    // feature/y (gone too): a run that was registered as a model version.
    mlops(&["jobs", "deploy", "nightly"]).success();
    let on = |branch: &str| {
        mlops(&[
            "run",
            "--entry",
            "train",
            "--target",
            "prod",
            "--no-wait",
            "--json",
            "--branch",
            branch,
        ])
        .success()
        .json()
    };
    on("main");
    mlops(&["jobs", "deploy", "nightly", "--branch", "feature/x"]).success();
    let x = on("feature/x");
    let y = on("feature/y");
    let released = y["mlflow_run_id"].as_str().unwrap().to_string();
    ws.with_state(|s| s.add_model_version("main.ml.jobsdemo", &released));
    let experiment_of = |branch: &str| {
        format!(
            "/Shared/jobsdemo/{}",
            cargo_mlops::support::naming::slug(branch)
        )
    };
    let id_of = |name: &str| -> String {
        ws.mlflow_experiments()
            .into_iter()
            .find(|e| e["name"] == name)
            .unwrap_or_else(|| panic!("no experiment {name}"))["experiment_id"]
            .as_str()
            .unwrap()
            .to_string()
    };
    let x_experiment = id_of(&experiment_of("feature/x"));
    let y_experiment = id_of(&experiment_of("feature/y"));
    let main_experiment = id_of(&experiment_of("main"));

    let plan = mlops(&["gc", "--target", "prod", "--json"]);
    plan.success();
    let report = plan.json();
    let slug = |b: &str| cargo_mlops::support::naming::slug(b);
    let jobs: Vec<&Value> = report["jobs"].as_array().unwrap().iter().collect();
    assert_eq!(jobs.len(), 1, "{report}");
    assert_eq!(jobs[0]["branch_slug"], slug("feature/x").as_str());
    let trashed: Vec<&str> = report["experiments"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["experiment_id"].as_str().unwrap())
        .collect();
    assert_eq!(trashed, [x_experiment.as_str()], "{report}");
    assert_eq!(
        report["kept_experiments"][0]["experiment_id"],
        y_experiment.as_str()
    );
    let text = mlops(&["gc", "--target", "prod"]);
    assert_has(
        &text.stdout,
        &[
            "would delete job jobsdemo:nightly@feature/x",
            "to MLflow's trash",
        ],
    );
    assert_has(&text.stderr, &["kept experiment", "registered from"]);
    // A plan changes nothing.
    assert_eq!(ws.with_state(|s| s.job_defs.len()), 2);

    let done = mlops(&["gc", "--target", "prod", "--execute", "--json"]);
    done.success();
    let left: Vec<Value> = jobs_in(&ws);
    assert_eq!(left.len(), 1);
    assert_eq!(left[0]["tags"]["mlops-branch"], "main");
    let stage = |id: &str| {
        ws.mlflow().json(
            "GET",
            "experiments/get",
            &[("experiment_id", id)],
            Value::Null,
        )["experiment"]["lifecycle_stage"]
            .clone()
    };
    assert_eq!(stage(&x_experiment), "deleted");
    assert_eq!(stage(&y_experiment), "active");
    assert_eq!(stage(&main_experiment), "active");
    assert!(ws.mlflow_run(&released).is_some());
    assert!(x["mlflow_run_id"].is_string());
}
