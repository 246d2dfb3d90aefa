//! `check` refuses what cannot work on the chosen compute (exit 2, with the place and a fix)
//! and warns about what works differently there.

use crate::support::{Project, Run, assert_has};

const BASE: &str = "[project]\nname = \"p\"\n\n[entry_points.train]\ncommand = \"python train.py\"\n\n[entry_points.script]\ncommand = \"bash run.sh --fast\"\n";

fn project(targets: &str) -> Project {
    let p = Project::git();
    p.file("mlops.toml", &format!("{BASE}\n{targets}"))
        .file("mlproject/train.py", "print('hi')\n")
        .file("mlproject/run.sh", "echo hi\n");
    p
}

fn check(p: &Project, args: &[&str]) -> Run {
    let mut all = vec!["check"];
    all.extend_from_slice(args);
    p.mlops_offline_creds(&all)
}

const SERVERLESS: &str = "[targets.sl]\nkind = \"databricks\"\nartifacts = \"/Volumes/main/mlops/artifacts/{project}\"\ncompute = \"serverless\"\n";

#[test]
fn serverless_targets_show_their_environment_version() {
    let p = project(SERVERLESS);
    let out = check(&p, &["--target", "sl"]);
    out.success();
    assert_has(
        &out.stdout,
        &["compute  serverless (environment version 4)"],
    );
    let p = project(&format!("{SERVERLESS}environment_version = 5\n"));
    let out = check(&p, &["--target", "sl", "--json"]);
    out.success();
    assert_eq!(
        out.json()["compute"],
        serde_json::json!({"kind": "serverless", "environment_version": "5"})
    );
}

#[test]
fn serverless_with_dbfs_artifacts_is_refused_where_it_is_written() {
    let p = project(
        "[targets.sl]\nkind = \"databricks\"\nartifacts = \"dbfs:/mlops\"\ncompute = \"serverless\"\n",
    );
    let out = check(&p, &["--target", "sl"]);
    out.code(2);
    assert_has(
        &out.stderr,
        &[
            "serverless compute cannot read DBFS",
            "mlops.toml:13:11",
            "targets.sl.compute",
            "/Volumes/<catalog>/<schema>/<volume>",
        ],
    );
}

#[test]
fn serverless_with_cluster_only_settings_is_refused() {
    let p = project(&format!("{SERVERLESS}cluster_id = \"0101-abc\"\n"));
    let out = check(&p, &["--target", "sl"]);
    out.code(2);
    assert_has(
        &out.stderr,
        &[
            "`cluster_id` names a cluster",
            "targets.sl.cluster_id",
            "remove `cluster_id`",
        ],
    );

    for (cluster, says) in [
        (
            r#"{"new_cluster": {"spark_version": "15.4.x-scala2.12", "node_type_id": "i3.xlarge", "num_workers": 1, "spark_conf": {"a": "b"}}}"#,
            "sets `spark_conf`, which only a cluster has",
        ),
        (
            r#"{"spark_version": "15.4.x-scala2.12", "node_type_id": "i3.xlarge", "num_workers": 1, "init_scripts": []}"#,
            "sets `init_scripts`, which only a cluster has",
        ),
        (
            r#"{"existing_cluster_id": "0101-x"}"#,
            "sets `existing_cluster_id`",
        ),
        (
            r#"{"new_cluster": {"spark_version": "15.4.x-scala2.12", "node_type_id": "i3.xlarge", "num_workers": 1}, "libraries": [{"maven": {"coordinates": "a:b:1"}}]}"#,
            "which is not a pip requirement",
        ),
    ] {
        let p = project(SERVERLESS);
        p.file("mlproject/cluster.json", cluster);
        let out = check(&p, &["--target", "sl"]);
        out.code(2);
        assert_has(
            &out.stderr,
            &["runs on serverless compute", "cluster.json", says, "help:"],
        );
        // The same project is fine on a job cluster.
        if !cluster.contains("existing") {
            let p2 = project(
                "[targets.dev]\nkind = \"databricks\"\nartifacts = \"/Volumes/main/mlops/artifacts/{project}\"\n",
            );
            p2.file("mlproject/cluster.json", cluster);
            check(&p2, &["--target", "dev"]).success();
        }
    }
    let p = project(&format!(
        "{SERVERLESS}\n[cluster]\nspark_env_vars = {{ A = \"1\" }}\n"
    ));
    let out = check(&p, &["--target", "sl"]);
    out.code(2);
    assert_has(&out.stderr, &["`[cluster] spark_env_vars`"]);

    // Sizing a cluster and pip libraries carry over (serverless sizes itself).
    let p = project(SERVERLESS);
    p.file(
        "mlproject/cluster.json",
        r#"{"new_cluster": {"spark_version": "15.4.x-scala2.12", "num_workers": 4}, "libraries": [{"pypi": {"package": "convertdate"}}]}"#,
    );
    check(&p, &["--target", "sl"]).success();
}

