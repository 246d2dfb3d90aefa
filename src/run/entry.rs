//! The entry point a run starts, the same on every target: its command rendered with the
//! checked parameters, and the parameters as messages show them.

use std::collections::BTreeMap;

use crate::error::{Error, Result};
use crate::plan::Plan;
use crate::run::launch::{self, Entry};

/// What the launcher runs for the plan's entry point: its command rendered with the checked
/// parameters, classified.
pub fn entry_of(plan: &Plan) -> Result<Entry> {
    let entry = plan.entry_point.as_ref().ok_or_else(|| {
        Error::usage("no entry point was chosen").with_help("pass `--entry NAME`")
    })?;
    Ok(launch::classify(&launch::render_command(
        entry,
        &plan.parameters,
    )))
}

/// Parameters sorted as the launcher receives them (for messages).
pub fn describe_params(params: &BTreeMap<String, String>) -> String {
    params
        .iter()
        .map(|(k, v)| format!("{k}={v}"))
        .collect::<Vec<_>>()
        .join(" ")
}
