//! The shape of the crate, checked from its sources: `src/commands/` is a leaf that nothing
//! else imports from, no module imports (directly or through others) a module that imports
//! it, no source file is over 600 lines, and every module starts by saying what it holds.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

/// Every module file of the crate, by module path (`src/manifest/model.rs` is
/// `manifest::model`, `src/lib.rs` is the crate root ``).
fn modules() -> BTreeMap<String, PathBuf> {
    fn walk(dir: &Path, out: &mut Vec<PathBuf>) {
        for entry in std::fs::read_dir(dir).unwrap() {
            let path = entry.unwrap().path();
            if path.is_dir() {
                walk(&path, out);
            } else if path.extension().is_some_and(|e| e == "rs") {
                out.push(path);
            }
        }
    }
    let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
    let mut files = Vec::new();
    walk(&src, &mut files);
    files
        .into_iter()
        .filter_map(|file| {
            let rel = file.strip_prefix(&src).unwrap().with_extension("");
            let mut parts: Vec<String> = rel
                .components()
                .map(|c| c.as_os_str().to_string_lossy().into_owned())
                .collect();
            if parts.last().is_some_and(|p| p == "mod" || p == "lib") {
                parts.pop();
            }
            // The binary's entry and test-only modules are not part of the library's house.
            if parts == ["main"] || parts.last().is_some_and(|p| p == "tests") {
                return None;
            }
            Some((parts.join("::"), file))
        })
        .collect()
}

/// The code of a file without its `#[cfg(test)]` module and comments.
fn code(file: &Path) -> String {
    let text = std::fs::read_to_string(file).unwrap();
    let text = match text.find("#[cfg(test)]\nmod tests") {
        Some(i) => &text[..i],
        None => &text[..],
    };
    text.lines()
        .map(|l| match l.find("//") {
            Some(i) if !l[..i].contains('"') => &l[..i],
            _ => l,
        })
        .collect::<Vec<_>>()
        .join("\n")
}

/// The paths a piece of code names: `crate::a::b`, `super::x`, `self::y`, and the trees of
/// `use` declarations (`use crate::{a::X, b};` names `crate::a::X` and `crate::b`).
fn paths(code: &str) -> Vec<String> {
    let mut out = Vec::new();
    let bytes: Vec<char> = code.chars().collect();
    let ident = |c: char| c.is_ascii_alphanumeric() || c == '_';
    // `use` trees, expanded.
    let mut rest = code;
    while let Some(i) = rest.find("use ") {
        let before = rest[..i].chars().last();
        // A declaration starts a statement: after `;`, a brace, an attribute, `pub` or
        // `pub(...)`, never inside a string ("use letters ...").
        let lead = rest[..i].trim_end();
        let starts_statement = lead.is_empty()
            || lead.ends_with([';', '{', '}', ']', ')'])
            || (lead.ends_with("pub") && !lead[..lead.len() - 3].ends_with(ident));
        let tail = &rest[i + 4..];
        rest = tail;
        if before.is_some_and(ident) || !starts_statement {
            continue;
        }
        let Some(end) = tail.find(';') else { break };
        let tree: String = tail[..end].chars().filter(|c| !c.is_whitespace()).collect();
        expand(&tree, "", &mut out);
    }
    // Paths written inline.
    let mut i = 0;
    while i < bytes.len() {
        let starts = ["crate::", "super::", "self::"]
            .iter()
            .find(|p| bytes[i..].iter().take(p.len()).copied().eq(p.chars()));
        if let (Some(p), true) = (starts, i == 0 || !ident(bytes[i - 1])) {
            let mut j = i + p.len();
            while j < bytes.len()
                && (ident(bytes[j]) || (bytes[j] == ':' && bytes.get(j + 1) == Some(&':')))
            {
                j += if bytes[j] == ':' { 2 } else { 1 };
            }
            out.push(
                bytes[i..j]
                    .iter()
                    .collect::<String>()
                    .trim_end_matches("::")
                    .to_string(),
            );
            i = j;
        } else {
            i += 1;
        }
    }
    out
}

/// `a::{b, c::{d, e}}` into `a::b`, `a::c::d`, `a::c::e`.
fn expand(tree: &str, prefix: &str, out: &mut Vec<String>) {
    let tree = tree.trim_start_matches("::");
    match tree.find('{') {
        None => {
            for item in split_top(tree) {
                let item = item.split(" as ").next().unwrap_or(item);
                out.push(format!("{prefix}{item}"));
            }
        }
        Some(open) => {
            let head = &tree[..open];
            let inner = &tree[open + 1..tree.rfind('}').unwrap_or(tree.len())];
            for item in split_top(inner) {
                expand(item, &format!("{prefix}{head}"), out);
            }
        }
    }
}

