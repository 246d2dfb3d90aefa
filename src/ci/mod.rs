//! Results as outputs of the CI system we run under, for later steps and for people: on
//! GitHub Actions `$GITHUB_OUTPUT` lines and a step summary (`$GITHUB_STEP_SUMMARY`); on
//! Azure Pipelines `##vso[task.setvariable ...;isOutput=true]` and an uploaded summary
//! (`##vso[task.uploadsummary]`). `deploy` and `run` write them, on every target.

mod summary;

use std::io::Write;

use crate::error::Result;
use crate::output::Output;
use crate::output::ci::System;
use crate::pipeline::Deployment;
use crate::support::records::RunReport;

/// Every output a command sets (run, deploy, release and promote): what the GitHub Action
/// (`action.yml`) passes on, checked by `tests/integration/recipes.rs`.
pub const OUTPUTS: &[&str] = &[
    "mlflow_run_id",
    "experiment_id",
    "result",
    "status",
    "mlflow_run_url",
    "tracking_uri",
    "databricks_run_id",
    "run_page_url",
    "deploy_record",
    "branch_folder",
    "tarball",
    "launcher",
    "wheels",
    "model",
    "model_version",
    "alias",
    "run_id",
];

/// A run's outputs; a value that does not apply is empty.
fn run_pairs(r: &RunReport) -> Vec<(&'static str, String)> {
    let or_empty = |v: &Option<String>| v.clone().unwrap_or_default();
    vec![
        ("mlflow_run_id", r.mlflow_run_id.clone()),
        ("experiment_id", or_empty(&r.experiment_id)),
        ("result", r.result.clone()),
        ("status", r.status.clone()),
        ("mlflow_run_url", or_empty(&r.mlflow_run_url)),
        ("tracking_uri", r.tracking_uri.clone()),
        (
            "databricks_run_id",
            r.databricks_run_id
                .map(|i| i.to_string())
                .unwrap_or_default(),
        ),
        ("run_page_url", or_empty(&r.run_page_url)),
    ]
}

/// A deploy's outputs: where its record and files are (`wheels` is a JSON array, for
/// `fromJSON` in a workflow).
fn deploy_pairs(d: &Deployment) -> Vec<(&'static str, String)> {
    let wheels: Vec<&str> = d.wheels.iter().map(|w| w.remote_path.as_str()).collect();
    vec![
        ("deploy_record", d.record.clone()),
        ("branch_folder", d.branch_folder.clone()),
        ("tarball", d.tarball.remote_path.clone()),
        ("launcher", d.launcher.remote_path.clone()),
        (
            "wheels",
            serde_json::to_string(&wheels).expect("strings serialize"),
        ),
    ]
}

/// Publishes a run's outputs and summary (the log tail goes into the summary of a failure).
pub fn publish_run(report: &RunReport, log_tail: Option<&str>, output: &Output) -> Result<()> {
    publish(&run_pairs(report), &summary::run(report, log_tail), output)
}

/// Publishes a deploy's outputs and summary.
pub fn publish_deploy(deployment: &Deployment, output: &Output) -> Result<()> {
    publish(
        &deploy_pairs(deployment),
        &summary::deploy(deployment),
        output,
    )
}

/// Sets outputs without a summary (a release's model, version and alias).
pub fn publish_values(pairs: &[(&str, String)], output: &Output) -> Result<()> {
    publish_pairs(pairs, output)
}

fn append(path: &str, text: &str) -> Result<()> {
    let mut f = fs_err::OpenOptions::new()
        .create(true)
        .append(true)
        .open(path)?;
    f.write_all(text.as_bytes())?;
    Ok(())
}

fn publish(pairs: &[(&str, String)], markdown: &str, output: &Output) -> Result<()> {
    publish_pairs(pairs, output)?;
    publish_summary(markdown, output)
}

fn publish_pairs(pairs: &[(&str, String)], output: &Output) -> Result<()> {
    // A new output must be listed, so that the Action passes it on.
    debug_assert!(
        pairs.iter().all(|(k, _)| OUTPUTS.contains(k)),
        "an output missing from ci::OUTPUTS: {pairs:?}"
    );
    let var = |k: &str| std::env::var(k).ok().filter(|v| !v.is_empty());
    // An output value is one line.
    let one_line = |v: &str| v.replace(['\r', '\n'], " ");
    match output.ci() {
        Some(System::GitHub) => {
            if let Some(path) = var("GITHUB_OUTPUT") {
                let text: String = pairs
                    .iter()
                    .map(|(k, v)| format!("{k}={}\n", one_line(v)))
                    .collect();
                append(&path, &text)?;
            }
        }
        Some(System::Azure) => {
            for (k, v) in pairs {
                output.ci_line(&format!(
                    "##vso[task.setvariable variable={k};isOutput=true]{}",
                    one_line(v)
                ));
            }
        }
        None => {}
    }
    Ok(())
}

/// Adds a Markdown section to the CI run's summary: GitHub's step summary, or a file the
/// Azure agent attaches to the run's summary page.
pub fn publish_summary(markdown: &str, output: &Output) -> Result<()> {
    let var = |k: &str| std::env::var(k).ok().filter(|v| !v.is_empty());
    match output.ci() {
        Some(System::GitHub) => {
            if let Some(path) = var("GITHUB_STEP_SUMMARY") {
                append(&path, markdown)?;
            }
        }
        Some(System::Azure) => {
            // The summary is a Markdown file the agent attaches to the run's summary page.
            let dir = var("AGENT_TEMPDIRECTORY")
                .map(std::path::PathBuf::from)
                .unwrap_or_else(std::env::temp_dir);
            let file = tempfile::Builder::new()
                .prefix("cargo-mlops-summary-")
                .suffix(".md")
                .tempfile_in(&dir)
                .map_err(|e| {
                    crate::error::Error::io(
                        format!("cannot write a summary in {}", dir.display()),
                        e,
                    )
                })?;
            fs_err::write(file.path(), markdown)?;
            let (_, path) = file.keep().map_err(|e| {
                crate::error::Error::io("cannot keep the summary file".to_string(), e.error)
            })?;
            output.ci_line(&format!("##vso[task.uploadsummary]{}", path.display()));
        }
        None => {}
    }
    Ok(())
}
