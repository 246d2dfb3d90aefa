//! `compare`: a branch's latest finished run of an entry point (or a named run) beside the
//! base branch's latest finished run of the same entry point, metric by metric.

use serde::Serialize;

use crate::error::{Error, Result};
use crate::history::table::{self, MetricChange, ParamChange};
use crate::history::{self, RunRow};
use crate::session::Session;

/// How many runs of each branch are searched for the latest finished one.
const SEARCHED: usize = 200;

/// The base branch: `--base`, the pull request's target branch in CI (GitHub Actions, Azure
/// Pipelines, GitLab), `[compare] base`, else `fallback` (see [`default_base`]); with where
/// it came from.
pub fn base_branch(
    flag: Option<&str>,
    manifest_base: Option<&str>,
    env: &dyn Fn(&str) -> Option<String>,
    fallback: &dyn Fn() -> (String, &'static str),
) -> (String, &'static str) {
    if let Some(b) = flag {
        return (b.to_string(), "--base");
    }
    for (var, source) in [
        ("GITHUB_BASE_REF", "GITHUB_BASE_REF"),
        (
            "SYSTEM_PULLREQUEST_TARGETBRANCH",
            "SYSTEM_PULLREQUEST_TARGETBRANCH",
        ),
        (
            "CI_MERGE_REQUEST_TARGET_BRANCH_NAME",
            "CI_MERGE_REQUEST_TARGET_BRANCH_NAME",
        ),
    ] {
        if let Some(v) = env(var).filter(|v| !v.trim().is_empty()) {
            let v = v.trim();
            return (
                v.strip_prefix("refs/heads/").unwrap_or(v).to_string(),
                source,
            );
        }
    }
    match manifest_base {
        Some(b) => (b.to_string(), "[compare] base"),
        None => fallback(),
    }
}

/// The base when nothing names it: the remote's default branch (`origin/HEAD`), else `main`,
/// else `master`, whichever exists here or on a remote (`main` when neither does).
pub fn default_base(root: &std::path::Path) -> (String, &'static str) {
    crate::git::default_branch(root)
}

/// Whether this is a pull request build (its target branch is known).
pub fn in_pull_request(env: &dyn Fn(&str) -> Option<String>) -> bool {
    [
        "GITHUB_BASE_REF",
        "SYSTEM_PULLREQUEST_TARGETBRANCH",
        "CI_MERGE_REQUEST_TARGET_BRANCH_NAME",
    ]
    .iter()
    .any(|v| env(v).is_some_and(|v| !v.trim().is_empty()))
}

/// Two runs side by side.
#[derive(Clone, Debug, Serialize)]
pub struct Comparison {
    pub entry: String,
    pub branch: String,
    pub base_branch: String,
    pub base_source: String,
    /// False when no branch of that name exists here or on a remote.
    pub base_exists: bool,
    pub run: RunRow,
    /// `None` when the base branch has no finished run of the entry point.
    pub base_run: Option<RunRow>,
    pub metrics: Vec<MetricChange>,
    pub params: Vec<ParamChange>,
}

/// What to compare.
pub struct Request<'a> {
    pub run: Option<&'a str>,
    pub entry: Option<&'a str>,
    pub base: Option<&'a str>,
}

pub fn compare(session: &Session, request: &Request<'_>) -> Result<Comparison> {
    let prepared = session.prepare(None, &[])?;
    let root = prepared.manifest.root.clone();
    let (base_branch, base_source) = base_branch(
        request.base,
        prepared.manifest.compare_base.as_deref(),
        &|k| std::env::var(k).ok(),
        &|| default_base(&root),
    );
    // A base that is no branch at all is said as such, not as "no runs".
    let base_exists = crate::git::branch_exists(&root, &base_branch) != Some(false);
    let listed = history::list(session, &prepared, SEARCHED, history::Targets::This)?;
    // The base branch's experiment, on the same target.
    let base_prepared = session.for_branch(&prepared, &base_branch)?;
    let base_listed = history::list(session, &base_prepared, SEARCHED, history::Targets::This)?;
    let run = match (request.run, request.entry) {
        (Some(id), _) => listed.runs.iter().find(|r| r.run_id == id).ok_or_else(|| {
            Error::usage(format!(
                "run `{id}` is not among the newest {SEARCHED} runs of experiment `{}`",
                listed.experiment
            ))
            .with_help(format!(
                "list them with `{}`",
                session.suggest(&prepared.plan, "runs")
            ))
        })?,
        (None, Some(entry)) => history::latest_finished(&listed.runs, entry).ok_or_else(|| {
            Error::usage(format!(
                "experiment `{}` has no finished run of `{entry}`",
                listed.experiment
            ))
            .with_help(format!(
                "make one with `{}`",
                session.suggest(&prepared.plan, &format!("run --entry {entry}"))
            ))
        })?,
        (None, None) => {
            let release = prepared.manifest.release.entry.as_str();
            unnamed(&listed.runs, &base_listed.runs, Some(release)).ok_or_else(|| {
                Error::usage(format!(
                    "experiment `{}` has no finished run",
                    listed.experiment
                ))
                .with_help(format!(
                    "make one with `{}`",
                    session.suggest(&prepared.plan, "run --entry NAME")
                ))
            })?
        }
    }
    .clone();
    let entry = run.entry.clone().unwrap_or_else(|| "main".into());
    let base_run = history::latest_finished(&base_listed.runs, &entry).cloned();
    let (metrics, params) = match &base_run {
        Some(b) => (
            table::compare_metrics(&b.metrics, &run.metrics),
            table::compare_params(&b.params, &run.params),
        ),
        None => (
            table::compare_metrics(&Default::default(), &run.metrics),
            Vec::new(),
        ),
    };
    Ok(Comparison {
        entry,
        branch: prepared.plan.branch.clone(),
        base_branch,
        base_source: base_source.to_string(),
        base_exists,
        run,
        base_run,
        metrics,
        params,
    })
}

