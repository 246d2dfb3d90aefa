//! The fake's Jobs API (`/api/2.x/jobs/runs/...`): one-time runs on a cluster or serverless,
//! following a `JobBehaviour` or executed for real (`executor.rs`).

use std::sync::Arc;
use std::time::{Duration, Instant};

use serde_json::{Value, json};

use super::executor::Execution;
use super::http::{Request, Response};
use super::state::*;

impl State {
    /// A file the workspace holds, by any path form a job names it with.
    pub(super) fn stored(&self, path: &str) -> Option<Vec<u8>> {
        if let Some(rest) = path
            .strip_prefix("dbfs:")
            .or_else(|| path.strip_prefix("/dbfs"))
        {
            return self
                .dbfs_files
                .get(&norm_dbfs(rest))
                .map(|f| f.data.clone());
        }
        if path.starts_with("/Volumes/") {
            return self.volume_files.get(path).map(|f| f.data.clone());
        }
        let ws = path.strip_prefix("/Workspace").unwrap_or(path);
        self.workspace
            .get(ws)
            .filter(|(t, _)| t == "FILE")
            .map(|(_, b)| b.clone())
    }

    /// A file an executed task wrote through the `/dbfs` or `/Volumes` mount, stored as the
    /// DBFS or Files API stores it; false where the store refuses it (no such volume, a
    /// read-only one, a folder or file in the way).
    pub fn mounted_write(&mut self, path: &str, data: Vec<u8>) -> bool {
        if let Some(rest) = path.strip_prefix("dbfs:") {
            return self.dbfs_write(&norm_dbfs(rest), data, true).status < 300;
        }
        let Some(volume) = self.volume_of(path) else {
            return false;
        };
        if self.read_only_volumes.contains(&volume) || self.volume_dirs.contains(path) {
            return false;
        }
        self.put_volume_file(&volume, path, data);
        true
    }

    pub(super) fn job_state(&self, run: &JobRun) -> (String, Option<String>, String) {
        let elapsed = run.submitted.elapsed();
        let b = &run.behaviour;
        if let Some(Ok(exec)) = &run.execution {
            if run.cancelled_at.is_some() {
                exec.kill();
            }
        }
        if let Some(at) = run.cancelled_at {
            if at.elapsed() < Duration::from_millis(200) {
                return (
                    "TERMINATING".into(),
                    None,
                    "Run cancellation requested".into(),
                );
            }
            return (
                "TERMINATED".into(),
                Some("CANCELED".into()),
                "Run cancelled.".into(),
            );
        }
        match &run.execution {
            Some(Err(why)) => {
                return ("TERMINATED".into(), Some("FAILED".into()), why.clone());
            }
            Some(Ok(exec)) => {
                return match exec.poll() {
                    None => ("RUNNING".into(), None, "In run".into()),
                    Some(Some(0)) if !run.pending_tasks.is_empty() => {
                        ("RUNNING".into(), None, "In run".into())
                    }
                    Some(Some(0)) => ("TERMINATED".into(), Some("SUCCESS".into()), String::new()),
                    Some(_) => ("TERMINATED".into(), Some("FAILED".into()), exec.error().0),
                };
            }
            None => {}
        }
        if elapsed < b.pending {
            ("PENDING".into(), None, "Waiting for cluster".into())
        } else if elapsed < b.pending + b.running {
            ("RUNNING".into(), None, "In run".into())
        } else if b.result == "SUCCESS" {
            ("TERMINATED".into(), Some("SUCCESS".into()), String::new())
        } else {
            ("TERMINATED".into(), Some(b.result.clone()), b.error.clone())
        }
    }

