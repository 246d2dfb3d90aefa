//! `cargo mlops gc`: a plan by default, deletion with --execute; gone branches, old unused
//! content folders, and never a folder a running job reads.

use std::collections::BTreeSet;
use std::path::Path;
use std::time::{Duration, SystemTime};

use serde_json::Value;

use crate::support::fake::FakeWorkspace;
use crate::support::{Project, assert_has, test_python};

pub fn with_remote(p: &Project) -> tempfile::TempDir {
    let remote = tempfile::tempdir().unwrap();
    let out = std::process::Command::new("git")
        .args(["init", "-q", "--bare", "-b", "main"])
        .arg(remote.path())
        .output()
        .unwrap();
    assert!(out.status.success());
    p.git_cmd(&["remote", "add", "origin", remote.path().to_str().unwrap()]);
    p.git_cmd(&["push", "-q", "origin", "main"]);
    remote
}

fn scaffold(extra: &str) -> Project {
    let p = Project::git();
    p.mlops(&["init", "--name", "gcdemo"]).success();
    let manifest = p.read("mlops.toml") + extra;
    p.file("mlops.toml", &manifest);
    p.git_cmd(&["add", "-A"]);
    p.git_cmd(&["commit", "-qm", "scaffold"]);
    p
}

fn age_files(dir: &Path, days: u64) {
    let when = SystemTime::now() - Duration::from_secs(days * 86_400);
    for entry in std::fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        if path.is_dir() {
            age_files(&path, days);
        } else {
            std::fs::File::options()
                .write(true)
                .open(&path)
                .unwrap()
                .set_modified(when)
                .unwrap();
        }
    }
}

fn tarball_folder(report: &Value) -> String {
    let path = report["tarball"]["remote_path"].as_str().unwrap();
    path.rsplit_once('/').unwrap().0.to_string()
}

fn planned(report: &Value) -> BTreeSet<String> {
    report["plan"]
        .as_array()
        .unwrap()
        .iter()
        .map(|d| d["path"].as_str().unwrap().to_string())
        .collect()
}

#[test]
fn local_gc_plans_then_deletes_gone_branches_and_old_unused_folders() {
    let p = scaffold("");
    let _remote = with_remote(&p);
    let python = test_python();
    let py = python.to_str().unwrap();
    let first = p
        .mlops(&["deploy", "--json", "--python", py])
        .success()
        .json();
    let old_folder = tarball_folder(&first);
    p.file(
        "mlproject/train.py",
        &(p.read("mlproject/train.py") + "\n# v2\n"),
    );
    p.git_cmd(&["commit", "-qam", "v2"]);
    let second = p
        .mlops(&["deploy", "--json", "--python", py])
        .success()
        .json();
    let new_folder = tarball_folder(&second);
    let launcher_folder = second["launcher"]["remote_path"]
        .as_str()
        .unwrap()
        .rsplit_once('/')
        .unwrap()
        .0
        .to_string();
    p.mlops(&["deploy", "--python", py, "--branch", "old-feature"])
        .success();
    let gone = p.path().join(".mlops/artifacts/old-feature");
    assert!(gone.is_dir());
    age_files(Path::new(&old_folder), 30);

    let plan = p.mlops(&["gc", "--json"]).success().json();
    let doomed = planned(&plan);
    assert!(doomed.contains(&old_folder), "{doomed:?}");
    assert!(doomed.contains(gone.to_str().unwrap()), "{doomed:?}");
    assert!(
        !doomed.contains(&new_folder) && !doomed.contains(&launcher_folder),
        "{doomed:?}"
    );
    assert!(plan["bytes"].as_u64().unwrap() > 0);
    assert!(
        Path::new(&old_folder).is_dir() && gone.is_dir(),
        "a plan deletes nothing"
    );

    let text = p.mlops(&["gc"]);
    assert_has(
        &text.success().stdout,
        &["would delete", "its branch is gone from the remote"],
    );

    let done = p.mlops(&["gc", "--execute", "--json"]).success().json();
    assert_eq!(planned(&done), doomed);
    assert!(!Path::new(&old_folder).exists() && !gone.exists());
    assert!(Path::new(&new_folder).is_dir() && Path::new(&launcher_folder).is_dir());
    // A young unused folder stays until it is old.
    p.file(
        "mlproject/train.py",
        &(p.read("mlproject/train.py") + "\n# v3\n"),
    );
    p.git_cmd(&["commit", "-qam", "v3"]);
    p.mlops(&["deploy", "--python", py]).success();
    let plan = p.mlops(&["gc", "--json"]).success().json();
    assert!(!planned(&plan).contains(&new_folder));
}

