//! Command-line definitions. As a cargo subcommand the binary is started as
//! `cargo-mlops mlops ARGS`; started directly it gets `cargo-mlops ARGS`. Both parse the same.

use std::ffi::OsString;
use std::path::PathBuf;

use clap::{Args, Parser, Subcommand};

use crate::output::ColorChoice;

#[derive(Debug, Parser)]
#[command(name = "cargo", bin_name = "cargo", styles = clap::builder::Styles::styled())]
pub enum Cargo {
    #[command(name = "mlops", version, about, long_about = LONG_ABOUT)]
    Mlops(MlopsArgs),
}

const LONG_ABOUT: &str = "\
Build a project's Python wheels, put them in content-addressed folders under the git branch, \
render the MLflow project that points at them, and run it on Databricks or locally.

The project is described by mlops.toml (found in the current folder or above).";

#[derive(Debug, Args)]
pub struct MlopsArgs {
    #[command(flatten)]
    pub global: GlobalArgs,
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Clone, Debug, Args)]
pub struct GlobalArgs {
    /// Path to mlops.toml (default: searched upward from the current folder)
    #[arg(long, global = true, value_name = "PATH")]
    pub manifest_path: Option<PathBuf>,

    /// Branch to deploy under (default: MLOPS_BRANCH, the CI's branch variables, then git)
    #[arg(long, global = true, value_name = "NAME")]
    pub branch: Option<String>,

    /// Target from mlops.toml's [targets] (default: the built-in `local` target)
    #[arg(short, long, global = true, value_name = "NAME", env = "MLOPS_TARGET")]
    pub target: Option<String>,

    /// Show more detail: -v commands run and decisions taken, -vv also every HTTP request
    #[arg(short, long, global = true, action = clap::ArgAction::Count, conflicts_with = "quiet")]
    pub verbose: u8,

    /// Show only errors and the command's result
    #[arg(short, long, global = true)]
    pub quiet: bool,

    /// Python interpreter for builds (default: MLOPS_PYTHON, the active virtualenv, python3)
    #[arg(long, global = true, value_name = "PATH")]
    pub python: Option<PathBuf>,

    /// When to colour the output (default: CARGO_TERM_COLOR, as cargo reads it, then auto)
    #[arg(
        long,
        global = true,
        value_enum,
        default_value_t,
        value_name = "WHEN",
        env = "CARGO_TERM_COLOR"
    )]
    pub color: ColorChoice,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Create mlops.toml and an MLflow project scaffold in the current folder
    Init(InitArgs),
    /// Validate mlops.toml and the project without side effects, and print the resolved plan
    Check(CheckArgs),
    /// Build every wheel of the project (cached; unchanged packages cost nothing)
    Build(BuildArgs),
    /// Write the MLflow project as it will run, with every wheel path filled in
    Render(RenderArgs),
    /// Build, then publish wheels, project and launcher to the target's content-addressed store
    Deploy(DeployArgs),
    /// Deploy, then run an entry point (as a Databricks job, or locally) and follow it to the end
    Run(RunArgs),
    /// Show the state of a submitted Databricks run (or, with --wait, follow it to its end)
    Status(StatusArgs),
    /// Show what a Databricks run printed (the branch's last run by default), or --follow it
    ///
    /// Without --follow, everything the task printed so far, then the run's error if it failed;
    /// with --follow, the lines as they come until the run ends, exiting as `run` would.
    Logs(LogsArgs),
    /// Cancel a submitted Databricks run and wait until it has ended
    Cancel(RemoteRunArgs),
    /// Install or remove the git pre-push hook that checks (or deploys) every pushed branch
    Hook(HookArgs),
    /// Persistent Databricks jobs from [jobs.NAME]: deploy, list, run, remove
    Jobs(JobsArgs),
    /// List the runs of the branch's experiment, newest first, with parameters and metrics
    Runs(RunsArgs),
    /// Compare the branch's latest finished run with the base branch's, metric by metric
    Compare(CompareArgs),
    /// Release the branch's latest finished run as a model version, if it passes the gates
    Release(ReleaseArgs),
    /// Point an alias at a model version, or copy it into another target's model
    Promote(PromoteArgs),
    /// Approve a model version its deployment job waits for, and follow the rest of the run
    Approve(ApproveArgs),
    /// Show (or, with --execute, delete) artifacts nobody uses any more
    Gc(GcArgs),
    /// Print shell completions (bash, zsh, fish, powershell) to stdout
    Completions(CompletionsArgs),
    /// Print the JSON Schema of mlops.toml (for editor completion and checks)
    Schema,
}

