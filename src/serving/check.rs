//! What `check` says of the target's serving endpoints. Offline: each endpoint's name and the
//! alias it follows. With `--online`: whether the alias has a version yet (before the first
//! one nothing can be served, so `release` creates the endpoint only once there is one: the
//! failure of creating it with the bundle, mlops-stacks#217, cannot happen), and that the
//! name is free or ours (by its tags) with the permission to manage it (`CAN_MANAGE`, as
//! `ServingEndpointDetailed.permission_level` says).

use serde::Serialize;

use super::{Ctx, config, not_ours};
use crate::databricks::models::Models;
use crate::databricks::serving;
use crate::error::{Error, Result};
use crate::manifest::serving::Serving;

/// One endpoint as `check` sees it.
#[derive(Clone, Debug, Serialize)]
pub struct Planned {
    pub serving: String,
    pub endpoint: String,
    pub alias: String,
    /// What will happen, or (online) how it stands.
    pub state: String,
}

/// The endpoints of `tables` with their names filled in (offline).
pub fn planned(tables: &[&Serving], project: &str, branch_slug: &str, model: &str) -> Vec<Planned> {
    tables
        .iter()
        .map(|t| Planned {
            serving: t.name.clone(),
            endpoint: config::endpoint_name(t, project, branch_slug),
            alias: t.alias.clone(),
            state: format!(
                "follows {model}@{}: `release` creates or updates it once the alias has a version",
                t.alias
            ),
        })
        .collect()
}

/// The same, asked of the workspace: an endpoint someone else owns, or one we may not
/// manage, is an error.
pub fn online(ctx: &Ctx<'_>, tables: &[&Serving], model: &str) -> Result<Vec<Planned>> {
    let api = serving::Serving { client: ctx.client };
    let models = Models { client: ctx.client };
    let mut out = planned(tables, ctx.project, ctx.branch_slug, model);
    for (p, table) in out.iter_mut().zip(tables) {
        let version = models.by_alias(model, &table.alias)?.map(|v| v.version);
        p.state = match (api.get(&p.endpoint)?, version) {
            (None, None) => format!(
                "not created yet: {model} has no version with alias `{}`, and an endpoint cannot serve a model before it has one; `release` creates it after the first",
                table.alias
            ),
            (None, Some(v)) => format!("free: `release` creates it serving version {v}"),
            (Some(e), _) => {
                not_ours(&e, table, ctx.project)?;
                may_manage(&e)?;
                let versions: Vec<String> = e.served().into_iter().map(|(_, v)| v).collect();
                format!(
                    "ours, serving version {} ({})",
                    versions.join(", "),
                    super::wait::state_text(&e)
                )
            }
        };
    }
    Ok(out)
}

fn may_manage(e: &serving::Endpoint) -> Result<()> {
    match e.permission_level.as_deref() {
        Some("CAN_MANAGE") | None => Ok(()),
        Some(level) => Err(Error::usage(format!(
            "these credentials have {level} on serving endpoint `{}`; `release` needs CAN_MANAGE to change what it serves",
            e.name
        ))
        .with_help(format!(
            "ask its owner ({}) to grant CAN_MANAGE to this user or service principal",
            e.creator.as_deref().unwrap_or("see its permissions")
        ))),
    }
}
