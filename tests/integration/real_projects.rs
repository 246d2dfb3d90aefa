//! Real projects, second round (issue 33), on fixtures shaped like them: MLflow's
//! `examples/hyperparam` adopted as it is (four entry points only its MLproject declares,
//! `python_env.yaml` asking for Python 3.9, nested `mlflow.projects.run` calls), and a cargo
//! workspace whose PyO3 crate is not abi3, beside a pdm package.

use crate::support::fake::FakeWorkspace;
use crate::support::{
    Project, Run, assert_has, env_pairs, no_other_pythons, project_from_fixture, test_python,
};

/// `fixtures/hyperparam`, adopted with `init --adopt`, with a Databricks target on a 14.3 job
/// cluster and `extra` appended to mlops.toml.
fn hyperparam(extra: &str) -> Project {
    let p = project_from_fixture("hyperparam");
    p.mlops(&["init", "--adopt"]).success();
    let manifest = p.read("mlops.toml")
        + "\n[cluster]\nspark_version = \"14.3.x-scala2.12\"\nnode_type_id = \"i3.xlarge\"\nnum_workers = 1\n\n[targets.dev]\nkind = \"databricks\"\nartifacts = \"dbfs:/mlops/{project}\"\n"
        + extra;
    p.file("mlops.toml", &manifest);
    p.git_cmd(&["add", "-A"]);
    p.git_cmd(&["commit", "-qm", "adopt"]);
    p
}

/// `cargo-mlops ARGS` with no Python 3.9 anywhere it is looked for.
fn without_other_pythons(p: &Project, args: &[&str]) -> Run {
    let (_empty, vars) = no_other_pythons();
    p.mlops_in(".", args, &env_pairs(&vars))
}

#[test]
fn an_adopted_mlproject_only_project_runs_jobs_and_is_told_about_its_python() {
    let p = hyperparam(
        "\n[jobs.nightly]\nentry = \"train\"\nparameters = { epochs = 2 }\nschedule = { cron = \"0 0 2 * * ?\" }\n",
    );
    // Named after the MLproject's own `name`, not the folder.
    assert_has(&p.read("mlops.toml"), &["name = \"HyperparameterSearch\""]);
    // The job's entry point is one only the MLproject declares.
    let check = p.mlops_offline_creds(&["check", "--target", "dev"]);
    check.success();
    assert_has(
        &check.stderr,
        &[
            "python_env.yaml asks for Python 3.9",
            "the job cluster's runtime `14.3.x-scala2.12`",
            "has Python 3.10",
        ],
    );
    // Locally, with no Python 3.9 installed: said, with how to get one.
    let local = without_other_pythons(&p, &["check"]);
    local.success();
    assert_has(
        &local.stderr,
        &[
            "asks for Python 3.9",
            "no Python 3.9 is installed here",
            "uv python install 3.9",
        ],
    );
    assert!(
        !local.stderr.contains("no problems found"),
        "{}",
        local.stderr
    );
    // The job deploys.
    let ws = FakeWorkspace::start();
    let python = test_python();
    let deployed = p.mlops_ws(
        &ws,
        &[
            "jobs",
            "deploy",
            "--python",
            python.to_str().unwrap(),
            "--json",
        ],
        &[],
    );
    deployed.success();
    let job = &deployed.json()["jobs"][0];
    assert_eq!(job["name"], "nightly", "{}", deployed.stdout);
    assert_eq!(job["action"], "created");

    // A job naming no entry point of either file is still an error with its place.
    p.file(
        "mlops.toml",
        &p.read("mlops.toml")
            .replace("entry = \"train\"", "entry = \"trian\""),
    );
    let bad = p.mlops(&["check"]);
    bad.code(2);
    assert_has(
        &bad.stderr,
        &[
            "unknown entry point `trian`",
            "did you mean `train`?",
            "jobs.nightly.entry",
            "MLproject",
        ],
    );
}

#[test]
fn a_wheel_for_another_python_is_refused_before_anything_is_uploaded() {
    let p = project_from_fixture("pyo3_workspace");
    // Not built yet: the crate has no abi3 feature, so its wheel will be for the building
    // interpreter (3.11) only.
    let refused = |target: &str, says: &[&str]| {
        let out = p.mlops_offline_creds(&["check", "--target", target]);
        out.code(2);
        assert_has(&out.stderr, says);
    };
    refused(
        "jc14",
        &[
            "(from `crates/fastmath`)",
            "CPython 3.11 only",
            "runtime `14.3.x-scala2.12`",
            "Python 3.10",
            "abi3-py310",
        ],
    );
    refused(
        "sl4",
        &[
            "CPython 3.11 only",
            "serverless environment version 4 has Python 3.12",
            "abi3-py312",
        ],
    );
    p.mlops_offline_creds(&["check", "--target", "jc15"])
        .success();

    // Built for real: the deploy stops after the build, before its first upload.
    let ws = FakeWorkspace::start();
    let python = test_python();
    let deploy = p.mlops_ws(
        &ws,
        &[
            "deploy",
            "--target",
            "jc14",
            "--python",
            python.to_str().unwrap(),
        ],
        &[],
    );
    deploy.code(2);
    assert_has(
        &deploy.stderr,
        &[
            "wheel fastmath-0.3.0-cp311-cp311-",
            "CPython 3.11 only",
            "Python 3.10",
        ],
    );
    assert!(ws.dbfs_paths().is_empty(), "{:?}", ws.dbfs_paths());
    // The same wheel fits a 15.4 cluster (Python 3.11), and the pdm package builds beside it.
    let ok = p.mlops_ws(
        &ws,
        &[
            "deploy",
            "--target",
            "jc15",
            "--python",
            python.to_str().unwrap(),
            "--json",
        ],
        &[],
    );
    ok.success();
    let files: Vec<String> = ok.json()["wheels"]
        .as_array()
        .unwrap()
        .iter()
        .map(|w| w["file"].as_str().unwrap().to_string())
        .collect();
    assert!(
        files
            .iter()
            .any(|f| f.starts_with("pdm_pkg-1.2.0-py3-none-any")),
        "{files:?}"
    );
}

