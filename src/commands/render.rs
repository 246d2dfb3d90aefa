//! `cargo mlops render --out DIR`: the MLflow project exactly as it will run.

use serde::Serialize;

use crate::cli::RenderArgs;
use crate::error::Result;
use crate::render::{self, Rendered};

use super::Session;
use super::build::build_wheels;

#[derive(Serialize)]
struct Report<'a> {
    #[serde(flatten)]
    rendered: &'a Rendered,
    tarball: Tarball,
}

#[derive(Serialize)]
struct Tarball {
    #[serde(skip_serializing_if = "Option::is_none")]
    path: Option<std::path::PathBuf>,
    sha256: String,
    size: u64,
}

pub fn run(session: &Session, args: &RenderArgs) -> Result<()> {
    let output = session.output.clone().with_json(args.json);
    let prepared = session.prepare(None, &[])?;
    let (manifest, project, plan) = (&prepared.manifest, &prepared.project, &prepared.plan);
    let wheels = build_wheels(session, manifest, plan, args.no_cache, &output)?;
    let out = session.cwd.join(&args.out);
    let rendered = render::render(plan, manifest, project, &wheels, &out)?;
    let written = match &args.tarball {
        Some(path) => {
            let path = session.cwd.join(path);
            let tmp = path.with_extension(format!("tmp-{}", std::process::id()));
            let file = fs_err::File::create(&tmp)?;
            let written = rendered.tarball(std::io::BufWriter::new(file));
            let written = written.and_then(|w| {
                fs_err::rename(&tmp, &path)?;
                Ok(w)
            });
            if written.is_err() {
                let _ = fs_err::remove_file(&tmp);
            }
            written?
        }
        None => rendered.tarball(std::io::sink())?,
    };
    let report = Report {
        rendered: &rendered,
        tarball: Tarball {
            path: args.tarball.as_ref().map(|p| session.cwd.join(p)),
            sha256: written.sha256,
            size: written.size,
        },
    };
    if output.json() {
        output.result_json(&report);
    } else {
        for file in &rendered.files {
            output.result(format!("{}", file.display()));
        }
        for wheel in &rendered.wheels {
            output.result(format!("wheel {} -> {}", wheel.file, wheel.store_path));
        }
        output.result(format!("tarball sha256 {}", report.tarball.sha256));
    }
    output.status(
        "Rendered",
        format!(
            "{} for target `{}` into {}",
            plan.project,
            plan.target,
            crate::manifest::display_path(&out).display()
        ),
    );
    Ok(())
}
