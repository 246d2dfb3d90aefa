//! A Databricks experiment's runs, over the MLflow REST API (`runs/search`, newest first).

use std::collections::BTreeMap;

use serde_json::{Value, json};

use super::{Listed, RunRow};
use crate::databricks::mlflow::Mlflow;
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
    let mlflow = Mlflow { client: &client };
    let Some(found) = mlflow.experiment_by_name(&experiment)? else {
        return Ok(Listed {
            experiment,
            experiment_id: None,
            runs: Vec::new(),
        });
    };
    // Page by page (`next_page_token`), as MLflow's own `search_runs` does, until `limit`
    // runs are read: one page holds at most 1000 (the REST API's `max_results` cap).
    let mut runs = Vec::new();
    let mut token: Option<String> = None;
    while runs.len() < limit {
        let mut body = json!({
            "experiment_ids": [found.experiment_id],
            "order_by": ["attributes.start_time DESC"],
            "max_results": (limit - runs.len()).min(1000),
        });
        if let Some(f) = filter {
            body["filter"] = json!(f);
        }
        if let Some(t) = &token {
            body["page_token"] = json!(t);
        }
        let answer: Value = client.post_as("/api/2.0/mlflow/runs/search", body, true)?;
        runs.extend(answer["runs"].as_array().into_iter().flatten().map(row));
        token = answer["next_page_token"]
            .as_str()
            .filter(|t| !t.is_empty())
            .map(str::to_string);
        if token.is_none() {
            break;
        }
    }
    // A run still RUNNING whose job has ended was never ended by its launcher (the task
    // failed before it started): end it now with the job's result, as `status` does.
    let jobs = crate::databricks::jobs::Jobs { client: &client };
    for run in runs
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
        if let Some(status) = crate::remote::reconcile(&client, &state, &session.output)? {
            run.status = status.to_string();
        }
    }
    Ok(Listed {
        experiment,
        experiment_id: Some(found.experiment_id),
        runs,
    })
}

/// A run as the REST API answers it (`info`, and `data` with key/value lists).
fn row(run: &Value) -> RunRow {
    let pairs = |kind: &str| -> BTreeMap<String, String> {
        run["data"][kind]
            .as_array()
            .into_iter()
            .flatten()
            .filter_map(|p| {
                Some((
                    p["key"].as_str()?.to_string(),
                    p["value"].as_str()?.to_string(),
                ))
            })
            .collect()
    };
    RunRow::new(
        run["info"]["run_id"]
            .as_str()
            .unwrap_or_default()
            .to_string(),
        // MLflow answers int64 fields as numbers, protobuf's JSON as strings; a run may
        // have none (`RunInfo.start_time` is optional in MLflow's service.proto).
        run["info"]["start_time"]
            .as_i64()
            .or_else(|| run["info"]["start_time"].as_str()?.parse().ok()),
        run["info"]["status"]
            .as_str()
            .unwrap_or_default()
            .to_string(),
        &pairs("tags"),
        pairs("params"),
        crate::databricks::mlflow::latest_metrics(&run["data"]["metrics"]),
    )
}
