//! Progress of long work: a bar or spinner on a terminal, and elsewhere (CI logs, a pipe) a
//! plain line at a steady beat, so a log never goes quiet long enough for a CI system's
//! no-output timeout (CircleCI's default is ten minutes) or for a reader to think it hung.

use std::sync::mpsc;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use super::channel::{GREEN, Output, Verbosity, human_bytes};

/// How often the plain progress line is printed: 30 s, or `MLOPS_PROGRESS_INTERVAL` (a
/// humantime duration such as `5s` or `200ms`).
fn interval() -> Duration {
    std::env::var("MLOPS_PROGRESS_INTERVAL")
        .ok()
        .and_then(|v| humantime::parse_duration(v.trim()).ok())
        .filter(|d| !d.is_zero())
        .unwrap_or(Duration::from_secs(30))
}

/// What the beat reports: the bytes done (for byte progress) and the current message.
#[derive(Default)]
struct Now {
    done: u64,
    message: String,
}

/// The thread printing the plain line; stopped when the progress ends.
struct Beat {
    now: Arc<Mutex<Now>>,
    stop: Option<mpsc::Sender<()>>,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl Beat {
    fn start(
        output: &Output,
        verb: &str,
        message: &str,
        line: fn(&Now, Duration) -> String,
    ) -> Option<Beat> {
        if output.bars.is_some() || output.verbosity < Verbosity::Normal {
            return None;
        }
        let now = Arc::new(Mutex::new(Now {
            done: 0,
            message: message.to_string(),
        }));
        let (stop, stopped) = mpsc::channel::<()>();
        let (output, verb, shared) = (output.clone(), verb.to_string(), now.clone());
        let every = interval();
        let started = Instant::now();
        let thread = std::thread::spawn(move || {
            while let Err(mpsc::RecvTimeoutError::Timeout) = stopped.recv_timeout(every) {
                let text = line(
                    &shared.lock().unwrap_or_else(|p| p.into_inner()),
                    started.elapsed(),
                );
                output.err_line(&format!(
                    "{} {text}",
                    output.paint(GREEN, &format!("{verb:>12}"))
                ));
            }
        });
        Some(Beat {
            now,
            stop: Some(stop),
            thread: Some(thread),
        })
    }

    fn update(&self, f: impl FnOnce(&mut Now)) {
        f(&mut self.now.lock().unwrap_or_else(|p| p.into_inner()));
    }
}

impl Drop for Beat {
    fn drop(&mut self) {
        drop(self.stop.take());
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

/// Whole seconds, as people read them: `45s`, `2m 5s`.
fn elapsed(d: Duration) -> String {
    humantime::format_duration(Duration::from_secs(d.as_secs())).to_string()
}

/// A progress handle; see [`Output::progress`] and [`Output::spinner`]. It ends (the bar is
/// cleared, the beat stops) on [`Progress::finish`] or when dropped.
pub struct Progress {
    bar: Option<indicatif::ProgressBar>,
    beat: Mutex<Option<Beat>>,
}

impl Output {
    /// Byte progress: a bar on a terminal; elsewhere a start line, then the bytes sent so
    /// far at every beat.
    pub fn progress(&self, verb: &str, label: &str, total: u64) -> Progress {
        let bar = self.bars.as_ref().map(|bars| {
            let bar = bars.add(indicatif::ProgressBar::new(total));
            bar.set_style(
                indicatif::ProgressStyle::with_template(
                    "{prefix:>12.green.bold} {msg} [{bar:30}] {bytes}/{total_bytes} {bytes_per_sec}",
                )
                .expect("valid template")
                .progress_chars("=> "),
            );
            bar.set_prefix(verb.to_string());
            bar.set_message(label.to_string());
            bar
        });
        if bar.is_none() {
            self.status(verb, format!("{label} ({})", human_bytes(total)));
        }
        let label_total = format!("{label}\0{}", human_bytes(total));
        let beat = Beat::start(self, verb, &label_total, |now, d| {
            let (label, total) = now.message.split_once('\0').unwrap_or((&now.message, ""));
            format!(
                "{label}: {} of {total} sent [{}]",
                human_bytes(now.done),
                elapsed(d)
            )
        });
        Progress {
            bar,
            beat: Mutex::new(beat),
        }
    }

    /// Work of unknown length: a spinner with the elapsed time on a terminal; elsewhere the
    /// message with the elapsed time at every beat. The caller prints its own start line.
    pub fn spinner(&self, verb: &str, message: &str) -> Progress {
        let bar = self.bars.as_ref().map(|bars| {
            let bar = bars.add(indicatif::ProgressBar::new_spinner());
            bar.set_style(
                indicatif::ProgressStyle::with_template(
                    "{prefix:>12.green.bold} {msg} {spinner:.green} {elapsed}",
                )
                .expect("valid template"),
            );
            bar.set_prefix(verb.to_string());
            bar.enable_steady_tick(Duration::from_millis(120));
            bar.set_message(message.to_string());
            bar
        });
        let beat = Beat::start(self, verb, message, |now, d| {
            format!("{} [{}]", now.message, elapsed(d))
        });
        Progress {
            bar,
            beat: Mutex::new(beat),
        }
    }
}

impl Progress {
    pub fn set(&self, done: u64) {
        if let Some(bar) = &self.bar {
            bar.set_position(done);
        }
        if let Some(beat) = &*self.beat.lock().unwrap_or_else(|p| p.into_inner()) {
            beat.update(|now| now.done = done);
        }
    }

    pub fn message(&self, message: &str) {
        if let Some(bar) = &self.bar {
            bar.set_message(message.to_string());
        }
        if let Some(beat) = &*self.beat.lock().unwrap_or_else(|p| p.into_inner()) {
            beat.update(|now| now.message = message.to_string());
        }
    }

    pub fn finish(&self) {
        if let Some(bar) = &self.bar {
            bar.finish_and_clear();
        }
        drop(self.beat.lock().unwrap_or_else(|p| p.into_inner()).take());
    }
}

impl Drop for Progress {
    fn drop(&mut self) {
        self.finish();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn elapsed_reads_as_people_say_it() {
        assert_eq!(elapsed(Duration::from_millis(45_900)), "45s");
        assert_eq!(elapsed(Duration::from_secs(125)), "2m 5s");
    }
}
