//! The commands, a leaf over the library: each parses its arguments, calls one function of
//! the library, and hands the result to `output`. Nothing outside this folder imports from it.

mod build;
mod check;
mod compare;
mod deploy;
mod gc;
mod hook;
mod init;
mod jobs;
mod release;
mod remote;
mod render;
mod run;
mod runs;

use crate::cli::{Command, MlopsArgs};
use crate::error::{Error, Result};
use crate::output::Output;
use crate::session::Session;

/// Runs the parsed command.
pub fn run(args: MlopsArgs, output: Output) -> Result<()> {
    let cwd = std::env::current_dir()
        .map_err(|e| Error::failed(format!("cannot read the current folder: {e}")))?;
    let session = Session {
        global: args.global,
        output,
        cwd,
    };
    match args.command {
        Command::Check(a) => check::run(&session, &a),
        Command::Init(a) => init::run(&session, &a),
        Command::Build(a) => build::run(&session, &a),
        Command::Render(a) => render::run(&session, &a),
        Command::Deploy(a) => deploy::run(&session, &a),
        Command::Run(a) => run::run(&session, &a),
        Command::Status(a) => remote::status(&session, &a),
        Command::Logs(a) => remote::logs(&session, &a),
        Command::Cancel(a) => remote::cancel(&session, &a),
        Command::Hook(a) => hook::run(&session, &a),
        Command::Jobs(a) => jobs::run(&session, &a),
        Command::Runs(a) => runs::run(&session, &a),
        Command::Compare(a) => compare::run(&session, &a),
        Command::Release(a) => release::release(&session, &a),
        Command::Promote(a) => release::promote(&session, &a),
        Command::Approve(a) => release::approve(&session, &a),
        Command::Gc(a) => gc::run(&session, &a),
        Command::Schema => {
            session.output.result_json(&crate::manifest::schema());
            Ok(())
        }
        Command::Completions(a) => {
            // For `cargo-mlops ...`: completions for `cargo` itself would replace cargo's own.
            let mut cmd = <crate::cli::MlopsArgs as clap::Args>::augment_args(clap::Command::new(
                "cargo-mlops",
            ));
            let mut text = Vec::new();
            clap_complete::generate(a.shell, &mut cmd, "cargo-mlops", &mut text);
            session
                .output
                .result(String::from_utf8_lossy(&text).trim_end());
            Ok(())
        }
    }
}
