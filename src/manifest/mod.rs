//! `mlops.toml`: finding it, parsing it, validating it, and the resolved model every later
//! stage reads. Parsing is strict (`deny_unknown_fields`) and every error points into the file.

mod ctx;
pub mod defaults;
mod entry_points;
pub mod jobs;
mod load;
pub mod mlproject_file;
mod model;
mod placeholders;
pub mod project;
mod raw;
pub mod release;
mod resolve;
pub mod serving;
mod targets;

pub use crate::support::diagnostic::{Diagnostic, closest, quote_list, suggestion};
pub use crate::support::paths::{absolute, display_path, normalize};
pub use defaults::{MANIFEST_FILE, STATE_DIR};
pub use load::{find, load, parse};
pub use model::*;
pub use placeholders::{NAMES as PLACEHOLDERS, Template};

/// The JSON Schema of `mlops.toml`, generated from the types it is parsed into (editors use
/// the committed `mlops.schema.json` for completion and checks).
pub fn schema() -> serde_json::Value {
    let mut schema =
        serde_json::to_value(schemars::schema_for!(raw::RawManifest)).expect("schemas serialize");
    schema["title"] = "mlops.toml".into();
    // TOML has no null: a missing table is the only way to leave one out, and [project] is
    // required.
    schema["required"] = serde_json::json!(["project"]);
    schema["description"] =
        "cargo-mlops manifest: the project, its wheels, environment, cluster, entry points and targets"
            .into();
    schema
}

#[cfg(test)]
mod tests;