#[test]
fn gc_never_deletes_what_a_running_job_reads() {
    let p = scaffold(
        "\n[cluster]\nspark_version = \"14.3.x-scala2.12\"\n\n[targets.dbfs]\nkind = \"databricks\"\nartifacts = \"dbfs:/gc/{project}\"\nexperiment = \"/Shared/{project}/{branch}\"\n",
    );
    let _remote = with_remote(&p);
    let ws = FakeWorkspace::start();
    ws.with_state(|s| s.job_behaviour.running = Duration::from_secs(3600));
    let python = test_python();
    let py = python.to_str().unwrap();
    // A job still running on a branch that is gone from the remote.
    let running = p.mlops_ws(
        &ws,
        &[
            "run",
            "--entry",
            "train",
            "--target",
            "dbfs",
            "--no-wait",
            "--json",
            "--python",
            py,
            "--branch",
            "feature/running",
        ],
        &[],
    );
    running.success();
    // A branch that is gone with nothing running.
    p.mlops_ws(
        &ws,
        &[
            "deploy",
            "--target",
            "dbfs",
            "--python",
            py,
            "--branch",
            "feature/done",
        ],
        &[],
    )
    .success();
    // On main: a job at the first commit, then a newer deploy.
    let job = p
        .mlops_ws(
            &ws,
            &[
                "run",
                "--entry",
                "train",
                "--target",
                "dbfs",
                "--no-wait",
                "--json",
                "--python",
                py,
            ],
            &[],
        )
        .success()
        .json();
    let run_id = job["databricks_run_id"].as_u64().unwrap();
    let first_tarball = ws.with_state(|s| {
        s.jobs[&run_id].body["tasks"][0]["spark_python_task"]["parameters"][1]
            .as_str()
            .unwrap()
            .to_string()
    });
    p.file(
        "mlproject/train.py",
        &(p.read("mlproject/train.py") + "\n# v2\n"),
    );
    p.git_cmd(&["commit", "-qam", "v2"]);
    p.mlops_ws(&ws, &["deploy", "--target", "dbfs", "--python", py], &[])
        .success();
    // Live logs (`runs/<MLflow run id>/logs/`): the running job's, and one no record names
    // (a local run's, a persistent job's).
    let job_log = format!(
        "/gc/gcdemo/main/runs/{}",
        job["mlflow_run_id"].as_str().unwrap()
    );
    let orphan_log = "/gc/gcdemo/main/runs/0123456789abcdef0123456789abcdef".to_string();
    for folder in [&job_log, &orphan_log] {
        let chunk = format!("dbfs:{folder}/logs/000001.txt");
        assert!(ws.with_state(|s| s.mounted_write(&chunk, b"o tick 0\n".to_vec())));
    }
    // Everything is old now.
    ws.with_state(|s| {
        s.dbfs_files
            .values_mut()
            .for_each(|f| f.modified_ms -= 40 * 86_400_000)
    });

    let plan = p
        .mlops_ws(&ws, &["gc", "--target", "dbfs", "--json"], &[])
        .success()
        .json();
    let doomed = planned(&plan);
    let slug = |b: &str| cargo_mlops::support::naming::slug(b);
    assert!(
        doomed.contains(&format!("dbfs:/gc/gcdemo/{}", slug("feature/done"))),
        "{doomed:?}"
    );
    assert!(
        !doomed.iter().any(|d| d.contains(&slug("feature/running"))),
        "a running job's folder is planned: {doomed:?}"
    );
    let first_folder = first_tarball.rsplit_once('/').unwrap().0.to_string();
    assert!(
        !doomed.contains(&first_folder),
        "the running job's tarball folder is planned: {doomed:?}"
    );
    assert!(!doomed.contains(&format!("dbfs:{job_log}")), "{doomed:?}");
    assert!(doomed.contains(&format!("dbfs:{orphan_log}")), "{doomed:?}");

    // Once the jobs have ended, their folders can go.
    ws.with_state(|s| {
        s.jobs.values_mut().for_each(|j| {
            j.behaviour.pending = Duration::ZERO;
            j.behaviour.running = Duration::ZERO;
        })
    });
    let plan = p
        .mlops_ws(&ws, &["gc", "--target", "dbfs", "--json", "--execute"], &[])
        .success()
        .json();
    let doomed = planned(&plan);
    assert!(
        doomed.contains(&first_folder),
        "{first_folder} not in {doomed:?}"
    );
    // The ended job's record goes, and its live log with it.
    assert!(doomed.contains(&format!("dbfs:{job_log}")), "{doomed:?}");
    assert!(
        doomed.iter().any(|d| d.contains(&slug("feature/running"))),
        "{doomed:?}"
    );
    let left = ws.dbfs_paths();
    assert!(
        !left
            .iter()
            .any(|f| f.contains(&slug("feature/running")) || f.contains(&slug("feature/done"))),
        "{left:?}"
    );
    assert!(
        left.iter()
            .any(|f| f.starts_with("/gc/gcdemo/main/deploys/"))
    );
}

