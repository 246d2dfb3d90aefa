//! A gone branch's footprint in the workspace, beside its artifacts: the persistent jobs
//! tagged with its slug (`jobs deploy`), and its experiments (tagged `mlops.project` and
//! `mlops.branch` when `run` or `jobs deploy` made or first used them), which go to MLflow's
//! trash (`experiments/delete`, undone by `experiments/restore`). An experiment holding a run
//! some model version was registered from is kept whole: released versions and their runs are
//! never touched. Also the paths every remaining job names, which gc keeps.

use std::collections::BTreeSet;

use serde::Serialize;
use serde_json::{Value, json};

use crate::databricks::Client;
use crate::databricks::job_defs::JobDefs;
use crate::databricks::models::Models;
use crate::error::Result;
use crate::jobs::spec;

/// A persistent job of a gone branch.
#[derive(Clone, Debug, Serialize)]
pub struct DoomedJob {
    pub job_id: u64,
    pub name: String,
    pub job: String,
    pub branch_slug: String,
    pub reason: String,
}

/// An experiment of a gone branch, to the trash (or kept, with why).
#[derive(Clone, Debug, Serialize)]
pub struct PlannedExperiment {
    pub experiment_id: String,
    pub name: String,
    pub branch_slug: String,
    pub reason: String,
}

/// What gc plans in the workspace.
#[derive(Clone, Debug, Default)]
pub struct Footprint {
    pub jobs: Vec<DoomedJob>,
    pub experiments: Vec<PlannedExperiment>,
    pub kept_experiments: Vec<PlannedExperiment>,
    /// Preview serving endpoints of gone branches, to delete.
    pub endpoints: Vec<super::endpoints::PlannedEndpoint>,
    /// Those kept, with why (they serve a version from a release branch).
    pub kept_endpoints: Vec<super::endpoints::PlannedEndpoint>,
    /// The store paths under the artifact root that the remaining jobs name.
    pub job_paths: BTreeSet<String>,
}

impl Footprint {
    /// Other experiments to trash and to keep (the local store's), beside the workspace's.
    pub fn add_experiments(&mut self, trash: &[PlannedExperiment], kept: &[PlannedExperiment]) {
        self.experiments.extend(trash.iter().cloned());
        self.kept_experiments.extend(kept.iter().cloned());
    }
}

use crate::run::tags::{
    EXPERIMENT_BRANCH_TAG as BRANCH_TAG, EXPERIMENT_PROJECT_TAG as PROJECT_TAG,
};

fn tag<'a>(e: &'a Value, key: &str) -> Option<&'a str> {
    e["tags"].as_array()?.iter().find(|t| t["key"] == key)?["value"].as_str()
}

/// The experiments tagged as `project`'s, page by page (MLflow's `search_experiments`).
fn experiments(client: &Client, project: &str) -> Result<Vec<Value>> {
    let mut out = Vec::new();
    let mut token: Option<String> = None;
    loop {
        let mut body = json!({
            "filter": format!("tags.`{PROJECT_TAG}` = '{}'", project.replace('\'', "\\'")),
            "max_results": 1000,
            "view_type": "ACTIVE_ONLY",
        });
        if let Some(t) = &token {
            body["page_token"] = json!(t);
        }
        let answer: Value = client.post_as("/api/2.0/mlflow/experiments/search", body, true)?;
        out.extend(
            answer["experiments"]
                .as_array()
                .into_iter()
                .flatten()
                .cloned(),
        );
        token = answer["next_page_token"]
            .as_str()
            .filter(|t| !t.is_empty())
            .map(str::to_string);
        if token.is_none() {
            return Ok(out);
        }
    }
}

/// The experiments holding a run that a version of one of `models` was registered from.
fn holding_released_runs(client: &Client, models: &[String]) -> Result<BTreeSet<String>> {
    let mut held = BTreeSet::new();
    for model in models {
        let versions = match (Models { client }).versions(model) {
            Ok(v) => v,
            Err(e) if e.is_not_found() => continue,
            Err(e) => return Err(e.into()),
        };
        for run in versions.iter().filter_map(|v| v.run_id.as_deref()) {
            match client.get_json("/api/2.0/mlflow/runs/get", &[("run_id", run)]) {
                Ok(v) => {
                    if let Some(id) = v["run"]["info"]["experiment_id"].as_str() {
                        held.insert(id.to_string());
                    }
                }
                Err(e) if e.is_not_found() => {}
                Err(e) => return Err(e.into()),
            }
        }
    }
    Ok(held)
}

/// What the project releases: the Unity Catalog models it releases into and the targets'
/// `release_branches` patterns.
pub struct Releases {
    pub models: Vec<String>,
    pub branches: Vec<String>,
}

