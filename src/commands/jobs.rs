//! `cargo mlops jobs deploy [NAME] | list | run NAME | remove NAME`.

use crate::cli::{JobsAction, JobsArgs};
use crate::error::{Error, Result};
use crate::output::Output;
use crate::run::follow::Ended;
use crate::session::Session;

pub fn run(session: &Session, args: &JobsArgs) -> Result<()> {
    crate::support::interrupt::install();
    match &args.action {
        JobsAction::Deploy {
            name,
            dry_run,
            json,
        } => deploy(session, name.as_deref(), *dry_run, *json),
        JobsAction::List { json } => list(session, *json),
        JobsAction::Run { name, json } => run_job(session, name, *json),
        JobsAction::Remove {
            name,
            dry_run,
            json,
        } => remove(session, name, *dry_run, *json),
    }
}

fn deploy(session: &Session, name: Option<&str>, dry_run: bool, json: bool) -> Result<()> {
    let output = session.output.clone().with_json(json);
    let report = crate::jobs::deploy(session, name, dry_run, &output)?;
    if output.json() {
        output.result_json(&report);
        return Ok(());
    }
    for j in &report.jobs {
        let id = j.job_id.map_or("-".into(), |i| i.to_string());
        let schedule = match (&j.schedule, j.paused) {
            (None, _) => "on demand".to_string(),
            (Some(s), true) => format!("{s}, paused"),
            (Some(s), false) => s.clone(),
        };
        output.result(format!(
            "{:<14} {:<12} {id:<10} {schedule}",
            j.name, j.action
        ));
    }
    Ok(())
}

fn list(session: &Session, json: bool) -> Result<()> {
    let output = session.output.clone().with_json(json);
    let report = crate::jobs::list(session, &output)?;
    if output.json() {
        output.result_json(&report);
        return Ok(());
    }
    output.result(format!(
        "{:<14} {:<10} {:<28} {:<8} {:<22} next run",
        "job", "job id", "schedule", "paused", "last run"
    ));
    for j in &report.jobs {
        let dash = || "-".to_string();
        let schedule = match (&j.schedule, &j.timezone) {
            (Some(c), Some(tz)) => format!("{c} {tz}"),
            _ if j.job_id.is_some() => "on demand".into(),
            _ => "not deployed".into(),
        };
        let last = match (&j.last_run_id, &j.last_result) {
            (Some(id), Some(r)) => format!("{id} {r}"),
            _ => dash(),
        };
        output.result(format!(
            "{:<14} {:<10} {:<28} {:<8} {:<22} {}",
            j.name,
            j.job_id.map_or_else(dash, |i| i.to_string()),
            schedule,
            if j.paused { "yes" } else { "no" },
            last,
            j.next_run.clone().unwrap_or_else(dash)
        ));
    }
    Ok(())
}

fn run_job(session: &Session, name: &str, json: bool) -> Result<()> {
    let output = session.output.clone().with_json(json);
    let (job_id, run_id, ended) = crate::jobs::run(session, name, &output)?;
    let state = match &ended {
        Ended::Done(s) | Ended::TimedOut(s) | Ended::Interrupted(s) => Some(s.clone()),
        Ended::Lost { .. } => None,
    };
    let completed = matches!(ended, Ended::Done(_));
    let result = state.as_ref().map_or("UNKNOWN".into(), |s| s.outcome());
    show_run(&output, name, job_id, run_id, &result, state.as_ref());
    match state {
        Some(s) if completed && s.succeeded() => Ok(()),
        Some(s) => Err(Error::failed(format!(
            "run {run_id} of job `{name}` ended {}",
            s.outcome_and_message()
        ))),
        None => Err(Error::remote(format!(
            "lost track of run {run_id} of job `{name}`: the workspace stopped answering"
        ))),
    }
}

fn show_run(
    output: &Output,
    name: &str,
    job_id: u64,
    run_id: u64,
    result: &str,
    state: Option<&crate::databricks::jobs::RunState>,
) {
    if output.json() {
        output.result_json(&serde_json::json!({
            "job": name,
            "job_id": job_id,
            "databricks_run_id": run_id,
            "result": result,
            "run_page_url": state.map(|s| s.run_page_url.clone()),
        }));
    } else {
        output.result(format!("{:<18} {run_id}", "databricks_run_id"));
        output.result(format!("{:<18} {result}", "result"));
    }
}

fn remove(session: &Session, name: &str, dry_run: bool, json: bool) -> Result<()> {
    let output = session.output.clone().with_json(json);
    let report = crate::jobs::remove(session, name, dry_run, &output)?;
    if output.json() {
        output.result_json(&report);
    } else if report.jobs.is_empty() {
        output.result(format!(
            "job `{name}` is not deployed on branch `{}`",
            report.branch
        ));
    } else {
        for j in &report.jobs {
            let verb = if dry_run { "would delete" } else { "deleted" };
            output.result(format!(
                "{verb} job {} ({})",
                j.name,
                j.job_id.unwrap_or_default()
            ));
        }
    }
    Ok(())
}
