//! Everything the tool shows goes through here, so `--quiet`, `--verbose`, `--json` and colour
//! behave the same in every command.
//!
//! Status lines, warnings and errors go to stderr (cargo's `   Compiling x` style); results go
//! to stdout, as text or, with `--json`, as one JSON document.

mod channel;
pub mod ci;
mod progress;

pub use channel::{ColorChoice, Group, Output, Verbosity, human_bytes};
pub use progress::Progress;