#[test]
fn dbfs_on_a_new_runtime_is_refused_but_not_on_an_existing_cluster() {
    let p = project(
        "[cluster]\nspark_version = \"15.4.x-scala2.12\"\n\n[targets.dbfs]\nkind = \"databricks\"\nartifacts = \"dbfs:/mlops\"\n\n[targets.old]\nkind = \"databricks\"\nartifacts = \"dbfs:/mlops\"\ncluster_id = \"0101-abc\"\n",
    );
    let out = check(&p, &["--target", "dbfs"]);
    out.code(2);
    assert_has(
        &out.stderr,
        &[
            "libraries in the DBFS root are disabled from 15.0",
            "Unity Catalog volume",
        ],
    );
    check(&p, &["--target", "old"]).success();

    // Online, and before `run` uploads anything, the existing cluster is asked its runtime.
    let ws = crate::support::fake::FakeWorkspace::start();
    let online = |p: &Project| p.mlops_ws(&ws, &["check", "--target", "old", "--online"], &[]);
    online(&p).success();
    ws.with_state(|s| {
        s.clusters.get_mut("0101-abc").unwrap()["spark_version"] =
            serde_json::json!("15.4.x-scala2.12")
    });
    let out = online(&p);
    out.code(2);
    assert_has(
        &out.stderr,
        &[
            "its cluster 0101-abc (`targets.old.cluster_id`) runs Databricks Runtime `15.4.x-scala2.12`",
            "disabled from 15.0",
            "spark.databricks.driver.dbfsLibraryInstallationAllowed true",
        ],
    );
    p.git_cmd(&["add", "-A"]);
    p.git_cmd(&["commit", "-qm", "p"]);
    let run = p.mlops_ws(&ws, &["run", "--entry", "train", "--target", "old"], &[]);
    run.code(2);
    assert_has(&run.stderr, &["its cluster 0101-abc"]);
    assert!(ws.dbfs_paths().is_empty(), "{:?}", ws.dbfs_paths());
    // A persistent job on that cluster would fail at every scheduled run: `jobs deploy`
    // refuses it, before anything is uploaded.
    p.file(
        "mlops.toml",
        &(p.read("mlops.toml") + "\n[jobs.nightly]\nentry = \"train\"\ntarget = \"old\"\n"),
    );
    p.git_cmd(&["commit", "-qam", "job"]);
    let jobs = p.mlops_ws(&ws, &["jobs", "deploy"], &[]);
    jobs.code(2);
    assert_has(
        &jobs.stderr,
        &["its cluster 0101-abc (`targets.old.cluster_id`)", "15.4"],
    );
    assert!(ws.dbfs_paths().is_empty(), "{:?}", ws.dbfs_paths());
    assert!(ws.with_state(|s| s.job_defs.is_empty()));
    // The cluster's own opt-in is honoured.
    ws.with_state(|s| {
        s.clusters.get_mut("0101-abc").unwrap()["spark_conf"] = serde_json::json!({
            "spark.databricks.driver.dbfsLibraryInstallationAllowed": "true"
        })
    });
    online(&p).success();
}

#[test]
fn a_cluster_json_naming_an_existing_cluster_is_judged_by_that_cluster() {
    // `[cluster] spark_version` says 15.4, but cluster.json sends the task to an existing
    // cluster: its runtime decides, asked of the cluster, not the manifest's.
    let p = project(
        "[cluster]\nspark_version = \"15.4.x-scala2.12\"\n\n[targets.dbfs]\nkind = \"databricks\"\nartifacts = \"dbfs:/mlops\"\n",
    );
    p.file(
        "mlproject/cluster.json",
        r#"{"existing_cluster_id": "0101-123456-abcd"}"#,
    );
    check(&p, &["--target", "dbfs"]).success();
    let ws = crate::support::fake::FakeWorkspace::start();
    let online = || p.mlops_ws(&ws, &["check", "--target", "dbfs", "--online"], &[]);
    online().success();
    ws.with_state(|s| {
        s.clusters.get_mut("0101-123456-abcd").unwrap()["spark_version"] =
            serde_json::json!("16.1.x-scala2.12")
    });
    let out = online();
    out.code(2);
    assert_has(
        &out.stderr,
        &[
            "its cluster 0101-123456-abcd (`existing_cluster_id` in mlproject/cluster.json) runs Databricks Runtime `16.1.x-scala2.12`",
            "disabled from 15.0",
        ],
    );
    p.git_cmd(&["add", "-A"]);
    p.git_cmd(&["commit", "-qm", "p"]);
    let run = p.mlops_ws(&ws, &["run", "--entry", "train", "--target", "dbfs"], &[]);
    run.code(2);
    assert_has(&run.stderr, &["its cluster 0101-123456-abcd"]);
    assert!(ws.dbfs_paths().is_empty(), "{:?}", ws.dbfs_paths());
}

