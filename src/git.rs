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

/// The top folder of the repository around `dir`.
pub fn root(dir: &Path) -> Option<std::path::PathBuf> {
    git(dir)
        .args(["rev-parse", "--show-toplevel"])
        .read()
        .ok()
        .map(std::path::PathBuf::from)
}

/// The hooks folder git uses for the repository around `dir` (honours `core.hooksPath`).
pub fn hooks_dir(dir: &Path) -> Option<std::path::PathBuf> {
    let path = git(dir)
        .args(["rev-parse", "--git-path", "hooks"])
        .read()
        .ok()?;
    let path = std::path::PathBuf::from(path);
    Some(if path.is_absolute() {
        path
    } else {
        dir.join(path)
    })
}

/// Checks `commit` out, detached, into a new worktree at `at` (removed with
/// [`remove_worktree`]).
pub fn add_worktree(repo: &Path, at: &Path, commit: &str) -> Result<(), CmdError> {
    git(repo)
        .args(["worktree", "add", "--detach", "--quiet"])
        .arg(at)
        .arg(commit)
        .output()
        .map(drop)
}

pub fn remove_worktree(repo: &Path, at: &Path) {
    let _ = git(repo)
        .args(["worktree", "remove", "--force"])
        .arg(at)
        .output();
}

/// The branch names on a remote (`git ls-remote --heads`).
pub fn remote_branches(dir: &Path, remote: &str) -> Result<Vec<String>, CmdError> {
    let out = git(dir).args(["ls-remote", "--heads", remote]).read()?;
    Ok(out
        .lines()
        .filter_map(|l| l.split_whitespace().nth(1))
        .filter_map(|r| r.strip_prefix("refs/heads/"))
        .map(str::to_string)
        .collect())
}

/// The URL of the `origin` remote, with any credentials in it removed (they must never reach
/// a tag or a log).
pub fn remote_url(dir: &Path) -> Option<String> {
    let url = git(dir).args(["remote", "get-url", "origin"]).read().ok()?;
    Some(strip_credentials(&url))
}

/// `https://user:token@host/x` → `https://host/x`.
pub fn strip_credentials(url: &str) -> String {
    match url.split_once("://") {
        Some((scheme, rest)) => {
            let (authority, path) = rest.split_once('/').unwrap_or((rest, ""));
            let host = authority.rsplit_once('@').map_or(authority, |(_, h)| h);
            if path.is_empty() && !rest.contains('/') {
                format!("{scheme}://{host}")
            } else {
                format!("{scheme}://{host}/{path}")
            }
        }
        None => url.to_string(),
    }
}

/// When the last commit that touched `path` was made (seconds since the epoch), or `None`
/// outside git or when no commit touched it yet.
pub fn last_change_time(path: &Path) -> Option<i64> {
    git(path)
        .args(["log", "-1", "--format=%ct", "--", "."])
        .read()
        .ok()
        .and_then(|t| t.trim().parse().ok())
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

    #[test]
    fn credentials_are_stripped_from_remote_urls() {
        assert_eq!(
            strip_credentials("https://user:ghp_secret@github.com/org/repo.git"),
            "https://github.com/org/repo.git"
        );
        assert_eq!(
            strip_credentials("https://dev.azure.com/org/p/_git/r"),
            "https://dev.azure.com/org/p/_git/r"
        );
        assert_eq!(
            strip_credentials("git@github.com:org/repo.git"),
            "git@github.com:org/repo.git"
        );
    }

    #[test]
    fn last_change_time_is_per_folder() {
        let tmp = tempfile::tempdir().unwrap();
        let dir = tmp.path();
        run(dir, &["init", "-q", "-b", "main"]);
        fs_err::create_dir_all(dir.join("pkg")).unwrap();
        assert_eq!(last_change_time(&dir.join("pkg")), None);
        fs_err::write(dir.join("pkg/a.py"), "").unwrap();
        run(dir, &["add", "-A"]);
        let at = |date: &str| {
            git(dir)
                .args(["commit", "-q", "--allow-empty", "-m", "c"])
                .env("GIT_AUTHOR_NAME", "t")
                .env("GIT_AUTHOR_EMAIL", "t@example.com")
                .env("GIT_COMMITTER_NAME", "t")
                .env("GIT_COMMITTER_EMAIL", "t@example.com")
                .env("GIT_COMMITTER_DATE", date)
                .output()
                .unwrap();
        };
        at("1700000000 +0000");
        // A later commit elsewhere does not move the package's time.
        fs_err::write(dir.join("other.txt"), "").unwrap();
        run(dir, &["add", "-A"]);
        at("1800000000 +0000");
        assert_eq!(last_change_time(&dir.join("pkg")), Some(1_700_000_000));
        assert_eq!(last_change_time(dir), Some(1_800_000_000));
    }
}
