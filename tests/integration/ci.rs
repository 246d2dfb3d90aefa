//! What a CI log and a CI run's page get: GitHub Actions outputs, a step summary with the
//! run's provenance, parameters, metrics and (on failure) error and log tail, `::error::`
//! annotations and `::group::` blocks; Azure Pipelines variables, `task.logissue` and an
//! uploaded summary; for deploys and for local runs too.

use crate::support::fake::FakeWorkspace;
use crate::support::{Project, Run, assert_has, test_python};

struct GitHub {
    dir: tempfile::TempDir,
}

impl GitHub {
    fn new() -> GitHub {
        GitHub {
            dir: tempfile::tempdir().unwrap(),
        }
    }

    fn env(&self) -> Vec<(&'static str, String)> {
        vec![
            ("GITHUB_ACTIONS", "true".into()),
            ("GITHUB_OUTPUT", self.file("output")),
            ("GITHUB_STEP_SUMMARY", self.file("summary")),
        ]
    }

    fn file(&self, name: &str) -> String {
        self.dir.path().join(name).to_str().unwrap().to_string()
    }

    fn read(&self, name: &str) -> String {
        std::fs::read_to_string(self.file(name)).unwrap_or_default()
    }

    fn clear(&self) {
        for name in ["output", "summary"] {
            let _ = std::fs::remove_file(self.file(name));
        }
    }
}

