//! What a wheel is built from, and the cache key over all of it.
//!
//! The package's files are walked with `.gitignore` (and `.ignore`) respected, the way git
//! would see them, skipping build outputs. For maturin packages the walk also covers what cargo
//! reads outside the package folder: the workspace's Cargo.toml and Cargo.lock and every local
//! path dependency. The key also covers the backend, the interpreter and tool (fingerprinted
//! without running them) and the environment variables that change build output.

use std::collections::BTreeSet;
use std::io::Write;
use std::path::{Path, PathBuf};

use sha2::{Digest, Sha256};

use super::wheel_file::{hash_file, hex};
use crate::error::{Error, Result};

/// Folders that only ever hold build output or tool state, skipped wherever they appear.
const SKIP_ANYWHERE: &[&str] = &[
    ".git",
    "__pycache__",
    ".mlops",
    ".venv",
    ".tox",
    ".nox",
    ".pytest_cache",
    ".mypy_cache",
    ".ruff_cache",
];

/// Folders skipped at the top of a package or crate: its build outputs.
pub const PACKAGE_OUTPUTS: &[&str] = &["target", "dist", "build"];

/// Environment variables that change what a build produces.
pub const BUILD_ENV: &[&str] = &[
    "SOURCE_DATE_EPOCH",
    "RUSTFLAGS",
    "CARGO_ENCODED_RUSTFLAGS",
    "CARGO_BUILD_TARGET",
    "CARGO_PROFILE_RELEASE_OPT_LEVEL",
    "CARGO_PROFILE_RELEASE_LTO",
    "MATURIN_PEP517_ARGS",
    "PYO3_PYTHON",
    "PYO3_CROSS_LIB_DIR",
    "CC",
    "CXX",
    "CFLAGS",
    "CXXFLAGS",
    "LDFLAGS",
    "PIP_INDEX_URL",
    "PIP_EXTRA_INDEX_URL",
    "PIP_CONSTRAINT",
    "SETUPTOOLS_SCM_PRETEND_VERSION",
];

/// The files of a folder as git would see them, relative to it, sorted; folders named in
/// `skip_top` are left out when they sit directly in `dir`.
pub fn walk(dir: &Path, skip_top: &'static [&'static str]) -> Result<Vec<PathBuf>> {
    let top = dir.to_path_buf();
    let walker = ignore::WalkBuilder::new(dir)
        .hidden(false)
        .git_ignore(true)
        .ignore(true)
        .parents(true)
        .require_git(false)
        // Global and repository-local excludes differ between machines; a key must not.
        .git_global(false)
        .git_exclude(false)
        .follow_links(false)
        .sort_by_file_name(|a, b| a.cmp(b))
        .filter_entry(move |entry| {
            let name = entry.file_name().to_string_lossy();
            let is_dir = entry.file_type().is_some_and(|t| t.is_dir());
            if !is_dir {
                return true;
            }
            if SKIP_ANYWHERE.contains(&name.as_ref()) || name.ends_with(".egg-info") {
                return false;
            }
            !(entry.path().parent() == Some(top.as_path()) && skip_top.contains(&name.as_ref()))
        })
        .build();
    let mut files = Vec::new();
    for entry in walker {
        let entry = entry.map_err(|e| {
            Error::failed(format!("cannot list the files of `{}`: {e}", dir.display()))
        })?;
        if entry.file_type().is_some_and(|t| t.is_file()) {
            let rel = entry
                .path()
                .strip_prefix(dir)
                .expect("walk stays below its root")
                .to_path_buf();
            files.push(rel);
        }
    }
    files.sort();
    Ok(files)
}

/// Everything outside the package folder that cargo reads when maturin builds it.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct CargoInputs {
    /// Local crates the package depends on (walked like the package).
    pub dirs: BTreeSet<PathBuf>,
    /// Single files: the workspace's Cargo.toml, Cargo.lock and cargo config.
    pub files: BTreeSet<PathBuf>,
}