/// Splits on commas outside braces.
fn split_top(s: &str) -> Vec<&str> {
    let (mut out, mut depth, mut start) = (Vec::new(), 0, 0);
    for (i, c) in s.char_indices() {
        match c {
            '{' => depth += 1,
            '}' => depth -= 1,
            ',' if depth == 0 => {
                out.push(&s[start..i]);
                start = i + 1;
            }
            _ => {}
        }
    }
    out.push(&s[start..]);
    out.into_iter().filter(|x| !x.is_empty()).collect()
}

/// The module a path in module `from` leads to (the longest prefix that is a module), if it is
/// in this crate.
fn target(
    from: &str,
    path: &str,
    mods: &BTreeMap<String, PathBuf>,
    is_dir: bool,
) -> Option<String> {
    let mut here: Vec<&str> = if from.is_empty() {
        Vec::new()
    } else {
        from.split("::").collect()
    };
    let mut segs: Vec<&str> = path.split("::").collect();
    let mut absolute: Vec<String> = match segs.first().copied() {
        Some("crate") => {
            segs.remove(0);
            Vec::new()
        }
        Some("super") => {
            // In `a/b.rs` (module a::b) `super` is `a`.
            while segs.first() == Some(&"super") {
                segs.remove(0);
                here.pop();
            }
            here.iter().map(|s| s.to_string()).collect()
        }
        Some("self") => {
            segs.remove(0);
            here.iter().map(|s| s.to_string()).collect()
        }
        Some(first) => {
            // A child module named without `self::` (in a `mod.rs` or `lib.rs`).
            let child = if from.is_empty() {
                first.to_string()
            } else {
                format!("{from}::{first}")
            };
            if is_dir && mods.contains_key(&child) {
                here.iter().map(|s| s.to_string()).collect()
            } else {
                return None;
            }
        }
        None => return None,
    };
    let mut best = None;
    for seg in segs {
        absolute.push(seg.to_string());
        let name = absolute.join("::");
        if mods.contains_key(&name) {
            best = Some(name);
        } else {
            break;
        }
    }
    best.or_else(|| Some(absolute[..absolute.len().saturating_sub(1)].join("::")))
        .filter(|m| mods.contains_key(m))
}

fn graph() -> BTreeMap<String, BTreeSet<String>> {
    let mods = modules();
    let mut edges: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
    for (name, file) in &mods {
        let is_dir = file.ends_with("mod.rs") || file.ends_with("lib.rs");
        let set = edges.entry(name.clone()).or_default();
        for p in paths(&code(file)) {
            if let Some(t) = target(name, &p, &mods, is_dir) {
                // A module re-exporting its own children is not importing from itself.
                if t != *name {
                    set.insert(t);
                }
            }
        }
    }
    edges
}

#[test]
fn commands_are_a_leaf() {
    let graph = graph();
    let offenders: Vec<String> = graph
        .iter()
        .filter(|(from, _)| !from.starts_with("commands") && !from.is_empty())
        .flat_map(|(from, to)| {
            to.iter()
                .filter(|t| t.starts_with("commands"))
                .map(move |t| format!("{from} -> {t}"))
        })
        .collect();
    assert!(
        offenders.is_empty(),
        "modules that import from commands: {offenders:#?}"
    );
}

#[test]
fn no_import_cycles() {
    let graph = graph();
    // The crate root declares every module; only the dispatch is an import.
    let graph: BTreeMap<&str, Vec<&str>> = graph
        .iter()
        .filter(|(from, _)| !from.is_empty())
        .map(|(from, to)| {
            (
                from.as_str(),
                to.iter()
                    .map(String::as_str)
                    .filter(|t| !t.is_empty())
                    .collect(),
            )
        })
        .collect();
    // Tarjan-free: a depth-first search that reports the first cycle it meets.
    fn visit<'a>(
        node: &'a str,
        graph: &BTreeMap<&'a str, Vec<&'a str>>,
        stack: &mut Vec<&'a str>,
        done: &mut BTreeSet<&'a str>,
    ) -> Option<Vec<&'a str>> {
        if let Some(at) = stack.iter().position(|n| *n == node) {
            let mut cycle = stack[at..].to_vec();
            cycle.push(node);
            return Some(cycle);
        }
        if done.contains(node) {
            return None;
        }
        stack.push(node);
        for next in graph.get(node).into_iter().flatten() {
            if let Some(c) = visit(next, graph, stack, done) {
                return Some(c);
            }
        }
        stack.pop();
        done.insert(node);
        None
    }
    let mut done = BTreeSet::new();
    for node in graph.keys() {
        if let Some(cycle) = visit(node, &graph, &mut Vec::new(), &mut done) {
            panic!("import cycle: {}", cycle.join(" -> "));
        }
    }
}

