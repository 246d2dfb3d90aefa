//! Helpers every layer uses: atomic file writes, paths, time, the records the tool writes
//! and reads back, the files the binary ships, finding programs, Ctrl-C, the one process
//! wrapper, diagnostics with their source, and branch naming.

pub mod atomic;
pub mod diagnostic;
pub mod interrupt;
pub mod naming;
pub mod paths;
pub mod process;
pub mod records;
pub mod templates;
pub mod time;
pub mod tools;