    pub(super) fn job_json(&self, run: &JobRun) -> Value {
        let (life, result, message) = self.job_state(run);
        let mut state = json!({ "life_cycle_state": life, "state_message": message });
        let mut task_state = state.clone();
        if let Some(r) = &result {
            state["result_state"] = json!(r);
            task_state["result_state"] = json!(r);
            if r != "SUCCESS" && r != "CANCELED" {
                // The parent of a failed task ends as INTERNAL_ERROR with the task's message.
                state["life_cycle_state"] = json!("INTERNAL_ERROR");
                state["state_message"] = json!(format!(
                    "Task {} failed with message: {}",
                    run.task_key, message
                ));
            }
        }
        let url = format!(
            "https://fake.cloud.databricks.com/?o=1#job/1/run/{}",
            run.run_id
        );
        // The task running now (a job's tasks run one after another).
        let task = run.body["tasks"]
            .as_array()
            .and_then(|t| t.iter().find(|t| t["task_key"] == run.task_key.as_str()))
            .unwrap_or(&run.body["tasks"][0]);
        let mut answer = json!({
            "run_id": run.run_id,
            "run_name": run.body["run_name"],
            "run_page_url": url,
            "start_time": run.start_ms,
            "state": state,
            "tasks": [{
                "run_id": run.task_run_id,
                "task_key": run.task_key,
                "state": task_state,
                "run_page_url": format!("{url}/task/{}", run.task_run_id),
                "spark_python_task": task["spark_python_task"],
                "libraries": task["libraries"],
            }],
        });
        if let Some(job_id) = run.body.get("job_id") {
            answer["job_id"] = job_id.clone();
        }
        answer
    }

    /// Runs `task` of a run whose settings are `body` for real (its libraries installed from
    /// what the workspace stores), or says why it cannot start.
    pub(super) fn start_task(
        &self,
        ex: &super::executor::Executor,
        body: &Value,
        task: &Value,
    ) -> Result<Arc<Execution>, String> {
        let python_file = task["spark_python_task"]["python_file"]
            .as_str()
            .unwrap_or_default();
        let parameters: Vec<String> = task["spark_python_task"]["parameters"]
            .as_array()
            .into_iter()
            .flatten()
            .filter_map(|p| p.as_str().map(str::to_string))
            .collect();
        let wheels = wheels_of(body, task);
        Execution::start(
            ex,
            python_file,
            &parameters,
            &wheels,
            &|p| self.stored(p),
            self.refuse_mount_writes,
        )
        .map(Arc::new)
    }