#[derive(Debug, Args)]
pub struct CompletionsArgs {
    /// The shell to complete for
    #[arg(value_enum)]
    pub shell: clap_complete::Shell,
}

#[derive(Debug, Args)]
pub struct RunsArgs {
    /// Only the runs of this entry point
    #[arg(long, short, value_name = "NAME")]
    pub entry: Option<String>,

    /// How many runs to list
    #[arg(long, value_name = "N", default_value_t = 20)]
    pub limit: usize,

    /// List the runs of every target that shares this target's experiment (default: only
    /// this target's)
    #[arg(long)]
    pub all_targets: bool,

    /// Print the runs as one JSON object on stdout
    #[arg(long)]
    pub json: bool,
}

#[derive(Debug, Args)]
pub struct CompareArgs {
    /// The run to compare (default: the branch's latest finished run of the entry point)
    #[arg(value_name = "RUN")]
    pub run: Option<String>,

    /// The entry point (default: the latest finished run's)
    #[arg(long, short, value_name = "NAME")]
    pub entry: Option<String>,

    /// The branch to compare with (default: the pull request's target branch in CI, then
    /// `[compare] base`, then `main`)
    #[arg(long, value_name = "BRANCH")]
    pub base: Option<String>,

    /// Print the comparison as one JSON object on stdout
    #[arg(long)]
    pub json: bool,
}

#[derive(Debug, Args)]
pub struct ReleaseArgs {
    /// The run to release (default: the branch's latest finished run of the entry point)
    #[arg(value_name = "RUN")]
    pub run: Option<String>,

    /// The entry point whose runs are released (default: `[release] entry`, else `main`)
    #[arg(long, short, value_name = "NAME")]
    pub entry: Option<String>,

    /// Show the decision (gates, must_beat, the version) without registering anything
    #[arg(long)]
    pub dry_run: bool,

    /// Print the decision and the version as one JSON object on stdout
    #[arg(long)]
    pub json: bool,
}

#[derive(Debug, Args)]
#[command(group(clap::ArgGroup::new("which").required(true).args(["from", "version"])))]
pub struct PromoteArgs {
    /// The alias to point at the version (for example `champion`)
    #[arg(long, value_name = "ALIAS")]
    pub alias: String,

    /// The version another alias points at (for example `challenger`)
    #[arg(long, value_name = "ALIAS")]
    pub from: Option<String>,

    /// The version number
    #[arg(long, value_name = "N")]
    pub version: Option<String>,

    /// Copy the version into this target's model (keeping its lineage tags) and alias it there
    #[arg(long, value_name = "TARGET")]
    pub to_target: Option<String>,

    /// Print what was promoted as one JSON object on stdout
    #[arg(long)]
    pub json: bool,
}

#[derive(Debug, Args)]
pub struct ApproveArgs {
    /// The version to approve (default: the one `[release] alias` points at)
    #[arg(value_name = "VERSION")]
    pub version: Option<String>,

    /// Print the approval and the deployment's end as one JSON object on stdout
    #[arg(long)]
    pub json: bool,
}

#[derive(Debug, Args)]
pub struct GcArgs {
    /// Keep content folders younger than this many days
    #[arg(long, value_name = "N", default_value_t = 14)]
    pub keep_days: u32,

    /// Delete what the plan lists (without it, nothing is deleted)
    #[arg(long)]
    pub execute: bool,

    /// The remote whose branches are alive
    #[arg(long, value_name = "NAME", default_value = "origin")]
    pub remote: String,

    /// Act on an artifact root marked by another project name (after renaming the project);
    /// with --execute the root is marked as this project's
    #[arg(long)]
    pub claim_root: bool,

