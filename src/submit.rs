//! The submit stage: the branch's experiment, an MLflow run created up front with the tags
//! MLflow itself sets, and a Jobs `runs/submit` of one `spark_python_task` that runs the
//! deployed launcher. Public APIs only; `idempotency_token` = the MLflow run id, so a retried
//! submit never starts two runs.

use std::collections::BTreeMap;

use serde::Serialize;
use serde_json::{Value, json};

use crate::commands::deploy::Deployment;
use crate::databricks::Client;
use crate::databricks::jobs::Jobs;
use crate::databricks::mlflow::Mlflow;
use crate::databricks::workspace::Workspace;
use crate::error::{Error, Result};
use crate::manifest::{EnvManager, Install};
use crate::output::Output;
use crate::plan::Plan;

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

/// The experiment named by the plan (with `{user}` filled in), created when missing, with its
/// parent workspace folder. A concurrent creator winning the race is fine.
pub fn experiment(client: &Client, plan: &Plan, user: &str) -> Result<(String, String)> {
    let name = plan.experiment.replace("{user}", user);
    let mlflow = Mlflow { client };
    if let Some(e) = mlflow.experiment_by_name(&name)? {
        return Ok((
            name,
            e["experiment_id"].as_str().unwrap_or_default().to_string(),
        ));
    }
    if let Some((parent, _)) = name.rsplit_once('/').filter(|(p, _)| !p.is_empty()) {
        Workspace { client }.mkdirs(parent)?;
    }
    match mlflow.create_experiment(&name) {
        Ok(id) => Ok((name, id)),
        Err(e) if e.is("RESOURCE_ALREADY_EXISTS") => {
            let e = mlflow.experiment_by_name(&name)?.ok_or_else(|| {
                Error::remote(format!(
                    "experiment `{name}` exists but cannot be found by name"
                ))
            })?;
            Ok((
                name,
                e["experiment_id"].as_str().unwrap_or_default().to_string(),
            ))
        }
        Err(e) => Err(e.into()),
    }
}

/// The tags MLflow sets on a project run, and ours.
pub fn run_tags(
    plan: &Plan,
    entry: &str,
    user: &str,
    repo_url: Option<&str>,
    deployment: &Deployment,
) -> Vec<(String, String)> {
    let mut tags: Vec<(String, String)> = vec![
        ("mlflow.user".into(), user.into()),
        (
            "mlflow.source.name".into(),
            repo_url
                .map(str::to_string)
                .unwrap_or_else(|| plan.mlproject.display().to_string()),
        ),
        ("mlflow.source.type".into(), "PROJECT".into()),
        ("mlflow.source.git.branch".into(), plan.branch.clone()),
        ("mlflow.project.entryPoint".into(), entry.into()),
        ("mlflow.project.backend".into(), "databricks".into()),
        ("mlops.branch".into(), plan.branch.clone()),
        ("mlops.branch_slug".into(), plan.branch_slug.clone()),
        ("mlops.target".into(), plan.target.clone()),
        ("mlops.deploy_record".into(), deployment.record.clone()),
        (
            "mlops.tarball".into(),
            deployment.tarball.remote_path.clone(),
        ),
    ];
    if let Some(commit) = &plan.commit {
        tags.push(("mlflow.source.git.commit".into(), commit.clone()));
    }
    if let Some(url) = repo_url {
        tags.push(("mlflow.source.git.repoURL".into(), url.into()));
    }
    for w in &deployment.wheels {
        tags.push((format!("mlops.wheel.{}", w.file), w.sha256.clone()));
    }
    tags
}

