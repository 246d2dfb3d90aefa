//! The settings of a persistent job (Jobs API 2.2 `JobSettings`), made from `[jobs.<name>]`
//! and this commit's deployment: a `train` task that runs the launcher with a new MLflow run
//! in the target's experiment (tagged as `run` tags its runs, plus the job and the job run),
//! and optionally a `release` task after it that runs the launcher's registry mode.

use serde_json::{Value, json};
use sha2::{Digest, Sha256};

use crate::manifest::jobs::Job;
use crate::manifest::release::Release;
use crate::pipeline::Deployment;
use crate::plan::Plan;
use crate::run::launch::{Launch, NewRun, RunRef};
use crate::run::submit;

/// The tags that find a job: its project, its name and its branch's slug; never its display
/// name, which a user may change in the UI.
pub const PROJECT_TAG: &str = "mlops-project";
pub const JOB_TAG: &str = "mlops-job";
pub const BRANCH_TAG: &str = "mlops-branch";
/// A digest of the rest of the settings: the same digest means nothing to change.
pub const SPEC_TAG: &str = "mlops-spec";

/// The MLflow run tag that names the job run a scheduled run was made by (the Jobs API
/// replaces `{{job.run_id}}` in task parameters when a run starts).
pub const JOB_RUN_TAG: &str = "mlops.job_run_id";

/// What a job's release task needs.
pub struct ReleaseTask<'a> {
    pub model: String,
    pub settings: &'a Release,
    pub registry_uri: &'a str,
    /// Off the live branches: check the gates, register nothing, move no alias.
    pub checks_only: bool,
}

/// Everything the settings are made from.
pub struct Inputs<'a> {
    pub plan: &'a Plan,
    pub job: &'a Job,
    pub deployment: &'a Deployment,
    pub launcher_path: &'a str,
    pub cluster: &'a Value,
    pub env_pip: &'a [String],
    pub user: &'a str,
    pub repo_url: Option<&'a str>,
    pub paused: bool,
    pub release: Option<ReleaseTask<'a>>,
    /// The model whose deployment job this is (`[release] deployment_job`): the job takes
    /// the parameters `model_name` and `model_version` a new version starts it with.
    pub deploys: Option<String>,
}

/// The job parameters a deployment job is started with (MLflow 3 deployment jobs: the
/// registry starts the linked job with the new version's `model_name` and `model_version`).
pub const DEPLOYMENT_PARAMETERS: [&str; 2] = ["model_name", "model_version"];

/// The job's display name: `project:job@branch`, as one-time runs are named.
pub fn display_name(plan: &Plan, job: &str) -> String {
    format!("{}:{job}@{}", plan.project, plan.branch)
}

/// The settings, with the digest tag of everything else in them.
pub fn settings(i: &Inputs<'_>) -> Value {
    let plan = i.plan;
    let job = i.job;
    let mut body = json!({
        "name": display_name(plan, &job.name),
        "max_concurrent_runs": job.max_concurrent_runs,
        "tags": {
            PROJECT_TAG: plan.project,
            JOB_TAG: job.name,
            BRANCH_TAG: plan.branch_slug,
        },
    });
    let mut train = json!({
        "task_key": "train",
        "spark_python_task": { "python_file": i.launcher_path, "parameters": train_launch(i).args() },
    });
    // Every task runs on the target's compute, with the deployment's wheels.
    let place = |task: &mut Value, body: &mut Value| {
        submit::place_task(
            plan,
            task,
            body,
            i.cluster,
            || submit::libraries(plan, i.deployment, i.cluster, i.env_pip),
            || submit::serverless_dependencies(plan, i.deployment, i.cluster, i.env_pip),
        )
    };
    let mut tasks = Vec::new();
    if let (Some(key), Some(model)) = (&job.approval, &i.deploys) {
        let mut approval = approval_task(i, key, model);
        place(&mut approval, &mut body);
        train["depends_on"] = json!([{ "task_key": key }]);
        tasks.push(approval);
    }
    if i.deploys.is_some() {
        body["parameters"] = json!(
            DEPLOYMENT_PARAMETERS
                .iter()
                .map(|p| json!({ "name": p, "default": "" }))
                .collect::<Vec<_>>()
        );
    }
    place(&mut train, &mut body);
    tasks.push(train);
    if let Some(r) = &i.release {
        let mut release = release_task(i, r);
        place(&mut release, &mut body);
        tasks.push(release);
    }
    share_job_cluster(&mut body, &mut tasks);
    body["tasks"] = json!(tasks);
    add_schedule_and_notifications(&mut body, job, i.paused);
    let digest = Sha256::digest(body.to_string().as_bytes());
    let hex: String = digest.iter().take(8).map(|b| format!("{b:02x}")).collect();
    body["tags"][SPEC_TAG] = json!(hex);
    body
}

