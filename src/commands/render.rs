//! `cargo mlops render --out DIR`: the MLflow project exactly as it will run.

use crate::cli::RenderArgs;
use crate::error::Result;
use crate::pipeline;
use crate::session::Session;

pub fn run(session: &Session, args: &RenderArgs) -> Result<()> {
    let output = session.output.clone().with_json(args.json);
    let prepared = session.prepare(None, &[])?;
    let out = session.cwd.join(&args.out);
    let tarball = args.tarball.as_ref().map(|p| session.cwd.join(p));
    let report = pipeline::render_project(
        session,
        &prepared,
        &out,
        tarball.as_deref(),
        args.no_cache,
        &output,
    )?;
    if output.json() {
        output.result_json(&report);
    } else {
        for file in &report.rendered.files {
            output.result(format!("{}", file.display()));
        }
        for wheel in &report.rendered.wheels {
            output.result(format!("wheel {} -> {}", wheel.file, wheel.store_path));
        }
        output.result(format!("tarball sha256 {}", report.tarball.sha256));
    }
    output.status(
        "Rendered",
        format!(
            "{} for target `{}` into {}",
            prepared.plan.project,
            prepared.plan.target,
            crate::support::paths::display_path(&out).display()
        ),
    );
    Ok(())
}
