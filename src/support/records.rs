//! Every file the tool writes and reads back, one type each: the deploy record, the run
//! record, the run report (what `run --json` prints and CI systems get as outputs) and the
//! build cache entry. Writing and reading share the type, so the two cannot disagree; fields
//! added later are optional, so a record written by an earlier release still reads.

use serde::{Deserialize, Serialize};

/// A file a deploy published: where it went and what it holds.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct RecordedFile {
    /// The file name (wheels only).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub file: Option<String>,
    pub sha256: String,
    pub path: String,
}

/// `<branch folder>/deploys/<commit>.json`: what a commit deployed, where, and when. `gc`
/// keeps what the newest one names.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct DeployRecord {
    pub project: String,
    pub target: String,
    pub branch: String,
    pub branch_slug: String,
    pub commit: Option<String>,
    /// The files with uncommitted changes when it was deployed (none: a clean tree).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub dirty: Vec<String>,
    /// RFC 3339, UTC, seconds.
    pub time: String,
    pub experiment: String,
    pub wheels: Vec<RecordedFile>,
    pub tarball: Option<RecordedFile>,
    pub launcher: Option<RecordedFile>,
    /// `cargo-mlops <version>`.
    pub tool: String,
}

impl DeployRecord {
    /// Whether two records say the same thing, apart from when they were written.
    pub fn same_as(&self, other: &DeployRecord) -> bool {
        DeployRecord {
            time: String::new(),
            ..self.clone()
        } == DeployRecord {
            time: String::new(),
            ..other.clone()
        }
    }

    /// Every store path the record names.
    pub fn paths(&self) -> impl Iterator<Item = &str> {
        self.wheels
            .iter()
            .chain(&self.tarball)
            .chain(&self.launcher)
            .map(|f| f.path.as_str())
    }

    /// Whether the record names every one of `paths`.
    pub fn names_all(&self, paths: &[String]) -> bool {
        let named: std::collections::BTreeSet<&str> = self.paths().collect();
        paths.iter().all(|p| named.contains(p.as_str()))
    }
}

/// `<branch folder>/runs/<databricks run id>.json`: what a submitted job reads, so that `gc`
/// never deletes it while the job may still run.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct RunRecord {
    /// The project that submitted the job (absent in records written by earlier versions).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub project: Option<String>,
    pub databricks_run_id: u64,
    pub mlflow_run_id: String,
    /// The path of the deploy record the job's files come from.
    pub deploy_record: String,
    /// RFC 3339, UTC, seconds.
    pub time: String,
    pub paths: Vec<String>,
}

/// `<branch folder>/leases/<id>.json`: a deploy in flight, written before its first upload
/// (or existence check) and removed once a record protects what it names (the deploy record
/// for `deploy`, the run record for `run`). `gc` never deletes what a live lease names; a
/// lease left by a deploy that died expires after [`LEASE_TTL_MS`] and is collected.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Lease {
    /// The project deploying (absent in leases written by earlier versions).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub project: Option<String>,
    /// RFC 3339, UTC, seconds.
    pub time: String,
    /// Milliseconds since the epoch after which the lease no longer protects anything.
    pub expires_ms: i64,
    pub paths: Vec<String>,
    pub tool: String,
}

/// The folder of a branch's leases.
pub const LEASES: &str = "leases";

/// How long a lease protects a deploy: far longer than any upload takes.
pub const LEASE_TTL_MS: i64 = 6 * 3_600_000;

/// What `run --json` prints, with the same keys for every target (a key that does not apply
/// is `null`), and what CI systems get as outputs and in their summaries.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct RunReport {
    pub target: String,
    /// `local` or `databricks`.
    pub target_kind: String,
    pub entry: String,
    pub branch: String,
    pub commit: Option<String>,
    /// Whether the deploy had uncommitted changes.
    pub dirty: bool,
    pub experiment: String,
    pub experiment_id: Option<String>,
    pub mlflow_run_id: String,
    /// The run's page in the Databricks workspace (`null` on the local target: see `ui`).
    pub mlflow_run_url: Option<String>,
    pub tracking_uri: String,
    /// The MLflow run's status: `FINISHED`, `FAILED`, `KILLED`, or `RUNNING` with `--no-wait`.
    pub status: String,
    /// `SUCCESS`, `FAILED`, `CANCELED`, `TIMEDOUT`, ..., or `SUBMITTED` with `--no-wait`.
    pub result: String,
    pub params: std::collections::BTreeMap<String, String>,
    /// The latest value of each metric of a finished run.
    pub metrics: std::collections::BTreeMap<String, f64>,
    pub databricks_run_id: Option<u64>,
    pub run_page_url: Option<String>,
    /// The local environment the run used.
    pub environment: Option<String>,
    /// The command that shows a local run in MLflow's UI.
    pub ui: Option<String>,
    /// Why the run failed.
    pub error: Option<String>,
}

