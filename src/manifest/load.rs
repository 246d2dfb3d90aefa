//! Finding `mlops.toml`, reading and parsing it, and checking the folders it names.

use std::path::{Path, PathBuf};

use super::ctx::Ctx;
use super::defaults::MANIFEST_FILE;
use super::model::Manifest;
use super::raw::RawManifest;
use crate::error::{Error, Result};
use crate::support::diagnostic::Diagnostic;

/// Finds `mlops.toml` in `start` or the nearest folder above it, as cargo finds Cargo.toml.
pub fn find(start: &Path) -> Result<PathBuf> {
    for dir in start.ancestors() {
        let candidate = dir.join(MANIFEST_FILE);
        if candidate.is_file() {
            return Ok(candidate);
        }
    }
    Err(Error::usage(format!(
        "could not find `{MANIFEST_FILE}` in `{}` or any parent folder",
        start.display()
    ))
    .with_help("run `cargo mlops init` to create one, or pass `--manifest-path PATH/mlops.toml`"))
}

/// The largest manifest read (a settings file is a few KiB).
pub const MAX_MANIFEST_BYTES: u64 = 1024 * 1024;

/// Reads, parses and validates the manifest at `path`, including the paths it names.
pub fn load(path: &Path) -> Result<Manifest> {
    let shown = crate::support::paths::display_path(&crate::support::paths::absolute(path));
    let cannot_read = |e: std::io::Error| {
        Error::usage(format!("cannot read manifest: {e}"))
            .with_help("pass `--manifest-path` with the path of an existing mlops.toml")
    };
    // Checked before reading: a huge file is a mistake, and would be echoed in errors.
    let size = fs_err::metadata(path).map_err(cannot_read)?.len();
    if size > MAX_MANIFEST_BYTES {
        return Err(Error::usage(format!(
            "{}: the manifest is {} (at most {} is read)",
            shown.display(),
            crate::output::human_bytes(size),
            crate::output::human_bytes(MAX_MANIFEST_BYTES)
        ))
        .with_help("mlops.toml holds settings only; is this the right file?"));
    }
    let bytes = fs_err::read(path).map_err(cannot_read)?;
    let source = String::from_utf8(bytes).map_err(|e| {
        let at = e.utf8_error().valid_up_to();
        let source = String::from_utf8_lossy(e.as_bytes()).into_owned();
        // The position in the lossy text: the same up to the first bad byte.
        Error::diagnostic(
            crate::support::diagnostic::Diagnostic::at(
                &shown,
                &source,
                at..at + 1,
                format!("the manifest is not UTF-8 text (an invalid byte at offset {at})"),
            )
            .help("save mlops.toml as UTF-8"),
        )
    })?;
    let manifest = parse(path, &source)?;
    manifest.check_paths()?;
    Ok(manifest)
}

/// Parses and validates manifest text; `path` says where it lives (for relative paths and
/// messages). Does not touch the file system.
pub fn parse(path: &Path, source: &str) -> Result<Manifest> {
    let path = crate::support::paths::absolute(path);
    let display_path = crate::support::paths::display_path(&path);
    let root = path.parent().map(Path::to_path_buf).unwrap_or_default();
    let ctx = Ctx {
        file: &display_path,
        source,
    };
    let raw: RawManifest = {
        let de = toml::Deserializer::parse(source)
            .map_err(|e| Error::diagnostic(ctx.toml_syntax(&e)))?;
        serde_path_to_error::deserialize(de).map_err(|e| Error::diagnostic(ctx.serde(&e)))?
    };
    super::resolve::resolve(raw, ctx, path.clone(), root)
}

impl Manifest {
    /// Checks that the folders the manifest names exist and hold what they should.
    pub fn check_paths(&self) -> Result<()> {
        let ctx = Ctx {
            file: &self.display_path,
            source: &self.source,
        };
        if !self.project.mlproject.is_dir() {
            let message = format!(
                "the MLflow project folder `{}` does not exist",
                self.project.mlproject.display()
            );
            let d = match &self.mlproject_span {
                Some(span) => ctx.at(span.clone(), message),
                None => Diagnostic::whole_file(ctx.file, message),
            };
            return Err(Error::diagnostic(
                d.key("project.mlproject")
                    .help("create the folder with the project's code (`cargo mlops init` makes one), or point `[project] mlproject` at it"),
            ));
        }
        for (i, wheel) in self.wheels.iter().enumerate() {
            let key = format!("wheel[{i}].path");
            if !wheel.path.is_dir() {
                return Err(Error::diagnostic(
                    ctx.at(
                        wheel.span.clone(),
                        format!(
                            "the package folder `{}` does not exist",
                            wheel.path.display()
                        ),
                    )
                    .key(key)
                    .help("paths are relative to the folder holding mlops.toml"),
                ));
            }
            // A package without pyproject.toml builds through setuptools' legacy backend
            // when it has a setup.py (as `python -m build` does it).
            if !wheel.path.join("pyproject.toml").is_file()
                && !wheel.path.join("setup.py").is_file()
            {
                return Err(Error::diagnostic(
                    ctx.at(
                        wheel.span.clone(),
                        format!("`{}` has no pyproject.toml (or setup.py)", wheel.path.display()),
                    )
                    .key(key)
                    .help("point `path` at the folder of a Python package (the one holding pyproject.toml or setup.py)"),
                ));
            }
        }
        Ok(())
    }
}
