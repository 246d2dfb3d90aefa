//! The one way this crate runs another program: the command line is kept for messages, the
//! exit status is checked, and a failure says what ran, where, and how it ended.

use std::ffi::{OsStr, OsString};
use std::fmt;
use std::io;
use std::path::{Path, PathBuf};

/// A command to run, kept as data so it can be shown in logs and errors.
#[derive(Clone, Debug)]
pub struct Cmd {
    program: OsString,
    args: Vec<OsString>,
    dir: Option<PathBuf>,
    env: Vec<(OsString, OsString)>,
}

/// What a finished command printed.
#[derive(Clone, Debug)]
pub struct Output {
    pub stdout: String,
    pub stderr: String,
}

/// Why a command did not succeed.
#[derive(Debug)]
pub enum CmdError {
    /// The program is not installed (or not on PATH).
    NotFound { program: String },
    /// It ran and exited non-zero (or was killed by a signal).
    Failed {
        command: String,
        dir: Option<PathBuf>,
        status: Option<i32>,
        output: Output,
    },
    /// It could not be started for another reason.
    Spawn { command: String, source: io::Error },
}

impl fmt::Display for CmdError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            CmdError::NotFound { program } => write!(f, "`{program}` was not found on PATH"),
            CmdError::Failed {
                command,
                dir,
                status,
                ..
            } => {
                write!(f, "`{command}`")?;
                if let Some(dir) = dir {
                    write!(f, " (in {})", dir.display())?;
                }
                match status {
                    Some(code) => write!(f, " exited with status {code}"),
                    None => write!(f, " was killed by a signal"),
                }
            }
            CmdError::Spawn { command, source } => write!(f, "could not run `{command}`: {source}"),
        }
    }
}

impl std::error::Error for CmdError {}

impl Cmd {
    pub fn new(program: impl AsRef<OsStr>) -> Self {
        Cmd {
            program: program.as_ref().to_os_string(),
            args: Vec::new(),
            dir: None,
            env: Vec::new(),
        }
    }

    pub fn arg(mut self, arg: impl AsRef<OsStr>) -> Self {
        self.args.push(arg.as_ref().to_os_string());
        self
    }

    pub fn args<I, S>(mut self, args: I) -> Self
    where
        I: IntoIterator<Item = S>,
        S: AsRef<OsStr>,
    {
        self.args
            .extend(args.into_iter().map(|a| a.as_ref().to_os_string()));
        self
    }

    pub fn dir(mut self, dir: impl AsRef<Path>) -> Self {
        self.dir = Some(dir.as_ref().to_path_buf());
        self
    }

    pub fn env(mut self, key: impl AsRef<OsStr>, value: impl AsRef<OsStr>) -> Self {
        self.env
            .push((key.as_ref().to_os_string(), value.as_ref().to_os_string()));
        self
    }

    /// The command line as a person would type it (arguments quoted where needed).
    pub fn display(&self) -> String {
        std::iter::once(&self.program)
            .chain(&self.args)
            .map(|a| shell_quote(&a.to_string_lossy()))
            .collect::<Vec<_>>()
            .join(" ")
    }

    fn expression(&self) -> duct::Expression {
        let mut expr = duct::cmd(&self.program, &self.args);
        if let Some(dir) = &self.dir {
            expr = expr.dir(dir);
        }
        for (k, v) in &self.env {
            expr = expr.env(k, v);
        }
        expr
    }

    /// Runs to completion with stdout and stderr captured; non-zero exit is an error.
    pub fn output(&self) -> Result<Output, CmdError> {
        let result = self
            .expression()
            .stdout_capture()
            .stderr_capture()
            .stdin_null()
            .unchecked()
            .run();
        let out = match result {
            Ok(out) => out,
            Err(e) if e.kind() == io::ErrorKind::NotFound => {
                return Err(CmdError::NotFound {
                    program: self.program.to_string_lossy().into_owned(),
                });
            }
            Err(source) => {
                return Err(CmdError::Spawn {
                    command: self.display(),
                    source,
                });
            }
        };
        let output = Output {
            stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
            stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
        };
        if out.status.success() {
            Ok(output)
        } else {
            Err(CmdError::Failed {
                command: self.display(),
                dir: self.dir.clone(),
                status: out.status.code(),
                output,
            })
        }
    }

