//! The fake's persistent jobs (Jobs API 2.2 `jobs/create`, `reset`, `get`, `list`, `delete`,
//! `run-now` and `runs/list`), with the settings checked as the service checks them: tasks
//! with unique keys, one task type each, `depends_on` naming tasks of the job, each task's
//! compute (`jobs.rs` `compute_of`), a schedule with a Quartz expression, a time zone and a
//! pause status, at most 1000 concurrent runs, 25 tags and 3 webhooks per event. The shapes
//! are those of databricks-sdk-py `databricks/sdk/service/jobs.py` (`JobSettings`,
//! `CronSchedule`, `JobEmailNotifications`, `WebhookNotifications`, `BaseJob`,
//! `ListJobsResponse`); `tests/fidelity/sdk_jobs.py` drives them with that SDK.

use std::time::Instant;

use serde_json::{Value, json};

use super::http::{Request, Response};
use super::state::*;

/// A job `jobs/create` made.
#[derive(Clone, Debug)]
pub struct JobDef {
    pub job_id: u64,
    pub created_time: i64,
    pub creator: String,
    pub settings: Value,
}

fn bad(message: &str) -> Response {
    Response::error(400, "INVALID_PARAMETER_VALUE", message)
}

fn missing(job_id: u64) -> Response {
    bad(&format!("Job {job_id} does not exist."))
}

/// Checks job settings as the service does; the first problem is the answer.
fn check(settings: &Value) -> Result<(), Response> {
    if !settings.is_object() {
        return Err(bad("Job settings must be an object."));
    }
    if let Some(name) = settings.get("name") {
        if name.as_str().is_none_or(|n| n.len() > 4096) {
            return Err(bad("Job name must be a string of at most 4096 characters."));
        }
    }
    let tasks = settings["tasks"].as_array().cloned().unwrap_or_default();
    if tasks.len() > 100 {
        return Err(bad("A job can have at most 100 tasks."));
    }
    let keys: Vec<&str> = tasks
        .iter()
        .filter_map(|t| t["task_key"].as_str())
        .collect();
    if keys.len() != tasks.len() {
        return Err(bad("Missing required field: task_key"));
    }
    for (i, key) in keys.iter().enumerate() {
        let ok = !key.is_empty()
            && key.len() <= 100
            && key
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-');
        if !ok {
            return Err(bad(&format!("Invalid task_key: {key}")));
        }
        if keys[..i].contains(key) {
            return Err(bad(&format!("Duplicate task key: {key}")));
        }
    }
    for task in &tasks {
        if !super::jobs::has_one_task_type(task) {
            return Err(bad("A task must have exactly one task type."));
        }
        for dep in task["depends_on"].as_array().into_iter().flatten() {
            let named = dep["task_key"].as_str().unwrap_or_default();
            if !keys.contains(&named) || named == task["task_key"].as_str().unwrap_or_default() {
                return Err(bad(&format!(
                    "Task {} depends on {named}, which is not a task of this job.",
                    task["task_key"]
                )));
            }
        }
        super::jobs::check_compute(settings, task)?;
    }
    if let Some(schedule) = settings.get("schedule").filter(|s| !s.is_null()) {
        let cron = schedule["quartz_cron_expression"]
            .as_str()
            .unwrap_or_default();
        if cron.is_empty() {
            return Err(bad(
                "Missing required field: schedule.quartz_cron_expression",
            ));
        }
        if !(6..=7).contains(&cron.split_whitespace().count()) {
            return Err(bad(&format!("Invalid quartz_cron_expression: {cron}")));
        }
        if schedule["timezone_id"].as_str().is_none_or(str::is_empty) {
            return Err(bad("Missing required field: schedule.timezone_id"));
        }
        if let Some(p) = schedule.get("pause_status") {
            if !matches!(p.as_str(), Some("PAUSED" | "UNPAUSED")) {
                return Err(bad(&format!("Invalid pause_status: {p}")));
            }
        }
    }
    if let Some(m) = settings.get("max_concurrent_runs") {
        if m.as_u64().is_none_or(|m| m > 1000) {
            return Err(bad("max_concurrent_runs must be between 0 and 1000."));
        }
    }
    if settings["tags"].as_object().is_some_and(|t| t.len() > 25) {
        return Err(bad("A job can have at most 25 tags."));
    }
    for (event, hooks) in settings["webhook_notifications"]
        .as_object()
        .into_iter()
        .flatten()
    {
        let hooks = hooks.as_array().cloned().unwrap_or_default();
        if hooks.len() > 3 || hooks.iter().any(|h| h["id"].as_str().is_none()) {
            return Err(bad(&format!(
                "webhook_notifications.{event}: at most 3 destinations, each with an id."
            )));
        }
    }
    for (event, emails) in settings["email_notifications"]
        .as_object()
        .into_iter()
        .flatten()
    {
        if emails.is_array() && emails.as_array().unwrap().iter().any(|e| !e.is_string()) {
            return Err(bad(&format!(
                "email_notifications.{event} must be a list of addresses."
            )));
        }
    }
    Ok(())
}

