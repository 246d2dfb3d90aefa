//! What `check` verifies beyond the plan: for a Databricks target, that credentials resolve
//! (no network), and with `--online` that the workspace says who they belong to and that the
//! first deploy can make the artifact folder (the volume exists; on DBFS no file is in the way).

use serde::Serialize;

use crate::error::{Error, Result};
use crate::manifest::TargetKind;
use crate::plan::Plan;
use crate::session::Session;

/// The checked plan, and what `--online` learned.
#[derive(Clone, Debug, Serialize)]
pub struct Checked {
    #[serde(flatten)]
    pub plan: Plan,
    /// How the workspace will be reached: the host, the auth method, where it came from.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub credentials: Option<String>,
    /// `--online`: the user the credentials belong to (SCIM `Me`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub workspace_user: Option<String>,
    /// `--online`: the volume the artifacts go into, or on DBFS the nearest folder of the
    /// artifact root that exists (the first deploy makes the rest).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub artifacts_parent: Option<String>,
    /// The target's serving endpoints: their names, and (`--online`) how each stands.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub serving: Vec<crate::serving::check::Planned>,
}

/// Checks the plan for `entry` (and its `-P` values) on the session's target.
pub fn check(
    session: &Session,
    entry: Option<&str>,
    params: &[String],
    online: bool,
) -> Result<Checked> {
    let prepared = session.prepare(entry, params)?;
    let plan = prepared.plan.clone();
    // What the build reads first: each package's pyproject.toml must parse.
    for wheel in &plan.wheels {
        crate::build::backend::read(&wheel.path)?;
    }
    report_wheel_paths(&prepared, &session.output)?;
    let mut checked = Checked {
        plan,
        credentials: None,
        workspace_user: None,
        artifacts_parent: None,
        serving: Vec::new(),
    };
    if checked.plan.target_kind != TargetKind::Databricks {
        if let Some(warning) = python_request_warning(session, &prepared, None) {
            session.output.warn(warning);
        }
        return Ok(checked);
    }
    // Resolving credentials reads settings, the environment and ~/.databrickscfg only.
    let crate::session::OpenStore { store, client } = session.store(&checked.plan)?;
    let client = client.expect("a Databricks target has a client");
    checked.credentials = Some(format!(
        "{} ({}, from {})",
        client.host,
        client.method_name(),
        client.source
    ));
    let python = target_python(
        &checked.plan,
        &prepared.manifest,
        &prepared.project,
        online.then_some(&*client),
    )?;
    if let Some(python) = &python {
        wheels_fit(&known_wheels(session, &prepared)?, python)?;
    }
    if let Some(warning) = python_request_warning(session, &prepared, python.as_ref()) {
        session.output.warn(warning);
    }
    let tables: Vec<_> = prepared
        .manifest
        .serving
        .values()
        .filter(|s| s.target == checked.plan.target)
        .collect();
    if !tables.is_empty() {
        checked.serving = endpoints(
            &prepared,
            &tables,
            online.then_some(&*client),
            &session.output,
        )?;
    }
    if !online {
        return Ok(checked);
    }
    let user = crate::databricks::workspace::Workspace { client: &client }.me()?;
    existing_cluster_runtime(&client, &checked.plan, &prepared.project)?;
    checked.artifacts_parent = Some(ready_for_deploy(
        store.as_ref(),
        &checked.plan,
        &client.host,
    )?);
    checked.workspace_user = Some(user);
    Ok(checked)
}

/// The target's serving endpoints, offline as planned, online as they stand.
fn endpoints(
    prepared: &crate::session::Prepared,
    tables: &[&crate::manifest::serving::Serving],
    client: Option<&crate::databricks::Client>,
    output: &crate::output::Output,
) -> Result<Vec<crate::serving::check::Planned>> {
    use crate::serving;
    let plan = &prepared.plan;
    let model = prepared.manifest.model_of(&plan.target)?;
    let Some(client) = client else {
        return Ok(serving::check::planned(
            tables,
            &plan.project,
            &plan.branch_slug,
            &model,
        ));
    };
    let ctx = serving::Ctx {
        client,
        project: &plan.project,
        branch_slug: &plan.branch_slug,
        output,
    };
    serving::check::online(&ctx, tables, &model)
}

