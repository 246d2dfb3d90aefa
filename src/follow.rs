//! The follow stage: poll the job run until it ends (about 1 s growing to 10 s between polls),
//! show each state change and the run page, and on Ctrl-C or a timeout cancel it and wait
//! until it has ended.

use std::time::{Duration, Instant};

use crate::databricks::jobs::{Jobs, RunState};
use crate::error::Result;
use crate::output::Output;

/// How following ended.
#[derive(Clone, Debug)]
pub enum Ended {
    /// The run ended by itself (successfully or not).
    Done(RunState),
    /// `--timeout` passed; the run was cancelled.
    TimedOut(RunState),
    /// Ctrl-C; the run was cancelled.
    Interrupted(RunState),
    /// The workspace did not answer for longer than [`outage_limit`]: the run was left as it
    /// was (probably still running); `error` is the last failure.
    Lost { error: String, waited: Duration },
}

/// How long following outlasts a workspace that does not answer (each poll already retries
/// for the client's budget): 30 minutes, or `MLOPS_FOLLOW_OUTAGE_SECS`.
pub fn outage_limit() -> Duration {
    Duration::from_secs(
        std::env::var("MLOPS_FOLLOW_OUTAGE_SECS")
            .ok()
            .and_then(|v| v.parse().ok())
            .unwrap_or(1800),
    )
}

/// Whether a failed poll may be a passing outage (the network, a gateway, a busy service)
/// rather than an answer that will not change (a run that does not exist, refused
/// credentials).
fn passing(e: &crate::databricks::ApiError) -> bool {
    use crate::databricks::error::Kind;
    match e.kind {
        Kind::Transport { .. } | Kind::Protocol => true,
        Kind::Http => e.status.is_none_or(|s| s >= 500 || s == 429),
        _ => false,
    }
}

