//! Environments no recent run used, for `gc`: an environment is hundreds of megabytes, and
//! every change of a third-party requirement makes a new one.

use std::path::{Path, PathBuf};

use serde::Serialize;

use super::markers::{READY, USED};
use crate::error::Result;

/// An environment `gc` may remove.
#[derive(Clone, Debug, Serialize)]
pub struct Stale {
    pub path: PathBuf,
    pub bytes: u64,
    pub reason: String,
}

/// The environments under `state_dir` last used more than `keep_ms` before `now_ms`
/// (by their use marker; a half-made one by its folder's time).
pub fn stale(state_dir: &Path, keep_ms: i64, now_ms: i64) -> Result<Vec<Stale>> {
    let envs = state_dir.join("envs");
    if !envs.is_dir() {
        return Ok(Vec::new());
    }
    let mut out = Vec::new();
    for entry in fs_err::read_dir(&envs)? {
        let path = entry?.path();
        if !path.is_dir() {
            continue;
        }
        let ready = path.join(READY).is_file();
        let marker = if ready { path.join(USED) } else { path.clone() };
        let used_ms = modified_ms(&marker).or_else(|| modified_ms(&path.join(READY)));
        if used_ms.is_some_and(|t| now_ms - t <= keep_ms) {
            continue;
        }
        out.push(Stale {
            bytes: size_of(&path),
            reason: if ready {
                "no recent run used this environment".into()
            } else {
                "a half-made environment".into()
            },
            path,
        });
    }
    out.sort_by(|a, b| a.path.cmp(&b.path));
    Ok(out)
}

fn modified_ms(path: &Path) -> Option<i64> {
    let modified = fs_err::metadata(path).ok()?.modified().ok()?;
    let ms = modified
        .duration_since(std::time::UNIX_EPOCH)
        .ok()?
        .as_millis();
    i64::try_from(ms).ok()
}

/// The bytes of every file below `dir`, links not followed.
fn size_of(dir: &Path) -> u64 {
    let mut total = 0;
    let mut todo: Vec<PathBuf> = vec![dir.to_path_buf()];
    while let Some(d) = todo.pop() {
        let Ok(entries) = fs_err::read_dir(&d) else {
            continue;
        };
        for entry in entries.flatten() {
            let Ok(meta) = entry.path().symlink_metadata() else {
                continue;
            };
            if meta.is_dir() {
                todo.push(entry.path());
            } else {
                total += meta.len();
            }
        }
    }
    total
}
