//! `[jobs.<name>]`: persistent Databricks jobs that run an entry point on a schedule (or on
//! demand), optionally followed by a release of the run they made. The schedule is checked
//! as the Jobs API takes it: a Quartz cron expression (seconds first, `?` in the day of month
//! or the day of week) and a time zone id.

use std::collections::BTreeMap;

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use toml::Spanned;

use super::ctx::Ctx;
use crate::error::{Error, Result};
use crate::support::diagnostic::suggestion;

/// `[jobs.<name>]` as written.
#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct RawJob {
    /// The entry point each run of the job runs: one of mlops.toml's `[entry_points]` or of
    /// the MLproject's `entry_points` (an adopted project's own; `main` for a Databricks
    /// Spark job project).
    #[schemars(with = "String")]
    pub entry: Spanned<String>,
    /// The Databricks target it runs on (default: `[hooks] target`, else the only Databricks
    /// target).
    #[schemars(with = "Option<String>")]
    pub target: Option<Spanned<String>>,
    /// The entry point's parameters: `{ epochs = 400 }`.
    #[serde(default)]
    #[schemars(with = "BTreeMap<String, serde_json::Value>")]
    pub parameters: BTreeMap<String, Spanned<toml::Value>>,
    /// When it runs: `{ cron = "0 0 2 * * ?", timezone = "UTC" }` (none: only on demand).
    pub schedule: Option<RawSchedule>,
    /// A second task that releases the run the first made (`[release]` gates and must_beat).
    #[schemars(with = "Option<bool>")]
    pub release: Option<Spanned<bool>>,
    /// Who is told when a run fails.
    pub on_failure: Option<RawNotify>,
    /// How many runs may be going at once (default 1).
    #[schemars(with = "Option<u32>")]
    pub max_concurrent_runs: Option<Spanned<u32>>,
    /// A run still going after this many seconds is stopped (default: none; at most
    /// 2147483647, the Jobs API's 32-bit field).
    #[schemars(with = "Option<u64>")]
    pub timeout_seconds: Option<Spanned<u64>>,
    /// A deployment job's approval task: its key (e.g. `Approval_Check`). It runs first and
    /// fails until the model version carries the tag `<key> = Approved`, which
    /// `cargo mlops approve` sets.
    #[schemars(with = "Option<String>")]
    pub approval: Option<Spanned<String>>,
}

#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct RawSchedule {
    /// A Quartz cron expression: seconds, minutes, hours, day of month, month, day of week
    /// (and a year), e.g. `0 0 2 * * ?` for 02:00 every day.
    #[schemars(with = "String")]
    pub cron: Spanned<String>,
    /// A time zone id such as `UTC` or `Europe/Amsterdam` (default `UTC`).
    #[schemars(with = "Option<String>")]
    pub timezone: Option<Spanned<String>>,
}

#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct RawNotify {
    /// E-mail addresses.
    #[serde(default)]
    pub email: Vec<String>,
    /// Ids of the workspace's notification destinations (webhooks), at most 3.
    #[serde(default = "no_webhooks")]
    #[schemars(with = "Vec<String>")]
    pub webhooks: Spanned<Vec<String>>,
}

fn no_webhooks() -> Spanned<Vec<String>> {
    Spanned::new(0..0, Vec::new())
}

/// A job's schedule, checked.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Schedule {
    pub cron: String,
    pub timezone: String,
}

/// `[jobs.<name>]`, resolved.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Job {
    pub name: String,
    pub entry: String,
    pub target: String,
    /// As given (`-P` values are checked against the entry point when the job is planned).
    pub parameters: BTreeMap<String, String>,
    pub schedule: Option<Schedule>,
    pub release: bool,
    pub on_failure_email: Vec<String>,
    pub on_failure_webhooks: Vec<String>,
    pub max_concurrent_runs: u32,
    pub timeout_seconds: Option<u64>,
    /// The approval task's key (a deployment job's).
    pub approval: Option<String>,
}

