//! A gone branch's experiments in the local target's store, for `gc`: found by the tags the
//! launcher sets when it makes or first uses an experiment (`mlops.project`, `mlops.branch`),
//! read from our own SQLite store without Python (read-only, as `history/sqlite_store.rs`
//! reads runs), else with MLflow's client; moved to MLflow's trash only through MLflow's
//! client (`delete_experiment`), never by writing the store. An experiment holding a run a
//! model version was registered from is kept.

use std::collections::BTreeSet;
use std::path::Path;

use rusqlite::params;
use serde_json::json;

use super::workspace::{Gone, PlannedExperiment, sort_gone};
use crate::error::{Error, Result};
use crate::history::sqlite_store::{self, Unreadable};
use crate::release::registry::Local;
use crate::run::tags::{EXPERIMENT_BRANCH_TAG, EXPERIMENT_PROJECT_TAG};

/// The columns read here, by table (checked with the schema version).
const COLUMNS: &[(&str, &[&str])] = &[
    ("experiments", &["experiment_id", "name", "lifecycle_stage"]),
    ("experiment_tags", &["experiment_id", "key", "value"]),
    ("model_versions", &["run_id", "current_stage"]),
    (
        "runs",
        &["run_uuid", "experiment_id", "status", "lifecycle_stage"],
    ),
];

/// A run of the experiment still in flight (status `RUNNING`), from the store file.
fn in_flight(db: &rusqlite::Connection, experiment_id: &str) -> Option<String> {
    db.query_row(
        "SELECT run_uuid FROM runs WHERE CAST(experiment_id AS TEXT) = ?1
         AND status = 'RUNNING' AND lifecycle_stage = 'active' LIMIT 1",
        params![experiment_id],
        |r| r.get::<_, String>(0),
    )
    .ok()
}

/// What the plan says about the store's experiments of gone branches.
#[derive(Debug, Default)]
pub struct Planned {
    pub trash: Vec<PlannedExperiment>,
    pub kept: Vec<PlannedExperiment>,
}

fn sorted(found: Vec<Gone>) -> Planned {
    let (trash, kept) = sort_gone(found);
    Planned { trash, kept }
}

/// `(id, name, branch slug, holds a registered run)` of the project's active experiments
/// of gone branches, from the store file.
fn from_file(
    path: &Path,
    project: &str,
    live: &BTreeSet<String>,
) -> std::result::Result<Vec<Gone>, Unreadable> {
    if !path.is_file() {
        return Ok(Vec::new());
    }
    let db = sqlite_store::open(path, COLUMNS)?;
    let scope = if sqlite_store::has_column(&db, "experiments", "workspace") {
        " AND e.workspace = 'default'"
    } else {
        ""
    };
    let failed = |e: rusqlite::Error| Unreadable(e.to_string());
    let held: BTreeSet<String> = {
        let mut stmt = db
            .prepare(
                "SELECT DISTINCT CAST(r.experiment_id AS TEXT) FROM model_versions mv
                 JOIN runs r ON r.run_uuid = mv.run_id
                 WHERE mv.current_stage != 'Deleted_Internal'",
            )
            .map_err(failed)?;
        stmt.query_map([], |r| r.get::<_, String>(0))
            .map_err(failed)?
            .collect::<rusqlite::Result<_>>()
            .map_err(failed)?
    };
    let mut stmt = db
        .prepare(&format!(
            "SELECT CAST(e.experiment_id AS TEXT), e.name, b.value FROM experiments e
             JOIN experiment_tags p ON p.experiment_id = e.experiment_id
                  AND p.key = ?1 AND p.value = ?2
             JOIN experiment_tags b ON b.experiment_id = e.experiment_id AND b.key = ?3
             WHERE e.lifecycle_stage = 'active'{scope}
             ORDER BY e.experiment_id"
        ))
        .map_err(failed)?;
    let rows = stmt
        .query_map(
            params![EXPERIMENT_PROJECT_TAG, project, EXPERIMENT_BRANCH_TAG],
            |r| {
                Ok((
                    r.get::<_, String>(0)?,
                    r.get::<_, String>(1)?,
                    r.get::<_, String>(2)?,
                ))
            },
        )
        .map_err(failed)?
        .collect::<rusqlite::Result<Vec<_>>>()
        .map_err(failed)?;
    Ok(rows
        .into_iter()
        .filter(|(_, _, slug)| !live.contains(slug))
        .map(|(experiment_id, name, branch_slug)| Gone {
            held: held.contains(&experiment_id),
            in_flight: in_flight(&db, &experiment_id),
            experiment_id,
            name,
            branch_slug,
        })
        .collect())
}

/// Plans: the store file when it is ours and readable, else MLflow's client (the launcher's
/// registry mode, `branch_experiments`); nothing when no local run was ever made.
pub fn plan(
    state_dir: &Path,
    registry: &Local,
    project: &str,
    live: &BTreeSet<String>,
) -> Result<Planned> {
    if let Some(db) = sqlite_store::own_store(state_dir) {
        if let Ok(found) = from_file(&db, project, live) {
            return Ok(sorted(found));
        }
    }
    if registry.python.is_none() {
        return Ok(Planned::default());
    }
    let answer = registry.call(json!({
        "op": "branch_experiments",
        "project": project,
        "live_slugs": live,
    }))?;
    #[derive(serde::Deserialize)]
    struct Found {
        experiments: Vec<Listed>,
    }
    #[derive(serde::Deserialize)]
    struct Listed {
        experiment_id: String,
        name: String,
        branch_slug: String,
        held: bool,
        #[serde(default)]
        in_flight: Option<String>,
    }
    let found: Found = serde_json::from_value(answer).map_err(|e| {
        crate::error::Error::failed(format!(
            "MLflow's answer about the gone branches' experiments was not understood: {e}"
        ))
    })?;
    Ok(sorted(
        found
            .experiments
            .into_iter()
            .map(|e| Gone {
                experiment_id: e.experiment_id,
                name: e.name,
                branch_slug: e.branch_slug,
                held: e.held,
                in_flight: e.in_flight,
            })
            .collect(),
    ))
}

/// Moves the planned experiments to MLflow's trash, with one MLflow client.
pub fn execute(registry: &Local, planned: &Planned) -> Result<Vec<String>> {
    if planned.trash.is_empty() {
        return Ok(Vec::new());
    }
    let ids: Vec<&str> = planned
        .trash
        .iter()
        .map(|e| e.experiment_id.as_str())
        .collect();
    registry
        .call(json!({ "op": "delete_experiments", "ids": ids }))
        .map_err(|e| {
            Error::failed(format!(
                "cannot move the experiments to MLflow's trash: {e}"
            ))
        })?;
    Ok(ids.iter().map(|id| format!("experiment {id}")).collect())
}
