//! `cargo mlops gc [--target T] [--keep-days N] [--execute]`.

use crate::cli::GcArgs;
use crate::error::Result;
use crate::gc;
use crate::output::human_bytes;
use crate::session::Session;

pub fn run(session: &Session, args: &GcArgs) -> Result<()> {
    crate::support::interrupt::install();
    let output = session.output.clone().with_json(args.json);
    let report = gc::collect(
        session,
        &gc::Options {
            keep_days: args.keep_days,
            execute: args.execute,
            claim_root: args.claim_root,
            remote: &args.remote,
        },
        &output,
    )?;
    let doomed = &report.plan;
    let total = report.bytes;
    if output.json() {
        output.result_json(&report);
    } else if !args.execute {
        show_plan(&output, &report);
    }
    for e in &report.kept_experiments {
        output.note(format!(
            "kept experiment {} ({}): {}",
            e.name, e.experiment_id, e.reason
        ));
    }
    for e in &report.kept_endpoints {
        output.note(format!("kept serving endpoint {}: {}", e.name, e.reason));
    }
    for k in &report.skipped {
        output.note(format!("left alone: {} ({})", k.path, k.reason));
    }
    let items = doomed.len()
        + report.environments.len()
        + report.jobs.len()
        + report.experiments.len()
        + report.endpoints.len();
    let next = if args.execute || items == 0 {
        String::new()
    } else {
        let mut again = format!("gc --keep-days {} --execute", args.keep_days);
        if args.remote != "origin" {
            again.push_str(&format!(
                " --remote {}",
                crate::support::process::shell_quote(&args.remote)
            ));
        }
        format!(
            "; delete them with `{}`",
            session.suggest_for(&report.target, &again)
        )
    };
    output.status(
        if args.execute { "Freed" } else { "Plan" },
        format!("{} in {items} item(s){next}", human_bytes(total)),
    );
    Ok(())
}

/// What gc would delete, a line each.
fn show_plan(output: &crate::output::Output, report: &gc::Report) {
    for d in &report.plan {
        output.result(format!(
            "would delete {} ({}): {}",
            d.path,
            human_bytes(d.bytes),
            d.reason
        ));
    }
    for e in &report.environments {
        output.result(format!(
            "would delete environment {} ({}): {}",
            e.path.display(),
            human_bytes(e.bytes),
            e.reason
        ));
    }
    for j in &report.jobs {
        output.result(format!(
            "would delete job {} ({}): {}",
            j.name, j.job_id, j.reason
        ));
    }
    for e in &report.endpoints {
        output.result(format!(
            "would delete serving endpoint {}: {}",
            e.name, e.reason
        ));
    }
    for e in &report.experiments {
        output.result(format!(
            "would move experiment {} ({}) to MLflow's trash: {}",
            e.name, e.experiment_id, e.reason
        ));
    }
}