#[test]
fn env_managers_that_run_mlflow_on_the_cluster_are_refused() {
    let p = project(
        "[targets.dev]\nkind = \"databricks\"\nartifacts = \"/Volumes/main/mlops/artifacts/{project}\"\nenv_manager = \"conda\"\n",
    );
    let out = check(&p, &["--target", "dev"]);
    out.code(2);
    assert_has(
        &out.stderr,
        &[
            "`env_manager = \"conda\"` cannot work on Databricks",
            "MLflow Projects cannot run inside a job cluster from Runtime 13.0 ML",
            "targets.dev.env_manager",
            "remove `env_manager`",
        ],
    );
    let p = project(
        "[targets.dev]\nkind = \"databricks\"\nartifacts = \"/Volumes/main/mlops/artifacts/{project}\"\nenv_manager = \"local\"\n",
    );
    check(&p, &["--target", "dev"]).success();
    let p = project(
        "[targets.dev]\nkind = \"databricks\"\nartifacts = \"/Volumes/main/mlops/artifacts/{project}\"\nenvironment_version = \"4\"\n",
    );
    let out = check(&p, &["--target", "dev"]);
    out.code(2);
    assert_has(&out.stderr, &["only applies to serverless compute"]);
    let p = project(&format!("{SERVERLESS}environment_version = \"v4\"\n"));
    let out = check(&p, &["--target", "sl"]);
    out.code(2);
    assert_has(
        &out.stderr,
        &[
            "environment version number",
            "targets.sl.environment_version",
        ],
    );
}

#[test]
fn conda_only_packages_are_named_as_warnings_for_databricks_targets() {
    let p = project(SERVERLESS);
    p.file(
        "mlproject/conda.yaml",
        "name: t\ndependencies:\n  - python=3.11\n  - scikit-learn=1.5\n  - pip\n  - pip:\n    - mlflow\n",
    );
    let out = check(&p, &["--target", "sl"]);
    out.success();
    assert_has(
        &out.stderr,
        &[
            "warning: mlproject/conda.yaml: the conda package `scikit-learn=1.5` cannot be installed on Databricks",
        ],
    );
    assert!(!out.stderr.contains("`mlflow`"), "{}", out.stderr);
    assert!(!out.stderr.contains("`python=3.11`"), "{}", out.stderr);
    // Locally pip installs what it can: no warning.
    let out = check(&p, &[]);
    out.success();
    assert!(!out.stderr.contains("warning"), "{}", out.stderr);
}

#[test]
fn a_shell_entry_point_is_warned_about_on_databricks() {
    let p = project(SERVERLESS);
    let out = check(&p, &["--target", "sl", "--entry", "script"]);
    out.success();
    assert_has(
        &out.stderr,
        &[
            "warning: entry point `script` runs `bash run.sh --fast` as a subprocess",
            "no Spark session",
        ],
    );
    let out = check(&p, &["--target", "sl", "--entry", "train", "--json"]);
    out.success();
    assert!(!out.stderr.contains("warning"), "{}", out.stderr);
    assert_eq!(
        out.json()["launch"],
        serde_json::json!({"kind": "python_file", "file": "train.py", "args": []})
    );
    let out = check(&p, &["--entry", "script"]);
    out.success();
    assert!(!out.stderr.contains("warning"), "{}", out.stderr);
}

const JOB_CLUSTER: &str =
    "[targets.jc]\nkind = \"databricks\"\nartifacts = \"dbfs:/mlops/{project}\"\n";

