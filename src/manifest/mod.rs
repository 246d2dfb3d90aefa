//! `mlops.toml`: finding it, parsing it, validating it, and the resolved model every later
//! stage reads. Parsing is strict (`deny_unknown_fields`) and every error points into the file.

mod defaults;
mod diagnostic;
mod placeholders;
mod raw;

use std::collections::BTreeMap;
use std::fmt;
use std::ops::Range;
use std::path::{Component, Path, PathBuf};

use serde::{Deserialize, Serialize};
use toml::Spanned;

pub use defaults::{MANIFEST_FILE, STATE_DIR};
pub use diagnostic::{Diagnostic, closest, quote_list, suggestion};
pub use placeholders::{NAMES as PLACEHOLDERS, Template};

use crate::error::{Error, Result};
use raw::RawManifest;

/// A validated `mlops.toml` with every default filled in.
#[derive(Clone, Debug)]
pub struct Manifest {
    /// Absolute path of the manifest file.
    pub path: PathBuf,
    /// The folder holding the manifest; relative paths in it are relative to this folder.
    pub root: PathBuf,
    /// How the path is shown in messages (relative to the current directory when below it).
    pub display_path: PathBuf,
    pub project: Project,
    pub wheels: Vec<WheelSpec>,
    pub environment: Environment,
    pub cluster: Cluster,
    pub entry_points: BTreeMap<String, EntryPoint>,
    pub targets: BTreeMap<String, Target>,
    pub hooks: Hooks,
    source: String,
    mlproject_span: Option<Range<usize>>,
}

#[derive(Clone, Debug, Serialize)]
pub struct Project {
    pub name: String,
    /// Absolute path of the MLflow project folder.
    pub mlproject: PathBuf,
}

#[derive(Clone, Debug, Serialize)]
pub struct WheelSpec {
    /// Absolute path of the package folder (the one holding `pyproject.toml`).
    pub path: PathBuf,
    /// The path as written in the manifest.
    pub declared: String,
    pub install: Install,
    #[serde(skip)]
    span: Range<usize>,
}

/// Where a wheel is installed on Databricks.
#[derive(
    Clone, Copy, Debug, Default, PartialEq, Eq, Deserialize, Serialize, schemars::JsonSchema,
)]
#[serde(rename_all = "lowercase")]
pub enum Install {
    /// Into the driver's project environment (conda `pip:` list).
    #[default]
    Driver,
    /// On every node, as a cluster library.
    Cluster,
}

impl fmt::Display for Install {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Install::Driver => "driver",
            Install::Cluster => "cluster",
        })
    }
}

#[derive(Clone, Debug, Serialize)]
pub struct Environment {
    pub python: String,
    pub conda: Vec<String>,
    pub pip: Vec<String>,
}

#[derive(Clone, Debug, Serialize)]
pub struct Cluster {
    pub spark_version: String,
    pub node_type_id: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub driver_node_type_id: Option<String>,
    pub workers: Workers,
    pub spark_conf: BTreeMap<String, String>,
    pub spark_env_vars: BTreeMap<String, String>,
    pub custom_tags: BTreeMap<String, String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub policy_id: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub data_security_mode: Option<String>,
    pub pypi: Vec<String>,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Workers {
    Fixed(u32),
    Autoscale { min_workers: u32, max_workers: u32 },
}

#[derive(Clone, Debug, Serialize)]
pub struct EntryPoint {
    pub command: String,
    pub parameters: BTreeMap<String, Parameter>,
}

#[derive(Clone, Debug, Serialize)]
pub struct Parameter {
    #[serde(rename = "type")]
    pub ty: ParamType,
    /// The default as MLflow will see it on the command line; `None` makes it required.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub default: Option<String>,
}

/// MLflow project parameter types.
#[derive(
    Clone, Copy, Debug, Default, PartialEq, Eq, Deserialize, Serialize, schemars::JsonSchema,
)]
#[serde(rename_all = "lowercase")]
pub enum ParamType {
    #[default]
    String,
    Float,
    Int,
    Path,
    Uri,
}

impl fmt::Display for ParamType {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            ParamType::String => "string",
            ParamType::Float => "float",
            ParamType::Int => "int",
            ParamType::Path => "path",
            ParamType::Uri => "uri",
        })
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Deserialize, Serialize, schemars::JsonSchema)]
#[serde(rename_all = "lowercase")]
pub enum TargetKind {
    Local,
    Databricks,
}

impl fmt::Display for TargetKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            TargetKind::Local => "local",
            TargetKind::Databricks => "databricks",
        })
    }
}

/// What the pre-push hook does for each pushed branch.
#[derive(
    Clone, Copy, Debug, Default, PartialEq, Eq, Deserialize, Serialize, schemars::JsonSchema,
)]
#[serde(rename_all = "lowercase")]
pub enum HookAction {
    /// Validate, build and render into a temporary folder (the default).
    #[default]
    Check,
    /// Deploy to `[hooks] target`.
    Deploy,
    /// Do nothing.
    Off,
}

/// `[hooks]`.
#[derive(Clone, Debug, Default, Serialize)]
pub struct Hooks {
    pub pre_push: HookAction,
    /// The target `deploy` publishes to.
    pub target: Option<String>,
}

