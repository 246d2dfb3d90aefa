//! The render stage: the MLflow project exactly as it will run, with every wheel reference
//! pointing at the wheel's content-addressed location. YAML and JSON are parsed, changed as
//! data and written back; nothing is pasted into text.

mod cluster;
mod conda;
mod library_forms;
mod mlproject;
mod out_dir;
pub mod placeholder;
mod rendered;
pub mod runtimes;
pub mod tarball;
mod text;
mod validate;
mod wheels;

use std::path::{Path, PathBuf};

use crate::build::BuiltWheel;
use crate::build::inputs;
use crate::error::Result;
use crate::manifest::Manifest;
use crate::manifest::project::{self, MlflowProject};
use crate::plan::Plan;
use crate::support::templates;

pub use cluster::compute_only;
pub use rendered::Rendered;
pub use runtimes::parse_runtime;
pub use validate::{
    DBFS_LIBRARIES_OFF_FROM, DBFS_LIBRARY_OPT_IN, VOLUMES_FROM, opts_in_to_dbfs_libraries,
    runtime_of, validate,
};
pub use wheels::{WheelRef, env_form, wheel_refs};

/// The file the launcher is rendered to (a name a project's own code is unlikely to use).
pub const LAUNCHER_FILE: &str = "mlops_launcher.py";

/// Renders the project into `out`, replacing an earlier render there. `out` must be empty,
/// missing, or an earlier render.
pub fn render(
    plan: &Plan,
    manifest: &Manifest,
    project: &MlflowProject,
    wheels: &[BuiltWheel],
    out: &Path,
) -> Result<Rendered> {
    validate(plan, manifest, project)?;
    let refs = wheel_refs(plan, wheels);
    let (env_file, env_text) = conda::render_env(plan, manifest, project, &refs)?;
    let mlproject = mlproject::render_mlproject(plan, project, &env_file)?;
    let cluster = cluster::render_cluster(plan, manifest, project, &refs)?;

    let mut generated: Vec<(String, String)> = vec![
        (mlproject::mlproject_name(project), mlproject),
        (env_file.clone(), env_text),
        (project::CLUSTER_FILE.to_string(), cluster),
        (LAUNCHER_FILE.to_string(), templates::LAUNCHER.to_string()),
    ];
    generated.sort();
    let own = inputs::walk(&project.dir, &["mlruns"])?;
    // With `mlproject = "."` the manifest sits in the project folder: it is our input, not
    // the project's, and the job never reads it.
    let copied: Vec<PathBuf> = own
        .into_iter()
        .filter(|rel| !generated.iter().any(|(name, _)| Path::new(name) == rel))
        .filter(|rel| project.dir.join(rel) != manifest.path)
        .collect();

    let staging = out_dir::prepare_out(out)?;
    for rel in &copied {
        let dest = staging.join(rel);
        if let Some(parent) = dest.parent() {
            fs_err::create_dir_all(parent)?;
        }
        fs_err::copy(project.dir.join(rel), dest)?;
    }
    for (name, text) in &generated {
        fs_err::write(staging.join(name), text)?;
    }
    fs_err::write(
        staging.join(out_dir::MARKER),
        "written by cargo mlops render\n",
    )?;
    out_dir::finish_out(&staging, out)?;

    let mut files: Vec<PathBuf> = copied;
    files.extend(generated.iter().map(|(n, _)| PathBuf::from(n)));
    files.sort();
    Ok(Rendered {
        dir: out.to_path_buf(),
        files,
        wheels: refs,
        env_file,
    })
}

#[cfg(test)]
mod tests;