/// `{{job.id}}` and `{{job.run_id}}` in a task's parameters, replaced as the service replaces
/// dynamic value references when a run starts.
fn substituted(settings: &Value, job_id: u64, run_id: u64, params: &Value) -> Value {
    let mut text = settings
        .to_string()
        .replace("{{job.run_id}}", &run_id.to_string())
        .replace("{{job.id}}", &job_id.to_string());
    // Job parameters: the job's defaults, overridden by those the run was started with.
    for p in settings["parameters"].as_array().into_iter().flatten() {
        let name = p["name"].as_str().unwrap_or_default();
        let value = params[name]
            .as_str()
            .or_else(|| p["default"].as_str())
            .unwrap_or_default();
        text = text.replace(&format!("{{{{job.parameters.{name}}}}}"), value);
    }
    serde_json::from_str(&text).expect("still JSON")
}

impl State {
    /// Starts a run of job `job_id` with `params` (its job parameters), as `run-now` does.
    pub(super) fn start_job_run(&mut self, job_id: u64, params: &Value) -> Result<u64, Response> {
        let Some(def) = self.job_defs.get(&job_id).cloned() else {
            return Err(missing(job_id));
        };
        let run_id = self.id();
        let task_run_id = self.id();
        let mut run_body = substituted(&def.settings, job_id, run_id, params);
        run_body["run_name"] = def.settings["name"].clone();
        run_body["job_id"] = json!(job_id);
        let Some(task) = run_body["tasks"].get(0).cloned() else {
            return Err(bad("The job has no tasks to run."));
        };
        // The first task runs (for real with an executor); the others follow it, each once
        // the one before succeeded (`start_next_tasks`). Without an executor the run follows
        // `job_behaviour` as a whole.
        let pending_tasks: Vec<Value> = match &self.executor {
            Some(_) => run_body["tasks"].as_array().unwrap()[1..].to_vec(),
            None => Vec::new(),
        };
        let execution = self
            .executor
            .clone()
            .map(|ex| self.start_task(&ex, &run_body, &task));
        self.jobs.insert(
            run_id,
            JobRun {
                run_id,
                task_run_id,
                task_key: task["task_key"].as_str().unwrap_or("run").into(),
                submitted: Instant::now(),
                start_ms: now_ms(),
                body: run_body,
                behaviour: self.job_behaviour.clone(),
                cancelled_at: None,
                execution,
                pending_tasks,
            },
        );
        Ok(run_id)
    }