#[test]
fn gc_refuses_to_guess_without_the_remote() {
    let p = scaffold("");
    // No such remote is a usage mistake (exit 2), not a network failure (3).
    let out = p.mlops(&["gc"]);
    out.code(2);
    assert_has(
        &out.stderr,
        &[
            "this repository has no git remote `origin`",
            "git remote add origin",
            "--remote",
        ],
    );
    // A remote that exists but cannot be reached is the network's (exit 3), with git's reason.
    p.git_cmd(&["remote", "add", "origin", "/nonexistent/repo.git"]);
    let out = p.mlops(&["gc"]);
    out.code(3);
    assert_has(
        &out.stderr,
        &[
            "cannot list the branches of remote `origin`",
            "'/nonexistent/repo.git' does not appear to be a git repository",
        ],
    );
}

#[test]
fn deploys_under_a_tag_name_are_alive_while_the_tag_is() {
    let p = scaffold("");
    let _remote = with_remote(&p);
    let py = test_python();
    let py = py.to_str().unwrap();
    // A tag build in CI deploys under the tag's name (GITHUB_REF_NAME = v1.0).
    p.git_cmd(&["tag", "-a", "v1.0", "-m", "release"]);
    p.git_cmd(&["push", "-q", "origin", "v1.0"]);
    p.mlops(&["deploy", "--python", py, "--branch", "v1.0"])
        .success();
    p.git_cmd(&["tag", "v0.9"]);
    p.mlops(&["deploy", "--python", py, "--branch", "v0.9"])
        .success();
    let tag_folder = p
        .path()
        .join(".mlops/artifacts")
        .join(cargo_mlops::support::naming::slug("v1.0"));
    let unpushed = p
        .path()
        .join(".mlops/artifacts")
        .join(cargo_mlops::support::naming::slug("v0.9"));
    assert!(tag_folder.is_dir() && unpushed.is_dir());
    let plan = p.mlops(&["gc", "--json"]).success().json();
    let doomed = planned(&plan);
    assert!(!doomed.contains(tag_folder.to_str().unwrap()), "{doomed:?}");
    // A tag the remote does not have is gone, like a branch.
    assert!(doomed.contains(unpushed.to_str().unwrap()), "{doomed:?}");
    assert_eq!(plan["live_tags"], serde_json::json!(["v1.0"]));
}