/// A Quartz cron expression as the Jobs API takes it, or why it is not one.
pub fn check_cron(cron: &str) -> std::result::Result<(), String> {
    let fields: Vec<&str> = cron.split_whitespace().collect();
    if !(6..=7).contains(&fields.len()) {
        return Err(format!(
            "`{cron}` has {} fields; a Quartz cron expression has 6 or 7: seconds, minutes, hours, day of month, month, day of week (and year)",
            fields.len()
        ));
    }
    // Quartz needs `?` in exactly one of the two day fields (`CronExpression`: "Support for
    // specifying both a day-of-week and a day-of-month value is not complete").
    let (dom, dow) = (fields[3] == "?", fields[5] == "?");
    if dom == dow {
        return Err(format!(
            "`{cron}`: put `?` in exactly one of day of month (field 4) and day of week (field 6), e.g. `0 0 2 * * ?`"
        ));
    }
    if let Some(why) = out_of_range(&fields) {
        return Err(format!("`{cron}`: {why}"));
    }
    quartz(cron)
        .map(|_| ())
        .map_err(|e| format!("`{cron}` is not a Quartz cron expression: {e}"))
}

/// Quartz's fields, their names and the numbers each takes (`CronExpression`'s ranges).
const QUARTZ_FIELDS: [(&str, u32, u32); 7] = [
    ("seconds", 0, 59),
    ("minutes", 0, 59),
    ("hours", 0, 23),
    ("day of month", 1, 31),
    ("month", 1, 12),
    ("day of week", 1, 7),
    ("year", 1970, 2099),
];

/// The first number outside its field's range, said with the field's place and name.
fn out_of_range(fields: &[&str]) -> Option<String> {
    for (i, (field, (name, low, high))) in fields.iter().zip(QUARTZ_FIELDS).enumerate() {
        // `a-b/c,d#e`: the step after `/` and the nth after `#` are not values of the field.
        let values = field
            .split(',')
            .flat_map(|part| part.split(['/', '#']).next().unwrap_or("").split('-'))
            .map(|v| v.trim_end_matches(['L', 'W']));
        if let Some(bad) = values
            .filter_map(|v| v.parse::<u32>().ok())
            .find(|n| !(low..=high).contains(n))
        {
            return Some(format!(
                "field {} ({name}) is {bad}, outside {low}-{high}",
                i + 1
            ));
        }
    }
    None
}

/// `cron` parsed as Quartz reads it: seconds first, an optional year, days of the week
/// numbered 1 (Sunday) to 7.
pub fn quartz(cron: &str) -> std::result::Result<croner::Cron, croner::errors::CronError> {
    croner::parser::CronParser::builder()
        .seconds(croner::parser::Seconds::Required)
        .year(croner::parser::Year::Optional)
        .alternative_weekdays(true)
        .build()
        .parse(&with_ranged_steps(cron))
}

/// Quartz's `start/step` (from `start` to the field's end, every `step`: `0 0/15 * * * ?`)
/// written `start-end/step`, the form croner takes: croner refuses a bare start before `/`.
fn with_ranged_steps(cron: &str) -> String {
    cron.split_whitespace()
        .zip(QUARTZ_FIELDS)
        .map(|(field, (_, _, high))| {
            field
                .split(',')
                .map(|part| match part.split_once('/') {
                    Some((start, step))
                        if !start.contains('-') && start != "*" && !start.is_empty() =>
                    {
                        format!("{start}-{high}/{step}")
                    }
                    _ => part.to_string(),
                })
                .collect::<Vec<_>>()
                .join(",")
        })
        .collect::<Vec<_>>()
        .join(" ")
}

/// Whether `tz` is a time zone id (IANA names, as Java's `TimeZone` takes them).
pub fn check_timezone(tz: &str) -> std::result::Result<(), String> {
    tz.parse::<chrono_tz::Tz>().map(|_| ()).map_err(|_| {
        format!("`{tz}` is not a time zone id: write one such as `UTC` or `Europe/Amsterdam`")
    })
}

fn name_ok(name: &str) -> bool {
    !name.is_empty()
        && name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_'))
}

fn text(v: &toml::Value) -> String {
    match v {
        toml::Value::String(s) => s.clone(),
        other => other.to_string(),
    }
}

/// What every job is checked against: the entry points (mlops.toml's and the MLproject's),
/// each target's name and whether it is a Databricks one, the model each target releases into
/// (its own, else `[release] model`), and `[hooks] target`.
pub(super) struct Known<'a> {
    pub entry_points: &'a [&'a str],
    pub targets: &'a BTreeMap<String, bool>,
    pub models: &'a BTreeMap<String, Option<String>>,
    pub hook_target: Option<&'a str>,
}

