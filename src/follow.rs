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
    let spinner = output.spinner(&format!("run {run_id}"));
    let mut last: Option<(String, Option<String>)> = None;
    let mut poll = 0;
    let result = loop {
        poll += 1;
        let state = jobs.get(run_id)?;
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
            spinner.message(&format!("run {run_id} {text}"));
            last = Some(now);
        }
        if state.is_terminal() {
            break Ended::Done(state);
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

/// A duration written as `90s`, `30m`, `2h`, `1h30m`, or plain seconds.
pub fn parse_duration(text: &str) -> std::result::Result<Duration, String> {
    let text = text.trim();
    if let Ok(secs) = text.parse::<u64>() {
        return Ok(Duration::from_secs(secs));
    }
    let mut total = 0u64;
    let mut number = String::new();
    for c in text.chars() {
        if c.is_ascii_digit() {
            number.push(c);
            continue;
        }
        let n: u64 = number
            .parse()
            .map_err(|_| format!("`{text}` is not a duration such as 90s, 30m or 1h30m"))?;
        number.clear();
        total += n * match c {
            's' => 1,
            'm' => 60,
            'h' => 3600,
            'd' => 86_400,
            _ => return Err(format!("`{text}`: unknown unit `{c}` (use s, m, h or d)")),
        };
    }
    if !number.is_empty() || total == 0 {
        return Err(format!(
            "`{text}` is not a duration such as 90s, 30m or 1h30m"
        ));
    }
    Ok(Duration::from_secs(total))
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
    }

    #[test]
    fn polls_grow_to_ten_seconds() {
        assert_eq!(poll_interval(1), Duration::from_secs(1));
        assert_eq!(poll_interval(3), Duration::from_secs(3));
        assert_eq!(poll_interval(40), Duration::from_secs(10));
    }
}
