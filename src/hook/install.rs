//! Installing the pre-push hook beside (not over) a hook the user already has, and removing
//! it so that exactly what was there before is back.

use std::path::{Path, PathBuf};

use crate::error::{Error, Result};

/// The line that marks a hook as ours.
pub const MARKER: &str = "# installed by cargo-mlops";

/// Where a hook that was there before ours is kept (and run first).
pub const PREVIOUS: &str = "pre-push.mlops-previous";

/// The hook script: runs the previous hook first (with the same stdin), then ours.
pub fn script(binary: &Path) -> String {
    let bin = crate::support::process::shell_quote(&binary.to_string_lossy());
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

#[cfg(test)]
mod tests {
    use super::*;

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
