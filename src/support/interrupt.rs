//! Ctrl-C: the first one asks the work to stop at the next safe point (uploads check between
//! chunks, so nothing half-written lands at a final path) and the command exits 130; a second
//! one, or work that does not stop within a grace period, exits at once.

use std::sync::Once;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use crate::error::{Error, Result, exit};

static REQUESTED: AtomicBool = AtomicBool::new(false);
static INSTALL: Once = Once::new();

/// How long the work may take to stop after the first Ctrl-C (cancelling a Databricks run
/// and waiting for it to end takes a while).
const GRACE: Duration = Duration::from_secs(90);

/// Installs the handler (once per process). Commands that change remote state call this.
pub fn install() {
    INSTALL.call_once(|| {
        let _ = ctrlc::set_handler(|| {
            if REQUESTED.swap(true, Ordering::SeqCst) {
                std::process::exit(exit::INTERRUPTED);
            }
            std::thread::spawn(|| {
                std::thread::sleep(GRACE);
                std::process::exit(exit::INTERRUPTED);
            });
        });
    });
}

pub fn requested() -> bool {
    REQUESTED.load(Ordering::SeqCst)
}

/// An error when Ctrl-C was pressed, to return from the next safe point.
pub fn check() -> Result<()> {
    if requested() {
        Err(Error::interrupted())
    } else {
        Ok(())
    }
}