    pub(super) fn jobs(&mut self, op: &str, req: &Request) -> Response {
        self.start_next_tasks();
        if let Some(answer) = self.job_defs(op, req) {
            return answer;
        }
        let body = req.json();
        match op {
            "runs/submit" => {
                // Jobs API 2.0 (which MLflow's own databricks backend still uses) takes the
                // one task's fields at the top level.
                let mut body = body;
                if body["tasks"].is_null() {
                    let mut task = serde_json::Map::new();
                    task.insert("task_key".into(), json!("run"));
                    for key in [
                        "new_cluster",
                        "existing_cluster_id",
                        "libraries",
                        "spark_python_task",
                        "python_wheel_task",
                        "notebook_task",
                        "spark_jar_task",
                        "shell_command_task",
                        "timeout_seconds",
                    ] {
                        if let Some(v) = body.as_object_mut().and_then(|o| o.remove(key)) {
                            task.insert(key.into(), v);
                        }
                    }
                    if task.len() > 1 {
                        body["tasks"] = json!([Value::Object(task)]);
                    }
                }
                let Some(tasks) = body["tasks"].as_array().filter(|t| !t.is_empty()) else {
                    return Response::error(
                        400,
                        "INVALID_PARAMETER_VALUE",
                        "At least one task is required.",
                    );
                };
                let task = &tasks[0];
                let Some(key) = task["task_key"].as_str() else {
                    return Response::error(
                        400,
                        "INVALID_PARAMETER_VALUE",
                        "Missing required field: task_key",
                    );
                };
                if !has_one_task_type(task) {
                    return Response::error(
                        400,
                        "INVALID_PARAMETER_VALUE",
                        "A task must have exactly one task type.",
                    );
                }
                if let Err(e) = check_compute(&body, task) {
                    return e;
                }
                if let Some(token) = body["idempotency_token"].as_str() {
                    if token.len() > 64 {
                        return Response::error(
                            400,
                            "INVALID_PARAMETER_VALUE",
                            "idempotency_token is longer than 64 characters",
                        );
                    }
                    if let Some(id) = self.idempotency.get(token) {
                        return Response::ok(json!({ "run_id": id }));
                    }
                }
                let run_id = self.id();
                let task_run_id = self.id();
                if let Some(token) = body["idempotency_token"].as_str() {
                    self.idempotency.insert(token.into(), run_id);
                }
                let execution = self
                    .executor
                    .clone()
                    .map(|ex| self.start_task(&ex, &body, task));
                self.jobs.insert(
                    run_id,
                    JobRun {
                        run_id,
                        task_run_id,
                        task_key: key.into(),
                        submitted: Instant::now(),
                        start_ms: now_ms(),
                        body: body.clone(),
                        behaviour: self.job_behaviour.clone(),
                        cancelled_at: None,
                        execution,
                        pending_tasks: Vec::new(),
                    },
                );
                Response::ok(json!({ "run_id": run_id }))
            }
            "runs/get" => {
                let id: u64 = req
                    .query
                    .get("run_id")
                    .and_then(|v| v.parse().ok())
                    .unwrap_or(0);
                match self.jobs.get(&id) {
                    Some(run) => Response::ok(self.job_json(run)),
                    None => Response::error(
                        400,
                        "INVALID_PARAMETER_VALUE",
                        &format!("Run {id} does not exist."),
                    ),
                }
            }
            "runs/get-output" => {
                let id: u64 = req
                    .query
                    .get("run_id")
                    .and_then(|v| v.parse().ok())
                    .unwrap_or(0);
                if self.jobs.contains_key(&id) {
                    return Response::error(
                        400,
                        "INVALID_PARAMETER_VALUE",
                        "Retrieving the output of runs with multiple tasks is not supported. Please retrieve the output of each individual task run instead.",
                    );
                }
                match self.jobs.values().find(|r| r.task_run_id == id) {
                    Some(run) => {
                        let mut b = run.behaviour.clone();
                        match &run.execution {
                            Some(Ok(exec)) => {
                                b.logs = exec.log();
                                (b.error, b.error_trace) = exec.error();
                            }
                            Some(Err(why)) => {
                                b.logs = String::new();
                                b.error = why.clone();
                            }
                            None => {}
                        }
                        // A task's standard streams come back once it has ended (the last
                        // 5 MB, https://docs.databricks.com/api/workspace/jobs/getrunoutput).
                        let ended = self.job_state(run).1.is_some();
                        let mut out = json!({ "logs_truncated": false, "metadata": self.job_json(run)["tasks"][0].clone() });
                        if ended {
                            out["logs"] = json!(b.logs);
                        }
                        if self
                            .job_state(run)
                            .1
                            .as_deref()
                            .is_some_and(|r| r != "SUCCESS")
                            && !b.error.is_empty()
                        {
                            out["error"] = json!(b.error);
                            out["error_trace"] = json!(b.error_trace);
                        }
                        Response::ok(out)
                    }
                    None => Response::error(
                        400,
                        "INVALID_PARAMETER_VALUE",
                        &format!("Run {id} does not exist."),
                    ),
                }
            }
            "runs/cancel" => {
                let id = body["run_id"].as_u64().unwrap_or(0);
                let terminal = self.jobs.get(&id).map(|r| self.job_state(r).1.is_some());
                match (self.jobs.get_mut(&id), terminal) {
                    (Some(run), Some(false)) => {
                        run.cancelled_at.get_or_insert(Instant::now());
                        Response::ok(json!({}))
                    }
                    (Some(_), _) => Response::ok(json!({})),
                    (None, _) => Response::error(
                        400,
                        "INVALID_PARAMETER_VALUE",
                        &format!("Run {id} does not exist."),
                    ),
                }
            }
            _ => Response::error(404, "ENDPOINT_NOT_FOUND", op),
        }
    }
}

/// Whether a task has exactly one task type, as the service requires.
pub(super) fn has_one_task_type(task: &Value) -> bool {
    let kinds = [
        "spark_python_task",
        "python_wheel_task",
        "notebook_task",
        "spark_jar_task",
        "shell_command_task",
    ];
    kinds.iter().filter(|k| !task[**k].is_null()).count() == 1
}