/// What the train task's launcher does: a new MLflow run in the target's experiment, tagged
/// as `run` tags its runs plus the job and the job run.
fn train_launch(i: &Inputs<'_>) -> Launch {
    let plan = i.plan;
    let job = i.job;
    let mut tags: std::collections::BTreeMap<String, String> = crate::run::tags::run_tags(
        plan,
        &job.entry,
        i.user,
        i.repo_url,
        i.deployment,
        "databricks",
    )
    .into_iter()
    .collect();
    tags.insert("mlops.job".into(), job.name.clone());
    tags.insert(JOB_RUN_TAG.into(), "{{job.run_id}}".into());
    tags.insert(
        "mlflow.databricks.shellJobRunID".into(),
        "{{job.run_id}}".into(),
    );
    Launch {
        tarball: i.deployment.tarball.remote_path.clone(),
        run: RunRef::New(NewRun {
            experiment: plan.experiment.clone(),
            artifact_location: None,
            run_name: format!("{}@{}", job.entry, plan.branch),
            tags,
            params: plan.parameters.clone(),
            experiment_tags: crate::run::tags::experiment_tags(plan),
        }),
        tracking_uri: Some("databricks".into()),
        result_file: None,
        // The launcher makes the run, so it fills in the run's id.
        log_dir: Some(crate::run::live_log::folder(
            &plan.branch_artifacts,
            "{run_id}",
        )),
        entry: plan
            .launch
            .clone()
            .expect("a job's plan has its entry point"),
    }
}

/// The release task after train: the launcher's registry mode on the run this job run made.
fn release_task(i: &Inputs<'_>, r: &ReleaseTask<'_>) -> Value {
    let plan = i.plan;
    let s = r.settings;
    let op = json!({
        "op": "release",
        "model": r.model,
        "experiment": plan.experiment,
        "run_tag": { "key": JOB_RUN_TAG, "value": "{{job.run_id}}" },
        "gates": s.gates.iter().map(|g| json!({
            "metric": g.metric, "op": g.op.text(), "threshold": g.threshold,
        })).collect::<Vec<_>>(),
        "must_beat": s.must_beat.as_ref().map(|m| json!({
            "alias": m.alias, "metric": m.metric, "better": m.better,
        })),
        "alias": s.alias,
        "checks_only": r.checks_only,
        "branch": plan.branch,
        "artifact_path": s.artifact_path,
        "tags": {
            "mlops.branch": plan.branch,
            "mlops.commit": plan.commit.clone().unwrap_or_default(),
            "mlops.job": i.job.name,
        },
    });
    json!({
        "task_key": "release",
        "depends_on": [{ "task_key": "train" }],
        "spark_python_task": {
            "python_file": i.launcher_path,
            "parameters": [
                "--registry", op.to_string(),
                "--tracking-uri", "databricks",
                "--registry-uri", r.registry_uri,
            ],
        },
    })
}

/// A deployment job's approval task: the launcher's registry mode checks that the version
/// the job was started for carries the tag `<key> = Approved`, and fails until it does.
fn approval_task(i: &Inputs<'_>, key: &str, model: &str) -> Value {
    let op = json!({
        "op": "approval_check",
        "model": model,
        "version": "{{job.parameters.model_version}}",
        "tag": key,
    });
    json!({
        "task_key": key,
        "spark_python_task": {
            "python_file": i.launcher_path,
            "parameters": [
                "--registry", op.to_string(),
                "--tracking-uri", "databricks",
                "--registry-uri", "databricks-uc",
            ],
        },
    })
}

