//! The README is a front door over the `docs/` guide: short, every relative link in either
//! resolves (file and heading), and every `mlops.toml` snippet they show is one the schema
//! and the manifest loader accept, so the docs cannot drift from the tool.

use std::path::PathBuf;

fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

/// README.md and every page under docs/.
fn pages() -> Vec<PathBuf> {
    let mut pages = vec![root().join("README.md")];
    let mut docs: Vec<PathBuf> = std::fs::read_dir(root().join("docs"))
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "md"))
        .collect();
    docs.sort();
    pages.extend(docs);
    pages
}

/// The text outside fenced code blocks (links in code are not links).
fn prose(text: &str) -> String {
    let mut fenced = false;
    let mut out = String::new();
    for line in text.lines() {
        if line.trim_start().starts_with("```") {
            fenced = !fenced;
            continue;
        }
        if !fenced {
            out.push_str(line);
            out.push('\n');
        }
    }
    out
}

/// The targets of `[text](target)` links.
fn links(text: &str) -> Vec<String> {
    let mut out = Vec::new();
    let mut rest = text;
    while let Some(i) = rest.find("](") {
        let tail = &rest[i + 2..];
        let Some(end) = tail.find(')') else { break };
        out.push(tail[..end].trim().to_string());
        rest = &tail[end..];
    }
    out
}

/// GitHub's anchor for a heading: lower case, punctuation dropped, spaces as `-`.
fn anchor(heading: &str) -> String {
    heading
        .trim()
        .to_lowercase()
        .chars()
        .filter(|c| c.is_alphanumeric() || *c == ' ' || *c == '-' || *c == '_')
        .map(|c| if c == ' ' { '-' } else { c })
        .collect()
}

fn anchors(text: &str) -> Vec<String> {
    prose(text)
        .lines()
        .filter(|l| l.starts_with('#'))
        .map(|l| anchor(l.trim_start_matches('#')))
        .collect()
}

#[test]
fn the_readme_is_a_front_door_with_the_two_set_up_commands() {
    let readme = std::fs::read_to_string(root().join("README.md")).unwrap();
    let lines = readme.lines().count();
    assert!(lines <= 400, "README.md has {lines} lines (at most 400)");
    for command in ["scripts/demo", "scripts/test"] {
        assert!(readme.contains(command), "README.md lacks `{command}`");
    }
    for page in [
        "guide.md",
        "manifest.md",
        "commands.md",
        "performance.md",
        "internals.md",
    ] {
        assert!(
            readme.contains(&format!("docs/{page}")),
            "README.md does not link docs/{page}"
        );
    }
}

#[test]
fn every_relative_link_resolves_to_a_file_and_heading() {
    let mut broken = Vec::new();
    let mut checked = 0;
    for page in pages() {
        let text = std::fs::read_to_string(&page).unwrap();
        for link in links(&prose(&text)) {
            if link.contains("://") || link.starts_with("mailto:") {
                continue;
            }
            checked += 1;
            let (file, heading) = link.split_once('#').unwrap_or((&link, ""));
            let target = if file.is_empty() {
                page.clone()
            } else {
                page.parent().unwrap().join(file)
            };
            if !target.exists() {
                broken.push(format!("{}: {link} (no such file)", page.display()));
                continue;
            }
            if !heading.is_empty() {
                let text = std::fs::read_to_string(&target).unwrap_or_default();
                if !anchors(&text).iter().any(|a| a == heading) {
                    broken.push(format!("{}: {link} (no such heading)", page.display()));
                }
            }
        }
    }
    assert!(checked > 20, "only {checked} relative links were found");
    assert!(broken.is_empty(), "broken links: {broken:#?}");
    // The checker can fail: a made-up heading is not found.
    assert!(!anchors("# Garbage collection\n").contains(&"no-such".to_string()));
    assert_eq!(
        anchor("Production: scheduled jobs"),
        "production-scheduled-jobs"
    );
}

