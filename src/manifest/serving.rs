//! `[serving.<name>]`: a model serving endpoint that follows an alias of the target's model.
//! Checked as the Serving Endpoints API takes it (databricks-sdk-py `service/serving.py`:
//! `ServedEntityInput.workload_size` is `Small`, `Medium` or `Large`; an endpoint name holds
//! letters, digits, `-` and `_`; a `TrafficConfig`'s routes share 100 percent).

use std::collections::BTreeMap;

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use toml::Spanned;

use super::ctx::Ctx;
use super::jobs::fail;
use crate::error::Result;
use crate::support::diagnostic::suggestion;

/// The workload sizes the service documents (`ServedEntityInput.workload_size`).
pub const WORKLOAD_SIZES: &[&str] = &["Small", "Medium", "Large"];

/// `[serving.<name>]` as written.
#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct RawServing {
    /// The Databricks target whose model it serves.
    #[schemars(with = "String")]
    pub target: Spanned<String>,
    /// The endpoint's name; `{project}`, and `{branch}` for an endpoint per branch (a preview
    /// that `gc` removes with its branch).
    #[schemars(with = "String")]
    pub endpoint: Spanned<String>,
    /// The alias it serves (default: `[release] alias`).
    #[schemars(with = "Option<String>")]
    pub alias: Option<Spanned<String>>,
    /// `Small`, `Medium` or `Large` (default `Small`).
    #[schemars(with = "Option<String>")]
    pub workload_size: Option<Spanned<String>>,
    /// Whether it scales down to zero when idle (default true).
    pub scale_to_zero: Option<bool>,
    /// A canary: the percent of requests each alias gets, summing to 100, e.g.
    /// `{ champion = 90, challenger = 10 }` (default: all to `alias`).
    #[serde(default)]
    #[schemars(with = "BTreeMap<String, u32>")]
    pub traffic: Option<Spanned<BTreeMap<String, u32>>>,
}

/// `[serving.<name>]`, resolved.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Serving {
    pub name: String,
    pub target: String,
    /// The endpoint name as written (placeholders filled when a plan is made).
    pub endpoint: String,
    /// One endpoint per branch (`{branch}` in its name).
    pub per_branch: bool,
    pub alias: String,
    pub workload_size: String,
    pub scale_to_zero: bool,
    /// Alias and percent of the requests, summing to 100; `alias` alone at 100 by default.
    pub traffic: Vec<(String, u32)>,
}

/// What a serving table is checked against: each target and whether it is a Databricks one,
/// and the aliases the project sets or reads (`[release] alias`, `must_beat`'s).
pub(super) struct Known<'a> {
    pub targets: &'a BTreeMap<String, bool>,
    pub aliases: &'a [&'a str],
    pub release_alias: &'a str,
}

pub(super) fn resolve(
    raw: BTreeMap<String, Spanned<RawServing>>,
    known: &Known<'_>,
    ctx: &Ctx<'_>,
) -> Result<BTreeMap<String, Serving>> {
    raw.into_iter()
        .map(|(name, spanned)| Ok((name.clone(), resolve_one(name, spanned, known, ctx)?)))
        .collect()
}

fn name_chars_ok(text: &str) -> bool {
    !text.is_empty()
        && text
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_')
}

fn resolve_one(
    name: String,
    spanned: Spanned<RawServing>,
    known: &Known<'_>,
    ctx: &Ctx<'_>,
) -> Result<Serving> {
    let span = spanned.span();
    let raw = spanned.into_inner();
    let key = format!("serving.{name}");
    if !name_chars_ok(&name) {
        let help = "use letters, digits, `-` and `_`".to_string();
        return Err(fail(
            ctx,
            span,
            format!("invalid serving name `{name}`"),
            key,
            help,
        ));
    }
    let target = raw.target.get_ref();
    if known.targets.get(target) != Some(&true) {
        let databricks = known
            .targets
            .iter()
            .filter(|(_, d)| **d)
            .map(|(n, _)| n.as_str());
        return Err(fail(
            ctx,
            raw.target.span(),
            format!("`{target}` is not a Databricks target: only a workspace serves models"),
            format!("{key}.target"),
            suggestion("targets", target, databricks),
        ));
    }
    let endpoint = raw.endpoint.get_ref();
    let filled = endpoint.replace("{project}", "p").replace("{branch}", "b");
    if !name_chars_ok(&filled) {
        return Err(fail(
            ctx,
            raw.endpoint.span(),
            format!("invalid endpoint name `{endpoint}`"),
            format!("{key}.endpoint"),
            "an endpoint name holds letters, digits, `-` and `_`, and the placeholders `{project}` and `{branch}` (a branch's `/` becomes `-`)".into(),
        ));
    }
    let alias = match &raw.alias {
        Some(a) => known_alias(a, &format!("{key}.alias"), known, ctx)?,
        None => known.release_alias.to_string(),
    };
    let workload_size = match &raw.workload_size {
        Some(w) if !WORKLOAD_SIZES.contains(&w.get_ref().as_str()) => {
            return Err(fail(
                ctx,
                w.span(),
                format!("unknown workload size `{}`", w.get_ref()),
                format!("{key}.workload_size"),
                suggestion(
                    "workload sizes",
                    w.get_ref(),
                    WORKLOAD_SIZES.iter().copied(),
                ),
            ));
        }
        Some(w) => w.get_ref().clone(),
        None => "Small".into(),
    };
    let traffic = traffic(&key, &alias, raw.traffic.as_ref(), known, ctx)?;
    Ok(Serving {
        per_branch: endpoint.contains("{branch}"),
        endpoint: endpoint.clone(),
        name,
        target: target.clone(),
        alias,
        workload_size,
        scale_to_zero: raw.scale_to_zero.unwrap_or(true),
        traffic,
    })
}