/// Plans the workspace side of gc.
pub fn plan(
    client: &Client,
    project: &str,
    artifacts: &str,
    live_slugs: &BTreeSet<String>,
    releases: &Releases,
) -> Result<Footprint> {
    let mut out = Footprint::default();
    (out.endpoints, out.kept_endpoints) =
        super::endpoints::plan(client, project, live_slugs, &releases.branches)?;
    for job in (JobDefs { client }).list(true)? {
        let tags = &job.settings["tags"];
        let ours = tags[spec::PROJECT_TAG] == project;
        match tags[spec::BRANCH_TAG].as_str() {
            Some(slug) if ours && !live_slugs.contains(slug) => out.jobs.push(DoomedJob {
                job_id: job.job_id,
                name: job.settings["name"]
                    .as_str()
                    .unwrap_or_default()
                    .to_string(),
                job: tags[spec::JOB_TAG].as_str().unwrap_or_default().to_string(),
                branch_slug: slug.to_string(),
                reason: "its branch is gone from the remote".into(),
            }),
            // Any other job (another branch's, another tool's) keeps what it names.
            _ => out
                .job_paths
                .extend(spec::paths_under(&job.settings, artifacts)),
        }
    }
    let gone: Vec<(Value, String)> = experiments(client, project)?
        .into_iter()
        .filter_map(|e| {
            let slug = tag(&e, BRANCH_TAG)?.to_string();
            (!live_slugs.contains(&slug)).then_some((e, slug))
        })
        .collect();
    if gone.is_empty() {
        return Ok(out);
    }
    let held = holding_released_runs(client, &releases.models)?;
    let mut found = Vec::new();
    for (e, branch_slug) in gone {
        // An experiment the service names without an id is an answer we cannot act on: never
        // an experiment "" to delete.
        let (Some(id), Some(name)) = (e["experiment_id"].as_str(), e["name"].as_str()) else {
            return Err(crate::databricks::ApiError::protocol(
                &client.host,
                "/api/2.0/mlflow/experiments/search",
                "an experiment in the answer has no `experiment_id` or `name`",
            )
            .into());
        };
        let held = held.contains(id);
        let in_flight = if held { None } else { in_flight(client, id)? };
        found.push(Gone {
            experiment_id: id.to_string(),
            name: name.to_string(),
            branch_slug,
            held,
            in_flight,
        });
    }
    (out.experiments, out.kept_experiments) = sort_gone(found);
    Ok(out)
}

/// A gone branch's experiment, as found.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Gone {
    pub experiment_id: String,
    pub name: String,
    pub branch_slug: String,
    /// Whether it holds a run a model version was registered from.
    pub held: bool,
    /// A run of it still in flight (MLflow status `RUNNING`), if any.
    pub in_flight: Option<String>,
}

/// A run of the experiment that is still going, if any: its experiment is kept while it runs,
/// as its files are. MLflow says `RUNNING` also of a run whose job ended without ending it (a
/// `run --no-wait` nobody looked at again): when the run names its job (the
/// `mlflow.databricks.shellJobRunID` tag `run` sets, or a persistent job's
/// `mlops.job_run_id`), the job's own state decides; a job that cannot be read counts as
/// running, as for the files.
fn in_flight(client: &Client, experiment_id: &str) -> Result<Option<String>> {
    let answer: Value = client.post_as(
        "/api/2.0/mlflow/runs/search",
        json!({
            "experiment_ids": [experiment_id],
            "filter": "attributes.status = 'RUNNING'",
            "max_results": 50,
        }),
        true,
    )?;
    let jobs = crate::databricks::jobs::Jobs { client };
    for run in answer["runs"].as_array().into_iter().flatten() {
        let Some(id) = run["info"]["run_id"].as_str() else {
            continue;
        };
        let job = ["mlflow.databricks.shellJobRunID", "mlops.job_run_id"]
            .iter()
            .find_map(|key| tag(&run["data"], key))
            .and_then(|v| v.parse::<u64>().ok());
        let going = match job {
            Some(job) => jobs.get(job).map_or(true, |s| !s.is_terminal()),
            None => true,
        };
        if going {
            return Ok(Some(id.to_string()));
        }
    }
    Ok(None)
}

/// Gone branches' experiments sorted into those to trash and those kept (holding a released
/// run), each with why.
pub fn sort_gone(
    found: impl IntoIterator<Item = Gone>,
) -> (Vec<PlannedExperiment>, Vec<PlannedExperiment>) {
    let (mut trash, mut kept) = (Vec::new(), Vec::new());
    // One order whoever listed them (the store file, MLflow's client, the REST API).
    let mut found: Vec<Gone> = found.into_iter().collect();
    found.sort_by(|a, b| a.name.cmp(&b.name));
    for Gone {
        experiment_id,
        name,
        branch_slug,
        held,
        in_flight,
    } in found
    {
        let (list, reason) = match (held, in_flight) {
            (true, _) => (
                &mut kept,
                "it holds a run a model version was registered from".to_string(),
            ),
            (false, Some(run)) => (
                &mut kept,
                format!("its run {run} is still in flight (RUNNING)"),
            ),
            (false, None) => (&mut trash, "its branch is gone from the remote".to_string()),
        };
        list.push(PlannedExperiment {
            experiment_id,
            name,
            branch_slug,
            reason,
        });
    }
    (trash, kept)
}

/// Deletes the planned jobs and moves the planned experiments to the trash.
pub fn execute(
    client: &Client,
    planned: &Footprint,
    output: &crate::output::Output,
) -> Result<Vec<String>> {
    let mut done = super::endpoints::execute(client, &planned.endpoints, output)?;
    for j in &planned.jobs {
        crate::support::interrupt::check()?;
        (JobDefs { client }).delete(j.job_id)?;
        output.status("Deleted", format!("job {} ({})", j.name, j.job_id));
        done.push(format!("job {}", j.job_id));
    }
    for e in &planned.experiments {
        crate::support::interrupt::check()?;
        match client.post_json(
            "/api/2.0/mlflow/experiments/delete",
            json!({ "experiment_id": e.experiment_id }),
            true,
        ) {
            Ok(_) => {}
            // Already gone (a retry after a lost answer, or someone else): nothing to do.
            Err(err) if err.is_not_found() => {}
            Err(err) => return Err(err.into()),
        }
        output.status(
            "Trashed",
            format!("experiment {} ({})", e.name, e.experiment_id),
        );
        done.push(format!("experiment {}", e.experiment_id));
    }
    Ok(done)
}
