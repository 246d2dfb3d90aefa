use std::collections::BTreeMap;
use std::path::Path;

use super::*;
use crate::build::backend::Backend;
use crate::manifest::Install;
use crate::plan::Inputs;
use crate::support::naming::{self, Branch, Source};
use serde_json::json;

/// A project folder with `mlops.toml` and the given files, and its plan for `target`.
struct Fixture {
    dir: tempfile::TempDir,
}

impl Fixture {
    fn new(manifest: &str, files: &[(&str, &str)]) -> Fixture {
        let dir = tempfile::tempdir().unwrap();
        fs_err::write(dir.path().join("mlops.toml"), manifest).unwrap();
        fs_err::create_dir_all(dir.path().join("mlproject")).unwrap();
        for (name, text) in files {
            let path = dir.path().join(name);
            fs_err::create_dir_all(path.parent().unwrap()).unwrap();
            fs_err::write(path, text).unwrap();
        }
        Fixture { dir }
    }

    fn prepare(&self, target: Option<&str>, branch: &str) -> (Manifest, MlflowProject, Plan) {
        let manifest = crate::manifest::load(&self.dir.path().join("mlops.toml")).unwrap();
        let project = MlflowProject::load(&manifest).unwrap();
        let plan = Plan::new(
            &manifest,
            Inputs {
                target,
                branch: Branch {
                    name: branch.into(),
                    source: Source::Flag,
                    slug: naming::slug(branch),
                },
                commit: None,
                dirty: Vec::new(),
                local_user: Some("ada".into()),
                entry: None,
                entry_point: None,
                wheels: Vec::new(),
                entry_points: project.entry_points.clone(),
                parameters: BTreeMap::new(),
            },
        )
        .unwrap();
        (manifest, project, plan)
    }

    /// Renders into `<dir>/out` and returns the rendered files' texts by name.
    fn render(
        &self,
        target: Option<&str>,
        branch: &str,
        wheels: &[BuiltWheel],
    ) -> BTreeMap<String, String> {
        let (manifest, project, plan) = self.prepare(target, branch);
        let out = self.dir.path().join("out");
        let rendered = render(&plan, &manifest, &project, wheels, &out).unwrap();
        rendered
            .files
            .iter()
            .map(|f| {
                let text = fs_err::read_to_string(out.join(f)).unwrap();
                (f.to_string_lossy().into_owned(), text)
            })
            .collect()
    }
}

fn wheel(name: &str, install: Install) -> BuiltWheel {
    let sha = format!("{:0<64}", name.len().to_string() + "abcdef");
    BuiltWheel {
        package: format!("pkg/{name}"),
        name: name.into(),
        version: "1.0".into(),
        file: format!("{name}-1.0-py3-none-any.whl"),
        path: format!("/build/{name}-1.0-py3-none-any.whl").into(),
        address: sha[..16].to_string(),
        sha256: sha,
        size: 10,
        cached: false,
        backend: Backend::Pep517,
        install,
    }
}

const DATABRICKS: &str = r#"
[project]
name = "churn"

[environment]
python = "3.10"
conda = ["scikit-learn"]
pip = ["mlflow"]

[cluster]
spark_version = "14.3.x-scala2.12"
num_workers = 2
pypi = ["convertdate"]

[entry_points.train]
command = "python train.py --alpha {alpha}"
parameters.alpha = { type = "float", default = 0.5 }

[targets.dbfs]
kind = "databricks"
artifacts = "dbfs:/wheels"

[targets.uc]
kind = "databricks"
artifacts = "/Volumes/main/ml/art"
cluster_id = "0101-abc"
"#;

fn yaml(text: &str) -> serde_yaml::Value {
    serde_yaml::from_str(text).unwrap()
}

fn json_of(text: &str) -> serde_json::Value {
    serde_json::from_str(text).unwrap()
}

