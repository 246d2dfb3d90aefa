//! Wheel files: the name (PEP 427: `name-version(-build)?-python-abi-platform.whl`) parsed and
//! validated, and the SHA-256 computed while streaming, never with the whole file in memory.

use std::io::Read;
use std::path::Path;

use serde::Serialize;
use sha2::{Digest, Sha256};

/// The parts of a wheel's file name.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct WheelName {
    pub name: String,
    pub version: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub build: Option<String>,
    pub python: String,
    pub abi: String,
    pub platform: String,
}

impl WheelName {
    pub fn parse(file_name: &str) -> Result<WheelName, String> {
        let stem = file_name
            .strip_suffix(".whl")
            .ok_or_else(|| format!("`{file_name}` does not end in .whl"))?;
        let parts: Vec<&str> = stem.split('-').collect();
        let (name, version, build, tags) = match parts.as_slice() {
            [n, v, p, a, pl] => (*n, *v, None, [*p, *a, *pl]),
            [n, v, b, p, a, pl] => (*n, *v, Some(*b), [*p, *a, *pl]),
            _ => {
                return Err(format!(
                    "`{file_name}` is not `name-version[-build]-python-abi-platform.whl`"
                ));
            }
        };
        let bad = |what: &str, value: &str| Err(format!("`{file_name}`: invalid {what} `{value}`"));
        if name.is_empty()
            || !name
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '.')
        {
            return bad("distribution name", name);
        }
        if !version.chars().next().is_some_and(|c| c.is_ascii_digit())
            || !version
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '!' | '+' | '_'))
        {
            return bad("version", version);
        }
        if let Some(b) = build {
            if !b.chars().next().is_some_and(|c| c.is_ascii_digit()) {
                return bad("build tag", b);
            }
        }
        for tag in tags {
            if tag.is_empty()
                || !tag
                    .chars()
                    .all(|c| c.is_ascii_alphanumeric() || matches!(c, '_' | '.'))
            {
                return bad("compatibility tag", tag);
            }
        }
        Ok(WheelName {
            name: name.into(),
            version: version.into(),
            build: build.map(str::to_string),
            python: tags[0].into(),
            abi: tags[1].into(),
            platform: tags[2].into(),
        })
    }
}

/// SHA-256 (lowercase hex) and size of a file, read in fixed-size chunks.
pub fn hash_file(path: &Path) -> std::io::Result<(String, u64)> {
    let mut file = fs_err::File::open(path)?;
    let mut hasher = Sha256::new();
    let mut buf = vec![0u8; 256 * 1024];
    let mut size = 0u64;
    loop {
        let n = file.read(&mut buf)?;
        if n == 0 {
            break;
        }
        hasher.update(&buf[..n]);
        size += n as u64;
    }
    Ok((hex(&hasher.finalize()), size))
}

pub fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// The content address: the first 16 hex digits of the SHA-256.
pub fn address(sha256: &str) -> &str {
    &sha256[..16.min(sha256.len())]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_common_wheel_names() {
        let w = WheelName::parse("demo_fast-0.1.0-cp39-abi3-manylinux_2_34_x86_64.whl").unwrap();
        assert_eq!(
            (w.name.as_str(), w.version.as_str()),
            ("demo_fast", "0.1.0")
        );
        assert_eq!((w.python.as_str(), w.abi.as_str()), ("cp39", "abi3"));
        assert_eq!(w.platform, "manylinux_2_34_x86_64");
        let w = WheelName::parse("pkg-1.0.post1+local.2-1-py3-none-any.whl").unwrap();
        assert_eq!(w.build.as_deref(), Some("1"));
        assert_eq!(w.version, "1.0.post1+local.2");
        let w = WheelName::parse("a.b-2!1.0rc1-py2.py3-none-any.whl").unwrap();
        assert_eq!(w.python, "py2.py3");
    }

    #[test]
    fn rejects_malformed_names() {
        for bad in [
            "pkg-1.0.tar.gz",
            "pkg-1.0-py3-none.whl",
            "pkg-x1.0-py3-none-any.whl",
            "p/kg-1.0-py3-none-any.whl",
            "pkg-1.0-b-py3-none-any.whl",
            "-1.0-py3-none-any.whl",
            "pkg-1.0-py3--any.whl",
            "a-b-c-d-e-f-g.whl",
        ] {
            assert!(WheelName::parse(bad).is_err(), "{bad} was accepted");
        }
    }

    #[test]
    fn hashes_stream_in_chunks() {
        let tmp = tempfile::tempdir().unwrap();
        let path = tmp.path().join("w.whl");
        // Larger than one read buffer, so the chunk loop is exercised.
        let data: Vec<u8> = (0..700_000u32).map(|i| (i % 251) as u8).collect();
        fs_err::write(&path, &data).unwrap();
        let (sha, size) = hash_file(&path).unwrap();
        assert_eq!(size, data.len() as u64);
        assert_eq!(sha, hex(&Sha256::digest(&data)));
        assert_eq!(address(&sha).len(), 16);
    }
}
