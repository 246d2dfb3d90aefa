//! A gone branch's preview serving endpoints: those `release` created for a `[serving.*]`
//! table with `{branch}` in its name (tagged `mlops.project`, `mlops.branch` with the branch's
//! slug, and `mlops.per_branch = true`). An endpoint that serves a version released from a
//! release branch (its run's `mlops.branch` matches a target's `release_branches`) is kept:
//! production traffic may be on it.

use serde::Serialize;

use crate::databricks::Client;
use crate::databricks::models::Models;
use crate::databricks::serving::{Endpoint, Serving};
use crate::error::Result;
use crate::manifest::release::branch_matches;
use crate::serving::config::{BRANCH_TAG, PER_BRANCH_TAG, is_ours};

/// A serving endpoint of a gone branch, to delete (or kept, with why).
#[derive(Clone, Debug, Serialize)]
pub struct PlannedEndpoint {
    pub name: String,
    pub branch_slug: String,
    pub reason: String,
}

/// The project's per-branch endpoints whose branch is gone: `(to delete, kept)`.
pub fn plan(
    client: &Client,
    project: &str,
    live_slugs: &std::collections::BTreeSet<String>,
    release_branches: &[String],
) -> Result<(Vec<PlannedEndpoint>, Vec<PlannedEndpoint>)> {
    let (mut doomed, mut kept) = (Vec::new(), Vec::new());
    for e in (Serving { client }).list()? {
        let Some(slug) = e.tag(BRANCH_TAG) else {
            continue;
        };
        if !is_ours(&e, project) || e.tag(PER_BRANCH_TAG) != Some("true") {
            continue;
        }
        if live_slugs.contains(slug) {
            continue;
        }
        let planned = |reason: String| PlannedEndpoint {
            name: e.name.clone(),
            branch_slug: slug.to_string(),
            reason,
        };
        match from_release_branch(client, &e, release_branches)? {
            Some(why) => kept.push(planned(why)),
            None => doomed.push(planned("its branch is gone from the remote".into())),
        }
    }
    Ok((doomed, kept))
}

/// Why the endpoint is kept: a version it serves was released from a release branch.
/// `list` gives the served entities' names only, so the endpoint is read whole.
fn from_release_branch(
    client: &Client,
    listed: &Endpoint,
    patterns: &[String],
) -> Result<Option<String>> {
    let Some(e) = (Serving { client }).get(&listed.name)? else {
        return Ok(None);
    };
    for (model, version) in e.served() {
        let Ok(n) = version.parse::<u64>() else {
            continue;
        };
        let Some(run) = (Models { client }).get(&model, n)?.and_then(|v| v.run_id) else {
            continue;
        };
        let branch = match client.get_json("/api/2.0/mlflow/runs/get", &[("run_id", &run)]) {
            Ok(v) => run_tag(&v, "mlops.branch"),
            Err(err) if err.is_not_found() => None,
            Err(err) => return Err(err.into()),
        };
        if let Some(b) = branch.filter(|b| patterns.iter().any(|p| branch_matches(p, b))) {
            return Ok(Some(format!(
                "it serves version {version} of {model}, released from release branch `{b}`"
            )));
        }
    }
    Ok(None)
}

fn run_tag(run: &serde_json::Value, key: &str) -> Option<String> {
    run["run"]["data"]["tags"]
        .as_array()?
        .iter()
        .find(|t| t["key"] == key)?["value"]
        .as_str()
        .map(str::to_string)
}

/// Deletes the planned endpoints.
pub fn execute(
    client: &Client,
    planned: &[PlannedEndpoint],
    output: &crate::output::Output,
) -> Result<Vec<String>> {
    let mut done = Vec::new();
    for e in planned {
        crate::support::interrupt::check()?;
        (Serving { client }).delete(&e.name)?;
        output.status("Deleted", format!("serving endpoint {}", e.name));
        done.push(format!("serving endpoint {}", e.name));
    }
    Ok(done)
}
