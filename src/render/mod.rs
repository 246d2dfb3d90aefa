//! The render stage: the MLflow project exactly as it will run, with every wheel reference
//! pointing at the wheel's content-addressed location. YAML and JSON are parsed, changed as
//! data and written back; nothing is pasted into text.

pub mod placeholder;
pub mod tarball;

use std::path::{Path, PathBuf};

use serde::Serialize;
use serde_json::json;
use serde_yaml::{Mapping, Value as Yaml};

use crate::build::BuiltWheel;
use crate::build::inputs;
use crate::error::{Error, Result};
use crate::manifest::{
    Cluster, Compute, Environment, Install, Manifest, ParamType, TargetKind, Workers,
};
use crate::plan::Plan;
use crate::project::{self, Env, MlflowProject, OwnFile};
use crate::templates;

/// The file the launcher is rendered to (a name a project's own code is unlikely to use).
pub const LAUNCHER_FILE: &str = "mlops_launcher.py";

/// Marks a folder as written by `render`, so a later render may replace it.
const MARKER: &str = ".mlops-rendered";

/// Where one wheel lives once published, in the forms each file needs.
#[derive(Clone, Debug, Serialize)]
pub struct WheelRef {
    pub file: String,
    pub sha256: String,
    pub install: Install,
    /// The artifact path: `dbfs:/...`, `/Volumes/...` or an absolute local path.
    pub store_path: String,
    /// As an environment file names it (conda, python_env): `/dbfs/...` for DBFS.
    pub env_path: String,
    /// As a cluster library names it: `dbfs:/...` for DBFS.
    pub library_path: String,
}

/// The content-addressed location of each wheel under the plan's branch folder.
pub fn wheel_refs(plan: &Plan, wheels: &[BuiltWheel]) -> Vec<WheelRef> {
    wheels
        .iter()
        .map(|w| {
            let store_path = format!(
                "{}/{}/{}",
                plan.branch_artifacts.trim_end_matches('/'),
                w.address,
                w.file
            );
            WheelRef {
                file: w.file.clone(),
                sha256: w.sha256.clone(),
                install: w.install,
                env_path: env_form(&store_path),
                library_path: store_path.clone(),
                store_path,
            }
        })
        .collect()
}

/// `dbfs:/x` is `/dbfs/x` to a process on the cluster (the FUSE mount).
pub fn env_form(store_path: &str) -> String {
    match store_path.strip_prefix("dbfs:/") {
        Some(rest) => format!("/dbfs/{}", rest.trim_start_matches('/')),
        None => store_path.to_string(),
    }
}

/// The rendered project, written to `dir`.
#[derive(Clone, Debug, Serialize)]
pub struct Rendered {
    pub dir: PathBuf,
    /// Every file of the project, relative to `dir`, sorted.
    pub files: Vec<PathBuf>,
    pub wheels: Vec<WheelRef>,
    pub env_file: String,
}

impl Rendered {
    /// Writes the project tarball to `out` and returns its hash and size.
    pub fn tarball(&self, out: impl std::io::Write) -> Result<tarball::Written> {
        tarball::write(&self.dir, &self.files, out).map_err(|e| {
            Error::io(
                format!(
                    "cannot write the project tarball of `{}`",
                    self.dir.display()
                ),
                e,
            )
        })
    }
}

/// Checks what rendering would refuse, without writing anything; returns what works but
/// deserves a warning.
pub fn validate(plan: &Plan, manifest: &Manifest, project: &MlflowProject) -> Result<Vec<String>> {
    if let Env::Docker = project.env {
        return Err(Error::usage(format!(
            "the MLflow project in `{}` uses `docker_env`, which cargo mlops cannot ship wheels into",
            crate::manifest::display_path(&project.dir).display()
        ))
        .with_help("use `conda_env` or `python_env` in MLproject (or remove the environment to generate one from [environment])"));
    }
    if plan.target_kind != TargetKind::Databricks {
        return Ok(Vec::new());
    }
    match &plan.compute {
        Compute::JobCluster if plan.artifacts.starts_with("dbfs:/") => {
            dbfs_runtime_check(plan, manifest, project)?
        }
        Compute::Serverless { .. } => serverless_check(plan, manifest, project)?,
        _ => {}
    }
    let mut warnings = conda_only_warnings(manifest, project);
    if let Some(crate::launch::Entry::Shell { command }) = &plan.launch {
        warnings.push(format!(
            "entry point `{}` runs `{command}` as a subprocess of a shell: on Databricks it has no Spark session (only a `python FILE` or `python -m MODULE` entry point runs in the task's own Python process)",
            plan.entry.as_deref().unwrap_or_default()
        ));
    }
    Ok(warnings)
}

