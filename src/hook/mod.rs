//! The git pre-push hook: installing and removing it, and what it runs for each push.

mod install;
mod pre_push;

pub use install::{Installed, MARKER, PREVIOUS, install, script, uninstall};
pub use pre_push::{Push, pre_push};
