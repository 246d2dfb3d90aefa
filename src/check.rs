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
    checked.artifacts_parent = Some(ready_for_deploy(
        store.as_ref(),
        &checked.plan,
        &client.host,
    )?);
    checked.workspace_user = Some(user);
    Ok(checked)
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
