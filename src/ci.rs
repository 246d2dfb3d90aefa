//! Results as outputs of the CI system we run under: `$GITHUB_OUTPUT` and a step summary on
//! GitHub Actions, `##vso[task.setvariable]` lines on Azure Pipelines.

use std::io::Write;

use crate::error::Result;
use crate::output::Output;
use crate::records::RunReport;

fn pairs(r: &RunReport) -> Vec<(&'static str, String)> {
    vec![
        ("mlflow_run_id", r.mlflow_run_id.clone()),
        ("databricks_run_id", r.databricks_run_id.to_string()),
        ("run_page_url", r.run_page_url.clone()),
        ("result", r.result.clone()),
        ("experiment_id", r.experiment_id.clone()),
    ]
}

fn append(path: &str, text: &str) -> Result<()> {
    let mut f = fs_err::OpenOptions::new()
        .create(true)
        .append(true)
        .open(path)?;
    f.write_all(text.as_bytes())?;
    Ok(())
}

pub fn publish_outputs(report: &RunReport, output: &Output) -> Result<()> {
    let var = |k: &str| std::env::var(k).ok().filter(|v| !v.is_empty());
    if var("GITHUB_ACTIONS").is_some() {
        if let Some(path) = var("GITHUB_OUTPUT") {
            let text: String = pairs(report)
                .iter()
                .map(|(k, v)| format!("{k}={v}\n"))
                .collect();
            append(&path, &text)?;
        }
        if let Some(path) = var("GITHUB_STEP_SUMMARY") {
            let text = format!(
                "### cargo mlops run: {}\n\n| | |\n|---|---|\n| target | `{}` |\n| experiment | `{}` |\n| MLflow run | `{}` |\n| Databricks run | [{}]({}) |\n",
                report.result,
                report.target,
                report.experiment,
                report.mlflow_run_id,
                report.databricks_run_id,
                report.run_page_url
            );
            append(&path, &text)?;
        }
    }
    if var("TF_BUILD").is_some() {
        for (k, v) in pairs(report) {
            // Azure reads logging commands from the output; stdout holds the JSON with --json,
            // so they go to stderr then.
            let line = format!("##vso[task.setvariable variable={k};isOutput=true]{v}");
            if output.json() {
                output.raw_err(&line);
            } else {
                output.result(line);
            }
        }
    }
    Ok(())
}
