//! cargo-mlops: build a project's Python wheels, publish them content-addressed under the git
//! branch, render the MLflow project that points at them, and run it on Databricks or locally.
//!
//! The library never prints directly: everything shown goes through [`output`].
#![warn(clippy::print_stdout, clippy::print_stderr)]

// Invocation: the command line, one run of the tool, what it is asked to do.
pub mod cli;
pub mod commands;
pub mod error;
pub mod params;
pub mod plan;
pub mod session;

// The project as written.
pub mod manifest;

// The stages, in the order a run meets them.
pub mod build;
pub mod pipeline;
pub mod publish;
pub mod render;
pub mod run;

// What follows a run: its history, releases and the endpoints serving them, production
// jobs, housekeeping, checks.
pub mod check;
pub mod ci;
pub mod gc;
pub mod history;
pub mod hook;
pub mod init;
pub mod jobs;
pub mod release;
pub mod serving;

// The platform clients.
pub mod databricks;
pub mod environment;
pub mod git;
pub mod store;

// Helpers, and the one place that prints.
pub mod output;
pub mod support;

use std::ffi::OsString;

use output::{Output, Verbosity};

/// A panic is a bug; it becomes a short error with exit code 2 instead of a backtrace
/// (`RUST_BACKTRACE=1` still shows one).
fn install_panic_hook() {
    if std::env::var_os("RUST_BACKTRACE").is_some() {
        return;
    }
    std::panic::set_hook(Box::new(|info| {
        let place = info
            .location()
            .map(|l| format!(" at {}:{}", l.file(), l.line()))
            .unwrap_or_default();
        let what = info
            .payload()
            .downcast_ref::<&str>()
            .map(|s| s.to_string())
            .or_else(|| info.payload().downcast_ref::<String>().cloned())
            .unwrap_or_default();
        let output = Output::new(Verbosity::Normal, output::ColorChoice::Auto);
        output.error(
            &error::Error::usage(format!("internal error{place}: {what}")).with_help(
                "this is a bug in cargo-mlops; please report it with the command you ran (RUST_BACKTRACE=1 shows where)",
            ),
        );
        std::process::exit(error::exit::USAGE);
    }));
}

/// Runs the tool with these process arguments and returns the exit code.
pub fn main_with_args(args: impl IntoIterator<Item = OsString>) -> i32 {
    install_panic_hook();
    // Lets the tests prove that a panic becomes a short error (debug builds only).
    #[cfg(debug_assertions)]
    if std::env::var_os("CARGO_MLOPS_TEST_PANIC").is_some() {
        panic!("a deliberate panic for the tests");
    }
    let args = match cli::parse(args) {
        Ok(args) => args,
        Err(err) => {
            // clap prints help and version to stdout (exit 0) and usage errors to stderr (2).
            let _ = err.print();
            return err.exit_code();
        }
    };
    let verbosity = if args.global.quiet {
        Verbosity::Quiet
    } else if args.global.verbose >= 2 {
        Verbosity::Trace
    } else if args.global.verbose == 1 {
        Verbosity::Verbose
    } else {
        Verbosity::Normal
    };
    let output = Output::new(verbosity, args.global.color);
    match commands::run(args, output.clone()) {
        Ok(()) => error::exit::SUCCESS,
        Err(err) => {
            output.error(&err);
            err.exit_code()
        }
    }
}
