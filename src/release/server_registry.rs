//! A tracking server's model registry read over MLflow's REST API (the workspace registry's
//! `model-versions/search`, `model-versions/get` and `registered-models/alias`), answering as
//! the launcher's registry mode does with MLflow's client (`templates/launcher.py`
//! `registry`: `of_run`, `described`). Every change still goes through MLflow's client.

use std::collections::BTreeMap;

use serde_json::Value;

use super::registry::Version;
use crate::databricks::Client;
use crate::databricks::error::ApiError;
use crate::databricks::mlflow::Mlflow;
use crate::history::logged_models;
use crate::history::sqlite_store::Unreadable;

fn unreadable(e: ApiError) -> Unreadable {
    Unreadable(e.to_string())
}

/// A version as the REST API answers it, with its run's latest metrics (none when the run
/// is gone).
fn described(client: &Client, model: &str, v: &Value) -> Result<Version, Unreadable> {
    let run_id = v["run_id"]
        .as_str()
        .filter(|r| !r.is_empty())
        .map(str::to_string);
    let mut metrics = match &run_id {
        Some(run) => match (Mlflow { client }).metrics(run) {
            Ok(m) => m,
            Err(e) if e.is_not_found() => BTreeMap::new(),
            Err(e) => return Err(unreadable(e)),
        },
        None => BTreeMap::new(),
    };
    let model_id = v["model_id"]
        .as_str()
        .filter(|m| !m.is_empty())
        .map(str::to_string)
        .or_else(|| {
            v["source"]
                .as_str()
                .and_then(logged_models::model_id_of_source)
        });
    if let Some(id) = &model_id {
        let logged = logged_models::rest_get(client, id).map_err(|e| Unreadable(e.to_string()))?;
        metrics.extend(logged.map(|m| m.metrics).unwrap_or_default());
    }
    let tags = v["tags"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|t| {
            Some((
                t["key"].as_str()?.to_string(),
                t["value"].as_str().unwrap_or_default().to_string(),
            ))
        })
        .collect();
    Ok(Version {
        model: model.to_string(),
        version: match &v["version"] {
            Value::String(s) => s.clone(),
            other => other.to_string(),
        },
        run_id,
        model_id,
        metrics,
        tags,
        registered: false,
    })
}

/// One `model_version` answer, `None` when MLflow says it does not exist: a missing model or
/// version is `RESOURCE_DOES_NOT_EXIST`, a missing alias `INVALID_PARAMETER_VALUE`
/// (`mlflow/store/model_registry/sqlalchemy_store.py` `get_model_version_by_alias`); the
/// launcher takes only these as nothing found (`templates/launcher.py` `missing`).
fn one(
    client: &Client,
    model: &str,
    path: &str,
    query: &[(&str, &str)],
) -> Result<Option<Version>, Unreadable> {
    match client.get_json(path, query) {
        Ok(answer) => described(client, model, &answer["model_version"]).map(Some),
        Err(e) if e.is_not_found() || e.is("INVALID_PARAMETER_VALUE") => Ok(None),
        Err(e) => Err(unreadable(e)),
    }
}

/// The READY version of `model` registered from `run_id`: `search_model_versions` page by
/// page in its default order, the first match (as `of_run` does).
pub fn version_of_run(
    client: &Client,
    model: &str,
    run_id: &str,
) -> Result<Option<Version>, Unreadable> {
    let filter = format!("name='{}'", model.replace('\'', "\\'"));
    let mut token = String::new();
    loop {
        let mut query = vec![("filter", filter.as_str()), ("max_results", "1000")];
        if !token.is_empty() {
            query.push(("page_token", token.as_str()));
        }
        let answer = match client.get_json("/api/2.0/mlflow/model-versions/search", &query) {
            Ok(a) => a,
            Err(e) if e.is_not_found() => return Ok(None),
            Err(e) => return Err(unreadable(e)),
        };
        for v in answer["model_versions"].as_array().into_iter().flatten() {
            let ready = v["status"].as_str().is_none_or(|s| s == "READY");
            if v["run_id"].as_str() == Some(run_id) && ready {
                return described(client, model, v).map(Some);
            }
        }
        match answer["next_page_token"].as_str() {
            Some(t) if !t.is_empty() => token = t.to_string(),
            _ => return Ok(None),
        }
    }
}

/// The version `alias` of `model` points at, if any.
pub fn alias(client: &Client, model: &str, alias: &str) -> Result<Option<Version>, Unreadable> {
    one(
        client,
        model,
        "/api/2.0/mlflow/registered-models/alias",
        &[("name", model), ("alias", alias)],
    )
}

/// Version `version` of `model`, if it exists.
pub fn get(client: &Client, model: &str, version: &str) -> Result<Option<Version>, Unreadable> {
    // Not a number: no such version (as the store file read finds none).
    if version.parse::<u64>().is_err() {
        return Ok(None);
    }
    one(
        client,
        model,
        "/api/2.0/mlflow/model-versions/get",
        &[("name", model), ("version", version)],
    )
}
