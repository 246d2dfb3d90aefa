//! What a run is asked to do, and how it ended.

use std::path::PathBuf;
use std::time::Duration;

use serde::Serialize;

use crate::error::Error;
use crate::records::RunReport;

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

/// A Databricks run's report, and why it failed (shown after the report).
pub struct Finished {
    pub report: RunReport,
    pub failure: Option<Error>,
}

/// How a run ended, per kind of target.
pub enum Outcome {
    Local(LocalRun),
    Databricks(Finished),
}

/// The outcome of a local run, read back from the tracking store.
#[derive(Clone, Debug, Serialize)]
pub struct LocalRun {
    pub mlflow_run_id: String,
    pub status: String,
    pub experiment: String,
    pub tracking_uri: String,
    pub params: serde_json::Value,
    pub metrics: serde_json::Value,
    pub environment: PathBuf,
    pub ui: String,
}
