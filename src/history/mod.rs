//! The runs of a branch's experiment, read back from the tracking store: for `runs` (a list
//! with the parameters that vary and the metrics) and `compare` (a branch's latest finished
//! run beside its base's). Databricks is asked over the MLflow REST API; the local store is
//! read from its SQLite file (or through MLflow's own client when it cannot be).

pub mod compare;
mod databricks;
mod local;
pub mod logged_models;
mod rest;
pub(crate) mod sqlite_store;
pub mod table;
pub(crate) mod tracking_server;

use std::collections::BTreeMap;

use serde::Serialize;

use crate::error::Result;
use crate::manifest::TargetKind;
use crate::plan::Plan;
use crate::session::{Prepared, Session};

/// One MLflow run, as `runs` and `compare` show it.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct RunRow {
    pub run_id: String,
    /// Start time, milliseconds since the epoch (`None`: MLflow has none for it).
    pub start_ms: Option<i64>,
    pub status: String,
    pub entry: Option<String>,
    pub commit: Option<String>,
    /// The target that made it (the `mlops.target` tag).
    pub target: Option<String>,
    pub params: BTreeMap<String, String>,
    pub metrics: BTreeMap<String, f64>,
    /// Every tag (provenance for a release); not shown.
    #[serde(skip)]
    pub tags: BTreeMap<String, String>,
}

impl RunRow {
    /// Whether a run stands on its own: not a nested child of another run (MLflow tags those
    /// `mlflow.parentRunId`: `start_run(nested=True)`, or an `mlflow.projects.run` made
    /// inside a run).
    pub fn is_top_level(&self) -> bool {
        !self.tags.contains_key("mlflow.parentRunId")
    }

    /// A run from its tags, parameters and metrics.
    pub fn new(
        run_id: String,
        start_ms: Option<i64>,
        status: String,
        tags: &BTreeMap<String, String>,
        params: BTreeMap<String, String>,
        metrics: BTreeMap<String, f64>,
    ) -> RunRow {
        RunRow {
            run_id,
            start_ms,
            status,
            entry: tags.get("mlflow.project.entryPoint").cloned(),
            commit: tags.get("mlflow.source.git.commit").cloned(),
            target: tags.get("mlops.target").cloned(),
            params,
            metrics,
            tags: tags.clone(),
        }
    }
}

/// An experiment's runs, newest first.
#[derive(Clone, Debug, Serialize)]
pub struct Listed {
    pub experiment: String,
    pub experiment_id: Option<String>,
    pub runs: Vec<RunRow>,
}

/// Which of an experiment's runs to list.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Targets {
    /// Only the plan's target's, when other targets share its experiment.
    This,
    /// Every run in the experiment.
    All,
}

/// The target whose runs alone are listed: the plan's, when its experiment is shared with
/// other targets (runs are tagged `mlops.target` when they are created).
fn only_target(plan: &Plan, targets: Targets) -> Option<&str> {
    (targets == Targets::This && !plan.experiment_shared_with.is_empty())
        .then_some(plan.target.as_str())
}

/// The MLflow search filter that keeps `target`'s runs.
fn mlflow_filter(target: &str) -> String {
    format!(
        "tags.`mlops.target` = '{}'",
        target.replace('\\', "\\\\").replace('\'', "\\'")
    )
}

/// The newest `limit` runs of `plan`'s experiment on its target.
pub fn list(
    session: &Session,
    prepared: &Prepared,
    limit: usize,
    targets: Targets,
) -> Result<Listed> {
    let plan: &Plan = &prepared.plan;
    let target = only_target(plan, targets);
    let mut listed = match plan.target_kind {
        TargetKind::Databricks => {
            let filter = target.map(mlflow_filter);
            databricks::list(session, plan, limit, filter.as_deref())?
        }
        TargetKind::Local => local::list(prepared, limit, target, &session.output)?,
    };
    listed.runs.sort_by_key(|r| std::cmp::Reverse(r.start_ms));
    listed.runs.truncate(limit);
    Ok(listed)
}

/// The newest finished run of `entry` among `runs`.
pub fn latest_finished<'a>(runs: &'a [RunRow], entry: &str) -> Option<&'a RunRow> {
    runs.iter()
        .find(|r| r.status == "FINISHED" && r.is_top_level() && r.entry.as_deref() == Some(entry))
}