/// How an entry point's environment is made. On Databricks only `local` (the platform's own
/// Python, with the environment installed as job libraries or serverless dependencies) can
/// work: the other values are parsed so that an old manifest gets an error that says why.
#[derive(
    Clone, Copy, Debug, Default, PartialEq, Eq, Deserialize, Serialize, schemars::JsonSchema,
)]
#[serde(rename_all = "lowercase")]
pub enum EnvManager {
    /// The task's own Python: the environment's pip packages and every wheel are installed
    /// by the platform (the default, and the only value Databricks targets accept).
    #[default]
    Local,
    /// Refused on Databricks: `mlflow run` cannot run inside a job cluster from Runtime 13.0 ML.
    Conda,
    Virtualenv,
    Uv,
}

/// `compute` of a Databricks target, as written.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Deserialize, Serialize, schemars::JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum ComputeKind {
    /// A new job cluster from the rendered cluster.json (the default), or the target's
    /// `cluster_id`.
    JobCluster,
    /// Serverless compute: no cluster and no libraries; dependencies come from the run's
    /// environment.
    Serverless,
}

/// Where a Databricks job runs, resolved from `compute`, `cluster_id` and
/// `environment_version`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum Compute {
    /// A new cluster made for the run from the rendered cluster.json.
    JobCluster,
    /// An existing, all-purpose cluster (`existing_cluster_id`).
    ExistingCluster { cluster_id: String },
    /// Serverless compute on this environment version.
    Serverless { environment_version: String },
}

impl Compute {
    pub fn is_serverless(&self) -> bool {
        matches!(self, Compute::Serverless { .. })
    }

    pub fn cluster_id(&self) -> Option<&str> {
        match self {
            Compute::ExistingCluster { cluster_id } => Some(cluster_id),
            _ => None,
        }
    }
}

impl fmt::Display for Compute {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Compute::JobCluster => f.write_str("a new job cluster"),
            Compute::ExistingCluster { cluster_id } => {
                write!(f, "the existing cluster {cluster_id}")
            }
            Compute::Serverless {
                environment_version,
            } => write!(f, "serverless (environment version {environment_version})"),
        }
    }
}

impl fmt::Display for EnvManager {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            EnvManager::Local => "local",
            EnvManager::Conda => "conda",
            EnvManager::Virtualenv => "virtualenv",
            EnvManager::Uv => "uv",
        })
    }
}

#[derive(Clone, Debug)]
pub struct Target {
    pub name: String,
    pub kind: TargetKind,
    pub host: Option<String>,
    pub profile: Option<String>,
    pub artifacts: Template,
    pub experiment: Template,
    /// Databricks only: where the job runs.
    pub compute: Compute,
    /// Databricks only: always `local` (anything else is refused when parsing).
    pub env_manager: EnvManager,
    /// Databricks only: the `mlflow` version installed on the job cluster (default: latest).
    pub mlflow_version: Option<String>,
    /// True for the `local` target the manifest did not declare.
    pub builtin: bool,
}

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

/// Finds `mlops.toml` in `start` or the nearest folder above it, as cargo finds Cargo.toml.
pub fn find(start: &Path) -> Result<PathBuf> {
    for dir in start.ancestors() {
        let candidate = dir.join(MANIFEST_FILE);
        if candidate.is_file() {
            return Ok(candidate);
        }
    }
    Err(Error::usage(format!(
        "could not find `{MANIFEST_FILE}` in `{}` or any parent folder",
        start.display()
    ))
    .with_help("run `cargo mlops init` to create one, or pass `--manifest-path PATH/mlops.toml`"))
}

/// Reads, parses and validates the manifest at `path`, including the paths it names.
pub fn load(path: &Path) -> Result<Manifest> {
    let source = fs_err::read_to_string(path).map_err(|e| {
        Error::usage(format!("cannot read manifest: {e}"))
            .with_help("pass `--manifest-path` with the path of an existing mlops.toml")
    })?;
    let manifest = parse(path, &source)?;
    manifest.check_paths()?;
    Ok(manifest)
}

/// Parses and validates manifest text; `path` says where it lives (for relative paths and
/// messages). Does not touch the file system.
pub fn parse(path: &Path, source: &str) -> Result<Manifest> {
    let path = absolute(path);
    let display_path = display_path(&path);
    let root = path.parent().map(Path::to_path_buf).unwrap_or_default();
    let ctx = Ctx {
        file: &display_path,
        source,
    };
    let raw: RawManifest = {
        let de = toml::Deserializer::parse(source)
            .map_err(|e| Error::diagnostic(ctx.toml_syntax(&e)))?;
        serde_path_to_error::deserialize(de).map_err(|e| Error::diagnostic(ctx.serde(&e)))?
    };
    resolve(raw, ctx, path.clone(), root)
}

struct Ctx<'a> {
    file: &'a Path,
    source: &'a str,
}