#[test]
fn modules_are_small_and_say_what_they_hold() {
    for (name, file) in modules() {
        let text = std::fs::read_to_string(&file).unwrap();
        let lines = text.lines().count();
        assert!(
            lines <= 600,
            "{} has {lines} lines (at most 600)",
            file.display()
        );
        assert!(
            text.starts_with("//!"),
            "{} ({name}) does not start with a `//!` line saying what it holds",
            file.display()
        );
    }
}

/// Each function's name and length in lines, from its `fn` line to its closing brace
/// (strings and character literals blanked, so their braces do not count).
fn function_lengths(code: &str) -> Vec<(String, usize)> {
    let blank = |line: &str| -> String {
        let (mut out, mut in_str, mut escaped) = (String::new(), false, false);
        for c in line.chars() {
            match (in_str, escaped, c) {
                (true, true, _) => escaped = false,
                (true, false, '\\') => escaped = true,
                (true, false, '"') => in_str = false,
                (true, false, _) => {}
                (false, _, '"') => in_str = true,
                (false, _, c) => out.push(c),
            }
        }
        out.replace("'{'", "").replace("'}'", "")
    };
    let lines: Vec<String> = code.lines().map(blank).collect();
    let mut out = Vec::new();
    for (i, line) in lines.iter().enumerate() {
        let words: Vec<&str> = line.split_whitespace().collect();
        let Some(at) = words.iter().position(|w| *w == "fn") else {
            continue;
        };
        let lead = &words[..at];
        if !lead
            .iter()
            .all(|w| w.starts_with("pub") || matches!(*w, "const" | "async" | "unsafe"))
        {
            continue;
        }
        let name = words
            .get(at + 1)
            .map_or("", |w| w.split(['(', '<']).next().unwrap_or(w));
        let mut depth = 0i32;
        let mut opened = false;
        for (j, l) in lines.iter().enumerate().skip(i) {
            for c in l.chars() {
                match c {
                    '{' => {
                        depth += 1;
                        opened = true;
                    }
                    '}' => depth -= 1,
                    ';' if !opened && depth == 0 => break,
                    _ => {}
                }
            }
            if (opened && depth == 0) || (!opened && l.trim_end().ends_with(';')) {
                if opened {
                    out.push((name.to_string(), j - i + 1));
                }
                break;
            }
        }
    }
    out
}

#[test]
fn functions_fit_a_screen() {
    let mut long = Vec::new();
    for file in modules().values() {
        for (name, lines) in function_lengths(&code(file)) {
            if lines > 80 {
                long.push(format!("{}: {name} has {lines} lines", file.display()));
            }
        }
    }
    assert!(long.is_empty(), "functions over 80 lines: {long:#?}");
    // The counter can fail: a function of 82 lines is seen as one.
    let body = "    let x = \"}\";\n".repeat(80);
    let long_fn = format!("pub fn big() {{\n{body}}}\nfn small() {{}}\n");
    assert_eq!(
        function_lengths(&long_fn),
        [("big".to_string(), 82), ("small".to_string(), 1)]
    );
}

#[test]
fn a_local_run_never_enters_a_databricks_only_module() {
    let graph = graph();
    let databricks_only = |m: &str| {
        m.starts_with("databricks")
            || [
                "run::submit",
                "run::follow",
                "run::experiment",
                "run::remote",
                "run::databricks",
            ]
            .contains(&m)
    };
    // The local target's own module and what both targets share.
    for module in [
        "run::local",
        "run::tags",
        "run::entry",
        "run::request",
        "run::launch",
        "run::timeout",
    ] {
        let imports = graph
            .get(module)
            .unwrap_or_else(|| panic!("no module {module}"));
        let wrong: Vec<&String> = imports.iter().filter(|m| databricks_only(m)).collect();
        assert!(wrong.is_empty(), "{module} imports {wrong:?}");
    }
    // The check can fail: the Databricks run does import them.
    assert!(graph["run::databricks"].iter().any(|m| databricks_only(m)));
}

#[test]
fn the_checker_sees_imports() {
    // A check that can fail: the checker resolves the paths the house test relies on.
    let mods = modules();
    assert_eq!(
        target("manifest::model", "super::defaults::TARGET", &mods, false).as_deref(),
        Some("manifest::defaults")
    );
    assert_eq!(
        target("submit", "crate::databricks::jobs::Jobs", &mods, false).as_deref(),
        Some("databricks::jobs")
    );
    assert_eq!(
        target("manifest", "load::find", &mods, true).as_deref(),
        Some("manifest::load")
    );
    let mut got = Vec::new();
    expand("crate::{a::X,b::{c,d}}", "", &mut got);
    assert_eq!(got, ["crate::a::X", "crate::b::c", "crate::b::d"]);
    // A string that says "use" is not a declaration; `pub use` and `pub(crate) use` are.
    let code = "fn f() { g(\"use letters, digits\"); }\npub use a::B;\npub(crate) use c::D;";
    assert_eq!(paths(code), ["a::B", "c::D"]);
}