/// The crate folder of a maturin package (pyproject's `tool.maturin.manifest-path`, else the
/// package folder itself) and what cargo reads beyond it.
pub fn cargo_inputs(package: &Path) -> CargoInputs {
    let mut inputs = CargoInputs::default();
    let crate_dir = maturin_crate_dir(package);
    if !crate_dir.starts_with(package) {
        inputs.dirs.insert(crate_dir.clone());
    }
    let workspace = find_workspace_root(&crate_dir);
    let root = workspace.clone().unwrap_or_else(|| crate_dir.clone());
    for file in [
        "Cargo.toml",
        "Cargo.lock",
        ".cargo/config.toml",
        ".cargo/config",
    ] {
        let path = root.join(file);
        if path.is_file() {
            inputs.files.insert(path);
        }
    }
    let workspace_deps = workspace
        .as_ref()
        .and_then(|r| read_toml(&r.join("Cargo.toml")))
        .and_then(|t| t.get("workspace")?.get("dependencies")?.as_table().cloned())
        .unwrap_or_default();
    let mut stack = vec![crate_dir];
    let mut seen = BTreeSet::new();
    while let Some(dir) = stack.pop() {
        if !seen.insert(dir.clone()) {
            continue;
        }
        let Some(manifest) = read_toml(&dir.join("Cargo.toml")) else {
            continue;
        };
        for (name, dep) in dependency_tables(&manifest).flat_map(|t| t.iter()) {
            let inherits = dep.get("workspace").and_then(|w| w.as_bool()) == Some(true);
            let path = match (dep.get("path").and_then(|p| p.as_str()), &workspace) {
                (Some(rel), _) => Some(dir.join(rel)),
                // `name.workspace = true`: the path is in the root's [workspace.dependencies].
                (None, Some(root)) if inherits => workspace_deps
                    .get(name)
                    .and_then(|d| d.get("path"))
                    .and_then(|p| p.as_str())
                    .map(|rel| root.join(rel)),
                _ => None,
            };
            if let Some(path) = path {
                let path = crate::manifest::normalize(&path);
                if !path.starts_with(package) {
                    inputs.dirs.insert(path.clone());
                }
                stack.push(path);
            }
        }
    }
    inputs
}

/// The folder whose Cargo.lock cargo uses for a maturin package: its workspace root, or the
/// crate folder itself.
pub fn cargo_lock_dir(package: &Path) -> PathBuf {
    let crate_dir = maturin_crate_dir(package);
    find_workspace_root(&crate_dir).unwrap_or(crate_dir)
}

fn maturin_crate_dir(package: &Path) -> PathBuf {
    let manifest_path = read_toml(&package.join("pyproject.toml")).and_then(|t| {
        t.get("tool")?
            .get("maturin")?
            .get("manifest-path")?
            .as_str()
            .map(str::to_string)
    });
    match manifest_path {
        Some(p) => crate::manifest::normalize(&package.join(p))
            .parent()
            .map(Path::to_path_buf)
            .unwrap_or_else(|| package.to_path_buf()),
        None => package.to_path_buf(),
    }
}

/// The nearest folder at or above `crate_dir` whose Cargo.toml has a `[workspace]` table.
fn find_workspace_root(crate_dir: &Path) -> Option<PathBuf> {
    crate_dir
        .ancestors()
        .find(|dir| read_toml(&dir.join("Cargo.toml")).is_some_and(|t| t.contains_key("workspace")))
        .map(Path::to_path_buf)
}

fn dependency_tables(manifest: &toml::Table) -> impl Iterator<Item = &toml::Table> {
    let top = ["dependencies", "build-dependencies"]
        .into_iter()
        .filter_map(|k| manifest.get(k)?.as_table());
    let per_target = manifest
        .get("target")
        .and_then(|t| t.as_table())
        .into_iter()
        .flat_map(|targets| targets.values())
        .flat_map(|t| {
            ["dependencies", "build-dependencies"]
                .into_iter()
                .filter_map(move |k| t.get(k)?.as_table())
        });
    top.chain(per_target)
}