impl Ctx<'_> {
    fn at(&self, span: Range<usize>, message: impl Into<String>) -> Diagnostic {
        Diagnostic::at(self.file, self.source, span, message)
    }

    /// A diagnostic for part of a string value: `offset..offset+len` inside the value that
    /// `span` covers (quotes included). Falls back to the whole value when the string was
    /// written with escapes, where offsets in the value and in the file differ.
    fn inside(&self, span: Range<usize>, value: &str, offset: usize, len: usize) -> Range<usize> {
        let inner = span.start + 1..span.end.saturating_sub(1);
        if self.source.get(inner.clone()) == Some(value) {
            inner.start + offset..inner.start + offset + len
        } else {
            span
        }
    }

    fn toml_syntax(&self, err: &toml::de::Error) -> Diagnostic {
        let message = err.message().trim().to_string();
        match err.span() {
            Some(span) => self.at(span, message),
            None => Diagnostic::whole_file(self.file, message),
        }
        .help("fix the TOML syntax at this place")
    }

    fn serde(&self, err: &serde_path_to_error::Error<toml::de::Error>) -> Diagnostic {
        let key = clean_key_path(&err.path().to_string());
        let inner = err.inner();
        let message = plain_types(inner.message().trim());
        let help = unknown_name_help(&message);
        match inner.span() {
            Some(span) => self.at(span, message),
            None => Diagnostic::whole_file(self.file, message),
        }
        .key(key)
        .maybe_help(help)
    }
}

/// serde names Rust types ("expected u32"); say what to write in TOML instead.
fn plain_types(message: &str) -> String {
    [
        (
            "expected u32",
            "expected a whole number from 0 to 4294967295",
        ),
        ("expected a sequence", "expected an array"),
        ("expected a map", "expected a table"),
        ("expected struct ", "expected a table "),
    ]
    .iter()
    .fold(message.to_string(), |m, (from, to)| m.replace(from, to))
}

/// serde_path_to_error shows `Spanned` wrappers as a path segment; users never wrote them.
fn clean_key_path(path: &str) -> String {
    let cleaned = path
        .split('.')
        .filter(|seg| !seg.starts_with("$__serde_spanned_private"))
        .collect::<Vec<_>>()
        .join(".");
    if cleaned == "?" {
        String::new()
    } else {
        cleaned
    }
}

/// For serde's "unknown field `x`, expected one of `a`, `b`" (and the same for variants), the
/// closest valid names.
fn unknown_name_help(message: &str) -> Option<String> {
    let (what, rest) = if let Some(rest) = message.strip_prefix("unknown field `") {
        ("keys", rest)
    } else if let Some(rest) = message.strip_prefix("unknown variant `") {
        ("values", rest)
    } else {
        return None;
    };
    let (wrong, expected) = rest.split_once('`')?;
    let valid: Vec<&str> = expected
        .split('`')
        .skip(1)
        .step_by(2)
        .filter(|s| !s.is_empty())
        .collect();
    if valid.is_empty() {
        return None;
    }
    let near = closest(wrong, valid.iter().copied());
    Some(match near.as_slice() {
        [] => format!("valid {what} here: {}", quote_list(&valid)),
        [one] => format!("did you mean `{one}`?"),
        many => format!("did you mean one of {}?", quote_list(many)),
    })
}

