//! The store half of gc: which branch folders, content folders, expired leases, leftovers of
//! interrupted uploads and run records nobody uses any more.

use std::collections::BTreeSet;

use serde::Serialize;

use super::records::{JobFiles, content_folder_of, deploy_records, leases, run_records};
use crate::error::Result;
use crate::store::{Listing, Store, is_temp_name, owner};

/// Why something is to be deleted.
#[derive(Clone, Debug, Serialize)]
pub struct Doomed {
    pub path: String,
    pub bytes: u64,
    pub reason: String,
}

pub(super) fn name_of(path: &str) -> &str {
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

/// What decides whether something is still used. `live_slugs` are the slugs of the remote's
/// branches; `running` says whether a Databricks run is still going (unknown runs count as
/// running); `job_paths` are the store paths persistent jobs name.
pub struct Rules<'a> {
    pub owner: Owner<'a>,
    pub live_slugs: &'a BTreeSet<String>,
    pub keep_ms: i64,
    pub now_ms: i64,
    pub running: &'a dyn Fn(u64) -> bool,
    pub job_paths: &'a BTreeSet<String>,
}

impl Rules<'_> {
    fn old(&self, modified_ms: i64) -> bool {
        self.now_ms - modified_ms > self.keep_ms
    }
}

/// Works out what to delete under `root`. Only branch folders whose records all name the
/// owner's project are considered.
pub fn plan(store: &dyn Store, root: &str, rules: &Rules<'_>) -> Result<Planned> {
    let mut out = Planned::default();
    for branch in store.list(root)? {
        if branch.is_dir {
            plan_branch(store, &branch, rules, &mut out)?;
        }
    }
    Ok(out)
}

/// One branch folder: skipped if another project made it, wholly doomed if its branch is
/// gone and nothing uses it, else its unused content folders and finished run records.
fn plan_branch(
    store: &dyn Store,
    branch: &Listing,
    rules: &Rules<'_>,
    out: &mut Planned,
) -> Result<()> {
    let slug = name_of(&branch.path).to_string();
    let runs = run_records(store, &branch.path)?;
    // The folders are listed before the leases are read: a deploy writes its lease before
    // its first file, so any folder seen here that a deploy in flight uses is named by a
    // lease read after it.
    let entries = store.list(&branch.path)?;
    let leases = leases(store, &branch.path, rules.now_ms)?;
    let (deploys, newest) = deploy_records(store, &branch.path)?;
    let nested_root = nested_root(store, &branch.path, &entries);
    // Whose the folder is, by every record in it.
    let makers = deploys
        .iter()
        .map(|d| Some(d.project.as_str()))
        .chain(runs.iter().map(|r| r.project.as_deref()))
        .chain(leases.projects.iter().map(Option::as_deref))
        .chain(nested_root.as_deref().map(Some));
    let maker = owner::maker(rules.owner.project, rules.owner.root_is_ours, makers);
    if let Some(reason) = maker.why_kept() {
        out.skipped.push(Skipped {
            path: branch.path.clone(),
            reason,
        });
        return Ok(());
    }
    let active: Vec<&JobFiles> = runs
        .iter()
        .filter(|r| (rules.running)(r.databricks_run_id))
        .collect();
    // What a persistent job uses is live whatever its age, for as long as the job exists.
    let prefix = format!("{}/", branch.path.trim_end_matches('/'));
    let of_jobs: BTreeSet<&str> = rules
        .job_paths
        .iter()
        .filter(|p| p.starts_with(&prefix))
        .map(|p| content_folder_of(p))
        .collect();
    if !rules.live_slugs.contains(&slug)
        && active.is_empty()
        && leases.leased.is_empty()
        && of_jobs.is_empty()
    {
        let (bytes, _) = tree(store, branch)?;
        out.doomed.push(Doomed {
            path: branch.path.clone(),
            bytes,
            reason: "its branch is gone from the remote".into(),
        });
        return Ok(());
    }
    let in_use: BTreeSet<&str> = active
        .iter()
        .flat_map(|r| r.paths.iter().map(|p| content_folder_of(p)))
        .chain(leases.leased.iter().map(String::as_str))
        .chain(of_jobs.iter().copied())
        .chain(newest.iter().map(|p| content_folder_of(p)))
        .collect();
    let expired = leases.expired.iter().map(|lease| Doomed {
        path: lease.path.clone(),
        bytes: 0,
        reason: "the expired lease of a deploy that never finished".into(),
    });
    out.doomed.extend(expired);
    plan_content_folders(store, entries, &in_use, rules, out)?;
    let (finished, kept): (Vec<&JobFiles>, Vec<&JobFiles>) = runs
        .iter()
        .partition(|r| !(rules.running)(r.databricks_run_id) && rules.old(r.modified_ms));
    out.doomed.extend(finished.iter().map(|r| Doomed {
        path: r.record_path.clone(),
        bytes: 0,
        reason: "the run record of a finished job".into(),
    }));
    let kept: BTreeSet<&str> = kept.iter().map(|r| r.mlflow_run_id.as_str()).collect();
    plan_live_logs(store, &branch.path, &kept, rules, out)
}

/// The live logs of runs (`runs/<MLflow run id>/logs/`, see `crate::run::live_log`): kept
/// while a kept run record names their run, or while younger than the retention (a local
/// run's, a persistent job's: no record names those).
fn plan_live_logs(
    store: &dyn Store,
    branch_folder: &str,
    kept: &BTreeSet<&str>,
    rules: &Rules<'_>,
    out: &mut Planned,
) -> Result<()> {
    for entry in store.list(&format!("{branch_folder}/runs"))? {
        if !entry.is_dir || kept.contains(name_of(&entry.path)) {
            continue;
        }
        let (bytes, newest) = tree(store, &entry)?;
        if rules.old(newest) {
            out.doomed.push(Doomed {
                path: entry.path.clone(),
                bytes,
                reason: "the live log of a run no kept record names".into(),
            });
        }
    }
    Ok(())
}

/// A folder holding a root marker is another project's whole artifact root (its `artifacts`
/// nested under ours), never a branch of ours: the project its marker names.
fn nested_root(store: &dyn Store, folder: &str, entries: &[Listing]) -> Option<String> {
    entries
        .iter()
        .any(|e| name_of(&e.path) == owner::MARKER)
        .then(|| {
            owner::read(store, folder)
                .unwrap_or(None)
                .map(|m| m.project)
                .unwrap_or_default()
        })
}

/// A branch's content folders: one in use loses only its leftovers of interrupted uploads;
/// one nobody uses goes once it is older than the retention.
fn plan_content_folders(
    store: &dyn Store,
    entries: Vec<Listing>,
    in_use: &BTreeSet<&str>,
    rules: &Rules<'_>,
    out: &mut Planned,
) -> Result<()> {
    for entry in entries {
        if !entry.is_dir || !is_content_folder(name_of(&entry.path)) {
            continue;
        }
        if in_use.contains(entry.path.as_str()) {
            for child in store.list(&entry.path)? {
                if is_temp_name(&child.path) && rules.now_ms - child.modified_ms > TEMP_AGE_MS {
                    out.doomed.push(Doomed {
                        path: child.path.clone(),
                        bytes: child.size,
                        reason: "an interrupted upload".into(),
                    });
                }
            }
            continue;
        }
        let (bytes, newest) = tree(store, &entry)?;
        if rules.old(newest) {
            out.doomed.push(Doomed {
                path: entry.path.clone(),
                bytes,
                reason: "no newest deploy, running job or persistent job refers to it".into(),
            });
        }
    }
    Ok(())
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
    }
}
