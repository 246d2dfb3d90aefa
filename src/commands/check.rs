//! `cargo mlops check`: validate everything that can be validated without side effects and
//! print the resolved plan.

use crate::cli::CheckArgs;
use crate::error::Result;
use crate::plan::Plan;
use crate::session::Session;

pub fn run(session: &Session, args: &CheckArgs) -> Result<()> {
    let output = session.output.clone().with_json(args.json);
    let checked = crate::check::check(session, args.entry.as_deref(), &args.params, args.online)?;
    let plan = &checked.plan;
    if output.json() {
        output.result_json(&checked);
    } else {
        for line in describe(plan) {
            output.result(line);
        }
        for (key, value) in [
            ("workspace", &checked.credentials),
            ("user", &checked.workspace_user),
            ("ready", &checked.artifacts_parent),
        ] {
            if let Some(v) = value {
                output.result(format!("{key:>10}  {v}"));
            }
        }
        for s in &checked.serving {
            output.result(format!("{:>10}  {}: {}", "endpoint", s.endpoint, s.state));
        }
    }
    let verdict = match output.warnings() {
        0 => "no problems found".to_string(),
        1 => "1 warning (above)".to_string(),
        n => format!("{n} warnings (above)"),
    };
    output.status(
        "Checked",
        format!("{} for target `{}`: {verdict}", plan.project, plan.target),
    );
    Ok(())
}

/// The plan as aligned `key  value` lines, the way a person reads it.
pub fn describe(plan: &Plan) -> Vec<String> {
    let mut rows: Vec<(&str, String)> = vec![
        (
            "project",
            format!("{} ({})", plan.project, plan.manifest.display()),
        ),
        ("target", format!("{} ({})", plan.target, plan.target_kind)),
    ];
    if let Some(host) = &plan.host {
        rows.push(("host", host.clone()));
    }
    if let Some(profile) = &plan.profile {
        rows.push(("profile", profile.clone()));
    }
    if plan.target_kind == crate::manifest::TargetKind::Databricks {
        rows.push(("compute", plan.compute.to_string()));
    }
    rows.push((
        "branch",
        format!("{} (from {})", plan.branch, plan.branch_source),
    ));
    rows.push(("slug", plan.branch_slug.clone()));
    rows.push((
        "commit",
        plan.commit.clone().unwrap_or_else(|| "(none yet)".into()),
    ));
    rows.push(("experiment", plan.experiment.clone()));
    rows.push(("artifacts", plan.branch_artifacts.clone()));
    rows.push(("mlproject", plan.mlproject.display().to_string()));
    if plan.wheels.is_empty() {
        rows.push(("wheels", "(none)".into()));
    }
    for wheel in &plan.wheels {
        rows.push((
            "wheel",
            format!("{} (install: {})", wheel.declared, wheel.install),
        ));
    }
    if plan.entry_points.is_empty() {
        rows.push(("entry points", "(none in mlops.toml)".into()));
    }
    for (name, entry) in &plan.entry_points {
        let params: Vec<String> = entry
            .parameters
            .iter()
            .map(|(p, spec)| match &spec.default {
                Some(d) => format!("{p}: {} = {d}", spec.ty),
                None => format!("{p}: {}", spec.ty),
            })
            .collect();
        let marker = if plan.entry.as_deref() == Some(name.as_str()) {
            " *"
        } else {
            ""
        };
        rows.push(("entry", format!("{name}({}){marker}", params.join(", "))));
    }
    let width = rows.iter().map(|(k, _)| k.len()).max().unwrap_or(0);
    rows.into_iter()
        .map(|(k, v)| format!("{k:>width$}  {v}"))
        .collect()
}
