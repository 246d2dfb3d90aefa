//! The submit stage: the branch's experiment, an MLflow run created up front with the tags
//! MLflow itself sets, and a Jobs `runs/submit` of one `spark_python_task` that runs the
//! deployed launcher, which runs the entry point in the task's own Python process (no
//! `mlflow run`: https://docs.databricks.com/aws/en/mlflow/projects says MLflow Projects
//! cannot run inside a job cluster from Runtime 13.0 ML). On a job cluster or an existing
//! cluster the environment is installed as job libraries; on serverless compute as the
//! run's environment dependencies. Public APIs only; `idempotency_token` = the MLflow run id,
//! so a retried submit never starts two runs.

use serde::Serialize;
use serde_json::{Value, json};

use crate::databricks::Client;
use crate::databricks::jobs::Jobs;
use crate::databricks::mlflow::Mlflow;
use crate::databricks::workspace::Workspace;
use crate::error::{Error, Result};
use crate::manifest::Compute;
use crate::output::Output;
use crate::pipeline::Deployment;
use crate::plan::Plan;
use crate::publish::Published;
use crate::run::launch::{Entry, Launch, RunRef};

/// The task key of the one task we submit.
pub const TASK_KEY: &str = "mlops";

#[derive(Clone, Debug, Serialize)]
pub struct Submission {
    pub experiment: String,
    pub experiment_id: String,
    pub mlflow_run_id: String,
    pub databricks_run_id: u64,
    pub run_page_url: String,
    pub user: String,
}

/// Whether a requirement line is a wheel file.
fn is_wheel_path(req: &str) -> bool {
    req.trim_end().ends_with(".whl")
}

/// Whether a requirement line is one of the deployed wheels (added by their store path).
fn is_our_wheel(req: &str, deployment: &Deployment) -> bool {
    let req = req.trim();
    is_wheel_path(req)
        && deployment
            .wheels
            .iter()
            .any(|w| req == w.remote_path || req == crate::render::env_form(&w.remote_path))
}

/// The `mlflow` requirement, once: `mlflow==<version>` when the target pins one.
pub fn mlflow_requirement(plan: &Plan) -> String {
    match &plan.mlflow_version {
        Some(v) => format!("mlflow=={v}"),
        None => "mlflow".into(),
    }
}

fn names_mlflow(req: &str) -> bool {
    matches!(
        crate::environment::requirements::name_of(req).as_str(),
        "mlflow" | "mlflow-skinny"
    )
}

/// Whether a cluster library already installs wheel `w` (by any of its path forms).
fn installs_wheel(lib: &Value, w: &Published) -> bool {
    let env_form = crate::render::env_form(&w.remote_path);
    let paths = [lib["whl"].as_str(), lib["pypi"]["package"].as_str()];
    paths
        .into_iter()
        .flatten()
        .any(|p| p == w.remote_path || p == env_form)
}

/// The job libraries of a cluster task (job or existing cluster): the rendered cluster
/// libraries, every wheel, the environment's pip packages and `mlflow` once. Nothing runs
/// `mlflow run` on the cluster, so the platform installs the whole environment.
pub fn libraries(
    plan: &Plan,
    deployment: &Deployment,
    cluster: &Value,
    env_pip: &[String],
) -> Vec<Value> {
    let mut libs: Vec<Value> = cluster["libraries"].as_array().cloned().unwrap_or_default();
    let push = |lib: Value, libs: &mut Vec<Value>| {
        if !libs.contains(&lib) {
            libs.push(lib);
        }
    };
    for w in &deployment.wheels {
        if !libs.iter().any(|l| installs_wheel(l, w)) {
            push(json!({ "whl": w.remote_path }), &mut libs);
        }
    }
    for p in env_pip {
        if p.starts_with('-') || is_our_wheel(p, deployment) {
            continue;
        }
        if is_wheel_path(p) {
            // A wheel we do not build stays where the environment file says, as it does in
            // the rendered project: a `whl` library takes the `dbfs:/` form of a FUSE path.
            let lib = match p.trim().strip_prefix("/dbfs/") {
                Some(rest) => format!("dbfs:/{rest}"),
                None => p.trim().to_string(),
            };
            push(json!({ "whl": lib }), &mut libs);
            continue;
        }
        push(json!({ "pypi": { "package": p } }), &mut libs);
    }
    let has_mlflow = libs
        .iter()
        .any(|l| l["pypi"]["package"].as_str().is_some_and(names_mlflow));
    if !has_mlflow {
        push(
            json!({ "pypi": { "package": mlflow_requirement(plan) } }),
            &mut libs,
        );
    }
    libs
}

