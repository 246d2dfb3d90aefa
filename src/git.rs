//! What the tool asks git: the current branch, the commit, the commit time.

use std::path::Path;

use crate::support::naming::GitHead;
use crate::support::process::{Cmd, CmdError};

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

/// The text of `path` (relative to the repository root) as committed in `commit`, or `None`
/// when that commit has no such file.
pub fn file_at(repo: &Path, commit: &str, path: &Path) -> Result<Option<String>, CmdError> {
    let spec = format!("{commit}:{}", path.to_string_lossy().replace('\\', "/"));
    match git(repo).args(["cat-file", "-e", &spec]).output() {
        Ok(_) => {}
        Err(CmdError::Failed { .. }) => return Ok(None),
        Err(e) => return Err(e),
    }
    git(repo)
        .args(["cat-file", "blob", &spec])
        .output()
        .map(|o| Some(o.stdout))
}

/// Whether the working tree has no changes, staged, unstaged or untracked (ignored files do
/// not count).
pub fn is_clean(repo: &Path) -> bool {
    git(repo)
        .args(["status", "--porcelain", "--untracked-files=normal"])
        .read()
        .is_ok_and(|s| s.trim().is_empty())
}

/// The files with uncommitted changes (staged, unstaged or untracked; ignored files do not
/// count), relative to the repository root, in git's order; empty outside git.
pub fn changed_files(repo: &Path) -> Vec<String> {
    // `-z`: paths verbatim (no quoting), and a rename's source as its own entry after it.
    let Ok(out) = git(repo)
        .args(["status", "--porcelain=v1", "-z", "--untracked-files=all"])
        .read()
    else {
        return Vec::new();
    };
    let mut files = Vec::new();
    let mut entries = out.split('\0').filter(|e| !e.is_empty());
    while let Some(entry) = entries.next() {
        let (code, path) = entry.split_at(entry.len().min(3));
        files.push(path.to_string());
        if code.starts_with('R') || code.starts_with('C') {
            entries.next();
        }
    }
    files
}

/// A key for what uncommitted changes hold: the first 16 hex digits of the SHA-256 over
/// each changed file's path and bytes (or that it is gone). The same edit gives the same key
/// whenever it is deployed; another edit, another key.
pub fn dirty_key(dir: &Path, files: &[String]) -> Option<String> {
    use sha2::Digest;
    let root = root(dir)?;
    let mut sorted: Vec<&String> = files.iter().collect();
    sorted.sort();
    let mut h = sha2::Sha256::new();
    for file in sorted {
        h.update(file.as_bytes());
        match fs_err::read(root.join(file)) {
            Ok(bytes) => {
                h.update(format!("\0{}\0", bytes.len()).as_bytes());
                h.update(&bytes);
            }
            Err(_) => h.update(b"\0gone\0"),
        }
    }
    Some(crate::build::wheel_file::hex(&h.finalize())[..16].to_string())
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

/// The branches and tags a remote has.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct RemoteRefs {
    pub branches: Vec<String>,
    pub tags: Vec<String>,
}

/// The branches and tags of a remote (`git ls-remote --heads --tags`): a deploy made under a
/// tag name (a tag build in CI) is as alive as one under a branch. The error is git's own
/// reason (`'origin' does not appear to be a git repository`, an authentication failure...).
pub fn remote_refs(dir: &Path, remote: &str) -> Result<RemoteRefs, String> {
    let out = git(dir)
        .args(["ls-remote", "--heads", "--tags", remote])
        .read()
        .map_err(|e| match e {
            CmdError::Failed { ref output, .. } => {
                let why: Vec<&str> = output
                    .stderr
                    .lines()
                    .map(|l| l.trim())
                    .filter(|l| !l.is_empty())
                    .map(|l| l.strip_prefix("fatal: ").unwrap_or(l))
                    .collect();
                if why.is_empty() {
                    e.to_string()
                } else {
                    format!("git says: {}", why.join("; "))
                }
            }
            other => other.to_string(),
        })?;
    let mut refs = RemoteRefs::default();
    for name in out.lines().filter_map(|l| l.split_whitespace().nth(1)) {
        if let Some(branch) = name.strip_prefix("refs/heads/") {
            refs.branches.push(branch.to_string());
        } else if let Some(tag) = name.strip_prefix("refs/tags/") {
            // An annotated tag is listed twice: itself, and peeled (`v1^{}`).
            let tag = tag.trim_end_matches("^{}").to_string();
            if !refs.tags.contains(&tag) {
                refs.tags.push(tag);
            }
        }
    }
    Ok(refs)
}

/// What a version derived from git depends on (setuptools-scm, hatch-vcs,
/// uv-dynamic-versioning and their kin read the nearest tag, the distance to it, the commit
/// and whether the tree is dirty): `git describe --tags --long --dirty --always`, the commit
/// and the tags on it, or `None` outside git.
pub fn version_inputs(dir: &Path) -> Option<String> {
    let describe = git(dir)
        .args(["describe", "--tags", "--long", "--dirty", "--always"])
        .read()
        .ok()?;
    let head = git(dir).args(["rev-parse", "HEAD"]).read().ok()?;
    // Several tags on one commit: `describe` names one, the version tools may take another.
    let at_head = git(dir)
        .args(["tag", "--points-at", "HEAD"])
        .read()
        .unwrap_or_default();
    let mut tags: Vec<&str> = at_head.lines().map(str::trim).collect();
    tags.sort_unstable();
    Some(format!(
        "{} {} {}",
        describe.trim(),
        head.trim(),
        tags.join(",")
    ))
}

