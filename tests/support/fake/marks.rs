//! Finding the processes a test started by a mark in their environment, never by pid alone.
//! A pid or process group id names someone else's process once ours has ended and been
//! reaped: a machine's `pid_max` can be 32768, which one run of the suite wraps round several
//! times, and a stale `kill -KILL -PGID` once ended an unrelated job on the test machine.

use std::sync::atomic::{AtomicUsize, Ordering};

/// The variable that carries the mark; every process inherits it from its parent.
pub const VARIABLE: &str = "MLOPS_TEST_MARK";

/// A mark no other process of any test carries.
pub fn new_mark() -> String {
    static NEXT: AtomicUsize = AtomicUsize::new(0);
    format!(
        "{}-{}",
        std::process::id(),
        NEXT.fetch_add(1, Ordering::Relaxed)
    )
}

/// The live processes whose environment holds `MLOPS_TEST_MARK=mark`.
pub fn marked(mark: &str) -> Vec<u32> {
    let needle = format!("{VARIABLE}={mark}");
    let mut found = Vec::new();
    for entry in std::fs::read_dir("/proc").into_iter().flatten().flatten() {
        let Ok(pid) = entry.file_name().to_string_lossy().parse::<u32>() else {
            continue;
        };
        // A process that ended (or a zombie, whose environment reads empty) is skipped.
        let Ok(environ) = fs_err::read(entry.path().join("environ")) else {
            continue;
        };
        if environ.split(|b| *b == 0).any(|v| v == needle.as_bytes()) {
            found.push(pid);
        }
    }
    found
}

/// Sends `signal` (`-KILL`, `-TERM`) to each of `pids`.
pub fn signal(signal: &str, pids: &[u32]) {
    for pid in pids {
        let _ = std::process::Command::new("kill")
            .args([signal, &pid.to_string()])
            .stderr(std::process::Stdio::null())
            .status();
    }
}