/// The `dependencies` of a serverless environment: pip requirement lines for every wheel (by
/// its volume path), the environment's pip packages, the cluster spec's `pypi` and `whl`
/// libraries, and `mlflow` once
/// (https://docs.databricks.com/aws/en/compute/serverless/dependencies).
pub fn serverless_dependencies(
    plan: &Plan,
    deployment: &Deployment,
    cluster: &Value,
    env_pip: &[String],
) -> Vec<String> {
    let mut deps: Vec<String> = Vec::new();
    let push = |d: String, deps: &mut Vec<String>| {
        if !deps.contains(&d) {
            deps.push(d);
        }
    };
    for w in &deployment.wheels {
        push(w.remote_path.clone(), &mut deps);
    }
    for p in env_pip {
        if !is_our_wheel(p, deployment) {
            push(p.clone(), &mut deps);
        }
    }
    for lib in cluster["libraries"].as_array().into_iter().flatten() {
        let named = lib["pypi"]["package"].as_str().or(lib["whl"].as_str());
        if let Some(p) = named {
            let ours = deployment.wheels.iter().any(|w| installs_wheel(lib, w));
            if !ours {
                push(p.to_string(), &mut deps);
            }
        } else if let Some(r) = lib["requirements"].as_str() {
            push(format!("-r {r}"), &mut deps);
        }
    }
    if !deps.iter().any(|d| names_mlflow(d)) {
        push(mlflow_requirement(plan), &mut deps);
    }
    deps
}

pub use crate::environment::requirements::pip_lines as env_pip;

/// The key of the one serverless environment a run defines.
pub const ENVIRONMENT_KEY: &str = "default";

/// The one-time run: one `spark_python_task` running the launcher, on a new job cluster, an
/// existing cluster, or serverless compute.
#[allow(clippy::too_many_arguments)]
pub fn job_spec(
    plan: &Plan,
    entry: &str,
    launch: &Launch,
    launcher_path: &str,
    deployment: &Deployment,
    cluster: &Value,
    env_pip: &[String],
    timeout_seconds: Option<u64>,
) -> Value {
    let idempotency_token = match &launch.run {
        RunRef::Existing { run_id, .. } => run_id.clone(),
        RunRef::New(_) => unreachable!("a job logs into a run created beforehand"),
    };
    let mut task = json!({
        "task_key": TASK_KEY,
        "spark_python_task": { "python_file": launcher_path, "parameters": launch.args() },
    });
    let mut body = json!({
        "run_name": format!("{}:{}@{}", plan.project, entry, plan.branch),
    });
    place_task(
        plan,
        &mut task,
        &mut body,
        cluster,
        || libraries(plan, deployment, cluster, env_pip),
        || serverless_dependencies(plan, deployment, cluster, env_pip),
    );
    if let Some(t) = timeout_seconds {
        task["timeout_seconds"] = json!(t);
    }
    body["tasks"] = json!([task]);
    // The MLflow run id (32 hex digits, within the 64 allowed): a retried submit after a lost
    // answer returns the first run instead of starting a second.
    body["idempotency_token"] = json!(idempotency_token);
    if let Some(t) = timeout_seconds {
        body["timeout_seconds"] = json!(t);
    }
    body
}

