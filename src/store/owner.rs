//! Which project an artifact root and its branch folders belong to.
//!
//! Two repositories that deploy to one root (an `artifacts` path without `{project}`) share its
//! namespace of branch folders: each one's `gc` would take the other's branches for branches
//! gone from its own remote, and "the newest deploy of `main`" would be whoever deployed last.
//! So a root carries a marker naming the project that deploys there ([`MARKER`]) and the
//! repository it deploys from (two repositories may name their projects alike), a deploy
//! refuses a root marked by another project or repository, and `gc` acts only on branch
//! folders whose every record names its own project, under a root of its own repository.

use serde::{Deserialize, Serialize};

use super::Store;
use crate::error::{Error, Result};

/// The marker's file name, directly under the artifact root. Branch slugs are `[a-z0-9-]`, so
/// it can never be a branch folder.
pub const MARKER: &str = ".cargo-mlops-project.json";

/// `<artifacts>/.cargo-mlops-project.json`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Marker {
    pub project: String,
    /// The repository that deploys here ([`crate::git::repository`]); absent in markers
    /// written before it was recorded, and outside git.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub repository: Option<String>,
    /// RFC 3339, UTC, seconds: when the first deploy marked the root.
    pub time: String,
    pub tool: String,
}

fn marker_path(root: &str) -> String {
    format!("{}/{MARKER}", root.trim_end_matches('/'))
}

/// The root's marker, if any. An unreadable marker counts as a foreign one: nobody acts on a
/// root they cannot tell is theirs.
pub fn read(store: &dyn Store, root: &str) -> Result<Option<Marker>> {
    let path = marker_path(root);
    let Some(bytes) = store.read_small(&path)? else {
        return Ok(None);
    };
    match serde_json::from_slice::<Marker>(&bytes) {
        Ok(m) => Ok(Some(m)),
        Err(e) => Err(Error::usage(format!(
            "the artifact root's marker {path} cannot be read: {e}"
        ))
        .with_help(format!(
            "it says which project deploys under {root}; delete it only if no other project deploys there"
        ))),
    }
}

/// The error for a root that another project marked; `key` is the manifest key that sets it.
pub fn foreign(root: &str, theirs: &str, ours: &str, key: &str) -> Error {
    Error::usage(format!(
        "the artifact root {root} belongs to project `{theirs}` (its {MARKER} says so), not `{ours}`"
    ))
    .with_help(format!(
        "projects that share a root delete each other's artifacts; give `{ours}` its own root, e.g. put `{{project}}` in `{key}`: `.../{{project}}`"
    ))
}

/// The error for a root marked by the same project name from another repository.
pub fn other_repository(root: &str, project: &str, theirs: &str, ours: &str, key: &str) -> Error {
    Error::usage(format!(
        "the artifact root {root} belongs to project `{project}` of repository {theirs} (its {MARKER} says so); this is {ours}"
    ))
    .with_help(format!(
        "two repositories whose projects are both named `{project}` would share branch folders, and each one's gc would delete the other's; rename this one (`[project] name`), or give it its own root in `{key}`"
    ))
}

/// Who deploys: the project's name and its repository (`None` outside git).
#[derive(Clone, Copy, Debug)]
pub struct Deployer<'a> {
    pub project: &'a str,
    pub repository: Option<&'a str>,
}

/// Whether the marker is `us`, or why not (the error to give; `key` sets the root).
pub fn check(root: &str, m: &Marker, us: Deployer<'_>, key: &str) -> Result<()> {
    if m.project != us.project {
        return Err(foreign(root, &m.project, us.project, key));
    }
    match (m.repository.as_deref(), us.repository) {
        (Some(theirs), Some(ours)) if theirs != ours => {
            Err(other_repository(root, us.project, theirs, ours, key))
        }
        _ => Ok(()),
    }
}

/// Before a deploy writes anything: marks an unmarked root for `us`, and refuses a root
/// another project or repository marked. A marker from before repositories were recorded is
/// completed with ours.
pub fn claim(store: &dyn Store, root: &str, us: Deployer<'_>, key: &str) -> Result<()> {
    if let Some(m) = read(store, root)? {
        check(root, &m, us, key)?;
        if m.repository.is_some() || us.repository.is_none() {
            return Ok(());
        }
    }
    write(store, root, us)?;
    // Two first deploys may race: the one whose marker did not stick stops here, before its
    // first file.
    match read(store, root)? {
        Some(m) => check(root, &m, us, key),
        None => Ok(()),
    }
}

/// Writes the marker for `us` (a first deploy, or `gc --claim-root` after a rename).
pub fn write(store: &dyn Store, root: &str, us: Deployer<'_>) -> Result<()> {
    let marker = Marker {
        project: us.project.to_string(),
        repository: us.repository.map(str::to_string),
        time: crate::support::time::rfc3339(crate::support::time::now_secs()),
        tool: format!("cargo-mlops {}", env!("CARGO_PKG_VERSION")),
    };
    store.write_small(
        &marker_path(root),
        serde_json::to_string_pretty(&marker)
            .expect("markers serialize")
            .as_bytes(),
    )
}

/// Who made a branch folder, from the records in it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Maker {
    /// Every record names this project.
    Ours,
    /// Some record names another project (listed).
    Others(Vec<String>),
    /// No record says (an interrupted first deploy, or files put there by hand).
    Unknown,
}

impl Maker {
    /// Why gc leaves a folder alone, or `None` when it is ours.
    pub fn why_kept(&self) -> Option<String> {
        match self {
            Maker::Ours => None,
            Maker::Others(p) => Some(format!(
                "its records name project{} {}",
                if p.len() == 1 { "" } else { "s" },
                p.iter()
                    .map(|p| format!("`{p}`"))
                    .collect::<Vec<_>>()
                    .join(", ")
            )),
            Maker::Unknown => Some("no record in it says which project made it".into()),
        }
    }
}

/// Decides from the project names the folder's records carry (`None`: a record written
/// before records named their project, which then only the root's marker vouches for).
pub fn maker<'a>(
    ours: &str,
    root_is_ours: bool,
    named: impl IntoIterator<Item = Option<&'a str>>,
) -> Maker {
    let mut others = std::collections::BTreeSet::new();
    let mut any = false;
    for name in named {
        match name {
            Some(p) if p == ours => any = true,
            Some(p) => {
                others.insert(p.to_string());
            }
            None if root_is_ours => any = true,
            None => {}
        }
    }
    if !others.is_empty() {
        Maker::Others(others.into_iter().collect())
    } else if any {
        Maker::Ours
    } else {
        Maker::Unknown
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_folder_is_ours_only_when_every_record_says_so() {
        assert_eq!(maker("a", false, [Some("a"), Some("a")]), Maker::Ours);
        assert_eq!(
            maker("a", true, [Some("a"), Some("b")]),
            Maker::Others(vec!["b".into()])
        );
        assert_eq!(maker("a", true, []), Maker::Unknown);
        // Old records without a project: the root's marker vouches, or nobody does.
        assert_eq!(maker("a", true, [None]), Maker::Ours);
        assert_eq!(maker("a", false, [None]), Maker::Unknown);
        assert!(Maker::Unknown.why_kept().is_some());
        assert!(
            Maker::Others(vec!["b".into()])
                .why_kept()
                .unwrap()
                .contains("`b`")
        );
    }
}