/// The most notification destinations one event takes (databricks-sdk-py `service/jobs.py`
/// `WebhookNotifications.on_failure`: "A maximum of 3 destinations can be specified").
pub const MAX_WEBHOOKS: usize = 3;

/// The largest `timeout_seconds` the Jobs API takes: the field is an int32 (`JobSettings`
/// `timeout_seconds` in the Jobs API 2.2 reference, format int32).
pub const MAX_TIMEOUT_SECONDS: u64 = i32::MAX as u64;

pub(super) fn resolve(
    raw: BTreeMap<String, Spanned<RawJob>>,
    known: &Known<'_>,
    ctx: &Ctx<'_>,
) -> Result<BTreeMap<String, Job>> {
    raw.into_iter()
        .map(|(name, spanned)| Ok((name.clone(), resolve_job(name, spanned, known, ctx)?)))
        .collect()
}

/// A manifest error at `span` under `key`, with `help`.
pub(super) fn fail(
    ctx: &Ctx<'_>,
    span: std::ops::Range<usize>,
    msg: String,
    key: String,
    help: String,
) -> Error {
    Error::diagnostic(ctx.at(span, msg).key(key).help(help))
}

fn resolve_job(
    name: String,
    spanned: Spanned<RawJob>,
    known: &Known<'_>,
    ctx: &Ctx<'_>,
) -> Result<Job> {
    let span = spanned.span();
    let job = spanned.into_inner();
    let key = format!("jobs.{name}");
    if !name_ok(&name) {
        return Err(fail(
            ctx,
            span,
            format!("invalid job name `{name}`"),
            key,
            "use letters, digits, `-` and `_`".into(),
        ));
    }
    let entry = job.entry.get_ref();
    if !known.entry_points.contains(&entry.as_str()) {
        return Err(fail(
            ctx,
            job.entry.span(),
            format!("unknown entry point `{entry}`"),
            format!("{key}.entry"),
            suggestion("entry_points", entry, known.entry_points.iter().copied())
                + "; entry points are mlops.toml's [entry_points] and the MLproject's `entry_points`",
        ));
    }
    let target = job_target(&name, span.clone(), job.target.as_ref(), known, ctx)?;
    if let Some(r) = job.release.as_ref().filter(|r| *r.get_ref()) {
        release_model(&name, &target, r.span(), known, ctx)?;
    }
    let limits = limits(&key, span, &job, ctx)?;
    let approval = approval_task(&key, job.approval.as_ref(), ctx)?;
    let schedule = job.schedule.map(|s| schedule(&key, s, ctx)).transpose()?;
    let notify = job.on_failure.unwrap_or(RawNotify {
        email: Vec::new(),
        webhooks: Spanned::new(0..0, Vec::new()),
    });
    Ok(Job {
        name,
        entry: entry.clone(),
        target,
        parameters: job
            .parameters
            .iter()
            .map(|(k, v)| (k.clone(), text(v.get_ref())))
            .collect(),
        schedule,
        release: job.release.is_some_and(|r| *r.get_ref()),
        on_failure_email: notify.email,
        on_failure_webhooks: notify.webhooks.into_inner(),
        max_concurrent_runs: limits.0,
        timeout_seconds: limits.1,
        approval,
    })
}

/// The approval task's key: a task key of its own (not `train` or `release`).
fn approval_task(
    key: &str,
    raw: Option<&Spanned<String>>,
    ctx: &Ctx<'_>,
) -> Result<Option<String>> {
    let Some(raw) = raw else {
        return Ok(None);
    };
    let task = raw.get_ref();
    if !name_ok(task) || task == "train" || task == "release" {
        return Err(fail(
            ctx,
            raw.span(),
            format!("`{task}` cannot be the approval task's key"),
            format!("{key}.approval"),
            "use letters, digits, `-` and `_`, other than `train` and `release` (the job's own tasks), e.g. `Approval_Check`".into(),
        ));
    }
    Ok(Some(task.clone()))
}

