//! The CI integrations users copy: the GitHub Action (`action.yml`), the Azure Pipelines step
//! template (`.azure-pipelines/cargo-mlops.yml`) and the CI recipes of docs/ci.md (each a file in
//! `fixtures/recipes`, shown verbatim there). Each loads as YAML; every cargo-mlops
//! command in them exists and every flag it uses is one `--help` lists; versions are this
//! crate's; the Action passes on every output the tool sets. (`scripts/package-check` also
//! runs zizmor and the SchemaStore schemas over them.)

use std::path::{Path, PathBuf};

use serde_yaml::Value;

use crate::support::bin;

fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

fn load(rel: &str) -> (String, Value) {
    let text = std::fs::read_to_string(root().join(rel)).unwrap();
    let value = serde_yaml::from_str(&text).unwrap_or_else(|e| panic!("{rel}: {e}"));
    (text, value)
}

const VERSION: &str = env!("CARGO_PKG_VERSION");

/// Every string in a YAML document, with the key it is under.
fn strings<'a>(v: &'a Value, key: &str, out: &mut Vec<(String, &'a str)>) {
    match v {
        Value::String(s) => out.push((key.to_string(), s)),
        Value::Sequence(items) => items.iter().for_each(|i| strings(i, key, out)),
        Value::Mapping(map) => {
            for (k, v) in map {
                strings(v, k.as_str().unwrap_or(""), out);
            }
        }
        _ => {}
    }
}

/// The cargo-mlops command lines in a document: `command:` inputs and parameters, and
/// `cargo mlops ...`/`cargo-mlops ...` in scripts.
fn commands(doc: &Value) -> Vec<String> {
    let mut all = Vec::new();
    strings(doc, "", &mut all);
    let mut out = Vec::new();
    for (key, text) in all {
        if matches!(key.as_str(), "description" | "name" | "displayName") {
            continue;
        }
        if key == "command" {
            out.push(text.to_string());
            continue;
        }
        for line in text.lines() {
            for start in ["cargo mlops ", "cargo-mlops "] {
                if let Some(i) = line.find(start) {
                    out.push(line[i + start.len()..].to_string());
                }
            }
        }
    }
    out
}

/// The subcommand exists and `--help` lists each of its long flags.
fn check_command(file: &str, command: &str) {
    let words = shlex::split(command).unwrap_or_else(|| panic!("{file}: `{command}`"));
    let sub = &words[0];
    let help = std::process::Command::new(bin())
        .args([sub.as_str(), "--help"])
        .output()
        .unwrap();
    assert!(
        help.status.success(),
        "{file}: `cargo mlops {command}`: no subcommand `{sub}`"
    );
    let help = String::from_utf8_lossy(&help.stdout);
    for flag in words.iter().filter(|w| w.starts_with("--")) {
        let flag = flag.split('=').next().unwrap();
        assert!(
            help.contains(&format!("{flag} ")) || help.contains(&format!("{flag}\n")),
            "{file}: `cargo mlops {command}`: `{sub} --help` does not list {flag}"
        );
    }
}

#[test]
fn the_action_installs_the_pinned_wheel_and_passes_on_every_output() {
    let (_, action) = load("action.yml");
    assert_eq!(action["runs"]["using"], "composite");
    assert_eq!(action["inputs"]["version"]["default"], VERSION);
    let outputs: Vec<&str> = action["outputs"]
        .as_mapping()
        .unwrap()
        .keys()
        .map(|k| k.as_str().unwrap())
        .collect();
    let mut want = cargo_mlops::ci::OUTPUTS.to_vec();
    let mut got = outputs.clone();
    want.sort();
    got.sort();
    assert_eq!(got, want, "action.yml's outputs");
    for name in &outputs {
        assert_eq!(
            action["outputs"][*name]["value"],
            format!("${{{{ steps.mlops.outputs.{name} }}}}")
        );
    }
    let install = action["runs"]["steps"][0]["run"].as_str().unwrap();
    assert!(
        install.contains("\"${MLOPS_WHEEL:-cargo-mlops==$MLOPS_VERSION}\""),
        "{install}"
    );
    assert_eq!(action["runs"]["steps"][1]["id"], "mlops");

    let (_, azure) = load(".azure-pipelines/cargo-mlops.yml");
    let params = azure["parameters"].as_sequence().unwrap();
    let default_version = params
        .iter()
        .find(|p| p["name"] == "version")
        .map(|p| p["default"].clone())
        .unwrap();
    assert_eq!(default_version, VERSION);
    assert_eq!(
        azure["steps"][1]["name"], "${{ parameters.name }}",
        "the step's name is what the outputs are read under"
    );
}