fn resolve(raw: RawManifest, ctx: Ctx<'_>, path: PathBuf, root: PathBuf) -> Result<Manifest> {
    let err = |d: Diagnostic| Error::diagnostic(d);

    let Some(project) = raw.project else {
        return Err(err(Diagnostic::whole_file(
            ctx.file,
            "missing `[project]` table",
        )
        .help("add a `[project]` table with the project's name:\n\n    [project]\n    name = \"my-model\"\n")));
    };
    let project = project.into_inner();
    let name = project.name.get_ref().clone();
    if let Some(problem) = name_problem(&name) {
        return Err(err(ctx
            .at(
                project.name.span(),
                format!("invalid project name `{name}`: {problem}"),
            )
            .key("project.name")
            .help(
                "use letters, digits, `-`, `_` and `.`, starting with a letter or digit",
            )));
    }
    let (mlproject, mlproject_span) = match &project.mlproject {
        Some(dir) => (root.join(dir.get_ref()), Some(dir.span())),
        None => (root.join(defaults::MLPROJECT_DIR), None),
    };

    let mut wheels: Vec<WheelSpec> = Vec::new();
    for (i, wheel) in raw.wheels.into_iter().enumerate() {
        let wheel = wheel.into_inner();
        let declared = wheel.path.get_ref().clone();
        let span = wheel.path.span();
        let key = format!("wheel[{i}].path");
        if declared.trim().is_empty() {
            return Err(err(ctx.at(span, "empty wheel path").key(key).help(
                "set `path` to the folder holding the package's pyproject.toml",
            )));
        }
        let full = normalize(&root.join(&declared));
        if let Some(first) = wheels.iter().position(|w| w.path == full) {
            return Err(err(ctx
                .at(
                    span,
                    format!(
                        "duplicate wheel path `{declared}`: `wheel[{first}]` already builds `{}`",
                        wheels[first].declared
                    ),
                )
                .key(key)
                .help("remove one of the two `[[wheel]]` entries")));
        }
        wheels.push(WheelSpec {
            path: full,
            declared,
            install: wheel.install.unwrap_or_default(),
            span,
        });
    }

    let environment = match raw.environment {
        Some(env) => {
            if let Some(python) = &env.python {
                if !is_python_version(python.get_ref()) {
                    return Err(err(ctx
                        .at(
                            python.span(),
                            format!("invalid Python version `{}`", python.get_ref()),
                        )
                        .key("environment.python")
                        .help("write a version such as \"3.11\" or \"3.11.9\"")));
                }
            }
            Environment {
                python: env
                    .python
                    .map(Spanned::into_inner)
                    .unwrap_or_else(|| defaults::PYTHON.into()),
                conda: env.conda.unwrap_or_default(),
                pip: env.pip.unwrap_or_default(),
            }
        }
        None => Environment {
            python: defaults::PYTHON.into(),
            conda: Vec::new(),
            pip: Vec::new(),
        },
    };

    let cluster = resolve_cluster(raw.cluster, &ctx)?;

    let mut entry_points = BTreeMap::new();
    for (name, entry) in raw.entry_points {
        let key = format!("entry_points.{name}");
        if let Some(problem) = name_problem(&name) {
            return Err(err(ctx
                .at(
                    entry.span(),
                    format!("invalid entry point name `{name}`: {problem}"),
                )
                .key(key)));
        }
        let entry = resolve_entry_point(entry.into_inner(), &key, &ctx)?;
        entry_points.insert(name, entry);
    }

    let mut targets = BTreeMap::new();
    for (target_name, target) in raw.targets {
        if let Some(problem) = name_problem(&target_name) {
            return Err(err(ctx
                .at(
                    target.span(),
                    format!("invalid target name `{target_name}`: {problem}"),
                )
                .key(format!("targets.{target_name}"))));
        }
        let span = target.span();
        let target = resolve_target(&target_name, target.into_inner(), span, &ctx)?;
        targets.insert(target_name, target);
    }
    targets
        .entry(defaults::TARGET.to_string())
        .or_insert_with(builtin_local_target);

    let hooks = match raw.hooks {
        Some(h) => {
            let action = h.pre_push.unwrap_or_default();
            if let Some(t) = &h.target {
                if !targets.contains_key(t.get_ref()) {
                    return Err(err(ctx
                        .at(t.span(), format!("unknown target `{}`", t.get_ref()))
                        .key("hooks.target")
                        .help(suggestion(
                            "targets",
                            t.get_ref(),
                            targets.keys().map(String::as_str),
                        ))));
                }
            }
            if action == HookAction::Deploy && h.target.is_none() {
                return Err(err(Diagnostic::whole_file(
                    ctx.file,
                    "`[hooks] pre_push = \"deploy\"` needs a `target`",
                )
                .key("hooks.target")
                .help(
                    "add `target = \"dev\"` (a [targets.NAME] of this file) under [hooks]",
                )));
            }
            Hooks {
                pre_push: action,
                target: h.target.map(Spanned::into_inner),
            }
        }
        None => Hooks::default(),
    };

    Ok(Manifest {
        display_path: ctx.file.to_path_buf(),
        source: ctx.source.to_string(),
        path,
        root,
        project: Project { name, mlproject },
        wheels,
        environment,
        cluster,
        entry_points,
        targets,
        hooks,
        mlproject_span,
    })
}

fn resolve_cluster(raw: Option<raw::RawCluster>, ctx: &Ctx<'_>) -> Result<Cluster> {
    let Some(raw) = raw else {
        return Ok(Cluster {
            spark_version: defaults::SPARK_VERSION.into(),
            node_type_id: defaults::NODE_TYPE_ID.into(),
            driver_node_type_id: None,
            workers: Workers::Fixed(defaults::NUM_WORKERS),
            spark_conf: BTreeMap::new(),
            spark_env_vars: BTreeMap::new(),
            custom_tags: BTreeMap::new(),
            policy_id: None,
            data_security_mode: None,
            pypi: Vec::new(),
        });
    };
    let workers = match (&raw.num_workers, &raw.autoscale) {
        (Some(n), Some(_)) => {
            return Err(Error::diagnostic(
                ctx.at(n.span(), "`num_workers` and `autoscale` are both set")
                    .key("cluster.num_workers")
                    .help("keep one: a fixed size or an `autoscale = { min_workers, max_workers }` range"),
            ));
        }
        (Some(n), None) => Workers::Fixed(*n.get_ref()),
        (None, Some(a)) => {
            let r = a.get_ref();
            if r.min_workers > r.max_workers {
                return Err(Error::diagnostic(
                    ctx.at(
                        a.span(),
                        format!(
                            "`min_workers` ({}) is larger than `max_workers` ({})",
                            r.min_workers, r.max_workers
                        ),
                    )
                    .key("cluster.autoscale"),
                ));
            }
            Workers::Autoscale {
                min_workers: r.min_workers,
                max_workers: r.max_workers,
            }
        }
        (None, None) => Workers::Fixed(defaults::NUM_WORKERS),
    };
    Ok(Cluster {
        spark_version: raw
            .spark_version
            .map(Spanned::into_inner)
            .unwrap_or_else(|| defaults::SPARK_VERSION.into()),
        node_type_id: raw
            .node_type_id
            .unwrap_or_else(|| defaults::NODE_TYPE_ID.into()),
        driver_node_type_id: raw.driver_node_type_id,
        workers,
        spark_conf: raw.spark_conf.unwrap_or_default(),
        spark_env_vars: raw.spark_env_vars.unwrap_or_default(),
        custom_tags: raw.custom_tags.unwrap_or_default(),
        policy_id: raw.policy_id,
        data_security_mode: raw.data_security_mode,
        pypi: raw.pypi.unwrap_or_default(),
    })
}