fn poll_interval(poll: u32) -> Duration {
    let first = std::env::var("MLOPS_POLL_FIRST_MS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(1000u64);
    Duration::from_millis((first * u64::from(poll)).min(10_000))
}

/// Follows run `run_id` to its end.
pub fn follow(
    jobs: &Jobs<'_>,
    run_id: u64,
    timeout: Option<Duration>,
    output: &Output,
) -> Result<Ended> {
    let started = Instant::now();
    let deadline = timeout.map(|t| started + t);
    let group = output.group(&format!("Follow run {run_id}"));
    let spinner = output.spinner("Run", &format!("{run_id} submitted"));
    let mut last: Option<(String, Option<String>)> = None;
    let mut poll = 0;
    let mut failing_since: Option<Instant> = None;
    let result = loop {
        poll += 1;
        let state = match jobs.get(run_id) {
            Ok(state) => {
                if failing_since.take().is_some() {
                    output.status(
                        "Reached",
                        format!("the workspace again; following run {run_id}"),
                    );
                }
                Some(state)
            }
            // Ctrl-C refused the poll: the run is cancelled all the same.
            Err(e) if e.kind == crate::databricks::error::Kind::Cancelled => {
                output.status("Cancelling", format!("run {run_id}"));
                break Ended::Interrupted(cancel_and_wait(jobs, run_id, output)?);
            }
            // A two-hour job outlasts a passing outage: keep polling, and say so.
            Err(e) if passing(&e) => {
                let since = *failing_since.get_or_insert_with(Instant::now);
                let limit = outage_limit();
                if since.elapsed() >= limit {
                    break Ended::Lost {
                        error: e.to_string(),
                        waited: since.elapsed(),
                    };
                }
                output.status(
                    "Waiting",
                    format!(
                        "for the workspace ({e}); run {run_id} goes on, and is followed for up to {} more",
                        humantime::format_duration(Duration::from_secs(
                            (limit - since.elapsed()).as_secs()
                        ))
                    ),
                );
                None
            }
            Err(e) => return Err(e.into()),
        };
        if let Some(state) = state {
            let now = (state.life_cycle.clone(), state.result.clone());
            if last.as_ref() != Some(&now) {
                let text = match &state.result {
                    Some(r) => format!("{} {r}", state.life_cycle),
                    None => state.life_cycle.clone(),
                };
                let message = if state.message.is_empty() {
                    String::new()
                } else {
                    format!(": {}", state.message)
                };
                output.status("Run", format!("{run_id} {text}{message}"));
                spinner.message(&format!("{run_id} {text}"));
                last = Some(now);
            }
            if state.is_terminal() {
                break Ended::Done(state);
            }
        }
        // Sleep in small steps so Ctrl-C and the deadline are noticed promptly.
        let until = Instant::now() + poll_interval(poll);
        let mut stop = None;
        while Instant::now() < until {
            if crate::interrupt::requested() {
                stop = Some(false);
                break;
            }
            if deadline.is_some_and(|d| Instant::now() >= d) {
                stop = Some(true);
                break;
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        match stop {
            Some(timed_out) => {
                output.status("Cancelling", format!("run {run_id}"));
                let state = cancel_and_wait(jobs, run_id, output)?;
                break if timed_out {
                    Ended::TimedOut(state)
                } else {
                    Ended::Interrupted(state)
                };
            }
            None => continue,
        }
    };
    spinner.finish();
    drop(group);
    Ok(result)
}

/// Cancels a run and waits (up to two minutes) until it has ended; also after Ctrl-C.
pub fn cancel_and_wait(jobs: &Jobs<'_>, run_id: u64, output: &Output) -> Result<RunState> {
    jobs.client.clean_up_after_interrupt();
    jobs.cancel(run_id)?;
    let started = Instant::now();
    loop {
        let state = jobs.get(run_id)?;
        if state.is_terminal() || started.elapsed() > Duration::from_secs(120) {
            output.status("Run", format!("{run_id} {}", state.outcome()));
            return Ok(state);
        }
        std::thread::sleep(Duration::from_millis(500));
    }
}

/// The longest `--timeout`: the Jobs API's `timeout_seconds` is a 32-bit integer.
pub const MAX_TIMEOUT_SECS: u64 = i32::MAX as u64;

/// A duration written as `90s`, `30m`, `2h`, `1h30m`, `1d` (humantime's forms), or plain
/// seconds; at most [`MAX_TIMEOUT_SECS`].
pub fn parse_duration(text: &str) -> std::result::Result<Duration, String> {
    let text = text.trim();
    let parsed = match text.parse::<u64>() {
        Ok(secs) => Ok(Duration::from_secs(secs)),
        Err(_) => humantime::parse_duration(text),
    };
    let too_long = || {
        format!(
            "`{text}` is longer than the longest timeout a Databricks job takes ({MAX_TIMEOUT_SECS} seconds, about 68 years)"
        )
    };
    match parsed {
        Ok(d) if d.as_secs() > MAX_TIMEOUT_SECS => Err(too_long()),
        Ok(d) if d.is_zero() => Err(format!(
            "`{text}` is no time at all: give a duration such as 90s, 30m or 1h30m"
        )),
        Ok(d) => Ok(d),
        Err(humantime::DurationError::NumberOverflow) => Err(too_long()),
        Err(_) if text.parse::<f64>().is_ok() || text.starts_with('-') => Err(format!(
            "`{text}` is not a duration such as 90s, 30m or 1h30m"
        )),
        Err(e) => Err(format!(
            "`{text}` is not a duration such as 90s, 30m or 1h30m ({e})"
        )),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations() {
        assert_eq!(parse_duration("90").unwrap(), Duration::from_secs(90));
        assert_eq!(parse_duration("90s").unwrap(), Duration::from_secs(90));
        assert_eq!(parse_duration("1h30m").unwrap(), Duration::from_secs(5400));
        assert_eq!(parse_duration("2h").unwrap(), Duration::from_secs(7200));
        assert!(parse_duration("soon").is_err());
        assert!(parse_duration("5x").is_err());
        assert!(parse_duration("10m5").is_err());
        assert!(parse_duration("0s").is_err());
    }

    #[test]
    fn durations_past_the_jobs_limit_are_refused_without_overflowing() {
        for text in [
            "300000000000000d",
            "18446744073709551615",
            "69years",
            "2147483648s",
        ] {
            let err = parse_duration(text).unwrap_err();
            assert!(err.contains("2147483647 seconds"), "{text}: {err}");
        }
        assert_eq!(
            parse_duration("2147483647").unwrap(),
            Duration::from_secs(MAX_TIMEOUT_SECS)
        );
    }

    #[test]
    fn polls_grow_to_ten_seconds() {
        assert_eq!(poll_interval(1), Duration::from_secs(1));
        assert_eq!(poll_interval(3), Duration::from_secs(3));
        assert_eq!(poll_interval(40), Duration::from_secs(10));
    }
}
