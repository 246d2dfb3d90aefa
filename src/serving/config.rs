//! What an endpoint should serve: its name with the placeholders filled, the tags that make it
//! ours, and the config (`EndpointCoreConfigInput`, databricks-sdk-py `service/serving.py`)
//! that routes each alias's percent to the version the alias points at.

use serde::Serialize;
use serde_json::{Value, json};

use crate::databricks::serving::Endpoint;
use crate::manifest::serving::Serving;

/// The tags `release` puts on an endpoint it creates; `mlops.project` is what makes an
/// endpoint ours (an endpoint without it is never changed or deleted).
pub const PROJECT_TAG: &str = "mlops.project";
pub const BRANCH_TAG: &str = "mlops.branch";
pub const SERVING_TAG: &str = "mlops.serving";
/// `true` on an endpoint per branch (`{branch}` in its name): gc deletes it with its branch.
pub const PER_BRANCH_TAG: &str = "mlops.per_branch";

/// One route of the traffic: an alias, the version it points at, its percent.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Route {
    pub alias: String,
    pub version: String,
    pub percent: u32,
}

/// The endpoint name of `serving` for the plan's project and branch (a project name's
/// characters an endpoint name cannot hold become `-`; the branch is its slug).
pub fn endpoint_name(serving: &Serving, project: &str, branch_slug: &str) -> String {
    let project: String = project
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || c == '-' || c == '_' {
                c
            } else {
                '-'
            }
        })
        .collect();
    serving
        .endpoint
        .replace("{project}", &project)
        .replace("{branch}", branch_slug)
}

/// The tags of an endpoint `release` creates.
pub fn tags(serving: &Serving, project: &str, branch_slug: &str) -> Vec<(String, String)> {
    vec![
        (PROJECT_TAG.into(), project.to_string()),
        (BRANCH_TAG.into(), branch_slug.to_string()),
        (SERVING_TAG.into(), serving.name.clone()),
        (PER_BRANCH_TAG.into(), serving.per_branch.to_string()),
    ]
}

/// Whether the endpoint is this project's (by its tags).
pub fn is_ours(endpoint: &Endpoint, project: &str) -> bool {
    endpoint.tag(PROJECT_TAG) == Some(project)
}

/// The served entity's name for `version` of `model`: the model's own name and the version
/// (`churn-3`), as the service names an entity when the config names none.
fn entity_name(model: &str, version: &str) -> String {
    let leaf = model.rsplit('.').next().unwrap_or(model);
    format!("{leaf}-{version}")
}

/// The config serving `routes` (percents of the same version add up into one entity).
pub fn desired(serving: &Serving, model: &str, routes: &[Route]) -> Value {
    let mut by_version: Vec<(String, u32)> = Vec::new();
    for r in routes {
        match by_version.iter_mut().find(|(v, _)| *v == r.version) {
            Some((_, p)) => *p += r.percent,
            None => by_version.push((r.version.clone(), r.percent)),
        }
    }
    by_version.sort_by_key(|(v, _)| v.parse::<u64>().unwrap_or(u64::MAX));
    let entities: Vec<Value> = by_version
        .iter()
        .map(|(v, _)| {
            json!({
                "name": entity_name(model, v),
                "entity_name": model,
                "entity_version": v,
                "workload_size": serving.workload_size,
                "scale_to_zero_enabled": serving.scale_to_zero,
            })
        })
        .collect();
    let routes: Vec<Value> = by_version
        .iter()
        .map(
            |(v, p)| json!({ "served_model_name": entity_name(model, v), "traffic_percentage": p }),
        )
        .collect();
    json!({ "served_entities": entities, "traffic_config": { "routes": routes } })
}

/// What decides whether a config serves the same thing: each entity's model, version, size
/// and scaling, and each route's entity and percent.
#[derive(PartialEq, Eq)]
struct Essence {
    entities: Vec<(String, String, String, bool)>,
    routes: Vec<(String, u64)>,
}