/// The job's schedule (paused or not), timeout and failure notifications.
fn add_schedule_and_notifications(body: &mut Value, job: &Job, paused: bool) {
    if let Some(s) = &job.schedule {
        body["schedule"] = json!({
            "quartz_cron_expression": s.cron,
            "timezone_id": s.timezone,
            "pause_status": if paused { "PAUSED" } else { "UNPAUSED" },
        });
    }
    if let Some(t) = job.timeout_seconds {
        body["timeout_seconds"] = json!(t);
    }
    if !job.on_failure_email.is_empty() {
        body["email_notifications"] = json!({ "on_failure": job.on_failure_email });
    }
    if !job.on_failure_webhooks.is_empty() {
        body["webhook_notifications"] = json!({
            "on_failure": job.on_failure_webhooks.iter().map(|id| json!({ "id": id })).collect::<Vec<_>>(),
        });
    }
}

/// The key of the one job cluster a job's tasks share.
pub const JOB_CLUSTER_KEY: &str = "main";

/// Tasks placed on a new cluster share one (`job_clusters` and each task's
/// `job_cluster_key`, Jobs API `JobSettings.job_clusters`, databricks-sdk-py `service/jobs.py`
/// `JobCluster`), so a release task after a train task does not start a second cluster. A
/// one-time submit has no `job_clusters`; only persistent jobs share.
fn share_job_cluster(body: &mut Value, tasks: &mut [Value]) {
    let Some(spec) = tasks.iter().find_map(|t| t.get("new_cluster").cloned()) else {
        return;
    };
    for task in tasks.iter_mut() {
        if let Some(o) = task.as_object_mut() {
            if o.shift_remove("new_cluster").is_some() {
                o.insert("job_cluster_key".into(), json!(JOB_CLUSTER_KEY));
            }
        }
    }
    body["job_clusters"] = json!([{ "job_cluster_key": JOB_CLUSTER_KEY, "new_cluster": spec }]);
}

/// The store paths a job's settings name (under `root`): what `gc` keeps while it exists.
pub fn paths_under(settings: &Value, root: &str) -> Vec<String> {
    let root = format!("{}/", root.trim_end_matches('/'));
    let mut out = Vec::new();
    fn walk(v: &Value, root: &str, out: &mut Vec<String>) {
        match v {
            Value::String(s) => {
                // A path, or a requirement line naming one (`name @ path`).
                for word in s.split_whitespace() {
                    if word.starts_with(root) {
                        out.push(word.to_string());
                    }
                }
            }
            Value::Array(a) => a.iter().for_each(|x| walk(x, root, out)),
            Value::Object(o) => o.values().for_each(|x| walk(x, root, out)),
            _ => {}
        }
    }
    walk(settings, &root, &mut out);
    out.sort();
    out.dedup();
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn paths_are_found_wherever_the_settings_name_them() {
        let s = json!({"tasks": [{
            "spark_python_task": {"python_file": "dbfs:/a/main/0123456789abcdef/l.py",
                "parameters": ["--tarball", "dbfs:/a/main/fedcba9876543210/p.tar.gz"]},
            "libraries": [{"whl": "dbfs:/a/main/0011223344556677/x.whl"}, {"pypi": {"package": "numpy"}}],
        }], "environments": [{"spec": {"dependencies": ["x @ dbfs:/a/other/1111222233334444/x.whl"]}}]});
        assert_eq!(
            paths_under(&s, "dbfs:/a"),
            vec![
                "dbfs:/a/main/0011223344556677/x.whl",
                "dbfs:/a/main/0123456789abcdef/l.py",
                "dbfs:/a/main/fedcba9876543210/p.tar.gz",
                "dbfs:/a/other/1111222233334444/x.whl",
            ]
        );
        assert!(paths_under(&s, "dbfs:/b").is_empty());
    }
}