/// The job's target: the one it names (a Databricks one), else `[hooks] target` when that is
/// a Databricks target, else the only Databricks target.
fn job_target(
    name: &str,
    span: std::ops::Range<usize>,
    named: Option<&Spanned<String>>,
    known: &Known<'_>,
    ctx: &Ctx<'_>,
) -> Result<String> {
    let key = format!("jobs.{name}.target");
    let databricks: Vec<&str> = known
        .targets
        .iter()
        .filter(|(_, databricks)| **databricks)
        .map(|(n, _)| n.as_str())
        .collect();
    if let Some(t) = named {
        let is_databricks = known.targets.get(t.get_ref()).ok_or_else(|| {
            fail(
                ctx,
                t.span(),
                format!("unknown target `{}`", t.get_ref()),
                key.clone(),
                suggestion(
                    "targets",
                    t.get_ref(),
                    known.targets.keys().map(String::as_str),
                ),
            )
        })?;
        if !*is_databricks {
            return Err(fail(
                ctx,
                t.span(),
                format!("target `{}` is not a Databricks target", t.get_ref()),
                key,
                "a persistent job runs in a workspace: name a target of `kind = \"databricks\"`"
                    .into(),
            ));
        }
        return Ok(t.get_ref().clone());
    }
    match (
        known.hook_target.filter(|t| databricks.contains(t)),
        &databricks[..],
    ) {
        (Some(t), _) | (None, &[t]) => Ok(t.to_string()),
        _ => Err(fail(
            ctx,
            span,
            format!("[jobs.{name}] names no target"),
            key,
            format!(
                "add `target = \"...\"`, one of the Databricks targets: {}",
                if databricks.is_empty() {
                    "(none yet: add a [targets.NAME] with kind = \"databricks\")".into()
                } else {
                    databricks.join(", ")
                }
            ),
        )),
    }
}

/// The schedule, its Quartz expression and time zone checked.
fn schedule(key: &str, s: RawSchedule, ctx: &Ctx<'_>) -> Result<Schedule> {
    check_cron(s.cron.get_ref()).map_err(|why| {
        fail(
            ctx,
            s.cron.span(),
            why,
            format!("{key}.schedule.cron"),
            "write it as the Jobs API takes it: `cron = \"0 0 2 * * ?\"` runs at 02:00 every day"
                .into(),
        )
    })?;
    let timezone = match &s.timezone {
        Some(tz) => {
            check_timezone(tz.get_ref()).map_err(|why| {
                fail(
                    ctx,
                    tz.span(),
                    why,
                    format!("{key}.schedule.timezone"),
                    timezone_help(tz.get_ref()),
                )
            })?;
            tz.get_ref().clone()
        }
        None => "UTC".into(),
    };
    Ok(Schedule {
        cron: s.cron.into_inner(),
        timezone,
    })
}

/// A release task registers into Unity Catalog: the target needs a three-part model.
fn release_model(
    name: &str,
    target: &str,
    span: std::ops::Range<usize>,
    known: &Known<'_>,
    ctx: &Ctx<'_>,
) -> Result<()> {
    let model = known.models.get(target).cloned().flatten();
    let why = match &model {
        None => Some(format!("target `{target}` names no model to release into")),
        Some(m) => super::release::check_model_name(m, true).err(),
    };
    match why {
        Some(why) => Err(fail(
            ctx,
            span,
            format!("[jobs.{name}] release = true, but {why}"),
            format!("jobs.{name}.release"),
            format!(
                "set `model = \"catalog.schema.model\"` on [targets.{target}], or `[release] model`"
            ),
        )),
        None => Ok(()),
    }
}

/// The limits the Jobs API puts on a job's settings, checked here rather than found after
/// the upload: `max_concurrent_runs` (1 to 1000), `timeout_seconds` (an int32) and at most
/// [`MAX_WEBHOOKS`] destinations on failure.
fn limits(
    key: &str,
    span: std::ops::Range<usize>,
    job: &RawJob,
    ctx: &Ctx<'_>,
) -> Result<(u32, Option<u64>)> {
    let runs = job.max_concurrent_runs.as_ref();
    let max_concurrent_runs = runs.map_or(1, |r| *r.get_ref());
    if !(1..=1000).contains(&max_concurrent_runs) {
        return Err(fail(
            ctx,
            runs.map_or(span.clone(), Spanned::span),
            format!("max_concurrent_runs = {max_concurrent_runs} is out of range"),
            format!("{key}.max_concurrent_runs"),
            "the Jobs API takes 1 to 1000".into(),
        ));
    }
    if let Some(t) = &job.timeout_seconds {
        if *t.get_ref() > MAX_TIMEOUT_SECONDS {
            return Err(fail(
                ctx,
                t.span(),
                format!(
                    "timeout_seconds = {} is more than the Jobs API takes",
                    t.get_ref()
                ),
                format!("{key}.timeout_seconds"),
                format!(
                    "the field is a 32-bit number: at most {MAX_TIMEOUT_SECONDS} (about 68 years); leave it out for no timeout"
                ),
            ));
        }
    }
    if let Some(hooks) = job.on_failure.as_ref().map(|n| &n.webhooks) {
        if hooks.get_ref().len() > MAX_WEBHOOKS {
            return Err(fail(
                ctx,
                hooks.span(),
                format!(
                    "on_failure.webhooks names {} destinations; a job takes at most {MAX_WEBHOOKS} per event",
                    hooks.get_ref().len()
                ),
                format!("{key}.on_failure.webhooks"),
                "keep three, or point one destination at a channel that fans out".into(),
            ));
        }
    }
    let timeout = job
        .timeout_seconds
        .as_ref()
        .map(|t| *t.get_ref())
        .filter(|t| *t > 0);
    Ok((max_concurrent_runs, timeout))
}

