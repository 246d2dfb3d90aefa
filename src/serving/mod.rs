//! Serving endpoints that follow an alias (`[serving.<name>]`). Once `release` or `promote`
//! has moved an alias, each endpoint of the target that routes that alias is brought to the
//! version it points at now: created (tagged as ours) or given a new config, waited for, then
//! sent the model's own input example. If any of that fails, everything goes back as it was:
//! each endpoint changed here returns to the config it served (one created here is deleted:
//! it served nothing before) and the alias to the version it held, and the command fails.
//! An endpoint that serves the right versions already is left alone.

pub mod check;
pub mod config;
mod smoke;
mod wait;

use serde::Serialize;
use serde_json::Value;

use crate::databricks::Client;
use crate::databricks::models::Models;
use crate::databricks::serving::{self, Endpoint};
use crate::error::{Error, Result};
use crate::manifest::Manifest;
use crate::manifest::serving::Serving;
use crate::output::Output;
pub use config::Route;
use wait::Waited;

/// An alias that moved (or is about to): on which target and model, from which version.
pub struct Move<'a> {
    pub model: &'a str,
    pub alias: &'a str,
    /// The version it held before (`None`: it held none).
    pub before: Option<String>,
    pub after: String,
}

/// What was done to one endpoint.
#[derive(Clone, Debug, Serialize)]
pub struct Served {
    /// The `[serving.<name>]` table.
    pub serving: String,
    pub endpoint: String,
    /// `created`, `updated`, `unchanged`, or `not_created` (its alias has no version yet).
    pub change: &'static str,
    pub routes: Vec<Route>,
    /// `passed`, `no_example` (the model logged none), or `not_sent` (nothing changed).
    pub smoke: &'static str,
}

/// Where endpoints are changed: the workspace, and whose they are.
pub struct Ctx<'a> {
    pub client: &'a Client,
    pub project: &'a str,
    pub branch_slug: &'a str,
    pub output: &'a Output,
}

/// The `[serving.*]` tables of `target` that route `alias`.
pub fn following<'m>(manifest: &'m Manifest, target: &str, alias: &str) -> Vec<&'m Serving> {
    manifest
        .serving
        .values()
        .filter(|s| s.target == target && s.traffic.iter().any(|(a, _)| a == alias))
        .collect()
}

/// Before an alias moves: every endpoint that will follow it is free or ours. Changing
/// another team's endpoint (or one made by hand) is refused while nothing has changed yet.
pub fn preflight(ctx: &Ctx<'_>, tables: &[&Serving]) -> Result<()> {
    let api = serving::Serving { client: ctx.client };
    for table in tables {
        let name = config::endpoint_name(table, ctx.project, ctx.branch_slug);
        if let Some(e) = api.get(&name)? {
            not_ours(&e, table, ctx.project)?;
        }
    }
    Ok(())
}

fn not_ours(e: &Endpoint, table: &Serving, project: &str) -> Result<()> {
    if config::is_ours(e, project) {
        return Ok(());
    }
    let owner = e.tag(config::PROJECT_TAG).map_or_else(
        || "has no `mlops.project` tag".to_string(),
        |p| format!("is project `{p}`'s"),
    );
    Err(Error::usage(format!(
        "serving endpoint `{}` exists and {owner} (created by {}): [serving.{}] does not take over an endpoint this project did not make",
        e.name,
        e.creator.as_deref().unwrap_or("someone else"),
        table.name
    ))
    .with_help(format!(
        "name another endpoint in [serving.{}] endpoint, or, if it is this project's, tag it `{} = {project}`",
        table.name,
        config::PROJECT_TAG
    )))
}

/// An endpoint changed by this command, and what it served before.
struct Touched {
    name: String,
    /// `None`: created here.
    before: Option<Value>,
}

/// Brings every endpoint following `mv.alias` to its new version; on a failure puts every
/// endpoint and the alias back and returns the failure.
pub fn follow(ctx: &Ctx<'_>, tables: &[&Serving], mv: &Move<'_>) -> Result<Vec<Served>> {
    let mut touched = Vec::new();
    let mut served = Vec::new();
    for table in tables {
        match serve_one(ctx, table, mv, &mut touched) {
            Ok(s) => served.push(s),
            Err(failure) => return Err(roll_back(ctx, mv, &touched, failure)),
        }
    }
    Ok(served)
}

