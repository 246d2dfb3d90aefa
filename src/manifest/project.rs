//! The MLflow project folder as the user wrote it: its own MLproject, environment file and
//! cluster spec when it has them. The manifest fills in what the folder lacks; the folder's own
//! files win.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use crate::error::{Error, Result};
use crate::manifest::{EntryPoint, Manifest, ParamType, Parameter, display_path};
use crate::support::diagnostic::Diagnostic;

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

/// MLflow's "Databricks Spark job" project format (an MLproject with a
/// `databricks_spark_job` section, MLflow 2.14+), the migration Databricks documents for
/// MLflow Projects on Runtime 13.0 ML and newer
/// (https://docs.databricks.com/aws/en/mlflow/projects).
#[derive(Clone, Debug, Default)]
pub struct SparkJob {
    /// The file to run (then the project has no `entry_points`, and runs as `main`).
    pub python_file: Option<String>,
    /// Its fixed command-line arguments.
    pub parameters: Vec<String>,
    /// pip requirements; they join the environment's pip packages.
    pub python_libraries: Vec<String>,
}

/// The entry point name MLflow gives a `databricks_spark_job.python_file` project.
pub use crate::manifest::mlproject_file::SPARK_JOB_ENTRY;

#[derive(Clone, Debug)]
pub struct MlflowProject {
    pub dir: PathBuf,
    pub mlproject: Option<OwnFile<serde_yaml::Mapping>>,
    /// The MLproject's `databricks_spark_job` section, when it has one.
    pub spark_job: Option<SparkJob>,
    pub env: Env,
    pub cluster: Option<OwnFile<serde_json::Value>>,
    /// The MLproject's entry points, then the manifest's for names it does not define.
    pub entry_points: BTreeMap<String, EntryPoint>,
}

impl MlflowProject {
    pub fn load(manifest: &Manifest) -> Result<MlflowProject> {
        let dir = manifest.project.mlproject.clone();
        let mlproject = crate::manifest::mlproject_file::find(&dir)
            .map(|path| read_mlproject(&dir, &path))
            .transpose()?;
        if let Some(file) = &mlproject {
            one_environment(file)?;
        }
        let spark_job = match &mlproject {
            Some(file) => spark_job_of(file)?,
            None => None,
        };
        let env = match spark_job {
            // MLflow refuses an environment beside `databricks_spark_job` (checked in
            // `spark_job_of`); the environment comes from [environment] and
            // `python_libraries`.
            Some(_) => Env::Missing,
            None => env_of(&dir, mlproject.as_ref().map(|m| &m.value))?,
        };
        let cluster = read_cluster(&dir)?;
        let mut entry_points = match &mlproject {
            Some(file) => entry_points_of(file)?,
            None => BTreeMap::new(),
        };
        if let (Some(job), Some(file)) = (&spark_job, &mlproject) {
            spark_job_entry_points(job, file, manifest, &mut entry_points)?;
        }
        for (name, entry) in &manifest.entry_points {
            entry_points
                .entry(name.clone())
                .or_insert_with(|| entry.clone());
        }
        Ok(MlflowProject {
            dir,
            mlproject,
            spark_job,
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
            crate::support::diagnostic::suggestion(
                "entry points",
                name,
                self.entry_points.keys().map(String::as_str),
            ),
        ))
    }
}

/// MLflow takes one environment per project.
fn one_environment(file: &OwnFile<serde_yaml::Mapping>) -> Result<()> {
    let env_keys: Vec<&str> = ["conda_env", "python_env", "docker_env"]
        .into_iter()
        .filter(|k| file.value.contains_key(*k))
        .collect();
    if env_keys.len() <= 1 {
        return Ok(());
    }
    Err(Error::diagnostic(
        Diagnostic::whole_file(
            &display_path(&file.path),
            format!(
                "MLproject has several environments: {}",
                env_keys.join(", ")
            ),
        )
        .help("keep one of `conda_env` and `python_env`"),
    ))
}

/// The project's environment: the MLproject's key, else MLflow's own order without one
/// (python_env.yaml, then conda.yaml).
fn env_of(dir: &Path, map: Option<&serde_yaml::Mapping>) -> Result<Env> {
    let named = |key: &str| {
        map.and_then(|m| m.get(key))
            .and_then(|v| v.as_str())
            .map(str::to_string)
    };
    Ok(if map.is_some_and(|m| m.contains_key("docker_env")) {
        Env::Docker
    } else if let Some(name) = named("conda_env") {
        Env::Conda(read_yaml_file(dir, &name, "conda_env")?)
    } else if let Some(name) = named("python_env") {
        Env::Python(read_yaml_file(dir, &name, "python_env")?)
    } else if dir.join(PYTHON_ENV_FILE).is_file() {
        Env::Python(read_yaml_file(dir, PYTHON_ENV_FILE, "python_env")?)
    } else if dir.join(CONDA_FILE).is_file() {
        Env::Conda(read_yaml_file(dir, CONDA_FILE, "conda_env")?)
    } else {
        Env::Missing
    })
}

/// The project's own `cluster.json`, when it has one: a JSON object.
fn read_cluster(dir: &Path) -> Result<Option<OwnFile<serde_json::Value>>> {
    let path = dir.join(CLUSTER_FILE);
    if !path.is_file() {
        return Ok(None);
    }
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
    Ok(Some(OwnFile {
        name: CLUSTER_FILE.into(),
        path,
        value,
    }))
}