/// The ```toml blocks of a page.
fn toml_blocks(text: &str) -> Vec<String> {
    let mut out = Vec::new();
    let mut current: Option<String> = None;
    for line in text.lines() {
        match (&mut current, line.trim_start()) {
            (None, l) if l.starts_with("```toml") => current = Some(String::new()),
            (Some(_), l) if l.starts_with("```") => out.extend(current.take()),
            (Some(block), _) => {
                block.push_str(line);
                block.push('\n');
            }
            _ => {}
        }
    }
    out
}

/// A snippet as a whole manifest: with a `[project]` when it shows none.
fn as_manifest(snippet: &str) -> String {
    if snippet
        .lines()
        .any(|l| l.trim_start().starts_with("[project]"))
    {
        snippet.to_string()
    } else {
        format!("[project]\nname = \"churn\"\n\n{snippet}")
    }
}

#[test]
fn every_mlops_toml_snippet_satisfies_the_schema_and_the_loader() {
    // A project like the ones the docs describe: an MLproject with `main` and `train`.
    let dir = tempfile::tempdir().unwrap();
    std::fs::create_dir_all(dir.path().join("mlproject")).unwrap();
    std::fs::write(
        dir.path().join("mlproject/MLproject"),
        "name: churn\nentry_points:\n  main:\n    command: python train.py\n  train:\n    parameters:\n      epochs: {type: int, default: 10}\n    command: python train.py --epochs {epochs}\n",
    )
    .unwrap();
    let mut files: Vec<(String, PathBuf)> = Vec::new();
    for page in pages() {
        let text = std::fs::read_to_string(&page).unwrap();
        for (i, snippet) in toml_blocks(&text).into_iter().enumerate() {
            let name = format!(
                "{} block {}",
                page.strip_prefix(root()).unwrap().display(),
                i + 1
            );
            let path = dir.path().join(format!("snippet-{}.toml", files.len()));
            std::fs::write(&path, as_manifest(&snippet)).unwrap();
            files.push((name, path));
        }
    }
    assert!(files.len() >= 6, "only {} snippets were found", files.len());
    let mut problems = Vec::new();
    for (name, path) in &files {
        let text = std::fs::read_to_string(path).unwrap();
        if let Err(e) = cargo_mlops::manifest::parse(path, &text) {
            problems.push(format!("{name}: the loader says {e}"));
        }
    }
    problems.extend(schema_problems(&files));
    assert!(problems.is_empty(), "{problems:#?}");
    // The loader is not lenient: a misspelt key in a snippet would be found.
    let bad = dir.path().join("bad.toml");
    std::fs::write(&bad, as_manifest("[cluster]\nnum_worker = 2\n")).unwrap();
    let text = std::fs::read_to_string(&bad).unwrap();
    assert!(cargo_mlops::manifest::parse(&bad, &text).is_err());
    assert_eq!(
        schema_problems(&[("bad".into(), bad)]).len(),
        1,
        "the schema accepts a misspelt key"
    );
}

/// What the committed JSON schema says of each file (one Python for all of them).
fn schema_problems(files: &[(String, PathBuf)]) -> Vec<String> {
    let script = r#"
import json, sys, tomllib
import jsonschema
validator = jsonschema.Draft202012Validator(json.load(open(sys.argv[1])))
answers = []
for path in sys.argv[2:]:
    with open(path, "rb") as f:
        doc = tomllib.load(f)
    answers.append([e.message for e in validator.iter_errors(doc)])
print(json.dumps(answers))
"#;
    let schema = root().join("mlops.schema.json");
    let args: Vec<&str> = std::iter::once(schema.to_str().unwrap())
        .chain(files.iter().map(|(_, p)| p.to_str().unwrap()))
        .collect();
    let answers: Vec<Vec<String>> =
        serde_json::from_value(crate::support::python_json(script, &args)).unwrap();
    assert_eq!(answers.len(), files.len());
    files
        .iter()
        .zip(answers)
        .filter(|(_, errors)| !errors.is_empty())
        .map(|((name, _), errors)| format!("{name}: the schema says {}", errors.join("; ")))
        .collect()
}
