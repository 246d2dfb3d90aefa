//! Which branch we are on, and the folder-safe slug every artifact path and experiment name
//! is built from.
//!
//! Sources, first match wins: `--branch`, `MLOPS_BRANCH`, the variables of the CI system we are
//! running under, then git. CI variables are only read when that CI system's own marker
//! variable is set, so a stray `BRANCH_NAME` in a developer's shell does not hijack the name.

use std::fmt;

use serde::Serialize;
use sha2::{Digest, Sha256};

use crate::error::{Error, Result};

/// Longest slug before the hash suffix.
pub const SLUG_MAX: usize = 48;

/// A branch name, where it came from, and its slug.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Branch {
    pub name: String,
    pub source: Source,
    pub slug: String,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Source {
    Flag,
    Env,
    Ci {
        system: &'static str,
        variable: &'static str,
    },
    Git,
}

impl fmt::Display for Source {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Source::Flag => f.write_str("--branch"),
            Source::Env => f.write_str("MLOPS_BRANCH"),
            Source::Ci { system, variable } => write!(f, "{system} ({variable})"),
            Source::Git => f.write_str("git"),
        }
    }
}

impl Serialize for Source {
    fn serialize<S: serde::Serializer>(&self, s: S) -> std::result::Result<S::Ok, S::Error> {
        s.collect_str(self)
    }
}

/// What git says about HEAD.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum GitHead {
    Branch(String),
    Detached,
    /// Not a git repository, or git is not installed; the text says which.
    Unavailable(String),
}

struct CiSystem {
    name: &'static str,
    /// Set (non-empty) when running under this CI system.
    marker: &'static str,
    /// Branch variables, most specific first (pull-request source branch before the ref).
    variables: &'static [&'static str],
}

const CI_SYSTEMS: &[CiSystem] = &[
    CiSystem {
        name: "GitHub Actions",
        marker: "GITHUB_ACTIONS",
        variables: &["GITHUB_HEAD_REF", "GITHUB_REF_NAME"],
    },
    CiSystem {
        name: "Azure Pipelines",
        marker: "TF_BUILD",
        variables: &["SYSTEM_PULLREQUEST_SOURCEBRANCH", "BUILD_SOURCEBRANCH"],
    },
    CiSystem {
        name: "GitLab CI",
        marker: "GITLAB_CI",
        variables: &["CI_MERGE_REQUEST_SOURCE_BRANCH_NAME", "CI_COMMIT_REF_NAME"],
    },
    CiSystem {
        name: "Jenkins",
        marker: "JENKINS_URL",
        variables: &[
            "CHANGE_BRANCH",
            "BRANCH_NAME",
            "GIT_LOCAL_BRANCH",
            "GIT_BRANCH",
        ],
    },
    CiSystem {
        name: "Bitbucket Pipelines",
        marker: "BITBUCKET_BUILD_NUMBER",
        variables: &["BITBUCKET_BRANCH"],
    },
    CiSystem {
        name: "CircleCI",
        marker: "CIRCLECI",
        variables: &["CIRCLE_BRANCH"],
    },
    CiSystem {
        name: "Buildkite",
        marker: "BUILDKITE",
        variables: &["BUILDKITE_BRANCH"],
    },
];

/// Every environment variable that can decide the branch (tests clear them all).
pub fn variables() -> impl Iterator<Item = &'static str> {
    std::iter::once("MLOPS_BRANCH").chain(
        CI_SYSTEMS
            .iter()
            .flat_map(|ci| std::iter::once(ci.marker).chain(ci.variables.iter().copied())),
    )
}

