//! Errors that point into a file: path, line, column, the key, what was expected, and a help
//! line with the closest valid names.

use std::fmt;
use std::ops::Range;
use std::path::{Path, PathBuf};

/// One problem at one place in a file.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Diagnostic {
    pub file: PathBuf,
    /// 1-based line and column (in characters).
    pub line: usize,
    pub column: usize,
    /// Dotted key path, e.g. `cluster.num_workers` or `wheel[1].path`.
    pub key: Option<String>,
    pub message: String,
    pub help: Option<String>,
    /// The source line and the marked width, for the snippet under the headline.
    snippet: Option<(String, usize)>,
}

impl Diagnostic {
    /// A problem at byte range `span` of `source` (the text of `file`).
    pub fn at(file: &Path, source: &str, span: Range<usize>, message: impl Into<String>) -> Self {
        let start = span.start.min(source.len());
        let start = floor_char_boundary(source, start);
        let line_start = source[..start].rfind('\n').map_or(0, |i| i + 1);
        let line_end = source[start..]
            .find('\n')
            .map_or(source.len(), |i| start + i);
        let line = source[..start].matches('\n').count() + 1;
        let column = source[line_start..start].chars().count() + 1;
        let end = floor_char_boundary(source, span.end.clamp(start, line_end));
        let width = source[start..end].chars().count().max(1);
        let text = source[line_start..line_end]
            .trim_end_matches('\r')
            .to_string();
        Diagnostic {
            file: file.to_path_buf(),
            line,
            column,
            key: None,
            message: message.into(),
            help: None,
            snippet: Some((text, width)),
        }
    }

    /// A problem with the file as a whole (reported at its first line).
    pub fn whole_file(file: &Path, message: impl Into<String>) -> Self {
        Diagnostic {
            file: file.to_path_buf(),
            line: 1,
            column: 1,
            key: None,
            message: message.into(),
            help: None,
            snippet: None,
        }
    }

    pub fn key(mut self, key: impl Into<String>) -> Self {
        let key = key.into();
        if !key.is_empty() {
            self.key = Some(key);
        }
        self
    }

    pub fn help(mut self, help: impl Into<String>) -> Self {
        self.help = Some(help.into());
        self
    }

    pub fn maybe_help(mut self, help: Option<String>) -> Self {
        if help.is_some() {
            self.help = help;
        }
        self
    }

    /// `file:line:col: key: message`, the first line of the error.
    pub fn headline(&self) -> String {
        let mut s = format!("{}:{}:{}: ", self.file.display(), self.line, self.column);
        if let Some(key) = &self.key {
            s.push_str(&format!("`{key}`: "));
        }
        s.push_str(&self.message);
        s
    }

    /// The marked source line, as rustc shows it, or nothing for whole-file problems. A long
    /// line is cut to [`SNIPPET_CHARS`] around the mark, and control characters are escaped.
    pub fn snippet(&self) -> Option<String> {
        let (text, width) = self.snippet.as_ref()?;
        let number = self.line.to_string();
        let pad = " ".repeat(number.len());
        let chars: Vec<char> = text
            .chars()
            .map(|c| if c == '\t' { ' ' } else { c })
            .collect();
        let mark = (self.column - 1).min(chars.len());
        let start = if chars.len() > SNIPPET_CHARS {
            mark.saturating_sub(SNIPPET_CHARS / 3)
        } else {
            0
        };
        let end = (start + SNIPPET_CHARS).min(chars.len());
        let shown = |cs: &[char]| cs.iter().map(|c| escape_char(*c)).collect::<String>();
        let lead = if start > 0 { "…" } else { "" };
        let trail = if end < chars.len() { "…" } else { "" };
        let before = lead.chars().count() + shown(&chars[start..mark.max(start)]).chars().count();
        let marked = shown(&chars[mark.min(end)..(mark + width).min(end)])
            .chars()
            .count()
            .max(1);
        Some(format!(
            "{pad} |\n{number} | {lead}{}{trail}\n{pad} | {}{}",
            shown(&chars[start..end]),
            " ".repeat(before),
            "^".repeat(marked)
        ))
    }
}