fn read_toml(path: &Path) -> Option<toml::Table> {
    fs_err::read_to_string(path).ok()?.parse().ok()
}

/// Content hashes of files remembered by size and modification time, as git's index does,
/// so that deciding a cache hit does not read every byte of a large package again.
#[derive(Default, serde::Serialize, serde::Deserialize)]
pub struct HashMemo {
    files: std::collections::BTreeMap<PathBuf, (u64, u128, String)>,
    #[serde(skip)]
    changed: bool,
}

impl HashMemo {
    pub fn load(path: &Path) -> HashMemo {
        fs_err::read(path)
            .ok()
            .and_then(|b| serde_json::from_slice(&b).ok())
            .unwrap_or_default()
    }

    /// Writes the memo back when it learned something (best effort: it is only a cache).
    pub fn save(&self, path: &Path) {
        if !self.changed {
            return;
        }
        if let Ok(json) = serde_json::to_vec(self) {
            let _ = crate::support::atomic::write(path, &json);
        }
    }

    /// The SHA-256 of `path`, from memory when its size and time are unchanged.
    pub fn hash(&mut self, path: &Path) -> Result<String> {
        let meta = fs_err::metadata(path)?;
        let mtime = meta
            .modified()
            .ok()
            .and_then(|t| t.duration_since(std::time::UNIX_EPOCH).ok());
        if let (Some(mtime), Some((size, at, sha))) = (mtime, self.files.get(path)) {
            if *size == meta.len() && *at == mtime.as_nanos() {
                return Ok(sha.clone());
            }
        }
        let (sha, _) = hash_file(path)?;
        // A file changed within the last seconds could change again within the same clock
        // tick without its time moving; do not trust its time yet ("racy git").
        let settled = mtime.is_some_and(|m| {
            std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .is_ok_and(|now| now.saturating_sub(m) > std::time::Duration::from_secs(2))
        });
        if let (true, Some(mtime)) = (settled, mtime) {
            self.files.insert(
                path.to_path_buf(),
                (meta.len(), mtime.as_nanos(), sha.clone()),
            );
            self.changed = true;
        }
        Ok(sha)
    }
}

/// Builds the cache key: a SHA-256 over labelled lines, so no two different inputs collide.
pub struct KeyBuilder<'m> {
    hasher: Sha256,
    memo: &'m mut HashMemo,
}

impl<'m> KeyBuilder<'m> {
    pub fn new(version: &str, memo: &'m mut HashMemo) -> Self {
        let mut k = KeyBuilder {
            hasher: Sha256::new(),
            memo,
        };
        k.line("cargo-mlops-build", version);
        k
    }

    pub fn line(&mut self, label: &str, value: &str) {
        // Length-prefixed so that values containing newlines cannot forge other lines.
        let _ = writeln!(
            HashWriter(&mut self.hasher),
            "{}:{label}={}:{value}",
            label.len(),
            value.len()
        );
    }

    /// Every file of `dir` (relative path, executable bit, content hash).
    pub fn dir(&mut self, label: &str, dir: &Path, files: &[PathBuf]) -> Result<()> {
        self.line(&format!("{label}.root"), &files.len().to_string());
        for rel in files {
            self.file(
                label,
                &dir.join(rel),
                &rel.to_string_lossy().replace('\\', "/"),
            )?;
        }
        Ok(())
    }

    pub fn file(&mut self, label: &str, path: &Path, shown_as: &str) -> Result<()> {
        let sha = self.memo.hash(path)?;
        let exec = is_executable(path);
        self.line(label, &format!("{shown_as}|{exec}|{sha}"));
        Ok(())
    }

    pub fn finish(self) -> String {
        hex(&self.hasher.finalize())
    }
}

struct HashWriter<'a>(&'a mut Sha256);

