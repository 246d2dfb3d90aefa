//! What the pre-push hook runs: it reads git's pushed refs first (deletions and tags are
//! skipped before anything else is read), then checks (or deploys) each pushed branch with the
//! pushed commit's own manifest and `[hooks]` settings, in a temporary worktree unless that
//! commit is the one checked out, unchanged. A commit that passed with the same manifest is
//! remembered and not checked again.

use std::path::PathBuf;

use sha2::{Digest, Sha256};

use crate::error::{Error, Result};
use crate::git;
use crate::manifest::HookAction;
use crate::pipeline;
use crate::session::Session;

/// One line of git's pre-push input: `<local ref> <local sha> <remote ref> <remote sha>`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Push {
    pub local_ref: String,
    pub local_sha: String,
    pub remote_ref: String,
}

impl Push {
    pub fn parse(line: &str) -> Option<Push> {
        let mut parts = line.split_whitespace();
        Some(Push {
            local_ref: parts.next()?.to_string(),
            local_sha: parts.next()?.to_string(),
            remote_ref: parts.next()?.to_string(),
        })
    }

    /// The branch this push updates on the remote, or `None` for tag pushes and deletions.
    pub fn branch(&self) -> Option<&str> {
        if self.local_sha.chars().all(|c| c == '0') {
            return None;
        }
        self.remote_ref.strip_prefix("refs/heads/")
    }
}

/// Checks (or deploys) each pushed branch at the pushed commit. It reads what it pushes:
/// git's refs first (deletions and tags are skipped before anything else is read), then each
/// pushed commit's own manifest and `[hooks]` settings, never the working tree's. A commit
/// already checked successfully with the same manifest is skipped.
pub fn pre_push(session: &Session, input: impl std::io::BufRead) -> Result<()> {
    let mut pushes = Vec::new();
    for line in input.lines() {
        let line = line.map_err(|e| Error::io("cannot read git's pre-push input", e))?;
        if let Some(push) = Push::parse(&line) {
            pushes.push(push);
        }
    }
    let branches: Vec<(&Push, &str)> = pushes
        .iter()
        .filter_map(|p| p.branch().map(|b| (p, b)))
        .collect();
    if branches.is_empty() {
        return Ok(());
    }
    let checkout = Checkout::of(session)?;
    for (push, branch) in branches {
        checkout.push(session, push, branch)?;
    }
    Ok(())
}

/// The repository the hook runs in, and where its manifest and memo are.
struct Checkout {
    repo: PathBuf,
    /// Where the manifest lives (found, not read: the working tree's copy may be broken or
    /// belong to another branch, or be missing from the branch checked out).
    manifest_path: PathBuf,
    /// The manifest's path inside the repository.
    relative: PathBuf,
    /// The commits that passed, one key per line.
    memo_path: PathBuf,
    head: Option<String>,
    clean: bool,
}

impl Checkout {
    fn of(session: &Session) -> Result<Checkout> {
        let repo = git::root(&session.cwd)
            .ok_or_else(|| Error::usage("the pre-push hook runs inside a git repository"))?;
        let manifest_path = session
            .manifest_path()
            .unwrap_or_else(|_| repo.join(crate::manifest::MANIFEST_FILE));
        let relative = manifest_path
            .strip_prefix(&repo)
            .map(|p| p.to_path_buf())
            .unwrap_or_else(|_| manifest_path.clone());
        let root = manifest_path.parent().unwrap_or(&repo).to_path_buf();
        let memo_path = root
            .join(crate::manifest::STATE_DIR)
            .join("hooks")
            .join("pushed-ok");
        Ok(Checkout {
            head: git::commit(&repo),
            clean: git::is_clean(&repo),
            repo,
            manifest_path,
            relative,
            memo_path,
        })
    }