/// The routes of `table` with `mv` applied: each alias's version (an alias with no version
/// yet gives its percent to the served alias); empty when the served alias has none.
fn routes(ctx: &Ctx<'_>, table: &Serving, mv: &Move<'_>) -> Result<Vec<Route>> {
    let models = Models { client: ctx.client };
    let mut out: Vec<Route> = Vec::new();
    let mut orphaned = 0;
    for (alias, percent) in &table.traffic {
        let version = if alias == mv.alias {
            Some(mv.after.clone())
        } else {
            models
                .by_alias(mv.model, alias)?
                .map(|v| v.version.to_string())
        };
        match version {
            Some(version) => out.push(Route {
                alias: alias.clone(),
                version,
                percent: *percent,
            }),
            None => orphaned += percent,
        }
    }
    match out.iter_mut().find(|r| r.alias == table.alias) {
        Some(main) => main.percent += orphaned,
        None => out.clear(),
    }
    Ok(out)
}

fn serve_one(
    ctx: &Ctx<'_>,
    table: &Serving,
    mv: &Move<'_>,
    touched: &mut Vec<Touched>,
) -> Result<Served> {
    let api = serving::Serving { client: ctx.client };
    let name = config::endpoint_name(table, ctx.project, ctx.branch_slug);
    let routes = routes(ctx, table, mv)?;
    let mut served = Served {
        serving: table.name.clone(),
        endpoint: name.clone(),
        change: "not_created",
        routes: routes.clone(),
        smoke: "not_sent",
    };
    if routes.is_empty() {
        ctx.output.note(format!(
            "serving endpoint {name} serves `{}`, which has no version of {} yet: it is created once it has one",
            table.alias, mv.model
        ));
        return Ok(served);
    }
    let want = config::desired(table, mv.model, &routes);
    let existing = api.get(&name)?;
    if let Some(e) = &existing {
        not_ours(e, table, ctx.project)?;
        let settled = e.config_update() == "NOT_UPDATING" && e.is_ready();
        if config::serves(e, &want) && settled {
            served.change = "unchanged";
            return Ok(served);
        }
    }
    let routed: Vec<String> = routes
        .iter()
        .map(|r| format!("version {} ({}%)", r.version, r.percent))
        .collect();
    ctx.output.status(
        "Serving",
        format!(
            "{} of {} on endpoint {name} ({})",
            routed.join(" + "),
            mv.model,
            if existing.is_some() {
                "a new config"
            } else {
                "a new endpoint"
            }
        ),
    );
    served.change = apply(ctx, &name, table, &want, existing, touched)?;
    let version = routes
        .iter()
        .find(|r| r.alias == mv.alias)
        .map_or(mv.after.as_str(), |r| r.version.as_str());
    served.smoke = smoke_test(ctx, &name, mv.model, version)?;
    Ok(served)
}

/// Creates or updates the endpoint and waits until it serves `want`.
fn apply(
    ctx: &Ctx<'_>,
    name: &str,
    table: &Serving,
    want: &Value,
    existing: Option<Endpoint>,
    touched: &mut Vec<Touched>,
) -> Result<&'static str> {
    let api = serving::Serving { client: ctx.client };
    let change = match existing {
        None => {
            let tags = config::tags(table, ctx.project, ctx.branch_slug);
            api.create(name, want, &tags)?;
            touched.push(Touched {
                name: name.to_string(),
                before: None,
            });
            "created"
        }
        Some(e) => {
            if e.config_update() == "IN_PROGRESS" {
                // Another change is being applied: the service refuses a second one.
                wait::wait(&api, name, ctx.output)?;
            }
            touched.push(Touched {
                name: name.to_string(),
                before: e.config.clone(),
            });
            api.update_config(name, want)?;
            "updated"
        }
    };
    match wait::wait(&api, name, ctx.output)? {
        Waited::Ready => Ok(change),
        Waited::Failed(e) => Err(Error::failed(format!(
            "serving endpoint {name} could not apply the new config: {}",
            wait::state_text(&e)
        ))
        .with_help(format!(
            "its build and server logs say why (the endpoint's page under Serving in the workspace, or `databricks serving-endpoints build-logs {name} <served entity>`)"
        ))),
        Waited::TimedOut(state) => Err(Error::failed(format!(
            "serving endpoint {name} was not ready in time (last seen {state})"
        ))
        .with_help("raise MLOPS_SERVING_TIMEOUT_SECS (default 1200) if the model takes longer to start")),
    }
}