    fn repair_run(&mut self, body: &Value) -> Response {
        let run_id = body["run_id"].as_u64().unwrap_or(0);
        let Some(ex) = self.executor.clone() else {
            return bad("This workspace repairs only executed runs.");
        };
        let Some(run) = self.jobs.get(&run_id) else {
            return Response::error(
                404,
                "RESOURCE_DOES_NOT_EXIST",
                &format!("Run {run_id} does not exist."),
            );
        };
        let key = body["rerun_tasks"][0].as_str().unwrap_or_default();
        let tasks = run.body["tasks"].as_array().cloned().unwrap_or_default();
        let Some(at) = tasks.iter().position(|t| t["task_key"] == key) else {
            return bad(&format!("Task {key} is not a task of run {run_id}."));
        };
        let (task, body_of_run) = (tasks[at].clone(), run.body.clone());
        let execution = self.start_task(&ex, &body_of_run, &task);
        let task_run_id = self.id();
        let run = self.jobs.get_mut(&run_id).expect("found above");
        run.pending_tasks = tasks[at + 1..].to_vec();
        run.task_key = key.to_string();
        run.task_run_id = task_run_id;
        run.execution = Some(execution);
        run.cancelled_at = None;
        Response::ok(json!({ "repair_id": task_run_id }))
    }

    /// Starts the next task of every executed job run whose running task succeeded (tasks
    /// run in the order given, each depending on the one before, as our jobs' do).
    pub(super) fn start_next_tasks(&mut self) {
        let Some(ex) = self.executor.clone() else {
            return;
        };
        let ready: Vec<u64> = self
            .jobs
            .values()
            .filter(|r| !r.pending_tasks.is_empty() && r.cancelled_at.is_none())
            .filter(|r| matches!(&r.execution, Some(Ok(e)) if e.poll() == Some(Some(0))))
            .map(|r| r.run_id)
            .collect();
        for run_id in ready {
            let task_run_id = self.id();
            let (task, body) = {
                let run = self.jobs.get_mut(&run_id).unwrap();
                (run.pending_tasks.remove(0), run.body.clone())
            };
            let execution = self.start_task(&ex, &body, &task);
            let run = self.jobs.get_mut(&run_id).unwrap();
            run.task_key = task["task_key"].as_str().unwrap_or("run").into();
            run.task_run_id = task_run_id;
            run.execution = Some(execution);
        }
    }

