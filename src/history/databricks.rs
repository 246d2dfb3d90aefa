//! A Databricks experiment's runs, over the MLflow REST API (`runs/search`, newest first).

use std::collections::BTreeMap;

use serde_json::{Value, json};

use super::{Listed, RunRow};
use crate::databricks::mlflow::Mlflow;
use crate::databricks::workspace::Workspace;
use crate::error::Result;
use crate::plan::Plan;
use crate::session::Session;

pub fn list(session: &Session, plan: &Plan, limit: usize) -> Result<Listed> {
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
    let answer: Value = client.post_as(
        "/api/2.0/mlflow/runs/search",
        json!({
            "experiment_ids": [found.experiment_id],
            "order_by": ["attributes.start_time DESC"],
            "max_results": limit.min(1000),
        }),
        true,
    )?;
    let runs = answer["runs"]
        .as_array()
        .into_iter()
        .flatten()
        .map(row)
        .collect();
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
        run["info"]["start_time"].as_i64().unwrap_or(0),
        run["info"]["status"]
            .as_str()
            .unwrap_or_default()
            .to_string(),
        &pairs("tags"),
        pairs("params"),
        crate::databricks::mlflow::latest_metrics(&run["data"]["metrics"]),
    )
}
