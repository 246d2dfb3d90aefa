//! The local MLflow store read directly, without starting Python: MLflow's SQLite file
//! opened read-only (a bundled SQLite), after checking its schema version (`alembic_version`)
//! against the migrations we know and the columns we read. The queries are those of MLflow's
//! `SqlAlchemyStore` (`mlflow/store/tracking/sqlalchemy_store.py`): `get_experiment_by_name`
//! (any lifecycle stage), and `search_runs` with `order_by=["attributes.start_time DESC"]`
//! over active runs (`_get_orderby_clauses`: runs without a start time last, then
//! `start_time DESC`, then `run_uuid`), a run's data being its tags, params and
//! `latest_metrics`. Nothing is ever written here: every write goes through MLflow.
//!
//! A store this does not know (another backend, a schema version from a newer MLflow) is
//! read with MLflow's own client instead (`local.rs`), and the caller says so.

use std::collections::BTreeMap;
use std::path::Path;

use rusqlite::{Connection, OpenFlags, OptionalExtension, params};

use super::{Listed, RunRow};

/// The revisions of MLflow's migrations (`mlflow/store/db_migrations/versions`) from the one
/// that made `latest_metrics` (89d4b8295536) to the head of MLflow 3.17.2 (dc11669786a5):
/// the schemas whose experiments, runs, tags, params and latest metrics read as below.
const KNOWN_REVISIONS: &[&str] = &[
    "dc11669786a5",
    "75868b020152",
    "b7e2c1a4d9f3",
    "17e22815139b",
    "1971f2d9a75b",
    "6f8d9c3b2a1e",
    "c3d9e7f1a2b4",
    "c1d2e3f4a5b6",
    "a8b9c0d1e2f3",
    "b7e4c1a90f23",
    "89d3d66ed43f",
    "da6fb0208061",
    "7d34483879f0",
    "ae8bbe7743c9",
    "a5b4c3d2e1f0",
    "c3d6457b6d8a",
    "76601a5f987d",
    "e1f2a3b4c5d6",
    "1b5f0d9ad7c1",
    "c8d9e0f1a2b3",
    "d0e1f2a3b4c5",
    "d3e4f5a6b7c8",
    "2c33131f4dae",
    "c9d4e5f6a7b8",
    "5d2d30f0abce",
    "b7c8d9e0f1a2",
    "1bd49d398cd23",
    "bf29a5ff90ea",
    "3da73c924c2f",
    "71994744cf8e",
    "534353b11cbc",
    "1a0cddfcaa16",
    "de4033877273",
    "a1b2c3d4e5f6",
    "770bee3ae1dd",
    "cbc13b556ace",
    "bda7b8c39065",
    "6953534de441",
    "400f98739977",
    "0584bdc529eb",
    "f5a4f2784254",
    "4465047574b1",
    "5b0e9adcef9c",
    "867495a8f9d4",
    "acf3f17fdcc7",
    "2d6e25af4d3e",
    "7f2a7d5fae7d",
    "3500859a5d39",
    "97727af70f4d",
    "cc1f77228345",
    "0c779009ac13",
    "bd07f7e963c5",
    "c48cb773bb87",
    "39d1c3be5f05",
    "a8c4a736bde6",
    "84291f40a231",
    "27a6a02d2cf1",
    "728d730b5ebd",
    "0a8213491aaa",
    "cfd24bdc0731",
    "2b4d017a5e9b",
    "89d4b8295536",
];

/// The columns read, by table.
const COLUMNS: &[(&str, &[&str])] = &[
    ("experiments", &["experiment_id", "name"]),
    (
        "runs",
        &[
            "run_uuid",
            "experiment_id",
            "status",
            "start_time",
            "lifecycle_stage",
        ],
    ),
    ("tags", &["run_uuid", "key", "value"]),
    ("params", &["run_uuid", "key", "value"]),
    ("latest_metrics", &["run_uuid", "key", "value", "is_nan"]),
];

/// The store's SQLite file, when it is ours to read: the local target's own store, unless
/// `MLFLOW_TRACKING_URI` names another or `MLOPS_READ_STORE_WITH_MLFLOW=1` asks for MLflow's
/// client (should this reader ever disagree with MLflow).
pub(crate) fn own_store(state_dir: &Path) -> Option<std::path::PathBuf> {
    let set = |k: &str| std::env::var(k).is_ok_and(|v| !v.is_empty());
    (!set("MLFLOW_TRACKING_URI") && !set("MLOPS_READ_STORE_WITH_MLFLOW"))
        .then(|| state_dir.join("mlflow.db"))
}

/// Why the store cannot be read here (then MLflow reads it).
#[derive(Debug)]
pub struct Unreadable(pub String);

fn columns(db: &Connection, table: &str) -> rusqlite::Result<Vec<String>> {
    let mut stmt = db.prepare(&format!("PRAGMA table_info({table})"))?;
    let names = stmt.query_map([], |row| row.get::<_, String>(1))?;
    names.collect()
}

/// Whether `table` has `column`.
pub(crate) fn has_column(db: &Connection, table: &str, column: &str) -> bool {
    columns(db, table).is_ok_and(|c| c.iter().any(|c| c == column))
}

