//! Garbage collection of artifacts: the folders of branches that are gone from the remote, and
//! content folders older than the retention that neither the branch's newest deploy nor a job
//! that is still running refers to (`folders.rs`); on Databricks also a gone branch's
//! persistent jobs and experiments (`workspace.rs`), locally its experiments in the store
//! (`local_experiments.rs`). A plan first; deletion only when asked.

pub mod endpoints;
mod folders;
pub mod local_experiments;
mod records;
pub mod workspace;

use std::collections::{BTreeMap, BTreeSet};

use serde::Serialize;

use crate::databricks::jobs::Jobs;
use crate::error::{Error, Result};
use crate::manifest::TargetKind;
use crate::output::Output;
use crate::plan::Plan;
use crate::session::{Prepared, Session};
use crate::store::{Store, owner};
use crate::support::naming;
pub use folders::{Doomed, Owner, Planned, Rules, Skipped, TEMP_AGE_MS, plan, tree};
pub use records::JobFiles;
use records::{content_folder_of, leases};

/// What `gc` looked at, planned and (with `execute`) deleted.
#[derive(Clone, Debug, Serialize)]
pub struct Report {
    pub target: String,
    pub artifacts: String,
    pub live_branches: Vec<String>,
    pub live_tags: Vec<String>,
    pub plan: Vec<Doomed>,
    /// Branch folders left alone: another project made them, or nothing says who did.
    pub skipped: Vec<Skipped>,
    /// The local target's environments that no recent run used.
    pub environments: Vec<crate::environment::Stale>,
    /// Persistent jobs of gone branches, to delete.
    pub jobs: Vec<workspace::DoomedJob>,
    /// Experiments of gone branches, to MLflow's trash.
    pub experiments: Vec<workspace::PlannedExperiment>,
    /// Experiments of gone branches kept, with why (a released run).
    pub kept_experiments: Vec<workspace::PlannedExperiment>,
    /// Preview serving endpoints of gone branches, to delete.
    pub endpoints: Vec<endpoints::PlannedEndpoint>,
    /// Those kept, with why (they serve a version from a release branch).
    pub kept_endpoints: Vec<endpoints::PlannedEndpoint>,
    pub bytes: u64,
    pub executed: bool,
    pub deleted: Vec<String>,
}

/// How to collect.
#[derive(Clone, Debug)]
pub struct Options<'a> {
    pub keep_days: u32,
    pub execute: bool,
    /// Act on a root another project marked (and, with `execute`, mark it as this one's).
    pub claim_root: bool,
    pub remote: &'a str,
}

/// Plans what nobody uses in the target's store and, with `execute`, deletes it.
pub fn collect(session: &Session, args: &Options<'_>, output: &Output) -> Result<Report> {
    let scoped = without_branch(session, output);
    let prepared = scoped.prepare(None, &[])?;
    let target = &prepared.plan;
    let refs = remote_refs(&prepared, args.remote)?;
    let live_slugs: BTreeSet<String> = refs
        .branches
        .iter()
        .chain(&refs.tags)
        .map(|b| naming::slug(b))
        .collect();
    let crate::session::OpenStore { store, client } = scoped.store(target)?;
    // An unknown state counts as running: never delete what a job might read.
    let running = |id: u64| {
        client.as_ref().is_some_and(|c| {
            (Jobs { client: c })
                .get(id)
                .map_or(true, |s| !s.is_terminal())
        })
    };
    let mut footprint = workspace_footprint(client.as_deref(), &prepared, &live_slugs)?;
    let keep_ms = i64::from(args.keep_days) * 86_400_000;
    let repository = crate::git::repository(&prepared.manifest.root);
    let us = owner::Deployer {
        project: &target.project,
        repository: repository.as_deref(),
    };
    let root_is_ours = root_is_ours(store.as_ref(), target, us, args.claim_root)?;
    let Planned {
        doomed, skipped, ..
    } = plan(
        store.as_ref(),
        &target.artifacts,
        &Rules {
            owner: Owner {
                project: &target.project,
                root_is_ours,
            },
            live_slugs: &live_slugs,
            keep_ms,
            now_ms: crate::support::time::now_ms(),
            running: &running,
            job_paths: &footprint.job_paths,
        },
    )?;
    let local = Local::plan(&scoped, &prepared, &live_slugs, keep_ms)?;
    footprint.add_experiments(&local.experiments.trash, &local.experiments.kept);
    let total: u64 = doomed.iter().map(|d| d.bytes).sum::<u64>()
        + local.environments.iter().map(|e| e.bytes).sum::<u64>();
    let deleted = match args.execute {
        true => execute(
            (store.as_ref(), client.as_deref()),
            &target.artifacts,
            args.claim_root.then_some(us),
            (&footprint, &local, &doomed),
            output,
        )?,
        false => Vec::new(),
    };
    Ok(Report {
        target: target.target.clone(),
        artifacts: target.artifacts.clone(),
        live_branches: refs.branches,
        live_tags: refs.tags,
        plan: doomed,
        skipped,
        environments: local.environments,
        jobs: footprint.jobs,
        experiments: footprint.experiments,
        kept_experiments: footprint.kept_experiments,
        endpoints: footprint.endpoints,
        kept_endpoints: footprint.kept_endpoints,
        bytes: total,
        executed: args.execute,
        deleted,
    })
}