/// What the first deploy needs of the store, asked without writing: a volume must exist
/// (only an admin makes one; the folders in it are made by uploads); on DBFS, uploads make
/// every folder, so nothing on the way to the root may be a file. Returns the nearest folder
/// that exists.
fn ready_for_deploy(store: &dyn crate::store::Store, plan: &Plan, host: &str) -> Result<String> {
    let root = plan.artifacts.trim_end_matches('/');
    let key = format!("targets.{}.artifacts", plan.target);
    if let Some(rest) = root.strip_prefix("/Volumes/") {
        let parts: Vec<&str> = rest.split('/').take(3).collect();
        let volume = format!("/Volumes/{}", parts.join("/"));
        if parts.len() < 3 || !store.folder_exists(&volume)? {
            return Err(Error::usage(format!(
                "the volume `{volume}` that `{key}` names does not exist in {host}"
            ))
            .with_help(format!(
                "a Unity Catalog volume is made once by someone with CREATE VOLUME on the schema: `CREATE VOLUME {}` in SQL, or `databricks volumes create {} MANAGED`; or point `{key}` at an existing volume",
                parts.join("."),
                parts.join(" ")
            )));
        }
        return Ok(volume);
    }
    let mut path = root;
    loop {
        if path == "dbfs:" || path.is_empty() || store.folder_exists(path)? {
            return Ok(if path == "dbfs:" || path.is_empty() {
                "dbfs:/".into()
            } else {
                path.to_string()
            });
        }
        if store.size(path)?.is_some() {
            return Err(Error::usage(format!(
                "`{path}` is a file in {host}, so the artifact folder `{root}` cannot be made under it"
            ))
            .with_help(format!(
                "move or delete that file (`databricks fs rm {path}`), or point `{key}` elsewhere"
            )));
        }
        path = crate::store::parent(path);
    }
}

/// Wheel files the project's own environment file and cluster.json name: one of ours (any
/// version) is replaced by the built wheel, as the `WHEELPATH` placeholder is, and said so;
/// any other is installed from where it names, which must exist there: a warning with
/// file:line.
fn report_wheel_paths(
    prepared: &crate::session::Prepared,
    output: &crate::output::Output,
) -> Result<()> {
    let ours = crate::build::backend::distributions(&prepared.plan.wheels);
    let project = &prepared.project;
    let mut files: Vec<(&std::path::Path, Vec<String>)> = Vec::new();
    match &project.env {
        crate::manifest::project::Env::Conda(f) | crate::manifest::project::Env::Python(f) => {
            files.push((&f.path, crate::render::placeholder::strings(&f.value)));
        }
        _ => {}
    }
    if let Some(c) = &project.cluster {
        files.push((&c.path, crate::render::placeholder::strings(&c.value)));
    }
    for (path, strings) in files {
        let text = fs_err::read_to_string(path)?;
        let shown = crate::manifest::display_path(path);
        for s in strings {
            let Some(dist) = crate::build::backend::wheel_distribution(&s) else {
                continue;
            };
            let line = text
                .lines()
                .position(|l| l.contains(s.as_str()))
                .map_or(1, |i| i + 1);
            match ours.iter().find(|(d, _)| *d == dist) {
                Some((_, wheel)) => output.note(format!(
                    "{}:{line}: `{s}` is a wheel of `{dist}`, which cargo mlops builds from `{}`: it is replaced by the built wheel's path, as the WHEELPATH placeholder is",
                    shown.display(),
                    wheel.declared
                )),
                None => output.warn(format!(
                    "{}:{line}: `{s}` names a wheel that no [[wheel]] builds (`{dist}`): it is installed from that path as written, so it must exist there; add its package as a [[wheel]] to have it built and shipped",
                    shown.display()
                )),
            }
        }
    }
    Ok(())
}