#[test]
fn gc_works_on_volumes() {
    let p = scaffold(
        "\n[targets.uc]\nkind = \"databricks\"\nartifacts = \"/Volumes/main/mlops/artifacts/{project}\"\n",
    );
    let _remote = with_remote(&p);
    let ws = FakeWorkspace::start();
    let python = test_python();
    let py = python.to_str().unwrap();
    p.mlops_ws(&ws, &["deploy", "--target", "uc", "--python", py], &[])
        .success();
    p.mlops_ws(
        &ws,
        &[
            "deploy", "--target", "uc", "--python", py, "--branch", "gone",
        ],
        &[],
    )
    .success();
    let plan = p
        .mlops_ws(&ws, &["gc", "--target", "uc", "--json"], &[])
        .success()
        .json();
    assert_eq!(
        planned(&plan),
        BTreeSet::from(["/Volumes/main/mlops/artifacts/gcdemo/gone".to_string()])
    );
    assert!(plan["bytes"].as_u64().unwrap() > 1000);
    p.mlops_ws(&ws, &["gc", "--target", "uc", "--execute"], &[])
        .success();
    let left = ws.volume_paths();
    assert!(!left.iter().any(|f| f.contains("/gone/")), "{left:?}");
    assert!(left.iter().any(|f| f.contains("/gcdemo/main/")), "{left:?}");
}

