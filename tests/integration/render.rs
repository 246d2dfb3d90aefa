//! `cargo mlops render`: the seed's placeholders, MLflow's own loader, deterministic tarballs,
//! parameter checks before anything is built.

use std::path::Path;

use serde_json::Value;

use crate::support::{Project, Run, assert_has, project_from_fixture, test_python};

fn render(p: &Project, out: &str, extra: &[&str]) -> Run {
    let python = test_python();
    let mut args = vec![
        "render",
        "--json",
        "--out",
        out,
        "--python",
        python.to_str().unwrap(),
    ];
    args.extend_from_slice(extra);
    p.mlops_shared_target(&args, &[])
}

fn yaml_file(path: &Path) -> serde_yaml::Value {
    serde_yaml::from_str(&std::fs::read_to_string(path).unwrap()).unwrap()
}

fn json_file(path: &Path) -> Value {
    serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap()
}

/// Replaces every string ending in WHEELPATH with `path`.
fn fill_json(v: &mut Value, path: &str) {
    match v {
        Value::String(s) if s.ends_with("WHEELPATH") => *s = path.to_string(),
        Value::Array(a) => a.iter_mut().for_each(|x| fill_json(x, path)),
        Value::Object(o) => o.values_mut().for_each(|x| fill_json(x, path)),
        _ => {}
    }
}

fn fill_yaml(v: &mut serde_yaml::Value, path: &str) {
    match v {
        serde_yaml::Value::String(s) if s.ends_with("WHEELPATH") => *s = path.to_string(),
        serde_yaml::Value::Sequence(a) => a.iter_mut().for_each(|x| fill_yaml(x, path)),
        serde_yaml::Value::Mapping(m) => m.values_mut().for_each(|x| fill_yaml(x, path)),
        _ => {}
    }
}

#[test]
fn the_seed_files_change_only_in_their_wheel_paths() {
    let p = project_from_fixture("seed");
    let run = render(&p, "out", &["--target", "dev"]);
    run.success();
    let report = run.json();
    let wheel = &report["wheels"][0];
    let (address, file) = (
        &wheel["sha256"].as_str().unwrap()[..16],
        wheel["file"].as_str().unwrap(),
    );
    assert_eq!(file, "seed_features-0.1.0-py3-none-any.whl");
    let out = p.path().join("out");

    let mut conda = yaml_file(&p.path().join("mlproject/conda.yaml"));
    fill_yaml(
        &mut conda,
        &format!("/dbfs/wheels/training/main/{address}/{file}"),
    );
    assert_eq!(yaml_file(&out.join("conda.yaml")), conda);

    // A `pypi` library is handed to pip, which reads the FUSE path, not a `dbfs:/` URI.
    let mut cluster = json_file(&p.path().join("mlproject/cluster.json"));
    fill_json(
        &mut cluster,
        &format!("/dbfs/wheels/training/main/{address}/{file}"),
    );
    assert_eq!(json_file(&out.join("cluster.json")), cluster);

    // The MLproject is the project's own (it already names its environment).
    assert_eq!(
        yaml_file(&out.join("MLproject")),
        yaml_file(&p.path().join("mlproject/MLproject"))
    );
    assert_eq!(
        wheel["store_path"],
        format!("dbfs:/wheels/training/main/{address}/{file}")
    );
}