/// Everything the job needs installed: the rendered cluster libraries, every wheel, the
/// environment's pip packages when the launcher uses the cluster's Python, and `mlflow` once.
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
    let local_env = plan.env_manager == EnvManager::Local;
    for w in &deployment.wheels {
        let is_cluster = deployment
            .rendered
            .wheels
            .iter()
            .any(|r| r.file == w.file && r.install == Install::Cluster);
        if is_cluster || local_env {
            let already = libs.iter().any(|l| l.to_string().contains(&w.remote_path));
            if !already {
                push(json!({ "whl": w.remote_path }), &mut libs);
            }
        }
    }
    if local_env {
        for p in env_pip {
            if p.ends_with(".whl") || p.starts_with('-') {
                continue;
            }
            push(json!({ "pypi": { "package": p } }), &mut libs);
        }
    }
    let has_mlflow = libs.iter().any(|l| {
        l["pypi"]["package"].as_str().is_some_and(|p| {
            let name: String = p
                .chars()
                .take_while(|c| c.is_ascii_alphanumeric() || *c == '-' || *c == '_')
                .collect::<String>()
                .to_lowercase()
                .replace('_', "-");
            name == "mlflow" || name == "mlflow-skinny"
        })
    });
    if !has_mlflow {
        let package = match &plan.mlflow_version {
            Some(v) => format!("mlflow=={v}"),
            None => "mlflow".into(),
        };
        push(json!({ "pypi": { "package": package } }), &mut libs);
    }
    libs
}

/// The pip requirements of the rendered environment file (conda `pip:` list, or python_env
/// `dependencies`).
pub fn env_pip(env_file: &str, text: &str) -> Vec<String> {
    let value: serde_yaml::Value = serde_yaml::from_str(text).unwrap_or(serde_yaml::Value::Null);
    let deps = value["dependencies"]
        .as_sequence()
        .cloned()
        .unwrap_or_default();
    let strings = |seq: &[serde_yaml::Value]| -> Vec<String> {
        seq.iter()
            .filter_map(|v| v.as_str().map(str::to_string))
            .collect()
    };
    if env_file.contains("python_env") {
        return strings(&deps);
    }
    deps.iter()
        .filter_map(|d| d.get("pip").and_then(|p| p.as_sequence()))
        .flat_map(|p| strings(p))
        .collect()
}