#[test]
fn every_recipe_loads_uses_real_commands_and_is_in_the_guide() {
    let readme = std::fs::read_to_string(root().join("docs/ci.md")).unwrap();
    let dir = root().join("fixtures/recipes");
    let mut files: Vec<PathBuf> = std::fs::read_dir(&dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .collect();
    files.sort();
    assert!(files.len() >= 3, "{files:?}");
    let mut seen_commands = 0;
    for path in files.iter().chain([
        &root().join("action.yml"),
        &root().join(".github/workflows/ci.yml"),
    ]) {
        let rel = path.strip_prefix(root()).unwrap().to_str().unwrap();
        let (text, doc) = load(rel);
        if rel.starts_with("fixtures/recipes/") {
            assert!(
                readme.contains(&format!("```yaml\n{text}```")),
                "docs/ci.md does not show {rel} as it is"
            );
            // Our Action and template at this crate's version.
            if text.contains("cargo-mlops/cargo-mlops") {
                assert!(
                    text.contains(&format!("cargo-mlops/cargo-mlops@v{VERSION}"))
                        || text.contains(&format!("refs/tags/v{VERSION}")),
                    "{rel} pins another version"
                );
            }
        }
        // Steps that use our Action give only inputs it declares (what actionlint would check).
        let (_, action) = load("action.yml");
        let inputs = action["inputs"].as_mapping().unwrap();
        for job in doc["jobs"]
            .as_mapping()
            .into_iter()
            .flat_map(|j| j.values())
        {
            for step in job["steps"].as_sequence().into_iter().flatten() {
                let uses = step["uses"].as_str().unwrap_or("");
                if uses == "./" || uses.starts_with("cargo-mlops/cargo-mlops@") {
                    for key in step["with"].as_mapping().unwrap().keys() {
                        assert!(
                            inputs.contains_key(key),
                            "{rel}: the Action has no input {key:?}"
                        );
                    }
                    assert!(
                        step["with"]["command"].is_string(),
                        "{rel}: `command` is required"
                    );
                }
            }
        }
        for command in commands(&doc) {
            check_command(rel, &command);
            seen_commands += 1;
        }
    }
    assert!(seen_commands >= 6, "{seen_commands} commands checked");
}

#[test]
fn the_release_archives_are_where_binstall_looks() {
    let manifest: toml::Value =
        toml::from_str(&std::fs::read_to_string(root().join("Cargo.toml")).unwrap()).unwrap();
    let binstall = &manifest["package"]["metadata"]["binstall"];
    let url = binstall["pkg-url"].as_str().unwrap();
    let (_, workflow) = load(".github/workflows/release.yml");
    let archive = workflow["jobs"]["binaries"]["steps"]
        .as_sequence()
        .unwrap()
        .iter()
        .find_map(|s| {
            s["run"]
                .as_str()
                .filter(|r| r.contains("name=\"cargo-mlops-v"))
        })
        .expect("the archive step");
    // The workflow names archives `cargo-mlops-v$VERSION-$TARGET` (+ .tar.gz or .zip), with
    // the binary in a folder of that name: what pkg-url and bin-dir say.
    assert!(archive.contains("name=\"cargo-mlops-v$VERSION-$TARGET\""));
    assert!(url.ends_with("/v{ version }/cargo-mlops-v{ version }-{ target }{ archive-suffix }"));
    assert_eq!(
        binstall["bin-dir"].as_str().unwrap(),
        "cargo-mlops-v{ version }-{ target }/{ bin }{ binary-ext }"
    );
    let targets: Vec<&str> = workflow["jobs"]["binaries"]["strategy"]["matrix"]["include"]
        .as_sequence()
        .unwrap()
        .iter()
        .map(|t| t["target"].as_str().unwrap())
        .collect();
    for t in [
        "x86_64-unknown-linux-musl",
        "aarch64-unknown-linux-musl",
        "x86_64-apple-darwin",
        "aarch64-apple-darwin",
        "x86_64-pc-windows-msvc",
    ] {
        assert!(targets.contains(&t), "{t} is not built");
    }
    assert!(Path::new(&root().join("pyproject.toml")).is_file());
}
