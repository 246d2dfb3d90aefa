//! `cargo mlops compare [RUN] [--base BRANCH]`: the branch's run beside the base branch's.

use crate::cli::CompareArgs;
use crate::error::Result;
use crate::history::compare::{self, Request};
use crate::history::table;
use crate::session::Session;

pub fn run(session: &Session, args: &CompareArgs) -> Result<()> {
    let output = session.output.clone().with_json(args.json);
    let c = compare::compare(
        session,
        &Request {
            run: args.run.as_deref(),
            entry: args.entry.as_deref(),
            base: args.base.as_deref(),
        },
    )?;
    if output.json() {
        output.result_json(&c);
        return Ok(());
    }
    let Some(base) = &c.base_run else {
        output.status(
            "Compared",
            format!(
                "nothing for run {}: {}",
                c.run.run_id,
                compare::no_base_run(&c)
            ),
        );
        return Ok(());
    };
    let mut rows = vec![vec![
        "metric".to_string(),
        format!("base ({})", c.base_branch),
        format!("this ({})", c.branch),
        "change".into(),
    ]];
    for m in &c.metrics {
        rows.push(vec![
            m.metric.clone(),
            table::number(m.base),
            table::number(m.this),
            table::change(m),
        ]);
    }
    if !c.params.is_empty() {
        rows.push(vec![String::new(); 4]);
        rows.push(vec![
            "parameter".into(),
            "base".into(),
            "this".into(),
            String::new(),
        ]);
        for p in &c.params {
            rows.push(vec![
                p.param.clone(),
                p.base.clone().unwrap_or_else(|| "-".into()),
                p.this.clone().unwrap_or_else(|| "-".into()),
                String::new(),
            ]);
        }
    }
    for line in table::align(&rows) {
        output.result(line);
    }
    output.status(
        "Compared",
        format!(
            "run {} of `{}` with {} on `{}` (base from {})",
            c.run.run_id, c.entry, base.run_id, c.base_branch, c.base_source
        ),
    );
    Ok(())
}