/// What a task runs on: a cluster (new or existing) or serverless compute, checked as the
/// Jobs service checks a submit
/// (https://docs.databricks.com/aws/en/jobs/run-serverless-jobs): a serverless Python task
/// names one of the run's `environments` and has no `libraries`; a cluster task has no
/// `environment_key`; serverless compute reads no DBFS.
pub(super) fn check_compute(body: &Value, task: &Value) -> Result<(), Response> {
    let bad = |m: &str| Err(Response::error(400, "INVALID_PARAMETER_VALUE", m));
    let new = !task["new_cluster"].is_null();
    let existing = !task["existing_cluster_id"].is_null();
    let shared = !task["job_cluster_key"].is_null();
    if [new, existing, shared].iter().filter(|b| **b).count() > 1 {
        return bad(
            "A task can have only one of new_cluster, existing_cluster_id and job_cluster_key.",
        );
    }
    // A shared job cluster is one of the job's `job_clusters` (runs/submit has none).
    if let Some(key) = task["job_cluster_key"].as_str() {
        let defined = body["job_clusters"]
            .as_array()
            .into_iter()
            .flatten()
            .any(|c| c["job_cluster_key"] == key && c["new_cluster"].is_object());
        if !defined {
            return bad(&format!(
                "Task {} references job cluster {key}, which is not defined in the job's job_clusters.",
                task["task_key"]
            ));
        }
    }
    let new = new || shared;
    let python_task = !task["spark_python_task"].is_null() || !task["python_wheel_task"].is_null();
    if new || existing {
        if !task["environment_key"].is_null() {
            return bad(
                "The environment_key field is only supported for tasks that run on serverless compute.",
            );
        }
        return Ok(());
    }
    if !task["libraries"].is_null() {
        return bad(
            "Libraries field is not supported for serverless task, please specify libraries in environment.",
        );
    }
    let Some(key) = task["environment_key"].as_str() else {
        if python_task {
            return bad(
                "A task environment can not be found, please add an environment in the job definition.",
            );
        }
        return Ok(());
    };
    let environment = body["environments"]
        .as_array()
        .into_iter()
        .flatten()
        .find(|e| e["environment_key"] == key);
    let Some(environment) = environment else {
        return bad(&format!(
            "The environment {key} referenced by task {} is not defined in the job's environments.",
            task["task_key"]
        ));
    };
    let spec = &environment["spec"];
    if spec["environment_version"].is_null()
        && spec["client"].is_null()
        && spec["base_environment"].is_null()
    {
        return bad("An environment spec needs environment_version (or base_environment).");
    }
    let is_dbfs = |p: &str| p.starts_with("dbfs:") || p.starts_with("/dbfs/");
    for dep in spec["dependencies"].as_array().into_iter().flatten() {
        if dep
            .as_str()
            .is_some_and(|d| d.split_whitespace().any(is_dbfs))
        {
            return bad(&format!(
                "DBFS paths are not supported in serverless dependencies: {dep}. Use a workspace file or a Unity Catalog volume."
            ));
        }
    }
    if task["spark_python_task"]["python_file"]
        .as_str()
        .is_some_and(is_dbfs)
    {
        return bad(
            "DBFS is not supported on serverless compute: the python_file must be a workspace file or in a Unity Catalog volume.",
        );
    }
    Ok(())
}

/// The wheel files a task installs: its `whl` libraries (and `pypi` packages that are wheel
/// paths) on a cluster, its environment's wheel dependencies on serverless.
pub(super) fn wheels_of(body: &Value, task: &Value) -> Vec<String> {
    let mut out = Vec::new();
    for lib in task["libraries"].as_array().into_iter().flatten() {
        if let Some(w) = lib["whl"].as_str().or(lib["pypi"]["package"].as_str()) {
            if w.ends_with(".whl") {
                out.push(w.to_string());
            }
        }
    }
    if let Some(key) = task["environment_key"].as_str() {
        for env in body["environments"].as_array().into_iter().flatten() {
            if env["environment_key"] == key {
                for dep in env["spec"]["dependencies"].as_array().into_iter().flatten() {
                    if let Some(d) = dep.as_str().filter(|d| d.ends_with(".whl")) {
                        out.push(d.to_string());
                    }
                }
            }
        }
    }
    out
}
