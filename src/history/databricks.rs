//! A Databricks experiment's runs, over the MLflow REST API (`runs/search`, newest first).

use super::Listed;
use crate::databricks::workspace::Workspace;
use crate::error::Result;
use crate::plan::Plan;
use crate::session::Session;

pub fn list(session: &Session, plan: &Plan, limit: usize, filter: Option<&str>) -> Result<Listed> {
    let client = session.client(plan)?;
    let mut experiment = plan.experiment.clone();
    if experiment.contains("{user}") {
        experiment = experiment.replace("{user}", &Workspace { client: &client }.me()?);
    }
    let mut listed = super::rest::list(&client, &experiment, limit, filter)?;
    // A run still RUNNING whose job has ended was never ended by its launcher (the task
    // failed before it started): end it now with the job's result, as `status` does.
    let jobs = crate::databricks::jobs::Jobs { client: &client };
    for run in listed
        .runs
        .iter_mut()
        .filter(|r| matches!(r.status.as_str(), "RUNNING" | "SCHEDULED"))
    {
        let Some(job_run) = run
            .tags
            .get("mlflow.databricks.shellJobRunID")
            .and_then(|id| id.parse::<u64>().ok())
        else {
            continue;
        };
        // A job run the workspace no longer knows (runs are kept 60 days) is left as it is.
        let Ok(state) = jobs.get(job_run) else {
            continue;
        };
        if let Some(status) = crate::run::remote::reconcile(&client, &state, &session.output)? {
            run.status = status.to_string();
        }
    }
    Ok(listed)
}
