//! The output channel of one invocation: status lines, warnings and errors on stderr, results
//! on stdout, and the CI logging commands that go with them.

use std::io::{IsTerminal, Write};

use anstyle::{AnsiColor, Style};
use serde::Serialize;

use crate::error::Error;

use super::ci;

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
    /// `-vv`: also every HTTP request.
    Trace,
}

/// The output channel of one command invocation.
#[derive(Clone, Debug)]
pub struct Output {
    pub(super) verbosity: Verbosity,
    color: bool,
    pub(super) json: bool,
    /// Whether this invocation prints a `--json` document on stdout, shared by every clone:
    /// the error at the end is printed through the first one.
    stdout_is_json: std::sync::Arc<std::sync::atomic::AtomicBool>,
    /// Progress bars, when stderr is a terminal outside CI.
    pub(super) bars: Option<indicatif::MultiProgress>,
    /// The CI system whose logging commands we write.
    pub(super) ci: Option<ci::System>,
    pub(super) in_group: std::sync::Arc<std::sync::atomic::AtomicBool>,
    /// How many warnings were given, shared by every clone: a command that says "no
    /// problems" must not say it right after a warning.
    warnings: std::sync::Arc<std::sync::atomic::AtomicUsize>,
}

pub(super) const GREEN: Style = AnsiColor::Green.on_default().bold();
const CYAN: Style = AnsiColor::Cyan.on_default().bold();
const YELLOW: Style = AnsiColor::Yellow.on_default().bold();
const RED: Style = AnsiColor::Red.on_default().bold();
const BOLD: Style = Style::new().bold();
const DIM: Style = Style::new().dimmed();