    pub(super) fn job_defs(&mut self, op: &str, req: &Request) -> Option<Response> {
        let body = req.json();
        let job_id_of = |v: &Value| -> u64 {
            v.as_u64()
                .or_else(|| v.as_str().and_then(|s| s.parse().ok()))
                .unwrap_or(0)
        };
        Some(match op {
            "create" => {
                if let Err(e) = check(&body) {
                    return Some(e);
                }
                let job_id = self.id();
                let mut settings = body.clone();
                if settings.get("name").is_none() {
                    settings["name"] = json!("Untitled");
                }
                if settings.get("max_concurrent_runs").is_none() {
                    settings["max_concurrent_runs"] = json!(1);
                }
                self.job_defs.insert(
                    job_id,
                    JobDef {
                        job_id,
                        created_time: now_ms(),
                        creator: self.user.clone(),
                        settings,
                    },
                );
                Response::ok(json!({ "job_id": job_id }))
            }
            "reset" => {
                let job_id = job_id_of(&body["job_id"]);
                let new = body["new_settings"].clone();
                if new.is_null() {
                    return Some(bad("Missing required field: new_settings"));
                }
                if let Err(e) = check(&new) {
                    return Some(e);
                }
                match self.job_defs.get_mut(&job_id) {
                    Some(def) => {
                        def.settings = new;
                        Response::ok(json!({}))
                    }
                    None => missing(job_id),
                }
            }
            "get" => {
                let job_id =
                    job_id_of(&json!(req.query.get("job_id").cloned().unwrap_or_default()));
                match self.job_defs.get(&job_id) {
                    Some(def) => Response::ok(json!({
                        "job_id": def.job_id,
                        "creator_user_name": def.creator,
                        "created_time": def.created_time,
                        "settings": def.settings,
                    })),
                    None => missing(job_id),
                }
            }
            "list" => {
                let limit: usize = req
                    .query
                    .get("limit")
                    .and_then(|l| l.parse().ok())
                    .unwrap_or(20);
                if !(1..=100).contains(&limit) {
                    return Some(bad("limit must be between 1 and 100."));
                }
                let expand = req.query.get("expand_tasks").is_some_and(|v| v == "true");
                let name = req.query.get("name").map(|n| n.to_lowercase());
                // The page token is opaque to clients; here it is the offset, prefixed.
                let start: usize = req
                    .query
                    .get("page_token")
                    .and_then(|t| t.strip_prefix("fake-page-"))
                    .and_then(|t| t.parse().ok())
                    .or_else(|| req.query.get("offset").and_then(|o| o.parse().ok()))
                    .unwrap_or(0);
                let matching: Vec<&JobDef> = self
                    .job_defs
                    .values()
                    .filter(|d| {
                        name.as_ref().is_none_or(|n| {
                            d.settings["name"]
                                .as_str()
                                .unwrap_or_default()
                                .to_lowercase()
                                == *n
                        })
                    })
                    .collect();
                let page: Vec<Value> = matching
                    .iter()
                    .skip(start)
                    .take(limit)
                    .map(|d| {
                        let mut settings = d.settings.clone();
                        if !expand {
                            if let Some(o) = settings.as_object_mut() {
                                o.shift_remove("tasks");
                                o.shift_remove("job_clusters");
                            }
                        }
                        json!({
                            "job_id": d.job_id,
                            "creator_user_name": d.creator,
                            "created_time": d.created_time,
                            "settings": settings,
                        })
                    })
                    .collect();
                let more = start + limit < matching.len();
                let mut answer = json!({ "has_more": more });
                if !page.is_empty() {
                    answer["jobs"] = json!(page);
                }
                if more {
                    answer["next_page_token"] = json!(format!("fake-page-{}", start + limit));
                }
                Response::ok(answer)
            }
            "delete" => {
                let job_id = job_id_of(&body["job_id"]);
                match self.job_defs.remove(&job_id) {
                    Some(_) => Response::ok(json!({})),
                    None => missing(job_id),
                }
            }
            "run-now" => {
                let job_id = job_id_of(&body["job_id"]);
                if let Some(token) = body["idempotency_token"].as_str() {
                    if let Some(id) = self.idempotency.get(token) {
                        return Some(Response::ok(json!({ "run_id": id, "number_in_job": id })));
                    }
                }
                let run_id = match self.start_job_run(job_id, &body["job_parameters"]) {
                    Ok(id) => id,
                    Err(refused) => return Some(refused),
                };
                if let Some(token) = body["idempotency_token"].as_str() {
                    self.idempotency.insert(token.into(), run_id);
                }
                Response::ok(json!({ "run_id": run_id, "number_in_job": run_id }))
            }
            // databricks-sdk-py `service/jobs.py` `JobsAPI.repair_run`: the named tasks run
            // again (and, with an executor, the ones after them), in the same run.
            "runs/repair" => self.repair_run(&body),
            "runs/list" => {
                let job_id = req.query.get("job_id").and_then(|j| j.parse::<u64>().ok());
                let limit: usize = req
                    .query
                    .get("limit")
                    .and_then(|l| l.parse().ok())
                    .unwrap_or(20);
                let mut runs: Vec<&JobRun> = self
                    .jobs
                    .values()
                    .filter(|r| job_id.is_none_or(|j| r.body["job_id"].as_u64() == Some(j)))
                    .collect();
                runs.sort_by_key(|r| std::cmp::Reverse(r.run_id));
                let more = runs.len() > limit;
                let page: Vec<Value> = runs
                    .into_iter()
                    .take(limit)
                    .map(|r| {
                        let mut v = self.job_json(r);
                        v["job_id"] = r.body["job_id"].clone();
                        v
                    })
                    .collect();
                let mut answer = json!({ "has_more": more });
                if !page.is_empty() {
                    answer["runs"] = json!(page);
                }
                Response::ok(answer)
            }
            _ => return None,
        })
    }
}