impl Write for HashWriter<'_> {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0.update(buf);
        Ok(buf.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

fn is_executable(path: &Path) -> bool {
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        path.metadata()
            .map(|m| m.permissions().mode() & 0o111 != 0)
            .unwrap_or(false)
    }
    #[cfg(not(unix))]
    {
        let _ = path;
        false
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn write(root: &Path, rel: &str, text: &str) {
        let path = root.join(rel);
        fs_err::create_dir_all(path.parent().unwrap()).unwrap();
        fs_err::write(path, text).unwrap();
    }

    #[test]
    fn walk_respects_gitignore_and_skips_outputs() {
        let tmp = tempfile::tempdir().unwrap();
        let root = tmp.path();
        write(root, "pyproject.toml", "");
        write(root, "src/pkg/__init__.py", "");
        write(root, "src/pkg/build/keep.py", "");
        write(root, "src/pkg/__pycache__/x.pyc", "");
        write(root, "build/lib/old.py", "");
        write(root, "dist/old.whl", "");
        write(root, "target/release/x.so", "");
        write(root, "pkg.egg-info/PKG-INFO", "");
        write(root, "secret.log", "");
        write(root, ".gitignore", "*.log\n");
        write(root, ".hidden/conf", "");
        let files: Vec<String> = walk(root, PACKAGE_OUTPUTS)
            .unwrap()
            .into_iter()
            .map(|p| p.to_string_lossy().into_owned())
            .collect();
        assert_eq!(
            files,
            [
                ".gitignore",
                ".hidden/conf",
                "pyproject.toml",
                "src/pkg/__init__.py",
                "src/pkg/build/keep.py"
            ]
        );
    }

    #[test]
    fn key_changes_with_any_file_and_not_otherwise() {
        let tmp = tempfile::tempdir().unwrap();
        let root = tmp.path();
        write(root, "a.py", "1");
        write(root, "b/c.py", "2");
        let mut memo = HashMemo::default();
        let mut key = || {
            let mut k = KeyBuilder::new("1", &mut memo);
            k.dir("pkg", root, &walk(root, PACKAGE_OUTPUTS).unwrap())
                .unwrap();
            k.finish()
        };
        let first = key();
        assert_eq!(first, key());
        write(root, "b/c.py", "3");
        let second = key();
        assert_ne!(first, second);
        write(root, "b/d.py", "");
        assert_ne!(second, key());
    }

    #[test]
    fn labelled_lines_cannot_collide() {
        let mut memo = HashMemo::default();
        let mut a = KeyBuilder::new("1", &mut memo);
        a.line("x", "1\n2:y=3");
        let a = a.finish();
        let mut b = KeyBuilder::new("1", &mut memo);
        b.line("x", "1");
        b.line("y", "3");
        assert_ne!(a, b.finish());
    }

    #[test]
    fn cargo_inputs_follow_path_and_workspace_dependencies() {
        let tmp = tempfile::tempdir().unwrap();
        let root = tmp.path();
        write(
            root,
            "Cargo.toml",
            "[workspace]\nmembers = [\"py/ext\", \"core\", \"util\"]\n[workspace.dependencies]\nutil = { path = \"util\" }\n",
        );
        write(root, "Cargo.lock", "");
        write(
            root,
            "py/ext/pyproject.toml",
            "[build-system]\nbuild-backend = \"maturin\"\n",
        );
        write(
            root,
            "py/ext/Cargo.toml",
            "[package]\nname = \"ext\"\n[dependencies]\ncore = { path = \"../../core\" }\nutil.workspace = true\nserde = \"1\"\n",
        );
        write(root, "core/Cargo.toml", "[package]\nname = \"core\"\n");
        write(root, "util/Cargo.toml", "[package]\nname = \"util\"\n");
        let inputs = cargo_inputs(&root.join("py/ext"));
        let dirs: Vec<_> = inputs
            .dirs
            .iter()
            .map(|d| d.strip_prefix(root).unwrap().to_path_buf())
            .collect();
        assert_eq!(dirs, [PathBuf::from("core"), PathBuf::from("util")]);
        assert!(inputs.files.contains(&root.join("Cargo.lock")));
        assert!(inputs.files.contains(&root.join("Cargo.toml")));
    }
}
