//! The plan: everything a command needs to know before it acts, resolved from the manifest,
//! the chosen target, the branch and the commit. Computing it has no side effects, so `check`
//! and `--dry-run` are just "print the plan".

use std::collections::BTreeMap;
use std::path::PathBuf;

use serde::Serialize;

use crate::error::Result;
use crate::manifest::{EntryPoint, Install, Manifest, Target, TargetKind};
use crate::support::naming::Branch;

/// The resolved plan of one invocation.
#[derive(Clone, Debug, Serialize)]
pub struct Plan {
    pub project: String,
    pub manifest: PathBuf,
    /// The MLflow project folder.
    pub mlproject: PathBuf,
    pub target: String,
    pub target_kind: TargetKind,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub host: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub profile: Option<String>,
    /// Where a Databricks job runs (a new job cluster on the local target, unused there).
    pub compute: crate::manifest::Compute,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub mlflow_version: Option<String>,
    pub branch: String,
    pub branch_source: String,
    pub branch_slug: String,
    pub commit: Option<String>,
    /// Files with uncommitted changes when the plan was made (a deploy of them is recorded as
    /// dirty); empty for a clean tree or outside git.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub dirty: Vec<String>,
    /// The experiment name; `{user}` stays unexpanded on Databricks until the workspace says
    /// who the user is.
    pub experiment: String,
    /// Whether the experiment is the branch's own (its name uses `{branch}`): only then is
    /// it tagged with the branch, and trashed by `gc` once the branch is gone.
    #[serde(skip)]
    pub experiment_per_branch: bool,
    /// The other targets whose runs go to the same experiment.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub experiment_shared_with: Vec<String>,
    /// The artifact root: an absolute local folder, `dbfs:/...` or `/Volumes/...`.
    pub artifacts: String,
    /// The store that root is in.
    #[serde(skip)]
    pub store_kind: crate::store::StoreKind,
    /// Where this branch's artifacts go: `<artifacts>/<branch slug>`.
    pub branch_artifacts: String,
    pub wheels: Vec<PlannedWheel>,
    /// The project's entry points: its MLproject's, then mlops.toml's.
    pub entry_points: BTreeMap<String, EntryPoint>,
    /// The entry point asked for (`--entry`), already checked to exist.
    pub entry: Option<String>,
    /// Its definition (also for a `.py`/`.sh` file run by name, which has no declaration).
    #[serde(skip)]
    pub entry_point: Option<EntryPoint>,
    /// How the launcher runs it, with the parameters filled in.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub launch: Option<crate::run::launch::Entry>,
    /// Every parameter of that entry point: the `-P` values, type-checked, and the defaults.
    pub parameters: BTreeMap<String, String>,
}

#[derive(Clone, Debug, Serialize)]
pub struct PlannedWheel {
    /// The package folder, absolute.
    pub path: PathBuf,
    /// As written in the manifest.
    pub declared: String,
    pub install: Install,
}

/// What the plan needs from outside the manifest; gathered by the caller so this stays pure.
#[derive(Clone, Debug)]
pub struct Inputs<'a> {
    pub target: Option<&'a str>,
    pub branch: Branch,
    pub commit: Option<String>,
    /// Files with uncommitted changes.
    pub dirty: Vec<String>,
    /// The local user name, for `{user}` on the local target.
    pub local_user: Option<String>,
    pub entry: Option<&'a str>,
    /// That entry point's definition.
    pub entry_point: Option<EntryPoint>,
    /// The wheels: the manifest's, or those found in the cargo workspace.
    pub wheels: Vec<PlannedWheel>,
    /// The project's entry points (MLproject's, then mlops.toml's).
    pub entry_points: BTreeMap<String, EntryPoint>,
    /// The entry point's parameter values, already checked.
    pub parameters: BTreeMap<String, String>,
}

impl Plan {
    pub fn new(manifest: &Manifest, inputs: Inputs<'_>) -> Result<Plan> {
        let target = manifest.target(inputs.target)?;
        let vars = |name: &str| -> Option<String> {
            match name {
                "project" => Some(manifest.project.name.clone()),
                "branch" => Some(inputs.branch.slug.clone()),
                "target" => Some(target.name.clone()),
                "commit" => inputs.commit.clone(),
                "user" => match target.kind {
                    TargetKind::Local => inputs.local_user.clone(),
                    TargetKind::Databricks => None,
                },
                _ => None,
            }
        };
        let experiment = target.experiment.expand(vars);
        // Other targets whose runs land in the same experiment (the same workspace and name):
        // `runs` and `compare` then tell them apart by the `mlops.target` tag.
        let experiment_shared_with = manifest
            .targets
            .values()
            .filter(|t| t.name != target.name && t.kind == target.kind)
            .filter(|t| t.host == target.host && t.profile == target.profile)
            .filter(|t| {
                t.experiment.expand(|name| match name {
                    "target" => Some(t.name.clone()),
                    other => vars(other),
                }) == experiment
            })
            .map(|t| t.name.clone())
            .collect();
        let artifacts = artifact_root(manifest, target, target.artifacts.expand(vars));
        let branch_artifacts =
            format!("{}/{}", artifacts.trim_end_matches('/'), inputs.branch.slug);
        Ok(Plan {
            project: manifest.project.name.clone(),
            manifest: manifest.path.clone(),
            mlproject: manifest.project.mlproject.clone(),
            target: target.name.clone(),
            target_kind: target.kind,
            host: target.host.clone(),
            profile: target.profile.clone(),
            compute: target.compute.clone(),
            mlflow_version: target.mlflow_version.clone(),
            branch: inputs.branch.name.clone(),
            branch_source: inputs.branch.source.to_string(),
            branch_slug: inputs.branch.slug.clone(),
            commit: inputs.commit,
            dirty: inputs.dirty,
            experiment_per_branch: target.experiment.uses("branch"),
            experiment,
            experiment_shared_with,
            store_kind: crate::store::StoreKind::of(
                target.kind == TargetKind::Databricks,
                &artifacts,
            ),
            artifacts,
            branch_artifacts,
            wheels: inputs.wheels,
            entry_points: inputs.entry_points,
            entry: inputs.entry.map(str::to_string),
            launch: inputs.entry_point.as_ref().map(|e| {
                crate::run::launch::classify(&crate::run::launch::render_command(
                    e,
                    &inputs.parameters,
                ))
            }),
            entry_point: inputs.entry_point,
            parameters: inputs.parameters,
        })
    }
}