#[test]
fn generated_files_on_dbfs_use_the_right_path_forms() {
    let f = Fixture::new(DATABRICKS, &[("mlproject/train.py", "print(1)\n")]);
    let wheels = [
        wheel("feat", Install::Driver),
        wheel("fast", Install::Cluster),
    ];
    let files = f.render(Some("dbfs"), "main", &wheels);
    assert_eq!(
        files.keys().collect::<Vec<_>>(),
        [
            "MLproject",
            "cluster.json",
            "conda.yaml",
            LAUNCHER_FILE,
            "train.py"
        ]
    );
    let conda = yaml(&files["conda.yaml"]);
    assert_eq!(conda["name"].as_str(), Some("churn"));
    let deps = conda["dependencies"].as_sequence().unwrap();
    assert_eq!(deps[0].as_str(), Some("python=3.10"));
    assert_eq!(deps[1].as_str(), Some("scikit-learn"));
    let pip = deps.last().unwrap()["pip"].as_sequence().unwrap();
    let feat = &wheels[0];
    assert_eq!(pip[0].as_str(), Some("mlflow"));
    assert_eq!(
        pip[1].as_str().unwrap(),
        format!("/dbfs/wheels/main/{}/{}", feat.address, feat.file)
    );
    assert_eq!(pip.len(), 2, "only driver wheels go into the environment");

    let cluster = json_of(&files["cluster.json"]);
    assert_eq!(cluster["new_cluster"]["spark_version"], "14.3.x-scala2.12");
    assert_eq!(cluster["new_cluster"]["num_workers"], 2);
    let fast = &wheels[1];
    assert_eq!(
        cluster["libraries"],
        json!([
            {"pypi": {"package": "convertdate"}},
            {"whl": format!("dbfs:/wheels/main/{}/{}", fast.address, fast.file)}
        ])
    );

    let mlproject = yaml(&files["MLproject"]);
    assert_eq!(mlproject["name"].as_str(), Some("churn"));
    assert_eq!(mlproject["conda_env"].as_str(), Some("conda.yaml"));
    let train = &mlproject["entry_points"]["train"];
    assert_eq!(
        train["command"].as_str(),
        Some("python train.py --alpha {alpha}")
    );
    assert_eq!(train["parameters"]["alpha"]["type"].as_str(), Some("float"));
    assert_eq!(train["parameters"]["alpha"]["default"].as_f64(), Some(0.5));
    assert_eq!(files[LAUNCHER_FILE], templates::LAUNCHER);
}

#[test]
fn volumes_use_one_form_and_an_existing_cluster_replaces_the_new_one() {
    let f = Fixture::new(DATABRICKS, &[]);
    let wheels = [
        wheel("feat", Install::Driver),
        wheel("fast", Install::Cluster),
    ];
    let files = f.render(Some("uc"), "main", &wheels);
    let conda = yaml(&files["conda.yaml"]);
    let pip = conda["dependencies"].as_sequence().unwrap().last().unwrap()["pip"].clone();
    assert!(
        pip[1]
            .as_str()
            .unwrap()
            .starts_with("/Volumes/main/ml/art/main/")
    );
    let cluster = json_of(&files["cluster.json"]);
    assert_eq!(cluster["existing_cluster_id"], "0101-abc");
    assert!(cluster.get("new_cluster").is_none());
    assert!(
        cluster["libraries"][1]["whl"]
            .as_str()
            .unwrap()
            .starts_with("/Volumes/main/ml/art/main/")
    );
}

#[test]
fn local_target_uses_absolute_local_paths() {
    let f = Fixture::new(DATABRICKS, &[]);
    let files = f.render(None, "main", &[wheel("feat", Install::Driver)]);
    let conda = yaml(&files["conda.yaml"]);
    let pip = conda["dependencies"].as_sequence().unwrap().last().unwrap()["pip"].clone();
    let path = pip[1].as_str().unwrap();
    assert!(Path::new(path).is_absolute());
    assert!(
        path.starts_with(
            &f.dir
                .path()
                .join(".mlops/artifacts/main")
                .to_string_lossy()
                .into_owned()
        ),
        "{path}"
    );
}