    /// One pushed branch: its commit's manifest read, its action taken unless it passed
    /// before, and remembered when it passes.
    fn push(&self, session: &Session, push: &Push, branch: &str) -> Result<()> {
        let short = &push.local_sha[..12.min(push.local_sha.len())];
        let blocked = |e: Error| {
            session.output.error(&e);
            Error::new(
                e.kind(),
                format!("the pre-push check of `{branch}` failed, so nothing was pushed"),
            )
            .with_help("fix it and push again, or skip the check once with `git push --no-verify`")
        };
        let text = git::file_at(&self.repo, &push.local_sha, &self.relative).map_err(|e| {
            blocked(Error::failed(format!(
                "cannot read {} at {short}: {e}",
                self.relative.display()
            )))
        })?;
        let Some(text) = text else {
            session.output.status(
                "Skipped",
                format!(
                    "{branch} at {short} (it has no {})",
                    self.relative.display()
                ),
            );
            return Ok(());
        };
        let manifest = crate::manifest::parse(&self.manifest_path, &text).map_err(blocked)?;
        let action = manifest.hooks.pre_push;
        let target = manifest.hooks.target.as_deref();
        if action == HookAction::Off {
            return Ok(());
        }
        let manifest_hash = crate::build::wheel_file::hex(&Sha256::digest(text.as_bytes()));
        let key = match action {
            HookAction::Deploy => format!(
                "{} {manifest_hash} deploy {} {branch}",
                push.local_sha,
                target.unwrap_or("")
            ),
            _ => format!("{} {manifest_hash} check", push.local_sha),
        };
        let memo = fs_err::read_to_string(&self.memo_path).unwrap_or_default();
        if memo.lines().any(|l| l == key) {
            session
                .output
                .status("Checked", format!("{branch} at {short} (already)"));
            return Ok(());
        }
        session.output.status(
            if action == HookAction::Deploy {
                "Deploying"
            } else {
                "Checking"
            },
            format!("{branch} at {short}"),
        );
        self.act_at(session, push, branch, action, target)
            .map_err(blocked)?;
        let mut text = memo;
        text.push_str(&key);
        text.push('\n');
        if let Some(dir) = self.memo_path.parent() {
            fs_err::create_dir_all(dir)?;
        }
        fs_err::write(&self.memo_path, text)?;
        Ok(())
    }

    /// The action on the pushed commit: in the working tree when that is the commit checked
    /// out with nothing changed, else in a temporary worktree of the commit itself.
    fn act_at(
        &self,
        session: &Session,
        push: &Push,
        branch: &str,
        action: HookAction,
        target: Option<&str>,
    ) -> Result<()> {
        if self.clean && self.head.as_deref() == Some(push.local_sha.as_str()) {
            return act(session, &self.manifest_path, branch, action, target);
        }
        let short = &push.local_sha[..12.min(push.local_sha.len())];
        let tmp =
            tempfile::tempdir().map_err(|e| Error::io("cannot make a temporary folder", e))?;
        let at = tmp.path().join("worktree");
        git::add_worktree(&self.repo, &at, &push.local_sha)
            .map_err(|e| Error::failed(format!("cannot check out {}: {e}", push.local_sha)))?;
        let r = act(session, &at.join(&self.relative), branch, action, target);
        git::remove_worktree(&self.repo, &at);
        // The worktree is gone: errors name the files as the commit holds them.
        r.map_err(|e| e.renaming_path(&at, &format!("{short}:")))
    }
}

/// The hook's action for one branch, with the manifest at `manifest_path`.
fn act(
    session: &Session,
    manifest_path: &std::path::Path,
    branch: &str,
    action: HookAction,
    target: Option<&str>,
) -> Result<()> {
    let mut global = session.global.clone();
    global.manifest_path = Some(manifest_path.to_path_buf());
    global.branch = Some(branch.to_string());
    if action == HookAction::Deploy {
        global.target = target.map(str::to_string);
    }
    let scoped = Session {
        global,
        output: session.output.clone(),
        cwd: session.cwd.clone(),
    };
    let prepared = scoped.prepare(None, &[])?;
    match action {
        HookAction::Deploy => {
            let open = scoped.store(&prepared.plan)?;
            pipeline::deploy(&scoped, &prepared, &open, false, false, &scoped.output)?;
        }
        _ => {
            let wheels = pipeline::build_wheels(&scoped, &prepared, false, &scoped.output)?;
            let out =
                tempfile::tempdir().map_err(|e| Error::io("cannot make a temporary folder", e))?;
            crate::render::render(
                &prepared.plan,
                &prepared.manifest,
                &prepared.project,
                &wheels,
                &out.path().join("project"),
            )?;
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pushes_of_branches_only() {
        let zero = "0".repeat(40);
        let sha = "a".repeat(40);
        let p = Push::parse(&format!(
            "refs/heads/feat {sha} refs/heads/feature/x {zero}"
        ))
        .unwrap();
        assert_eq!(p.branch(), Some("feature/x"));
        let tag = Push::parse(&format!("refs/tags/v1 {sha} refs/tags/v1 {zero}")).unwrap();
        assert_eq!(tag.branch(), None);
        let delete = Push::parse(&format!("(delete) {zero} refs/heads/old {sha}")).unwrap();
        assert_eq!(delete.branch(), None);
        assert!(Push::parse("garbage").is_none());
    }
}