/// Decides the branch. `env` reads an environment variable; `git` is asked only when nothing
/// else named the branch.
pub fn detect(
    flag: Option<&str>,
    env: &dyn Fn(&str) -> Option<String>,
    git: impl FnOnce() -> GitHead,
) -> Result<Branch> {
    let env = |name: &str| env(name).filter(|v| !v.trim().is_empty());
    if let Some(name) = flag {
        return make(name, Source::Flag, "--branch");
    }
    if let Some(name) = env("MLOPS_BRANCH") {
        return make(&name, Source::Env, "MLOPS_BRANCH");
    }
    for ci in CI_SYSTEMS {
        if env(ci.marker).is_none() {
            continue;
        }
        for &variable in ci.variables {
            if let Some(value) = env(variable) {
                let name = if variable == "GIT_BRANCH" {
                    // Jenkins' git plugin names the remote-tracking branch: `origin/feature/x`.
                    strip_remote(&value)
                } else {
                    &value
                };
                let source = Source::Ci {
                    system: ci.name,
                    variable,
                };
                return make(name, source, variable);
            }
        }
    }
    match git() {
        GitHead::Branch(name) => make(&name, Source::Git, "git"),
        GitHead::Detached => Err(Error::usage(
            "HEAD is detached and no branch was named, so there is no branch to deploy under",
        )
        .with_help(
            "check out a branch (`git switch NAME`), or name one with `--branch NAME` or `MLOPS_BRANCH=NAME`",
        )),
        GitHead::Unavailable(why) => Err(Error::usage(format!(
            "cannot tell the branch: {why}"
        ))
        .with_help("run inside a git repository, or name the branch with `--branch NAME` or `MLOPS_BRANCH=NAME`")),
    }
}

fn strip_remote(value: &str) -> &str {
    let value = value.strip_prefix("refs/remotes/").unwrap_or(value);
    value.strip_prefix("origin/").unwrap_or(value)
}

fn make(raw: &str, source: Source, from: &str) -> Result<Branch> {
    let name = raw.strip_prefix("refs/heads/").unwrap_or(raw).trim();
    if name.is_empty() {
        return Err(
            Error::usage(format!("the branch name from {from} is empty"))
                .with_help("name the branch with `--branch NAME`"),
        );
    }
    Ok(Branch {
        name: name.to_string(),
        slug: slug(name),
        source,
    })
}

/// The folder-safe form of a branch name: lowercase, runs of anything outside `[a-z0-9]`
/// become one `-`, trimmed, at most [`SLUG_MAX`] characters. Whenever that changed the name,
/// `-` and 8 hex digits of the name's SHA-256 are appended, so `feature/x`, `feature-x` and
/// `Feature/X` get three different folders.
pub fn slug(name: &str) -> String {
    let mut base = String::with_capacity(name.len());
    for c in name.chars().flat_map(char::to_lowercase) {
        if c.is_ascii_lowercase() || c.is_ascii_digit() {
            base.push(c);
        } else if !base.ends_with('-') {
            base.push('-');
        }
    }
    let base = base.trim_matches('-');
    // `base` is ASCII, so byte truncation is character truncation.
    let base = base[..base.len().min(SLUG_MAX)].trim_end_matches('-');
    if base == name && !base.is_empty() {
        return base.to_string();
    }
    let digest = Sha256::digest(name.as_bytes());
    let hash: String = digest[..4].iter().map(|b| format!("{b:02x}")).collect();
    if base.is_empty() {
        hash
    } else {
        format!("{base}-{hash}")
    }
}

#[cfg(test)]
mod tests {
    use std::collections::HashMap;

    use super::*;

    fn no_git() -> GitHead {
        GitHead::Unavailable("not a git repository".into())
    }

    fn detect_with(vars: &[(&str, &str)], git: GitHead) -> Result<Branch> {
        let map: HashMap<String, String> = vars
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        detect(None, &|k| map.get(k).cloned(), || git)
    }

    fn is_safe(slug: &str) -> bool {
        !slug.is_empty()
            && slug.len() <= SLUG_MAX + 9
            && slug
                .chars()
                .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-')
            && !slug.starts_with('-')
            && !slug.ends_with('-')
    }

    #[test]
    fn main_is_its_own_slug() {
        assert_eq!(slug("main"), "main");
        assert_eq!(slug("release-2024-01"), "release-2024-01");
    }

