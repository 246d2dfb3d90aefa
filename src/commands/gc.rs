//! `cargo mlops gc [--target T] [--keep-days N] [--execute]`.

use crate::cli::GcArgs;
use crate::error::Result;
use crate::gc;
use crate::output::human_bytes;
use crate::session::Session;

pub fn run(session: &Session, args: &GcArgs) -> Result<()> {
    crate::interrupt::install();
    let output = session.output.clone().with_json(args.json);
    let report = gc::collect(
        session,
        &gc::Options {
            keep_days: args.keep_days,
            execute: args.execute,
            remote: &args.remote,
        },
        &output,
    )?;
    let doomed = &report.plan;
    let total = report.bytes;
    if output.json() {
        output.result_json(&report);
    } else if !args.execute {
        for d in doomed {
            output.result(format!(
                "would delete {} ({}): {}",
                d.path,
                human_bytes(d.bytes),
                d.reason
            ));
        }
    }
    output.status(
        if args.execute { "Freed" } else { "Plan" },
        format!(
            "{} in {} item(s){}",
            human_bytes(total),
            doomed.len(),
            if args.execute {
                ""
            } else {
                "; pass --execute to delete them"
            }
        ),
    );
    Ok(())
}