    /// Print the plan (and what was deleted) as one JSON object on stdout
    #[arg(long)]
    pub json: bool,
}

#[derive(Debug, Args)]
pub struct HookArgs {
    #[command(subcommand)]
    pub action: HookAction,
}

#[derive(Debug, Args)]
pub struct JobsArgs {
    #[command(subcommand)]
    pub action: JobsAction,
}

#[derive(Debug, Subcommand)]
pub enum JobsAction {
    /// Deploy this commit's artifacts and create or update each job (or NAME) to use them
    Deploy {
        /// Only this job of [jobs]
        name: Option<String>,
        /// Say what would be created or updated, and change nothing
        #[arg(long)]
        dry_run: bool,
        /// Print the result as JSON
        #[arg(long)]
        json: bool,
    },
    /// Show each job of this branch: schedule, paused or not, last run and next run
    List {
        /// Print the result as JSON
        #[arg(long)]
        json: bool,
    },
    /// Start one run of job NAME now and follow it to its end
    Run {
        name: String,
        /// Print the result as JSON
        #[arg(long)]
        json: bool,
    },
    /// Delete job NAME of this branch
    Remove {
        name: String,
        /// Say what would be deleted, and delete nothing
        #[arg(long)]
        dry_run: bool,
        /// Print the result as JSON
        #[arg(long)]
        json: bool,
    },
}

#[derive(Debug, Subcommand)]
pub enum HookAction {
    /// Install the pre-push hook (an existing hook is kept and runs first)
    Install,
    /// Remove the pre-push hook and restore what was there before
    Uninstall,
    /// What the hook runs: reads git's pre-push lines from stdin and checks each pushed branch
    PrePush {
        /// The remote's name (passed by git)
        remote: Option<String>,
        /// The remote's URL (passed by git)
        url: Option<String>,
    },
}

#[derive(Debug, Args)]
pub struct RunArgs {
    /// The entry point to run
    #[arg(long, short, value_name = "NAME", default_value = "main")]
    pub entry: String,

    /// A parameter of the entry point, checked against its type (repeatable)
    #[arg(short = 'P', long = "param", value_name = "NAME=VALUE")]
    pub params: Vec<String>,

    /// Submit, print the ids and the run page, and exit without following the run
    #[arg(long)]
    pub no_wait: bool,

    /// Cancel the run and fail when it takes longer (e.g. 90s, 30m, 2h)
    #[arg(long, value_name = "DURATION")]
    pub timeout: Option<String>,

    /// Build even when an identical build is cached
    #[arg(long)]
    pub no_cache: bool,

    /// Print the result as one JSON object on stdout
    #[arg(long)]
    pub json: bool,
}

#[derive(Debug, Args)]
pub struct StatusArgs {
    /// The Databricks run id (as `run` prints it)
    #[arg(value_name = "RUN")]
    pub run_id: u64,

    /// Follow the run to its end, as `run` does (Ctrl-C cancels it), and exit as `run` would:
    /// 0 on SUCCESS, 1 on any other result, 3 if the workspace stops answering
    #[arg(long)]
    pub wait: bool,

    /// Print the result as one JSON object on stdout
    #[arg(long)]
    pub json: bool,
}

#[derive(Debug, Args)]
pub struct LogsArgs {
    /// The Databricks run id (as `run` prints it); the branch's last run when left out
    #[arg(value_name = "RUN")]
    pub run_id: Option<u64>,

    /// Follow the run to its end, printing its output as it comes (the output so far first),
    /// and exit as `run` would: 0 on SUCCESS, 1 on any other result (Ctrl-C cancels the run)
    #[arg(long, short = 'f')]
    pub follow: bool,

    /// Print the result as one JSON object on stdout (with --follow, each line of output is
    /// a JSON event on stderr)
    #[arg(long)]
    pub json: bool,
}

#[derive(Debug, Args)]
pub struct RemoteRunArgs {
    /// The Databricks run id (as `run` prints it)
    #[arg(value_name = "RUN")]
    pub run_id: u64,