#[test]
fn the_seed_files_with_two_wheels_keep_one_pip_list_and_each_path_form() {
    let p = project_from_fixture("seed");
    p.file(
        "python/seed_more/pyproject.toml",
        "[build-system]\nrequires = [\"setuptools>=68\"]\nbuild-backend = \"setuptools.build_meta\"\n\n[project]\nname = \"seed-more\"\nversion = \"0.2.0\"\n",
    )
    .file("python/seed_more/seed_more/__init__.py", "X = 1\n");
    let manifest = p.read("mlops.toml").replace(
        "[[wheel]]\npath = \"python/seed_features\"\n",
        "[[wheel]]\npath = \"python/seed_features\"\n\n[[wheel]]\npath = \"python/seed_more\"\ninstall = \"cluster\"\n",
    );
    p.file("mlops.toml", &manifest);
    p.git_cmd(&["add", "-A"]);
    p.git_cmd(&["commit", "-qm", "second wheel"]);
    let run = render(&p, "out", &["--target", "dev"]);
    run.success();
    let report = run.json();
    let wheels: Vec<(String, String)> = report["wheels"]
        .as_array()
        .unwrap()
        .iter()
        .map(|w| {
            let at = format!(
                "wheels/training/main/{}/{}",
                &w["sha256"].as_str().unwrap()[..16],
                w["file"].as_str().unwrap()
            );
            (format!("/dbfs/{at}"), format!("dbfs:/{at}"))
        })
        .collect();
    assert_eq!(wheels.len(), 2);
    let out = p.path().join("out");

    // One `pip:` list, in the seed's order, the placeholder replaced by one entry per wheel.
    let conda = yaml_file(&out.join("conda.yaml"));
    let deps = conda["dependencies"].as_sequence().unwrap();
    let pip_lists: Vec<&serde_yaml::Value> =
        deps.iter().filter(|d| d.get("pip").is_some()).collect();
    assert_eq!(pip_lists.len(), 1, "{deps:?}");
    let pip: Vec<&str> = pip_lists[0]["pip"]
        .as_sequence()
        .unwrap()
        .iter()
        .map(|v| v.as_str().unwrap())
        .collect();
    assert_eq!(pip, ["mlflow", &wheels[0].0, &wheels[1].0, "pyarrow"]);
    // The rest of the seed's dependencies are untouched.
    let mut seed = yaml_file(&p.path().join("mlproject/conda.yaml"));
    let seed_deps = seed["dependencies"].as_sequence_mut().unwrap();
    assert_eq!(&deps[..deps.len() - 1], &seed_deps[..seed_deps.len() - 1]);

    // Cluster libraries: `pypi` keeps the path pip reads, one per wheel.
    let cluster = json_file(&out.join("cluster.json"));
    assert_eq!(
        cluster["libraries"],
        serde_json::json!([
            {"pypi": {"package": "convertdate"}},
            {"pypi": {"package": wheels[0].0}},
            {"pypi": {"package": wheels[1].0}},
        ])
    );
}

/// What MLflow's own project loader reports for a rendered project.
fn mlflow_view(dir: &Path) -> Value {
    let script = r#"
import json, sys
from mlflow.projects._project_spec import load_project
p = load_project(sys.argv[1])
print(json.dumps({
    "name": p.name,
    "env_type": p.env_type,
    "env_file": p.env_config_path,
    "entry_points": {
        name: {
            "command": ep.command,
            "parameters": {k: {"type": v.type, "default": v.default} for k, v in ep.parameters.items()},
        }
        for name, ep in p._entry_points.items()
    },
}))
"#;
    let out = std::process::Command::new(test_python())
        .args(["-c", script])
        .arg(dir)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "MLflow could not load {}: {}",
        dir.display(),
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_slice(&out.stdout).unwrap()
}

#[test]
fn mlflow_itself_loads_the_rendered_projects() {
    let demo = project_from_fixture("demo");
    for target in ["local", "dev"] {
        let out = format!("out-{target}");
        render(&demo, &out, &["--target", target]).success();
        let dir = demo.path().join(&out);
        let view = mlflow_view(&dir);
        assert_eq!(view["name"], "demo");
        assert_eq!(view["env_type"], "conda_env");
        let train = &view["entry_points"]["train"];
        assert_eq!(
            train["command"],
            "python train.py --learning-rate {learning_rate} --epochs {epochs} --samples {samples}"
        );
        assert_eq!(train["parameters"]["learning_rate"]["type"], "float");
        assert_eq!(train["parameters"]["learning_rate"]["default"], 0.5);
        assert_eq!(train["parameters"]["epochs"]["type"], "int");
        assert_eq!(train["parameters"]["epochs"]["default"], 200);
        let conda = yaml_file(&dir.join("conda.yaml"));
        let deps = conda["dependencies"].as_sequence().unwrap();
        assert_eq!(deps[0].as_str(), Some("python=3.11"));
        assert!(deps.iter().any(|d| d.as_str() == Some("pip")));
        let pip = deps.last().unwrap()["pip"].as_sequence().unwrap();
        assert_eq!(pip[0].as_str(), Some("mlflow"));
        let features = pip[1].as_str().unwrap();
        assert!(
            features.ends_with("demo_features-0.1.0-py3-none-any.whl"),
            "{features}"
        );
        if target == "dev" {
            assert!(
                features.starts_with("/Volumes/main/mlops/artifacts/demo/main/"),
                "{features}"
            );
        } else {
            assert!(
                features.starts_with(demo.path().join(".mlops/artifacts/main").to_str().unwrap())
            );
        }
        // The PyO3 wheel is a cluster library.
        let cluster = json_file(&dir.join("cluster.json"));
        let whl = cluster["libraries"][0]["whl"].as_str().unwrap();
        assert!(whl.contains("demo_fast-0.1.0-cp39-abi3"), "{whl}");
    }
    let seed = project_from_fixture("seed");
    render(&seed, "out", &["--target", "dev"]).success();
    let view = mlflow_view(&seed.path().join("out"));
    assert_eq!(view["name"], "training");
    assert_eq!(
        view["entry_points"]["main"]["parameters"]["horizon"]["default"],
        30
    );
}