#[test]
fn gc_never_deletes_what_a_deploy_in_flight_publishes() {
    let p = scaffold(
        "\n[cluster]\nspark_version = \"14.3.x-scala2.12\"\n\n[targets.dbfs]\nkind = \"databricks\"\nartifacts = \"dbfs:/gc/{project}\"\nexperiment = \"/Shared/{project}/{branch}\"\n",
    );
    let _remote = with_remote(&p);
    let ws = FakeWorkspace::start();
    let python = test_python();
    let py = python.to_str().unwrap();
    let gc = |extra: &[&str]| {
        let mut args = vec!["gc", "--target", "dbfs", "--keep-days", "0", "--json"];
        args.extend_from_slice(extra);
        p.mlops_ws(&ws, &args, &[]).success().json()
    };
    p.mlops_ws(&ws, &["deploy", "--target", "dbfs", "--python", py], &[])
        .success();
    let before: BTreeSet<String> = ws.dbfs_paths().into_iter().collect();
    assert!(
        !before.iter().any(|f| f.contains("/leases/")),
        "a finished deploy leaves no lease: {before:?}"
    );
    // A new commit, deployed slowly: every small file takes a second to land.
    p.file(
        "mlproject/train.py",
        &(p.read("mlproject/train.py") + "\n# v2\n"),
    );
    p.git_cmd(&["commit", "-qam", "v2"]);
    ws.set_faults(crate::support::fake::Faults {
        latency: Duration::from_millis(1000),
        only: "/dbfs/put".into(),
        ..Default::default()
    });
    let mut deploy = crate::deploy::spawn_deploy(&p, &ws, &[]);
    let started = std::time::Instant::now();
    let fresh = || -> Vec<String> {
        ws.dbfs_paths()
            .into_iter()
            .filter(|f| !before.contains(f) && !f.contains("/leases/"))
            .collect()
    };
    while fresh().is_empty() {
        assert!(
            started.elapsed().as_secs() < 120,
            "the deploy published nothing"
        );
        std::thread::sleep(Duration::from_millis(20));
    }
    assert!(
        ws.dbfs_paths()
            .iter()
            .any(|f| f.contains("/gc/gcdemo/main/leases/")),
        "the deploy in flight has a lease: {:?}",
        ws.dbfs_paths()
    );
    let report = gc(&["--execute"]);
    let doomed = planned(&report);
    for f in fresh() {
        let folder = f.rsplit_once('/').unwrap().0;
        assert!(
            !doomed.iter().any(|d| d == folder || d == &f),
            "gc planned {folder}, which the deploy in flight just published: {doomed:?}"
        );
    }
    let out = crate::support::Run::from(deploy.wait_output(), p.path());
    out.success();
    // Every file the new deploy record names is there, and its lease is gone.
    let left = ws.dbfs_paths();
    let record = left
        .iter()
        .filter(|f| f.starts_with("/gc/gcdemo/main/deploys/"))
        .map(|f| ws.dbfs_file(f).unwrap())
        .map(|b| serde_json::from_slice::<Value>(&b).unwrap())
        .max_by_key(|r| r["time"].as_str().unwrap().to_string())
        .unwrap();
    for file in record["wheels"]
        .as_array()
        .unwrap()
        .iter()
        .chain([&record["tarball"], &record["launcher"]])
    {
        let path = file["path"].as_str().unwrap().trim_start_matches("dbfs:");
        assert!(left.iter().any(|f| f == path), "{path} is gone: {left:?}");
    }
    assert!(!left.iter().any(|f| f.contains("/leases/")), "{left:?}");

    // A lease a deploy that died left behind protects nothing once expired, and goes.
    ws.set_faults(crate::support::fake::Faults::default());
    let stale = "/gc/gcdemo/main/leases/0123456789abcdef0123456789abcdef.json";
    let tarball = record["tarball"]["path"].as_str().unwrap().to_string();
    let lease = serde_json::json!({
        "time": "2026-01-01T00:00:00Z", "expires_ms": 1_000, "paths": [tarball], "tool": "cargo-mlops 0.0.0",
    });
    ws.with_state(|s| {
        s.dbfs_files.insert(
            stale.into(),
            crate::support::fake::state::File {
                data: lease.to_string().into_bytes(),
                modified_ms: 1_000,
            },
        )
    });
    let doomed = planned(&gc(&[]));
    assert!(doomed.contains(&format!("dbfs:{stale}")), "{doomed:?}");

    // An upload's leftover is collected after an hour, whatever --keep-days says, and not
    // before (it may be an upload in flight).
    let folder = tarball
        .rsplit_once('/')
        .unwrap()
        .0
        .trim_start_matches("dbfs:")
        .to_string();
    let leftover = format!("{folder}/.tmp-project.tar.gz-1-2");
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_millis() as i64;
    let put = |age_ms: i64| {
        ws.with_state(|s| {
            s.dbfs_files.insert(
                leftover.clone(),
                crate::support::fake::state::File {
                    data: b"half".to_vec(),
                    modified_ms: now - age_ms,
                },
            )
        })
    };
    put(60_000);
    assert!(!planned(&gc(&[])).contains(&format!("dbfs:{leftover}")));
    put(2 * 3_600_000);
    let kept_long = p
        .mlops_ws(
            &ws,
            &["gc", "--target", "dbfs", "--keep-days", "30", "--json"],
            &[],
        )
        .success()
        .json();
    assert!(
        planned(&kept_long).contains(&format!("dbfs:{leftover}")),
        "{kept_long:#}"
    );
}

/// A project scaffolded with `init` whose `uc` target deploys to `artifacts`.
fn project_on_volume(name: &str, artifacts: &str) -> (Project, tempfile::TempDir) {
    let p = Project::git();
    p.mlops(&["init", "--name", name]).success();
    let manifest = p.read("mlops.toml")
        + &format!("\n[targets.uc]\nkind = \"databricks\"\nartifacts = \"{artifacts}\"\n");
    p.file("mlops.toml", &manifest);
    p.git_cmd(&["add", "-A"]);
    p.git_cmd(&["commit", "-qm", "scaffold"]);
    let remote = with_remote(&p);
    (p, remote)
}