fn with(
    env: &[(&'static str, String)],
    more: &[(&'static str, &'static str)],
) -> Vec<(&'static str, String)> {
    let mut all = env.to_vec();
    all.extend(more.iter().map(|(k, v)| (*k, v.to_string())));
    all
}

fn pairs<'a>(env: &'a [(&'static str, String)]) -> Vec<(&'static str, &'a str)> {
    env.iter().map(|(k, v)| (*k, v.as_str())).collect()
}

fn databricks_run(
    p: &Project,
    ws: &FakeWorkspace,
    extra: &[&str],
    env: &[(&'static str, String)],
) -> Run {
    let python = test_python();
    let mut args = vec![
        "run",
        "--python",
        python.to_str().unwrap(),
        "--target",
        "serverless",
        "--entry",
        "train",
    ];
    args.extend_from_slice(extra);
    p.mlops_ws(ws, &args, &pairs(env))
}

#[test]
fn github_actions_gets_provenance_params_metrics_errors_and_groups() {
    let p = crate::compute::demo();
    let commit = p.git_cmd(&["rev-parse", "HEAD"]).trim().to_string();
    let ws = FakeWorkspace::start();
    ws.execute_jobs(&test_python());
    let gh = GitHub::new();

    let ok = databricks_run(&p, &ws, &["-P", "epochs=30"], &gh.env());
    ok.success();
    let summary = gh.read("summary");
    let outputs = gh.read("output");
    let run_id = outputs
        .lines()
        .find_map(|l| l.strip_prefix("mlflow_run_id="))
        .expect("mlflow_run_id output")
        .to_string();
    assert_has(
        &summary,
        &[
            "### cargo mlops run `train` on `serverless`: SUCCESS",
            "| branch | `main` |",
            &format!("| commit | `{commit}` |"),
            "| target | `serverless` (databricks) |",
            &format!("| MLflow run | [`{run_id}`]({}/ml/experiments/", ws.url()),
            "| Databricks run | [",
            "**Parameters**",
            "| epochs | `30` |",
            "| learning_rate | `0.5` |",
            "**Metrics**",
            "| accuracy | 0.",
        ],
    );
    assert!(!summary.contains("<details>"), "{summary}");
    assert_has(
        &outputs,
        &[
            "result=SUCCESS",
            "status=FINISHED",
            "mlflow_run_url=http",
            "databricks_run_id=",
        ],
    );
    // Long phases fold away in the log.
    assert_has(
        &ok.stdout,
        &[
            "::group::Build wheels",
            "::group::Publish to",
            "::group::Follow run",
            "::endgroup::",
        ],
    );

    // A failure: the error, a collapsed log tail, and an annotation.
    gh.clear();
    let failed = databricks_run(&p, &ws, &["-P", "samples=0"], &gh.env());
    failed.code(1);
    let summary = gh.read("summary");
    assert_has(
        &summary,
        &[
            ": FAILED",
            "**Error:** run ",
            "<details><summary>Last ",
            "lines of the log</summary>",
            "</details>",
        ],
    );
    assert!(
        summary.contains("ValueError"),
        "no log in the summary:\n{summary}"
    );
    assert_has(
        &failed.stdout,
        &["::error title=cargo mlops::run ", "ended FAILED"],
    );
    let annotation = failed
        .stdout
        .lines()
        .find(|l| l.starts_with("::error"))
        .unwrap();
    assert!(
        annotation.contains("%0Ahelp: see "),
        "one line, escaped: {annotation}"
    );

    // A deploy writes where it put things.
    gh.clear();
    let python = test_python();
    p.mlops_ws(
        &ws,
        &[
            "deploy",
            "--target",
            "serverless",
            "--python",
            python.to_str().unwrap(),
        ],
        &pairs(&gh.env()),
    )
    .success();
    assert_has(
        &gh.read("output"),
        &[
            "deploy_record=/Volumes/main/mlops/artifacts/main/deploys/",
            "wheels=[\"/Volumes/",
            "tarball=/Volumes/",
        ],
    );
    assert_has(
        &gh.read("summary"),
        &["### cargo mlops deploy to `serverless`", "| record |"],
    );
}

/// A project whose `crash` entry point prints a line and fails.
fn crashing() -> Project {
    let p = crate::environments::project("");
    let manifest = p.read("mlops.toml")
        + "\n[entry_points.crash]\ncommand = \"python -c 'import sys; print(\\\"boom from the entry point\\\"); sys.exit(3)'\"\n";
    p.file("mlops.toml", &manifest);
    p.git_cmd(&["commit", "-qam", "crash"]);
    p
}

fn local_run(p: &Project, entry: &str, extra: &[&str], env: &[(&'static str, String)]) -> Run {
    let python = test_python();
    let mut args = vec![
        "run",
        "--python",
        python.to_str().unwrap(),
        "--entry",
        entry,
    ];
    args.extend_from_slice(extra);
    p.mlops_shared_target(&args, &pairs(env))
}

#[test]
fn local_runs_write_outputs_and_azure_gets_issues_and_a_summary() {
    let p = crashing();
    let gh = GitHub::new();
    local_run(&p, "train", &[], &gh.env()).success();
    assert_has(
        &gh.read("output"),
        &[
            "mlflow_run_id=",
            "result=SUCCESS",
            "tracking_uri=sqlite:///",
            "databricks_run_id=\n",
        ],
    );
    assert_has(
        &gh.read("summary"),
        &[
            "on `local`: SUCCESS",
            "| target | `local` (local) |",
            " in `sqlite:///",
        ],
    );

    let agent_tmp = tempfile::tempdir().unwrap();
    let azure = with(
        &[(
            "AGENT_TEMPDIRECTORY",
            agent_tmp.path().to_str().unwrap().to_string(),
        )],
        &[("TF_BUILD", "True")],
    );
    let failed = local_run(&p, "crash", &[], &azure);
    failed.code(1);
    assert_has(
        &failed.stdout,
        &[
            "##vso[task.setvariable variable=result;isOutput=true]FAILED",
            "##vso[task.logissue type=error]the entry point `crash` failed",
            "##[group]Build wheels",
            "##[endgroup]",
        ],
    );
    let uploaded = failed
        .stdout
        .lines()
        .find_map(|l| l.strip_prefix("##vso[task.uploadsummary]"))
        .expect("an uploaded summary");
    assert!(
        uploaded.starts_with(agent_tmp.path().to_str().unwrap()),
        "{uploaded}"
    );
    let summary = std::fs::read_to_string(uploaded).unwrap();
    assert_has(
        &summary,
        &[
            "on `local`: FAILED",
            "<details>",
            "boom from the entry point",
        ],
    );

    // With --json, stdout is the document alone; the logging commands go to stderr.
    let json = local_run(&p, "crash", &["--json"], &azure);
    json.code(1);
    assert_eq!(json.json()["result"], "FAILED");
    assert_has(&json.stderr, &["##vso[task.logissue type=error]"]);
}

#[test]
fn quiet_still_shows_why_a_local_run_failed() {
    let p = crashing();
    let quiet = local_run(&p, "crash", &["-q"], &[]);
    quiet.code(1);
    assert_has(
        &quiet.stderr,
        &[
            "Last 50 lines of the run's output:",
            "boom from the entry point",
            "the last lines of its output, above, say why",
        ],
    );
    assert!(
        !quiet.stderr.contains("Building"),
        "-q showed progress:\n{}",
        quiet.stderr
    );
    // Without -q the output streamed already: it is not repeated.
    let normal = local_run(&p, "crash", &[], &[]);
    normal.code(1);
    let said = normal
        .stderr
        .lines()
        .filter(|l| l.trim_end().ends_with("boom from the entry point"))
        .count();
    assert_eq!(said, 1, "{}", normal.stderr);
}

#[test]
fn logs_off_a_terminal_never_go_quiet() {
    let p = crate::compute::demo();
    let ws = FakeWorkspace::start();
    // A slow network (every answer takes 250 ms), and a job that runs for a while.
    ws.set_faults(crate::support::fake::Faults {
        latency: std::time::Duration::from_millis(250),
        ..Default::default()
    });
    ws.with_state(|s| s.job_behaviour.running = std::time::Duration::from_secs(3));
    let out = databricks_run(
        &p,
        &ws,
        &[],
        &with(&[], &[("CI", "true"), ("MLOPS_PROGRESS_INTERVAL", "100ms")]),
    );
    out.success();
    let beats = |what: &dyn Fn(&str) -> bool| out.stderr.lines().filter(|l| what(l)).count();
    assert!(
        beats(&|l| l.contains("Uploading") && l.contains(" sent [")) >= 1,
        "no upload progress:\n{}",
        out.stderr
    );
    assert!(
        beats(&|l| l.contains(" RUNNING [")) >= 2,
        "no run progress:\n{}",
        out.stderr
    );
}
