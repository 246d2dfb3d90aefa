//! The MLflow project folder as the user wrote it: its own MLproject, environment file and
//! cluster spec when it has them. The manifest fills in what the folder lacks; the folder's own
//! files win.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use crate::error::{Error, Result};
use crate::manifest::{Diagnostic, EntryPoint, Manifest, ParamType, Parameter, display_path};

/// The file names MLflow and we look for.
pub const MLPROJECT: &str = "MLproject";
pub const CONDA_FILE: &str = "conda.yaml";
pub const PYTHON_ENV_FILE: &str = "python_env.yaml";
pub const CLUSTER_FILE: &str = "cluster.json";

/// A file of the project, parsed.
#[derive(Clone, Debug)]
pub struct OwnFile<T> {
    /// Its name relative to the project folder (what MLproject refers to).
    pub name: String,
    pub path: PathBuf,
    pub value: T,
}

/// How the project describes its environment.
#[derive(Clone, Debug)]
pub enum Env {
    /// A conda environment file (`conda_env:` or a `conda.yaml` beside the code).
    Conda(OwnFile<serde_yaml::Value>),
    /// An MLflow `python_env` file (virtualenv).
    Python(OwnFile<serde_yaml::Value>),
    /// A `docker_env`: not supported, wheels cannot be installed into an image here.
    Docker,
    /// No environment file: one is generated from `[environment]`.
    Missing,
}

#[derive(Clone, Debug)]
pub struct MlflowProject {
    pub dir: PathBuf,
    pub mlproject: Option<OwnFile<serde_yaml::Mapping>>,
    pub env: Env,
    pub cluster: Option<OwnFile<serde_json::Value>>,
    /// The MLproject's entry points, then the manifest's for names it does not define.
    pub entry_points: BTreeMap<String, EntryPoint>,
}

impl MlflowProject {
    pub fn load(manifest: &Manifest) -> Result<MlflowProject> {
        let dir = manifest.project.mlproject.clone();
        let mlproject = find_mlproject(&dir)
            .map(|path| read_mlproject(&dir, &path))
            .transpose()?;
        let map = mlproject.as_ref().map(|m| &m.value);
        let env_keys: Vec<&str> = ["conda_env", "python_env", "docker_env"]
            .into_iter()
            .filter(|k| map.is_some_and(|m| m.contains_key(*k)))
            .collect();
        if env_keys.len() > 1 {
            let file = mlproject.as_ref().expect("keys came from it");
            return Err(Error::diagnostic(
                Diagnostic::whole_file(
                    &display_path(&file.path),
                    format!(
                        "MLproject has several environments: {}",
                        env_keys.join(", ")
                    ),
                )
                .help("keep one of `conda_env` and `python_env`"),
            ));
        }
        let named = |key: &str| {
            map.and_then(|m| m.get(key))
                .and_then(|v| v.as_str())
                .map(str::to_string)
        };
        let env = if map.is_some_and(|m| m.contains_key("docker_env")) {
            Env::Docker
        } else if let Some(name) = named("conda_env") {
            Env::Conda(read_yaml_file(&dir, &name, "conda_env")?)
        } else if let Some(name) = named("python_env") {
            Env::Python(read_yaml_file(&dir, &name, "python_env")?)
        } else if dir.join(PYTHON_ENV_FILE).is_file() {
            // MLflow's own order without an env key: python_env.yaml, then conda.yaml.
            Env::Python(read_yaml_file(&dir, PYTHON_ENV_FILE, "python_env")?)
        } else if dir.join(CONDA_FILE).is_file() {
            Env::Conda(read_yaml_file(&dir, CONDA_FILE, "conda_env")?)
        } else {
            Env::Missing
        };
        let cluster = if dir.join(CLUSTER_FILE).is_file() {
            let path = dir.join(CLUSTER_FILE);
            let text = fs_err::read_to_string(&path)?;
            let value: serde_json::Value = serde_json::from_str(&text).map_err(|e| {
                let offset = offset_of(&text, e.line(), e.column());
                Error::diagnostic(
                    Diagnostic::at(
                        &display_path(&path),
                        &text,
                        offset..offset + 1,
                        e.to_string(),
                    )
                    .help("fix the JSON of the cluster spec"),
                )
            })?;
            if !value.is_object() {
                return Err(Error::usage(format!(
                    "{}: a cluster spec must be a JSON object",
                    display_path(&path).display()
                )));
            }
            Some(OwnFile {
                name: CLUSTER_FILE.into(),
                path,
                value,
            })
        } else {
            None
        };
        let mut entry_points = match &mlproject {
            Some(file) => entry_points_of(file)?,
            None => BTreeMap::new(),
        };
        for (name, entry) in &manifest.entry_points {
            entry_points
                .entry(name.clone())
                .or_insert_with(|| entry.clone());
        }
        Ok(MlflowProject {
            dir,
            mlproject,
            env,
            cluster,
            entry_points,
        })
    }

    /// The entry point called `name`; MLflow also runs a `.py` or `.sh` file of the project by
    /// its name, with no parameters.
    pub fn entry_point(&self, name: &str) -> Result<EntryPoint> {
        if let Some(entry) = self.entry_points.get(name) {
            return Ok(entry.clone());
        }
        let runner = match Path::new(name).extension().and_then(|e| e.to_str()) {
            Some("py") => Some("python"),
            Some("sh") => Some("bash"),
            _ => None,
        };
        if let Some(runner) = runner {
            if self.dir.join(name).is_file() {
                return Ok(EntryPoint {
                    command: format!("{runner} {name}"),
                    parameters: BTreeMap::new(),
                });
            }
        }
        Err(Error::usage(format!(
            "unknown entry point `{name}` (entry points come from MLproject's `entry_points` and mlops.toml's `[entry_points.NAME]`)"
        ))
        .with_help(
            crate::manifest::suggestion(
                "entry points",
                name,
                self.entry_points.keys().map(String::as_str),
            ),
        ))
    }
}

