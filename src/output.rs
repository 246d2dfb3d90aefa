//! Everything the tool shows goes through here, so `--quiet`, `--verbose`, `--json` and colour
//! behave the same in every command.
//!
//! Status lines, warnings and errors go to stderr (cargo's `   Compiling x` style); results go
//! to stdout, as text or, with `--json`, as one JSON document.

use std::io::{IsTerminal, Write};

use anstyle::{AnsiColor, Style};
use serde::Serialize;

use crate::error::Error;

#[derive(Clone, Copy, Debug, PartialEq, Eq, Default, clap::ValueEnum)]
pub enum ColorChoice {
    /// Colour when stderr is a terminal and `NO_COLOR` is not set.
    #[default]
    Auto,
    Always,
    Never,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub enum Verbosity {
    Quiet,
    Normal,
    Verbose,
}

/// The output channel of one command invocation.
#[derive(Clone, Debug)]
pub struct Output {
    verbosity: Verbosity,
    color: bool,
    json: bool,
    /// Progress bars, when stderr is a terminal outside CI.
    bars: Option<indicatif::MultiProgress>,
}

const GREEN: Style = AnsiColor::Green.on_default().bold();
const CYAN: Style = AnsiColor::Cyan.on_default().bold();
const YELLOW: Style = AnsiColor::Yellow.on_default().bold();
const RED: Style = AnsiColor::Red.on_default().bold();
const BOLD: Style = Style::new().bold();

impl Output {
    pub fn new(verbosity: Verbosity, color: ColorChoice) -> Self {
        let interactive = std::io::stderr().is_terminal()
            && std::env::var_os("CI").is_none()
            && verbosity == Verbosity::Normal;
        Output {
            verbosity,
            color: resolve_color(color),
            json: false,
            bars: interactive.then(indicatif::MultiProgress::new),
        }
    }

    /// Machine output on stdout: status lines still go to stderr, results become JSON.
    pub fn with_json(mut self, json: bool) -> Self {
        self.json = json;
        self
    }

    pub fn json(&self) -> bool {
        self.json
    }

    pub fn verbosity(&self) -> Verbosity {
        self.verbosity
    }

    fn paint(&self, style: Style, text: &str) -> String {
        if self.color {
            format!("{}{text}{}", style.render(), style.render_reset())
        } else {
            text.to_string()
        }
    }

    fn err_line(&self, line: &str) {
        if let Some(bars) = &self.bars {
            // Printed above the bars, so neither garbles the other.
            let _ = bars.println(line);
            return;
        }
        let mut stderr = std::io::stderr().lock();
        // A closed stderr is not worth failing the command for.
        let _ = writeln!(stderr, "{line}");
    }

    /// A byte progress bar on a terminal; plain start and finish lines otherwise.
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
        Progress { bar }
    }

    /// A progress line: `    Building churn-features`, verb right-aligned in green.
    pub fn status(&self, verb: &str, message: impl std::fmt::Display) {
        if self.verbosity >= Verbosity::Normal {
            self.err_line(&format!(
                "{} {message}",
                self.paint(GREEN, &format!("{verb:>12}"))
            ));
        }
    }

    /// Detail shown only with `--verbose`.
    pub fn verbose(&self, verb: &str, message: impl std::fmt::Display) {
        if self.verbosity >= Verbosity::Verbose {
            self.err_line(&format!(
                "{} {message}",
                self.paint(CYAN, &format!("{verb:>12}"))
            ));
        }
    }

    /// A block of text under a heading (a failed run's error, trace, log tail); shown even
    /// with `--quiet`, since it says why the command failed.
    pub fn block(&self, heading: &str, text: &str) {
        let mut out = self.paint(BOLD, heading);
        for line in text.lines() {
            out.push_str("\n  | ");
            out.push_str(line);
        }
        self.err_line(&out);
    }

    pub fn warn(&self, message: impl std::fmt::Display) {
        if self.verbosity >= Verbosity::Normal {
            self.err_line(&format!("{}: {message}", self.paint(YELLOW, "warning")));
        }
    }

    /// An error with its location, causes and help; shown even with `--quiet`.
    pub fn error(&self, err: &Error) {
        let mut text = format!(
            "{}: {}",
            self.paint(RED, "error"),
            self.paint(BOLD, err.message())
        );
        if let Some(snippet) = err.diagnostic_ref().and_then(|d| d.snippet()) {
            text.push('\n');
            text.push_str(&snippet);
        }
        for cause in err.causes() {
            text.push_str(&format!("\n  caused by: {cause}"));
        }
        if let Some(help) = err.help() {
            text.push_str(&format!("\n{}: {help}", self.paint(CYAN, "help")));
        }
        self.err_line(&text);
    }

    /// A line of a child process's output, passed through to stderr as it comes (stdout stays
    /// for the command's own result).
    pub fn passthrough(&self, line: &str) {
        if self.verbosity >= Verbosity::Normal {
            self.err_line(line);
        }
    }

    /// A line on stderr exactly as given (CI logging commands).
    pub fn raw_err(&self, line: &str) {
        self.err_line(line);
    }

    /// A line of the command's result on stdout (text mode).
    pub fn result(&self, line: impl std::fmt::Display) {
        let mut stdout = std::io::stdout().lock();
        let _ = writeln!(stdout, "{line}");
    }

    /// The command's result as one pretty-printed JSON document on stdout.
    pub fn result_json(&self, value: &impl Serialize) {
        let text = serde_json::to_string_pretty(value).expect("result types serialize");
        self.result(text);
    }
}

impl Output {
    /// A spinner with the elapsed time and a message, on a terminal; nothing otherwise (the
    /// caller logs state changes as status lines).
    pub fn spinner(&self, message: &str) -> Progress {
        let bar = self.bars.as_ref().map(|bars| {
            let bar = bars.add(indicatif::ProgressBar::new_spinner());
            bar.set_style(
                indicatif::ProgressStyle::with_template("{spinner:.green} {elapsed:>4} {msg}")
                    .expect("valid template"),
            );
            bar.enable_steady_tick(std::time::Duration::from_millis(120));
            bar.set_message(message.to_string());
            bar
        });
        Progress { bar }
    }
}

/// A progress handle; see [`Output::progress`].
pub struct Progress {
    bar: Option<indicatif::ProgressBar>,
}

impl Progress {
    pub fn set(&self, done: u64) {
        if let Some(bar) = &self.bar {
            bar.set_position(done);
        }
    }

    pub fn finish(&self) {
        if let Some(bar) = &self.bar {
            bar.finish_and_clear();
        }
    }

    pub fn message(&self, message: &str) {
        if let Some(bar) = &self.bar {
            bar.set_message(message.to_string());
        }
    }
}

/// Sizes as people read them (`812 B`, `1.90 KiB`, `30.00 MiB`): indicatif's `HumanBytes`.
pub fn human_bytes(bytes: u64) -> String {
    indicatif::HumanBytes(bytes).to_string()
}

fn resolve_color(choice: ColorChoice) -> bool {
    match choice {
        ColorChoice::Always => true,
        ColorChoice::Never => false,
        ColorChoice::Auto => {
            let env = |k: &str| std::env::var_os(k).is_some_and(|v| !v.is_empty());
            if env("NO_COLOR") {
                false
            } else if env("CLICOLOR_FORCE") {
                true
            } else {
                std::io::stderr().is_terminal()
                    && std::env::var("TERM").map_or(true, |t| t != "dumb")
            }
        }
    }
}