/// The existing cluster a target's tasks run on, and which setting names it: the target's
/// `cluster_id`, or `existing_cluster_id` in the project's own cluster.json (which replaces a
/// job cluster, as MLflow's Databricks backend reads it).
pub fn existing_cluster(
    plan: &Plan,
    project: &crate::manifest::project::MlflowProject,
) -> Option<(String, String)> {
    match &plan.compute {
        crate::manifest::Compute::ExistingCluster { cluster_id } => Some((
            cluster_id.clone(),
            format!("`targets.{}.cluster_id`", plan.target),
        )),
        crate::manifest::Compute::JobCluster => {
            let own = project.cluster.as_ref()?;
            let id = own.value.get("existing_cluster_id")?.as_str()?;
            Some((
                id.to_string(),
                format!(
                    "`existing_cluster_id` in {}",
                    crate::manifest::display_path(&own.path).display()
                ),
            ))
        }
        crate::manifest::Compute::Serverless { .. } => None,
    }
}

/// An existing cluster installs libraries from the DBFS root only below Databricks Runtime
/// 15.0, or when its Spark conf opts back in (see `render::DBFS_LIBRARIES_OFF_FROM`): asked of
/// the cluster itself (`clusters/get`), since its runtime is in no file of ours, before
/// anything is uploaded. Used by `check --online`, `run` and `jobs deploy`.
pub fn existing_cluster_runtime(
    client: &crate::databricks::Client,
    plan: &Plan,
    project: &crate::manifest::project::MlflowProject,
) -> Result<()> {
    let Some((cluster_id, named_by)) = existing_cluster(plan, project) else {
        return Ok(());
    };
    if !plan.artifacts.starts_with("dbfs:/") {
        return Ok(());
    }
    let details = crate::databricks::clusters::Clusters { client }.get(&cluster_id)?;
    let Some(version) = details.spark_version else {
        return Ok(());
    };
    let opted_in = crate::render::opts_in_to_dbfs_libraries(
        details
            .spark_conf
            .get(crate::render::DBFS_LIBRARY_OPT_IN)
            .map(String::as_str),
    );
    let (major, minor) = crate::render::DBFS_LIBRARIES_OFF_FROM;
    match crate::render::parse_runtime(&version) {
        Some(runtime) if runtime >= (major, minor) && !opted_in => Err(Error::usage(format!(
            "target `{}` stores wheels on DBFS (`{}`), but its cluster {cluster_id} ({named_by}) runs Databricks Runtime `{version}`: libraries in the DBFS root are disabled from {major}.{minor}",
            plan.target, plan.artifacts
        ))
        .with_help(format!(
            "store them in a Unity Catalog volume (`artifacts = \"/Volumes/<catalog>/<schema>/<volume>/{{project}}\"`), or set the Spark conf `{} true` on cluster {cluster_id}",
            crate::render::DBFS_LIBRARY_OPT_IN
        ))),
        _ => Ok(()),
    }
}

/// The wheels a deploy would ship, by package and file name, as far as they are known without
/// building: a cached build's file, else the name a PyO3 crate's wheel will have.
fn known_wheels(
    session: &Session,
    prepared: &crate::session::Prepared,
) -> Result<Vec<(String, String)>> {
    if prepared.plan.wheels.is_empty() {
        return Ok(Vec::new());
    }
    // Without an interpreter nothing is known of the wheels yet (the build will say so).
    let Ok(python) = session.python() else {
        return Ok(Vec::new());
    };
    let state = prepared.manifest.state_dir();
    let mut out = Vec::new();
    for spec in &prepared.plan.wheels {
        let file = match crate::build::peek(&state, spec, &python)? {
            Some(built) => Some(built.file),
            None => crate::build::predicted_file(spec, &python)?,
        };
        if let Some(file) = file {
            out.push((spec.declared.clone(), file));
        }
    }
    Ok(out)
}

/// The Python the project's own environment file asks for: the file (for messages) and the
/// version as written.
fn requested_python(project: &crate::manifest::project::MlflowProject) -> Option<(String, String)> {
    let (crate::manifest::project::Env::Conda(file) | crate::manifest::project::Env::Python(file)) =
        &project.env
    else {
        return None;
    };
    let text = serde_yaml::to_string(&file.value).ok()?;
    let wanted = crate::environment::requirements::requested_python(&file.name, &text)?;
    Some((
        crate::manifest::display_path(&file.path)
            .display()
            .to_string(),
        wanted,
    ))
}