#[test]
fn check_refuses_cluster_specs_the_jobs_api_refuses() {
    for (cluster, says, at) in [
        (
            r#"{"new_cluster": "big", "libraries": []}"#,
            "`new_cluster` must be an object",
            "cluster.json:1:2",
        ),
        (
            "{\n  \"new_cluster\": {\"node_type_id\": \"i3.xlarge\", \"num_workers\": 1}\n}",
            "no `spark_version`",
            "cluster.json:2:3",
        ),
        (
            "{\"new_cluster\": {\n  \"spark_version\": 15.4, \"node_type_id\": \"i3.xlarge\", \"num_workers\": 1}}",
            "must be a string",
            "cluster.json:2:3",
        ),
        (
            r#"{"spark_version": "14.3.x-scala2.12", "num_workers": 1}"#,
            "neither `node_type_id` nor `instance_pool_id`",
            "cluster.json:1:1",
        ),
        (
            r#"{"new_cluster": {"spark_version": "14.3.x-scala2.12", "node_type_id": "i3.xlarge"}}"#,
            "neither `num_workers` nor `autoscale`",
            "cluster.json:1:2",
        ),
    ] {
        let p = project(JOB_CLUSTER);
        p.file("mlproject/cluster.json", cluster);
        let out = check(&p, &["--target", "jc"]);
        out.code(2);
        assert_has(&out.stderr, &[says, at, "help:"]);
    }
    // A policy may supply what the spec leaves out.
    let p = project(JOB_CLUSTER);
    p.file(
        "mlproject/cluster.json",
        r#"{"new_cluster": {"policy_id": "ABC123", "spark_version": "14.3.x-scala2.12"}}"#,
    );
    check(&p, &["--target", "jc"]).success();
}

#[test]
fn runtimes_in_every_written_form_are_checked_or_warned_about() {
    for version in ["16.x-snapshot-scala2.12", "custom:16.1.x-photon-scala2.12"] {
        let p = project(&format!(
            "[cluster]\nspark_version = \"{version}\"\nnode_type_id = \"i3.xlarge\"\nnum_workers = 1\n\n{JOB_CLUSTER}"
        ));
        let out = check(&p, &["--target", "jc"]);
        out.code(2);
        assert_has(
            &out.stderr,
            &["libraries in the DBFS root are disabled from 15.0", version],
        );
    }
    let p = project(&format!(
        "[cluster]\nspark_version = \"latest\"\nnode_type_id = \"i3.xlarge\"\nnum_workers = 1\n\n{JOB_CLUSTER}"
    ));
    let out = check(&p, &["--target", "jc"]);
    out.success();
    assert_has(
        &out.stderr,
        &[
            "cannot tell which Databricks Runtime `latest`",
            "[cluster] spark_version",
            "DBFS libraries",
        ],
    );
    // Written as a number in the manifest: a manifest error at the value.
    let p = project(&format!(
        "[cluster]\nspark_version = 15.4\nnode_type_id = \"i3.xlarge\"\nnum_workers = 1\n\n{JOB_CLUSTER}"
    ));
    let out = check(&p, &["--target", "jc"]);
    out.code(2);
    assert_has(&out.stderr, &["mlops.toml:11:17", "spark_version"]);
}

#[test]
fn check_refuses_a_broken_pyproject_in_a_wheel_folder() {
    let p = project("");
    let manifest = p.read("mlops.toml") + "\n[[wheel]]\npath = \"pkg\"\n";
    p.file("mlops.toml", &manifest).file(
        "pkg/pyproject.toml",
        "[project]\nname = \"pkg\"\nversion = 0.1\"\n",
    );
    let out = check(&p, &[]);
    out.code(2);
    assert_has(
        &out.stderr,
        &["pkg/pyproject.toml:3:", "fix the TOML syntax"],
    );
}

#[test]
fn packages_in_forms_the_jobs_api_does_not_promise_are_said() {
    // A cluster's `pypi` library is a name with an optional exact version.
    let p = project(
        "[environment]\npip = [\"mlflow\", \"pandas>=2\", \"numpy==1.26.4\", \"-r extra.txt\"]\n\n[targets.dev]\nkind = \"databricks\"\nartifacts = \"/Volumes/main/mlops/artifacts/{project}\"\n",
    );
    let out = check(&p, &["--target", "dev"]);
    out.success();
    assert_has(
        &out.stderr,
        &[
            "`pandas>=2` becomes a `pypi` job library",
            "`-r extra.txt` is a pip option",
            "2 warnings",
        ],
    );
    assert!(!out.stderr.contains("`numpy==1.26.4`"), "{}", out.stderr);
    // Serverless cannot read DBFS: a DBFS path among its dependencies is refused.
    let p = project(&format!(
        "[environment]\npip = [\"mlflow\", \"/dbfs/libs/other-1.0-py3-none-any.whl\"]\n\n{SERVERLESS}"
    ));
    let out = check(&p, &["--target", "sl"]);
    out.code(2);
    assert_has(
        &out.stderr,
        &[
            "`/dbfs/libs/other-1.0-py3-none-any.whl` is on DBFS",
            "serverless target `sl` cannot read",
            "/Volumes/",
        ],
    );
}