/// The branch is not needed to collect garbage; a detached CI checkout must still work.
fn without_branch(session: &Session, output: &Output) -> Session {
    let mut global = session.global.clone();
    global.branch.get_or_insert_with(|| "gc".into());
    Session {
        global,
        output: output.clone(),
        cwd: session.cwd.clone(),
    }
}

/// In the workspace: a gone branch's jobs and experiments, and the paths every remaining
/// persistent job names (read from the jobs themselves: a job another branch or tool
/// deployed protects its files too). Nothing for a local target.
fn workspace_footprint(
    client: Option<&crate::databricks::Client>,
    prepared: &Prepared,
    live_slugs: &BTreeSet<String>,
) -> Result<workspace::Footprint> {
    let Some(c) = client else {
        return Ok(workspace::Footprint::default());
    };
    let target = &prepared.plan;
    workspace::plan(
        c,
        &target.project,
        &target.artifacts,
        live_slugs,
        &workspace::Releases {
            models: released_models(prepared),
            branches: release_branches(prepared),
        },
    )
}

/// Deletes what was planned: the workspace's jobs and experiments, the local store's
/// experiments, then (after marking a claimed root as ours) the store's paths and the local
/// environments.
fn execute(
    (store, client): (&dyn Store, Option<&crate::databricks::Client>),
    root: &str,
    claim: Option<owner::Deployer<'_>>,
    (footprint, local, doomed): (&workspace::Footprint, &Local, &[Doomed]),
    output: &Output,
) -> Result<Vec<String>> {
    let mut deleted = Vec::new();
    if let Some(c) = client {
        deleted.extend(workspace::execute(c, footprint, output)?);
    }
    deleted.extend(local.trash_experiments(output)?);
    if let Some(us) = claim {
        owner::write(store, root, us)?;
    }
    deleted.extend(delete_doomed(store, root, doomed, output)?);
    deleted.extend(delete_environments(&local.environments, output)?);
    Ok(deleted)
}

/// The remote's branches and tags: what is live. A remote that is not configured is a usage
/// problem (exit 2), not the network's; a URL or path given as --remote is for git to try.
fn remote_refs(prepared: &Prepared, remote: &str) -> Result<crate::git::RemoteRefs> {
    let remotes = crate::git::remotes(&prepared.manifest.root);
    let is_name = !remote.contains([':', '/', '\\']);
    if is_name && !remotes.iter().any(|r| r == remote) {
        let help = if remotes.is_empty() {
            "gc needs the remote's branches to know which are gone: add it (`git remote add origin <url>`), or name a URL with `--remote <url>`".to_string()
        } else {
            format!(
                "name one of this repository's remotes with `--remote`: {}",
                remotes.join(", ")
            )
        };
        return Err(
            Error::usage(format!("this repository has no git remote `{remote}`")).with_help(help),
        );
    }
    crate::git::remote_refs(&prepared.manifest.root, remote).map_err(|e| {
        Error::remote(format!("cannot list the branches of remote `{remote}`: {e}"))
        .with_help("gc deletes only what it knows is unused; fix access to the remote (or name another with --remote) and run it again")
    })
}

/// Whether the root's marker names this project (or `--claim-root` takes it over). A root
/// of another project, or of a project of the same name in another repository, is never
/// touched: its branches are not this remote's to judge.
fn root_is_ours(
    store: &dyn Store,
    target: &Plan,
    us: owner::Deployer<'_>,
    claim_root: bool,
) -> Result<bool> {
    match owner::read(store, &target.artifacts)? {
        Some(_) if claim_root => Ok(true),
        Some(m) => {
            owner::check(
                &target.artifacts,
                &m,
                us,
                &format!("targets.{}.artifacts", target.target),
            )
            .map_err(|e| {
                let help = format!(
                    "gc acts only on its own project's root; if this project was renamed from `{}` or moved to another repository, pass `--claim-root` to take the root over",
                    m.project
                );
                e.with_help(help)
            })?;
            Ok(true)
        }
        None => Ok(false),
    }
}

/// The local target's part: its store's experiments of gone branches and its environments,
/// which live on this machine beside the store.
struct Local {
    registry: Option<crate::release::registry::Local>,
    experiments: local_experiments::Planned,
    environments: Vec<crate::environment::Stale>,
}

