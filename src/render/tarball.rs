//! The deterministic project tarball: entries sorted, every time 0, owner 0, modes normalised
//! to 0644/0755, gzip header time 0. The same files give the same bytes on every machine.

use std::io::{self, Write};
use std::path::{Path, PathBuf};

use flate2::{Compression, GzBuilder};
use sha2::{Digest, Sha256};

use crate::build::wheel_file::hex;

/// Every entry sits under this folder, as in MLflow's own project tarballs.
pub const PREFIX: &str = "mlflow-project";

/// What was written: the tarball's SHA-256 and size.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Written {
    pub sha256: String,
    pub size: u64,
}

/// Writes `files` (relative to `dir`) as a gzipped tar to `out`, hashing while writing.
pub fn write(dir: &Path, files: &[PathBuf], out: impl Write) -> io::Result<Written> {
    let mut sorted: Vec<&PathBuf> = files.iter().collect();
    sorted.sort();
    let hashing = HashingWriter {
        inner: out,
        hasher: Sha256::new(),
        size: 0,
    };
    let gz = GzBuilder::new()
        .mtime(0)
        .write(hashing, Compression::default());
    let mut tar = tar::Builder::new(gz);
    tar.mode(tar::HeaderMode::Deterministic);
    let mut dirs_done: Vec<PathBuf> = Vec::new();
    for rel in sorted {
        // Folder entries first, once each, so extraction makes them with normal modes.
        let mut parents: Vec<&Path> = rel
            .ancestors()
            .skip(1)
            .filter(|p| !p.as_os_str().is_empty())
            .collect();
        parents.reverse();
        for parent in parents {
            if !dirs_done.iter().any(|d| d == parent) {
                let mut header = header(tar::EntryType::Directory, 0o755, 0);
                tar.append_data(&mut header, Path::new(PREFIX).join(parent), io::empty())?;
                dirs_done.push(parent.to_path_buf());
            }
        }
        let path = dir.join(rel);
        let meta = fs_err::metadata(&path)?;
        let mode = if is_executable(&meta) { 0o755 } else { 0o644 };
        let mut header = header(tar::EntryType::Regular, mode, meta.len());
        let file = fs_err::File::open(&path)?;
        tar.append_data(&mut header, Path::new(PREFIX).join(rel), file)?;
    }
    let gz = tar.into_inner()?;
    let mut hashing = gz.finish()?;
    hashing.flush()?;
    Ok(Written {
        sha256: hex(&hashing.hasher.finalize()),
        size: hashing.size,
    })
}

fn header(kind: tar::EntryType, mode: u32, size: u64) -> tar::Header {
    let mut h = tar::Header::new_gnu();
    h.set_entry_type(kind);
    h.set_mode(mode);
    h.set_size(size);
    h.set_mtime(0);
    h.set_uid(0);
    h.set_gid(0);
    h
}

fn is_executable(meta: &std::fs::Metadata) -> bool {
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        meta.permissions().mode() & 0o111 != 0
    }
    #[cfg(not(unix))]
    {
        let _ = meta;
        false
    }
}

struct HashingWriter<W> {
    inner: W,
    hasher: Sha256,
    size: u64,
}

impl<W: Write> Write for HashingWriter<W> {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        let n = self.inner.write(buf)?;
        self.hasher.update(&buf[..n]);
        self.size += n as u64;
        Ok(n)
    }
    fn flush(&mut self) -> io::Result<()> {
        self.inner.flush()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tree(root: &Path) -> Vec<PathBuf> {
        fs_err::create_dir_all(root.join("pkg/sub")).unwrap();
        fs_err::write(root.join("train.py"), "print(1)\n").unwrap();
        fs_err::write(root.join("pkg/sub/a.txt"), "a").unwrap();
        fs_err::write(root.join("MLproject"), "name: x\n").unwrap();
        vec![
            "train.py".into(),
            "pkg/sub/a.txt".into(),
            "MLproject".into(),
        ]
    }

    #[test]
    fn same_files_same_bytes_wherever_and_whenever() {
        let a = tempfile::tempdir().unwrap();
        let b = tempfile::tempdir().unwrap();
        let files = tree(a.path());
        tree(b.path());
        // Different times and permissions on disk do not matter...
        let old = std::time::SystemTime::UNIX_EPOCH + std::time::Duration::from_secs(1_000_000);
        fs_err::File::options()
            .write(true)
            .open(b.path().join("train.py"))
            .unwrap()
            .set_modified(old)
            .unwrap();
        let mut bytes_a = Vec::new();
        let wa = write(a.path(), &files, &mut bytes_a).unwrap();
        let mut bytes_b = Vec::new();
        let mut reversed = files.clone();
        reversed.reverse();
        let wb = write(b.path(), &reversed, &mut bytes_b).unwrap();
        assert_eq!(wa, wb);
        assert_eq!(bytes_a, bytes_b);
        assert_eq!(wa.size, bytes_a.len() as u64);
        assert_eq!(wa.sha256, hex(&Sha256::digest(&bytes_a)));
        // ...but content does.
        fs_err::write(b.path().join("train.py"), "print(2)\n").unwrap();
        let wc = write(b.path(), &files, io::sink()).unwrap();
        assert_ne!(wa.sha256, wc.sha256);
    }

    #[test]
    fn entries_are_sorted_prefixed_and_normalised() {
        let a = tempfile::tempdir().unwrap();
        let files = tree(a.path());
        let mut bytes = Vec::new();
        write(a.path(), &files, &mut bytes).unwrap();
        // gzip header: magic, method, flags, then a zero mtime.
        assert_eq!(&bytes[4..8], &[0, 0, 0, 0]);
        let gz = flate2::read::GzDecoder::new(&bytes[..]);
        let mut archive = tar::Archive::new(gz);
        let mut names = Vec::new();
        for entry in archive.entries().unwrap() {
            let entry = entry.unwrap();
            let h = entry.header();
            assert_eq!(h.mtime().unwrap(), 0);
            assert_eq!((h.uid().unwrap(), h.gid().unwrap()), (0, 0));
            let mode = h.mode().unwrap();
            assert!(mode == 0o644 || mode == 0o755, "{mode:o}");
            names.push(entry.path().unwrap().to_string_lossy().into_owned());
        }
        assert_eq!(
            names,
            [
                "mlflow-project/MLproject",
                "mlflow-project/pkg",
                "mlflow-project/pkg/sub",
                "mlflow-project/pkg/sub/a.txt",
                "mlflow-project/train.py"
            ]
        );
    }
}
