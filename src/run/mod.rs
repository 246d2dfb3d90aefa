//! `run`: deploy, then run an entry point on the target (locally, or as a Databricks job) and
//! follow it to the end. Everything is checked (entry point, parameters, target) before
//! anything is built or sent.

pub mod databricks;
pub mod entry;
pub mod experiment;
pub mod follow;
pub mod launch;
pub mod live_log;
pub mod local;
pub mod remote;
mod request;
pub mod submit;
pub mod tags;
mod timeout;

use crate::error::Result;
use crate::manifest::TargetKind;
use crate::output::Output;
use crate::session::Session;

pub use request::{Finished, RunRequest};
pub use timeout::{MAX_TIMEOUT_SECS, parse_duration, timeout};

/// Runs the entry point on the session's target.
pub fn run(session: &Session, request: &RunRequest<'_>, output: &Output) -> Result<Finished> {
    let prepared = session.prepare(Some(request.entry), request.params)?;
    match prepared.plan.target_kind {
        TargetKind::Databricks => databricks::run(session, &prepared, request, output),
        TargetKind::Local => local::run(session, &prepared, request, output),
    }
}
