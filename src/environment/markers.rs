//! The files that say what state an environment folder is in.

/// Written last into a finished environment; one without it is never reused.
pub const READY: &str = ".mlops-env-ready";
/// Which of our wheels are installed: one `<sha256> <file>` line each.
pub const WHEELS: &str = ".mlops-wheels";
/// Touched on every use: `gc` removes environments that no recent run used.
pub const USED: &str = ".mlops-env-used";
