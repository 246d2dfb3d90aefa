//! From the manifest as written to the resolved model: names and paths checked, defaults
//! filled in, the cluster, entry points, targets and hooks resolved.

use std::collections::BTreeMap;
use std::path::PathBuf;

use toml::Spanned;

use super::ctx::Ctx;
use super::defaults;
use super::entry_points::resolve_entry_point;
use super::model::*;
use super::raw::RawCluster;
use super::raw::{self, RawManifest};
use super::targets::{builtin_local_target, resolve_target};
use crate::error::{Error, Result};
use crate::support::diagnostic::{Diagnostic, suggestion};
use crate::support::paths::normalize;

pub(super) fn resolve(
    raw: RawManifest,
    ctx: Ctx<'_>,
    path: PathBuf,
    root: PathBuf,
) -> Result<Manifest> {
    let Some(project) = raw.project else {
        return Err(Error::diagnostic(Diagnostic::whole_file(
            ctx.file,
            "missing `[project]` table",
        )
        .help("add a `[project]` table with the project's name:\n\n    [project]\n    name = \"my-model\"\n")));
    };
    let project = project.into_inner();
    let name = project_name(&project.name, &ctx)?;
    let (mlproject, mlproject_span) = match &project.mlproject {
        Some(dir) => (root.join(dir.get_ref()), Some(dir.span())),
        None => (root.join(defaults::MLPROJECT_DIR), None),
    };
    let wheels = resolve_wheels(raw.wheels, &root, &ctx)?;
    let environment = resolve_environment(raw.environment, &ctx)?;
    let project_cluster = raw.cluster.clone();
    let cluster = resolve_cluster(raw.cluster, &ctx)?;
    let entry_points = resolve_entry_points(raw.entry_points, &ctx)?;
    let targets = resolve_targets(raw.targets, project_cluster.as_ref(), &ctx)?;
    let raw_deployment_job = raw.release.as_ref().and_then(|r| r.deployment_job.clone());
    let release = super::release::resolve(raw.release, &ctx)?;
    let hooks = resolve_hooks(raw.hooks, &targets, &ctx)?;
    let job_entries = job_entry_points(&entry_points, &mlproject);
    let jobs = super::jobs::resolve(
        raw.jobs,
        &super::jobs::Known {
            entry_points: &job_entries.iter().map(String::as_str).collect::<Vec<_>>(),
            targets: &targets
                .iter()
                .map(|(n, t)| (n.clone(), t.kind == TargetKind::Databricks))
                .collect(),
            models: &targets
                .iter()
                .map(|(n, t)| (n.clone(), t.release.model.clone().or(release.model.clone())))
                .collect(),
            hook_target: hooks.target.as_deref(),
        },
        &ctx,
    )?;
    let serving = resolve_serving(raw.serving, &targets, &release, &ctx)?;
    deployment_job(raw_deployment_job.as_ref(), &jobs, &ctx)?;
    Ok(Manifest {
        jobs,
        serving,
        display_path: ctx.file.to_path_buf(),
        source: ctx.source.to_string(),
        path,
        root,
        project: Project {
            name,
            mlproject,
            discover: project.discover,
        },
        wheels,
        environment,
        cluster,
        entry_points,
        targets,
        hooks,
        compare_base: raw
            .compare
            .and_then(|c| c.base)
            .filter(|b| !b.trim().is_empty()),
        release,
        mlproject_span,
    })
}

/// `[project] name`, checked as a name (it becomes folder and experiment names).
fn project_name(name: &Spanned<String>, ctx: &Ctx<'_>) -> Result<String> {
    let value = name.get_ref().clone();
    match name_problem(&value) {
        None => Ok(value),
        Some(problem) => Err(Error::diagnostic(
            ctx.at(
                name.span(),
                format!("invalid project name `{value}`: {problem}"),
            )
            .key("project.name")
            .help("use letters, digits, `-`, `_` and `.`, starting with a letter or digit"),
        )),
    }
}

