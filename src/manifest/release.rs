//! `[release]` and the release settings of a target: which model a run is released into,
//! the gates a run must pass, the version it must beat, the alias it gets, and the branches
//! allowed to release.

use std::collections::BTreeMap;
use std::ops::Range;

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use toml::Spanned;

use super::ctx::Ctx;
use crate::error::{Error, Result};

/// `[release]` as written.
#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct RawRelease {
    /// The model: `catalog.schema.model` in Unity Catalog on Databricks, a registry name on
    /// the local target. A target's own `model` wins.
    #[schemars(with = "Option<String>")]
    pub model: Option<Spanned<String>>,
    /// Where the run logged the model (default `model`).
    pub artifact_path: Option<String>,
    /// The alias a release sets (default `challenger`).
    pub alias: Option<String>,
    /// The entry point whose runs are released (default `main`).
    pub entry: Option<String>,
    /// Gates on the run's metrics: `accuracy = ">= 0.8"`.
    #[serde(default)]
    #[schemars(with = "BTreeMap<String, String>")]
    pub gates: BTreeMap<String, Spanned<String>>,
    /// The version the new model must beat: `{ alias = "champion", metric = "accuracy" }`.
    pub must_beat: Option<RawMustBeat>,
    /// A `[jobs.<name>]` job the model is linked to as its MLflow 3 deployment job: each new
    /// version starts it with the parameters `model_name` and `model_version`.
    #[schemars(with = "Option<String>")]
    pub deployment_job: Option<Spanned<String>>,
}

#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct RawMustBeat {
    pub alias: String,
    pub metric: String,
    /// `higher` (default) or `lower`: which way is better.
    pub better: Option<Better>,
}

#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Deserialize, Serialize, JsonSchema)]
#[serde(rename_all = "lowercase")]
pub enum Better {
    #[default]
    Higher,
    Lower,
}

/// A comparison a gate makes.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
pub enum Op {
    #[serde(rename = ">=")]
    Ge,
    #[serde(rename = "<=")]
    Le,
    #[serde(rename = ">")]
    Gt,
    #[serde(rename = "<")]
    Lt,
    #[serde(rename = "==")]
    Eq,
}

impl Op {
    pub fn holds(self, value: f64, threshold: f64) -> bool {
        match self {
            Op::Ge => value >= threshold,
            Op::Le => value <= threshold,
            Op::Gt => value > threshold,
            Op::Lt => value < threshold,
            Op::Eq => value == threshold,
        }
    }

    pub fn text(self) -> &'static str {
        match self {
            Op::Ge => ">=",
            Op::Le => "<=",
            Op::Gt => ">",
            Op::Lt => "<",
            Op::Eq => "==",
        }
    }
}

#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Gate {
    pub metric: String,
    pub op: Op,
    pub threshold: f64,
}

#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct MustBeat {
    pub alias: String,
    pub metric: String,
    pub better: Better,
}

/// `[release]`, resolved.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Release {
    pub model: Option<String>,
    pub artifact_path: String,
    pub alias: String,
    pub entry: String,
    pub gates: Vec<Gate>,
    pub must_beat: Option<MustBeat>,
    /// The `[jobs.<name>]` job linked to the model as its deployment job.
    pub deployment_job: Option<String>,
}

impl Default for Release {
    fn default() -> Self {
        Release {
            model: None,
            artifact_path: "model".into(),
            alias: "challenger".into(),
            entry: "main".into(),
            gates: Vec::new(),
            must_beat: None,
            deployment_job: None,
        }
    }
}

/// A target's release settings.
#[derive(Clone, Debug, Default, PartialEq, Serialize)]
pub struct TargetRelease {
    /// This target's model (instead of `[release] model`).
    pub model: Option<String>,
    /// Glob patterns of the branches allowed to release (empty: every branch).
    pub branches: Vec<String>,
}

/// Parses a gate: an operator, then a number (`">= 0.8"`).
pub fn parse_gate(text: &str) -> std::result::Result<(Op, f64), String> {
    let text = text.trim();
    let (op, rest) = [
        (">=", Op::Ge),
        ("<=", Op::Le),
        ("==", Op::Eq),
        (">", Op::Gt),
        ("<", Op::Lt),
    ]
    .iter()
    .find_map(|(t, op)| text.strip_prefix(t).map(|rest| (*op, rest)))
    .ok_or_else(|| format!("`{text}` does not start with >=, <=, >, < or =="))?;
    let threshold: f64 = rest
        .trim()
        .parse()
        .map_err(|_| format!("`{}` after `{}` is not a number", rest.trim(), op.text()))?;
    if !threshold.is_finite() {
        return Err(format!("`{}` is not a finite number", rest.trim()));
    }
    Ok((op, threshold))
}

