//! `cargo mlops init`: a working mlops.toml and MLflow project scaffold in the current folder.

use crate::cli::InitArgs;
use crate::error::Result;
use crate::session::Session;

pub fn run(session: &Session, args: &InitArgs) -> Result<()> {
    if args.adopt {
        let name = crate::init::adopt::adopt(
            &session.cwd,
            args.name.clone(),
            args.force,
            &session.output,
        )?;
        session.output.status(
            "Finished",
            format!(
                "adopted project `{name}`; next: `cargo mlops check` (it lists the entry points)"
            ),
        );
        return Ok(());
    }
    let name = crate::init::scaffold::write(
        &session.cwd,
        args.name.as_deref(),
        args.force,
        &session.output,
    )?;
    session.output.status(
        "Finished",
        format!("project `{name}`; next: `cargo mlops check`"),
    );
    Ok(())
}
