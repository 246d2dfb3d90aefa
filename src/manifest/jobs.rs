//! `[jobs.<name>]`: persistent Databricks jobs that run an entry point on a schedule (or on
//! demand), optionally followed by a release of the run they made. The schedule is checked
//! as the Jobs API takes it: a Quartz cron expression (seconds first, `?` in the day of month
//! or the day of week) and a time zone id.

use std::collections::BTreeMap;

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use toml::Spanned;

use super::ctx::Ctx;
use crate::diagnostic::suggestion;
use crate::error::{Error, Result};

/// `[jobs.<name>]` as written.
#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct RawJob {
    /// The entry point each run of the job runs.
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
    pub max_concurrent_runs: Option<u32>,
    /// A run still going after this many seconds is stopped (default: none).
    pub timeout_seconds: Option<u64>,
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
    /// Ids of the workspace's notification destinations (webhooks).
    #[serde(default)]
    pub webhooks: Vec<String>,
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
    quartz(cron)
        .map(|_| ())
        .map_err(|e| format!("`{cron}` is not a Quartz cron expression: {e}"))
}

/// `cron` parsed as Quartz reads it: seconds first, an optional year, days of the week
/// numbered 1 (Sunday) to 7.
pub fn quartz(cron: &str) -> std::result::Result<croner::Cron, croner::errors::CronError> {
    croner::parser::CronParser::builder()
        .seconds(croner::parser::Seconds::Required)
        .year(croner::parser::Year::Optional)
        .alternative_weekdays(true)
        .build()
        .parse(cron)
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

/// `targets`: each target's name, and whether it is a Databricks one; `models`: the model
/// each target releases into (its own, else `[release] model`).
pub(super) fn resolve(
    raw: BTreeMap<String, Spanned<RawJob>>,
    entry_points: &[&str],
    targets: &BTreeMap<String, bool>,
    models: &BTreeMap<String, Option<String>>,
    hook_target: Option<&str>,
    ctx: &Ctx<'_>,
) -> Result<BTreeMap<String, Job>> {
    let databricks: Vec<&str> = targets
        .iter()
        .filter(|(_, databricks)| **databricks)
        .map(|(n, _)| n.as_str())
        .collect();
    let mut jobs = BTreeMap::new();
    for (name, spanned) in raw {
        let span = spanned.span();
        let job = spanned.into_inner();
        let key = format!("jobs.{name}");
        let fail = |span, msg: String, k: String, help: String| {
            Error::diagnostic(ctx.at(span, msg).key(k).help(help))
        };
        if !name_ok(&name) {
            return Err(fail(
                span,
                format!("invalid job name `{name}`"),
                key,
                "use letters, digits, `-` and `_`".into(),
            ));
        }
        let entry = job.entry.get_ref();
        if !entry_points.contains(&entry.as_str()) {
            return Err(fail(
                job.entry.span(),
                format!("unknown entry point `{entry}`"),
                format!("{key}.entry"),
                suggestion("entry_points", entry, entry_points.iter().copied()),
            ));
        }
        let target = match &job.target {
            Some(t) => {
                let is_databricks = targets.get(t.get_ref()).ok_or_else(|| {
                    fail(
                        t.span(),
                        format!("unknown target `{}`", t.get_ref()),
                        format!("{key}.target"),
                        suggestion("targets", t.get_ref(), targets.keys().map(String::as_str)),
                    )
                })?;
                if !*is_databricks {
                    return Err(fail(
                        t.span(),
                        format!("target `{}` is not a Databricks target", t.get_ref()),
                        format!("{key}.target"),
                        "a persistent job runs in a workspace: name a target of `kind = \"databricks\"`".into(),
                    ));
                }
                t.get_ref().clone()
            }
            None => match (
                hook_target.filter(|t| databricks.contains(t)),
                &databricks[..],
            ) {
                (Some(t), _) | (None, &[t]) => t.to_string(),
                _ => {
                    return Err(fail(
                        span,
                        format!("[jobs.{name}] names no target"),
                        format!("{key}.target"),
                        format!(
                            "add `target = \"...\"`, one of the Databricks targets: {}",
                            if databricks.is_empty() {
                                "(none yet: add a [targets.NAME] with kind = \"databricks\")".into()
                            } else {
                                databricks.join(", ")
                            }
                        ),
                    ));
                }
            },
        };
        let schedule = match job.schedule {
            Some(s) => {
                check_cron(s.cron.get_ref()).map_err(|why| {
                    fail(
                        s.cron.span(),
                        why,
                        format!("{key}.schedule.cron"),
                        "write it as the Jobs API takes it: `cron = \"0 0 2 * * ?\"` runs at 02:00 every day".into(),
                    )
                })?;
                let timezone = match &s.timezone {
                    Some(tz) => {
                        check_timezone(tz.get_ref()).map_err(|why| {
                            fail(
                                tz.span(),
                                why,
                                format!("{key}.schedule.timezone"),
                                "leave it out for UTC".into(),
                            )
                        })?;
                        tz.get_ref().clone()
                    }
                    None => "UTC".into(),
                };
                Some(Schedule {
                    cron: s.cron.into_inner(),
                    timezone,
                })
            }
            None => None,
        };
        // A release task registers into Unity Catalog: the target needs a three-part model.
        if let Some(r) = job.release.as_ref().filter(|r| *r.get_ref()) {
            let model = models.get(&target).cloned().flatten();
            let why = match &model {
                None => Some(format!("target `{target}` names no model to release into")),
                Some(m) => super::release::check_model_name(m, true).err(),
            };
            if let Some(why) = why {
                return Err(fail(
                    r.span(),
                    format!("[jobs.{name}] release = true, but {why}"),
                    format!("{key}.release"),
                    format!(
                        "set `model = \"catalog.schema.model\"` on [targets.{target}], or `[release] model`"
                    ),
                ));
            }
        }
        let max_concurrent_runs = job.max_concurrent_runs.unwrap_or(1);
        if max_concurrent_runs == 0 || max_concurrent_runs > 1000 {
            return Err(fail(
                span,
                format!(
                    "[jobs.{name}] max_concurrent_runs = {max_concurrent_runs} is out of range"
                ),
                format!("{key}.max_concurrent_runs"),
                "the Jobs API takes 1 to 1000".into(),
            ));
        }
        let notify = job.on_failure.unwrap_or(RawNotify {
            email: Vec::new(),
            webhooks: Vec::new(),
        });
        jobs.insert(
            name.clone(),
            Job {
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
                on_failure_webhooks: notify.webhooks,
                max_concurrent_runs,
                timeout_seconds: job.timeout_seconds.filter(|t| *t > 0),
            },
        );
    }
    Ok(jobs)
}

#[cfg(test)]
mod tests {
    use super::*;

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
                .contains("not a Quartz")
        );
        assert!(check_timezone("Europe/Amsterdam").is_ok());
        assert!(check_timezone("Mars/Olympus").is_err());
    }
}
