//! `cargo mlops release [RUN]` and `cargo mlops promote --alias A (--from B | --version N)`.

use crate::cli::{ApproveArgs, PromoteArgs, ReleaseArgs};
use crate::error::{Error, Result};
use crate::history::table;
use crate::release::{self, Promotion, Request};
use crate::session::Session;

pub fn release(session: &Session, args: &ReleaseArgs) -> Result<()> {
    let output = session.output.clone().with_json(args.json);
    let show = |r: &release::Released| {
        if !output.json() {
            for line in checks_table(r) {
                output.result(line);
            }
        }
    };
    let r = release::release(
        session,
        &Request {
            run: args.run.as_deref(),
            entry: args.entry.as_deref(),
            dry_run: args.dry_run,
        },
        &show,
    )?;
    if output.json() {
        output.result_json(&r);
    } else if let Some(v) = &r.version {
        output.result(format!("model    {}", r.model));
        output.result(format!("version  {v}"));
        output.result(format!("alias    {}", r.alias));
        if let Some(id) = &r.model_id {
            output.result(format!(
                "logged   {id} (models:/{id}, whose metrics the checks read)"
            ));
        }
        show_endpoints(&output, &r.serving);
    }
    if let Some(e) = missing_metric(session, &r) {
        return Err(e);
    }
    if !r.passed {
        return Err(Error::failed(format!(
            "run {} did not pass the release checks: nothing was registered",
            r.run_id
        ))
        .with_help("improve the run (or change the gates in [release]) and release again"));
    }
    if let Some(v) = &r.version {
        let pairs = [
            ("model", r.model.clone()),
            ("model_version", v.clone()),
            ("alias", r.alias.clone()),
            ("run_id", r.run_id.clone()),
        ];
        if let Err(e) = crate::ci::publish_values(&pairs, &output) {
            output.warn(format!("cannot write the CI outputs: {e}"));
        }
    }
    output.status(
        if r.dry_run { "Dry run" } else { "Released" },
        what_happened(&r),
    );
    Ok(())
}

/// A metric the gates or `must_beat` name that the run never logged: a usage error naming
/// the nearest metrics it has.
fn missing_metric(session: &Session, r: &release::Released) -> Option<Error> {
    let m = r.missing.first()?;
    let near = match m.closest.as_slice() {
        [] => "it has none with a similar name".to_string(),
        names => format!(
            "did you mean {}?",
            names
                .iter()
                .map(|n| format!("`{n}`"))
                .collect::<Vec<_>>()
                .join(" or ")
        ),
    };
    Some(Error::usage(format!(
        "run {} has no metric `{}` (named by [release] {}){}: nothing was registered",
        r.run_id,
        m.metric,
        m.used_by,
        if r.missing.len() > 1 {
            format!(" and {} more are missing", r.missing.len() - 1)
        } else {
            String::new()
        }
    ))
    .with_help(format!(
        "{near} Fix the name in {}, or log the metric in the run (`cargo mlops runs` shows what it has)",
        session
            .manifest()
            .map(|m| m.display_path.display().to_string())
            .unwrap_or_else(|_| "mlops.toml".into())
    )))
}

/// What the release did (or, dry, would do).
fn what_happened(r: &release::Released) -> String {
    match (&r.version, r.dry_run, r.registered) {
        (None, true, _) => format!(
            "would register run {} as a new version of {}",
            r.run_id, r.model
        ),
        (Some(v), true, _) => format!("run {} is version {v} of {} already", r.run_id, r.model),
        (Some(v), false, true) => format!(
            "run {} as version {v} of {}, alias `{}`",
            r.run_id, r.model, r.alias
        ),
        (Some(v), false, false) => format!(
            "run {} was version {v} of {} already (nothing registered), alias `{}`",
            r.run_id, r.model, r.alias
        ),
        (None, false, _) => format!("run {}", r.run_id),
    }
}

/// The gates and `must_beat` beside the run's values, a row each.
fn checks_table(r: &release::Released) -> Vec<String> {
    let mut rows = vec![vec![
        "check".to_string(),
        "value".into(),
        "needs".into(),
        "".into(),
    ]];
    let missing = |metric: &str| r.missing.iter().any(|m| m.metric == metric);
    for g in &r.gates {
        rows.push(vec![
            g.metric.clone(),
            table::number(g.value),
            format!("{} {}", g.op, table::number(Some(g.threshold))),
            if missing(&g.metric) {
                "no such metric"
            } else if g.passed {
                "pass"
            } else {
                "FAIL"
            }
            .into(),
        ]);
    }
    if let Some(m) = &r.must_beat {
        let needs = match (&m.version, m.theirs) {
            (None, _) => format!("beat `{}` (none yet)", m.alias),
            (Some(v), t) => format!(
                "{} than {} (`{}` = version {v})",
                match m.better {
                    crate::manifest::release::Better::Higher => "higher",
                    crate::manifest::release::Better::Lower => "lower",
                },
                table::number(t),
                m.alias
            ),
        };
        rows.push(vec![
            m.metric.clone(),
            table::number(m.ours),
            needs,
            if m.passed { "pass" } else { "FAIL" }.into(),
        ]);
    }
    if rows.len() > 1 {
        table::align(&rows)
    } else {
        Vec::new()
    }
}

pub fn promote(session: &Session, args: &PromoteArgs) -> Result<()> {
    let output = session.output.clone().with_json(args.json);
    let p = release::promote(
        session,
        &Promotion {
            alias: &args.alias,
            from: args.from.as_deref(),
            version: args.version.as_deref(),
            to_target: args.to_target.as_deref(),
        },
    )?;
    if output.json() {
        output.result_json(&p);
    } else {
        show_endpoints(&output, &p.serving);
    }
    let pairs = [
        ("model", p.model.clone()),
        ("model_version", p.version.clone()),
        ("alias", p.alias.clone()),
    ];
    if let Err(e) = crate::ci::publish_values(&pairs, &output) {
        output.warn(format!("cannot write the CI outputs: {e}"));
    }
    output.status(
        "Promoted",
        match (&p.from_model, &p.from_version) {
            (Some(m), Some(v)) => format!(
                "{m} version {v} to {} version {} on `{}`, alias `{}`",
                p.model, p.version, p.target, p.alias
            ),
            _ => format!("{} version {}, alias `{}`", p.model, p.version, p.alias),
        },
    );
    Ok(())
}

/// A line per serving endpoint that follows the alias: what it serves and what was done.
fn show_endpoints(output: &crate::output::Output, served: &[crate::serving::Served]) {
    for s in served {
        let routes: Vec<String> = s
            .routes
            .iter()
            .map(|r| format!("{}% version {} (`{}`)", r.percent, r.version, r.alias))
            .collect();
        let what = match s.change {
            "not_created" => "not created: its alias has no version yet".to_string(),
            change => format!(
                "{}, {change}, smoke {}",
                routes.join(" + "),
                s.smoke.replace('_', " ")
            ),
        };
        output.result(format!("endpoint {}  {what}", s.endpoint));
    }
}

pub fn approve(session: &Session, args: &ApproveArgs) -> Result<()> {
    let output = session.output.clone().with_json(args.json);
    let a = release::approve(session, args.version.as_deref())?;
    if output.json() {
        output.result_json(&a);
    }
    Ok(())
}
