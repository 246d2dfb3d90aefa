//! Garbage collection of artifacts: the folders of branches that are gone from the remote, and
//! content folders older than the retention that neither the branch's newest deploy nor a job
//! that is still running refers to. A plan first; deletion only when asked.

use std::collections::BTreeSet;

use serde::Serialize;

use crate::error::Result;
use crate::store::{Listing, Store, is_temp_name};

/// Why something is to be deleted.
#[derive(Clone, Debug, Serialize)]
pub struct Doomed {
    pub path: String,
    pub bytes: u64,
    pub reason: String,
}

/// A job that may still read files: its run record and the paths it uses.
#[derive(Clone, Debug)]
pub struct RunRecord {
    pub record_path: String,
    pub branch_folder: String,
    pub databricks_run_id: Option<u64>,
    pub paths: Vec<String>,
    pub modified_ms: i64,
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

/// The JSON records in `folder` (deploy or run records), with their listings; unreadable
/// ones are skipped (gc only keeps more when in doubt).
fn json_records(store: &dyn Store, folder: &str) -> Result<Vec<(Listing, serde_json::Value)>> {
    let mut out = Vec::new();
    for entry in store.list(folder)? {
        if entry.is_dir || !entry.path.ends_with(".json") {
            continue;
        }
        let Some(bytes) = store.read_small(&entry.path)? else {
            continue;
        };
        if let Ok(record) = serde_json::from_slice(&bytes) {
            out.push((entry, record));
        }
    }
    Ok(out)
}

/// The paths named by the newest deploy record of a branch folder.
fn newest_deploy_paths(store: &dyn Store, branch_folder: &str) -> Result<BTreeSet<String>> {
    // Newest by the record's own time, then by when the file was written (two deploys in
    // the same second).
    let newest = json_records(store, &format!("{branch_folder}/deploys"))?
        .into_iter()
        .max_by_key(|(entry, record)| {
            (
                record["time"].as_str().unwrap_or("").to_string(),
                entry.modified_ms,
            )
        });
    let mut paths = BTreeSet::new();
    if let Some((_, record)) = newest {
        for w in record["wheels"].as_array().into_iter().flatten() {
            if let Some(p) = w["path"].as_str() {
                paths.insert(p.to_string());
            }
        }
        for key in ["tarball", "launcher"] {
            if let Some(p) = record[key]["path"].as_str() {
                paths.insert(p.to_string());
            }
        }
    }
    Ok(paths)
}

/// The run records of a branch folder (`<branch>/runs/<id>.json`).
pub fn run_records(store: &dyn Store, branch_folder: &str) -> Result<Vec<RunRecord>> {
    Ok(json_records(store, &format!("{branch_folder}/runs"))?
        .into_iter()
        .map(|(entry, record)| RunRecord {
            record_path: entry.path.clone(),
            branch_folder: branch_folder.to_string(),
            databricks_run_id: record["databricks_run_id"].as_u64(),
            paths: record["paths"]
                .as_array()
                .into_iter()
                .flatten()
                .filter_map(|p| p.as_str().map(str::to_string))
                .collect(),
            modified_ms: entry.modified_ms,
        })
        .collect())
}

/// The folder of a content-addressed path: `<branch>/<16 hex>`.
fn content_folder_of(path: &str) -> &str {
    path.rsplit_once('/').map_or(path, |(dir, _)| dir)
}

/// Works out what to delete. `live_slugs` are the slugs of the remote's branches; `running`
/// says whether a Databricks run is still going (unknown runs count as running).
pub fn plan(
    store: &dyn Store,
    root: &str,
    live_slugs: &BTreeSet<String>,
    keep_ms: i64,
    now_ms: i64,
    running: &dyn Fn(u64) -> bool,
) -> Result<Vec<Doomed>> {
    let mut doomed = Vec::new();
    let old = |modified: i64| now_ms - modified > keep_ms;
    for branch in store.list(root)? {
        if !branch.is_dir {
            continue;
        }
        let slug = name_of(&branch.path).to_string();
        let runs = run_records(store, &branch.path)?;
        let active: Vec<&RunRecord> = runs
            .iter()
            .filter(|r| r.databricks_run_id.is_some_and(running))
            .collect();
        let protected: BTreeSet<&str> = active
            .iter()
            .flat_map(|r| r.paths.iter().map(|p| content_folder_of(p)))
            .collect();
        if !live_slugs.contains(&slug) && active.is_empty() {
            let (bytes, _) = tree(store, &branch)?;
            doomed.push(Doomed {
                path: branch.path.clone(),
                bytes,
                reason: "its branch is gone from the remote".into(),
            });
            continue;
        }
        let keep: BTreeSet<String> = newest_deploy_paths(store, &branch.path)?
            .iter()
            .map(|p| content_folder_of(p).to_string())
            .collect();
        for entry in store.list(&branch.path)? {
            let name = name_of(&entry.path);
            if entry.is_dir && is_content_folder(name) {
                if keep.contains(entry.path.as_str()) || protected.contains(entry.path.as_str()) {
                    // Still in use: only leftovers of interrupted uploads may go.
                    for child in store.list(&entry.path)? {
                        if is_temp_name(&child.path) && old(child.modified_ms) {
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
                        reason: "no newest deploy or running job refers to it".into(),
                    });
                }
            }
        }
        for r in &runs {
            let finished = r.databricks_run_id.is_none_or(|id| !running(id));
            if finished && old(r.modified_ms) {
                doomed.push(Doomed {
                    path: r.record_path.clone(),
                    bytes: 0,
                    reason: "the run record of a finished job".into(),
                });
            }
        }
    }
    Ok(doomed)
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