/// How much of a source line a snippet shows.
pub const SNIPPET_CHARS: usize = 120;

/// A character as it may reach a terminal: control characters (other than newline and tab)
/// as `\u{..}` escapes, so input cannot move the cursor, recolour or retitle the terminal.
fn escape_char(c: char) -> String {
    if c.is_control() && c != '\n' && c != '\t' {
        c.escape_unicode().to_string()
    } else {
        c.to_string()
    }
}

/// `text` with its control characters escaped (see [`escape_char`]).
pub fn escape_controls(text: &str) -> std::borrow::Cow<'_, str> {
    if text
        .chars()
        .any(|c| c.is_control() && c != '\n' && c != '\t')
    {
        std::borrow::Cow::Owned(text.chars().map(escape_char).collect())
    } else {
        std::borrow::Cow::Borrowed(text)
    }
}

impl fmt::Display for Diagnostic {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.headline())
    }
}

fn floor_char_boundary(s: &str, mut i: usize) -> usize {
    while i > 0 && !s.is_char_boundary(i) {
        i -= 1;
    }
    i
}

/// The valid names closest to `wrong` by edit distance (as cargo suggests commands): those
/// within a third of the name's length, the nearest ones only, at most three.
pub fn closest<'a>(wrong: &str, candidates: impl IntoIterator<Item = &'a str>) -> Vec<&'a str> {
    let wrong_lower = wrong.to_lowercase();
    let limit = (wrong.chars().count() / 3).max(1);
    let mut scored: Vec<(usize, &str)> = candidates
        .into_iter()
        .map(|c| {
            (
                strsim::damerau_levenshtein(&wrong_lower, &c.to_lowercase()),
                c,
            )
        })
        .filter(|(distance, _)| *distance <= limit)
        .collect();
    scored.sort();
    let best = scored.first().map(|(d, _)| *d);
    scored
        .into_iter()
        .filter(|(d, _)| Some(*d) == best)
        .take(3)
        .map(|(_, c)| c)
        .collect()
}

/// "did you mean `x`?" (or "one of `a`, `b`"), else the full list of valid names.
pub fn suggestion<'a>(
    what: &str,
    wrong: &str,
    candidates: impl IntoIterator<Item = &'a str> + Clone,
) -> String {
    let near = closest(wrong, candidates.clone());
    match near.as_slice() {
        [one] => format!("did you mean `{one}`?"),
        [] => {
            let all: Vec<&str> = candidates.into_iter().collect();
            if all.is_empty() {
                format!("no {what} is defined")
            } else {
                format!("valid {what}: {}", quote_list(&all))
            }
        }
        many => format!("did you mean one of {}?", quote_list(many)),
    }
}

pub fn quote_list(names: &[&str]) -> String {
    names
        .iter()
        .map(|n| format!("`{n}`"))
        .collect::<Vec<_>>()
        .join(", ")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn line_and_column_count_characters() {
        let src = "[project]\nname = \"é\"\nnum = \"two\"\n";
        let start = src.find("\"two\"").unwrap();
        let d = Diagnostic::at(Path::new("m.toml"), src, start..start + 5, "bad");
        assert_eq!((d.line, d.column), (3, 7));
        assert_eq!(
            d.snippet().unwrap(),
            "  |\n3 | num = \"two\"\n  |       ^^^^^"
        );
    }

    #[test]
    fn spans_past_the_end_do_not_panic() {
        let d = Diagnostic::at(Path::new("m.toml"), "ab", 10..20, "x");
        assert_eq!((d.line, d.column), (1, 3));
    }

    #[test]
    fn suggestions_prefer_the_closest_name() {
        assert_eq!(
            suggestion("targets", "dve", ["dev", "local", "prod"]),
            "did you mean `dev`?"
        );
        assert_eq!(
            suggestion("targets", "zzzzzz", ["dev", "local"]),
            "valid targets: `dev`, `local`"
        );
    }
}