    /// Runs to completion, handing each line of its output (stdout and stderr, merged in the
    /// order they came) to `on_line` as it comes; returns the exit code (`None` when killed by
    /// a signal). A non-zero exit is not an error here: the caller says what it means.
    pub fn stream(&self, mut on_line: impl FnMut(&str)) -> Result<Option<i32>, CmdError> {
        use std::io::BufRead;
        let reader = self
            .expression()
            .stderr_to_stdout()
            .stdin_null()
            .unchecked()
            .reader()
            .map_err(|e| self.spawn_error(e))?;
        let mut lines = std::io::BufReader::new(&reader);
        let mut line = Vec::new();
        loop {
            line.clear();
            match lines.read_until(b'\n', &mut line) {
                Ok(0) => break,
                Ok(_) => {
                    let text = String::from_utf8_lossy(&line);
                    on_line(text.trim_end_matches(['\n', '\r']));
                }
                Err(e) => {
                    return Err(CmdError::Spawn {
                        command: self.display(),
                        source: e,
                    });
                }
            }
        }
        let status = reader
            .try_wait()
            .map_err(|e| self.spawn_error(e))?
            .map(|out| out.status.code())
            .unwrap_or(None);
        Ok(status)
    }

    fn spawn_error(&self, e: io::Error) -> CmdError {
        if e.kind() == io::ErrorKind::NotFound {
            CmdError::NotFound {
                program: self.program.to_string_lossy().into_owned(),
            }
        } else {
            CmdError::Spawn {
                command: self.display(),
                source: e,
            }
        }
    }

    /// Runs and returns stdout with the trailing newline removed.
    pub fn read(&self) -> Result<String, CmdError> {
        self.output()
            .map(|o| o.stdout.trim_end_matches(['\n', '\r']).to_string())
    }
}

/// Quotes `s` for a POSIX shell when it holds anything but plainly safe characters, exactly
/// as Python's `shlex.quote` does: MLflow renders an entry point's command with it
/// (`EntryPoint.compute_command`), and ours must match what MLflow would run. (The `shlex`
/// crate, which splits commands here, quotes differently: double quotes, and `=` or `,`
/// quoted too.)
pub fn shell_quote(s: &str) -> String {
    let safe = !s.is_empty()
        && s.chars().all(|c| {
            c.is_ascii_alphanumeric()
                || matches!(c, '-' | '_' | '.' | '/' | ':' | '=' | '+' | ',' | '@' | '%')
        });
    if safe {
        s.to_string()
    } else {
        format!("'{}'", s.replace('\'', r"'\''"))
    }
}

/// The last `n` lines of `text`.
pub fn tail(text: &str, n: usize) -> String {
    let lines: Vec<&str> = text.lines().collect();
    lines[lines.len().saturating_sub(n)..].join("\n")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn display_quotes_what_a_shell_would_split() {
        let cmd = Cmd::new("python").args(["-m", "build", "--outdir", "/a b/it's"]);
        assert_eq!(cmd.display(), r"python -m build --outdir '/a b/it'\''s'");
    }

    #[test]
    fn missing_program_is_not_found() {
        let err = Cmd::new("definitely-not-a-program-mlops")
            .output()
            .unwrap_err();
        assert!(matches!(err, CmdError::NotFound { .. }), "{err:?}");
    }

    #[test]
    fn failure_keeps_status_and_output() {
        let err = Cmd::new("sh")
            .args(["-c", "echo out; echo err >&2; exit 3"])
            .output()
            .unwrap_err();
        match err {
            CmdError::Failed { status, output, .. } => {
                assert_eq!(status, Some(3));
                assert_eq!(output.stdout.trim(), "out");
                assert_eq!(output.stderr.trim(), "err");
            }
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn streaming_hands_over_every_line_of_both_streams_and_the_status() {
        let mut lines = Vec::new();
        let code = Cmd::new("sh")
            .args(["-c", "echo one; echo two >&2; echo three; exit 4"])
            .stream(|l| lines.push(l.to_string()))
            .unwrap();
        assert_eq!(code, Some(4));
        assert_eq!(lines, ["one", "two", "three"]);
        let err = Cmd::new("definitely-not-a-program-mlops")
            .stream(|_| {})
            .unwrap_err();
        assert!(matches!(err, CmdError::NotFound { .. }), "{err:?}");
    }

    #[test]
    fn tail_keeps_the_last_lines() {
        assert_eq!(tail("a\nb\nc\n", 2), "b\nc");
        assert_eq!(tail("a", 5), "a");
    }
}
