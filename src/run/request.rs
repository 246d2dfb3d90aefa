//! What a run is asked to do, and how it ended.

use std::time::Duration;

use crate::error::Error;
use crate::manifest::TargetKind;
use crate::plan::Plan;
use crate::support::records::RunReport;

/// What to run, and how.
#[derive(Clone, Debug)]
pub struct RunRequest<'a> {
    pub entry: &'a str,
    pub params: &'a [String],
    pub no_wait: bool,
    /// `--timeout`, parsed, and as written (for messages).
    pub timeout: Option<Duration>,
    pub timeout_text: Option<&'a str>,
    pub no_cache: bool,
}

/// A run's report, why it failed (shown after the report), and the last lines of its
/// output when it failed (for CI summaries).
pub struct Finished {
    pub report: RunReport,
    pub failure: Option<Error>,
    pub log_tail: Option<String>,
}

/// The report of a run of `plan`'s entry point, before it has a result.
pub fn report(plan: &Plan, mlflow_run_id: &str, tracking_uri: &str) -> RunReport {
    RunReport {
        target: plan.target.clone(),
        target_kind: match plan.target_kind {
            TargetKind::Local => "local",
            TargetKind::Databricks => "databricks",
        }
        .into(),
        entry: plan.entry.clone().unwrap_or_default(),
        branch: plan.branch.clone(),
        commit: plan.commit.clone(),
        dirty: !plan.dirty.is_empty(),
        experiment: plan.experiment.clone(),
        experiment_id: None,
        mlflow_run_id: mlflow_run_id.to_string(),
        mlflow_run_url: None,
        tracking_uri: tracking_uri.to_string(),
        status: "RUNNING".into(),
        result: "SUBMITTED".into(),
        params: plan.parameters.clone(),
        metrics: Default::default(),
        databricks_run_id: None,
        run_page_url: None,
        environment: None,
        ui: None,
        error: None,
    }
}
