//! `cargo mlops build`: build (or take from the cache) every wheel and show what was built.

use crate::build::BuiltWheel;
use crate::cli::BuildArgs;
use crate::error::Result;
use crate::pipeline;
use crate::session::Session;

pub fn run(session: &Session, args: &BuildArgs) -> Result<()> {
    let output = session.output.clone().with_json(args.json);
    let built = pipeline::build_project(session, args.no_cache, &output)?;
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

/// A table with a header, then one aligned line per wheel: name, version, size, content
/// address, built or cached, file.
pub fn summary(wheels: &[BuiltWheel]) -> Vec<String> {
    if wheels.is_empty() {
        return Vec::new();
    }
    let header = ["wheel", "version", "size", "address", "from", "file"].map(String::from);
    let rows: Vec<[String; 6]> = std::iter::once(header)
        .chain(wheels.iter().map(|w| {
            [
                w.name.clone(),
                w.version.clone(),
                crate::output::human_bytes(w.size),
                w.address.clone(),
                if w.cached { "cached" } else { "built" }.to_string(),
                w.file.clone(),
            ]
        }))
        .collect();
    let width = |i: usize| rows.iter().map(|r| r[i].len()).max().unwrap_or(0);
    let widths: Vec<usize> = (0..6).map(width).collect();
    rows.iter()
        .map(|r| {
            format!(
                "{:<w0$}  {:<w1$}  {:>w2$}  {:<w3$}  {:<w4$}  {}",
                r[0],
                r[1],
                r[2],
                r[3],
                r[4],
                r[5],
                w0 = widths[0],
                w1 = widths[1],
                w2 = widths[2],
                w3 = widths[3],
                w4 = widths[4],
            )
            .trim_end()
            .to_string()
        })
        .collect()
}