impl Output {
    pub fn new(verbosity: Verbosity, color: ColorChoice) -> Self {
        let interactive = std::io::stderr().is_terminal()
            && std::env::var_os("CI").is_none()
            && verbosity == Verbosity::Normal;
        Output {
            verbosity,
            color: resolve_color(color),
            json: false,
            stdout_is_json: Default::default(),
            bars: interactive.then(indicatif::MultiProgress::new),
            ci: ci::System::detect(&|k| std::env::var(k).ok()),
            in_group: std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false)),
            warnings: Default::default(),
        }
    }

    /// Machine output on stdout: status lines still go to stderr, results become JSON.
    pub fn with_json(mut self, json: bool) -> Self {
        self.json = json;
        if json {
            self.stdout_is_json
                .store(true, std::sync::atomic::Ordering::SeqCst);
        }
        self
    }

    pub fn json(&self) -> bool {
        self.json
    }

    pub fn verbosity(&self) -> Verbosity {
        self.verbosity
    }

    pub(super) fn paint(&self, style: Style, text: &str) -> String {
        if self.color {
            format!("{}{text}{}", style.render(), style.render_reset())
        } else {
            text.to_string()
        }
    }

    pub(super) fn err_line(&self, line: &str) {
        if let Some(bars) = &self.bars {
            // Printed above the bars, so neither garbles the other.
            let _ = bars.println(line);
            return;
        }
        let mut stderr = std::io::stderr().lock();
        // A closed stderr is not worth failing the command for.
        let _ = writeln!(stderr, "{line}");
    }

    /// A progress line: `    Building churn-features`, verb right-aligned in green.
    pub fn status(&self, verb: &str, message: impl std::fmt::Display) {
        if self.verbosity >= Verbosity::Normal {
            self.err_line(&format!(
                "{} {}",
                self.paint(GREEN, &format!("{verb:>12}")),
                clean(&message)
            ));
        }
    }

    /// Detail shown only with `-vv`.
    pub fn trace(&self, verb: &str, message: impl std::fmt::Display) {
        if self.verbosity >= Verbosity::Trace {
            self.err_line(&format!(
                "{} {}",
                self.paint(CYAN, &format!("{verb:>12}")),
                clean(&message)
            ));
        }
    }

    /// Detail shown only with `--verbose`.
    pub fn verbose(&self, verb: &str, message: impl std::fmt::Display) {
        if self.verbosity >= Verbosity::Verbose {
            self.err_line(&format!(
                "{} {}",
                self.paint(CYAN, &format!("{verb:>12}")),
                clean(&message)
            ));
        }
    }

    /// A block of text under a heading (a failed run's error, trace, log tail); shown even
    /// with `--quiet`, since it says why the command failed.
    pub fn block(&self, heading: &str, text: &str) {
        let mut out = self.paint(BOLD, heading);
        for line in text.lines() {
            out.push_str("\n  | ");
            out.push_str(&clean(&line));
        }
        self.err_line(&out);
    }

    /// How many warnings this invocation has given so far.
    pub fn warnings(&self) -> usize {
        self.warnings.load(std::sync::atomic::Ordering::SeqCst)
    }

    /// This channel without warnings and notes (they go to a separate count): for work whose
    /// warnings were given already by another command, such as reading the project again to
    /// reach a run's workspace (`status`, `logs`, `cancel`).
    pub fn without_warnings(&self) -> Output {
        let mut quiet = self.clone();
        quiet.verbosity = quiet.verbosity.min(Verbosity::Quiet);
        quiet.warnings = Default::default();
        quiet
    }

    pub fn warn(&self, message: impl std::fmt::Display) {
        self.warnings
            .fetch_add(1, std::sync::atomic::Ordering::SeqCst);
        if self.verbosity >= Verbosity::Normal {
            self.err_line(&format!(
                "{}: {}",
                self.paint(YELLOW, "warning"),
                clean(&message)
            ));
        }
    }

    /// A suggestion worth knowing, not a problem (cargo's `note:`).
    pub fn note(&self, message: impl std::fmt::Display) {
        if self.verbosity >= Verbosity::Normal {
            self.err_line(&format!(
                "{}: {}",
                self.paint(CYAN, "note"),
                clean(&message)
            ));
        }
    }

    /// An error with its location, causes and help; shown even with `--quiet`.
    pub fn error(&self, err: &Error) {
        let mut text = format!(
            "{}: {}",
            self.paint(RED, "error"),
            self.paint(BOLD, &clean(&err.message()))
        );
        if let Some(snippet) = err.diagnostic_ref().and_then(|d| d.snippet()) {
            text.push('\n');
            text.push_str(&snippet);
        }
        for cause in err.causes() {
            text.push_str(&format!("\n  caused by: {}", clean(&cause)));
        }
        if let Some(help) = err.help() {
            text.push_str(&format!("\n{}: {}", self.paint(CYAN, "help"), clean(&help)));
        }
        self.err_line(&text);
        // On a CI system, also an annotation on the run's page.
        let mut plain = err.message().to_string();
        for cause in err.causes() {
            plain.push_str(&format!("\ncaused by: {cause}"));
        }
        if let Some(help) = err.help() {
            plain.push_str(&format!("\nhelp: {help}"));
        }
        self.annotate_error(&plain);
    }

    /// A line of a child process's output, passed through to stderr as it comes (stdout stays
    /// for the command's own result).
    pub fn passthrough(&self, line: &str) {
        if self.verbosity >= Verbosity::Normal {
            self.err_line(line);
        }
    }

    /// A line of a remote task's own output, as it arrives, on stderr and marked as the
    /// task's (`[out]`, or `[err]` for its stderr) among the status lines; with `--json`, an
    /// event object per line (`{"event": "task_output", "stream": ..., "line": ...}`), also
    /// on stderr, since stdout holds the one result document. `--quiet` hides it.
    pub fn task_line(&self, stderr: bool, text: &str) {
        if self.verbosity < Verbosity::Normal {
            return;
        }
        let stream = if stderr { "stderr" } else { "stdout" };
        if self.json {
            let event = serde_json::json!({"event": "task_output", "stream": stream, "line": text});
            self.err_line(&event.to_string());
            return;
        }
        let marker = if stderr {
            self.paint(YELLOW, &format!("{:>12}", "[err]"))
        } else {
            self.paint(DIM, &format!("{:>12}", "[out]"))
        };
        self.err_line(&format!("{marker} {}", clean(&without_colours(text))));
    }

    /// A line on stderr exactly as given (CI logging commands).
    pub fn raw_err(&self, line: &str) {
        self.err_line(line);
    }

    /// A line of the command's result on stdout (text mode).
    pub fn result(&self, line: impl std::fmt::Display) {
        let mut stdout = std::io::stdout().lock();
        let _ = writeln!(stdout, "{}", clean(&line));
    }

    /// The command's result as one pretty-printed JSON document on stdout.
    pub fn result_json(&self, value: &impl Serialize) {
        let text = serde_json::to_string_pretty(value).expect("result types serialize");
        self.result(text);
    }
}

