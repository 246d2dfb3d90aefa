//! `cargo mlops runs`: the branch's runs, newest first, with the parameters that vary and
//! the metrics (each with a sparkline over the listed runs on a terminal).

use std::io::IsTerminal;

use crate::cli::RunsArgs;
use crate::error::Result;
use crate::history::{self, RunRow, table};
use crate::session::Session;

pub fn run(session: &Session, args: &RunsArgs) -> Result<()> {
    let output = session.output.clone().with_json(args.json);
    let prepared = session.prepare(None, &[])?;
    // Filtering by entry point searches further back, so the limit still fills.
    let searched = if args.entry.is_some() {
        args.limit.max(200)
    } else {
        args.limit
    };
    let targets = if args.all_targets {
        history::Targets::All
    } else {
        history::Targets::This
    };
    let mut listed = history::list(session, &prepared, searched, targets)?;
    // When targets share the experiment, each run says whose it is.
    let shared = !prepared.plan.experiment_shared_with.is_empty();
    if let Some(entry) = &args.entry {
        listed
            .runs
            .retain(|r| r.entry.as_deref() == Some(entry.as_str()));
    }
    listed.runs.truncate(args.limit);
    if output.json() {
        output.result_json(&serde_json::json!({
            "target": prepared.plan.target,
            "branch": prepared.plan.branch,
            "experiment": listed.experiment,
            "experiment_id": listed.experiment_id,
            "runs": listed.runs,
        }));
        return Ok(());
    }
    if listed.runs.is_empty() {
        output.status(
            "Runs",
            format!("experiment `{}` has no runs yet", listed.experiment),
        );
        return Ok(());
    }
    let metrics = table::metric_names(&listed.runs);
    for line in table::align(&rows(&listed.runs, &metrics, shared)) {
        output.result(line);
    }
    // Trends read left to right, oldest first; only where someone is looking.
    if std::io::stdout().is_terminal() {
        for m in &metrics {
            let values: Vec<Option<f64>> = listed
                .runs
                .iter()
                .rev()
                .map(|r| r.metrics.get(m).copied())
                .collect();
            output.result(format!("{m:>16}  {}", table::sparkline(&values)));
        }
    }
    let whose = if shared && !args.all_targets {
        whose(&prepared.plan)
    } else {
        String::new()
    };
    output.status(
        "Listed",
        format!(
            "{} run(s) of experiment `{}`{whose}",
            listed.runs.len(),
            listed.experiment
        ),
    );
    Ok(())
}

/// The table: a header, then a row per run with the parameters that vary and the metrics.
fn rows(runs: &[RunRow], metrics: &[String], shared: bool) -> Vec<Vec<String>> {
    let params = table::varying_params(runs);
    let mut rows = vec![
        ["run", "start", "status", "entry", "commit"]
            .iter()
            .map(|s| s.to_string())
            .chain(shared.then(|| "target".to_string()))
            .chain(params.iter().cloned())
            .chain(metrics.iter().cloned())
            .collect::<Vec<_>>(),
    ];
    for r in runs {
        let mut row = vec![
            r.run_id.chars().take(12).collect(),
            r.start_ms
                .map_or("-".into(), |ms| crate::support::time::rfc3339(ms / 1000)),
            r.status.clone(),
            r.entry.clone().unwrap_or_else(|| "-".into()),
            r.commit
                .as_deref()
                .map_or("-".into(), |c| c.chars().take(8).collect()),
        ];
        if shared {
            row.push(r.target.clone().unwrap_or_else(|| "-".into()));
        }
        row.extend(
            params
                .iter()
                .map(|p| r.params.get(p).cloned().unwrap_or_else(|| "-".into())),
        );
        row.extend(
            metrics
                .iter()
                .map(|m| table::number(r.metrics.get(m).copied())),
        );
        rows.push(row);
    }
    rows
}

/// Whose runs were listed, when the target shares its experiment with others.
fn whose(plan: &crate::plan::Plan) -> String {
    format!(
        " made by target `{}` (it shares the experiment with {}; `--all-targets` lists theirs too)",
        plan.target,
        plan.experiment_shared_with
            .iter()
            .map(|t| format!("`{t}`"))
            .collect::<Vec<_>>()
            .join(", ")
    )
}