    #[test]
    fn lookalike_names_get_distinct_slugs() {
        let a = slug("feature/x");
        let b = slug("feature-x");
        let c = slug("Feature/X");
        assert_eq!(b, "feature-x");
        assert!(
            a.starts_with("feature-x-") && a.len() == "feature-x-".len() + 8,
            "{a}"
        );
        assert!(c.starts_with("feature-x-"), "{c}");
        assert_ne!(a, b);
        assert_ne!(a, c);
        assert_ne!(b, c);
    }

    #[test]
    fn slug_hash_is_stable() {
        // sha256("feature/x") starts with these 8 hex digits; a change would move every
        // branch's artifacts to a new folder.
        let digest = Sha256::digest(b"feature/x");
        let expected: String = digest[..4].iter().map(|b| format!("{b:02x}")).collect();
        assert_eq!(slug("feature/x"), format!("feature-x-{expected}"));
        assert_eq!(slug("feature/x"), slug("feature/x"));
    }

    #[test]
    fn refs_heads_prefix_is_stripped() {
        let b = detect(Some("refs/heads/feature/x"), &|_| None, no_git).unwrap();
        assert_eq!(b.name, "feature/x");
        assert_eq!(b.slug, slug("feature/x"));
    }

    #[test]
    fn flag_wins_over_everything() {
        let b = detect(
            Some("from-flag"),
            &|k| (k == "MLOPS_BRANCH").then(|| "from-env".into()),
            || GitHead::Branch("from-git".into()),
        )
        .unwrap();
        assert_eq!((b.name.as_str(), b.source), ("from-flag", Source::Flag));
    }

    #[test]
    fn mlops_branch_wins_over_ci_and_git() {
        let b = detect_with(
            &[
                ("MLOPS_BRANCH", "mine"),
                ("GITHUB_ACTIONS", "true"),
                ("GITHUB_REF_NAME", "main"),
            ],
            GitHead::Branch("other".into()),
        )
        .unwrap();
        assert_eq!((b.name.as_str(), b.source), ("mine", Source::Env));
    }

    #[test]
    fn github_pull_request_uses_the_head_ref() {
        let b = detect_with(
            &[
                ("GITHUB_ACTIONS", "true"),
                ("GITHUB_HEAD_REF", "feature/login"),
                ("GITHUB_REF_NAME", "12/merge"),
            ],
            GitHead::Detached,
        )
        .unwrap();
        assert_eq!(b.name, "feature/login");
        assert_eq!(b.source.to_string(), "GitHub Actions (GITHUB_HEAD_REF)");
    }

    #[test]
    fn github_push_has_an_empty_head_ref() {
        let b = detect_with(
            &[
                ("GITHUB_ACTIONS", "true"),
                ("GITHUB_HEAD_REF", ""),
                ("GITHUB_REF_NAME", "main"),
            ],
            GitHead::Detached,
        )
        .unwrap();
        assert_eq!(b.name, "main");
    }

    #[test]
    fn azure_pull_request_uses_the_source_branch_not_merge() {
        let b = detect_with(
            &[
                ("TF_BUILD", "True"),
                (
                    "SYSTEM_PULLREQUEST_SOURCEBRANCH",
                    "refs/heads/feature/churn",
                ),
                ("BUILD_SOURCEBRANCH", "refs/pull/42/merge"),
            ],
            GitHead::Detached,
        )
        .unwrap();
        assert_eq!(b.name, "feature/churn");
        let b = detect_with(
            &[
                ("TF_BUILD", "True"),
                ("BUILD_SOURCEBRANCH", "refs/heads/main"),
            ],
            GitHead::Detached,
        )
        .unwrap();
        assert_eq!(b.name, "main");
    }