impl RunReport {
    pub fn succeeded(&self) -> bool {
        matches!(self.result.as_str(), "SUCCESS" | "SUBMITTED")
    }
}

/// `<state>/wheels/<key>/entry.json`: what the build cache remembers about a wheel.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct CacheEntry {
    pub key: String,
    pub file: String,
    pub sha256: String,
    pub size: u64,
    pub backend: String,
}

/// The records of type `T` in a store's `folder` (deploy or run records, leases), with their
/// listings; unreadable ones are skipped (gc only keeps more when in doubt, and `logs` looks
/// for the newest it can read).
pub fn read_all<T: serde::de::DeserializeOwned>(
    store: &dyn crate::store::Store,
    folder: &str,
) -> crate::error::Result<Vec<(crate::store::Listing, T)>> {
    let mut out = Vec::new();
    for entry in store.list(folder)? {
        if entry.is_dir || !entry.path.ends_with(".json") {
            continue;
        }
        let Some(bytes) = store.read_small(&entry.path)? else {
            continue;
        };
        if let Ok(record) = parse::<T>(&entry.path, &bytes) {
            out.push((entry, record));
        }
    }
    Ok(out)
}

/// Reads a record, or says which file and field is wrong.
pub fn parse<T: serde::de::DeserializeOwned>(
    what: &str,
    bytes: &[u8],
) -> std::result::Result<T, String> {
    let de = &mut serde_json::Deserializer::from_slice(bytes);
    serde_path_to_error::deserialize(de).map_err(|e| {
        let at = e.path().to_string();
        if at == "." {
            format!("{what}: {}", e.inner())
        } else {
            format!("{what}: `{at}`: {}", e.inner())
        }
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A deploy record exactly as the previous release wrote it.
    const OLD_DEPLOY_RECORD: &str = r#"{
  "project": "demo",
  "target": "dbfs",
  "branch": "main",
  "branch_slug": "main",
  "commit": "0123456789abcdef0123456789abcdef01234567",
  "time": "2026-11-30T10:00:00Z",
  "experiment": "/Users/{user}/demo/main",
  "wheels": [
    {
      "file": "demo_features-0.1.0-py3-none-any.whl",
      "sha256": "d23fdfc32493c349aa",
      "path": "dbfs:/mlops/demo/main/d23fdfc32493c349/demo_features-0.1.0-py3-none-any.whl"
    }
  ],
  "tarball": {
    "path": "dbfs:/mlops/demo/main/bd3e4be61a9427a9/project.tar.gz",
    "sha256": "bd3e4be61a9427a9bb"
  },
  "launcher": null,
  "tool": "cargo-mlops 0.1.0"
}"#;

    /// A run record exactly as the previous release wrote it.
    const OLD_RUN_RECORD: &str = r#"{"databricks_run_id":1003,"mlflow_run_id":"00000000000000000000000000791376","deploy_record":"dbfs:/mlops/demo/main/deploys/0123.json","time":"2026-11-30T10:00:01Z","paths":["dbfs:/mlops/demo/main/d23fdfc32493c349/demo_features-0.1.0-py3-none-any.whl"]}"#;

    #[test]
    fn records_written_by_the_previous_release_still_read() {
        let deploy: DeployRecord = parse("deploy record", OLD_DEPLOY_RECORD.as_bytes()).unwrap();
        assert_eq!(deploy.wheels.len(), 1);
        assert_eq!(deploy.tarball.as_ref().unwrap().file, None);
        assert_eq!(deploy.launcher, None);
        assert_eq!(deploy.paths().count(), 2);
        let run: RunRecord = parse("run record", OLD_RUN_RECORD.as_bytes()).unwrap();
        assert_eq!(run.databricks_run_id, 1003);
        assert_eq!(run.paths.len(), 1);
    }

    #[test]
    fn a_wrong_field_is_named() {
        let err = parse::<RunRecord>("run record", br#"{"databricks_run_id": "x"}"#).unwrap_err();
        assert!(err.contains("run record: `databricks_run_id`"), "{err}");
    }

    #[test]
    fn records_differing_only_in_time_are_the_same() {
        let a: DeployRecord = parse("r", OLD_DEPLOY_RECORD.as_bytes()).unwrap();
        let b = DeployRecord {
            time: "2027-01-01T00:00:00Z".into(),
            ..a.clone()
        };
        assert!(a.same_as(&b));
        let c = DeployRecord {
            commit: None,
            ..a.clone()
        };
        assert!(!a.same_as(&c));
    }
}
