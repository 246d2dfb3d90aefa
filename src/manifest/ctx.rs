//! Diagnostics that point into the manifest being read: spans, parts of string values, TOML
//! syntax errors and serde's type errors said the way a TOML author reads them.

use std::ops::Range;
use std::path::Path;

use crate::support::diagnostic::{Diagnostic, closest, quote_list};

/// The manifest being read: its shown path and text, for diagnostics that point into it.
pub(super) struct Ctx<'a> {
    pub(super) file: &'a Path,
    pub(super) source: &'a str,
}

impl Ctx<'_> {
    pub(super) fn at(&self, span: Range<usize>, message: impl Into<String>) -> Diagnostic {
        Diagnostic::at(self.file, self.source, span, message)
    }

    /// A diagnostic for part of a string value: `offset..offset+len` inside the value that
    /// `span` covers (quotes included). Falls back to the whole value when the string was
    /// written with escapes, where offsets in the value and in the file differ.
    pub(super) fn inside(
        &self,
        span: Range<usize>,
        value: &str,
        offset: usize,
        len: usize,
    ) -> Range<usize> {
        let inner = span.start + 1..span.end.saturating_sub(1);
        if self.source.get(inner.clone()) == Some(value) {
            inner.start + offset..inner.start + offset + len
        } else {
            span
        }
    }

    pub(super) fn toml_syntax(&self, err: &toml::de::Error) -> Diagnostic {
        let message = err.message().trim().to_string();
        match err.span() {
            Some(span) => self.at(span, message),
            None => Diagnostic::whole_file(self.file, message),
        }
        .help("fix the TOML syntax at this place")
    }

    pub(super) fn serde(&self, err: &serde_path_to_error::Error<toml::de::Error>) -> Diagnostic {
        let key = clean_key_path(&err.path().to_string());
        let inner = err.inner();
        let message = plain_types(inner.message().trim());
        let help = unknown_name_help(&message);
        match inner.span() {
            Some(span) => self.at(span, message),
            None => Diagnostic::whole_file(self.file, message),
        }
        .key(key)
        .maybe_help(help)
    }
}

/// serde names Rust types ("expected u32"); say what to write in TOML instead.
fn plain_types(message: &str) -> String {
    [
        (
            "expected u32",
            "expected a whole number from 0 to 4294967295",
        ),
        ("expected a sequence", "expected an array"),
        ("expected a map", "expected a table"),
        ("expected struct ", "expected a table "),
    ]
    .iter()
    .fold(message.to_string(), |m, (from, to)| m.replace(from, to))
}

/// serde_path_to_error shows `Spanned` wrappers as a path segment; users never wrote them.
fn clean_key_path(path: &str) -> String {
    let cleaned = path
        .split('.')
        .filter(|seg| !seg.starts_with("$__serde_spanned_private"))
        .collect::<Vec<_>>()
        .join(".");
    if cleaned == "?" {
        String::new()
    } else {
        cleaned
    }
}

/// For serde's "unknown field `x`, expected one of `a`, `b`" (and the same for variants), the
/// closest valid names.
fn unknown_name_help(message: &str) -> Option<String> {
    let (what, rest) = if let Some(rest) = message.strip_prefix("unknown field `") {
        ("keys", rest)
    } else if let Some(rest) = message.strip_prefix("unknown variant `") {
        ("values", rest)
    } else {
        return None;
    };
    let (wrong, expected) = rest.split_once('`')?;
    let valid: Vec<&str> = expected
        .split('`')
        .skip(1)
        .step_by(2)
        .filter(|s| !s.is_empty())
        .collect();
    if valid.is_empty() {
        return None;
    }
    let near = closest(wrong, valid.iter().copied());
    Some(match near.as_slice() {
        [] => format!("valid {what} here: {}", quote_list(&valid)),
        [one] => format!("did you mean `{one}`?"),
        many => format!("did you mean one of {}?", quote_list(many)),
    })
}
