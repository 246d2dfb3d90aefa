//! Garbage collection of artifacts: the folders of branches that are gone from the remote, and
//! content folders older than the retention that neither the branch's newest deploy nor a job
//! that is still running refers to; on Databricks also a gone branch's persistent jobs and
//! experiments (`workspace.rs`). A plan first; deletion only when asked.

pub mod local_experiments;
mod records;
pub mod workspace;

use std::collections::BTreeSet;

use serde::Serialize;

use crate::databricks::jobs::Jobs;
use crate::error::{Error, Result};
use crate::naming;
use crate::output::Output;
use crate::session::Session;
use crate::store::{Listing, Store, is_temp_name, owner};
pub use records::JobFiles;
use records::{content_folder_of, deploy_records, leases, run_records};

/// Why something is to be deleted.
#[derive(Clone, Debug, Serialize)]
pub struct Doomed {
    pub path: String,
    pub bytes: u64,
    pub reason: String,
}

fn name_of(path: &str) -> &str {
    path.trim_end_matches('/')
        .rsplit('/')
        .next()
        .unwrap_or(path)
}

fn is_content_folder(name: &str) -> bool {
    name.len() == 16 && name.chars().all(|c| c.is_ascii_hexdigit())
}

/// Total size and newest modification of everything below `path`.
pub fn tree(store: &dyn Store, entry: &Listing) -> Result<(u64, i64)> {
    if !entry.is_dir {
        return Ok((entry.size, entry.modified_ms));
    }
    // Only files count: a folder's own time moves whenever anything in it changes.
    let mut bytes = 0;
    let mut newest = 0;
    for child in store.list(&entry.path)? {
        let (b, m) = tree(store, &child)?;
        bytes += b;
        newest = newest.max(m);
    }
    Ok((bytes, newest))
}

/// Leftovers of interrupted uploads are collected once they are this old, whatever the
/// retention: an upload in flight writes its temporary file for far less than this.
pub const TEMP_AGE_MS: i64 = 3_600_000;

/// A branch folder gc leaves alone because its project did not make it.
#[derive(Clone, Debug, Serialize)]
pub struct Skipped {
    pub path: String,
    pub reason: String,
}

/// What to delete, and what was passed over as another project's.
#[derive(Clone, Debug, Default)]
pub struct Planned {
    pub doomed: Vec<Doomed>,
    pub skipped: Vec<Skipped>,
}

/// Whose artifacts gc is collecting: the project, and whether the root's marker names it
/// (records written before records named their project then count as its own).
#[derive(Clone, Copy, Debug)]
pub struct Owner<'a> {
    pub project: &'a str,
    pub root_is_ours: bool,
}