/// `[[wheel]]` entries: each path non-empty, normalized under the root, and built once.
fn resolve_wheels(
    raw: Vec<Spanned<raw::RawWheel>>,
    root: &std::path::Path,
    ctx: &Ctx<'_>,
) -> Result<Vec<WheelSpec>> {
    let mut wheels: Vec<WheelSpec> = Vec::new();
    for (i, wheel) in raw.into_iter().enumerate() {
        let wheel = wheel.into_inner();
        let declared = wheel.path.get_ref().clone();
        let span = wheel.path.span();
        let key = format!("wheel[{i}].path");
        if declared.trim().is_empty() {
            return Err(Error::diagnostic(
                ctx.at(span, "empty wheel path")
                    .key(key)
                    .help("set `path` to the folder holding the package's pyproject.toml"),
            ));
        }
        let full = normalize(&root.join(&declared));
        if let Some(first) = wheels.iter().position(|w| w.path == full) {
            return Err(Error::diagnostic(
                ctx.at(
                    span,
                    format!(
                        "duplicate wheel path `{declared}`: `wheel[{first}]` already builds `{}`",
                        wheels[first].declared
                    ),
                )
                .key(key)
                .help("remove one of the two `[[wheel]]` entries"),
            ));
        }
        wheels.push(WheelSpec {
            path: full,
            declared,
            install: wheel.install.unwrap_or_default(),
            span,
        });
    }
    Ok(wheels)
}

/// `[environment]`: the Python version checked, the rest as written.
fn resolve_environment(raw: Option<raw::RawEnvironment>, ctx: &Ctx<'_>) -> Result<Environment> {
    let Some(env) = raw else {
        return Ok(Environment {
            python: defaults::PYTHON.into(),
            conda: Vec::new(),
            pip: Vec::new(),
        });
    };
    if let Some(python) = &env.python {
        if !is_python_version(python.get_ref()) {
            return Err(Error::diagnostic(
                ctx.at(
                    python.span(),
                    format!("invalid Python version `{}`", python.get_ref()),
                )
                .key("environment.python")
                .help("write a version such as \"3.11\" or \"3.11.9\""),
            ));
        }
    }
    Ok(Environment {
        python: env
            .python
            .map(Spanned::into_inner)
            .unwrap_or_else(|| defaults::PYTHON.into()),
        conda: env.conda.unwrap_or_default(),
        pip: env.pip.unwrap_or_default(),
    })
}

/// `[entry_points.NAME]`: each name checked, each entry resolved.
fn resolve_entry_points(
    raw: BTreeMap<String, Spanned<raw::RawEntryPoint>>,
    ctx: &Ctx<'_>,
) -> Result<BTreeMap<String, EntryPoint>> {
    let mut entry_points = BTreeMap::new();
    for (name, entry) in raw {
        let key = format!("entry_points.{name}");
        if let Some(problem) = name_problem(&name) {
            return Err(Error::diagnostic(
                ctx.at(
                    entry.span(),
                    format!("invalid entry point name `{name}`: {problem}"),
                )
                .key(key),
            ));
        }
        let entry = resolve_entry_point(entry.into_inner(), &key, ctx)?;
        entry_points.insert(name, entry);
    }
    Ok(entry_points)
}

/// `[targets.NAME]`: each resolved with its own cluster (overlaid on the project's), and the
/// built-in local target added unless the manifest defines one of that name.
fn resolve_targets(
    raw: BTreeMap<String, Spanned<raw::RawTarget>>,
    project_cluster: Option<&RawCluster>,
    ctx: &Ctx<'_>,
) -> Result<BTreeMap<String, Target>> {
    let mut targets = BTreeMap::new();
    for (target_name, target) in raw {
        if let Some(problem) = name_problem(&target_name) {
            return Err(Error::diagnostic(
                ctx.at(
                    target.span(),
                    format!("invalid target name `{target_name}`: {problem}"),
                )
                .key(format!("targets.{target_name}")),
            ));
        }
        let span = target.span();
        let mut target = target.into_inner();
        let own_cluster = target
            .cluster
            .take()
            .map(|over| resolve_cluster(Some(RawCluster::overlaid(project_cluster, &over)), ctx))
            .transpose()?;
        let mut target = resolve_target(&target_name, target, span, ctx)?;
        target.cluster = own_cluster;
        targets.insert(target_name, target);
    }
    targets
        .entry(defaults::TARGET.to_string())
        .or_insert_with(builtin_local_target);
    Ok(targets)
}