/// DBFS libraries are disabled from Databricks Runtime 15.1.
fn dbfs_runtime_check(plan: &Plan, manifest: &Manifest, project: &MlflowProject) -> Result<()> {
    let version = spark_version(project, &manifest.cluster);
    if let Some((major, minor)) = parse_runtime(&version) {
        if (major, minor) >= (15, 1) {
            return Err(Error::usage(format!(
                "target `{}` stores wheels on DBFS (`{}`), but the cluster runs Databricks Runtime {major}.{minor} (`{version}`): libraries on DBFS are disabled from 15.1",
                plan.target, plan.artifacts
            ))
            .with_help(format!(
                "store them in a Unity Catalog volume: `artifacts = \"/Volumes/<catalog>/<schema>/<volume>/{}\"` under [targets.{}], or use a runtime below 15.1",
                plan.project, plan.target
            )));
        }
    }
    Ok(())
}

/// Cluster settings that change what the code sees and that serverless compute has no place
/// for (it supports no init scripts, Spark configuration or environment variables of a
/// cluster: https://docs.databricks.com/aws/en/compute/serverless/limitations). Sizing keys
/// (`spark_version`, `node_type_id`, `num_workers`...) are ignored there: serverless sizes
/// itself.
const CLUSTER_ONLY: &[&str] = &[
    "spark_conf",
    "spark_env_vars",
    "init_scripts",
    "docker_image",
    "cluster_log_conf",
    "single_user_name",
];

/// What a serverless target cannot carry over from the cluster settings.
fn serverless_check(plan: &Plan, manifest: &Manifest, project: &MlflowProject) -> Result<()> {
    let refuse = |what: String, help: &str| {
        Err(Error::usage(format!(
            "target `{}` runs on serverless compute, but {what}",
            plan.target
        ))
        .with_help(help.to_string()))
    };
    if let Some(own) = &project.cluster {
        let shown = crate::manifest::display_path(&own.path);
        let shown = shown.display();
        if own.value.get("existing_cluster_id").is_some() {
            return refuse(
                format!("{shown} sets `existing_cluster_id`"),
                "remove it from cluster.json (a target's `cluster_id` picks an existing cluster), or run this target on a cluster",
            );
        }
        let spec = own.value.get("new_cluster").unwrap_or(&own.value);
        if let Some(key) = CLUSTER_ONLY.iter().find(|k| spec.get(**k).is_some()) {
            return refuse(
                format!("{shown} sets `{key}`, which only a cluster has"),
                "remove it from cluster.json, or run this target on a job cluster (remove `compute = \"serverless\"`)",
            );
        }
        for lib in own.value["libraries"].as_array().into_iter().flatten() {
            let pip = lib.get("whl").is_some()
                || lib.get("requirements").is_some()
                || (lib.get("pypi").is_some() && lib["pypi"].get("repo").is_none());
            if !pip {
                return refuse(
                    format!("{shown} has the library {lib}, which is not a pip requirement"),
                    "serverless dependencies are pip requirement lines: keep `pypi` (without `repo`), `whl` and `requirements` libraries only",
                );
            }
        }
    }
    for (key, map) in [
        ("spark_conf", &manifest.cluster.spark_conf),
        ("spark_env_vars", &manifest.cluster.spark_env_vars),
    ] {
        if !map.is_empty() && project.cluster.is_none() {
            return refuse(
                format!(
                    "{} sets `[cluster] {key}`, which only a cluster has",
                    manifest.display_path.display()
                ),
                "remove it, or run this target on a job cluster (remove `compute = \"serverless\"`)",
            );
        }
    }
    Ok(())
}

