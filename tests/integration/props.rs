//! Property tests: no input crashes the parsers, slugs stay in their charset and length, and
//! rendered files always parse with their structure intact.

use std::collections::BTreeMap;
use std::path::Path;

use cargo_mlops::build::wheel_file::WheelName;
use cargo_mlops::manifest::{self, Template};
use cargo_mlops::support::naming;
use proptest::prelude::*;

fn config(cases: u32) -> ProptestConfig {
    ProptestConfig {
        cases,
        failure_persistence: None,
        ..ProptestConfig::default()
    }
}

/// Strings that look like manifests: fragments of real keys, tables and values.
fn manifest_like() -> impl Strategy<Value = String> {
    let fragment = prop_oneof![
        Just("[project]\n".to_string()),
        Just("name = \"x\"\n".to_string()),
        Just("[[wheel]]\npath = \"p\"\n".to_string()),
        Just("[targets.dev]\nkind = \"databricks\"\n".to_string()),
        Just("artifacts = \"dbfs:/{branch}\"\n".to_string()),
        Just("experiment = \"/Shared/{project}\"\n".to_string()),
        Just("[entry_points.train]\ncommand = \"python t.py {a}\"\n".to_string()),
        Just("parameters.a = { type = \"float\", default = 1 }\n".to_string()),
        Just("[cluster]\nnum_workers = -1\n".to_string()),
        Just("[hooks]\npre_push = \"deploy\"\n".to_string()),
        "[a-z_\\.\\[\\]\"={} 0-9\n]{0,40}",
    ];
    prop::collection::vec(fragment, 0..8).prop_map(|v| v.concat())
}

proptest! {
    #![proptest_config(config(256))]

    #[test]
    fn the_manifest_parser_never_panics(text in "\\PC{0,200}") {
        let _ = manifest::parse(Path::new("/p/mlops.toml"), &text);
    }

    #[test]
    fn manifest_like_text_never_panics(text in manifest_like()) {
        if let Err(e) = manifest::parse(Path::new("/p/mlops.toml"), &text) {
            prop_assert_eq!(e.exit_code(), 2);
        }
    }

    #[test]
    fn slugs_stay_in_their_charset_and_length(name in "\\PC{0,400}") {
        let s = naming::slug(&name);
        prop_assert!(!s.is_empty());
        prop_assert!(s.len() <= naming::SLUG_MAX + 9, "{}", s);
        prop_assert!(s.chars().all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-'), "{}", s);
        prop_assert!(!s.starts_with('-') && !s.ends_with('-'), "{}", s);
        prop_assert_eq!(s.clone(), naming::slug(&name));
        if s == name {
            prop_assert!(name.len() <= naming::SLUG_MAX);
        }
    }

    #[test]
    fn placeholders_never_panic_and_expand_fully(raw in "[a-z/{}_:]{0,60}", value in "\\PC{0,20}") {
        if let Ok(t) = Template::parse(&raw) {
            let out = t.expand(|_| Some(value.clone()));
            for name in manifest::PLACEHOLDERS {
                if t.uses(name) {
                    prop_assert!(out.contains(&value));
                }
            }
        }
    }

    #[test]
    fn wheel_names_never_panic(name in "\\PC{0,80}") {
        let _ = WheelName::parse(&name);
    }

    #[test]
    fn valid_wheel_names_round_trip(
        dist in "[A-Za-z][A-Za-z0-9_]{0,10}",
        version in "[0-9]{1,3}(\\.[0-9]{1,3}){0,2}",
        py in "(py3|cp3[0-9]{1,2})",
        platform in "(any|manylinux_2_17_x86_64|win_amd64)",
    ) {
        let file = format!("{dist}-{version}-{py}-none-{platform}.whl");
        let w = WheelName::parse(&file).unwrap();
        prop_assert_eq!(w.name, dist);
        prop_assert_eq!(w.version, version);
        prop_assert_eq!(w.platform, platform);
    }
}

proptest! {
    #![proptest_config(config(24))]

    #[test]
    fn rendered_files_always_parse_and_keep_their_structure(
        branch in "\\PC{1,40}",
        default in "\\PC{0,30}",
        pip in "\\PC{1,20}",
        tag in "\\PC{0,20}",
    ) {
        let dir = tempfile::tempdir().unwrap();
        // The manifest is written by a TOML serializer, so the hostile values are data.
        let mut doc = toml::Table::new();
        doc.insert("project".into(), toml::Value::Table(toml::toml! { name = "p" }));
        let mut env = toml::Table::new();
        env.insert("pip".into(), toml::Value::Array(vec![toml::Value::String(pip.clone())]));
        doc.insert("environment".into(), toml::Value::Table(env));
        let mut cluster = toml::Table::new();
        let mut tags = toml::Table::new();
        tags.insert("team".into(), toml::Value::String(tag.clone()));
        cluster.insert("custom_tags".into(), toml::Value::Table(tags));
        doc.insert("cluster".into(), toml::Value::Table(cluster));
        let mut param = toml::Table::new();
        param.insert("default".into(), toml::Value::String(default.clone()));
        let mut params = toml::Table::new();
        params.insert("x".into(), toml::Value::Table(param));
        let mut entry = toml::Table::new();
        entry.insert("command".into(), toml::Value::String("python t.py {x}".into()));
        entry.insert("parameters".into(), toml::Value::Table(params));
        let mut entries = toml::Table::new();
        entries.insert("train".into(), toml::Value::Table(entry));
        doc.insert("entry_points".into(), toml::Value::Table(entries));
        std::fs::write(dir.path().join("mlops.toml"), toml::to_string(&doc).unwrap()).unwrap();
        std::fs::create_dir_all(dir.path().join("mlproject")).unwrap();

        let m = manifest::load(&dir.path().join("mlops.toml")).unwrap();
        let project = cargo_mlops::manifest::project::MlflowProject::load(&m).unwrap();
        let plan = cargo_mlops::plan::Plan::new(&m, cargo_mlops::plan::Inputs {
            target: None,
            branch: naming::Branch { name: branch.clone(), source: naming::Source::Flag, slug: naming::slug(&branch) },
            commit: None,
            dirty: Vec::new(),
            local_user: Some("u".into()),
            entry: None,
            entry_point: None,
            wheels: Vec::new(),
            entry_points: project.entry_points.clone(),
            parameters: BTreeMap::new(),
        }).unwrap();
        let out = dir.path().join("out");
        cargo_mlops::render::render(&plan, &m, &project, &[], &out).unwrap();

        let mlproject: serde_yaml::Value = serde_yaml::from_str(&std::fs::read_to_string(out.join("MLproject")).unwrap()).unwrap();
        prop_assert_eq!(mlproject.as_mapping().unwrap().len(), 3);
        prop_assert_eq!(mlproject["entry_points"]["train"]["parameters"]["x"]["default"].as_str(), Some(default.as_str()));
        let conda: serde_yaml::Value = serde_yaml::from_str(&std::fs::read_to_string(out.join("conda.yaml")).unwrap()).unwrap();
        let deps = conda["dependencies"].as_sequence().unwrap();
        prop_assert_eq!(deps.last().unwrap()["pip"][0].as_str(), Some(pip.as_str()));
        let cluster: serde_json::Value = serde_json::from_str(&std::fs::read_to_string(out.join("cluster.json")).unwrap()).unwrap();
        prop_assert_eq!(cluster["new_cluster"]["custom_tags"]["team"].as_str(), Some(tag.as_str()));
        prop_assert_eq!(cluster.as_object().unwrap().len(), 2);
    }
}