#[test]
fn a_version_from_git_tags_is_part_of_the_build_cache_key() {
    // One of a uv workspace's hatchling packages, versioned from git tags (hatch-vcs).
    let p = Project::git();
    p.file(
        "mlops.toml",
        "[project]\nname = \"tagged\"\n\n[[wheel]]\npath = \"packages/alpha\"\n\n[entry_points.train]\ncommand = \"python train.py\"\n",
    )
    .file("mlproject/train.py", "print('hi')\n")
    .file(
        "pyproject.toml",
        "[tool.uv.workspace]\nmembers = [\"packages/*\"]\n",
    )
    .file(
        "packages/alpha/pyproject.toml",
        "[build-system]\nrequires = [\"hatchling\", \"hatch-vcs\"]\nbuild-backend = \"hatchling.build\"\n\n[project]\nname = \"alpha\"\ndynamic = [\"version\"]\n\n[tool.hatch.version]\nsource = \"vcs\"\nraw-options = { root = \"../..\" }\n\n[tool.hatch.build.targets.wheel]\npackages = [\"src/alpha\"]\n",
    )
    .file("packages/alpha/src/alpha/__init__.py", "")
    .file(".gitignore", ".mlops/\n");
    p.git_cmd(&["add", "-A"]);
    p.git_cmd(&["commit", "-qm", "alpha"]);
    p.git_cmd(&["tag", "v0.6.12"]);
    let python = test_python();
    let build = || {
        let out = p.mlops(&["build", "--python", python.to_str().unwrap(), "--json"]);
        out.success();
        let w = &out.json()["wheels"][0];
        (
            w["version"].as_str().unwrap().to_string(),
            w["cached"] == true,
        )
    };
    assert_eq!(build(), ("0.6.12".to_string(), false));
    assert_eq!(
        build(),
        ("0.6.12".to_string(), true),
        "an unchanged build is cached"
    );
    // A release commit elsewhere in the repository, tagged: no file of the package changed,
    // but its version did; never the cached 0.6.12.
    p.file("CHANGELOG.md", "## 0.7.0\n");
    p.git_cmd(&["add", "-A"]);
    p.git_cmd(&["commit", "-qm", "release 0.7.0"]);
    p.git_cmd(&["tag", "v0.7.0"]);
    assert_eq!(build(), ("0.7.0".to_string(), false));
    assert_eq!(build(), ("0.7.0".to_string(), true));
}

#[test]
fn nested_project_runs_work_and_compare_never_picks_a_child_run() {
    let p = hyperparam("");
    let run = |args: &[&str]| {
        let mut all = vec!["run"];
        all.extend_from_slice(args);
        all.push("--json");
        let out = without_other_pythons(&p, &all);
        out.success();
        out.json()
    };
    // `random` starts nested `mlflow.projects.run(uri=".", entry_point="train")` runs, which
    // run in the environment the run already has (no env_manager given).
    let parent = run(&["--entry", "random", "-P", "max_runs=1"]);
    assert_eq!(parent["status"], "FINISHED", "{parent}");
    assert!(
        parent["metrics"]["best_rmse"].as_f64().is_some(),
        "{parent}"
    );
    p.git_cmd(&["switch", "-q", "-c", "feature/lr"]);
    run(&["--entry", "random", "-P", "max_runs=1"]);
    // The newest runs of the branch are nested `train` children and an `evaluate` run that
    // never ran on main: compare takes the `random` run that ran on both.
    run(&["--entry", "evaluate"]);
    let compared = without_other_pythons(&p, &["compare", "--json"]);
    compared.success();
    let c = compared.json();
    assert_eq!(c["entry"], "random", "{c:#}");
    assert!(c["base_run"].is_object(), "{c:#}");
    assert!(
        c["metrics"]
            .as_array()
            .unwrap()
            .iter()
            .any(|m| m["metric"] == "best_rmse"),
        "{c:#}"
    );
}
