//! The Markdown summaries of a run and a deploy, for a CI run's summary page.

use crate::pipeline::Deployment;
use crate::support::records::RunReport;

/// Text safe inside a Markdown table cell.
fn cell(text: &str) -> String {
    text.replace('|', "\\|").replace(['\r', '\n'], " ")
}

/// `text` as inline code in a table cell (a backtick in it would end the span).
fn code(text: &str) -> String {
    format!("`{}`", cell(&text.replace('`', "'")))
}

fn table(rows: &[(String, String)], head: (&str, &str)) -> String {
    let mut out = format!("| {} | {} |\n|---|---|\n", head.0, head.1);
    for (k, v) in rows {
        out.push_str(&format!("| {} | {v} |\n", cell(k)));
    }
    out
}

/// A run: what ran where, its result, parameters and metrics; on failure the error and the
/// last lines of the log in a collapsed block.
pub fn run(r: &RunReport, log_tail: Option<&str>) -> String {
    let mut out = format!(
        "### cargo mlops run `{}` on `{}`: {}\n\n",
        cell(&r.entry),
        cell(&r.target),
        r.result
    );
    let mlflow_run = match &r.mlflow_run_url {
        Some(url) => format!("[{}]({url})", code(&r.mlflow_run_id)),
        None => format!("{} in {}", code(&r.mlflow_run_id), code(&r.tracking_uri)),
    };
    let commit = match &r.commit {
        Some(c) if r.dirty => format!("{} with uncommitted changes", code(c)),
        Some(c) => code(c),
        None => "not in git".into(),
    };
    let mut rows = vec![
        ("branch".to_string(), code(&r.branch)),
        ("commit".into(), commit),
        (
            "target".into(),
            format!("{} ({})", code(&r.target), r.target_kind),
        ),
        ("experiment".into(), code(&r.experiment)),
        ("MLflow run".into(), mlflow_run),
        ("status".into(), code(&r.status)),
    ];
    if let (Some(id), Some(url)) = (r.databricks_run_id, &r.run_page_url) {
        rows.push(("Databricks run".into(), format!("[{id}]({url})")));
    }
    out.push_str(&table(&rows, ("", "")));
    if !r.params.is_empty() {
        out.push_str("\n**Parameters**\n\n");
        let rows: Vec<(String, String)> =
            r.params.iter().map(|(k, v)| (k.clone(), code(v))).collect();
        out.push_str(&table(&rows, ("name", "value")));
    }
    if !r.metrics.is_empty() {
        out.push_str("\n**Metrics**\n\n");
        let rows: Vec<(String, String)> = r
            .metrics
            .iter()
            .map(|(k, v)| (k.clone(), v.to_string()))
            .collect();
        out.push_str(&table(&rows, ("name", "value")));
    }
    if let Some(error) = &r.error {
        out.push_str(&format!("\n**Error:** {}\n", cell(error)));
    }
    if let Some(tail) = log_tail.filter(|t| !t.trim().is_empty()) {
        let lines = tail.lines().count();
        // A fence longer than any run of backticks in the log, so the log cannot end it.
        let fence = "`".repeat(longest_backtick_run(tail).max(2) + 1);
        out.push_str(&format!(
            "\n<details><summary>Last {lines} lines of the log</summary>\n\n{fence}text\n{}\n{fence}\n\n</details>\n",
            tail.trim_end()
        ));
    }
    out.push('\n');
    out
}

fn longest_backtick_run(text: &str) -> usize {
    text.split(|c| c != '`').map(str::len).max().unwrap_or(0)
}

/// A deploy: where it went and what it published.
pub fn deploy(d: &Deployment) -> String {
    let mut out = format!("### cargo mlops deploy to `{}`\n\n", cell(&d.target));
    let mut rows = vec![
        ("branch".to_string(), code(&d.branch)),
        ("store".into(), cell(&d.store)),
        ("record".into(), code(&d.record)),
    ];
    for p in d.wheels.iter().chain([&d.tarball, &d.launcher]) {
        rows.push((
            p.kind.to_string(),
            format!(
                "{} ({})",
                code(&p.remote_path),
                if p.uploaded { "uploaded" } else { "unchanged" }
            ),
        ));
    }
    out.push_str(&table(&rows, ("", "")));
    out.push('\n');
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn report() -> RunReport {
        RunReport {
            target: "dev".into(),
            target_kind: "databricks".into(),
            entry: "train".into(),
            branch: "feature/x".into(),
            commit: Some("abc123".into()),
            dirty: true,
            experiment: "/Shared/p/feature-x".into(),
            experiment_id: Some("7".into()),
            mlflow_run_id: "r1".into(),
            mlflow_run_url: Some("https://w/ml/experiments/7/runs/r1".into()),
            tracking_uri: "databricks".into(),
            status: "FAILED".into(),
            result: "FAILED".into(),
            params: [("alpha".to_string(), "0.3".to_string())].into(),
            metrics: [("loss".to_string(), 0.25)].into(),
            databricks_run_id: Some(42),
            run_page_url: Some("https://w/#job/1/run/42".into()),
            environment: None,
            ui: None,
            error: Some("run 42 ended FAILED | badly".into()),
        }
    }

    #[test]
    fn a_failed_run_has_everything_and_a_collapsed_log() {
        let md = run(&report(), Some("line 1\n```\nline 3"));
        for part in [
            "### cargo mlops run `train` on `dev`: FAILED",
            "| branch | `feature/x` |",
            "| commit | `abc123` with uncommitted changes |",
            "| MLflow run | [`r1`](https://w/ml/experiments/7/runs/r1) |",
            "| Databricks run | [42](https://w/#job/1/run/42) |",
            "| alpha | `0.3` |",
            "| loss | 0.25 |",
            "**Error:** run 42 ended FAILED \\| badly",
            "<details><summary>Last 3 lines of the log</summary>",
            "````text\nline 1\n```\nline 3\n````",
        ] {
            assert!(md.contains(part), "{part:?} not in\n{md}");
        }
    }
}
