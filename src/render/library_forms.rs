//! What the Jobs API promises for the packages a run installs, checked before anything is
//! uploaded. A cluster's `pypi` library takes "the name of the pypi package to install. An
//! optional exact version specification is also supported" (Jobs API
//! `PythonPyPiLibrary.package`; databricks-sdk-py `service/compute.py`), so a range or a marker
//! there is warned about. A serverless environment's `dependencies` are pip requirement lines:
//! "a requirement specifier, an archive URL, a local project path (such as WSFS or UC
//! Volumes), or a VCS project URL" (`EnvironmentSpec.dependencies`), so a DBFS path, which
//! serverless cannot read, is refused.

use crate::error::{Error, Result};
use crate::manifest::Manifest;
use crate::manifest::project::{Env, MlflowProject};
use crate::plan::Plan;

/// The pip lines the environment file (or `[environment] pip`) gives, with where they come
/// from; our own wheel files are left out (they are replaced by the built ones).
fn env_pip(manifest: &Manifest, project: &MlflowProject) -> (String, Vec<String>) {
    match &project.env {
        Env::Conda(file) | Env::Python(file) => {
            let text = serde_yaml::to_string(&file.value).unwrap_or_default();
            (
                crate::manifest::display_path(&file.path)
                    .display()
                    .to_string(),
                crate::environment::requirements::pip_lines(&file.name, &text),
            )
        }
        _ => (
            format!("{} [environment] pip", manifest.display_path.display()),
            manifest.environment.pip.clone(),
        ),
    }
}

/// A name (with extras) and at most an exact `==` version: what `pypi.package` promises.
fn is_name_or_pin(req: &str) -> bool {
    let req = req.trim();
    let (name, version) = match req.split_once("==") {
        Some((n, v)) => (n.trim(), Some(v.trim())),
        None => (req, None),
    };
    let name = name.split_once('[').map_or(
        name,
        |(n, extras)| {
            if extras.ends_with(']') { n } else { "" }
        },
    );
    !name.is_empty()
        && name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.'))
        && version.is_none_or(|v| {
            !v.is_empty()
                && v.chars()
                    .all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '+' | '!' | '-' | '_'))
        })
}

/// Warnings for a cluster task's `pypi` libraries.
pub(super) fn cluster_warnings(
    plan: &Plan,
    manifest: &Manifest,
    project: &MlflowProject,
) -> Vec<String> {
    let (from, pip) = env_pip(manifest, project);
    let mut out = Vec::new();
    let cluster_pypi = manifest.cluster_for(&plan.target).pypi.iter().map(|p| {
        (
            format!("{} [cluster] pypi", manifest.display_path.display()),
            p.clone(),
        )
    });
    let own_pypi = project.cluster.iter().flat_map(|c| {
        c.value["libraries"]
            .as_array()
            .into_iter()
            .flatten()
            .filter_map(|l| l["pypi"]["package"].as_str())
            .filter(|p| !p.trim_end().ends_with(".whl") && !p.starts_with('/'))
            .map(|p| {
                (
                    crate::manifest::display_path(&c.path).display().to_string(),
                    p.to_string(),
                )
            })
            .collect::<Vec<_>>()
    });
    let env = pip
        .iter()
        .filter(|p| !p.trim_end().ends_with(".whl"))
        .map(|p| (from.clone(), p.clone()));
    for (file, req) in env.chain(cluster_pypi).chain(own_pypi) {
        if req.trim_start().starts_with('-') {
            out.push(format!(
                "{file}: `{req}` is a pip option, which no job library carries: it is left out on the cluster; list the packages instead"
            ));
        } else if !is_name_or_pin(&req) {
            out.push(format!(
                "{file}: `{req}` becomes a `pypi` job library, whose package the Jobs API documents as a name with an optional exact version (`name==1.2.3`); pin it to be sure the cluster installs it as written"
            ));
        }
    }
    out
}

/// A serverless environment cannot read DBFS: refused with the line that names it.
pub(super) fn serverless_check(
    plan: &Plan,
    manifest: &Manifest,
    project: &MlflowProject,
) -> Result<()> {
    let (from, pip) = env_pip(manifest, project);
    // A path to one of our own wheels is replaced by the built wheel's volume path.
    let ours = crate::build::backend::distributions(&plan.wheels);
    let is_ours = |p: &str| {
        crate::build::backend::wheel_distribution(p)
            .is_some_and(|d| ours.iter().any(|(o, _)| *o == d))
    };
    match pip.iter().find(|p| {
        (p.trim().starts_with("/dbfs/") || p.trim().starts_with("dbfs:/")) && !is_ours(p)
    }) {
        Some(p) => Err(Error::usage(format!(
            "{from}: `{p}` is on DBFS, which serverless target `{}` cannot read",
            plan.target
        ))
        .with_help("put it in a Unity Catalog volume (`/Volumes/...`) or a workspace file (`/Workspace/...`), or build it as a [[wheel]]")),
        None => Ok(()),
    }
}

#[cfg(test)]
mod tests {
    use super::is_name_or_pin;

    #[test]
    fn names_and_exact_pins_are_what_pypi_libraries_promise() {
        for ok in [
            "mlflow",
            "scikit-learn==1.5.2",
            "requests[socks]",
            "a.b_c==1!2.0+local",
        ] {
            assert!(is_name_or_pin(ok), "{ok}");
        }
        for not in [
            "pandas>=2",
            "tomli; python_version < \"3.11\"",
            "x~=1.0",
            "git+https://github.com/a/b",
            "",
            "a==",
        ] {
            assert!(!is_name_or_pin(not), "{not}");
        }
    }
}