/// A Spark job project's entry points: none may take a `path` (MLflow refuses it), and a
/// `python_file` project runs as the one entry point [`SPARK_JOB_ENTRY`].
fn spark_job_entry_points(
    job: &SparkJob,
    file: &OwnFile<serde_yaml::Mapping>,
    manifest: &Manifest,
    entry_points: &mut BTreeMap<String, EntryPoint>,
) -> Result<()> {
    for (name, entry) in entry_points.iter() {
        if let Some((pname, _)) = entry
            .parameters
            .iter()
            .find(|(_, p)| p.ty == ParamType::Path)
        {
            return Err(whole_file_error(
                file,
                format!(
                    "parameter `{pname}` of entry point `{name}` is a `path`, which a Databricks Spark job project cannot have (MLflow refuses it)"
                ),
                "make it a `string` or a `uri`",
            ));
        }
    }
    let Some(python_file) = &job.python_file else {
        return Ok(());
    };
    if let Some(name) = manifest.entry_points.keys().next() {
        return Err(whole_file_error(
            file,
            format!(
                "MLproject's `databricks_spark_job.python_file` runs the project as one entry point, but mlops.toml declares `[entry_points.{name}]`"
            ),
            "MLflow allows `python_file` or entry points, not both: remove one",
        ));
    }
    let command = ["python", python_file.as_str()]
        .into_iter()
        .chain(job.parameters.iter().map(String::as_str))
        .map(crate::support::process::shell_quote)
        .collect::<Vec<_>>()
        .join(" ");
    entry_points.insert(
        SPARK_JOB_ENTRY.to_string(),
        EntryPoint {
            command,
            parameters: BTreeMap::new(),
        },
    );
    Ok(())
}

/// A problem of the MLproject as a whole, with its fix.
fn whole_file_error(file: &OwnFile<serde_yaml::Mapping>, message: String, help: &str) -> Error {
    Error::diagnostic(
        Diagnostic::whole_file(&display_path(&file.path), message).help(help.to_string()),
    )
}

/// MLflow accepts `MLproject` in any letter case.
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

/// The `databricks_spark_job` section, checked as MLflow's own loader checks it
/// (`mlflow/projects/_project_spec.py`).
fn spark_job_of(file: &OwnFile<serde_yaml::Mapping>) -> Result<Option<SparkJob>> {
    let Some(section) = file.value.get("databricks_spark_job") else {
        return Ok(None);
    };
    let bad = |message: String, help: &str| whole_file_error(file, message, help);
    let section = section.as_mapping().ok_or_else(|| {
        bad(
            "`databricks_spark_job` must be a mapping".into(),
            "give it `python_file`, `parameters` and `python_libraries`, or `entry_points` beside it",
        )
    })?;
    for key in section.keys() {
        let key = scalar_string(key).unwrap_or_default();
        if !matches!(
            key.as_str(),
            "python_file" | "parameters" | "python_libraries"
        ) {
            return Err(bad(
                format!("unknown key `databricks_spark_job.{key}`"),
                "MLflow reads `python_file`, `parameters` and `python_libraries` there",
            ));
        }
    }
    let python_file = match section.get("python_file") {
        None | Some(serde_yaml::Value::Null) => None,
        Some(v) => Some(scalar_string(v).ok_or_else(|| {
            bad(
                "`databricks_spark_job.python_file` must be a string".into(),
                "name the project's Python file, e.g. `python_file: train.py`",
            )
        })?),
    };
    if let Some((message, help)) = spark_job_shape_problem(&file.value, python_file.is_some()) {
        return Err(bad(message, help));
    }
    let strings = |key: &str| spark_job_strings(section, key).map_err(|(m, h)| bad(m, h));
    Ok(Some(SparkJob {
        python_file,
        parameters: strings("parameters")?,
        python_libraries: strings("python_libraries")?,
    }))
}

/// A Spark job project runs `python_file` or its entry points (one of the two), and has no
/// environment of its own.
fn spark_job_shape_problem(
    mlproject: &serde_yaml::Mapping,
    has_python_file: bool,
) -> Option<(String, &'static str)> {
    let has_entries = mlproject
        .get("entry_points")
        .and_then(|e| e.as_mapping())
        .is_some_and(|e| !e.is_empty());
    match (has_python_file, has_entries) {
        (false, false) => return Some((
            "a Databricks Spark job project needs `databricks_spark_job.python_file` or `entry_points`".into(),
            "add `python_file: train.py` under `databricks_spark_job`, or an `entry_points` section",
        )),
        (true, true) => return Some((
            "a Databricks Spark job project cannot have both `databricks_spark_job.python_file` and `entry_points`".into(),
            "keep one of them",
        )),
        _ => {}
    }
    ["conda_env", "python_env", "docker_env"]
        .into_iter()
        .find(|env| mlproject.contains_key(*env))
        .map(|env| (
            format!("a Databricks Spark job project cannot set `{env}` (MLflow refuses it)"),
            "remove it: list pip packages in `databricks_spark_job.python_libraries` or mlops.toml's [environment] pip",
        ))
}

/// A list of strings under `databricks_spark_job` (absent: empty).
fn spark_job_strings(
    section: &serde_yaml::Mapping,
    key: &str,
) -> std::result::Result<Vec<String>, (String, &'static str)> {
    match section.get(key) {
        None | Some(serde_yaml::Value::Null) => Ok(Vec::new()),
        Some(serde_yaml::Value::Sequence(items)) => items
            .iter()
            .map(|v| {
                scalar_string(v).ok_or_else(|| {
                    (
                        format!("`databricks_spark_job.{key}` must be a list of strings"),
                        "write each item as a string",
                    )
                })
            })
            .collect(),
        Some(_) => Err((
            format!("`databricks_spark_job.{key}` must be a list"),
            "write it as a YAML list",
        )),
    }
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
