//! cargo-mlops: build a project's Python wheels, publish them content-addressed under the git
//! branch, render the MLflow project that points at them, and run it on Databricks or locally.
//!
//! The library never prints directly: everything shown goes through [`output`].
#![warn(clippy::print_stdout, clippy::print_stderr)]

pub mod build;
pub mod ci;
pub mod cli;
pub mod commands;
pub mod databricks;
pub mod error;
pub mod follow;
pub mod gc;
pub mod git;
pub mod hook;
pub mod interrupt;
pub mod local;
pub mod manifest;
pub mod naming;
pub mod output;
pub mod params;
pub mod plan;
pub mod process;
pub mod project;
pub mod publish;
pub mod render;
pub mod store;
pub mod submit;
pub mod templates;
pub mod time;
pub mod tools;

use std::ffi::OsString;

use output::{Output, Verbosity};

/// Runs the tool with these process arguments and returns the exit code.
pub fn main_with_args(args: impl IntoIterator<Item = OsString>) -> i32 {
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
    } else if args.global.verbose {
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
