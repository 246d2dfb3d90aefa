//! `cargo mlops deploy`: the pipeline up to the deploy record, or with `--dry-run` its plan.

use crate::cli::DeployArgs;
use crate::error::Result;
use crate::output::human_bytes;
use crate::pipeline;
use crate::session::Session;

pub fn run(session: &Session, args: &DeployArgs) -> Result<()> {
    crate::support::interrupt::install();
    let output = session.output.clone().with_json(args.json);
    let prepared = session.prepare(None, &[])?;
    if args.dry_run {
        let plan = pipeline::dry_run(session, &prepared)?;
        if output.json() {
            output.result_json(&plan);
        } else {
            for line in super::check::describe(&prepared.plan) {
                output.result(line);
            }
            for w in &plan.wheels {
                output.result(format!("would publish {} -> {}", w.package, w.remote_path));
            }
            output.result(format!("would record {}", plan.record));
        }
        output.status("Dry run", "nothing was built, written or sent");
        return Ok(());
    }
    let open = session.store(&prepared.plan)?;
    let deployment = pipeline::deploy(session, &prepared, &open, args.no_cache, false, &output)?;
    if output.json() {
        output.result_json(&deployment);
    } else {
        for p in deployment
            .wheels
            .iter()
            .chain([&deployment.tarball, &deployment.launcher])
        {
            let what = if p.uploaded {
                format!("uploaded {}", human_bytes(p.bytes_sent))
            } else {
                "unchanged".to_string()
            };
            output.result(format!("{}  {what}", p.remote_path));
        }
        output.result(format!("record  {}", deployment.record));
    }
    if let Err(e) = crate::ci::publish_deploy(&deployment, &output) {
        output.warn(format!("cannot write the CI outputs: {e}"));
    }
    let sent: u64 = deployment
        .wheels
        .iter()
        .chain([&deployment.tarball, &deployment.launcher])
        .map(|p| p.bytes_sent)
        .sum();
    output.status(
        "Deployed",
        format!(
            "{} to `{}` ({}), {} sent",
            prepared.plan.project,
            prepared.plan.target,
            deployment.branch_folder,
            human_bytes(sent)
        ),
    );
    Ok(())
}
