//! `cargo mlops gc [--target T] [--keep-days N] [--execute]`.

use std::collections::BTreeSet;

use serde_json::json;

use crate::cli::GcArgs;
use crate::databricks::jobs::Jobs;
use crate::error::{Error, Result};
use crate::gc;
use crate::naming;

use super::Session;

pub fn run(session: &Session, args: &GcArgs) -> Result<()> {
    crate::interrupt::install();
    let output = session.output.clone().with_json(args.json);
    // The branch is not needed to collect garbage; a detached CI checkout must still work.
    let mut global = session.global.clone();
    global.branch.get_or_insert_with(|| "gc".into());
    let scoped = Session {
        global,
        output: output.clone(),
        cwd: session.cwd.clone(),
    };
    let prepared = scoped.prepare(None, &[])?;
    let plan = &prepared.plan;
    let refs = crate::git::remote_refs(&prepared.manifest.root, &args.remote).map_err(|e| {
        Error::remote(format!(
            "cannot list the branches of remote `{}`: {e}",
            args.remote
        ))
        .with_help("gc deletes only what it knows is unused; fix access to the remote (or name another with --remote) and run it again")
    })?;
    let live = &refs.branches;
    let live_slugs: BTreeSet<String> = refs
        .branches
        .iter()
        .chain(&refs.tags)
        .map(|b| naming::slug(b))
        .collect();
    let (store, client) = scoped.store(plan)?;
    let running = |id: u64| -> bool {
        match &client {
            // An unknown state counts as running: never delete what a job might read.
            Some(c) => Jobs { client: c }
                .get(id)
                .map_or(true, |s| !s.is_terminal()),
            None => false,
        }
    };
    let keep_ms = i64::from(args.keep_days) * 86_400_000;
    let doomed = gc::plan(
        store.as_ref(),
        &plan.artifacts,
        &live_slugs,
        keep_ms,
        crate::time::now_ms(),
        &running,
    )?;
    let total: u64 = doomed.iter().map(|d| d.bytes).sum();
    let mut deleted = Vec::new();
    if args.execute {
        for d in &doomed {
            crate::interrupt::check()?;
            store.delete(&d.path)?;
            deleted.push(d.path.clone());
            output.status(
                "Deleted",
                format!("{} ({})", d.path, crate::output::human_bytes(d.bytes)),
            );
        }
    }
    if output.json() {
        output.result_json(&json!({
            "target": plan.target,
            "artifacts": plan.artifacts,
            "live_branches": live,
            "live_tags": refs.tags,
            "plan": doomed,
            "bytes": total,
            "executed": args.execute,
            "deleted": deleted,
        }));
    } else if !args.execute {
        for d in &doomed {
            output.result(format!(
                "would delete {} ({}): {}",
                d.path,
                crate::output::human_bytes(d.bytes),
                d.reason
            ));
        }
    }
    output.status(
        if args.execute { "Freed" } else { "Plan" },
        format!(
            "{} in {} item(s){}",
            crate::output::human_bytes(total),
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