/// The local user name (for `{user}` on the local target and the `mlflow.user` tag), found
/// as MLflow finds it: `mlflow/utils/credentials.py` `get_user` → Python's `getpass.getuser`,
/// which reads LOGNAME, USER, LNAME and USERNAME in that order, then the password database
/// (so a CI container with no `$USER` still gets its login name).
pub fn local_user() -> Option<String> {
    ["LOGNAME", "USER", "LNAME", "USERNAME"]
        .iter()
        .find_map(|k| std::env::var(k).ok().filter(|v| !v.is_empty()))
        .or_else(|| whoami::username().ok().filter(|v| !v.is_empty()))
}

/// Local roots become absolute folders (relative to the manifest); `/dbfs/x` becomes the
/// canonical `dbfs:/x`.
fn artifact_root(manifest: &Manifest, target: &Target, expanded: String) -> String {
    match target.kind {
        TargetKind::Local => crate::manifest::normalize(&manifest.root.join(&expanded))
            .to_string_lossy()
            .into_owned(),
        TargetKind::Databricks => match expanded.strip_prefix("/dbfs/") {
            Some(rest) => format!("dbfs:/{rest}"),
            None => expanded,
        },
    }
}

#[cfg(test)]
mod tests {
    use std::path::Path;

    use super::*;
    use crate::support::naming::{self, Source};

    fn manifest() -> Manifest {
        crate::manifest::parse(
            Path::new("/work/proj/mlops.toml"),
            r#"
[project]
name = "churn"
[[wheel]]
path = "python/feat"
install = "cluster"
[entry_points.train]
command = "python train.py"
[targets.dev]
kind = "databricks"
artifacts = "/dbfs/mlops/{project}"
experiment = "/Users/{user}/{project}/{branch}"
[targets.ci]
kind = "local"
artifacts = "/tmp/{user}/art"
experiment = "{project}@{commit}"
"#,
        )
        .unwrap()
    }

    fn inputs(target: Option<&str>) -> Inputs<'_> {
        Inputs {
            target,
            branch: Branch {
                name: "feature/x".into(),
                source: Source::Flag,
                slug: naming::slug("feature/x"),
            },
            commit: Some("abc123".into()),
            dirty: Vec::new(),
            local_user: Some("ada".into()),
            entry: Some("train"),
            entry_point: None,
            wheels: vec![PlannedWheel {
                path: "/work/proj/python/feat".into(),
                declared: "python/feat".into(),
                install: Install::Cluster,
            }],
            entry_points: BTreeMap::new(),
            parameters: BTreeMap::new(),
        }
    }

    #[test]
    fn local_default_target_resolves_under_the_manifest() {
        let plan = Plan::new(&manifest(), inputs(None)).unwrap();
        assert_eq!(plan.target, "local");
        assert_eq!(plan.artifacts, "/work/proj/.mlops/artifacts");
        let slug = naming::slug("feature/x");
        assert_eq!(plan.experiment, format!("churn/{slug}"));
        assert_eq!(
            plan.branch_artifacts,
            format!("/work/proj/.mlops/artifacts/{slug}")
        );
        assert_eq!(plan.wheels[0].path, Path::new("/work/proj/python/feat"));
    }

    #[test]
    fn placeholders_expand_per_target() {
        let plan = Plan::new(&manifest(), inputs(Some("ci"))).unwrap();
        assert_eq!(plan.artifacts, "/tmp/ada/art");
        assert_eq!(plan.experiment, "churn@abc123");
    }

    #[test]
    fn databricks_user_waits_for_the_workspace_and_dbfs_is_canonical() {
        let plan = Plan::new(&manifest(), inputs(Some("dev"))).unwrap();
        assert_eq!(plan.artifacts, "dbfs:/mlops/churn");
        assert!(
            plan.experiment
                .starts_with("/Users/{user}/churn/feature-x-")
        );
    }
}