fn known_alias(
    alias: &Spanned<String>,
    key: &str,
    known: &Known<'_>,
    ctx: &Ctx<'_>,
) -> Result<String> {
    let a = alias.get_ref();
    if known.aliases.contains(&a.as_str()) {
        return Ok(a.clone());
    }
    Err(fail(
        ctx,
        alias.span(),
        format!("unknown alias `{a}`: no release sets it and no `must_beat` reads it"),
        key.to_string(),
        suggestion("aliases", a, known.aliases.iter().copied())
            + "; the aliases are `[release] alias` and `[release] must_beat`'s",
    ))
}

/// The canary's routes: known aliases, the served one among them, summing to 100.
fn traffic(
    key: &str,
    alias: &str,
    raw: Option<&Spanned<BTreeMap<String, u32>>>,
    known: &Known<'_>,
    ctx: &Ctx<'_>,
) -> Result<Vec<(String, u32)>> {
    let Some(raw) = raw else {
        return Ok(vec![(alias.to_string(), 100)]);
    };
    let key = format!("{key}.traffic");
    for a in raw.get_ref().keys() {
        known_alias(&Spanned::new(raw.span(), a.clone()), &key, known, ctx)?;
    }
    let sum: u32 = raw.get_ref().values().sum();
    if sum != 100 || !raw.get_ref().contains_key(alias) {
        let routes: Vec<String> = raw
            .get_ref()
            .iter()
            .map(|(a, p)| format!("{a} = {p}"))
            .collect();
        return Err(fail(
            ctx,
            raw.span(),
            format!(
                "the traffic split {{ {} }} gives {sum} percent",
                routes.join(", ")
            ),
            key,
            format!(
                "the percents must sum to 100, and the served alias `{alias}` must be one of the routes"
            ),
        ));
    }
    Ok(raw.get_ref().iter().map(|(a, p)| (a.clone(), *p)).collect())
}

#[cfg(test)]
mod tests {
    use std::path::Path;

    const BASE: &str = "[project]\nname = \"churn\"\n[release]\nmodel = \"main.ml.churn\"\nmust_beat = { alias = \"champion\", metric = \"accuracy\" }\n[targets.dev]\nkind = \"databricks\"\nartifacts = \"/Volumes/main/ml/a\"\nexperiment = \"/Shared/{project}/{branch}\"\n";

    fn parse(serving: &str) -> crate::error::Result<crate::manifest::Manifest> {
        crate::manifest::parse(Path::new("/proj/mlops.toml"), &format!("{BASE}{serving}"))
    }

    /// The error's key, message and help.
    fn refused(serving: &str) -> (String, String, String) {
        let err = parse(serving).expect_err("the table should be refused");
        assert_eq!(err.exit_code(), 2);
        let d = err.diagnostic_ref().expect("a diagnostic").clone();
        (
            d.key.unwrap_or_default(),
            d.message,
            d.help.unwrap_or_default(),
        )
    }

    #[test]
    fn a_serving_table_gets_its_defaults() {
        let m = parse("[serving.preview]\ntarget = \"dev\"\nendpoint = \"{project}-{branch}\"\n")
            .unwrap();
        let s = &m.serving["preview"];
        assert_eq!(s.alias, "challenger");
        assert_eq!(s.workload_size, "Small");
        assert!(s.scale_to_zero && s.per_branch);
        assert_eq!(s.traffic, vec![("challenger".to_string(), 100)]);
        let m = parse("[serving.prod]\ntarget = \"dev\"\nendpoint = \"churn\"\nalias = \"champion\"\nworkload_size = \"Medium\"\nscale_to_zero = false\ntraffic = { champion = 90, challenger = 10 }\n").unwrap();
        let s = &m.serving["prod"];
        assert!(!s.per_branch && !s.scale_to_zero);
        assert_eq!(s.traffic.len(), 2);
    }

    #[test]
    fn bad_serving_tables_are_manifest_errors_with_their_key() {
        let (key, msg, help) =
            refused("[serving.p]\ntarget = \"dev\"\nendpoint = \"churn\"\nalias = \"champoin\"\n");
        assert_eq!(key, "serving.p.alias");
        assert!(msg.contains("unknown alias `champoin`"), "{msg}");
        assert!(help.contains("champion"), "{help}");
        let (key, msg, help) = refused(
            "[serving.p]\ntarget = \"dev\"\nendpoint = \"churn\"\nworkload_size = \"small\"\n",
        );
        assert_eq!(key, "serving.p.workload_size");
        assert!(msg.contains("unknown workload size `small`"), "{msg}");
        assert!(help.contains("Small"), "{help}");
        let (key, msg, help) = refused(
            "[serving.p]\ntarget = \"dev\"\nendpoint = \"churn\"\ntraffic = { challenger = 20, champion = 90 }\n",
        );
        assert_eq!(key, "serving.p.traffic");
        assert!(msg.contains("gives 110 percent"), "{msg}");
        assert!(help.contains("sum to 100"), "{help}");
        let (key, ..) = refused(
            "[serving.p]\ntarget = \"dev\"\nendpoint = \"churn\"\ntraffic = { champion = 100 }\n",
        );
        assert_eq!(key, "serving.p.traffic", "the served alias is not routed");
        let (key, msg, _) = refused("[serving.p]\ntarget = \"local\"\nendpoint = \"churn\"\n");
        assert_eq!(key, "serving.p.target");
        assert!(msg.contains("not a Databricks target"), "{msg}");
        let (key, ..) = refused("[serving.p]\ntarget = \"dev\"\nendpoint = \"churn.{branch}\"\n");
        assert_eq!(key, "serving.p.endpoint");
    }
}