    #[test]
    fn jenkins_remote_prefix_is_stripped() {
        let b = detect_with(
            &[
                ("JENKINS_URL", "https://ci"),
                ("GIT_BRANCH", "origin/feature/x"),
            ],
            GitHead::Detached,
        )
        .unwrap();
        assert_eq!(b.name, "feature/x");
        let b = detect_with(
            &[
                ("JENKINS_URL", "https://ci"),
                ("BRANCH_NAME", "PR-7"),
                ("CHANGE_BRANCH", "feature/y"),
            ],
            GitHead::Detached,
        )
        .unwrap();
        assert_eq!(b.name, "feature/y");
    }

    #[test]
    fn other_ci_systems() {
        for (vars, expected) in [
            (
                &[
                    ("GITLAB_CI", "true"),
                    ("CI_MERGE_REQUEST_SOURCE_BRANCH_NAME", "mr-src"),
                    ("CI_COMMIT_REF_NAME", "x"),
                ][..],
                "mr-src",
            ),
            (
                &[("GITLAB_CI", "true"), ("CI_COMMIT_REF_NAME", "gl")][..],
                "gl",
            ),
            (
                &[("BITBUCKET_BUILD_NUMBER", "3"), ("BITBUCKET_BRANCH", "bb")][..],
                "bb",
            ),
            (&[("CIRCLECI", "true"), ("CIRCLE_BRANCH", "cc")][..], "cc"),
            (
                &[("BUILDKITE", "true"), ("BUILDKITE_BRANCH", "bk")][..],
                "bk",
            ),
        ] {
            assert_eq!(detect_with(vars, GitHead::Detached).unwrap().name, expected);
        }
    }

    #[test]
    fn ci_variables_without_their_marker_are_ignored() {
        let b = detect_with(
            &[("BRANCH_NAME", "stale"), ("GIT_BRANCH", "origin/stale")],
            GitHead::Branch("real".into()),
        )
        .unwrap();
        assert_eq!((b.name.as_str(), b.source), ("real", Source::Git));
    }

    #[test]
    fn detached_head_without_ci_is_a_clear_error() {
        let err = detect_with(&[], GitHead::Detached).unwrap_err();
        assert_eq!(err.exit_code(), 2);
        assert!(err.message().contains("detached"));
        assert!(err.help().unwrap().contains("--branch"));
        assert!(
            detect_with(&[], no_git())
                .unwrap_err()
                .help()
                .unwrap()
                .contains("MLOPS_BRANCH")
        );
    }

    #[test]
    fn unicode_names_stay_distinct_and_safe() {
        let a = slug("fonctionnalité/été");
        let b = slug("fonctionnalite/ete");
        let c = slug("機能");
        assert!(is_safe(&a) && is_safe(&b) && is_safe(&c), "{a} {b} {c}");
        assert_ne!(a, b);
        assert_eq!(
            c.len(),
            8,
            "nothing ASCII is left, so the slug is the hash: {c}"
        );
    }

    #[test]
    fn long_names_are_cut_and_hashed() {
        let long = "a".repeat(300);
        let s = slug(&long);
        assert_eq!(s.len(), SLUG_MAX + 9);
        assert!(s.starts_with(&"a".repeat(SLUG_MAX)));
        assert!(is_safe(&s));
        assert_ne!(slug(&"a".repeat(301)), s);
    }

    #[test]
    fn hostile_names_cannot_escape_their_folder() {
        for name in [
            "..",
            "../../etc/passwd",
            "a/../../b",
            "feature x",
            "it's \"quoted\"",
            "line\nbreak",
            "tab\there",
            "/abs",
            "a\\b",
            "-",
            "{project}",
            "$(rm -rf ~)",
        ] {
            let s = slug(name);
            assert!(is_safe(&s), "{name:?} -> {s:?}");
            assert!(!s.contains(".."), "{name:?} -> {s:?}");
        }
        assert_ne!(slug("line\nbreak"), slug("line break"));
    }

    #[test]
    fn source_variables_are_listed() {
        let all: Vec<_> = variables().collect();
        assert!(all.contains(&"MLOPS_BRANCH"));
        assert!(all.contains(&"SYSTEM_PULLREQUEST_SOURCEBRANCH"));
        assert!(all.contains(&"BUILDKITE"));
    }
}