/// Text from outside (a manifest, a branch name, an API answer) as it may reach a terminal:
/// control characters escaped (see [`crate::support::diagnostic::escape_controls`]).
fn clean(text: &impl std::fmt::Display) -> String {
    crate::support::diagnostic::escape_controls(&text.to_string()).into_owned()
}

/// `text` without its ANSI colour and style sequences (`ESC [ ... m`, as Python's warnings
/// and progress bars print them): a task's colours are dropped rather than shown escaped,
/// while any other control character is still escaped by [`clean`].
fn without_colours(text: &str) -> std::borrow::Cow<'_, str> {
    if !text.contains('\x1b') {
        return text.into();
    }
    let mut out = String::with_capacity(text.len());
    let mut rest = text;
    while let Some(at) = rest.find("\x1b[") {
        out.push_str(&rest[..at]);
        let seq = &rest[at + 2..];
        match seq.find(|c: char| !(c.is_ascii_digit() || c == ';')) {
            Some(end) if seq[end..].starts_with('m') => rest = &seq[end + 1..],
            _ => {
                out.push('\x1b');
                rest = &rest[at + 1..];
            }
        }
    }
    out.push_str(rest);
    out.into()
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

/// An open group; it closes when dropped. Groups do not nest (neither system shows nested
/// groups), so a group opened inside another is a no-op.
pub struct Group {
    end: Option<(Output, String)>,
}

impl Drop for Group {
    fn drop(&mut self) {
        if let Some((output, line)) = self.end.take() {
            output.ci_line(&line);
            output
                .in_group
                .store(false, std::sync::atomic::Ordering::SeqCst);
        }
    }
}

impl Output {
    /// The CI system whose logging commands we write, if any.
    pub fn ci(&self) -> Option<ci::System> {
        self.ci
    }

    /// A logging command: on stdout, where both systems document them, unless stdout holds
    /// the `--json` document; then on stderr, which both runners read too.
    pub fn ci_line(&self, line: &str) {
        if self
            .stdout_is_json
            .load(std::sync::atomic::Ordering::SeqCst)
        {
            self.raw_err(line);
        } else {
            self.result(line);
        }
    }

    /// Opens a collapsible group of log lines titled `title` (a no-op outside CI).
    pub fn group(&self, title: &str) -> Group {
        let Some(system) = self.ci else {
            return Group { end: None };
        };
        if self
            .in_group
            .swap(true, std::sync::atomic::Ordering::SeqCst)
        {
            return Group { end: None };
        }
        let (start, end) = system.group_lines(title);
        self.ci_line(&start);
        Group {
            end: Some((self.clone(), end)),
        }
    }

    /// An error annotation for the run's summary page (shown even with `--quiet`).
    pub fn annotate_error(&self, message: &str) {
        if let Some(system) = self.ci {
            self.ci_line(&system.error_line(message));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_tasks_colours_are_dropped_and_other_escapes_kept() {
        assert_eq!(without_colours("\x1b[1;33mwarning\x1b[0m: x"), "warning: x");
        assert_eq!(without_colours("plain"), "plain");
        // Not a colour: left for `clean` to escape.
        assert_eq!(without_colours("a\x1b[2Jb"), "a\x1b[2Jb");
        assert_eq!(clean(&without_colours("a\x1b[2Jb")), "a\\u{1b}[2Jb");
    }
}