/// Conda packages cannot be installed on Databricks: only pip packages become job libraries
/// or serverless dependencies, so conda-only entries of the environment are left out.
fn conda_only_warnings(manifest: &Manifest, project: &MlflowProject) -> Vec<String> {
    let warn = |file: String, package: &str| {
        format!(
            "{file}: the conda package `{package}` cannot be installed on Databricks (only pip packages become job libraries or serverless dependencies); it is left out there; move it to the pip list if it is on PyPI"
        )
    };
    let is_conda_only = |spec: &str| {
        let name = spec.split(['=', '<', '>', '!', ' ']).next().unwrap_or("");
        !matches!(name, "python" | "pip" | "")
    };
    match &project.env {
        Env::Conda(file) => file.value["dependencies"]
            .as_sequence()
            .into_iter()
            .flatten()
            .filter_map(|d| d.as_str())
            .filter(|d| is_conda_only(d))
            .map(|d| {
                warn(
                    crate::manifest::display_path(&file.path)
                        .display()
                        .to_string(),
                    d,
                )
            })
            .collect(),
        Env::Missing => manifest
            .environment
            .conda
            .iter()
            .filter(|d| is_conda_only(d))
            .map(|d| {
                warn(
                    format!("{} ([environment] conda)", manifest.display_path.display()),
                    d,
                )
            })
            .collect(),
        Env::Python(_) | Env::Docker => Vec::new(),
    }
}

/// The runtime the job cluster will run: the project's cluster.json, else `[cluster]`.
fn spark_version(project: &MlflowProject, cluster: &Cluster) -> String {
    project
        .cluster
        .as_ref()
        .and_then(|c| {
            c.value
                .get("new_cluster")
                .unwrap_or(&c.value)
                .get("spark_version")
                .and_then(|v| v.as_str())
                .map(str::to_string)
        })
        .unwrap_or_else(|| cluster.spark_version.clone())
}

/// `15.4.x-scala2.12` → (15, 4).
pub fn parse_runtime(spark_version: &str) -> Option<(u32, u32)> {
    let mut parts = spark_version.split(['.', '-']);
    let major = parts.next()?.parse().ok()?;
    let minor = parts.next()?.parse().ok()?;
    Some((major, minor))
}

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
    let (env_file, env_text) = render_env(plan, manifest, project, &refs)?;
    let mlproject = render_mlproject(plan, project, &env_file)?;
    let cluster = render_cluster(plan, manifest, project, &refs)?;

    let mut generated: Vec<(String, String)> = vec![
        (mlproject_name(project), mlproject),
        (env_file.clone(), env_text),
        (project::CLUSTER_FILE.to_string(), cluster),
        (LAUNCHER_FILE.to_string(), templates::LAUNCHER.to_string()),
    ];
    generated.sort();
    let own = inputs::walk(&project.dir, &["mlruns"])?;
    let copied: Vec<PathBuf> = own
        .into_iter()
        .filter(|rel| !generated.iter().any(|(name, _)| Path::new(name) == rel))
        .collect();

    let staging = prepare_out(out)?;
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
    fs_err::write(staging.join(MARKER), "written by cargo mlops render\n")?;
    finish_out(&staging, out)?;

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

fn mlproject_name(project: &MlflowProject) -> String {
    project
        .mlproject
        .as_ref()
        .map_or_else(|| project::MLPROJECT.to_string(), |m| m.name.clone())
}

/// A fresh sibling folder to write into; renamed over `out` when complete, so a failed render
/// never leaves a half-written project where one was.
fn prepare_out(out: &Path) -> Result<PathBuf> {
    if out.exists() {
        let empty = fs_err::read_dir(out)?.next().is_none();
        if !out.is_dir() || !(empty || out.join(MARKER).is_file()) {
            return Err(Error::usage(format!(
                "`{}` exists and was not written by `cargo mlops render`",
                out.display()
            ))
            .with_help("choose an empty or new folder for --out"));
        }
    }
    let parent = out.parent().unwrap_or(Path::new("."));
    fs_err::create_dir_all(parent)?;
    let name = out
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    let staging = parent.join(format!(".{name}.tmp-{}", std::process::id()));
    if staging.exists() {
        fs_err::remove_dir_all(&staging)?;
    }
    fs_err::create_dir_all(&staging)?;
    Ok(staging)
}

