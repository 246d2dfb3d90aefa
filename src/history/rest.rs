//! An experiment's runs over MLflow's REST API (`runs/search`, newest first): a Databricks
//! workspace's, or an MLflow tracking server's (`MLFLOW_TRACKING_URI=http(s)://...`).

use std::collections::BTreeMap;

use serde_json::{Value, json};

use super::{Listed, RunRow};
use crate::databricks::Client;
use crate::databricks::mlflow::Mlflow;
use crate::error::Result;

/// The newest `limit` runs of the experiment named `experiment` matching `filter` (none when
/// the experiment does not exist).
pub fn list(
    client: &Client,
    experiment: &str,
    limit: usize,
    filter: Option<&str>,
) -> Result<Listed> {
    let found = (Mlflow { client }).experiment_by_name(experiment)?;
    let runs = match &found {
        Some(e) => search(client, &e.experiment_id, limit, filter)?,
        None => Vec::new(),
    };
    Ok(Listed {
        experiment: experiment.to_string(),
        experiment_id: found.map(|e| e.experiment_id),
        runs,
    })
}

/// The newest `limit` active runs of experiment `experiment_id` matching `filter`.
pub fn search(
    client: &Client,
    experiment_id: &str,
    limit: usize,
    filter: Option<&str>,
) -> Result<Vec<RunRow>> {
    // Page by page (`next_page_token`), as MLflow's own `search_runs` does, until `limit`
    // runs are read: one page holds at most 1000 (the REST API's `max_results` cap).
    let mut runs = Vec::new();
    let mut token: Option<String> = None;
    while runs.len() < limit {
        let mut body = json!({
            "experiment_ids": [experiment_id],
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
    Ok(runs)
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