fn resolve_entry_point(raw: raw::RawEntryPoint, key: &str, ctx: &Ctx<'_>) -> Result<EntryPoint> {
    let command = raw.command.get_ref().clone();
    if command.trim().is_empty() {
        return Err(Error::diagnostic(
            ctx.at(raw.command.span(), "empty command")
                .key(format!("{key}.command"))
                .help(
                    "set the shell command MLflow runs, e.g. \"python train.py --alpha {alpha}\"",
                ),
        ));
    }
    let mut parameters = BTreeMap::new();
    for (name, param) in raw.parameters {
        let pkey = format!("{key}.parameters.{name}");
        if !is_identifier(&name) {
            return Err(Error::diagnostic(
                ctx.at(param.span(), format!("invalid parameter name `{name}`"))
                    .key(pkey)
                    .help("use letters, digits and `_`, starting with a letter or `_`"),
            ));
        }
        let param = param.into_inner();
        let ty = param.ty.unwrap_or_default();
        let default = match &param.default {
            Some(value) => Some(default_as_string(ty, value.get_ref()).map_err(|expected| {
                Error::diagnostic(
                    ctx.at(
                        value.span(),
                        format!(
                            "default of `{name}` is {}, but its type is `{ty}`",
                            describe_value(value.get_ref())
                        ),
                    )
                    .key(format!("{pkey}.default"))
                    .help(format!("write {expected}, or change `type`")),
                )
            })?),
            None => None,
        };
        parameters.insert(name, Parameter { ty, default });
    }
    // MLflow fills `{name}` in the command from the parameters and fails at run time on a
    // name it does not know; catch that here, before anything is built or uploaded.
    for (offset, used) in command_placeholders(&command) {
        if !parameters.contains_key(used) {
            let range = ctx.inside(raw.command.span(), &command, offset, used.len() + 2);
            return Err(Error::diagnostic(
                ctx.at(
                    range,
                    format!("the command uses `{{{used}}}`, which is not a parameter"),
                )
                .key(format!("{key}.command"))
                .help(if parameters.is_empty() {
                    format!("declare it: `parameters.{used} = {{ type = \"string\" }}`")
                } else {
                    format!(
                        "{}; or declare it under `parameters`",
                        suggestion("parameters", used, parameters.keys().map(String::as_str))
                    )
                }),
            ));
        }
    }
    Ok(EntryPoint {
        command,
        parameters,
    })
}

/// `{name}` references in an MLflow command, as (byte offset, name). `{{` is a literal brace.
fn command_placeholders(command: &str) -> Vec<(usize, &str)> {
    let mut out = Vec::new();
    let bytes = command.as_bytes();
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'{' {
            if bytes.get(i + 1) == Some(&b'{') {
                i += 2;
                continue;
            }
            if let Some(len) = command[i + 1..].find('}') {
                let name = &command[i + 1..i + 1 + len];
                if is_identifier(name) {
                    out.push((i, name));
                }
                i += len + 2;
                continue;
            }
        }
        i += 1;
    }
    out
}

fn default_as_string(
    ty: ParamType,
    value: &toml::Value,
) -> std::result::Result<String, &'static str> {
    use toml::Value;
    match (ty, value) {
        (ParamType::Float, Value::Float(f)) if f.is_finite() => Ok(format_float(*f)),
        (ParamType::Float, Value::Integer(i)) => Ok(i.to_string()),
        (ParamType::Float, _) => Err("a number such as 0.5"),
        (ParamType::Int, Value::Integer(i)) => Ok(i.to_string()),
        (ParamType::Int, _) => Err("a whole number such as 10"),
        (ParamType::String | ParamType::Path | ParamType::Uri, Value::String(s)) => Ok(s.clone()),
        (ParamType::String, Value::Integer(i)) => Ok(i.to_string()),
        (ParamType::String, Value::Float(f)) => Ok(format_float(*f)),
        (ParamType::String, Value::Boolean(b)) => Ok(b.to_string()),
        (ParamType::String, _) => Err("a string, number or boolean"),
        (ParamType::Path | ParamType::Uri, _) => Err("a string"),
    }
}

fn format_float(f: f64) -> String {
    // Debug formatting keeps a decimal point on whole numbers (1.0, not 1) so the value stays
    // a float when MLflow reads it back.
    format!("{f:?}")
}

