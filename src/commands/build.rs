//! `cargo mlops build`: build (or take from the cache) every wheel and show what was built.

use crate::build::{self, BuiltWheel, Options};
use crate::cli::BuildArgs;
use crate::error::Result;
use crate::manifest::Manifest;
use crate::output::Output;
use crate::plan::PlannedWheel;

use super::Session;

pub fn run(session: &Session, args: &BuildArgs) -> Result<()> {
    let output = session.output.clone().with_json(args.json);
    let manifest = session.manifest()?;
    let wheels = session.wheels(&manifest)?;
    if wheels.is_empty() {
        output.warn(format!(
            "nothing to build: {} has no `[[wheel]]` and the cargo workspace has no PyO3 (maturin) crate",
            manifest.display_path.display()
        ));
    }
    let built = if wheels.is_empty() {
        build::Report {
            wheels: Vec::new(),
            failures: Vec::new(),
        }
    } else {
        let options = Options {
            python: session.python()?,
            no_cache: args.no_cache,
        };
        build::build_all(&manifest.state_dir(), &wheels, &options, &output)
    };
    if output.json() {
        // One object, with what failed beside what was built, so a CI step can read why.
        output.result_json(&serde_json::json!({
            "wheels": built.wheels,
            "failures": built.failures,
        }));
    } else {
        for line in summary(&built.wheels) {
            output.result(line);
        }
    }
    let count = built.wheels.len();
    let fresh = built.wheels.iter().filter(|w| w.cached).count();
    let wheels = built.into_result()?;
    if !wheels.is_empty() {
        output.status(
            "Finished",
            format!("{count} wheel(s), {fresh} from the cache"),
        );
    }
    Ok(())
}

/// Builds `wheels` (a warning, not an error, when there are none), reporting failures.
fn build_report(
    session: &Session,
    manifest: &Manifest,
    wheels: &[PlannedWheel],
    no_cache: bool,
    output: &Output,
) -> Result<build::Report> {
    if wheels.is_empty() {
        output.warn(format!(
            "no wheels: {} has no `[[wheel]]` and the cargo workspace has no PyO3 (maturin) crate",
            manifest.display_path.display()
        ));
        return Ok(build::Report {
            wheels: Vec::new(),
            failures: Vec::new(),
        });
    }
    let options = Options {
        python: session.python()?,
        no_cache,
    };
    Ok(build::build_all(
        &manifest.state_dir(),
        wheels,
        &options,
        output,
    ))
}

/// Builds the plan's wheels for a later stage (render, deploy, run): all must succeed.
pub fn build_wheels(
    session: &Session,
    manifest: &Manifest,
    plan: &crate::plan::Plan,
    no_cache: bool,
    output: &Output,
) -> Result<Vec<BuiltWheel>> {
    build_report(session, manifest, &plan.wheels, no_cache, output)?.into_result()
}

/// One aligned line per wheel: name, version, size, content address, built or cached, file.
pub fn summary(wheels: &[BuiltWheel]) -> Vec<String> {
    let rows: Vec<[String; 6]> = wheels
        .iter()
        .map(|w| {
            [
                w.name.clone(),
                w.version.clone(),
                crate::output::human_bytes(w.size),
                w.address.clone(),
                if w.cached { "cached" } else { "built" }.to_string(),
                w.file.clone(),
            ]
        })
        .collect();
    let width = |i: usize| rows.iter().map(|r| r[i].len()).max().unwrap_or(0);
    let widths: Vec<usize> = (0..6).map(width).collect();
    rows.iter()
        .map(|r| {
            format!(
                "{:<w0$}  {:<w1$}  {:>w2$}  {}  {:<w4$}  {}",
                r[0],
                r[1],
                r[2],
                r[3],
                r[4],
                r[5],
                w0 = widths[0],
                w1 = widths[1],
                w2 = widths[2],
                w4 = widths[4],
            )
        })
        .collect()
}

#[cfg(test)]
mod tests {
    #[test]
    fn sizes() {
        use crate::output::human_bytes;
        assert_eq!(human_bytes(812), "812 B");
        assert_eq!(human_bytes(1946), "1.9 KiB");
        assert_eq!(human_bytes(30 * 1024 * 1024), "30.0 MiB");
    }
}