/// The run to compare when none is named: never a nested child run. The release entry
/// point's newest finished run where it ran here; else the newest finished run of an entry
/// point that also finished on the base branch; else the newest finished run.
fn unnamed<'a>(runs: &'a [RunRow], base: &[RunRow], release: Option<&str>) -> Option<&'a RunRow> {
    if let Some(found) = release.and_then(|e| history::latest_finished(runs, e)) {
        return Some(found);
    }
    let candidates = || {
        runs.iter()
            .filter(|r| r.status == "FINISHED" && r.is_top_level())
    };
    candidates()
        .find(|r| {
            r.entry
                .as_deref()
                .is_some_and(|e| history::latest_finished(base, e).is_some())
        })
        .or_else(|| candidates().next())
}

/// Why there is nothing to compare with, in one sentence.
pub fn no_base_run(c: &Comparison) -> String {
    if c.base_exists {
        format!(
            "the base branch `{}` (from {}) has no finished run of entry point `{}` to compare with",
            c.base_branch, c.base_source, c.entry
        )
    } else {
        format!(
            "there is no branch `{}` here or on a remote to compare with (base from {}); name the base with `--base BRANCH` or `[compare] base`",
            c.base_branch, c.base_source
        )
    }
}

/// The comparison as a Markdown section, for CI summaries.
pub fn markdown(c: &Comparison) -> String {
    let mut out = format!(
        "### `{}` on `{}` compared with `{}`\n\n",
        c.entry, c.branch, c.base_branch
    );
    let Some(base) = &c.base_run else {
        out.push_str(&format!("{}.\n\n", no_base_run(c)));
        return out;
    };
    out.push_str(&format!(
        "This run `{}`, base run `{}`.\n\n| metric | base | this | change |\n|---|---|---|---|\n",
        c.run.run_id, base.run_id
    ));
    for m in &c.metrics {
        out.push_str(&format!(
            "| {} | {} | {} | {} |\n",
            m.metric,
            table::number(m.base),
            table::number(m.this),
            table::change(m)
        ));
    }
    if !c.params.is_empty() {
        out.push_str("\n| parameter | base | this |\n|---|---|---|\n");
        for p in &c.params {
            out.push_str(&format!(
                "| {} | `{}` | `{}` |\n",
                p.param,
                p.base.as_deref().unwrap_or("-"),
                p.this.as_deref().unwrap_or("-")
            ));
        }
    }
    out.push('\n');
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_base_comes_from_the_flag_the_pull_request_the_manifest_then_main() {
        let none = |_: &str| None;
        let main = || ("main".to_string(), "default");
        let base_branch = |f: Option<&str>, m: Option<&str>, e: &dyn Fn(&str) -> Option<String>| {
            base_branch(f, m, e, &main)
        };
        assert_eq!(base_branch(Some("dev"), Some("trunk"), &none).0, "dev");
        let gh = |k: &str| (k == "GITHUB_BASE_REF").then(|| "release/1".to_string());
        assert_eq!(
            base_branch(None, Some("trunk"), &gh),
            ("release/1".into(), "GITHUB_BASE_REF")
        );
        let az = |k: &str| {
            (k == "SYSTEM_PULLREQUEST_TARGETBRANCH").then(|| "refs/heads/main".to_string())
        };
        assert_eq!(base_branch(None, None, &az).0, "main");
        let gl =
            |k: &str| (k == "CI_MERGE_REQUEST_TARGET_BRANCH_NAME").then(|| "develop".to_string());
        assert_eq!(base_branch(None, None, &gl).0, "develop");
        assert_eq!(
            base_branch(None, Some("trunk"), &none),
            ("trunk".into(), "[compare] base")
        );
        assert_eq!(base_branch(None, None, &none), ("main".into(), "default"));
        assert!(in_pull_request(&gh));
        assert!(!in_pull_request(&none));
    }

    fn git(dir: &std::path::Path, args: &[&str]) {
        let out = std::process::Command::new("git")
            .args([
                "-c",
                "user.name=t",
                "-c",
                "user.email=t@t",
                "-c",
                "init.defaultBranch=master",
            ])
            .args(args)
            .current_dir(dir)
            .output()
            .unwrap();
        assert!(out.status.success(), "{out:?}");
    }

    #[test]
    fn with_nothing_named_the_base_is_the_remotes_default_then_main_then_master() {
        let origin = tempfile::tempdir().unwrap();
        git(origin.path(), &["init", "-q"]);
        git(
            origin.path(),
            &["commit", "-q", "--allow-empty", "-m", "one"],
        );
        git(origin.path(), &["branch", "develop"]);
        git(
            origin.path(),
            &["symbolic-ref", "HEAD", "refs/heads/develop"],
        );
        let work = tempfile::tempdir().unwrap();
        git(
            work.path(),
            &["clone", "-q", origin.path().to_str().unwrap(), "."],
        );
        // A clone records the remote's default branch: `develop` here.
        assert_eq!(
            default_base(work.path()),
            ("develop".to_string(), "origin/HEAD")
        );
        // Without it, a `master` (the template's) wins over a `main` that does not exist.
        git(work.path(), &["remote", "set-head", "origin", "--delete"]);
        assert_eq!(default_base(work.path()), ("master".to_string(), "default"));
        assert_eq!(crate::git::branch_exists(work.path(), "main"), Some(false));
        git(work.path(), &["branch", "main"]);
        assert_eq!(default_base(work.path()), ("main".to_string(), "default"));
    }
}
