//! `{name}` placeholders in manifest strings (`experiment`, `artifacts`).
//!
//! `{{` and `}}` stand for literal braces. Names are checked when the manifest is loaded, so a
//! typo fails before anything is built; values are filled in once the plan knows them.

use std::fmt;

/// Every placeholder a manifest string may use.
pub const NAMES: &[&str] = &["project", "branch", "target", "commit", "user"];

#[derive(Clone, Debug, PartialEq, Eq)]
enum Piece {
    Text(String),
    Var(String),
}

/// A string with placeholders, validated.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Template {
    raw: String,
    pieces: Vec<Piece>,
}

/// Why a template string was rejected; `offset` is the byte offset in the string.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TemplateError {
    pub offset: usize,
    pub len: usize,
    pub message: String,
    pub help: Option<String>,
}

impl Template {
    pub fn parse(raw: &str) -> Result<Template, TemplateError> {
        let mut pieces = Vec::new();
        let mut text = String::new();
        let mut rest = raw.char_indices().peekable();
        while let Some((i, c)) = rest.next() {
            match c {
                '{' if rest.peek().map(|(_, c)| *c) == Some('{') => {
                    rest.next();
                    text.push('{');
                }
                '}' if rest.peek().map(|(_, c)| *c) == Some('}') => {
                    rest.next();
                    text.push('}');
                }
                '{' => {
                    let Some(close) = raw[i..].find('}') else {
                        return Err(TemplateError {
                            offset: i,
                            len: raw.len() - i,
                            message: "unclosed `{` in placeholder".into(),
                            help: Some("write `{{` for a literal brace".into()),
                        });
                    };
                    let name = &raw[i + 1..i + close];
                    if !NAMES.contains(&name) {
                        return Err(TemplateError {
                            offset: i,
                            len: close + 1,
                            message: format!("unknown placeholder `{{{name}}}`"),
                            help: Some(format!(
                                "{} (placeholders: {})",
                                crate::support::diagnostic::suggestion(
                                    "placeholders",
                                    name,
                                    NAMES.iter().copied()
                                ),
                                NAMES
                                    .iter()
                                    .map(|n| format!("{{{n}}}"))
                                    .collect::<Vec<_>>()
                                    .join(", ")
                            )),
                        });
                    }
                    if !text.is_empty() {
                        pieces.push(Piece::Text(std::mem::take(&mut text)));
                    }
                    pieces.push(Piece::Var(name.to_string()));
                    while rest.peek().is_some_and(|(j, _)| *j <= i + close) {
                        rest.next();
                    }
                }
                '}' => {
                    return Err(TemplateError {
                        offset: i,
                        len: 1,
                        message: "unmatched `}`".into(),
                        help: Some("write `}}` for a literal brace".into()),
                    });
                }
                c => text.push(c),
            }
        }
        if !text.is_empty() {
            pieces.push(Piece::Text(text));
        }
        Ok(Template {
            raw: raw.to_string(),
            pieces,
        })
    }

    pub fn raw(&self) -> &str {
        &self.raw
    }

    /// The text before the first placeholder (what is known without any value).
    pub fn literal_prefix(&self) -> &str {
        match self.pieces.first() {
            Some(Piece::Text(t)) => t,
            _ => "",
        }
    }

    pub fn uses(&self, name: &str) -> bool {
        self.pieces
            .iter()
            .any(|p| matches!(p, Piece::Var(v) if v == name))
    }

    /// Fills in the values `lookup` knows; unknown ones stay as `{name}` so they can be filled
    /// later (e.g. `{user}` on Databricks is only known once the workspace is asked).
    pub fn expand(&self, lookup: impl Fn(&str) -> Option<String>) -> String {
        let mut out = String::new();
        for piece in &self.pieces {
            match piece {
                Piece::Text(t) => out.push_str(t),
                Piece::Var(v) => match lookup(v) {
                    Some(value) => out.push_str(&value),
                    None => {
                        out.push('{');
                        out.push_str(v);
                        out.push('}');
                    }
                },
            }
        }
        out
    }
}

impl fmt::Display for Template {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.raw)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn vars(name: &str) -> Option<String> {
        match name {
            "project" => Some("churn".into()),
            "branch" => Some("feature-x-1234abcd".into()),
            "target" => Some("dev".into()),
            _ => None,
        }
    }

    #[test]
    fn expands_known_and_keeps_unknown_values() {
        let t = Template::parse("/Users/{user}/{project}/{branch}@{target}").unwrap();
        assert_eq!(t.expand(vars), "/Users/{user}/churn/feature-x-1234abcd@dev");
        assert!(t.uses("user"));
        assert!(!t.uses("commit"));
        assert_eq!(t.literal_prefix(), "/Users/");
    }

    #[test]
    fn doubled_braces_are_literal() {
        let t = Template::parse("a{{b}}{project}").unwrap();
        assert_eq!(t.expand(vars), "a{b}churn");
    }

    #[test]
    fn unknown_placeholder_names_the_closest() {
        let err = Template::parse("/Shared/{projet}/x").unwrap_err();
        assert_eq!(err.offset, 8);
        assert_eq!(err.len, 8);
        assert_eq!(err.message, "unknown placeholder `{projet}`");
        assert!(err.help.unwrap().starts_with("did you mean `project`?"));
    }

    #[test]
    fn unbalanced_braces_are_errors() {
        assert_eq!(Template::parse("a{branch").unwrap_err().offset, 1);
        assert_eq!(Template::parse("a}b").unwrap_err().offset, 1);
    }
}