/// Whether `name` is a model name (in Unity Catalog when `unity_catalog`): three dot-separated parts of
/// letters, digits and underscores in Unity Catalog (`catalog.schema.model`), letters, digits,
/// `_`, `-` and `.` in the local registry.
pub fn check_model_name(name: &str, unity_catalog: bool) -> std::result::Result<(), String> {
    let part_ok =
        |p: &str| !p.is_empty() && p.chars().all(|c| c.is_ascii_alphanumeric() || c == '_');
    match unity_catalog {
        true => {
            let parts: Vec<&str> = name.split('.').collect();
            if parts.len() == 3 && parts.iter().all(|p| part_ok(p)) {
                Ok(())
            } else {
                Err(format!(
                    "`{name}` is not a Unity Catalog model name: write `catalog.schema.model` (letters, digits and `_`)"
                ))
            }
        }
        false => {
            if !name.is_empty()
                && name
                    .chars()
                    .all(|c| c.is_ascii_alphanumeric() || matches!(c, '_' | '-' | '.'))
            {
                Ok(())
            } else {
                Err(format!(
                    "`{name}` is not a model name: use letters, digits, `_`, `-` and `.`"
                ))
            }
        }
    }
}

/// Whether `branch` matches a glob `pattern` (`*` any run of characters, `/` included; `?`
/// one character).
pub fn branch_matches(pattern: &str, branch: &str) -> bool {
    fn go(p: &[char], b: &[char]) -> bool {
        match (p.first(), b.first()) {
            (None, None) => true,
            (Some('*'), _) => go(&p[1..], b) || (!b.is_empty() && go(p, &b[1..])),
            (Some('?'), Some(_)) => go(&p[1..], &b[1..]),
            (Some(x), Some(y)) if x == y => go(&p[1..], &b[1..]),
            _ => false,
        }
    }
    let (p, b): (Vec<char>, Vec<char>) = (pattern.chars().collect(), branch.chars().collect());
    go(&p, &b)
}

pub(super) fn resolve(raw: Option<RawRelease>, ctx: &Ctx<'_>) -> Result<Release> {
    let Some(raw) = raw else {
        return Ok(Release::default());
    };
    let defaults = Release::default();
    let mut gates = Vec::new();
    for (metric, text) in &raw.gates {
        let (op, threshold) = parse_gate(text.get_ref()).map_err(|why| {
            Error::diagnostic(
                ctx.at(text.span(), format!("gate `{metric}`: {why}"))
                    .key(format!("release.gates.{metric}"))
                    .help(format!(
                        "write it as `{metric} = \">= 0.8\"` (>=, <=, >, < or ==, then a number)"
                    )),
            )
        })?;
        gates.push(Gate {
            metric: metric.clone(),
            op,
            threshold,
        });
    }
    if let Some(model) = &raw.model {
        check_model_name(model.get_ref(), false)
            .map_err(|why| model_error(ctx, model.span(), "release.model", why))?;
    }
    Ok(Release {
        model: raw.model.map(Spanned::into_inner),
        artifact_path: raw.artifact_path.unwrap_or(defaults.artifact_path),
        alias: raw.alias.unwrap_or(defaults.alias),
        entry: raw.entry.unwrap_or(defaults.entry),
        gates,
        must_beat: raw.must_beat.map(|m| MustBeat {
            alias: m.alias,
            metric: m.metric,
            better: m.better.unwrap_or_default(),
        }),
        deployment_job: raw.deployment_job.map(Spanned::into_inner),
    })
}

pub(super) fn model_error(ctx: &Ctx<'_>, span: Range<usize>, key: &str, why: String) -> Error {
    Error::diagnostic(
        ctx.at(span, why)
            .key(key.to_string())
            .help("Unity Catalog models are `catalog.schema.model`, such as `main.ml.churn`"),
    )
}

/// A target's `model` and `release_branches`, checked for its kind.
pub(super) fn resolve_target(
    model: Option<&Spanned<String>>,
    branches: Option<&Vec<String>>,
    databricks: bool,
    key: &str,
    ctx: &Ctx<'_>,
) -> Result<TargetRelease> {
    if let Some(m) = model {
        check_model_name(m.get_ref(), databricks)
            .map_err(|why| model_error(ctx, m.span(), &format!("{key}.model"), why))?;
    }
    Ok(TargetRelease {
        model: model.map(|m| m.get_ref().clone()),
        branches: branches.cloned().unwrap_or_default(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn gates_parse_or_say_why() {
        assert_eq!(parse_gate(">= 0.8"), Ok((Op::Ge, 0.8)));
        assert_eq!(parse_gate("<0.45"), Ok((Op::Lt, 0.45)));
        assert_eq!(parse_gate("== 1"), Ok((Op::Eq, 1.0)));
        assert!(
            parse_gate("about 0.8")
                .unwrap_err()
                .contains("does not start with")
        );
        assert!(parse_gate(">= high").unwrap_err().contains("not a number"));
        assert!(Op::Ge.holds(0.8, 0.8) && !Op::Gt.holds(0.8, 0.8));
    }

    #[test]
    fn branch_patterns_are_globs() {
        assert!(branch_matches("main", "main"));
        assert!(branch_matches("release/*", "release/1.2"));
        assert!(!branch_matches("release/*", "feature/release"));
        assert!(branch_matches("hotfix-?", "hotfix-1"));
        assert!(!branch_matches("main", "main2"));
    }

    #[test]
    fn unity_catalog_names_have_three_parts() {
        assert!(check_model_name("main.ml.churn", true).is_ok());
        assert!(check_model_name("churn", true).is_err());
        assert!(check_model_name("a..b", true).is_err());
        assert!(check_model_name("churn-model", false).is_ok());
        assert!(check_model_name("bad name", false).is_err());
    }
}