/// Opens the store read-only, if its schema is one we know and it has the runs' columns and
/// `more` (the registry's, for its readers).
pub(crate) fn open(path: &Path, more: &[(&str, &[&str])]) -> Result<Connection, Unreadable> {
    let db = Connection::open_with_flags(
        path,
        OpenFlags::SQLITE_OPEN_READ_ONLY | OpenFlags::SQLITE_OPEN_NO_MUTEX,
    )
    .map_err(|e| Unreadable(format!("cannot open it read-only ({e})")))?;
    // A run being written (MLflow holds the write lock briefly) is waited for.
    let _ = db.busy_timeout(std::time::Duration::from_secs(5));
    let version: Option<String> = db
        .query_row("SELECT version_num FROM alembic_version", [], |r| r.get(0))
        .optional()
        .map_err(|e| Unreadable(format!("it has no MLflow schema version ({e})")))?;
    let version = version.unwrap_or_default();
    if !KNOWN_REVISIONS.contains(&version.as_str()) {
        return Err(Unreadable(format!(
            "its schema version {version} is not one this cargo-mlops knows (a newer MLflow?)"
        )));
    }
    for (table, wanted) in COLUMNS.iter().chain(more) {
        let have = columns(&db, table).map_err(|e| Unreadable(e.to_string()))?;
        if let Some(missing) = wanted.iter().find(|c| !have.iter().any(|h| h == *c)) {
            return Err(Unreadable(format!(
                "its table {table} has no column {missing}"
            )));
        }
    }
    Ok(db)
}

/// Pairs of `key, value` of one run from `table`.
fn pairs(db: &Connection, table: &str, run: &str) -> rusqlite::Result<BTreeMap<String, String>> {
    let mut stmt = db.prepare_cached(&format!(
        "SELECT key, value FROM {table} WHERE run_uuid = ?1"
    ))?;
    let rows = stmt.query_map([run], |r| {
        Ok((r.get::<_, String>(0)?, r.get::<_, Option<String>>(1)?))
    })?;
    rows.map(|r| r.map(|(k, v)| (k, v.unwrap_or_default())))
        .collect()
}

pub(crate) fn metrics(db: &Connection, run: &str) -> rusqlite::Result<BTreeMap<String, f64>> {
    let mut stmt =
        db.prepare_cached("SELECT key, value, is_nan FROM latest_metrics WHERE run_uuid = ?1")?;
    let rows = stmt.query_map([run], |r| {
        let nan: Option<bool> = r.get(2)?;
        let value: f64 = r.get(1)?;
        Ok((
            r.get::<_, String>(0)?,
            if nan == Some(true) { f64::NAN } else { value },
        ))
    })?;
    rows.collect()
}

/// The newest `limit` active runs of `experiment` (only those tagged `mlops.target = target`
/// when a target is given), as `search_runs.py` lists them with MLflow's client.
pub fn list(
    path: &Path,
    experiment: &str,
    limit: usize,
    target: Option<&str>,
) -> Result<Listed, Unreadable> {
    let empty = |experiment_id| Listed {
        experiment: experiment.to_string(),
        experiment_id,
        runs: Vec::new(),
    };
    if !path.is_file() {
        return Ok(empty(None));
    }
    let db = open(path, &[])?;
    let failed = |e: rusqlite::Error| Unreadable(e.to_string());
    // MLflow with workspaces keeps other workspaces' experiments in the same table.
    let workspaces = has_column(&db, "experiments", "workspace");
    let by_name = if workspaces {
        "SELECT experiment_id FROM experiments WHERE name = ?1 AND workspace = 'default'"
    } else {
        "SELECT experiment_id FROM experiments WHERE name = ?1"
    };
    let id: Option<i64> = db
        .query_row(by_name, [experiment], |r| r.get(0))
        .optional()
        .map_err(failed)?;
    let Some(id) = id else {
        return Ok(empty(None));
    };
    let mut stmt = db
        .prepare(
            "SELECT r.run_uuid, r.start_time, r.status FROM runs r
             WHERE r.experiment_id = ?1 AND r.lifecycle_stage = 'active'
               AND (?2 IS NULL OR EXISTS (SELECT 1 FROM tags t WHERE t.run_uuid = r.run_uuid
                                          AND t.key = 'mlops.target' AND t.value = ?2))
             ORDER BY (r.start_time IS NULL), r.start_time DESC, r.run_uuid
             LIMIT ?3",
        )
        .map_err(failed)?;
    let found = stmt
        .query_map(params![id, target, limit as i64], |r| {
            Ok((
                r.get::<_, String>(0)?,
                r.get::<_, Option<i64>>(1)?,
                r.get::<_, Option<String>>(2)?,
            ))
        })
        .map_err(failed)?
        .collect::<rusqlite::Result<Vec<_>>>()
        .map_err(failed)?;
    let mut runs = Vec::with_capacity(found.len());
    for (run_id, start, status) in found {
        let tags = pairs(&db, "tags", &run_id).map_err(failed)?;
        let params = pairs(&db, "params", &run_id).map_err(failed)?;
        let metrics = metrics(&db, &run_id).map_err(failed)?;
        runs.push(RunRow::new(
            run_id,
            start,
            status.unwrap_or_default(),
            &tags,
            params,
            metrics,
        ));
    }
    Ok(Listed {
        experiment: experiment.to_string(),
        experiment_id: Some(id.to_string()),
        runs,
    })
}
