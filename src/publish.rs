//! The publish stage: wheels, the project tarball and the launcher go to their
//! content-addressed paths under the branch folder, in parallel.

use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use serde::Serialize;

use crate::build::BuiltWheel;
use crate::build::wheel_file::{self, address};
use crate::error::{Error, Result};
use crate::output::Output;
use crate::plan::Plan;
use crate::store::{self, Store};

/// Uploads running at once (the Files API allows about 10 concurrent requests per workspace).
const PARALLEL: usize = 4;

/// The file name of the project tarball in its content-addressed folder.
pub const TARBALL_FILE: &str = "project.tar.gz";

/// One file to publish.
#[derive(Clone, Debug)]
pub struct Artifact {
    pub kind: &'static str,
    pub local: PathBuf,
    pub file: String,
    pub sha256: String,
    pub size: u64,
    /// `<branch folder>/<16 hex>/<file>`.
    pub dest: String,
}

impl Artifact {
    pub fn new(kind: &'static str, plan: &Plan, local: PathBuf, file: &str) -> Result<Artifact> {
        let (sha256, size) = wheel_file::hash_file(&local)?;
        let dest = format!(
            "{}/{}/{}",
            plan.branch_artifacts.trim_end_matches('/'),
            address(&sha256),
            file
        );
        Ok(Artifact {
            kind,
            local,
            file: file.to_string(),
            sha256,
            size,
            dest,
        })
    }

    pub fn wheel(plan: &Plan, w: &BuiltWheel) -> Artifact {
        Artifact {
            kind: "wheel",
            local: w.path.clone(),
            file: w.file.clone(),
            sha256: w.sha256.clone(),
            size: w.size,
            dest: format!(
                "{}/{}/{}",
                plan.branch_artifacts.trim_end_matches('/'),
                w.address,
                w.file
            ),
        }
    }
}

/// What publishing one artifact did.
#[derive(Clone, Debug, Serialize)]
pub struct Published {
    pub kind: &'static str,
    pub file: String,
    pub sha256: String,
    pub size: u64,
    pub remote_path: String,
    pub uploaded: bool,
    pub bytes_sent: u64,
}

/// Publishes every artifact, at most [`PARALLEL`] at once; stops at the first failure.
pub fn publish_all(
    store: &dyn Store,
    artifacts: &[Artifact],
    output: &Output,
) -> Result<Vec<Published>> {
    let next = AtomicUsize::new(0);
    let results: Vec<std::sync::Mutex<Option<Result<Published>>>> = artifacts
        .iter()
        .map(|_| std::sync::Mutex::new(None))
        .collect();
    let failed = std::sync::atomic::AtomicBool::new(false);
    std::thread::scope(|scope| {
        for _ in 0..PARALLEL.min(artifacts.len()) {
            scope.spawn(|| {
                loop {
                    let i = next.fetch_add(1, Ordering::SeqCst);
                    if i >= artifacts.len() || failed.load(Ordering::SeqCst) {
                        break;
                    }
                    let a = &artifacts[i];
                    let result = publish_one(store, a, output);
                    if result.is_err() {
                        failed.store(true, Ordering::SeqCst);
                    }
                    *results[i].lock().unwrap_or_else(|p| p.into_inner()) = Some(result);
                }
            });
        }
    });
    let mut out = Vec::new();
    for slot in results {
        match slot.into_inner().unwrap_or_else(|p| p.into_inner()) {
            Some(Ok(p)) => out.push(p),
            Some(Err(e)) => return Err(e),
            None => {}
        }
    }
    if out.len() != artifacts.len() {
        crate::support::interrupt::check()?;
        return Err(Error::remote(
            "publishing stopped before every file was written",
        ));
    }
    Ok(out)
}

fn publish_one(store: &dyn Store, a: &Artifact, output: &Output) -> Result<Published> {
    // The bar appears only when bytes are about to be sent: an unchanged file costs one
    // cheap request and no noise.
    let bar: std::sync::Mutex<Option<Arc<crate::output::Progress>>> = std::sync::Mutex::new(None);
    let make_progress = || -> store::Progress {
        let b = Arc::new(output.progress("Uploading", &a.file, a.size));
        *bar.lock().unwrap_or_else(|p| p.into_inner()) = Some(b.clone());
        Arc::new(move |n| b.set(n))
    };
    let result = store::publish(store, &a.local, a.size, &a.dest, &make_progress);
    if let Some(b) = bar.lock().unwrap_or_else(|p| p.into_inner()).take() {
        b.finish();
    }
    let published = result?;
    if published.uploaded {
        output.status("Uploaded", &a.dest);
    } else {
        output.verbose("Unchanged", &a.dest);
    }
    Ok(Published {
        kind: a.kind,
        file: a.file.clone(),
        sha256: a.sha256.clone(),
        size: a.size,
        remote_path: a.dest.clone(),
        uploaded: published.uploaded,
        bytes_sent: published.bytes_sent,
    })
}
