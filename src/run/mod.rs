//! `run`: deploy, then run an entry point on the target (locally, or as a Databricks job) and
//! follow it to the end. Everything is checked (entry point, parameters, target) before
//! anything is built or sent.

pub mod databricks;
pub mod local;
mod request;

use std::time::Duration;

use crate::error::{Error, Result};
use crate::manifest::TargetKind;
use crate::output::Output;
use crate::session::Session;

pub use request::{Finished, RunRequest};

/// Parses `--timeout` (at most the Jobs API's limit).
pub fn timeout(text: Option<&str>) -> Result<Option<Duration>> {
    text.map(crate::follow::parse_duration)
        .transpose()
        .map_err(|e| Error::usage(format!("--timeout {e}")))
}

/// Runs the entry point on the session's target.
pub fn run(session: &Session, request: &RunRequest<'_>, output: &Output) -> Result<Finished> {
    let prepared = session.prepare(Some(request.entry), request.params)?;
    match prepared.plan.target_kind {
        TargetKind::Databricks => databricks::run(session, &prepared, request, output),
        TargetKind::Local => local::run(session, &prepared, request, output),
    }
}
