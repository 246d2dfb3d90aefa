//! `cargo mlops hook install | uninstall | pre-push`.

use crate::cli::{HookAction as Cli, HookArgs};
use crate::error::{Error, Result};
use crate::git;
use crate::hook::{self, Installed};
use crate::session::Session;

pub fn run(session: &Session, args: &HookArgs) -> Result<()> {
    match &args.action {
        Cli::Install => install(session),
        Cli::Uninstall => uninstall(session),
        Cli::PrePush { .. } => hook::pre_push(session, std::io::stdin().lock()),
    }
}

fn hooks_dir(session: &Session) -> Result<std::path::PathBuf> {
    git::hooks_dir(&session.cwd).ok_or_else(|| {
        Error::usage(format!(
            "`{}` is not in a git repository",
            session.cwd.display()
        ))
        .with_help("run this inside the repository whose pushes should be checked")
    })
}

fn install(session: &Session) -> Result<()> {
    let dir = hooks_dir(session)?;
    let binary = std::env::current_exe()
        .map_err(|e| Error::io("cannot tell where cargo-mlops is installed", e))?;
    let (path, outcome) = hook::install(&dir, &binary)?;
    let how = match outcome {
        Installed::New => "",
        Installed::BesideExisting => " (your existing pre-push hook is kept and runs first)",
        Installed::Again => " (it was installed already)",
    };
    session
        .output
        .status("Installed", format!("{}{how}", path.display()));
    Ok(())
}

fn uninstall(session: &Session) -> Result<()> {
    let dir = hooks_dir(session)?;
    match hook::uninstall(&dir)? {
        Some(path) => session.output.status(
            "Removed",
            format!(
                "{} ({})",
                path.display(),
                if path.exists() {
                    "the hook that was there before is back"
                } else {
                    "no other hook was there"
                }
            ),
        ),
        None => session
            .output
            .status("Nothing", "no pre-push hook is installed"),
    }
    Ok(())
}