/// Sends the model's input example; `no_example` when it logged none (said as a warning).
fn smoke_test(ctx: &Ctx<'_>, name: &str, model: &str, version: &str) -> Result<&'static str> {
    let Some(body) = smoke::example(ctx.client, model, version)? else {
        ctx.output.warn(format!(
            "version {version} of {model} logged no input example, so no smoke request was sent to {name}: log the model with `input_example=` to have each release tried"
        ));
        return Ok("no_example");
    };
    let api = serving::Serving { client: ctx.client };
    match api.query(name, &body) {
        Ok(_) => {
            ctx.output.status(
                "Smoke",
                format!("request to {name} answered (version {version})"),
            );
            Ok("passed")
        }
        Err(e) => Err(Error::failed(format!(
            "the smoke request (the model's input example) to serving endpoint {name} failed: {e}"
        ))
        .with_help(format!(
            "version {version} of {model} does not answer its own example: load it with `mlflow.pyfunc.load_model(\"models:/{model}/{version}\")` and predict on the example to see why"
        ))),
    }
}

/// Puts every endpoint changed here and the alias back as they were, and returns `failure`
/// saying so (or, when putting back failed too, saying what is left).
fn roll_back(ctx: &Ctx<'_>, mv: &Move<'_>, touched: &[Touched], failure: Error) -> Error {
    ctx.output.error(&failure);
    let mut left = Vec::new();
    for t in touched.iter().rev() {
        if let Err(e) = restore_endpoint(ctx, t) {
            left.push(format!("endpoint {} ({e})", t.name));
        }
    }
    if let Err(e) = restore_alias(ctx, mv) {
        left.push(format!("alias `{}` ({e})", mv.alias));
    }
    let back = match &mv.before {
        Some(v) => format!("alias `{}` is back on version {v}", mv.alias),
        None => format!("alias `{}` is removed again", mv.alias),
    };
    if left.is_empty() {
        Error::failed(format!(
            "version {} of {} was not served: {back}, and the endpoints serve what they did before",
            mv.after, mv.model
        ))
        .with_help("fix what is said above and release again")
    } else {
        Error::failed(format!(
            "version {} of {} was not served, and putting back failed for {}",
            mv.after,
            mv.model,
            left.join(", ")
        ))
        .with_help(format!(
            "set them back by hand: `cargo mlops promote --alias {} --version <previous>`",
            mv.alias
        ))
    }
}

fn restore_endpoint(ctx: &Ctx<'_>, t: &Touched) -> Result<()> {
    let api = serving::Serving { client: ctx.client };
    let Some(before) = &t.before else {
        api.delete(&t.name)?;
        ctx.output.status(
            "Deleted",
            format!("serving endpoint {} (made by this release)", t.name),
        );
        return Ok(());
    };
    let Some(now) = api.get(&t.name)? else {
        return Err(Error::remote("it is gone"));
    };
    let input = serving::as_input(before);
    if !(config::serves(&now, &input) && now.is_ready()) {
        api.update_config(&t.name, &input)?;
        if let Waited::Failed(_) | Waited::TimedOut(_) = wait::wait(&api, &t.name, ctx.output)? {
            return Err(Error::remote("its previous config did not apply again"));
        }
    }
    let versions: Vec<String> = serving::served_of(Some(before))
        .into_iter()
        .map(|(_, v)| v)
        .collect();
    ctx.output.status(
        "Restored",
        format!(
            "serving endpoint {} to version {}",
            t.name,
            versions.join(", ")
        ),
    );
    Ok(())
}

fn restore_alias(ctx: &Ctx<'_>, mv: &Move<'_>) -> Result<()> {
    let models = Models { client: ctx.client };
    match &mv.before {
        Some(v) => {
            let n: u64 = v
                .parse()
                .map_err(|_| Error::remote(format!("`{v}` is not a version number")))?;
            models.set_alias(mv.model, mv.alias, n)?;
        }
        None => models.delete_alias(mv.model, mv.alias)?,
    }
    let now = models.by_alias(mv.model, mv.alias)?.map(|v| v.version);
    if now.map(|n| n.to_string()) != mv.before {
        return Err(Error::remote("the registry does not read it back"));
    }
    ctx.output.status(
        "Restored",
        match &mv.before {
            Some(v) => format!("alias `{}` of {} to version {v}", mv.alias, mv.model),
            None => format!("alias `{}` of {} removed", mv.alias, mv.model),
        },
    );
    Ok(())
}
