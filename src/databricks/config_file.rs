//! `~/.databrickscfg`, the INI file of profiles the Databricks CLI and SDKs share.

use std::collections::BTreeMap;

/// `~/.databrickscfg`: `[section]` headers and `key = value` lines; `#`/`;` comments.
pub fn parse_ini(text: &str) -> BTreeMap<String, BTreeMap<String, String>> {
    let mut out: BTreeMap<String, BTreeMap<String, String>> = BTreeMap::new();
    let mut section = String::from("DEFAULT");
    for line in text.lines() {
        let line = line.trim();
        if line.is_empty() || line.starts_with('#') || line.starts_with(';') {
            continue;
        }
        if let Some(name) = line.strip_prefix('[').and_then(|l| l.strip_suffix(']')) {
            section = name.trim().to_string();
            out.entry(section.clone()).or_default();
            continue;
        }
        if let Some((k, v)) = line.split_once('=').or_else(|| line.split_once(':')) {
            out.entry(section.clone())
                .or_default()
                .insert(k.trim().to_lowercase(), v.trim().to_string());
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ini_parsing() {
        let ini =
            parse_ini("# c\n[DEFAULT]\nhost = h\n\n[p]\ntoken=t ; not a comment here\nHOST: x\n");
        assert_eq!(ini["DEFAULT"]["host"], "h");
        assert_eq!(ini["p"]["host"], "x");
    }
}
