//! The git pre-push hook: installing it beside (not over) a hook the user already has, and
//! removing it so that exactly what was there before is back.

use std::path::{Path, PathBuf};

use crate::error::{Error, Result};

/// The line that marks a hook as ours.
pub const MARKER: &str = "# installed by cargo-mlops";

/// Where a hook that was there before ours is kept (and run first).
pub const PREVIOUS: &str = "pre-push.mlops-previous";

/// The hook script: runs the previous hook first (with the same stdin), then ours.
pub fn script(binary: &Path) -> String {
    let bin = crate::process::shell_quote(&binary.to_string_lossy());
    format!(
        r#"#!/bin/sh
{MARKER}: checks each pushed branch before it leaves this machine.
# Skip once with `git push --no-verify`; remove with `cargo mlops hook uninstall`.
input=$(mktemp) || exit 1
trap 'rm -f "$input"' EXIT
cat > "$input"
hooks=$(dirname "$0")
if [ -x "$hooks/{PREVIOUS}" ]; then
    "$hooks/{PREVIOUS}" "$@" < "$input" || exit $?
fi
bin={bin}
[ -x "$bin" ] || bin=cargo-mlops
exec "$bin" mlops hook pre-push "$@" < "$input"
"#
    )
}

fn is_ours(path: &Path) -> bool {
    fs_err::read_to_string(path).is_ok_and(|t| t.contains(MARKER))
}

/// What `install` did.
#[derive(Debug, PartialEq, Eq)]
pub enum Installed {
    New,
    /// An existing hook was kept and now runs first.
    BesideExisting,
    /// Ours was there already (rewritten with the current binary path).
    Again,
}

pub fn install(hooks_dir: &Path, binary: &Path) -> Result<(PathBuf, Installed)> {
    fs_err::create_dir_all(hooks_dir)?;
    let hook = hooks_dir.join("pre-push");
    let previous = hooks_dir.join(PREVIOUS);
    let outcome = if hook.exists() && !is_ours(&hook) {
        if previous.exists() {
            return Err(Error::usage(format!(
                "both `{}` and `{}` exist; cargo mlops will not guess which to keep",
                hook.display(),
                previous.display()
            ))
            .with_help("merge them into one pre-push hook, then install again"));
        }
        // Renamed, not copied: the user's file (and its mode) stays byte for byte.
        fs_err::rename(&hook, &previous)?;
        Installed::BesideExisting
    } else if hook.exists() {
        Installed::Again
    } else {
        Installed::New
    };
    fs_err::write(&hook, script(binary))?;
    make_executable(&hook)?;
    Ok((hook, outcome))
}

/// Removes our hook and puts back the one that was there before, if any.
pub fn uninstall(hooks_dir: &Path) -> Result<Option<PathBuf>> {
    let hook = hooks_dir.join("pre-push");
    let previous = hooks_dir.join(PREVIOUS);
    if !hook.exists() {
        return Ok(None);
    }
    if !is_ours(&hook) {
        return Err(Error::usage(format!(
            "`{}` was not installed by cargo mlops; it is left alone",
            hook.display()
        )));
    }
    fs_err::remove_file(&hook)?;
    if previous.exists() {
        fs_err::rename(&previous, &hook)?;
    }
    Ok(Some(hook))
}

fn make_executable(path: &Path) -> Result<()> {
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let mut perms = fs_err::metadata(path)?.permissions();
        perms.set_mode(0o755);
        fs_err::set_permissions(path, perms)?;
    }
    let _ = path;
    Ok(())
}

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

    #[test]
    fn install_keeps_and_uninstall_restores_an_existing_hook() {
        let tmp = tempfile::tempdir().unwrap();
        let hooks = tmp.path();
        let mine = "#!/bin/sh\necho mine\n";
        fs_err::write(hooks.join("pre-push"), mine).unwrap();
        let (_, first) = install(hooks, Path::new("/bin/cargo-mlops")).unwrap();
        assert_eq!(first, Installed::BesideExisting);
        assert_eq!(fs_err::read_to_string(hooks.join(PREVIOUS)).unwrap(), mine);
        let (_, again) = install(hooks, Path::new("/bin/cargo-mlops")).unwrap();
        assert_eq!(again, Installed::Again);
        assert_eq!(fs_err::read_to_string(hooks.join(PREVIOUS)).unwrap(), mine);
        uninstall(hooks).unwrap();
        assert_eq!(
            fs_err::read_to_string(hooks.join("pre-push")).unwrap(),
            mine
        );
        assert!(!hooks.join(PREVIOUS).exists());
        assert!(uninstall(hooks).is_err(), "a foreign hook is left alone");
    }
}