fn essence(config: &Value) -> Essence {
    let mut entities: Vec<_> = config["served_entities"]
        .as_array()
        .into_iter()
        .flatten()
        .map(|e| {
            (
                e["entity_name"].as_str().unwrap_or_default().to_string(),
                e["entity_version"].as_str().unwrap_or_default().to_string(),
                e["workload_size"].as_str().unwrap_or_default().to_string(),
                e["scale_to_zero_enabled"].as_bool().unwrap_or(false),
            )
        })
        .collect();
    entities.sort();
    let mut routes: Vec<_> = config["traffic_config"]["routes"]
        .as_array()
        .into_iter()
        .flatten()
        .map(|r| {
            let name = r["served_model_name"]
                .as_str()
                .or_else(|| r["served_entity_name"].as_str())
                .unwrap_or_default();
            (
                name.to_string(),
                r["traffic_percentage"].as_u64().unwrap_or(0),
            )
        })
        .collect();
    routes.sort();
    Essence { entities, routes }
}

/// Whether the endpoint serves `config` already (a config with one entity and no routes
/// sends it everything, as one with a single route of 100 does).
pub fn serves(endpoint: &Endpoint, config: &Value) -> bool {
    let Some(current) = &endpoint.config else {
        return false;
    };
    let mut have = essence(current);
    let want = essence(config);
    if have.routes.is_empty() && have.entities.len() == 1 {
        have.routes = want.routes.clone();
    }
    have == want
}

#[cfg(test)]
mod tests {
    use super::*;

    fn serving() -> Serving {
        Serving {
            name: "preview".into(),
            target: "dev".into(),
            endpoint: "{project}-{branch}".into(),
            per_branch: true,
            alias: "challenger".into(),
            workload_size: "Small".into(),
            scale_to_zero: true,
            traffic: vec![("challenger".into(), 100)],
        }
    }

    fn route(alias: &str, version: &str, percent: u32) -> Route {
        Route {
            alias: alias.into(),
            version: version.into(),
            percent,
        }
    }

    #[test]
    fn routes_to_one_version_make_one_entity() {
        let c = desired(
            &serving(),
            "main.ml.churn",
            &[route("champion", "3", 90), route("challenger", "3", 10)],
        );
        assert_eq!(c["served_entities"].as_array().unwrap().len(), 1);
        assert_eq!(c["served_entities"][0]["name"], "churn-3");
        assert_eq!(c["served_entities"][0]["entity_version"], "3");
        assert_eq!(c["traffic_config"]["routes"][0]["traffic_percentage"], 100);
        let canary = desired(
            &serving(),
            "main.ml.churn",
            &[route("champion", "10", 90), route("challenger", "9", 10)],
        );
        let routes = &canary["traffic_config"]["routes"];
        assert_eq!(routes[0]["served_model_name"], "churn-9");
        assert_eq!(routes[1]["traffic_percentage"], 90);
    }

    #[test]
    fn an_endpoint_serves_a_config_when_versions_sizes_and_routes_agree() {
        let want = desired(&serving(), "m.s.churn", &[route("challenger", "2", 100)]);
        let mut endpoint: Endpoint =
            serde_json::from_value(json!({"name": "e", "config": want.clone()})).unwrap();
        assert!(serves(&endpoint, &want));
        // The service's output form: a config_version, entity states, no routes.
        let mut out = want.clone();
        out["config_version"] = json!(4);
        out["served_entities"][0]["state"] = json!({"deployment": "DEPLOYMENT_READY"});
        out.as_object_mut().unwrap().remove("traffic_config");
        endpoint.config = Some(out);
        assert!(serves(&endpoint, &want));
        let other = desired(&serving(), "m.s.churn", &[route("challenger", "3", 100)]);
        assert!(!serves(&endpoint, &other));
        let mut bigger = serving();
        bigger.workload_size = "Medium".into();
        let bigger = desired(&bigger, "m.s.churn", &[route("challenger", "2", 100)]);
        assert!(!serves(&endpoint, &bigger));
        endpoint.config = None;
        assert!(!serves(&endpoint, &want));
    }

    #[test]
    fn endpoint_names_fill_project_and_branch_slug() {
        assert_eq!(
            endpoint_name(&serving(), "churn.v2", "feature-x-1a2b3c4d"),
            "churn-v2-feature-x-1a2b3c4d"
        );
    }
}
