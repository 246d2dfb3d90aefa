//! `cargo mlops run --entry E`: deploy, then run the entry point and follow it to the end,
//! exiting with its result. On a Databricks target that is a one-time job run.

use crate::cli::RunArgs;
use crate::error::Result;
use crate::output::Output;
use crate::run::{self, RunRequest};
use crate::session::Session;
use crate::support::records::RunReport;

pub fn run(session: &Session, args: &RunArgs) -> Result<()> {
    crate::support::interrupt::install();
    let output = session.output.clone().with_json(args.json);
    let request = RunRequest {
        entry: &args.entry,
        params: &args.params,
        no_wait: args.no_wait,
        timeout: run::timeout(args.timeout.as_deref())?,
        timeout_text: args.timeout.as_deref(),
        no_cache: args.no_cache,
    };
    let finished = run::run(session, &request, &output)?;
    let report = &finished.report;
    show(report, &output);
    if let Err(e) = crate::ci::publish_run(report, finished.log_tail.as_deref(), &output) {
        output.warn(format!("cannot write the CI outputs: {e}"));
    }
    // In a pull request build, how this run compares with the target branch's.
    if output.ci().is_some()
        && report.result != "SUBMITTED"
        && crate::history::compare::in_pull_request(&|k| std::env::var(k).ok())
    {
        let compared = crate::history::compare::compare(
            session,
            &crate::history::compare::Request {
                run: Some(&report.mlflow_run_id),
                entry: None,
                base: None,
            },
        )
        .and_then(|c| crate::ci::publish_summary(&crate::history::compare::markdown(&c), &output));
        if let Err(e) = compared {
            output.warn(format!("cannot compare the run with its base branch: {e}"));
        }
    }
    if let Some(failure) = finished.failure {
        return Err(failure);
    }
    match report.databricks_run_id {
        Some(id) if report.result == "SUBMITTED" => output.status(
            "Submitted",
            format!(
                "follow it with `{}`",
                session.suggest_for(&report.target, &format!("status {id}"))
            ),
        ),
        _ => output.status(
            "Finished",
            format!("run {} of `{}`", report.mlflow_run_id, args.entry),
        ),
    }
    Ok(())
}

/// The result on stdout: the same lines for every target, and those that apply.
fn show(report: &RunReport, output: &Output) {
    if output.json() {
        output.result_json(report);
        return;
    }
    let mut rows: Vec<(&str, String)> = vec![
        ("mlflow_run_id", report.mlflow_run_id.clone()),
        ("result", report.result.clone()),
        ("experiment", report.experiment.clone()),
    ];
    if let Some(url) = &report.mlflow_run_url {
        rows.push(("mlflow_run_url", url.clone()));
    }
    if let Some(id) = report.databricks_run_id {
        rows.push(("databricks_run_id", id.to_string()));
    }
    if let Some(url) = &report.run_page_url {
        rows.push(("run_page_url", url.clone()));
    }
    for (k, v) in &report.metrics {
        rows.push(("metric", format!("{k} = {v}")));
    }
    if let Some(ui) = &report.ui {
        rows.push(("see it with", ui.clone()));
    }
    for (k, v) in rows {
        output.result(format!("{k:<18} {v}"));
    }
}