fn describe_value(value: &toml::Value) -> String {
    match value {
        toml::Value::String(s) => format!("the string {s:?}"),
        toml::Value::Integer(i) => format!("the integer {i}"),
        toml::Value::Float(f) => format!("the number {f}"),
        toml::Value::Boolean(b) => format!("the boolean {b}"),
        toml::Value::Datetime(d) => format!("the date {d}"),
        toml::Value::Array(_) => "an array".into(),
        toml::Value::Table(_) => "a table".into(),
    }
}

fn resolve_target(
    name: &str,
    raw: raw::RawTarget,
    span: Range<usize>,
    ctx: &Ctx<'_>,
) -> Result<Target> {
    let key = format!("targets.{name}");
    let template = |value: &Spanned<String>, field: &str| -> Result<Template> {
        Template::parse(value.get_ref()).map_err(|e| {
            let range = ctx.inside(value.span(), value.get_ref(), e.offset, e.len);
            Error::diagnostic(
                ctx.at(range, e.message)
                    .key(format!("{key}.{field}"))
                    .maybe_help(e.help),
            )
        })
    };
    if name == defaults::TARGET && raw.kind != TargetKind::Local {
        return Err(Error::diagnostic(
            ctx.at(span, "the `local` target must have `kind = \"local\"`")
                .key(format!("{key}.kind"))
                .help("`local` is the default target; give the Databricks target another name, such as `dev`"),
        ));
    }
    match raw.kind {
        TargetKind::Local => {
            if let Some(value) = &raw.env_manager {
                return Err(Error::diagnostic(
                    ctx.at(
                        value.span(),
                        "`env_manager` only applies to databricks targets",
                    )
                    .key(format!("{key}.env_manager"))
                    .help(format!(
                        "remove it, or set `kind = \"databricks\"` on `[{key}]`"
                    )),
                ));
            }
            let spans = [
                ("host", raw.host.as_ref().map(Spanned::span)),
                ("profile", raw.profile.as_ref().map(Spanned::span)),
                ("cluster_id", raw.cluster_id.as_ref().map(Spanned::span)),
                (
                    "mlflow_version",
                    raw.mlflow_version.as_ref().map(Spanned::span),
                ),
                ("compute", raw.compute.as_ref().map(Spanned::span)),
                (
                    "environment_version",
                    raw.environment_version.as_ref().map(Spanned::span),
                ),
            ];
            for (field, span) in spans {
                if let Some(span) = span {
                    return Err(Error::diagnostic(
                        ctx.at(
                            span,
                            format!("`{field}` only applies to databricks targets"),
                        )
                        .key(format!("{key}.{field}"))
                        .help(format!(
                            "remove it, or set `kind = \"databricks\"` on `[{key}]`"
                        )),
                    ));
                }
            }
            Ok(Target {
                name: name.into(),
                kind: TargetKind::Local,
                host: None,
                profile: None,
                artifacts: match &raw.artifacts {
                    Some(a) => template(a, "artifacts")?,
                    None => Template::parse(defaults::LOCAL_ARTIFACTS).expect("valid default"),
                },
                experiment: match &raw.experiment {
                    Some(e) => template(e, "experiment")?,
                    None => Template::parse(defaults::LOCAL_EXPERIMENT).expect("valid default"),
                },
                compute: Compute::JobCluster,
                env_manager: EnvManager::Local,
                mlflow_version: None,
                builtin: false,
            })
        }
        TargetKind::Databricks => {
            let Some(artifacts_raw) = &raw.artifacts else {
                return Err(Error::diagnostic(
                    ctx.at(span, format!("databricks target `{name}` has no `artifacts`"))
                        .key(format!("{key}.artifacts"))
                        .help("say where wheels go: a Unity Catalog volume such as `artifacts = \"/Volumes/main/mlops/artifacts\"`, or `artifacts = \"dbfs:/mlops\"` for runtimes below 15.1"),
                ));
            };
            let artifacts = template(artifacts_raw, "artifacts")?;
            if let Some(problem) = databricks_artifacts_problem(&artifacts) {
                return Err(Error::diagnostic(
                    ctx.at(artifacts_raw.span(), problem)
                        .key(format!("{key}.artifacts"))
                        .help("use `/Volumes/<catalog>/<schema>/<volume>/...` or `dbfs:/...`"),
                ));
            }
            let experiment = match &raw.experiment {
                Some(e) => {
                    let t = template(e, "experiment")?;
                    if !t.literal_prefix().starts_with('/') || t.raw().ends_with('/') {
                        return Err(Error::diagnostic(
                            ctx.at(
                                e.span(),
                                format!("experiment `{}` is not an absolute workspace path", t.raw()),
                            )
                            .key(format!("{key}.experiment"))
                            .help("Databricks names experiments by workspace path: use e.g. `/Shared/{project}/{branch}` or `/Users/{user}/{project}/{branch}`"),
                        ));
                    }
                    t
                }
                None => Template::parse(defaults::DATABRICKS_EXPERIMENT).expect("valid default"),
            };
            if let Some(host) = &raw.host {
                if host.get_ref().trim().is_empty() {
                    return Err(Error::diagnostic(
                        ctx.at(host.span(), "empty host")
                            .key(format!("{key}.host"))
                            .help("set the workspace URL, e.g. \"https://adb-123.4.azuredatabricks.net\", or remove it to use the profile"),
                    ));
                }
            }
            if let Some(manager) = raw
                .env_manager
                .as_ref()
                .filter(|m| *m.get_ref() != EnvManager::Local)
            {
                // https://docs.databricks.com/aws/en/mlflow/projects: from Runtime 13.0 ML,
                // MLflow Projects cannot run inside a job cluster, so nothing on Databricks may
                // make its own environment with `mlflow run`.
                return Err(Error::diagnostic(
                    ctx.at(
                        manager.span(),
                        format!(
                            "`env_manager = \"{}\"` cannot work on Databricks: the entry point runs in the task's own Python process (MLflow Projects cannot run inside a job cluster from Runtime 13.0 ML), and the platform installs its environment",
                            manager.get_ref()
                        ),
                    )
                    .key(format!("{key}.env_manager"))
                    .help("remove `env_manager`: the environment's pip packages and every wheel become job libraries (or serverless dependencies)"),
                ));
            }
            let compute = resolve_compute(&raw, &artifacts, &key, ctx)?;
            Ok(Target {
                name: name.into(),
                kind: TargetKind::Databricks,
                host: raw.host.map(Spanned::into_inner),
                profile: raw.profile.map(Spanned::into_inner),
                artifacts,
                experiment,
                compute,
                env_manager: EnvManager::Local,
                mlflow_version: raw.mlflow_version.map(Spanned::into_inner),
                builtin: false,
            })
        }
    }
}

