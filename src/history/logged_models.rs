//! MLflow 3 logged models (`LoggedModel`, `models:/<model_id>`): the model a run logged under a
//! name, and its metrics (those logged with `model_id=`, or while it was the active model).
//! Gates and `must_beat` read these over the run's own. Read over MLflow's REST API
//! (`logged-models/search` and `logged-models/{model_id}`, `mlflow/protos/service.proto`),
//! from a Databricks workspace or a tracking server, or from the local store file itself
//! (the `logged_models` and `logged_model_metrics` tables of MLflow's SQL store,
//! `mlflow/store/tracking/dbmodels/models.py` `SqlLoggedModel`, `SqlLoggedModelMetric`). A
//! store of MLflow 2 has none.

use std::collections::BTreeMap;
use std::path::Path;

use rusqlite::OptionalExtension;
use serde::Serialize;
use serde_json::{Value, json};

use crate::databricks::Client;
use crate::error::Result;

/// A logged model and the latest value of each of its metrics.
#[derive(Clone, Debug, Serialize)]
pub struct LoggedModel {
    pub model_id: String,
    pub metrics: BTreeMap<String, f64>,
}

/// The logged model a version's source names (`models:/<model_id>`; not a registry URI
/// `models:/<name>/<version>`).
pub fn model_id_of_source(source: &str) -> Option<String> {
    let id = source.strip_prefix("models:/")?;
    (!id.is_empty() && !id.contains('/')).then(|| id.to_string())
}

/// Whether a REST error says only that the thing (or the API: an MLflow 2 server) is not there.
fn absent(e: &crate::databricks::ApiError) -> bool {
    e.is_not_found() || e.status == Some(404)
}

/// The logged model `model_id`, over REST.
pub fn rest_get(client: &Client, model_id: &str) -> Result<Option<LoggedModel>> {
    match client.get_json(&format!("/api/2.0/mlflow/logged-models/{model_id}"), &[]) {
        Ok(v) => Ok(Some(LoggedModel {
            model_id: model_id.to_string(),
            metrics: crate::databricks::mlflow::latest_metrics(&v["model"]["data"]["metrics"]),
        })),
        Err(e) if absent(&e) => Ok(None),
        Err(e) => Err(e.into()),
    }
}

/// The logged model run `run_id` (of experiment `experiment_id`, read from the run when not
/// given) logged as `name`, over REST.
pub fn rest_of_run(
    client: &Client,
    experiment_id: Option<&str>,
    run_id: &str,
    name: &str,
) -> Result<Option<LoggedModel>> {
    let experiment = match experiment_id {
        Some(e) => e.to_string(),
        None => match client.get_json("/api/2.0/mlflow/runs/get", &[("run_id", run_id)]) {
            Ok(v) => v["run"]["info"]["experiment_id"]
                .as_str()
                .unwrap_or_default()
                .to_string(),
            Err(e) if absent(&e) => return Ok(None),
            Err(e) => return Err(e.into()),
        },
    };
    let body = json!({
        "experiment_ids": [experiment],
        "filter": format!("source_run_id = '{run_id}'"),
        "max_results": 100,
    });
    let found: Value = match client.post_json("/api/2.0/mlflow/logged-models/search", body, true) {
        Ok(v) => v,
        Err(e) if absent(&e) => return Ok(None),
        Err(e) => return Err(e.into()),
    };
    let id = found["models"]
        .as_array()
        .into_iter()
        .flatten()
        .find(|m| m["info"]["name"] == name)
        .and_then(|m| m["info"]["model_id"].as_str());
    match id {
        Some(id) => rest_get(client, id),
        None => Ok(None),
    }
}

/// Whether the store has MLflow 3's logged model tables.
fn has_tables(db: &rusqlite::Connection) -> bool {
    crate::history::sqlite_store::has_column(db, "logged_models", "source_run_id")
        && crate::history::sqlite_store::has_column(db, "logged_model_metrics", "metric_value")
}

/// The latest value of each metric of `model_id` in the store.
pub fn sqlite_metrics(
    db: &rusqlite::Connection,
    model_id: &str,
) -> rusqlite::Result<BTreeMap<String, f64>> {
    if !has_tables(db) {
        return Ok(BTreeMap::new());
    }
    let mut stmt = db.prepare_cached(
        "SELECT metric_name, metric_value FROM logged_model_metrics WHERE model_id = ?1 \
         ORDER BY metric_step, metric_timestamp_ms",
    )?;
    let rows = stmt.query_map([model_id], |r| {
        Ok((r.get::<_, String>(0)?, r.get::<_, Option<f64>>(1)?))
    })?;
    let mut out = BTreeMap::new();
    for row in rows {
        let (k, v) = row?;
        out.insert(k, v.unwrap_or(f64::NAN));
    }
    Ok(out)
}

/// The logged model run `run_id` logged as `name`, from the store file at `path`.
pub fn sqlite_of_run(path: &Path, run_id: &str, name: &str) -> Result<Option<LoggedModel>> {
    let read = || -> rusqlite::Result<Option<LoggedModel>> {
        let db = rusqlite::Connection::open_with_flags(
            path,
            rusqlite::OpenFlags::SQLITE_OPEN_READ_ONLY,
        )?;
        if !has_tables(&db) {
            return Ok(None);
        }
        let id: Option<String> = db
            .query_row(
                "SELECT model_id FROM logged_models WHERE source_run_id = ?1 AND name = ?2 \
                 AND lifecycle_stage = 'active' ORDER BY creation_timestamp_ms DESC LIMIT 1",
                [run_id, name],
                |r| r.get(0),
            )
            .optional()?;
        let Some(id) = id else {
            return Ok(None);
        };
        Ok(Some(LoggedModel {
            metrics: sqlite_metrics(&db, &id)?,
            model_id: id,
        }))
    };
    read().map_err(|e| {
        crate::error::Error::failed(format!(
            "cannot read the logged models of run {run_id} in {}: {e}",
            path.display()
        ))
    })
}