/// The "did you mean" for a time zone id: the nearest IANA name, by spelling.
fn timezone_help(tz: &str) -> String {
    let names = chrono_tz::TZ_VARIANTS.iter().map(|t| t.name());
    let near = suggestion("time zones", tz, names);
    if near.starts_with("did you mean") {
        format!("{near} (leave it out for UTC)")
    } else {
        "write an IANA time zone id such as `UTC` or `Europe/Amsterdam`, or leave it out for UTC"
            .into()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The key and message of the error `extra` makes in a project with a Databricks target.
    fn refused(extra: &str) -> (String, String) {
        let text = format!(
            "[project]\nname = \"p\"\n[entry_points.train]\ncommand = \"python t.py\"\n[targets.dev]\nkind = \"databricks\"\nartifacts = \"/Volumes/m/s/a\"\nmodel = \"m.s.p\"\n{extra}"
        );
        let err = crate::manifest::parse(std::path::Path::new("/p/mlops.toml"), &text)
            .expect_err("refused");
        let d = err.diagnostic_ref().expect("a diagnostic").clone();
        (d.key.unwrap_or_default(), d.message)
    }

    #[test]
    fn a_deployment_job_is_a_job_that_does_not_release_itself() {
        let (key, msg) =
            refused("[release]\ndeployment_job = \"deplyo\"\n[jobs.deploy]\nentry = \"train\"\n");
        assert_eq!(key, "release.deployment_job");
        assert!(msg.contains("`deplyo` is not a job of [jobs]"), "{msg}");
        let (key, msg) = refused(
            "[release]\ndeployment_job = \"deploy\"\n[jobs.deploy]\nentry = \"train\"\nrelease = true\n",
        );
        assert_eq!(key, "release.deployment_job");
        assert!(
            msg.contains("releases, so it cannot be the deployment job"),
            "{msg}"
        );
        let (key, _) = refused("[jobs.deploy]\nentry = \"train\"\napproval = \"train\"\n");
        assert_eq!(key, "jobs.deploy.approval");
    }

    #[test]
    fn quartz_crons_are_checked_as_the_jobs_api_takes_them() {
        assert!(check_cron("0 0 2 * * ?").is_ok());
        assert!(check_cron("0 30 6 ? * MON-FRI").is_ok());
        assert!(check_cron("0 0 2 * * ? 2027").is_ok());
        assert!(check_cron("0 2 * * *").unwrap_err().contains("5 fields"));
        assert!(
            check_cron("0 0 2 * * *")
                .unwrap_err()
                .contains("exactly one")
        );
        assert!(
            check_cron("0 0 25 * * ?")
                .unwrap_err()
                .contains("field 3 (hours) is 25, outside 0-23")
        );
        assert!(
            check_cron("0 61 2 * * ?")
                .unwrap_err()
                .contains("field 2 (minutes) is 61")
        );
        // Quartz's `start/step`, the usual way to write "every 15 minutes".
        assert_eq!(check_cron("0 0/15 2-4 * * ?"), Ok(()));
        assert_eq!(check_cron("0 5/10 * * * ?"), Ok(()));
        assert!(check_cron("0 0 2 ? * 2#1").is_ok());
        assert!(check_cron("0 0 2 ? * MON-FRI").is_ok());
        assert!(check_timezone("Europe/Amsterdam").is_ok());
        assert!(check_timezone("Mars/Olympus").is_err());
    }
}