/// `compute`, `cluster_id` and `environment_version` of a Databricks target, checked
/// together.
fn resolve_compute(
    raw: &raw::RawTarget,
    artifacts: &Template,
    key: &str,
    ctx: &Ctx<'_>,
) -> Result<Compute> {
    let serverless = raw
        .compute
        .as_ref()
        .filter(|c| *c.get_ref() == ComputeKind::Serverless);
    let Some(serverless) = serverless else {
        if let Some(version) = &raw.environment_version {
            return Err(Error::diagnostic(
                ctx.at(
                    version.span(),
                    "`environment_version` only applies to serverless compute",
                )
                .key(format!("{key}.environment_version"))
                .help("add `compute = \"serverless\"`, or remove it (a job cluster's Python comes from its runtime, `spark_version`)"),
            ));
        }
        return Ok(match &raw.cluster_id {
            Some(id) => Compute::ExistingCluster {
                cluster_id: id.get_ref().clone(),
            },
            None => Compute::JobCluster,
        });
    };
    if let Some(id) = &raw.cluster_id {
        return Err(Error::diagnostic(
            ctx.at(
                id.span(),
                "`cluster_id` names a cluster, but this target runs on serverless compute, which has none",
            )
            .key(format!("{key}.cluster_id"))
            .help("remove `cluster_id`, or remove `compute = \"serverless\"` to run on that cluster"),
        ));
    }
    let raw_artifacts = artifacts.raw();
    if raw_artifacts.starts_with("dbfs:/") || raw_artifacts.starts_with("/dbfs/") {
        // https://docs.databricks.com/aws/en/compute/serverless/dependencies: serverless
        // dependencies are pip lines read from workspace files or Unity Catalog volumes.
        return Err(Error::diagnostic(
            ctx.at(
                serverless.span(),
                format!(
                    "serverless compute cannot read DBFS, but `artifacts = \"{raw_artifacts}\"` is on DBFS"
                ),
            )
            .key(format!("{key}.compute"))
            .help("store the artifacts in a Unity Catalog volume: `artifacts = \"/Volumes/<catalog>/<schema>/<volume>/...\"`"),
        ));
    }
    let environment_version = match &raw.environment_version {
        None => defaults::SERVERLESS_ENVIRONMENT_VERSION.to_string(),
        Some(v) => {
            let text = match v.get_ref() {
                toml::Value::String(s) => s.trim().to_string(),
                toml::Value::Integer(i) => i.to_string(),
                _ => String::new(),
            };
            if text.is_empty() || !text.chars().all(|c| c.is_ascii_digit()) {
                return Err(Error::diagnostic(
                    ctx.at(
                        v.span(),
                        format!(
                            "`environment_version` is {}, but it must be a serverless environment version number",
                            describe_value(v.get_ref())
                        ),
                    )
                    .key(format!("{key}.environment_version"))
                    .help(format!(
                        "write a version such as \"{}\" (see https://docs.databricks.com/aws/en/release-notes/serverless/environment-version)",
                        defaults::SERVERLESS_ENVIRONMENT_VERSION
                    )),
                ));
            }
            text
        }
    };
    Ok(Compute::Serverless {
        environment_version,
    })
}

fn builtin_local_target() -> Target {
    Target {
        name: defaults::TARGET.into(),
        kind: TargetKind::Local,
        host: None,
        profile: None,
        artifacts: Template::parse(defaults::LOCAL_ARTIFACTS).expect("valid default"),
        experiment: Template::parse(defaults::LOCAL_EXPERIMENT).expect("valid default"),
        compute: Compute::JobCluster,
        env_manager: EnvManager::Local,
        mlflow_version: None,
        builtin: true,
    }
}

