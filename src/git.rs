//! What the tool asks git: the current branch, the commit, the commit time.

use std::path::Path;

use crate::naming::GitHead;
use crate::process::{Cmd, CmdError};

fn git(dir: &Path) -> Cmd {
    // A repository owned by another user (CI containers) makes git refuse to answer;
    // reading HEAD is harmless, so allow it for these read-only calls.
    Cmd::new("git")
        .args(["-c", "safe.directory=*"])
        .dir(dir)
        .env("GIT_TERMINAL_PROMPT", "0")
}

/// The checked-out branch, or why there is none.
pub fn head(dir: &Path) -> GitHead {
    match git(dir)
        .args(["symbolic-ref", "--short", "-q", "HEAD"])
        .read()
    {
        Ok(name) => GitHead::Branch(name),
        Err(CmdError::Failed {
            status: Some(1), ..
        }) => GitHead::Detached,
        Err(CmdError::NotFound { .. }) => {
            GitHead::Unavailable("git is not installed (or not on PATH)".into())
        }
        Err(CmdError::Failed { output, .. }) => {
            let why = output.stderr.lines().next().unwrap_or("").trim();
            let why = why.strip_prefix("fatal: ").unwrap_or(why);
            GitHead::Unavailable(if why.is_empty() {
                format!("`{}` is not in a git repository", dir.display())
            } else {
                why.to_string()
            })
        }
        Err(other) => GitHead::Unavailable(other.to_string()),
    }
}

/// The full id of HEAD, or `None` outside git or before the first commit.
pub fn commit(dir: &Path) -> Option<String> {
    git(dir)
        .args(["rev-parse", "-q", "--verify", "HEAD^{commit}"])
        .read()
        .ok()
        .filter(|id| !id.is_empty())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn run(dir: &Path, args: &[&str]) {
        git(dir)
            .args(args)
            .env("GIT_AUTHOR_NAME", "t")
            .env("GIT_AUTHOR_EMAIL", "t@example.com")
            .env("GIT_COMMITTER_NAME", "t")
            .env("GIT_COMMITTER_EMAIL", "t@example.com")
            .output()
            .unwrap();
    }

    #[test]
    fn branch_commit_and_detached_head() {
        let tmp = tempfile::tempdir().unwrap();
        let dir = tmp.path();
        assert!(matches!(head(dir), GitHead::Unavailable(_)));
        run(dir, &["init", "-q", "-b", "feature/x"]);
        assert_eq!(head(dir), GitHead::Branch("feature/x".into()));
        assert_eq!(commit(dir), None, "no commit yet");
        run(dir, &["commit", "-q", "--allow-empty", "-m", "first"]);
        let id = commit(dir).unwrap();
        assert_eq!(id.len(), 40);
        run(dir, &["checkout", "-q", "--detach"]);
        assert_eq!(head(dir), GitHead::Detached);
    }
}
