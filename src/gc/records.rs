//! The records gc reads in a branch folder: deploy records (what the newest deploy names),
//! run records (what a submitted job reads) and leases (what a deploy in flight uses).

use std::collections::BTreeSet;

use crate::error::Result;
use crate::store::{Listing, Store};
use crate::support::records::{DeployRecord, Lease, RunRecord, read_all as records};

/// A job that may still read files: where its run record is, and the paths it uses.
#[derive(Clone, Debug)]
pub struct JobFiles {
    pub record_path: String,
    pub project: Option<String>,
    pub branch_folder: String,
    pub databricks_run_id: u64,
    /// The MLflow run the job logs into, whose live log is `runs/<this>/`.
    pub mlflow_run_id: String,
    pub paths: Vec<String>,
    pub modified_ms: i64,
}

/// The folder of a content-addressed path: `<branch>/<16 hex>`.
pub(super) fn content_folder_of(path: &str) -> &str {
    path.rsplit_once('/').map_or(path, |(dir, _)| dir)
}

/// The deploy records of a branch folder, and the paths the newest one names.
pub(super) fn deploy_records(
    store: &dyn Store,
    branch_folder: &str,
) -> Result<(Vec<DeployRecord>, BTreeSet<String>)> {
    let all = records::<DeployRecord>(store, &format!("{branch_folder}/deploys"))?;
    // Newest by the record's own time, then by when the file was written (two deploys in
    // the same second).
    let newest = all
        .iter()
        .max_by_key(|(entry, record)| (record.time.clone(), entry.modified_ms))
        .map(|(_, record)| record.paths().map(str::to_string).collect())
        .unwrap_or_default();
    Ok((all.into_iter().map(|(_, r)| r).collect(), newest))
}

/// The run records of a branch folder (`<branch>/runs/<id>.json`).
pub fn run_records(store: &dyn Store, branch_folder: &str) -> Result<Vec<JobFiles>> {
    Ok(
        records::<RunRecord>(store, &format!("{branch_folder}/runs"))?
            .into_iter()
            .map(|(entry, record)| JobFiles {
                record_path: entry.path.clone(),
                branch_folder: branch_folder.to_string(),
                project: record.project,
                databricks_run_id: record.databricks_run_id,
                mlflow_run_id: record.mlflow_run_id,
                paths: record.paths,
                modified_ms: entry.modified_ms,
            })
            .collect(),
    )
}

/// The leases of a branch folder (`<branch>/leases/<id>.json`): the content folders the live
/// ones name, and the expired ones.
pub(super) fn leases(store: &dyn Store, branch_folder: &str, now_ms: i64) -> Result<Leases> {
    let mut leased = BTreeSet::new();
    let mut expired = Vec::new();
    let mut projects = Vec::new();
    let folder = format!("{branch_folder}/{}", crate::support::records::LEASES);
    for (entry, lease) in records::<Lease>(store, &folder)? {
        projects.push(lease.project.clone());
        if lease.expires_ms > now_ms {
            leased.extend(lease.paths.iter().map(|p| content_folder_of(p).to_string()));
        } else {
            expired.push(entry);
        }
    }
    Ok(Leases {
        leased,
        expired,
        projects,
    })
}

/// What a branch folder's leases say.
pub(super) struct Leases {
    /// The content folders live leases name.
    pub leased: BTreeSet<String>,
    pub expired: Vec<Listing>,
    /// The project each lease names.
    pub projects: Vec<Option<String>>,
}
