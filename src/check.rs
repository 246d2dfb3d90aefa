//! What `check` verifies beyond the plan: for a Databricks target, that credentials resolve
//! (no network), and with `--online` that the workspace says who they belong to and that the
//! artifact folder's parent exists.

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
    /// `--online`: the folder the artifact root goes into, which exists.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub artifacts_parent: Option<String>,
}

/// Checks the plan for `entry` (and its `-P` values) on the session's target.
pub fn check(
    session: &Session,
    entry: Option<&str>,
    params: &[String],
    online: bool,
) -> Result<Checked> {
    let plan = session.prepare(entry, params)?.plan;
    // What the build reads first: each package's pyproject.toml must parse.
    for wheel in &plan.wheels {
        crate::build::backend::read(&wheel.path)?;
    }
    let mut checked = Checked {
        plan,
        credentials: None,
        workspace_user: None,
        artifacts_parent: None,
    };
    if checked.plan.target_kind != TargetKind::Databricks {
        return Ok(checked);
    }
    // Resolving credentials reads settings, the environment and ~/.databrickscfg only.
    let (store, client) = session.store(&checked.plan)?;
    let client = client.expect("a Databricks target has a client");
    checked.credentials = Some(format!(
        "{} ({}, from {})",
        client.host,
        client.method_name(),
        client.source
    ));
    if !online {
        return Ok(checked);
    }
    let user = crate::databricks::workspace::Workspace { client: &client }.me()?;
    // What must exist before the first deploy: a volume is made by an admin (the folders in
    // it are made by uploads); on DBFS, uploads make every folder, so the root's own parent.
    let root = checked.plan.artifacts.trim_end_matches('/');
    let parent = match root.strip_prefix("/Volumes/") {
        Some(rest) => format!(
            "/Volumes/{}",
            rest.split('/').take(3).collect::<Vec<_>>().join("/")
        ),
        None => crate::store::parent(root).to_string(),
    };
    let parent = if parent == "dbfs:" {
        "dbfs:/".to_string()
    } else {
        parent
    };
    if !store.folder_exists(&parent)? {
        return Err(Error::usage(format!(
            "the artifact folder's parent `{parent}` does not exist in {}",
            client.host
        ))
        .with_help(if parent.starts_with("/Volumes/") {
            "a Unity Catalog volume is created by an admin (`CREATE VOLUME`), or point `artifacts` at an existing one"
        } else {
            "create it, or point `artifacts` at an existing folder"
        }));
    }
    checked.workspace_user = Some(user);
    checked.artifacts_parent = Some(parent);
    Ok(checked)
}