fn databricks_artifacts_problem(t: &Template) -> Option<String> {
    let raw = t.raw();
    if raw.starts_with("dbfs:/") || raw.starts_with("/dbfs/") {
        return None;
    }
    if let Some(rest) = raw.strip_prefix("/Volumes/") {
        let segments = rest.split('/').filter(|s| !s.is_empty()).count();
        return (segments < 3).then(|| {
            format!("`{raw}` does not name a volume: a volume path is `/Volumes/<catalog>/<schema>/<volume>`")
        });
    }
    Some(format!(
        "`{raw}` is neither a Unity Catalog volume path nor a DBFS path"
    ))
}

impl Manifest {
    /// Where the tool keeps its local state for this project (`.mlops/` beside the manifest).
    pub fn state_dir(&self) -> PathBuf {
        self.root.join(defaults::STATE_DIR)
    }

    /// The named target, or the default (`local`) when `name` is `None`.
    pub fn target(&self, name: Option<&str>) -> Result<&Target> {
        let name = name.unwrap_or(defaults::TARGET);
        self.targets.get(name).ok_or_else(|| {
            Error::usage(format!(
                "unknown target `{name}` (targets are `[targets.NAME]` tables in {})",
                self.display_path.display()
            ))
            .with_help(suggestion(
                "targets",
                name,
                self.targets.keys().map(String::as_str),
            ))
        })
    }

    /// Checks that the folders the manifest names exist and hold what they should.
    pub fn check_paths(&self) -> Result<()> {
        let ctx = Ctx {
            file: &self.display_path,
            source: &self.source,
        };
        if !self.project.mlproject.is_dir() {
            let message = format!(
                "the MLflow project folder `{}` does not exist",
                self.project.mlproject.display()
            );
            let d = match &self.mlproject_span {
                Some(span) => ctx.at(span.clone(), message),
                None => Diagnostic::whole_file(ctx.file, message),
            };
            return Err(Error::diagnostic(
                d.key("project.mlproject")
                    .help("create the folder with the project's code (`cargo mlops init` makes one), or point `[project] mlproject` at it"),
            ));
        }
        for (i, wheel) in self.wheels.iter().enumerate() {
            let key = format!("wheel[{i}].path");
            if !wheel.path.is_dir() {
                return Err(Error::diagnostic(
                    ctx.at(
                        wheel.span.clone(),
                        format!(
                            "the package folder `{}` does not exist",
                            wheel.path.display()
                        ),
                    )
                    .key(key)
                    .help("paths are relative to the folder holding mlops.toml"),
                ));
            }
            if !wheel.path.join("pyproject.toml").is_file() {
                return Err(Error::diagnostic(
                    ctx.at(
                        wheel.span.clone(),
                        format!("`{}` has no pyproject.toml", wheel.path.display()),
                    )
                    .key(key)
                    .help("point `path` at the folder of a Python package (the one holding pyproject.toml)"),
                ));
            }
        }
        Ok(())
    }
}

/// Why `name` is not a valid project, target or entry point name, if it is not.
fn name_problem(name: &str) -> Option<&'static str> {
    let mut chars = name.chars();
    match chars.next() {
        None => Some("it is empty"),
        Some(c) if !c.is_ascii_alphanumeric() => Some("it must start with a letter or digit"),
        _ if name.len() > 64 => Some("it is longer than 64 characters"),
        _ if !name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.')) =>
        {
            Some("only letters, digits, `-`, `_` and `.` are allowed")
        }
        _ => None,
    }
}

fn is_identifier(name: &str) -> bool {
    let mut chars = name.chars();
    matches!(chars.next(), Some(c) if c.is_ascii_alphabetic() || c == '_')
        && chars.all(|c| c.is_ascii_alphanumeric() || c == '_')
}

fn is_python_version(v: &str) -> bool {
    let parts: Vec<&str> = v.split('.').collect();
    (2..=3).contains(&parts.len())
        && parts
            .iter()
            .all(|p| !p.is_empty() && p.chars().all(|c| c.is_ascii_digit()))
        && parts[0] == "3"
}

/// `path` made absolute against the current directory, without touching the file system.
pub fn absolute(path: &Path) -> PathBuf {
    let joined = if path.is_absolute() {
        path.to_path_buf()
    } else {
        std::env::current_dir().unwrap_or_default().join(path)
    };
    normalize(&joined)
}

/// Lexically removes `.` and `..` components and trailing separators.
pub fn normalize(path: &Path) -> PathBuf {
    let mut out = PathBuf::new();
    for component in path.components() {
        match component {
            Component::CurDir => {}
            Component::ParentDir => {
                if !out.pop() {
                    out.push("..");
                }
            }
            other => out.push(other.as_os_str()),
        }
    }
    out
}

/// How a path is shown in messages: relative to the current directory when below it.
pub fn display_path(path: &Path) -> PathBuf {
    std::env::current_dir()
        .ok()
        .and_then(|cwd| path.strip_prefix(&cwd).ok().map(Path::to_path_buf))
        .filter(|p| !p.as_os_str().is_empty())
        .unwrap_or_else(|| path.to_path_buf())
}

#[cfg(test)]
mod tests;