/// Puts a task on the plan's compute: serverless with an environment of `dependencies`, or
/// the rendered cluster (new, or existing) with `libraries`.
pub fn place_task(
    plan: &Plan,
    task: &mut Value,
    body: &mut Value,
    cluster: &Value,
    libraries: impl FnOnce() -> Vec<Value>,
    dependencies: impl FnOnce() -> Vec<String>,
) {
    match &plan.compute {
        Compute::Serverless {
            environment_version,
        } => {
            // A serverless task has no cluster and no `libraries`: its packages come from the
            // environment it names (Jobs API `environments` / `environment_key`).
            task["environment_key"] = json!(ENVIRONMENT_KEY);
            body["environments"] = json!([{
                "environment_key": ENVIRONMENT_KEY,
                "spec": {
                    "environment_version": environment_version,
                    "dependencies": dependencies(),
                },
            }]);
        }
        Compute::ExistingCluster { cluster_id } => {
            task["existing_cluster_id"] = json!(cluster_id);
            task["libraries"] = json!(libraries());
        }
        Compute::JobCluster => {
            match cluster.get("existing_cluster_id") {
                Some(id) => task["existing_cluster_id"] = id.clone(),
                None => {
                    // The rendered cluster.json is `{new_cluster, libraries}` or a bare spec.
                    let spec = cluster.get("new_cluster").cloned().unwrap_or_else(|| {
                        let mut bare = cluster.clone();
                        if let Some(o) = bare.as_object_mut() {
                            o.shift_remove("libraries");
                        }
                        bare
                    });
                    task["new_cluster"] = spec;
                }
            }
            task["libraries"] = json!(libraries());
        }
    }
}

/// Where the job finds the launcher: the deployed file on DBFS for a cluster; otherwise a copy
/// imported as a workspace file, which every compute kind reads (the Jobs API takes `dbfs:/`
/// and workspace paths for `python_file`, and serverless compute cannot read DBFS).
pub fn launcher_path(
    client: &Client,
    plan: &Plan,
    deployment: &Deployment,
    user: &str,
    output: &Output,
) -> Result<String> {
    if deployment.launcher.remote_path.starts_with("dbfs:/") && !plan.compute.is_serverless() {
        return Ok(deployment.launcher.remote_path.clone());
    }
    let bytes = fs_err::read(deployment.rendered.dir.join(crate::render::LAUNCHER_FILE))?;
    import_launcher(
        client,
        plan,
        user,
        &deployment.launcher.sha256,
        &bytes,
        output,
    )
}

/// The launcher as a workspace file, content-addressed by its hash:
/// `/Users/<user>/.cargo-mlops/<project>/<sha256:16>/mlops_launcher.py`.
pub fn import_launcher(
    client: &Client,
    plan: &Plan,
    user: &str,
    sha256: &str,
    bytes: &[u8],
    output: &Output,
) -> Result<String> {
    let ws = Workspace { client };
    let dir = format!(
        "/Users/{user}/.cargo-mlops/{}/{}",
        plan.project,
        &sha256[..16]
    );
    let path = format!("{dir}/{}", crate::render::LAUNCHER_FILE);
    if !ws.exists(&path)? {
        ws.mkdirs(&dir)?;
        ws.import_file(&path, bytes)?;
        output.verbose("Imported", format!("the launcher to workspace {path}"));
    }
    Ok(path)
}

/// What the rendered project says a task runs on: its `cluster.json` (null when it has
/// none) and its environment's pip requirements.
pub fn rendered_compute(deployment: &Deployment) -> Result<(Value, Vec<String>)> {
    let cluster: Value = serde_json::from_str(&fs_err::read_to_string(
        deployment
            .rendered
            .dir
            .join(crate::manifest::project::CLUSTER_FILE),
    )?)
    .unwrap_or(Value::Null);
    let env_text =
        fs_err::read_to_string(deployment.rendered.dir.join(&deployment.rendered.env_file))?;
    Ok((cluster, env_pip(&deployment.rendered.env_file, &env_text)))
}

/// Creates the MLflow run, logs the parameters and submits the job.
pub fn submit(
    client: &Client,
    plan: &Plan,
    entry: &str,
    deployment: &Deployment,
    timeout_seconds: Option<u64>,
    output: &Output,
) -> Result<Submission> {
    let user = Workspace { client }.me()?;
    let (experiment, experiment_id) = crate::run::experiment::ensure(client, plan, &user)?;
    output.status("Experiment", &experiment);
    let repo_url = crate::git::remote_url(&plan.mlproject);
    let tags = crate::run::tags::run_tags(
        plan,
        entry,
        &user,
        repo_url.as_deref(),
        deployment,
        "databricks",
    );
    let launch_entry = crate::run::entry::entry_of(plan)?;
    let mlflow = Mlflow { client };
    let run_name = format!("{entry}@{}", plan.branch);
    let request_id = uuid::Uuid::new_v4().simple().to_string();
    let run_id = mlflow.create_run(
        &experiment_id,
        &run_name,
        crate::support::time::now_ms(),
        &tags,
        &request_id,
    )?;
    let created = Created {
        client,
        plan,
        deployment,
        output,
        user,
        experiment,
        experiment_id,
        run_id,
    };
    // The job run, once `runs/submit` answered: whatever fails after that cancels it.
    let submitted = std::cell::Cell::new(None);
    let result = created.submit_job(entry, launch_entry, timeout_seconds, &submitted);
    if let Err(e) = &result {
        created.undo(e, submitted.get());
    }
    result
}