#[test]
fn hostile_values_cannot_change_the_structure() {
    let hostile = "x\": 1, \"y: {#}\n- evil: [\"'";
    let manifest = format!(
        "[project]\nname = \"churn\"\n[environment]\npip = [{pip:?}]\n[cluster]\ncustom_tags = {{ team = {hostile:?} }}\nspark_conf = {{ \"spark.x\" = {hostile:?} }}\n[entry_points.train]\ncommand = \"python t.py {{p}}\"\nparameters.p = {{ type = \"string\", default = {hostile:?} }}\n[targets.uc]\nkind = \"databricks\"\nartifacts = \"/Volumes/m/s/v\"\n",
        pip = hostile,
    );
    let f = Fixture::new(&manifest, &[]);
    let branch = "feat/\"quoted\": {x}\n# not a comment";
    let files = f.render(
        Some("uc"),
        branch,
        &[
            wheel("feat", Install::Driver),
            wheel("fast", Install::Cluster),
        ],
    );
    let mlproject = yaml(&files["MLproject"]);
    assert_eq!(
        mlproject["entry_points"]["train"]["parameters"]["p"]["default"].as_str(),
        Some(hostile)
    );
    assert_eq!(
        mlproject.as_mapping().unwrap().len(),
        3,
        "{}",
        files["MLproject"]
    );
    let conda = yaml(&files["conda.yaml"]);
    let deps = conda["dependencies"].as_sequence().unwrap();
    let pip = deps.last().unwrap()["pip"].as_sequence().unwrap();
    assert_eq!(pip[0].as_str(), Some(hostile));
    assert_eq!(pip.len(), 2);
    let slug = naming::slug(branch);
    assert!(pip[1].as_str().unwrap().contains(&format!("/{slug}/")));
    let cluster = json_of(&files["cluster.json"]);
    assert_eq!(cluster["new_cluster"]["custom_tags"]["team"], hostile);
    assert_eq!(cluster["new_cluster"]["spark_conf"]["spark.x"], hostile);
    assert_eq!(cluster.as_object().unwrap().len(), 2);
}

#[test]
fn own_files_win_and_the_manifest_fills_gaps() {
    let own_mlproject = "name: mine\npython_env: python_env.yaml\nentry_points:\n  main:\n    parameters:\n      n: {type: int, default: 3}\n    command: \"python main.py {n}\"\n";
    let f = Fixture::new(
        DATABRICKS,
        &[
            ("mlproject/MLproject", own_mlproject),
            (
                "mlproject/python_env.yaml",
                "python: \"3.11\"\nbuild_dependencies:\n  - pip\ndependencies:\n  - mlflow\n",
            ),
            (
                "mlproject/cluster.json",
                "{\"spark_version\": \"13.3.x-scala2.12\", \"node_type_id\": \"i3.xlarge\", \"num_workers\": 1}",
            ),
        ],
    );
    let wheels = [
        wheel("feat", Install::Driver),
        wheel("fast", Install::Cluster),
    ];
    let files = f.render(Some("dbfs"), "main", &wheels);
    assert!(
        !files.contains_key("conda.yaml"),
        "the project's own env file is used"
    );
    let mlproject = yaml(&files["MLproject"]);
    assert_eq!(mlproject["name"].as_str(), Some("mine"));
    assert_eq!(mlproject["python_env"].as_str(), Some("python_env.yaml"));
    assert!(mlproject.get("conda_env").is_none());
    assert_eq!(
        mlproject["entry_points"]["main"]["command"].as_str(),
        Some("python main.py {n}")
    );
    // The manifest's `train` is added, since the project has no entry point of that name.
    assert!(mlproject["entry_points"]["train"].is_mapping());
    let env = yaml(&files["python_env.yaml"]);
    let deps = env["dependencies"].as_sequence().unwrap();
    assert_eq!(deps[0].as_str(), Some("mlflow"));
    assert!(deps[1].as_str().unwrap().starts_with("/dbfs/wheels/main/"));
    // A bare cluster spec is wrapped so that it can carry the cluster wheel.
    let cluster = json_of(&files["cluster.json"]);
    assert_eq!(cluster["new_cluster"]["spark_version"], "13.3.x-scala2.12");
    assert_eq!(cluster["libraries"].as_array().unwrap().len(), 1);
}