#[test]
fn tarballs_are_the_same_across_runs_and_checkouts() {
    let a = project_from_fixture("demo");
    let b = project_from_fixture("demo");
    let first = render(
        &a,
        "out",
        &["--target", "dev", "--tarball", "project.tar.gz"],
    );
    let again = render(&a, "out", &["--target", "dev"]);
    let other = render(&b, "elsewhere", &["--target", "dev", "--tarball", "p.tgz"]);
    let sha = |r: &Run| {
        r.success().json()["tarball"]["sha256"]
            .as_str()
            .unwrap()
            .to_string()
    };
    assert_eq!(sha(&first), sha(&again));
    assert_eq!(sha(&first), sha(&other));
    let bytes = std::fs::read(a.path().join("project.tar.gz")).unwrap();
    assert_eq!(
        crate::support::sha256_file(&a.path().join("project.tar.gz")),
        sha(&first)
    );
    assert_eq!(bytes, std::fs::read(b.path().join("p.tgz")).unwrap());
    // Listing it with Python's tarfile: sorted, prefixed, no git or caches.
    let list = std::process::Command::new(test_python())
        .args([
            "-c",
            "import sys, tarfile; print('\\n'.join(m.name for m in tarfile.open(sys.argv[1])))",
        ])
        .arg(a.path().join("project.tar.gz"))
        .output()
        .unwrap();
    let names = String::from_utf8_lossy(&list.stdout);
    assert_has(
        &names,
        &[
            "mlflow-project/MLproject",
            "mlflow-project/train.py",
            "mlflow-project/mlops_launcher.py",
        ],
    );
    assert!(
        !names.contains("__pycache__") && !names.contains(".git/"),
        "{names}"
    );
}

#[test]
fn parameters_and_entry_points_are_checked_before_anything_is_built() {
    let p = project_from_fixture("demo");
    let run = p.mlops(&["check", "--entry", "train", "-P", "epochs=many"]);
    run.code(2);
    assert_has(
        &run.stderr,
        &[
            "parameter `epochs` of entry point `train` is a `int`, but `many` is not a whole number",
            "-P epochs=10",
        ],
    );
    let run = p.mlops(&["check", "--entry", "train", "-P", "learning_rte=0.1"]);
    run.code(2);
    assert_has(
        &run.stderr,
        &[
            "has no parameter `learning_rte`",
            "did you mean `learning_rate`?",
        ],
    );
    let run = p.mlops(&["check", "--entry", "tran"]);
    run.code(2);
    assert_has(
        &run.stderr,
        &["unknown entry point `tran`", "did you mean `train`?"],
    );
    let plan = p
        .mlops(&["check", "--json", "--entry", "train", "-P", "epochs=5"])
        .success()
        .json();
    assert_eq!(plan["parameters"]["epochs"], "5");
    assert_eq!(plan["parameters"]["learning_rate"], "0.5");
    assert!(!p.path().join(".mlops").exists(), "check builds nothing");
}

#[test]
fn check_refuses_dbfs_on_new_runtimes_and_docker() {
    let p = project_from_fixture("seed");
    let cluster = p
        .read("mlproject/cluster.json")
        .replace("10.3.x-scala2.12", "15.4.x-scala2.12");
    p.file("mlproject/cluster.json", &cluster);
    let run = p.mlops(&["check", "--target", "dev"]);
    run.code(2);
    assert_has(
        &run.stderr,
        &[
            "libraries in the DBFS root are disabled from 15.0",
            "Unity Catalog volume",
        ],
    );
    p.file(
        "mlproject/MLproject",
        "name: t\ndocker_env:\n  image: python:3.11\n",
    );
    let run = p.mlops(&["check"]);
    run.code(2);
    assert_has(&run.stderr, &["docker_env", "conda_env"]);
}