/// `[hooks]`: the pre-push action and its target, which `deploy` needs.
fn resolve_hooks(
    raw: Option<raw::RawHooks>,
    targets: &BTreeMap<String, Target>,
    ctx: &Ctx<'_>,
) -> Result<Hooks> {
    let Some(h) = raw else {
        return Ok(Hooks::default());
    };
    let action = h.pre_push.unwrap_or_default();
    if let Some(t) = &h.target {
        if !targets.contains_key(t.get_ref()) {
            return Err(Error::diagnostic(
                ctx.at(t.span(), format!("unknown target `{}`", t.get_ref()))
                    .key("hooks.target")
                    .help(suggestion(
                        "targets",
                        t.get_ref(),
                        targets.keys().map(String::as_str),
                    )),
            ));
        }
    }
    if action == HookAction::Deploy && h.target.is_none() {
        return Err(Error::diagnostic(
            Diagnostic::whole_file(ctx.file, "`[hooks] pre_push = \"deploy\"` needs a `target`")
                .key("hooks.target")
                .help("add `target = \"dev\"` (a [targets.NAME] of this file) under [hooks]"),
        ));
    }
    Ok(Hooks {
        pre_push: action,
        target: h.target.map(Spanned::into_inner),
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

/// Why `name` is not a valid project, target or entry point name, if it is not.
pub(super) fn name_problem(name: &str) -> Option<&'static str> {
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

fn is_python_version(v: &str) -> bool {
    let parts: Vec<&str> = v.split('.').collect();
    (2..=3).contains(&parts.len())
        && parts
            .iter()
            .all(|p| !p.is_empty() && p.chars().all(|c| c.is_ascii_digit()))
        && parts[0] == "3"
}

/// The entry points a job may run: mlops.toml's and the MLproject's.
fn job_entry_points<T>(
    own: &std::collections::BTreeMap<String, T>,
    mlproject: &std::path::Path,
) -> Vec<String> {
    let mut names: Vec<String> = own.keys().cloned().collect();
    names.extend(super::mlproject_file::entry_point_names(mlproject));
    names.sort();
    names.dedup();
    names
}

/// `[release] deployment_job` names a job of `[jobs]` that does not release itself (a new
/// version starts it: a release task in it would start it again).
fn deployment_job(
    named: Option<&Spanned<String>>,
    jobs: &BTreeMap<String, super::jobs::Job>,
    ctx: &Ctx<'_>,
) -> Result<()> {
    let Some(named) = named else {
        return Ok(());
    };
    let name = named.get_ref();
    let (msg, help) = match jobs.get(name) {
        None => (
            format!("`{name}` is not a job of [jobs]"),
            crate::support::diagnostic::suggestion("jobs", name, jobs.keys().map(String::as_str))
                + "; the deployment job is a `[jobs.<name>]` table (add `approval = \"Approval_Check\"` for an approval step)",
        ),
        Some(job) if job.release => (
            format!("job `{name}` releases, so it cannot be the deployment job"),
            "a deployment job runs after a version is registered; remove its `release = true`"
                .into(),
        ),
        Some(_) => return Ok(()),
    };
    Err(super::jobs::fail(
        ctx,
        named.span(),
        msg,
        "release.deployment_job".into(),
        help,
    ))
}

/// `[serving.<name>]` tables, checked against the targets and the aliases the project uses.
fn resolve_serving(
    raw: BTreeMap<String, Spanned<super::serving::RawServing>>,
    targets: &BTreeMap<String, super::model::Target>,
    release: &super::release::Release,
    ctx: &Ctx<'_>,
) -> Result<BTreeMap<String, super::serving::Serving>> {
    let mut aliases = vec![release.alias.as_str()];
    if let Some(m) = &release.must_beat {
        aliases.push(m.alias.as_str());
    }
    super::serving::resolve(
        raw,
        &super::serving::Known {
            targets: &targets
                .iter()
                .map(|(n, t)| (n.clone(), t.kind == TargetKind::Databricks))
                .collect(),
            aliases: &aliases,
            release_alias: &release.alias,
        },
        ctx,
    )
}
