//! The branch's experiment: made on Databricks when missing (its workspace folder first), and
//! tagged with whose it is (`mlops.project`, and `mlops.branch` when it is the branch's own)
//! so that `gc` can find a gone branch's experiments.

use crate::databricks::Client;
use crate::databricks::mlflow::{Mlflow, Tag};
use crate::databricks::workspace::Workspace;
use crate::error::{Error, Result};
use crate::plan::Plan;

/// The experiment named by the plan (with `{user}` filled in), created when missing, with its
/// parent workspace folder. A concurrent creator winning the race is fine.
pub fn ensure(client: &Client, plan: &Plan, user: &str) -> Result<(String, String)> {
    let name = plan.experiment.replace("{user}", user);
    let mlflow = Mlflow { client };
    let wanted: Vec<Tag> = crate::run::tags::experiment_tags(plan)
        .into_iter()
        .map(|(key, value)| Tag { key, value })
        .collect();
    let (id, tags) = match mlflow.experiment_by_name(&name)? {
        Some(e) => (e.experiment_id, e.tags),
        None => {
            if let Some((parent, _)) = name.rsplit_once('/').filter(|(p, _)| !p.is_empty()) {
                Workspace { client }.mkdirs(parent)?;
            }
            match mlflow.create_tagged_experiment(&name, &wanted) {
                Ok(id) => (id, wanted.clone()),
                Err(e) if e.is("RESOURCE_ALREADY_EXISTS") => {
                    let e = mlflow.experiment_by_name(&name)?.ok_or_else(|| {
                        Error::remote(format!(
                            "experiment `{name}` exists but cannot be found by name"
                        ))
                    })?;
                    (e.experiment_id, e.tags)
                }
                Err(e) => return Err(e.into()),
            }
        }
    };
    // Whose it is, for `gc` to find a gone branch's experiment (set once: an experiment made
    // before this was tagged gets its tags the first time it is used again).
    for t in &wanted {
        if !tags
            .iter()
            .any(|have| have.key == t.key && have.value == t.value)
        {
            mlflow.set_experiment_tag(&id, &t.key, &t.value)?;
        }
    }
    Ok((name, id))
}