fn finish_out(staging: &Path, out: &Path) -> Result<()> {
    if out.exists() {
        let old = staging.with_extension("old");
        fs_err::rename(out, &old)?;
        fs_err::rename(staging, out)?;
        fs_err::remove_dir_all(&old)?;
    } else {
        fs_err::rename(staging, out)?;
    }
    Ok(())
}

fn yaml_text(value: &impl Serialize) -> Result<String> {
    serde_yaml::to_string(value).map_err(|e| Error::failed(format!("cannot write YAML: {e}")))
}

fn json_text(value: &serde_json::Value) -> String {
    let mut text = serde_json::to_string_pretty(value).expect("JSON values serialize");
    text.push('\n');
    text
}

/// The environment file: the project's own with the wheels put in, or one generated from
/// `[environment]`. Returns its name and text.
fn render_env(
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
    match &project.env {
        Env::Conda(file) => {
            let mut value = file.value.clone();
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

fn mapping(value: &mut Yaml) -> &mut Mapping {
    if !value.is_mapping() {
        *value = Yaml::Mapping(Mapping::new());
    }
    value.as_mapping_mut().expect("made a mapping above")
}

/// MLproject: the project's own, with the manifest's entry points added where it has none of
/// that name and the environment file named; or the built-in template filled from mlops.toml.
fn render_mlproject(plan: &Plan, project: &MlflowProject, env_file: &str) -> Result<String> {
    let mut map = match &project.mlproject {
        Some(own) => own.value.clone(),
        None => {
            let value: Yaml = serde_yaml::from_str(templates::MLPROJECT)
                .map_err(|e| Error::usage(format!("templates/MLproject: {e}")))?;
            let mut map = value.as_mapping().cloned().unwrap_or_default();
            map.insert("name".into(), plan.project.as_str().into());
            map
        }
    };
    let has_env = ["conda_env", "python_env", "docker_env"]
        .iter()
        .any(|k| map.contains_key(*k));
    // MLflow refuses an environment key in a Databricks Spark job project; its environment
    // file is still written beside it for the local target.
    if !has_env && project.spark_job.is_none() {
        map.insert("conda_env".into(), env_file.into());
    }
    // A `python_file` job runs as `main` without entry points (MLflow refuses both).
    if project
        .spark_job
        .as_ref()
        .is_some_and(|j| j.python_file.is_some())
    {
        return yaml_text(&map);
    }
    let entries = map
        .entry(Yaml::from("entry_points"))
        .or_insert_with(|| Yaml::Mapping(Mapping::new()));
    if !entries.is_mapping() {
        *entries = Yaml::Mapping(Mapping::new());
    }
    let entries = entries.as_mapping_mut().expect("made a mapping above");
    for (name, entry) in &project.entry_points {
        if entries.contains_key(name.as_str()) {
            continue;
        }
        let mut params = Mapping::new();
        for (pname, p) in &entry.parameters {
            let mut spec = Mapping::new();
            spec.insert("type".into(), p.ty.to_string().into());
            if let Some(default) = &p.default {
                spec.insert("default".into(), default_value(p.ty, default));
            }
            params.insert(pname.as_str().into(), Yaml::Mapping(spec));
        }
        let mut e = Mapping::new();
        e.insert("command".into(), entry.command.as_str().into());
        if !params.is_empty() {
            e.insert("parameters".into(), Yaml::Mapping(params));
        }
        entries.insert(name.as_str().into(), Yaml::Mapping(e));
    }
    yaml_text(&map)
}

/// Numbers stay numbers in YAML so MLflow shows them as such.
fn default_value(ty: ParamType, default: &str) -> Yaml {
    match ty {
        ParamType::Int => default
            .parse::<i64>()
            .map_or_else(|_| default.into(), Yaml::from),
        ParamType::Float => default
            .parse::<f64>()
            .map_or_else(|_| default.into(), Yaml::from),
        _ => default.into(),
    }
}

/// cluster.json: the project's own (either form MLflow reads) with the wheels put in, or one
/// generated from `[cluster]`. A target's `cluster_id` replaces the new cluster.
fn render_cluster(
    plan: &Plan,
    manifest: &Manifest,
    project: &MlflowProject,
    wheels: &[WheelRef],
) -> Result<String> {
    // A `pypi` library's package is handed to pip, which reads the `/dbfs/...` FUSE path but
    // not a `dbfs:/` URI; `whl` (and the other library kinds) take the `dbfs:/` form.
    let library_path = |keys: &[String], i: usize| {
        if keys.first().is_some_and(|k| k == "pypi") {
            wheels[i].env_path.clone()
        } else {
            wheels[i].library_path.clone()
        }
    };
    let cluster_wheels: Vec<serde_json::Value> = wheels
        .iter()
        .filter(|w| w.install == Install::Cluster)
        .map(|w| json!({ "whl": w.library_path }))
        .collect();
    let mut value = match &project.cluster {
        Some(own) => {
            let mut value = own.value.clone();
            if placeholder::contains(&value) {
                placeholder::substitute(&mut value, wheels.len(), &library_path).map_err(|e| {
                    Error::usage(format!(
                        "{}: {e}",
                        crate::manifest::display_path(&own.path).display()
                    ))
                    .with_help("put the WHEELPATH placeholder in the `libraries` list")
                })?;
            } else if !cluster_wheels.is_empty() {
                wrap_bare_spec(&mut value);
                value["libraries"]
                    .as_array_mut()
                    .expect("wrapped specs have a libraries list")
                    .extend(cluster_wheels);
            }
            value
        }
        None => generated_cluster(&manifest.cluster, cluster_wheels)?,
    };
    if let Some(id) = plan.compute.cluster_id() {
        wrap_bare_spec(&mut value);
        let obj = value.as_object_mut().expect("wrapped specs are objects");
        obj.shift_remove("new_cluster");
        obj.insert("existing_cluster_id".into(), id.into());
    }
    Ok(json_text(&value))
}

/// MLflow reads a bare cluster spec or `{"new_cluster": ..., "libraries": [...]}`; libraries
/// need the second form.
fn wrap_bare_spec(value: &mut serde_json::Value) {
    let wrapped = ["new_cluster", "existing_cluster_id", "libraries"]
        .iter()
        .any(|k| value.get(*k).is_some());
    if !wrapped {
        *value = json!({ "new_cluster": value.take(), "libraries": [] });
    }
    if !value["libraries"].is_array() {
        value["libraries"] = json!([]);
    }
}

fn generated_cluster(
    cluster: &Cluster,
    wheels: Vec<serde_json::Value>,
) -> Result<serde_json::Value> {
    let mut value: serde_json::Value = serde_json::from_str(templates::CLUSTER)
        .map_err(|e| Error::usage(format!("templates/cluster.json: {e}")))?;
    let mut spec = serde_json::Map::new();
    spec.insert(
        "spark_version".into(),
        cluster.spark_version.as_str().into(),
    );
    spec.insert("node_type_id".into(), cluster.node_type_id.as_str().into());
    if let Some(driver) = &cluster.driver_node_type_id {
        spec.insert("driver_node_type_id".into(), driver.as_str().into());
    }
    match cluster.workers {
        Workers::Fixed(n) => {
            spec.insert("num_workers".into(), n.into());
        }
        Workers::Autoscale {
            min_workers,
            max_workers,
        } => {
            spec.insert(
                "autoscale".into(),
                json!({ "min_workers": min_workers, "max_workers": max_workers }),
            );
        }
    }
    for (key, map) in [
        ("spark_conf", &cluster.spark_conf),
        ("spark_env_vars", &cluster.spark_env_vars),
        ("custom_tags", &cluster.custom_tags),
    ] {
        if !map.is_empty() {
            spec.insert(key.into(), json!(map));
        }
    }
    if let Some(policy) = &cluster.policy_id {
        spec.insert("policy_id".into(), policy.as_str().into());
    }
    if let Some(mode) = &cluster.data_security_mode {
        spec.insert("data_security_mode".into(), mode.as_str().into());
    }
    value["new_cluster"] = serde_json::Value::Object(spec);
    let mut libraries: Vec<serde_json::Value> = cluster
        .pypi
        .iter()
        .map(|p| json!({ "pypi": { "package": p } }))
        .collect();
    libraries.extend(wheels);
    value["libraries"] = serde_json::Value::Array(libraries);
    Ok(value)
}

#[cfg(test)]
mod tests;