/// The repository's default branch: the remote's (`origin/HEAD`), else `main`, else `master`,
/// whichever exists here or on a remote (`main` when neither does); and how it was found.
pub fn default_branch(root: &Path) -> (String, &'static str) {
    if let Some(b) = remote_default_branch(root) {
        return (b, "origin/HEAD");
    }
    for name in ["main", "master"] {
        if branch_exists(root, name) == Some(true) {
            return (name.into(), "default");
        }
    }
    ("main".into(), "default")
}

/// The remote's default branch as the clone recorded it (`refs/remotes/origin/HEAD`, set by
/// `git clone` or `git remote set-head origin --auto`), without the remote's name.
pub fn remote_default_branch(dir: &Path) -> Option<String> {
    let out = git(dir)
        .args(["symbolic-ref", "--short", "-q", "refs/remotes/origin/HEAD"])
        .read()
        .ok()?;
    let name = out.trim().strip_prefix("origin/")?;
    (!name.is_empty()).then(|| name.to_string())
}

/// Whether a branch of that name exists here or on a remote (as a remote-tracking branch);
/// `None` outside git.
pub fn branch_exists(dir: &Path, name: &str) -> Option<bool> {
    let out = git(dir)
        .args(["for-each-ref", "--format=%(refname)"])
        .arg(format!("refs/heads/{name}"))
        .arg(format!("refs/remotes/*/{name}"))
        .read()
        .ok()?;
    Some(out.lines().any(|l| {
        l == format!("refs/heads/{name}")
            || l.strip_prefix("refs/remotes/")
                .and_then(|r| r.split_once('/'))
                .is_some_and(|(_, b)| b == name)
    }))
}

/// The names of the repository's remotes (`git remote`); empty outside git.
pub fn remotes(dir: &Path) -> Vec<String> {
    git(dir)
        .arg("remote")
        .read()
        .map(|out| out.lines().map(str::to_string).collect())
        .unwrap_or_default()
}

/// The URL of the `origin` remote, with any credentials in it removed (they must never reach
/// a tag or a log).
pub fn remote_url(dir: &Path) -> Option<String> {
    let url = git(dir).args(["remote", "get-url", "origin"]).read().ok()?;
    Some(strip_credentials(&url))
}

/// Which repository `dir` is, the same on every clone of it: its `origin` remote without
/// credentials, scheme or `.git` (`git@github.com:org/repo.git` and
/// `https://token@github.com/org/repo` are both `github.com/org/repo`), else its first commit
/// (`commit <hash>`); `None` outside git or before the first commit.
pub fn repository(dir: &Path) -> Option<String> {
    if let Some(url) = remote_url(dir) {
        return Some(repository_of_url(&url));
    }
    let roots = git(dir)
        .args(["rev-list", "--max-parents=0", "HEAD"])
        .read()
        .ok()?;
    let first = roots
        .lines()
        .map(str::trim)
        .filter(|l| !l.is_empty())
        .min()?;
    Some(format!("commit {first}"))
}

/// A remote URL as [`repository`] names it.
pub fn repository_of_url(url: &str) -> String {
    let url = strip_credentials(url.trim());
    let rest = match url.split_once("://") {
        Some((_, rest)) => rest.to_string(),
        // scp-like `user@host:path`
        None => match url.split_once(':') {
            Some((host, path)) => format!(
                "{}/{}",
                host.rsplit_once('@').map_or(host, |(_, h)| h),
                path.trim_start_matches('/')
            ),
            None => url.clone(),
        },
    };
    let (host, path) = rest.split_once('/').unwrap_or((&rest, ""));
    let host = host
        .rsplit_once('@')
        .map_or(host, |(_, h)| h)
        .to_lowercase();
    let host = host
        .strip_suffix(":443")
        .or_else(|| host.strip_suffix(":22"))
        .unwrap_or(&host)
        .to_string();
    let path = path.trim_end_matches('/').trim_end_matches(".git");
    if path.is_empty() {
        host
    } else {
        format!("{host}/{path}")
    }
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

    #[test]
    fn a_repository_is_named_alike_from_every_remote_form() {
        for url in [
            "git@github.com:Org/repo.git",
            "https://x-access-token:ghs_SECRET@github.com/Org/repo",
            "ssh://git@GitHub.com:22/Org/repo.git",
            "https://github.com/Org/repo/",
        ] {
            assert_eq!(repository_of_url(url), "github.com/Org/repo", "{url}");
        }
        assert_eq!(
            repository_of_url("https://user:pat@dev.azure.com/org/proj/_git/repo"),
            "dev.azure.com/org/proj/_git/repo"
        );
    }
}