impl Local {
    fn plan(
        session: &Session,
        prepared: &Prepared,
        live_slugs: &BTreeSet<String>,
        keep_ms: i64,
    ) -> Result<Local> {
        let target = &prepared.plan;
        if target.target_kind != TargetKind::Local {
            return Ok(Local {
                registry: None,
                experiments: local_experiments::Planned::default(),
                environments: Vec::new(),
            });
        }
        let state = prepared.manifest.state_dir();
        let registry = crate::release::registry::Local::of_state(
            &state,
            session.suggest(target, "run --entry NAME"),
        );
        let experiments = local_experiments::plan(&state, &registry, &target.project, live_slugs)?;
        let environments =
            crate::environment::stale(&state, keep_ms, crate::support::time::now_ms())?;
        Ok(Local {
            registry: Some(registry),
            experiments,
            environments,
        })
    }

    fn trash_experiments(&self, output: &Output) -> Result<Vec<String>> {
        let Some(registry) = &self.registry else {
            return Ok(Vec::new());
        };
        for e in &self.experiments.trash {
            output.status(
                "Trashed",
                format!("experiment {} ({})", e.name, e.experiment_id),
            );
        }
        local_experiments::execute(registry, &self.experiments)
    }
}

/// Deletes the planned store paths. A deploy that started after the plan may lease a folder
/// the plan dooms (the same content as an old deploy): the leases are read again right
/// before deleting.
fn delete_doomed(
    store: &dyn Store,
    root: &str,
    doomed: &[Doomed],
    output: &Output,
) -> Result<Vec<String>> {
    let mut deleted = Vec::new();
    let mut leased_now: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
    for d in doomed {
        crate::support::interrupt::check()?;
        let branch_folder = branch_folder_of(root, &d.path);
        if !leased_now.contains_key(&branch_folder) {
            let leases = leases(store, &branch_folder, crate::support::time::now_ms())?;
            leased_now.insert(branch_folder.clone(), leases.leased);
        }
        let leased = &leased_now[&branch_folder];
        if d.path == branch_folder && !leased.is_empty()
            || leased.contains(content_folder_of(&d.path))
            || leased.contains(d.path.as_str())
        {
            output.status("Kept", format!("{} (a deploy leased it just now)", d.path));
            continue;
        }
        store.delete(&d.path)?;
        deleted.push(d.path.clone());
        output.status(
            "Deleted",
            format!("{} ({})", d.path, crate::output::human_bytes(d.bytes)),
        );
    }
    Ok(deleted)
}

/// Deletes the local target's stale environments.
fn delete_environments(
    environments: &[crate::environment::Stale],
    output: &Output,
) -> Result<Vec<String>> {
    let mut deleted = Vec::new();
    for e in environments {
        crate::support::interrupt::check()?;
        fs_err::remove_dir_all(&e.path)?;
        deleted.push(e.path.display().to_string());
        output.status(
            "Deleted",
            format!(
                "environment {} ({})",
                e.path.display(),
                crate::output::human_bytes(e.bytes)
            ),
        );
    }
    Ok(deleted)
}

/// The Unity Catalog models the project releases into (a version's run is never trashed).
fn released_models(prepared: &Prepared) -> Vec<String> {
    let m = &prepared.manifest;
    let mut models: Vec<String> = m
        .targets
        .values()
        .filter_map(|t| t.release.model.clone())
        .chain(m.release.model.clone())
        .filter(|n| crate::manifest::release::check_model_name(n, true).is_ok())
        .collect();
    models.sort();
    models.dedup();
    models
}

/// Every target's `release_branches` patterns.
fn release_branches(prepared: &Prepared) -> Vec<String> {
    let mut patterns: Vec<String> = prepared
        .manifest
        .targets
        .values()
        .flat_map(|t| t.release.branches.iter().cloned())
        .collect();
    patterns.sort();
    patterns.dedup();
    patterns
}

/// The branch folder a path under `root` is in: `<root>/<slug>`.
fn branch_folder_of(root: &str, path: &str) -> String {
    let root = root.trim_end_matches('/');
    let rest = path
        .strip_prefix(root)
        .unwrap_or(path)
        .trim_start_matches('/');
    let slug = rest.split('/').next().unwrap_or(rest);
    format!("{root}/{slug}")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn paths_belong_to_their_branch_folder() {
        assert_eq!(
            branch_folder_of("dbfs:/a/", "dbfs:/a/main/0123456789abcdef/x.whl"),
            "dbfs:/a/main"
        );
        assert_eq!(branch_folder_of("dbfs:/a", "dbfs:/a/gone"), "dbfs:/a/gone");
    }
}
