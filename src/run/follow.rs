//! The follow stage: poll the job run until it ends (about 1 s growing to 10 s between polls),
//! show each state change, the run page and the task's own output as it arrives, and on
//! Ctrl-C or a timeout cancel it and wait until it has ended.

use std::time::{Duration, Instant};

use crate::databricks::jobs::{Jobs, RunState};
use crate::error::Result;
use crate::output::{Output, Progress};
use crate::run::live_log::{self, Live};

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
    Duration::from_secs(crate::support::time::env_number(
        "MLOPS_FOLLOW_OUTAGE_SECS",
        1800,
    ))
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

pub fn poll_interval(poll: u32) -> Duration {
    let first = crate::support::time::env_number("MLOPS_POLL_FIRST_MS", 1000);
    Duration::from_millis((first * u64::from(poll)).min(10_000))
}

/// Follows run `run_id` to its end. With `live`, the task's own output is shown as it
/// arrives while the run is RUNNING (read every [`live_log::poll_interval`], between the
/// state polls), and what is left of it once the run has ended, cancelled or not.
pub fn follow(
    jobs: &Jobs<'_>,
    run_id: u64,
    timeout: Option<Duration>,
    output: &Output,
    mut live: Option<&mut Live<'_>>,
) -> Result<Ended> {
    let deadline = timeout.map(|t| Instant::now() + t);
    let group = output.group(&format!("Follow run {run_id}: its states and its output"));
    let spinner = output.spinner("Run", &format!("{run_id} submitted"));
    let mut shown: Option<(String, Option<String>)> = None;
    let mut outage = Outage::default();
    let mut poll = 0;
    let mut next_poll = Instant::now();
    let result = loop {
        if Instant::now() >= next_poll {
            poll += 1;
            next_poll = Instant::now() + poll_interval(poll);
            match jobs.get(run_id) {
                Ok(state) => {
                    if outage.ended() {
                        output.status(
                            "Reached",
                            format!("the workspace again; following run {run_id}"),
                        );
                    }
                    let now = (state.life_cycle.clone(), state.result.clone());
                    if shown.as_ref() != Some(&now) {
                        show_state(&state, run_id, &spinner, output);
                        shown = Some(now);
                    }
                    if state.is_terminal() {
                        break Ended::Done(state);
                    }
                }
                // Ctrl-C refused the poll: the run is cancelled all the same.
                Err(e) if e.kind == crate::databricks::error::Kind::Cancelled => {
                    break Ended::Interrupted(cancel_and_wait(jobs, run_id, output)?);
                }
                Err(e) if passing(&e) => {
                    if let Some(lost) = outage.failed(&e, run_id, output) {
                        break lost;
                    }
                }
                Err(e) => return Err(e.into()),
            }
        }
        let running = shown.as_ref().is_some_and(|(life, _)| life == "RUNNING");
        let mut wake = next_poll;
        if let (true, Some(live)) = (running, live.as_deref_mut()) {
            live.show_new(output);
            wake = wake.min(Instant::now() + live_log::poll_interval());
        }
        if let Some(timed_out) = pause(wake.saturating_duration_since(Instant::now()), deadline) {
            let state = cancel_and_wait(jobs, run_id, output)?;
            break if timed_out {
                Ended::TimedOut(state)
            } else {
                Ended::Interrupted(state)
            };
        }
    };
    if let Some(live) = live {
        end_live_log(jobs, &result, live, output);
    }
    spinner.finish();
    drop(group);
    Ok(result)
}

/// The task's last lines once its run has ended: the live log's last chunks, and when the
/// launcher could not end the log (a cancelled or killed task), the rest from the task's own
/// log.
fn end_live_log(jobs: &Jobs<'_>, ended: &Ended, live: &mut Live<'_>, output: &Output) {
    let state = match ended {
        Ended::Done(s) | Ended::TimedOut(s) | Ended::Interrupted(s) => s,
        Ended::Lost { .. } => return,
    };
    live.drain(output);
    if live.reader.done() || !live.reader.started {
        return;
    }
    let logs = state
        .task_run_id
        .and_then(|task| jobs.output(task).ok())
        .and_then(|out| out.logs);
    if let Some(logs) = logs {
        live.catch_up(&logs, output);
    }
}

/// Shows a run's new state.
fn show_state(state: &RunState, run_id: u64, spinner: &Progress, output: &Output) {
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
}

/// A workspace that stopped answering while a run is followed: a two-hour job outlasts a
/// passing outage, so polling goes on (and says so) for up to [`outage_limit`].
#[derive(Default)]
struct Outage {
    since: Option<Instant>,
}

impl Outage {
    /// A poll was answered: whether an outage just ended.
    fn ended(&mut self) -> bool {
        self.since.take().is_some()
    }

    /// A poll failed: [`Ended::Lost`] once the outage has lasted too long.
    fn failed(
        &mut self,
        e: &crate::databricks::ApiError,
        run_id: u64,
        output: &Output,
    ) -> Option<Ended> {
        let since = *self.since.get_or_insert_with(Instant::now);
        let limit = outage_limit();
        if since.elapsed() >= limit {
            return Some(Ended::Lost {
                error: e.to_string(),
                waited: since.elapsed(),
            });
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
}

/// Sleeps until the next poll in small steps, so Ctrl-C and the deadline are noticed
/// promptly: `Some(true)` when the deadline passed, `Some(false)` on Ctrl-C.
pub fn pause(interval: Duration, deadline: Option<Instant>) -> Option<bool> {
    let until = Instant::now() + interval;
    while Instant::now() < until {
        if crate::support::interrupt::requested() {
            return Some(false);
        }
        if deadline.is_some_and(|d| Instant::now() >= d) {
            return Some(true);
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    None
}

/// Cancels a run and waits (up to two minutes) until it has ended; also after Ctrl-C.
pub fn cancel_and_wait(jobs: &Jobs<'_>, run_id: u64, output: &Output) -> Result<RunState> {
    jobs.client.clean_up_after_interrupt();
    output.status("Cancelling", format!("run {run_id}"));
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn polls_grow_to_ten_seconds() {
        assert_eq!(poll_interval(1), Duration::from_secs(1));
        assert_eq!(poll_interval(3), Duration::from_secs(3));
        assert_eq!(poll_interval(40), Duration::from_secs(10));
    }
}