/// MLflow accepts `MLproject` in any letter case.
fn find_mlproject(dir: &Path) -> Option<PathBuf> {
    let entries = fs_err::read_dir(dir).ok()?;
    let mut found: Vec<PathBuf> = entries
        .filter_map(|e| e.ok())
        .filter(|e| e.file_name().to_string_lossy().to_lowercase() == "mlproject")
        .map(|e| e.path())
        .filter(|p| p.is_file())
        .collect();
    found.sort();
    found.into_iter().next()
}

fn read_mlproject(dir: &Path, path: &Path) -> Result<OwnFile<serde_yaml::Mapping>> {
    let file = read_yaml_file(
        dir,
        &path.file_name().unwrap().to_string_lossy(),
        "MLproject",
    )?;
    let map = match file.value {
        serde_yaml::Value::Mapping(m) => m,
        serde_yaml::Value::Null => serde_yaml::Mapping::new(),
        _ => {
            return Err(Error::diagnostic(
                Diagnostic::whole_file(&display_path(path), "MLproject must be a YAML mapping")
                    .help("see https://mlflow.org/docs/latest/projects.html#mlproject-file"),
            ));
        }
    };
    Ok(OwnFile {
        name: file.name,
        path: file.path,
        value: map,
    })
}

fn read_yaml_file(dir: &Path, name: &str, what: &str) -> Result<OwnFile<serde_yaml::Value>> {
    let path = dir.join(name);
    let text = fs_err::read_to_string(&path).map_err(|e| {
        Error::usage(format!("the {what} file `{name}` cannot be read: {e}"))
            .with_help("create it, or fix the name in MLproject")
    })?;
    let value: serde_yaml::Value = serde_yaml::from_str(&text).map_err(|e| {
        let offset = e.location().map_or(0, |l| l.index());
        Error::diagnostic(
            Diagnostic::at(
                &display_path(&path),
                &text,
                offset..offset + 1,
                e.to_string(),
            )
            .help(format!("fix the YAML of the {what} file")),
        )
    })?;
    Ok(OwnFile {
        name: name.to_string(),
        path,
        value,
    })
}

fn entry_points_of(file: &OwnFile<serde_yaml::Mapping>) -> Result<BTreeMap<String, EntryPoint>> {
    let shown = display_path(&file.path);
    let bad = |message: String| {
        Error::diagnostic(
            Diagnostic::whole_file(&shown, message)
                .help("see https://mlflow.org/docs/latest/projects.html#specifying-parameters"),
        )
    };
    let mut out = BTreeMap::new();
    let Some(entries) = file.value.get("entry_points") else {
        return Ok(out);
    };
    let entries = entries
        .as_mapping()
        .ok_or_else(|| bad("`entry_points` must be a mapping of names to entry points".into()))?;
    for (name, entry) in entries {
        let name =
            scalar_string(name).ok_or_else(|| bad("an entry point name is not a string".into()))?;
        let command = entry
            .get("command")
            .and_then(|c| c.as_str())
            .ok_or_else(|| bad(format!("entry point `{name}` has no `command` string")))?
            .to_string();
        let mut parameters = BTreeMap::new();
        if let Some(params) = entry.get("parameters") {
            let params = params.as_mapping().ok_or_else(|| {
                bad(format!(
                    "`entry_points.{name}.parameters` must be a mapping"
                ))
            })?;
            for (pname, spec) in params {
                let pname = scalar_string(pname)
                    .ok_or_else(|| bad(format!("a parameter name of `{name}` is not a string")))?;
                let (ty, default) = match spec {
                    serde_yaml::Value::String(ty) => (ty.clone(), None),
                    serde_yaml::Value::Mapping(m) => (
                        m.get("type")
                            .and_then(|t| t.as_str())
                            .unwrap_or("string")
                            .to_string(),
                        m.get("default").and_then(scalar_string),
                    ),
                    _ => {
                        return Err(bad(format!(
                            "parameter `{pname}` of `{name}` must be a type name or a mapping with `type` and `default`"
                        )));
                    }
                };
                parameters.insert(
                    pname,
                    Parameter {
                        ty: param_type(&ty),
                        default,
                    },
                );
            }
        }
        out.insert(
            name,
            EntryPoint {
                command,
                parameters,
            },
        );
    }
    Ok(out)
}

/// MLflow gives meaning only to `path` and `uri`; other names are checked as we know them
/// and anything unknown is treated as a string, as MLflow does.
fn param_type(name: &str) -> ParamType {
    match name {
        "float" | "double" | "number" => ParamType::Float,
        "int" | "integer" => ParamType::Int,
        "path" => ParamType::Path,
        "uri" => ParamType::Uri,
        _ => ParamType::String,
    }
}

fn scalar_string(v: &serde_yaml::Value) -> Option<String> {
    match v {
        serde_yaml::Value::String(s) => Some(s.clone()),
        serde_yaml::Value::Number(n) => Some(n.to_string()),
        serde_yaml::Value::Bool(b) => Some(b.to_string()),
        _ => None,
    }
}

/// Byte offset of a 1-based line and column.
fn offset_of(text: &str, line: usize, column: usize) -> usize {
    let start: usize = text
        .split_inclusive('\n')
        .take(line.saturating_sub(1))
        .map(str::len)
        .sum();
    (start + column.saturating_sub(1)).min(text.len())
}
