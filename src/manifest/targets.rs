//! `[targets.NAME]`: the built-in `local` target and Databricks targets, with their
//! artifact roots, experiments and compute (a job cluster, an existing cluster, serverless).

use std::ops::Range;

use toml::Spanned;

use super::ctx::Ctx;
use super::defaults;
use super::entry_points::describe_value;
use super::model::{Compute, ComputeKind, EnvManager, Target, TargetKind};
use super::placeholders::Template;
use super::raw;
use crate::error::{Error, Result};

pub(super) fn resolve_target(
    name: &str,
    raw: raw::RawTarget,
    span: Range<usize>,
    ctx: &Ctx<'_>,
) -> Result<Target> {
    let key = format!("targets.{name}");
    if name == defaults::TARGET && raw.kind != TargetKind::Local {
        return Err(Error::diagnostic(
            ctx.at(span.clone(), "the `local` target must have `kind = \"local\"`")
                .key(format!("{key}.kind"))
                .help("`local` is the default target; give the Databricks target another name, such as `dev`"),
        ));
    }
    let release = super::release::resolve_target(
        raw.model.as_ref(),
        raw.release_branches.as_ref(),
        raw.kind == TargetKind::Databricks,
        &key,
        ctx,
    )?;
    let mut target = match raw.kind {
        TargetKind::Local => local_target(raw, &key, ctx)?,
        TargetKind::Databricks => databricks_target(name, raw, span, &key, ctx)?,
    };
    target.name = name.into();
    target.release = release;
    Ok(target)
}

/// A `[targets.NAME]` template field, parsed, with its error placed inside the string.
fn template(value: &Spanned<String>, key: &str, field: &str, ctx: &Ctx<'_>) -> Result<Template> {
    Template::parse(value.get_ref()).map_err(|e| {
        let range = ctx.inside(value.span(), value.get_ref(), e.offset, e.len);
        Error::diagnostic(
            ctx.at(range, e.message)
                .key(format!("{key}.{field}"))
                .maybe_help(e.help),
        )
    })
}

/// A `kind = "local"` target: Databricks-only keys refused, defaults for the rest.
fn local_target(raw: raw::RawTarget, key: &str, ctx: &Ctx<'_>) -> Result<Target> {
    let databricks_only = [
        ("env_manager", raw.env_manager.as_ref().map(Spanned::span)),
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
    for (field, span) in databricks_only {
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
        name: String::new(),
        kind: TargetKind::Local,
        host: None,
        profile: None,
        artifacts: match &raw.artifacts {
            Some(a) => template(a, key, "artifacts", ctx)?,
            None => Template::parse(defaults::LOCAL_ARTIFACTS).expect("valid default"),
        },
        experiment: match &raw.experiment {
            Some(e) => template(e, key, "experiment", ctx)?,
            None => Template::parse(defaults::LOCAL_EXPERIMENT).expect("valid default"),
        },
        compute: Compute::JobCluster,
        env_manager: EnvManager::Local,
        mlflow_version: None,
        builtin: false,
        release: Default::default(),
        cluster: None,
    })
}

/// A `kind = "databricks"` target: its artifact root, experiment path, host, environment
/// manager and compute checked.
fn databricks_target(
    name: &str,
    raw: raw::RawTarget,
    span: Range<usize>,
    key: &str,
    ctx: &Ctx<'_>,
) -> Result<Target> {
    let artifacts = databricks_artifacts(name, &raw, span, key, ctx)?;
    let experiment = match &raw.experiment {
        Some(e) => databricks_experiment(e, key, ctx)?,
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
    check_env_manager(&raw, key, ctx)?;
    let compute = resolve_compute(&raw, &artifacts, key, ctx)?;
    Ok(Target {
        name: String::new(),
        kind: TargetKind::Databricks,
        host: raw.host.map(Spanned::into_inner),
        profile: raw.profile.map(Spanned::into_inner),
        artifacts,
        experiment,
        compute,
        env_manager: EnvManager::Local,
        mlflow_version: raw.mlflow_version.map(Spanned::into_inner),
        builtin: false,
        release: Default::default(),
        cluster: None,
    })
}

/// A Databricks target's `artifacts`: required, and on DBFS or a Unity Catalog volume.
fn databricks_artifacts(
    name: &str,
    raw: &raw::RawTarget,
    span: Range<usize>,
    key: &str,
    ctx: &Ctx<'_>,
) -> Result<Template> {
    let Some(artifacts_raw) = &raw.artifacts else {
        return Err(Error::diagnostic(
            ctx.at(span, format!("databricks target `{name}` has no `artifacts`"))
                .key(format!("{key}.artifacts"))
                .help("say where wheels go: a Unity Catalog volume such as `artifacts = \"/Volumes/main/mlops/artifacts/{project}\"`, or `artifacts = \"dbfs:/mlops/{project}\"` for runtimes below 15.0"),
        ));
    };
    let artifacts = template(artifacts_raw, key, "artifacts", ctx)?;
    if let Some(problem) = databricks_artifacts_problem(&artifacts) {
        return Err(Error::diagnostic(
            ctx.at(artifacts_raw.span(), problem)
                .key(format!("{key}.artifacts"))
                .help("use `/Volumes/<catalog>/<schema>/<volume>/...` or `dbfs:/...`"),
        ));
    }
    Ok(artifacts)
}

/// Databricks names experiments by absolute workspace path.
fn databricks_experiment(e: &Spanned<String>, key: &str, ctx: &Ctx<'_>) -> Result<Template> {
    let t = template(e, key, "experiment", ctx)?;
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
    Ok(t)
}

/// https://docs.databricks.com/aws/en/mlflow/projects: from Runtime 13.0 ML, MLflow Projects
/// cannot run inside a job cluster, so nothing on Databricks may make its own environment
/// with `mlflow run`.
fn check_env_manager(raw: &raw::RawTarget, key: &str, ctx: &Ctx<'_>) -> Result<()> {
    let Some(manager) = raw
        .env_manager
        .as_ref()
        .filter(|m| *m.get_ref() != EnvManager::Local)
    else {
        return Ok(());
    };
    Err(Error::diagnostic(
        ctx.at(
            manager.span(),
            format!(
                "`env_manager = \"{}\"` cannot work on Databricks: the entry point runs in the task's own Python process (MLflow Projects cannot run inside a job cluster from Runtime 13.0 ML), and the platform installs its environment",
                manager.get_ref()
            ),
        )
        .key(format!("{key}.env_manager"))
        .help("remove `env_manager`: the environment's pip packages and every wheel become job libraries (or serverless dependencies)"),
    ))
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
    Ok(Compute::Serverless {
        environment_version: environment_version(raw.environment_version.as_ref(), key, ctx)?,
    })
}

/// A serverless `environment_version`: a version number, as a string or an integer.
fn environment_version(
    value: Option<&Spanned<toml::Value>>,
    key: &str,
    ctx: &Ctx<'_>,
) -> Result<String> {
    let Some(v) = value else {
        return Ok(defaults::SERVERLESS_ENVIRONMENT_VERSION.to_string());
    };
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
    Ok(text)
}

pub(super) fn builtin_local_target() -> Target {
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
        release: Default::default(),
        cluster: None,
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
