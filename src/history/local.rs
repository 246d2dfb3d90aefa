//! The local store's runs: our own SQLite file read directly (`sqlite_store.rs`, no Python),
//! a tracking server named by `MLFLOW_TRACKING_URI` over its REST API (`tracking_server.rs`),
//! else with MLflow's own client (another store, a schema we do not know, a server setting
//! only MLflow honours, or `MLOPS_READ_STORE_WITH_MLFLOW=1`), in the interpreter of the most
//! recently used local run environment, which has MLflow.

use std::collections::BTreeMap;

use serde::Deserialize;

use super::{Listed, RunRow};
use crate::error::{Error, Result};
use crate::session::Prepared;
use crate::support::process::Cmd;

const SEARCH: &str = include_str!("../../templates/search_runs.py");

#[derive(Deserialize)]
struct Answer {
    experiment_id: Option<String>,
    runs: Vec<Found>,
}

#[derive(Deserialize)]
struct Found {
    run_id: String,
    start_time: Option<i64>,
    status: String,
    tags: BTreeMap<String, String>,
    params: BTreeMap<String, String>,
    metrics: BTreeMap<String, f64>,
}

/// `target`: only the runs tagged with it.
pub fn list(
    prepared: &Prepared,
    limit: usize,
    target: Option<&str>,
    output: &crate::output::Output,
) -> Result<Listed> {
    let state_dir = prepared.manifest.state_dir();
    let experiment = prepared.plan.experiment.clone();
    if let Some(db) = super::sqlite_store::own_store(&state_dir) {
        match super::sqlite_store::list(&db, &experiment, limit, target) {
            Ok(listed) => return Ok(listed),
            Err(super::sqlite_store::Unreadable(why)) => {
                output.note(format!("reading {} with MLflow: {why}", db.display()))
            }
        }
    }
    let uri = crate::run::local::tracking_uri(&state_dir);
    if let Some(server) = super::tracking_server::client(&uri) {
        let filter = target.map(super::mlflow_filter);
        match super::rest::list(&server, &experiment, limit, filter.as_deref()) {
            Ok(listed) => return Ok(listed),
            Err(e) => output.note(format!("reading {uri} with MLflow: {e}")),
        }
    }
    let Some(python) = crate::environment::newest_python(&state_dir) else {
        // No environment: no local run was ever made here.
        return Ok(Listed {
            experiment,
            experiment_id: None,
            runs: Vec::new(),
        });
    };
    let out = Cmd::new(&python)
        .args([
            "-c",
            SEARCH,
            &uri,
            &experiment,
            &limit.to_string(),
            &target.map(super::mlflow_filter).unwrap_or_default(),
        ])
        .env("MLFLOW_TRACKING_URI", &uri)
        .output()
        .map_err(|e| Error::failed(format!("cannot read the runs in {uri}: {e}")))?;
    let answer: Answer = serde_json::from_str(out.stdout.trim()).map_err(|e| {
        Error::failed(format!(
            "cannot read the runs in {uri}: MLflow's answer was not understood ({e})"
        ))
    })?;
    Ok(Listed {
        experiment,
        experiment_id: answer.experiment_id,
        runs: answer
            .runs
            .into_iter()
            .map(|r| {
                RunRow::new(
                    r.run_id,
                    r.start_time,
                    r.status,
                    &r.tags,
                    r.params,
                    r.metrics,
                )
            })
            .collect(),
    })
}
