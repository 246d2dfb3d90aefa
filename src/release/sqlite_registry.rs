//! The local store's model registry read directly (read-only, as `history/sqlite_store.rs`
//! reads its runs), so that `release` with nothing to register, `release --dry-run` and the
//! lookups of `promote` start no Python. The queries are those of MLflow's registry
//! `SqlAlchemyStore` (`mlflow/store/model_registry/sqlalchemy_store.py`): versions that are not
//! `Deleted_Internal`, in `search_model_versions`' default order (`last_updated_timestamp DESC,
//! name ASC, version_number DESC`), and an alias through `registered_model_aliases`. Every
//! change (a registration, an alias moved) still goes through MLflow's client.

use std::collections::BTreeMap;
use std::path::Path;

use rusqlite::{Connection, OptionalExtension, params};

use super::registry::Version;
use crate::error::Result;
use crate::history::logged_models;
use crate::history::sqlite_store::{self, Unreadable};

/// The registry's columns read here, by table (checked with the schema version).
const COLUMNS: &[(&str, &[&str])] = &[
    (
        "model_versions",
        &[
            "name",
            "version",
            "run_id",
            "status",
            "current_stage",
            "last_updated_time",
        ],
    ),
    ("registered_model_aliases", &["name", "alias", "version"]),
    ("model_version_tags", &["name", "version", "key", "value"]),
];

/// The store, open read-only; `None` when there is no store file yet (nothing registered).
fn open(path: &Path) -> Result<Option<(Connection, &'static str)>, Unreadable> {
    if !path.is_file() {
        return Ok(None);
    }
    let db = sqlite_store::open(path, COLUMNS)?;
    // MLflow with workspaces keeps other workspaces' models in the same tables.
    let scope = if sqlite_store::has_column(&db, "model_versions", "workspace") {
        " AND workspace = 'default'"
    } else {
        ""
    };
    Ok(Some((db, scope)))
}

fn described(
    db: &Connection,
    scope: &str,
    model: &str,
    version: i64,
    run_id: Option<String>,
) -> rusqlite::Result<Version> {
    let mut stmt = db.prepare(&format!(
        "SELECT key, value FROM model_version_tags WHERE name = ?1 AND version = ?2{scope}"
    ))?;
    let tags = stmt
        .query_map(params![model, version], |r| {
            Ok((
                r.get::<_, String>(0)?,
                r.get::<_, Option<String>>(1)?.unwrap_or_default(),
            ))
        })?
        .collect::<rusqlite::Result<BTreeMap<_, _>>>()?;
    let mut metrics = match &run_id {
        Some(run) => sqlite_store::metrics(db, run)?,
        None => BTreeMap::new(),
    };
    let source: Option<String> = db.query_row(
        &format!("SELECT source FROM model_versions WHERE name = ?1 AND version = ?2{scope}"),
        params![model, version],
        |r| r.get(0),
    )?;
    let model_id = source
        .as_deref()
        .and_then(logged_models::model_id_of_source);
    if let Some(id) = &model_id {
        metrics.extend(logged_models::sqlite_metrics(db, id)?);
    }
    Ok(Version {
        model: model.to_string(),
        version: version.to_string(),
        run_id,
        model_id,
        metrics,
        tags,
        registered: false,
    })
}

/// The READY version of `model` registered from `run_id`, as the launcher's `of_run` finds it.
pub fn version_of_run(
    path: &Path,
    model: &str,
    run_id: &str,
) -> Result<Option<Version>, Unreadable> {
    let Some((db, scope)) = open(path)? else {
        return Ok(None);
    };
    let failed = |e: rusqlite::Error| Unreadable(e.to_string());
    let found: Option<i64> = db
        .query_row(
            &format!(
                "SELECT version FROM model_versions
                 WHERE name = ?1 AND run_id = ?2 AND current_stage != 'Deleted_Internal'
                   AND (status IS NULL OR status = 'READY'){scope}
                 ORDER BY last_updated_time DESC, name ASC, version DESC LIMIT 1"
            ),
            params![model, run_id],
            |r| r.get(0),
        )
        .optional()
        .map_err(failed)?;
    found
        .map(|v| described(&db, scope, model, v, Some(run_id.to_string())))
        .transpose()
        .map_err(failed)
}

/// The version `alias` of `model` points at, if any.
pub fn alias(path: &Path, model: &str, alias: &str) -> Result<Option<Version>, Unreadable> {
    let Some((db, scope)) = open(path)? else {
        return Ok(None);
    };
    let failed = |e: rusqlite::Error| Unreadable(e.to_string());
    let aliased: Option<i64> = db
        .query_row(
            &format!(
                "SELECT version FROM registered_model_aliases WHERE name = ?1 AND alias = ?2{scope}"
            ),
            params![model, alias],
            |r| r.get(0),
        )
        .optional()
        .map_err(failed)?;
    let Some(version) = aliased else {
        return Ok(None);
    };
    get_in(&db, scope, model, version).map_err(failed)
}

fn get_in(
    db: &Connection,
    scope: &str,
    model: &str,
    version: i64,
) -> rusqlite::Result<Option<Version>> {
    let run: Option<Option<String>> = db
        .query_row(
            &format!(
                "SELECT run_id FROM model_versions
                 WHERE name = ?1 AND version = ?2 AND current_stage != 'Deleted_Internal'{scope}"
            ),
            params![model, version],
            |r| r.get(0),
        )
        .optional()?;
    run.map(|run_id| described(db, scope, model, version, run_id.filter(|r| !r.is_empty())))
        .transpose()
}

/// Version `version` of `model`, if it exists.
pub fn get(path: &Path, model: &str, version: &str) -> Result<Option<Version>, Unreadable> {
    let Some((db, scope)) = open(path)? else {
        return Ok(None);
    };
    let Ok(n) = version.parse::<i64>() else {
        return Ok(None);
    };
    get_in(&db, scope, model, n).map_err(|e| Unreadable(e.to_string()))
}
