//! How a run is judged for release: its gates, the metrics they name that it never logged,
//! and the version it must beat.

use serde::Serialize;

use super::registry::Registry;
use crate::error::Result;
use crate::history::RunRow;
use crate::manifest::release::{Better, Gate, MustBeat};

/// A gate, checked.
#[derive(Clone, Debug, Serialize)]
pub struct GateResult {
    pub metric: String,
    pub op: &'static str,
    pub threshold: f64,
    pub value: Option<f64>,
    pub passed: bool,
}

/// A metric a gate or `must_beat` names that the run never logged: a mistake in the
/// manifest (or the training code), not a bad model.
#[derive(Clone, Debug, Serialize)]
pub struct MissingMetric {
    pub metric: String,
    /// `gates` or `must_beat`.
    pub used_by: &'static str,
    /// The run's metrics nearest in spelling.
    pub closest: Vec<String>,
}

/// `must_beat`, checked.
#[derive(Clone, Debug, Serialize)]
pub struct BeatResult {
    pub alias: String,
    pub metric: String,
    pub better: Better,
    /// The version the alias points at (`None`: nothing to beat yet).
    pub version: Option<String>,
    pub theirs: Option<f64>,
    pub ours: Option<f64>,
    pub passed: bool,
}

/// Each gate against the run's metrics (a metric it never logged fails the gate).
pub(super) fn gates(gates: &[Gate], run: &RunRow) -> Vec<GateResult> {
    gates
        .iter()
        .map(|g| {
            let value = run.metrics.get(&g.metric).copied();
            GateResult {
                metric: g.metric.clone(),
                op: g.op.text(),
                threshold: g.threshold,
                value,
                passed: value.is_some_and(|v| g.op.holds(v, g.threshold)),
            }
        })
        .collect()
}

/// The metrics gates and `must_beat` name that the run never logged, with the run's metrics
/// nearest in spelling.
pub(super) fn missing(
    gates: &[Gate],
    must_beat: Option<&MustBeat>,
    run: &RunRow,
) -> Vec<MissingMetric> {
    gates
        .iter()
        .map(|g| (g.metric.as_str(), "gates"))
        .chain(must_beat.map(|m| (m.metric.as_str(), "must_beat")))
        .filter(|(metric, _)| !run.metrics.contains_key(*metric))
        .map(|(metric, used_by)| MissingMetric {
            metric: metric.to_string(),
            used_by,
            closest: crate::support::diagnostic::closest(
                metric,
                run.metrics.keys().map(String::as_str),
            )
            .into_iter()
            .map(str::to_string)
            .collect(),
        })
        .collect()
}

/// The run against the version `alias` points at. Nothing to beat, or the same run, passes;
/// a champion without the metric is beaten; a run without it is not.
pub(super) fn must_beat(
    registry: &dyn Registry,
    model: &str,
    m: &MustBeat,
    run: &RunRow,
) -> Result<BeatResult> {
    let current = registry.alias(model, &m.alias)?;
    let ours = run.metrics.get(&m.metric).copied();
    let theirs = current
        .as_ref()
        .and_then(|v| v.metrics.get(&m.metric).copied());
    let passed = match (&current, ours, theirs) {
        (None, _, _) => true,
        (Some(v), _, _) if v.run_id.as_deref() == Some(run.run_id.as_str()) => true,
        (Some(_), Some(o), Some(t)) => match m.better {
            Better::Higher => o > t,
            Better::Lower => o < t,
        },
        (Some(_), Some(_), None) => true,
        (Some(_), None, _) => false,
    };
    Ok(BeatResult {
        alias: m.alias.clone(),
        metric: m.metric.clone(),
        better: m.better,
        version: current.map(|v| v.version),
        theirs,
        ours,
        passed,
    })
}
