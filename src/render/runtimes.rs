//! The Python each Databricks runtime and each serverless environment version runs: one per
//! version, from the release notes' "System environment" sections
//! (https://docs.databricks.com/aws/en/release-notes/runtime/ and
//! https://docs.databricks.com/aws/en/release-notes/serverless/environment-version).

use crate::build::tags::Version;

/// Databricks Runtime major version → its Python (every minor release of a major has the
/// same one).
const RUNTIME_PYTHON: &[(u32, Version)] = &[
    (7, Version::new(3, 7)),
    (8, Version::new(3, 8)),
    (9, Version::new(3, 8)),
    (10, Version::new(3, 8)),
    (11, Version::new(3, 9)),
    (12, Version::new(3, 9)),
    (13, Version::new(3, 10)),
    (14, Version::new(3, 10)),
    (15, Version::new(3, 11)),
    (16, Version::new(3, 12)),
    (17, Version::new(3, 12)),
    (18, Version::new(3, 12)),
];

/// Serverless environment version → its Python.
pub const SERVERLESS_PYTHON: &[(&str, Version)] = &[
    ("1", Version::new(3, 10)),
    ("2", Version::new(3, 11)),
    ("3", Version::new(3, 12)),
    ("4", Version::new(3, 12)),
];

/// The Python of a runtime (`14.3.x-scala2.12`), if the version is one we know.
pub fn runtime_python(spark_version: &str) -> Option<Version> {
    let (major, _) = parse_runtime(spark_version)?;
    RUNTIME_PYTHON
        .iter()
        .find(|(m, _)| *m == major)
        .map(|(_, v)| *v)
}

/// The Python of a serverless environment version (`4`).
pub fn serverless_python(environment_version: &str) -> Option<Version> {
    SERVERLESS_PYTHON
        .iter()
        .find(|(v, _)| *v == environment_version)
        .map(|(_, p)| *p)
}

/// `15.4.x-scala2.12` → (15, 4).
/// `custom:16.1.x-...` → (16, 1); `16.x-snapshot-scala2.12` → (16, `u32::MAX`): the newest
/// minor release of 16. Anything else (`latest`, a number) is `None`.
pub fn parse_runtime(spark_version: &str) -> Option<(u32, u32)> {
    let version = spark_version
        .strip_prefix("custom:")
        .unwrap_or(spark_version);
    let mut parts = version.split(['.', '-']);
    let major = parts.next()?.parse().ok()?;
    let minor = match parts.next()? {
        "x" => u32::MAX,
        n => n.parse().ok()?,
    };
    Some((major, minor))
}

/// `Version::new(3, 12)` → `3.12`.
pub fn shown(v: Version) -> String {
    v.to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn runtimes_and_environments_have_their_python() {
        assert_eq!(
            runtime_python("14.3.x-scala2.12"),
            Some(Version::new(3, 10))
        );
        assert_eq!(
            runtime_python("15.4.x-cpu-ml-scala2.12"),
            Some(Version::new(3, 11))
        );
        assert_eq!(
            runtime_python("16.x-snapshot-scala2.12"),
            Some(Version::new(3, 12))
        );
        assert_eq!(runtime_python("99.1.x-scala2.13"), None);
        assert_eq!(serverless_python("4"), Some(Version::new(3, 12)));
        assert_eq!(serverless_python("9"), None);
    }
}