/// Works out what to delete. `live_slugs` are the slugs of the remote's branches; `running`
/// says whether a Databricks run is still going (unknown runs count as running); `job_paths`
/// are the store paths persistent jobs name. Only branch folders whose records all name
/// `owner`'s project are considered.
#[allow(clippy::too_many_arguments)]
pub fn plan(
    store: &dyn Store,
    root: &str,
    owner: Owner<'_>,
    live_slugs: &BTreeSet<String>,
    keep_ms: i64,
    now_ms: i64,
    running: &dyn Fn(u64) -> bool,
    job_paths: &BTreeSet<String>,
) -> Result<Planned> {
    let mut out = Planned::default();
    let doomed = &mut out.doomed;
    let old = |modified: i64| now_ms - modified > keep_ms;
    for branch in store.list(root)? {
        if !branch.is_dir {
            continue;
        }
        let slug = name_of(&branch.path).to_string();
        let runs = run_records(store, &branch.path)?;
        // The folders are listed before the leases are read: a deploy writes its lease
        // before its first file, so any folder seen here that a deploy in flight uses is
        // named by a lease read after it.
        let entries = store.list(&branch.path)?;
        let leases = leases(store, &branch.path, now_ms)?;
        let (deploys, newest) = deploy_records(store, &branch.path)?;
        // A folder holding a root marker is another project's whole artifact root (its
        // `artifacts` nested under ours), never a branch of ours.
        let nested_root = if entries.iter().any(|e| name_of(&e.path) == owner::MARKER) {
            Some(
                owner::read(store, &branch.path)
                    .unwrap_or(None)
                    .map(|m| m.project)
                    .unwrap_or_default(),
            )
        } else {
            None
        };
        let maker = owner::maker(
            owner.project,
            owner.root_is_ours,
            deploys
                .iter()
                .map(|d| Some(d.project.as_str()))
                .chain(runs.iter().map(|r| r.project.as_deref()))
                .chain(leases.projects.iter().map(Option::as_deref))
                .chain(nested_root.as_deref().map(Some)),
        );
        if let Some(reason) = maker.why_kept() {
            out.skipped.push(Skipped {
                path: branch.path.clone(),
                reason,
            });
            continue;
        }
        let active: Vec<&JobFiles> = runs
            .iter()
            .filter(|r| running(r.databricks_run_id))
            .collect();
        // What a persistent job uses is live whatever its age, for as long as the job exists.
        let of_jobs: BTreeSet<&str> = job_paths
            .iter()
            .filter(|p| p.starts_with(&format!("{}/", branch.path.trim_end_matches('/'))))
            .map(|p| content_folder_of(p))
            .collect();
        let protected: BTreeSet<&str> = active
            .iter()
            .flat_map(|r| r.paths.iter().map(|p| content_folder_of(p)))
            .chain(leases.leased.iter().map(String::as_str))
            .chain(of_jobs.iter().copied())
            .collect();
        if !live_slugs.contains(&slug)
            && active.is_empty()
            && leases.leased.is_empty()
            && of_jobs.is_empty()
        {
            let (bytes, _) = tree(store, &branch)?;
            doomed.push(Doomed {
                path: branch.path.clone(),
                bytes,
                reason: "its branch is gone from the remote".into(),
            });
            continue;
        }
        let keep: BTreeSet<String> = newest
            .iter()
            .map(|p| content_folder_of(p).to_string())
            .collect();
        for lease in leases.expired {
            doomed.push(Doomed {
                path: lease.path.clone(),
                bytes: 0,
                reason: "the expired lease of a deploy that never finished".into(),
            });
        }
        for entry in entries {
            let name = name_of(&entry.path);
            if entry.is_dir && is_content_folder(name) {
                if keep.contains(entry.path.as_str()) || protected.contains(entry.path.as_str()) {
                    // Still in use: only leftovers of interrupted uploads may go.
                    for child in store.list(&entry.path)? {
                        if is_temp_name(&child.path) && now_ms - child.modified_ms > TEMP_AGE_MS {
                            doomed.push(Doomed {
                                path: child.path.clone(),
                                bytes: child.size,
                                reason: "an interrupted upload".into(),
                            });
                        }
                    }
                    continue;
                }
                let (bytes, newest) = tree(store, &entry)?;
                if old(newest) {
                    doomed.push(Doomed {
                        path: entry.path.clone(),
                        bytes,
                        reason: "no newest deploy, running job or persistent job refers to it"
                            .into(),
                    });
                }
            }
        }
        for r in &runs {
            let finished = !running(r.databricks_run_id);
            if finished && old(r.modified_ms) {
                doomed.push(Doomed {
                    path: r.record_path.clone(),
                    bytes: 0,
                    reason: "the run record of a finished job".into(),
                });
            }
        }
    }
    Ok(out)
}

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
    // The branch is not needed to collect garbage; a detached CI checkout must still work.
    let mut global = session.global.clone();
    global.branch.get_or_insert_with(|| "gc".into());
    let scoped = Session {
        global,
        output: output.clone(),
        cwd: session.cwd.clone(),
    };
    let prepared = scoped.prepare(None, &[])?;
    let target = &prepared.plan;
    let remotes = crate::git::remotes(&prepared.manifest.root);
    // A remote that is not configured is a usage problem (exit 2), not the network's; a URL
    // or path given as --remote is for git to try.
    let is_name = !args.remote.contains([':', '/', '\\']);
    if is_name && !remotes.iter().any(|r| r == args.remote) {
        let help = if remotes.is_empty() {
            "gc needs the remote's branches to know which are gone: add it (`git remote add origin <url>`), or name a URL with `--remote <url>`".to_string()
        } else {
            format!(
                "name one of this repository's remotes with `--remote`: {}",
                remotes.join(", ")
            )
        };
        return Err(Error::usage(format!(
            "this repository has no git remote `{}`",
            args.remote
        ))
        .with_help(help));
    }
    let refs = crate::git::remote_refs(&prepared.manifest.root, args.remote).map_err(|e| {
        Error::remote(format!(
            "cannot list the branches of remote `{}`: {e}",
            args.remote
        ))
        .with_help("gc deletes only what it knows is unused; fix access to the remote (or name another with --remote) and run it again")
    })?;
    let live_slugs: BTreeSet<String> = refs
        .branches
        .iter()
        .chain(&refs.tags)
        .map(|b| naming::slug(b))
        .collect();
    let (store, client) = scoped.store(target)?;
    let running = |id: u64| -> bool {
        match &client {
            // An unknown state counts as running: never delete what a job might read.
            Some(c) => Jobs { client: c }
                .get(id)
                .map_or(true, |s| !s.is_terminal()),
            None => false,
        }
    };
    // In the workspace: a gone branch's jobs and experiments, and the paths every remaining
    // persistent job names (read from the jobs themselves: a job another branch or tool
    // deployed protects its files too).
    let mut footprint = match &client {
        Some(c) => workspace::plan(
            c,
            &target.project,
            &target.artifacts,
            &live_slugs,
            &released_models(&prepared),
        )?,
        None => workspace::Footprint::default(),
    };
    let job_paths = &footprint.job_paths;
    let keep_ms = i64::from(args.keep_days) * 86_400_000;
    let project = target.project.as_str();
    let repository = crate::git::repository(&prepared.manifest.root);
    let us = owner::Deployer {
        project,
        repository: repository.as_deref(),
    };
    let root_is_ours = match owner::read(store.as_ref(), &target.artifacts)? {
        Some(_) if args.claim_root => true,
        Some(m) => {
            // A root of another project, or of a project of the same name in another
            // repository, is never touched: its branches are not this remote's to judge.
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
            true
        }
        None => false,
    };
    let Planned {
        doomed, skipped, ..
    } = plan(
        store.as_ref(),
        &target.artifacts,
        Owner {
            project,
            root_is_ours,
        },
        &live_slugs,
        keep_ms,
        crate::time::now_ms(),
        &running,
        job_paths,
    )?;
    // The local store's experiments of gone branches.
    let local_registry = (target.target_kind == crate::manifest::TargetKind::Local).then(|| {
        crate::release::registry::Local::of_state(
            &prepared.manifest.state_dir(),
            scoped.suggest(target, "run --entry NAME"),
        )
    });
    let local_planned = match &local_registry {
        Some(r) => {
            local_experiments::plan(&prepared.manifest.state_dir(), r, project, &live_slugs)?
        }
        None => local_experiments::Planned::default(),
    };
    footprint
        .experiments
        .extend(local_planned.trash.iter().cloned());
    footprint
        .kept_experiments
        .extend(local_planned.kept.iter().cloned());
    // The local target's environments live on this machine, beside its store.
    let environments = if target.target_kind == crate::manifest::TargetKind::Local {
        crate::environment::stale(
            &prepared.manifest.state_dir(),
            keep_ms,
            crate::time::now_ms(),
        )?
    } else {
        Vec::new()
    };
    let total: u64 = doomed.iter().map(|d| d.bytes).sum::<u64>()
        + environments.iter().map(|e| e.bytes).sum::<u64>();
    let mut deleted = Vec::new();
    if args.execute {
        if let Some(c) = &client {
            deleted.extend(workspace::execute(c, &footprint, output)?);
        }
        if let Some(r) = &local_registry {
            for e in &local_planned.trash {
                output.status(
                    "Trashed",
                    format!("experiment {} ({})", e.name, e.experiment_id),
                );
            }
            deleted.extend(local_experiments::execute(r, &local_planned)?);
        }
    }
    if args.execute && args.claim_root {
        owner::write(store.as_ref(), &target.artifacts, us)?;
    }
    if args.execute {
        // A deploy that started after the plan may lease a folder the plan dooms (the same
        // content as an old deploy): the leases are read again right before deleting.
        let mut leased_now: std::collections::BTreeMap<String, BTreeSet<String>> =
            Default::default();
        for d in &doomed {
            crate::interrupt::check()?;
            let branch_folder = branch_folder_of(&target.artifacts, &d.path);
            if !leased_now.contains_key(&branch_folder) {
                let leases = leases(store.as_ref(), &branch_folder, crate::time::now_ms())?;
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
        for e in &environments {
            crate::interrupt::check()?;
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
    }
    Ok(Report {
        target: target.target.clone(),
        artifacts: target.artifacts.clone(),
        live_branches: refs.branches,
        live_tags: refs.tags,
        plan: doomed,
        skipped,
        environments,
        jobs: footprint.jobs,
        experiments: footprint.experiments,
        kept_experiments: footprint.kept_experiments,
        bytes: total,
        executed: args.execute,
        deleted,
    })
}

/// The Unity Catalog models the project releases into (a version's run is never trashed).
fn released_models(prepared: &crate::session::Prepared) -> Vec<String> {
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
    fn content_folders_are_sixteen_hex_digits() {
        assert!(is_content_folder("0123456789abcdef"));
        assert!(!is_content_folder("deploys"));
        assert!(!is_content_folder("0123456789abcdeg"));
        assert_eq!(
            content_folder_of("dbfs:/a/main/0123456789abcdef/x.whl"),
            "dbfs:/a/main/0123456789abcdef"
        );
        assert_eq!(name_of("dbfs:/a/main/"), "main");
        assert_eq!(
            branch_folder_of("dbfs:/a/", "dbfs:/a/main/0123456789abcdef/x.whl"),
            "dbfs:/a/main"
        );
        assert_eq!(branch_folder_of("dbfs:/a", "dbfs:/a/gone"), "dbfs:/a/gone");
    }
}