/// The one-time run: one `spark_python_task` running the launcher on a new or existing
/// cluster.
#[allow(clippy::too_many_arguments)]
pub fn job_spec(
    plan: &Plan,
    entry: &str,
    mlflow_run_id: &str,
    launcher_path: &str,
    deployment: &Deployment,
    cluster: &Value,
    libraries: Vec<Value>,
    timeout_seconds: Option<u64>,
) -> Value {
    let mut parameters: Vec<String> = vec![
        "--tarball".into(),
        deployment.tarball.remote_path.clone(),
        "--entry".into(),
        entry.into(),
        "--run-id".into(),
        mlflow_run_id.into(),
        "--env-manager".into(),
        plan.env_manager.to_string(),
    ];
    for (k, v) in &plan.parameters {
        parameters.push("-P".into());
        parameters.push(format!("{k}={v}"));
    }
    let mut task = json!({
        "task_key": TASK_KEY,
        "spark_python_task": { "python_file": launcher_path, "parameters": parameters },
        "libraries": libraries,
    });
    match (&plan.cluster_id, cluster.get("existing_cluster_id")) {
        (Some(id), _) => task["existing_cluster_id"] = json!(id),
        (None, Some(id)) => task["existing_cluster_id"] = id.clone(),
        (None, None) => {
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
    if let Some(t) = timeout_seconds {
        task["timeout_seconds"] = json!(t);
    }
    let mut body = json!({
        "run_name": format!("{}:{}@{}", plan.project, entry, plan.branch),
        "tasks": [task],
        // The MLflow run id (32 hex digits, within the 64 allowed): a retried submit after a
        // lost answer returns the first run instead of starting a second.
        "idempotency_token": mlflow_run_id,
    });
    if let Some(t) = timeout_seconds {
        body["timeout_seconds"] = json!(t);
    }
    body
}

/// Where the job finds the launcher: the deployed file on DBFS; for volumes, a copy imported
/// as a workspace file (the Jobs API takes `dbfs:/` and workspace paths for `python_file`).
pub fn launcher_path(
    client: &Client,
    plan: &Plan,
    deployment: &Deployment,
    user: &str,
    output: &Output,
) -> Result<String> {
    if deployment.launcher.remote_path.starts_with("dbfs:/") {
        return Ok(deployment.launcher.remote_path.clone());
    }
    let ws = Workspace { client };
    let address = &deployment.launcher.sha256[..16];
    let dir = format!("/Users/{user}/.cargo-mlops/{}/{address}", plan.project);
    let path = format!("{dir}/{}", crate::render::LAUNCHER_FILE);
    if !ws.exists(&path)? {
        ws.mkdirs(&dir)?;
        let bytes = fs_err::read(deployment.rendered.dir.join(crate::render::LAUNCHER_FILE))?;
        ws.import_file(&path, &bytes)?;
        output.verbose("Imported", format!("the launcher to workspace {path}"));
    }
    Ok(path)
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
    let (experiment, experiment_id) = experiment(client, plan, &user)?;
    output.status("Experiment", &experiment);
    let repo_url = crate::git::remote_url(&plan.mlproject);
    let tags = run_tags(plan, entry, &user, repo_url.as_deref(), deployment);
    let mlflow = Mlflow { client };
    let run_name = format!("{entry}@{}", plan.branch);
    let run_id = mlflow.create_run(&experiment_id, &run_name, crate::time::now_ms(), &tags)?;
    let result = (|| -> Result<Submission> {
        let params: Vec<(String, String)> = plan
            .parameters
            .iter()
            .map(|(k, v)| (k.clone(), v.clone()))
            .collect();
        mlflow.log_params(&run_id, &params)?;
        let cluster: Value = serde_json::from_str(&fs_err::read_to_string(
            deployment.rendered.dir.join(crate::project::CLUSTER_FILE),
        )?)
        .unwrap_or(Value::Null);
        let env_text =
            fs_err::read_to_string(deployment.rendered.dir.join(&deployment.rendered.env_file))?;
        let libs = libraries(
            plan,
            deployment,
            &cluster,
            &env_pip(&deployment.rendered.env_file, &env_text),
        );
        let launcher = launcher_path(client, plan, deployment, &user, output)?;
        let body = job_spec(
            plan,
            entry,
            &run_id,
            &launcher,
            deployment,
            &cluster,
            libs,
            timeout_seconds,
        );
        crate::interrupt::check()?;
        let jobs = Jobs { client };
        let databricks_run_id = jobs.submit(body)?;
        let state = jobs.get(databricks_run_id)?;
        let webapp = client.host.clone();
        for (k, v) in [
            ("mlflow.databricks.runURL", state.run_page_url.clone()),
            (
                "mlflow.databricks.shellJobRunID",
                databricks_run_id.to_string(),
            ),
            ("mlflow.databricks.webappURL", webapp),
        ] {
            mlflow.set_tag(&run_id, k, &v)?;
        }
        Ok(Submission {
            experiment: experiment.clone(),
            experiment_id: experiment_id.clone(),
            mlflow_run_id: run_id.clone(),
            databricks_run_id,
            run_page_url: state.run_page_url,
            user: user.clone(),
        })
    })();
    if let Err(e) = &result {
        // The run never started: say so in MLflow rather than leave it RUNNING forever.
        let status = if e.kind() == crate::error::Kind::Interrupted {
            "KILLED"
        } else {
            "FAILED"
        };
        let _ = mlflow.end_run(&run_id, status, crate::time::now_ms());
    }
    result
}

/// Parameters sorted as the launcher receives them (for messages).
pub fn describe_params(params: &BTreeMap<String, String>) -> String {
    params
        .iter()
        .map(|(k, v)| format!("{k}={v}"))
        .collect::<Vec<_>>()
        .join(" ")
}
