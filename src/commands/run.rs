//! `cargo mlops run --entry E`: deploy, then run the entry point and follow it to the end,
//! exiting with its result. On a Databricks target that is a one-time job run.

use crate::cli::RunArgs;
use crate::error::{Error, Result};
use crate::output::Output;
use crate::records::RunReport;
use crate::run::{self, Outcome, RunRequest};
use crate::session::Session;

pub fn run(session: &Session, args: &RunArgs) -> Result<()> {
    crate::interrupt::install();
    let output = session.output.clone().with_json(args.json);
    let request = RunRequest {
        entry: &args.entry,
        params: &args.params,
        no_wait: args.no_wait,
        timeout: run::timeout(args.timeout.as_deref())?,
        timeout_text: args.timeout.as_deref(),
        no_cache: args.no_cache,
    };
    match run::run(session, &request, &output)? {
        Outcome::Local(result) => {
            if output.json() {
                output.result_json(&result);
            } else {
                output.result(format!("mlflow_run_id  {}", result.mlflow_run_id));
                output.result(format!("status         {}", result.status));
                output.result(format!("experiment     {}", result.experiment));
                if let Some(metrics) = result.metrics.as_object() {
                    for (k, v) in metrics {
                        output.result(format!("metric         {k} = {v}"));
                    }
                }
                output.result(format!("see it with    {}", result.ui));
            }
            if result.status == "FINISHED" {
                output.status(
                    "Finished",
                    format!("run {} of `{}`", result.mlflow_run_id, args.entry),
                );
                Ok(())
            } else {
                Err(Error::failed(format!(
                    "the entry point `{}` failed (MLflow run {} is {})",
                    args.entry, result.mlflow_run_id, result.status
                ))
                .with_help("its output above says why"))
            }
        }
        Outcome::Databricks(finished) => {
            finish(&finished.report, &output);
            finished.failure.map_or(Ok(()), Err)
        }
    }
}

/// The result on stdout, and as outputs of the CI system we run under.
fn finish(report: &RunReport, output: &Output) {
    if output.json() {
        output.result_json(report);
    } else {
        output.result(format!("mlflow_run_id      {}", report.mlflow_run_id));
        output.result(format!("databricks_run_id  {}", report.databricks_run_id));
        output.result(format!("run_page_url       {}", report.run_page_url));
        output.result(format!("result             {}", report.result));
    }
    if let Err(e) = crate::ci::publish_outputs(report, output) {
        output.warn(format!("cannot write the CI outputs: {e}"));
    }
}