    /// Print the result as one JSON object on stdout
    #[arg(long)]
    pub json: bool,
}

#[derive(Debug, Args)]
pub struct DeployArgs {
    /// Print what would be published where, and write nothing, locally or remotely
    #[arg(long)]
    pub dry_run: bool,

    /// Build even when an identical build is cached
    #[arg(long)]
    pub no_cache: bool,

    /// Print what was published as one JSON object on stdout
    #[arg(long)]
    pub json: bool,
}

#[derive(Debug, Args)]
pub struct RenderArgs {
    /// The folder to write the project to (empty, new, or an earlier render)
    #[arg(long, value_name = "DIR")]
    pub out: PathBuf,

    /// Also write the deterministic project tarball here
    #[arg(long, value_name = "FILE")]
    pub tarball: Option<PathBuf>,

    /// Build even when an identical build is cached
    #[arg(long)]
    pub no_cache: bool,

    /// Print what was rendered as one JSON object on stdout
    #[arg(long)]
    pub json: bool,
}

#[derive(Debug, Args)]
pub struct BuildArgs {
    /// Print the built wheels as a JSON list on stdout
    #[arg(long)]
    pub json: bool,

    /// Build even when an identical build is cached
    #[arg(long)]
    pub no_cache: bool,
}

#[derive(Debug, Args)]
pub struct CheckArgs {
    /// Also check that this entry point exists
    #[arg(long, short, value_name = "NAME")]
    pub entry: Option<String>,

    /// A parameter of the entry point, checked against its type (repeatable)
    #[arg(
        short = 'P',
        long = "param",
        value_name = "NAME=VALUE",
        requires = "entry"
    )]
    pub params: Vec<String>,

    /// Also ask the workspace who the credentials belong to, and check that the folder the
    /// artifacts go into exists
    #[arg(long)]
    pub online: bool,

    /// Print the plan as one JSON object on stdout
    #[arg(long)]
    pub json: bool,
}

#[derive(Debug, Args)]
pub struct InitArgs {
    /// Overwrite files that already exist
    #[arg(long)]
    pub force: bool,

    /// Project name (default: the folder's name)
    #[arg(long, value_name = "NAME")]
    pub name: Option<String>,

    /// Adopt the MLflow project already here: write only mlops.toml, naming its MLproject
    /// folder and its Python packages (pyproject.toml or setup.py)
    #[arg(long)]
    pub adopt: bool,
}

/// Parses the process arguments, accepting both `cargo mlops ...` and `cargo-mlops ...`.
pub fn parse(args: impl IntoIterator<Item = OsString>) -> Result<MlopsArgs, clap::Error> {
    let mut args: Vec<OsString> = args.into_iter().collect();
    if args.get(1).is_none_or(|a| a != "mlops") {
        args.insert(1.min(args.len()), OsString::from("mlops"));
    }
    let Cargo::Mlops(parsed) = Cargo::try_parse_from(args)?;
    Ok(parsed)
}

#[cfg(test)]
mod tests {
    use clap::CommandFactory;

    use super::*;

    #[test]
    fn clap_definition_is_consistent() {
        Cargo::command().debug_assert();
    }

    #[test]
    fn works_as_cargo_subcommand_and_directly() {
        let via_cargo =
            parse(["cargo-mlops", "mlops", "check", "--json"].map(OsString::from)).unwrap();
        let direct = parse(["cargo-mlops", "check", "--json"].map(OsString::from)).unwrap();
        for parsed in [via_cargo, direct] {
            assert!(matches!(
                parsed.command,
                Command::Check(CheckArgs { json: true, .. })
            ));
        }
    }

    #[test]
    fn global_flags_go_anywhere() {
        let parsed = parse(
            [
                "cargo-mlops",
                "check",
                "--branch",
                "x",
                "--target",
                "dev",
                "-q",
            ]
            .map(OsString::from),
        )
        .unwrap();
        assert_eq!(parsed.global.branch.as_deref(), Some("x"));
        assert_eq!(parsed.global.target.as_deref(), Some("dev"));
        assert!(parsed.global.quiet);
    }
}