#[test]
fn a_bare_spec_with_nothing_to_add_stays_bare() {
    let f = Fixture::new(
        DATABRICKS,
        &[(
            "mlproject/cluster.json",
            "{\"spark_version\": \"13.3.x-scala2.12\", \"node_type_id\": \"i3.xlarge\", \"num_workers\": 1}",
        )],
    );
    let files = f.render(Some("dbfs"), "main", &[wheel("feat", Install::Driver)]);
    assert_eq!(
        json_of(&files["cluster.json"]),
        json!({"spark_version": "13.3.x-scala2.12", "node_type_id": "i3.xlarge", "num_workers": 1})
    );
}

#[test]
fn rendering_twice_gives_identical_bytes_and_tarballs() {
    let f = Fixture::new(
        DATABRICKS,
        &[
            ("mlproject/train.py", "print(1)\n"),
            ("mlproject/data/x.csv", "a,b\n"),
        ],
    );
    let wheels = [wheel("feat", Install::Driver)];
    let (manifest, project, plan) = f.prepare(Some("dbfs"), "main");
    let a = render(&plan, &manifest, &project, &wheels, &f.dir.path().join("a")).unwrap();
    let b = render(&plan, &manifest, &project, &wheels, &f.dir.path().join("b")).unwrap();
    assert_eq!(a.files, b.files);
    for file in &a.files {
        assert_eq!(
            fs_err::read(a.dir.join(file)).unwrap(),
            fs_err::read(b.dir.join(file)).unwrap(),
            "{}",
            file.display()
        );
    }
    let ta = a.tarball(std::io::sink()).unwrap();
    let tb = b.tarball(std::io::sink()).unwrap();
    assert_eq!(ta, tb);
    // Rendering again into the same folder replaces the earlier render.
    let again = render(&plan, &manifest, &project, &wheels, &f.dir.path().join("a")).unwrap();
    assert_eq!(again.tarball(std::io::sink()).unwrap(), ta);
}

#[test]
fn the_tarball_leaves_out_git_mlruns_caches_and_ignored_files() {
    let f = Fixture::new(
        DATABRICKS,
        &[
            ("mlproject/train.py", ""),
            ("mlproject/.gitignore", "*.log\n"),
            ("mlproject/debug.log", ""),
            ("mlproject/mlruns/0/meta.yaml", ""),
            ("mlproject/__pycache__/t.pyc", ""),
            ("mlproject/.mlops/x", ""),
            ("mlproject/.git/HEAD", ""),
            ("mlproject/pkg/__pycache__/m.pyc", ""),
            ("mlproject/pkg/m.py", ""),
        ],
    );
    let (manifest, project, plan) = f.prepare(Some("dbfs"), "main");
    let r = render(&plan, &manifest, &project, &[], &f.dir.path().join("out")).unwrap();
    let names: Vec<String> = r
        .files
        .iter()
        .map(|p| p.to_string_lossy().into_owned())
        .collect();
    assert_eq!(
        names,
        [
            ".gitignore",
            "MLproject",
            "cluster.json",
            "conda.yaml",
            LAUNCHER_FILE,
            "pkg/m.py",
            "train.py"
        ]
    );
}

#[test]
fn render_refuses_a_folder_it_did_not_write() {
    let f = Fixture::new(DATABRICKS, &[("out/precious.txt", "mine")]);
    let (manifest, project, plan) = f.prepare(Some("dbfs"), "main");
    let err = render(&plan, &manifest, &project, &[], &f.dir.path().join("out")).unwrap_err();
    assert!(
        err.message()
            .contains("was not written by `cargo mlops render`")
    );
    assert_eq!(
        fs_err::read_to_string(f.dir.path().join("out/precious.txt")).unwrap(),
        "mine"
    );
}

