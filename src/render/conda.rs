//! The environment file: the project's own conda or `python_env` file with the wheels put
//! in, or a conda file generated from `[environment]`.

use serde_yaml::{Mapping, Value as Yaml};

use super::placeholder;
use super::text::{mapping, yaml_text};
use super::wheels::WheelRef;
use crate::error::{Error, Result};
use crate::manifest::project::{self, Env, MlflowProject, OwnFile};
use crate::manifest::{Environment, Install, Manifest};
use crate::plan::Plan;
use crate::support::templates;

/// The environment file: the project's own with the wheels put in, or one generated from
/// `[environment]`. Returns its name and text.
pub(super) fn render_env(
    plan: &Plan,
    manifest: &Manifest,
    project: &MlflowProject,
    wheels: &[WheelRef],
) -> Result<(String, String)> {
    // Environment files are read by pip: every placeholder takes the form pip reads.
    let env_path = |_: &[String], i: usize| wheels[i].env_path.clone();
    let driver: Vec<String> = wheels
        .iter()
        .filter(|w| w.install == Install::Driver)
        .map(|w| w.env_path.clone())
        .collect();
    let placeholder_error = |file: &OwnFile<Yaml>, why: String| {
        Error::usage(format!(
            "{}: {why}",
            crate::manifest::display_path(&file.path).display()
        ))
        .with_help("put the WHEELPATH placeholder in a list, such as the conda `pip:` list")
    };
    let ours = super::wheels::distributions(wheels);
    match &project.env {
        Env::Conda(file) => {
            let mut value = file.value.clone();
            placeholder::mark_known_wheels(&mut value, &ours);
            if placeholder::contains(&value) {
                placeholder::substitute(&mut value, wheels.len(), &env_path)
                    .map_err(|e| placeholder_error(file, e))?;
            } else {
                append_conda_pip(&mut value, &driver);
            }
            Ok((file.name.clone(), yaml_text(&value)?))
        }
        Env::Python(file) => {
            let mut value = file.value.clone();
            placeholder::mark_known_wheels(&mut value, &ours);
            if placeholder::contains(&value) {
                placeholder::substitute(&mut value, wheels.len(), &env_path)
                    .map_err(|e| placeholder_error(file, e))?;
            } else if !driver.is_empty() {
                let map = mapping(&mut value);
                let deps = map
                    .entry(Yaml::from("dependencies"))
                    .or_insert_with(|| Yaml::Sequence(Vec::new()));
                if let Some(seq) = deps.as_sequence_mut() {
                    seq.extend(driver.iter().map(|p| Yaml::from(p.as_str())));
                }
            }
            Ok((file.name.clone(), yaml_text(&value)?))
        }
        Env::Missing | Env::Docker => {
            let libraries = project
                .spark_job
                .as_ref()
                .map_or(&[][..], |j| &j.python_libraries[..]);
            let value = generated_conda(&plan.project, &manifest.environment, libraries, &driver)?;
            Ok((project::CONDA_FILE.to_string(), yaml_text(&value)?))
        }
    }
}

/// The conda file from the built-in template and `[environment]`; `libraries` (a Databricks
/// Spark job's `python_libraries`) join its pip packages.
fn generated_conda(
    name: &str,
    env: &Environment,
    libraries: &[String],
    driver_wheels: &[String],
) -> Result<Yaml> {
    let mut value: Yaml = serde_yaml::from_str(templates::CONDA)
        .map_err(|e| Error::usage(format!("templates/conda.yaml: {e}")))?;
    let map = mapping(&mut value);
    map.insert("name".into(), name.into());
    let mut deps: Vec<Yaml> = vec![Yaml::from(format!("python={}", env.python))];
    deps.extend(env.conda.iter().map(|c| Yaml::from(c.as_str())));
    deps.push("pip".into());
    let mut pip: Vec<Yaml> = env
        .pip
        .iter()
        .chain(libraries.iter().filter(|l| !env.pip.contains(l)))
        .map(|p| Yaml::from(p.as_str()))
        .collect();
    pip.extend(driver_wheels.iter().map(|p| Yaml::from(p.as_str())));
    let mut pip_map = Mapping::new();
    pip_map.insert("pip".into(), Yaml::Sequence(pip));
    deps.push(Yaml::Mapping(pip_map));
    map.insert("dependencies".into(), Yaml::Sequence(deps));
    Ok(value)
}

/// Appends `paths` to the conda file's `pip:` list, creating `pip` and the list if needed.
fn append_conda_pip(value: &mut Yaml, paths: &[String]) {
    if paths.is_empty() {
        return;
    }
    let map = mapping(value);
    let deps = map
        .entry(Yaml::from("dependencies"))
        .or_insert_with(|| Yaml::Sequence(Vec::new()));
    if !deps.is_sequence() {
        *deps = Yaml::Sequence(Vec::new());
    }
    let seq = deps.as_sequence_mut().expect("made a sequence above");
    let wheels = paths.iter().map(|p| Yaml::from(p.as_str()));
    if let Some(list) = seq
        .iter_mut()
        .find_map(|d| d.get_mut("pip").and_then(|p| p.as_sequence_mut()))
    {
        list.extend(wheels);
        return;
    }
    if !seq.iter().any(|d| {
        d.as_str()
            .is_some_and(|s| s == "pip" || s.starts_with("pip="))
    }) {
        seq.push("pip".into());
    }
    let mut pip = Mapping::new();
    pip.insert("pip".into(), Yaml::Sequence(wheels.collect()));
    seq.push(Yaml::Mapping(pip));
}