#[test]
fn gc_never_deletes_another_projects_artifacts() {
    // Issue 23, item 1: two repositories deploying to one root without `{project}`.
    let shared = "/Volumes/main/mlops/artifacts";
    let ws = FakeWorkspace::start();
    let python = test_python();
    let py = python.to_str().unwrap();
    let (alpha, _alpha_remote) = project_on_volume("alpha", shared);
    let (beta, _beta_remote) = project_on_volume("beta", shared);
    // alpha deploys its main and a feature branch that its remote has.
    alpha.git_cmd(&["push", "-q", "origin", "main:feature-a"]);
    for branch in ["main", "feature-a"] {
        alpha
            .mlops_ws(
                &ws,
                &[
                    "deploy", "--target", "uc", "--python", py, "--branch", branch,
                ],
                &[],
            )
            .success();
    }
    let alpha_files = ws.volume_paths();
    assert!(
        alpha_files.contains(&format!("{shared}/.cargo-mlops-project.json")),
        "the first deploy marks the root: {alpha_files:?}"
    );
    // `check` warns about the shared root.
    let check = beta.mlops_ws(&ws, &["check", "--target", "uc"], &[]);
    assert_has(
        &check.success().stderr,
        &["targets.uc.artifacts", "has no `{project}`", "1 warning"],
    );
    assert!(
        !check.stderr.contains("no problems found"),
        "{}",
        check.stderr
    );
    // beta cannot deploy into alpha's root, and says how to fix it.
    let refused = beta.mlops_ws(&ws, &["deploy", "--target", "uc", "--python", py], &[]);
    refused.code(2);
    assert_has(
        &refused.stderr,
        &[
            "belongs to project `alpha`",
            "targets.uc.artifacts",
            "{project}",
        ],
    );
    // Before the marker, beta's gc took alpha's branches for branches gone from beta's
    // remote: now it refuses the root outright.
    let gc = beta.mlops_ws(
        &ws,
        &["gc", "--target", "uc", "--keep-days", "0", "--execute"],
        &[],
    );
    gc.code(2);
    assert_has(&gc.stderr, &["belongs to project `alpha`", "--claim-root"]);
    assert_eq!(ws.volume_paths(), alpha_files, "nothing was deleted");

    // Folders another project left in alpha's root before roots were marked (and beta's own
    // root nested in it) are never alpha's to delete, whatever alpha's remote says.
    let legacy = format!("{shared}/beta-branch/deploys/0123.json");
    let record = serde_json::json!({
        "project": "beta", "target": "uc", "branch": "beta-branch", "branch_slug": "beta-branch",
        "commit": null, "time": "2026-01-01T00:00:00Z", "experiment": "/Shared/beta",
        "wheels": [], "tarball": null, "launcher": null, "tool": "cargo-mlops 0.1.0",
    });
    ws.with_state(|s| {
        s.volume_dirs.insert(format!("{shared}/beta-branch"));
        s.volume_dirs
            .insert(format!("{shared}/beta-branch/deploys"));
        s.volume_files.insert(
            legacy.clone(),
            crate::support::fake::state::File {
                data: record.to_string().into_bytes(),
                modified_ms: 1_000,
            },
        )
    });
    beta.file(
        "mlops.toml",
        &beta.read("mlops.toml").replace(
            &format!("artifacts = \"{shared}\""),
            &format!("artifacts = \"{shared}/{{project}}\""),
        ),
    );
    beta.git_cmd(&["commit", "-qam", "own root"]);
    beta.mlops_ws(&ws, &["deploy", "--target", "uc", "--python", py], &[])
        .success();
    let report = alpha
        .mlops_ws(
            &ws,
            &[
                "gc",
                "--target",
                "uc",
                "--keep-days",
                "0",
                "--execute",
                "--json",
            ],
            &[],
        )
        .success()
        .json();
    let skipped: Vec<(String, String)> = report["skipped"]
        .as_array()
        .unwrap()
        .iter()
        .map(|k| {
            (
                k["path"].as_str().unwrap().to_string(),
                k["reason"].as_str().unwrap().to_string(),
            )
        })
        .collect();
    assert!(
        skipped
            .iter()
            .any(|(p, r)| p == &format!("{shared}/beta-branch") && r.contains("`beta`")),
        "{skipped:?}"
    );
    assert!(
        skipped
            .iter()
            .any(|(p, r)| p == &format!("{shared}/beta") && r.contains("`beta`")),
        "{skipped:?}"
    );
    let left = ws.volume_paths();
    assert!(left.contains(&legacy), "{left:?}");
    assert!(
        left.iter()
            .any(|f| f.starts_with(&format!("{shared}/beta/main/"))),
        "beta's own root survives alpha's gc: {left:?}"
    );
    for branch in ["main", "feature-a"] {
        assert!(
            left.iter()
                .any(|f| f.starts_with(&format!("{shared}/{branch}/deploys/"))),
            "alpha's live branch {branch} survives: {left:?}"
        );
    }
    // beta's gc on its own root leaves alpha's alone.
    beta.mlops_ws(
        &ws,
        &["gc", "--target", "uc", "--keep-days", "0", "--execute"],
        &[],
    )
    .success();
    let after = ws.volume_paths();
    for f in alpha_files.iter().filter(|f| !f.contains("/leases/")) {
        assert!(after.contains(f), "{f} is gone: {after:?}");
    }
    // A renamed project takes its root over only when told to.
    let renamed = alpha
        .read("mlops.toml")
        .replace("name = \"alpha\"", "name = \"alpha2\"");
    alpha.file("mlops.toml", &renamed);
    alpha.mlops_ws(&ws, &["gc", "--target", "uc"], &[]).code(2);
    alpha
        .mlops_ws(
            &ws,
            &["gc", "--target", "uc", "--claim-root", "--execute"],
            &[],
        )
        .success();
    alpha
        .mlops_ws(&ws, &["deploy", "--target", "uc", "--python", py], &[])
        .success();
}