/// A Python the environment file asks for that the run will not have: locally, one not
/// installed here; on a cluster, one its runtime does not run (serverless is said by the
/// render checks).
fn python_request_warning(
    session: &Session,
    prepared: &crate::session::Prepared,
    target: Option<&(crate::build::tags::Version, String)>,
) -> Option<String> {
    let (file, wanted) = requested_python(&prepared.project)?;
    if prepared.plan.target_kind == TargetKind::Local {
        let build = session.python().ok()?;
        return crate::environment::interpreter::for_env(&file, Some(&wanted), &build, &|k| {
            std::env::var_os(k)
        })
        .warning;
    }
    if matches!(
        prepared.plan.compute,
        crate::manifest::Compute::Serverless { .. }
    ) {
        return None;
    }
    let (have, runs) = target?;
    let have = crate::render::runtimes::shown(*have);
    (!crate::environment::requirements::python_matches(&wanted, &have)).then(|| {
        format!(
            "{file} asks for Python {wanted}, but {runs} has Python {have}: the runtime decides which Python runs; pick a runtime with Python {wanted}, or change the file's `python`"
        )
    })
}

/// The Python a Databricks target's tasks run under, and where that comes from, for
/// messages: a serverless environment version, a job cluster's runtime (cluster.json or
/// `[cluster]`), or an existing cluster's (asked of it, when a client is given). `None` when it
/// cannot be told (an unknown runtime, an existing cluster offline).
pub fn target_python(
    plan: &Plan,
    manifest: &crate::manifest::Manifest,
    project: &crate::manifest::project::MlflowProject,
    client: Option<&crate::databricks::Client>,
) -> Result<Option<(crate::build::tags::Version, String)>> {
    use crate::render::runtimes;
    if plan.target_kind != TargetKind::Databricks {
        return Ok(None);
    }
    if let crate::manifest::Compute::Serverless {
        environment_version,
    } = &plan.compute
    {
        return Ok(runtimes::serverless_python(environment_version).map(|v| {
            (
                v,
                format!("serverless environment version {environment_version}"),
            )
        }));
    }
    if let Some((cluster_id, named_by)) = existing_cluster(plan, project) {
        let Some(client) = client else {
            return Ok(None);
        };
        let details = crate::databricks::clusters::Clusters { client }.get(&cluster_id)?;
        return Ok(details.spark_version.and_then(|version| {
            runtimes::runtime_python(&version).map(|v| {
                (
                    v,
                    format!("cluster {cluster_id} ({named_by}), runtime `{version}`"),
                )
            })
        }));
    }
    let (version, source) = crate::render::runtime_of(plan, manifest, project);
    Ok(runtimes::runtime_python(&version).map(|v| {
        (
            v,
            format!("the job cluster's runtime `{version}` ({source})"),
        )
    }))
}

/// Every wheel must install on the target's Python: `wheels` are (package as declared, wheel
/// file name). The first that does not is an error naming the wheel, both Pythons and the fix,
/// before anything is uploaded (the cluster would fail to install it at every run).
pub fn wheels_fit(
    wheels: &[(String, String)],
    python: &(crate::build::tags::Version, String),
) -> Result<()> {
    use crate::build::tags::{Misfit, fits};
    let (have, runs) = python;
    let have_text = crate::render::runtimes::shown(*have);
    for (package, file) in wheels {
        let why = match fits(file, *have) {
            Ok(()) => continue,
            Err(Misfit::Python(allowed)) => format!("it is for {allowed}"),
            Err(Misfit::Platform(platform)) => {
                format!("it is built for another system (`{platform}`), not Linux")
            }
        };
        return Err(Error::usage(format!(
            "wheel {file} (from `{package}`) cannot be installed where the target runs: {why}, and {runs} has Python {have_text}"
        ))
        .with_help(format!(
            "for a PyO3 crate, build for the stable ABI so one wheel fits every Python from a version on: add PyO3's `abi3-py{}{}` feature (`pyo3 = {{ version = \"...\", features = [\"abi3-py{}{}\"] }}` in its Cargo.toml); or build it with a Python {have_text} interpreter (`--python`); or pick a runtime whose Python the wheel is for",
            have.major, have.minor, have.major, have.minor
        )));
    }
    Ok(())
}
