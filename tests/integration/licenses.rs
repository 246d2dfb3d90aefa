//! The dependency policy in `deny.toml`, checked from `cargo metadata` without compiling
//! cargo-deny on every CI machine (its source build was a sixth of CI's time): every package
//! in the locked graph has a license expression that the allow list satisfies, no banned crate
//! is in the graph, and no dependency asks for a wildcard version. `cargo deny check licenses
//! bans` reads the same file and agrees, for whoever has it installed.

use std::collections::BTreeSet;
use std::path::Path;

struct Policy {
    allow: BTreeSet<String>,
    banned: BTreeSet<String>,
}

fn policy() -> Policy {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let text = std::fs::read_to_string(root.join("deny.toml")).unwrap();
    let deny: toml::Value = toml::from_str(&text).unwrap();
    let strings = |v: &toml::Value| v.as_str().unwrap().to_string();
    let allow = deny["licenses"]["allow"]
        .as_array()
        .unwrap()
        .iter()
        .map(strings)
        .collect();
    let banned = deny["bans"]["deny"]
        .as_array()
        .unwrap()
        .iter()
        .map(|ban| strings(&ban["crate"]))
        .collect();
    assert_eq!(
        deny["bans"]["wildcards"].as_str(),
        Some("deny"),
        "deny.toml: [bans] wildcards is the policy this test checks"
    );
    Policy { allow, banned }
}

/// The whole locked graph, dev-dependencies included, as cargo-deny sees it.
fn metadata() -> serde_json::Value {
    crate::support::json_of(
        std::process::Command::new(env!("CARGO"))
            .args(["metadata", "--format-version", "1", "--locked"])
            .current_dir(env!("CARGO_MANIFEST_DIR")),
    )
}

/// Why a license expression is not allowed, or None when it is. Lax parsing, as cargo-deny
/// does: crates.io still holds `MIT/Apache-2.0`.
fn refusal(expression: &str, allow: &BTreeSet<String>) -> Option<String> {
    let parsed = match spdx::Expression::parse_mode(expression, spdx::ParseMode::LAX) {
        Ok(parsed) => parsed,
        Err(e) => return Some(format!("not an SPDX expression: {e}")),
    };
    match parsed.evaluate_with_failures(|req| allow.contains(&req.to_string())) {
        Ok(()) => None,
        Err(failed) => Some(format!(
            "not in deny.toml's allow list: {}",
            failed
                .iter()
                .map(|f| f.req.to_string())
                .collect::<Vec<_>>()
                .join(", ")
        )),
    }
}

#[test]
fn the_policy_reads_expressions_as_cargo_deny_does() {
    let allow: BTreeSet<String> = ["MIT", "Apache-2.0", "Apache-2.0 WITH LLVM-exception"]
        .map(String::from)
        .into();
    assert_eq!(refusal("MIT OR Apache-2.0", &allow), None);
    assert_eq!(refusal("MIT/Apache-2.0", &allow), None);
    assert_eq!(
        refusal("Apache-2.0 WITH LLVM-exception OR GPL-3.0", &allow),
        None
    );
    let refused = refusal("MIT AND GPL-3.0-only", &allow).unwrap();
    assert!(refused.contains("GPL-3.0-only"), "{refused}");
    assert!(refusal("not a license (", &allow).is_some());
}

#[test]
fn every_dependency_is_allowed_by_deny_toml() {
    let policy = policy();
    let metadata = metadata();
    let ours: BTreeSet<&str> = metadata["workspace_members"]
        .as_array()
        .unwrap()
        .iter()
        .map(|id| id.as_str().unwrap())
        .collect();
    let mut problems = Vec::new();
    for package in metadata["packages"].as_array().unwrap() {
        let name = package["name"].as_str().unwrap();
        let version = package["version"].as_str().unwrap();
        if policy.banned.contains(name) {
            problems.push(format!("{name} {version}: banned by deny.toml [bans] deny"));
        }
        for dep in package["dependencies"].as_array().unwrap() {
            let local = dep["path"].is_string();
            if dep["req"].as_str() == Some("*") && !local {
                let dep_name = dep["name"].as_str().unwrap();
                problems.push(format!(
                    "{name} {version}: asks for {dep_name} = \"*\" (wildcards are denied)"
                ));
            }
        }
        if ours.contains(package["id"].as_str().unwrap()) {
            continue;
        }
        match package["license"].as_str() {
            None => problems.push(format!(
                "{name} {version}: no SPDX license field; add a [[licenses.clarify]] to deny.toml"
            )),
            Some(expression) => {
                if let Some(why) = refusal(expression, &policy.allow) {
                    problems.push(format!("{name} {version} ({expression}): {why}"));
                }
            }
        }
    }
    assert!(problems.is_empty(), "{}", problems.join("\n"));
    // The check saw the graph, not an empty list.
    assert!(metadata["packages"].as_array().unwrap().len() > 100);
}