/// The MLflow run made for a submit, and what submitting its job needs.
struct Created<'a> {
    client: &'a Client,
    plan: &'a Plan,
    deployment: &'a Deployment,
    output: &'a Output,
    user: String,
    experiment: String,
    experiment_id: String,
    run_id: String,
}

impl Created<'_> {
    /// Logs the parameters, submits the job (noting its id in `submitted` as soon as it
    /// exists) and tags the MLflow run with it.
    fn submit_job(
        &self,
        entry: &str,
        launch_entry: Entry,
        timeout_seconds: Option<u64>,
        submitted: &std::cell::Cell<Option<u64>>,
    ) -> Result<Submission> {
        let (client, plan, deployment) = (self.client, self.plan, self.deployment);
        let mlflow = Mlflow { client };
        let params: Vec<(String, String)> = plan
            .parameters
            .iter()
            .map(|(k, v)| (k.clone(), v.clone()))
            .collect();
        mlflow.log_params(&self.run_id, &params)?;
        let (cluster, pip) = rendered_compute(deployment)?;
        let launcher = launcher_path(client, plan, deployment, &self.user, self.output)?;
        let launch = Launch {
            tarball: deployment.tarball.remote_path.clone(),
            run: RunRef::Existing {
                run_id: self.run_id.clone(),
                experiment_id: self.experiment_id.clone(),
            },
            tracking_uri: Some("databricks".into()),
            result_file: None,
            log_dir: Some(super::live_log::folder(
                &plan.branch_artifacts,
                &self.run_id,
            )),
            entry: launch_entry,
        };
        let body = job_spec(
            plan,
            entry,
            &launch,
            &launcher,
            deployment,
            &cluster,
            &pip,
            timeout_seconds,
        );
        crate::support::interrupt::check()?;
        let jobs = Jobs { client };
        let databricks_run_id = jobs.submit(body)?;
        submitted.set(Some(databricks_run_id));
        // The job exists now. A Ctrl-C from here on must not stop the calls that describe
        // it: the caller records it, prints its id and cancels it (see run::databricks).
        let describe = || -> Result<String> {
            let state = jobs.get(databricks_run_id)?;
            for (k, v) in [
                ("mlflow.databricks.runURL", state.run_page_url.clone()),
                (
                    "mlflow.databricks.shellJobRunID",
                    databricks_run_id.to_string(),
                ),
                ("mlflow.databricks.webappURL", client.host.clone()),
            ] {
                mlflow.set_tag(&self.run_id, k, &v)?;
            }
            Ok(state.run_page_url)
        };
        let run_page_url = client.even_after_interrupt(describe)?;
        submitted.set(None);
        Ok(Submission {
            experiment: self.experiment.clone(),
            experiment_id: self.experiment_id.clone(),
            mlflow_run_id: self.run_id.clone(),
            databricks_run_id,
            run_page_url,
            user: self.user.clone(),
        })
    }

    /// After a failed submit: the job (if it was submitted) cancelled, and the MLflow run
    /// ended rather than left RUNNING forever.
    fn undo(&self, e: &Error, submitted: Option<u64>) {
        let client = self.client;
        let interrupted = e.kind() == crate::error::Kind::Interrupted;
        if interrupted {
            // Ctrl-C stops new work, not the clean-up of what exists already.
            client.clean_up_after_interrupt();
        }
        if let Some(id) = submitted {
            self.output.status(
                "Cancelling",
                format!("run {id}: it was submitted, then {e}"),
            );
            if let Err(cancel) = (Jobs { client }).cancel(id) {
                self.output
                    .warn(format!("cannot cancel run {id}: {cancel}"));
            }
        }
        let status = if interrupted { "KILLED" } else { "FAILED" };
        let _ = Mlflow { client }.end_run(&self.run_id, status, crate::support::time::now_ms());
    }
}
