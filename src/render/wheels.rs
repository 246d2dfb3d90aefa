//! Where each wheel lives once published, in the form each file needs it.

use serde::Serialize;

use crate::build::BuiltWheel;
use crate::manifest::Install;
use crate::plan::Plan;

/// Where one wheel lives once published, in the forms each file needs.
#[derive(Clone, Debug, Serialize)]
pub struct WheelRef {
    pub file: String,
    pub sha256: String,
    pub install: Install,
    /// The artifact path: `dbfs:/...`, `/Volumes/...` or an absolute local path.
    pub store_path: String,
    /// As an environment file names it (conda, python_env): `/dbfs/...` for DBFS.
    pub env_path: String,
    /// As a cluster library names it: `dbfs:/...` for DBFS.
    pub library_path: String,
}

/// The distributions of `wheels`, as their file names spell them.
pub fn distributions(wheels: &[WheelRef]) -> Vec<String> {
    wheels
        .iter()
        .filter_map(|w| crate::build::backend::wheel_distribution(&w.file))
        .collect()
}

/// The content-addressed location of each wheel under the plan's branch folder.
pub fn wheel_refs(plan: &Plan, wheels: &[BuiltWheel]) -> Vec<WheelRef> {
    wheels
        .iter()
        .map(|w| {
            let store_path = format!(
                "{}/{}/{}",
                plan.branch_artifacts.trim_end_matches('/'),
                w.address,
                w.file
            );
            WheelRef {
                file: w.file.clone(),
                sha256: w.sha256.clone(),
                install: w.install,
                env_path: env_form(&store_path),
                library_path: store_path.clone(),
                store_path,
            }
        })
        .collect()
}

/// `dbfs:/x` is `/dbfs/x` to a process on the cluster (the FUSE mount).
pub fn env_form(store_path: &str) -> String {
    match store_path.strip_prefix("dbfs:/") {
        Some(rest) => format!("/dbfs/{}", rest.trim_start_matches('/')),
        None => store_path.to_string(),
    }
}
