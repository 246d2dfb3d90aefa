//! The one error type of the crate and the one place where errors become exit codes.
//!
//! Errors carry a [`Kind`] (what the caller of the binary should conclude), a message that
//! names what failed, an optional `help` line that says what to do, and the underlying cause.
//! Modules that need to branch on causes keep their own typed errors and convert at the edge.

use std::fmt;

use crate::support::diagnostic::Diagnostic;

/// What went wrong, from the point of view of whoever reads the exit code.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Kind {
    /// The work itself failed: a run ended in failure, a build failed, a local file could not
    /// be written.
    Failed,
    /// The command line, the manifest, a template or the repository state is not usable as is;
    /// the user has to change something before trying again.
    Usage,
    /// A remote API or the network failed in a way that retries could not overcome.
    Remote,
    /// The user interrupted the command (Ctrl-C).
    Interrupted,
}

/// Documented exit codes (docs/commands.md, "Exit codes"). Every exit of the binary goes through here.
pub mod exit {
    pub const SUCCESS: i32 = 0;
    pub const FAILED: i32 = 1;
    pub const USAGE: i32 = 2;
    pub const REMOTE: i32 = 3;
    pub const INTERRUPTED: i32 = 130;
}

impl Kind {
    pub fn exit_code(self) -> i32 {
        match self {
            Kind::Failed => exit::FAILED,
            Kind::Usage => exit::USAGE,
            Kind::Remote => exit::REMOTE,
            Kind::Interrupted => exit::INTERRUPTED,
        }
    }
}

type Source = Box<dyn std::error::Error + Send + Sync + 'static>;

/// The crate's error: a kind, a message, an optional help line and an optional cause.
pub struct Error {
    kind: Kind,
    message: String,
    help: Option<String>,
    diagnostic: Option<Box<Diagnostic>>,
    source: Option<Source>,
}

pub type Result<T, E = Error> = std::result::Result<T, E>;

impl Error {
    pub fn new(kind: Kind, message: impl Into<String>) -> Self {
        Error {
            kind,
            message: message.into(),
            help: None,
            diagnostic: None,
            source: None,
        }
    }

    /// Bad command line, manifest or repository state (exit 2).
    pub fn usage(message: impl Into<String>) -> Self {
        Self::new(Kind::Usage, message)
    }

    /// The work failed (exit 1).
    pub fn failed(message: impl Into<String>) -> Self {
        Self::new(Kind::Failed, message)
    }

    /// A remote or network failure (exit 3).
    pub fn remote(message: impl Into<String>) -> Self {
        Self::new(Kind::Remote, message)
    }

    pub fn interrupted() -> Self {
        Self::new(Kind::Interrupted, "interrupted")
    }

    /// An error that points into a file (the manifest, a template).
    pub fn diagnostic(diagnostic: Diagnostic) -> Self {
        let mut err = Self::usage(diagnostic.headline());
        err.help = diagnostic.help.clone();
        err.diagnostic = Some(Box::new(diagnostic));
        err
    }

    /// An I/O error; `fs_err` errors already name their path.
    pub fn io(context: impl Into<String>, source: std::io::Error) -> Self {
        Self::failed(context).with_source(source)
    }

    pub fn with_help(mut self, help: impl Into<String>) -> Self {
        self.help = Some(help.into());
        self
    }

    pub fn with_source(mut self, source: impl Into<Source>) -> Self {
        self.source = Some(source.into());
        self
    }

    pub fn kind(&self) -> Kind {
        self.kind
    }

    /// The same error with every mention of the path `from` written as `to` (a temporary
    /// folder that is gone by the time the error is read), in its message, help and causes.
    pub fn renaming_path(mut self, from: &std::path::Path, to: &str) -> Self {
        let from = from.display().to_string();
        let swap = |s: &str| s.replace(&format!("{from}/"), to).replace(&from, to);
        self.message = swap(&self.message);
        self.help = self.help.as_deref().map(swap);
        let causes = self.causes();
        if !causes.is_empty() {
            let text = causes
                .iter()
                .map(|c| swap(c))
                .collect::<Vec<_>>()
                .join(": ");
            self.source = Some(text.into());
        }
        self
    }

    pub fn exit_code(&self) -> i32 {
        self.kind.exit_code()
    }

    pub fn message(&self) -> &str {
        &self.message
    }

    pub fn help(&self) -> Option<&str> {
        self.help.as_deref()
    }

    pub fn diagnostic_ref(&self) -> Option<&Diagnostic> {
        self.diagnostic.as_deref()
    }

    /// The chain of causes below the message, outermost first.
    pub fn causes(&self) -> Vec<String> {
        let mut out = Vec::new();
        let mut next: Option<&(dyn std::error::Error + 'static)> = self
            .source
            .as_deref()
            .map(|s| s as &(dyn std::error::Error + 'static));
        while let Some(err) = next {
            let text = err.to_string();
            if !self.message.contains(&text) {
                out.push(text);
            }
            next = err.source();
        }
        out
    }
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.message)
    }
}

impl fmt::Debug for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Error")
            .field("kind", &self.kind)
            .field("message", &self.message)
            .field("help", &self.help)
            .field("source", &self.source.as_ref().map(|s| s.to_string()))
            .finish()
    }
}

impl std::error::Error for Error {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        self.source
            .as_deref()
            .map(|s| s as &(dyn std::error::Error + 'static))
    }
}

impl From<std::io::Error> for Error {
    fn from(err: std::io::Error) -> Self {
        // fs_err's io::Error messages already say which path and which operation.
        Error::failed(err.to_string()).with_source(err)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_kind_has_its_documented_exit_code() {
        assert_eq!(Error::failed("x").exit_code(), 1);
        assert_eq!(Error::usage("x").exit_code(), 2);
        assert_eq!(Error::remote("x").exit_code(), 3);
        assert_eq!(Error::interrupted().exit_code(), 130);
    }

    #[test]
    fn causes_skip_what_the_message_already_says() {
        let inner = std::io::Error::other("disk full");
        let err = Error::failed("writing wheel").with_source(inner);
        assert_eq!(err.causes(), vec!["disk full".to_string()]);
        let inner = std::io::Error::other("disk full");
        let err = Error::failed("writing wheel: disk full").with_source(inner);
        assert!(err.causes().is_empty());
    }
}
