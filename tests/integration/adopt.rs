//! `cargo mlops init --adopt` on a copy of the MLOps template's layout (the origin document's
//! `projects/ExampleTrainingProject` with `libs/mylib`), then check, render, a job's libraries
//! and a local run end to end.

use serde_json::Value;

use crate::support::fake::FakeWorkspace;
use crate::support::{assert_has, env_pairs, no_other_pythons, project_from_fixture, test_python};

/// The entries of a rendered or submitted list that name wheel `mylib`.
fn mylib_entries<'a>(items: impl IntoIterator<Item = &'a str>) -> Vec<String> {
    items
        .into_iter()
        .filter(|s| s.contains("mylib") && s.ends_with(".whl"))
        .map(str::to_string)
        .collect()
}

#[test]
fn the_template_is_adopted_checked_rendered_submitted_and_run_locally() {
    let p = project_from_fixture("template");
    let python = test_python();
    let py = python.to_str().unwrap();

    // Adopting writes mlops.toml and nothing else.
    let adopted = p.mlops(&["init", "--adopt", "--name", "example"]);
    adopted.success();
    assert_has(
        &adopted.stderr,
        &[
            "Found",
            "MLflow project projects/ExampleTrainingProject",
            "Python package libs/mylib",
        ],
    );
    assert_eq!(
        p.git_cmd(&["status", "--porcelain"]).trim(),
        "?? mlops.toml"
    );
    let manifest = p.read("mlops.toml");
    assert_has(
        &manifest,
        &[
            "mlproject = \"projects/ExampleTrainingProject\"",
            "[[wheel]]\npath = \"libs/mylib\"",
        ],
    );
    // A second adopt refuses to overwrite it.
    p.mlops(&["init", "--adopt"]).code(2);
    p.file(
        "mlops.toml",
        &(manifest
            + "\n[targets.dev]\nkind = \"databricks\"\nartifacts = \"dbfs:/mlops/{project}\"\n\n[targets.uc]\nkind = \"databricks\"\nartifacts = \"/Volumes/main/mlops/artifacts/{project}\"\n"),
    );
    p.git_cmd(&["add", "-A"]);
    p.git_cmd(&["commit", "-qm", "adopt"]);

    // check says the concrete paths are our wheel, with file and line.
    let check = p.mlops(&["check"]);
    assert_has(
        &check.success().stderr,
        &[
            "training_env.yaml:9: `/dbfs/libs/mylib-1.0-py3-none-any.whl` is a wheel of `mylib`",
            "cluster.json:8: `dbfs:/libs/mylib-1.0-py3-none-any.whl` is a wheel of `mylib`",
        ],
    );
    // The template's runtime has no volumes: said, naming the file and line that set it.
    let uc = p.mlops_offline_creds(&["check", "--target", "uc"]);
    uc.code(2);
    assert_has(
        &uc.stderr,
        &["volumes need 13.3 LTS or above", "cluster.json:3"],
    );

    // The rendered project names the built wheel once, in place of the stale path.
    let out = p.path().join("rendered");
    p.mlops_offline_creds(&[
        "render",
        "--target",
        "dev",
        "--out",
        out.to_str().unwrap(),
        "--python",
        py,
    ])
    .success();
    let env: serde_yaml::Value =
        serde_yaml::from_str(&std::fs::read_to_string(out.join("training_env.yaml")).unwrap())
            .unwrap();
    let pip: Vec<&str> = env["dependencies"][2]["pip"]
        .as_sequence()
        .unwrap()
        .iter()
        .filter_map(|v| v.as_str())
        .collect();
    let wheels = mylib_entries(pip.iter().copied());
    assert_eq!(wheels.len(), 1, "{pip:?}");
    assert!(
        wheels[0].starts_with("/dbfs/mlops/example/main/"),
        "{pip:?}"
    );
    let cluster: Value =
        serde_json::from_str(&std::fs::read_to_string(out.join("cluster.json")).unwrap()).unwrap();
    let libs: Vec<&str> = cluster["libraries"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|l| l["whl"].as_str())
        .collect();
    let cluster_wheels = mylib_entries(libs.iter().copied());
    assert_eq!(cluster_wheels.len(), 1, "{libs:?}");
    assert!(
        cluster_wheels[0].starts_with("dbfs:/mlops/example/main/"),
        "{libs:?}"
    );

    // The job's libraries agree with the rendered files: the built wheel once, nothing stale.
    let ws = FakeWorkspace::start();
    let job = p
        .mlops_ws(
            &ws,
            &[
                "run",
                "--entry",
                "main",
                "--target",
                "dev",
                "--no-wait",
                "--json",
                "--python",
                py,
            ],
            &[],
        )
        .success()
        .json();
    let id = job["databricks_run_id"].as_u64().unwrap();
    let libraries = ws.with_state(|s| s.jobs[&id].body["tasks"][0]["libraries"].clone());
    let named: Vec<String> = libraries
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|l| l["whl"].as_str().or(l["pypi"]["package"].as_str()))
        .map(str::to_string)
        .collect();
    let job_wheels = mylib_entries(named.iter().map(String::as_str));
    assert_eq!(job_wheels, cluster_wheels, "{named:?}");
    assert!(!named.iter().any(|n| n.contains("/libs/")), "{named:?}");

    // A wheel path that nothing builds is reported with its line, and kept as written.
    let env_file = "projects/ExampleTrainingProject/training_env.yaml";
    p.file(
        env_file,
        &(p.read(env_file) + "    - /dbfs/libs/other-2.0-py3-none-any.whl\n"),
    );
    // (With no Python 3.8 installed, whatever this machine has: the environment file asks
    // for it, and that is said too.)
    let (_empty, vars) = no_other_pythons();
    let vars = env_pairs(&vars);
    let check = p.mlops_in(".", &["check"], &vars);
    assert_has(
        &check.success().stderr,
        &[
            "training_env.yaml:10: `/dbfs/libs/other-2.0-py3-none-any.whl` names a wheel that no [[wheel]] builds",
            "training_env.yaml asks for Python 3.8, but no Python 3.8 is installed here",
            "2 warnings",
        ],
    );
    p.git_cmd(&["checkout", "--", env_file]);

    // And it runs locally, end to end, with the library built from setup.py.
    let run = p.mlops_shared_target(
        &[
            "run",
            "--entry",
            "main",
            "-P",
            "alpha=0.5",
            "--json",
            "--python",
            py,
        ],
        &vars,
    );
    run.success();
    assert_has(
        &run.stderr,
        &[
            "training_env.yaml asks for Python 3.8",
            "uv python install 3.8",
            "score=0.75",
        ],
    );
    let report = run.json();
    assert_eq!(report["status"], "FINISHED");
    assert_eq!(report["metrics"]["score"], 0.75);
}