#[test]
fn runtime_checks_go_both_ways_and_name_the_key_that_sets_the_runtime() {
    // DBFS from 15.0 is refused, naming the key; 14.3 is fine.
    let manifest = DATABRICKS.replace("14.3.x-scala2.12", "15.0.x-scala2.12");
    let f = Fixture::new(&manifest, &[]);
    let (manifest, project, plan) = f.prepare(Some("dbfs"), "main");
    let err = validate(&plan, &manifest, &project).unwrap_err();
    assert_eq!(err.exit_code(), 2);
    assert!(
        err.message()
            .contains("libraries in the DBFS root are disabled from 15.0")
            && err.message().contains("[cluster] spark_version"),
        "{}",
        err.message()
    );
    let help = err.help().unwrap();
    assert!(
        help.contains("/Volumes/")
            && help.contains("[targets.dbfs.cluster] spark_version")
            && help.contains(DBFS_LIBRARY_OPT_IN),
        "{help}"
    );
    // The Spark conf opts back in.
    let opted = DATABRICKS.replace("14.3.x-scala2.12", "15.4.x-scala2.12").replace(
        "pypi = [\"convertdate\"]",
        "pypi = [\"convertdate\"]\nspark_conf = { \"spark.databricks.driver.dbfsLibraryInstallationAllowed\" = \"true\" }",
    );
    let f = Fixture::new(&opted, &[]);
    let (manifest, project, plan) = f.prepare(Some("dbfs"), "main");
    validate(&plan, &manifest, &project).unwrap();
    // A target pins its own runtime; the others keep the project's.
    let pinned = DATABRICKS
        .replace("14.3.x-scala2.12", "15.4.x-scala2.12")
        .replace(
            "artifacts = \"dbfs:/wheels\"",
            "artifacts = \"dbfs:/wheels\"\ncluster = { spark_version = \"14.3.x-scala2.12\" }",
        );
    let f = Fixture::new(&pinned, &[]);
    let (manifest, project, plan) = f.prepare(Some("dbfs"), "main");
    validate(&plan, &manifest, &project).unwrap();
    assert_eq!(
        manifest.cluster_for("dbfs").spark_version,
        "14.3.x-scala2.12"
    );
    assert_eq!(manifest.cluster_for("uc").spark_version, "15.4.x-scala2.12");
    assert_eq!(
        manifest.cluster_for("dbfs").workers,
        manifest.cluster.workers
    );
    // Volumes below 13.3 are refused: the template's 7.0 runtime has no volumes.
    let old = DATABRICKS
        .replace("14.3.x-scala2.12", "7.0.x-scala2.12")
        .replace("cluster_id = \"0101-abc\"\n", "");
    let f = Fixture::new(&old, &[]);
    let (manifest, project, plan) = f.prepare(Some("uc"), "main");
    let err = validate(&plan, &manifest, &project).unwrap_err();
    assert!(
        err.message().contains("volumes need 13.3 LTS or above")
            && err.message().contains("[cluster] spark_version"),
        "{}",
        err.message()
    );
    // The project's own cluster.json decides when it has one, and is named with its line.
    let f = Fixture::new(
        DATABRICKS,
        &[(
            "mlproject/cluster.json",
            "{\"new_cluster\": {\n  \"spark_version\": \"16.1.x-scala2.12\", \"node_type_id\": \"n\", \"num_workers\": 1}}",
        )],
    );
    let (manifest, project, plan) = f.prepare(Some("dbfs"), "main");
    let err = validate(&plan, &manifest, &project).unwrap_err();
    assert!(
        err.message().contains("cluster.json:2"),
        "{}",
        err.message()
    );
}

#[test]
fn docker_env_is_refused() {
    let f = Fixture::new(
        DATABRICKS,
        &[(
            "mlproject/MLproject",
            "name: x\ndocker_env:\n  image: python:3.11\n",
        )],
    );
    let (manifest, project, plan) = f.prepare(None, "main");
    let err = validate(&plan, &manifest, &project).unwrap_err();
    assert!(err.message().contains("docker_env"), "{}", err.message());
}

#[test]
fn runtime_versions_parse() {
    assert_eq!(parse_runtime("15.4.x-scala2.12"), Some((15, 4)));
    assert_eq!(parse_runtime("14.3.x-cpu-ml-scala2.12"), Some((14, 3)));
    assert_eq!(parse_runtime("latest"), None);
    assert_eq!(
        parse_runtime("16.x-snapshot-scala2.12"),
        Some((16, u32::MAX))
    );
    assert_eq!(
        parse_runtime("15.x-snapshot-scala2.12"),
        Some((15, u32::MAX))
    );
    assert_eq!(
        parse_runtime("custom:16.1.x-photon-scala2.12"),
        Some((16, 1))
    );
    assert_eq!(parse_runtime("15"), None);
}