#[test]
fn two_repositories_with_one_project_name_never_share_a_root() {
    // Issue 32, item 10: `{project}` in the root does not keep apart two repositories whose
    // projects have the same name; the marker records the repository.
    let root = "/Volumes/main/mlops/artifacts/{project}";
    let ws = FakeWorkspace::start();
    let python = test_python();
    let py = python.to_str().unwrap();
    let (one, _one_remote) = project_on_volume("twin", root);
    let (two, _two_remote) = project_on_volume("twin", root);
    let deploy = |p: &Project| p.mlops_ws(&ws, &["deploy", "--target", "uc", "--python", py], &[]);
    deploy(&one).success();
    let marker_path = "/Volumes/main/mlops/artifacts/twin/.cargo-mlops-project.json";
    let marker: serde_json::Value =
        serde_json::from_slice(&ws.volume_file(marker_path).unwrap()).unwrap();
    let repository = marker["repository"]
        .as_str()
        .expect("the repository is recorded");
    assert!(!repository.contains('@'), "no credentials: {repository}");
    let files = ws.volume_paths();

    let refused = deploy(&two);
    refused.code(2);
    assert_has(
        &refused.stderr,
        &[
            "belongs to project `twin` of repository",
            repository,
            "rename this one",
        ],
    );
    let gc = two.mlops_ws(
        &ws,
        &["gc", "--target", "uc", "--keep-days", "0", "--execute"],
        &[],
    );
    gc.code(2);
    assert_has(&gc.stderr, &["of repository", "--claim-root"]);
    assert_eq!(ws.volume_paths(), files, "nothing was written or deleted");

    // A marker from before repositories were recorded is completed by its project's deploy.
    ws.with_state(|s| {
        s.volume_files.get_mut(marker_path).unwrap().data =
            br#"{"project": "twin", "time": "2026-01-01T00:00:00Z", "tool": "cargo-mlops 0.1.0"}"#
                .to_vec();
    });
    deploy(&one).success();
    let marker: serde_json::Value =
        serde_json::from_slice(&ws.volume_file(marker_path).unwrap()).unwrap();
    assert_eq!(marker["repository"], repository);
    deploy(&two).code(2);
}
