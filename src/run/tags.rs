//! The tags a run and its experiment carry, the same on every target: MLflow's own project
//! tags, ours (branch, target, deploy record, tarball, each wheel's hash), and the experiment
//! tags that say whose it is.

use std::collections::BTreeMap;

use crate::manifest::Compute;
use crate::pipeline::Deployment;
use crate::plan::Plan;

/// The experiment tags that say whose experiment it is (`experiment::ensure` and the local
/// launcher set them; `gc` finds a gone branch's experiments by them).
pub const EXPERIMENT_PROJECT_TAG: &str = "mlops.project";
pub const EXPERIMENT_BRANCH_TAG: &str = "mlops.branch";

/// The tags MLflow sets on a project run, and ours; `backend` is `databricks` or `local`.
pub fn run_tags(
    plan: &Plan,
    entry: &str,
    user: &str,
    repo_url: Option<&str>,
    deployment: &Deployment,
    backend: &str,
) -> Vec<(String, String)> {
    let mut tags: Vec<(String, String)> = vec![
        ("mlflow.user".into(), user.into()),
        (
            "mlflow.source.name".into(),
            repo_url
                .map(str::to_string)
                .unwrap_or_else(|| plan.mlproject.display().to_string()),
        ),
        ("mlflow.source.type".into(), "PROJECT".into()),
        ("mlflow.source.git.branch".into(), plan.branch.clone()),
        ("mlflow.project.entryPoint".into(), entry.into()),
        ("mlflow.project.backend".into(), backend.into()),
        ("mlops.branch".into(), plan.branch.clone()),
        ("mlops.branch_slug".into(), plan.branch_slug.clone()),
        ("mlops.target".into(), plan.target.clone()),
        ("mlops.deploy_record".into(), deployment.record.clone()),
        (
            "mlops.tarball".into(),
            deployment.tarball.remote_path.clone(),
        ),
    ];
    if plan.target_kind == crate::manifest::TargetKind::Databricks {
        tags.push(("mlops.compute".into(), compute_name(&plan.compute).into()));
    }
    if let Some(commit) = &plan.commit {
        tags.push(("mlflow.source.git.commit".into(), commit.clone()));
    }
    if let Some(url) = repo_url {
        tags.push(("mlflow.source.git.repoURL".into(), url.into()));
    }
    if !plan.dirty.is_empty() {
        tags.push(("mlops.dirty".into(), "true".into()));
    }
    for w in &deployment.wheels {
        tags.push((wheel_tag(&w.file), w.sha256.clone()));
    }
    tags
}

/// The tag that records a wheel's hash: `mlops.wheel.<file>`, with every character MLflow
/// refuses in a tag key (a local version's `+`, say) made `_`. MLflow allows alphanumerics,
/// `_`, `-`, `.`, spaces and `/` (and `:` off Windows): `mlflow/utils/validation.py`
/// `validate_param_and_metric_name`, which `_validate_tag_name` reuses.
pub fn wheel_tag(file: &str) -> String {
    let safe: String = file
        .chars()
        .map(|c| {
            if c.is_alphanumeric() || matches!(c, '_' | '-' | '.' | ' ' | '/') {
                c
            } else {
                '_'
            }
        })
        .collect();
    format!("mlops.wheel.{safe}")
}

fn compute_name(compute: &Compute) -> &'static str {
    match compute {
        Compute::JobCluster => "job_cluster",
        Compute::ExistingCluster { .. } => "existing_cluster",
        Compute::Serverless { .. } => "serverless",
    }
}

/// The tags that say whose an experiment is: the project, and the branch's slug when the
/// experiment is the branch's own (its name uses `{branch}`).
pub fn experiment_tags(plan: &Plan) -> BTreeMap<String, String> {
    let mut tags = BTreeMap::from([(EXPERIMENT_PROJECT_TAG.to_string(), plan.project.clone())]);
    if plan.experiment_per_branch {
        tags.insert(EXPERIMENT_BRANCH_TAG.to_string(), plan.branch_slug.clone());
    }
    tags
}

#[cfg(test)]
mod tests {
    #[test]
    fn wheel_tags_are_keys_mlflow_accepts() {
        assert_eq!(
            super::wheel_tag("demo-0.1.0+local.1-py3-none-any.whl"),
            "mlops.wheel.demo-0.1.0_local.1-py3-none-any.whl"
        );
        assert_eq!(
            super::wheel_tag("a-1.0-py3-none-any.whl"),
            "mlops.wheel.a-1.0-py3-none-any.whl"
        );
    }
}
