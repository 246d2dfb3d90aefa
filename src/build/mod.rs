//! The build stage: every wheel of the project, built by the backend its pyproject.toml names,
//! reproducibly (`SOURCE_DATE_EPOCH`), from exactly the files git would see, and cached by a
//! key over all of that, so an unchanged package costs no subprocess at all.

pub mod backend;
mod cache;
pub mod discover;
pub mod inputs;
pub mod tags;
pub mod wheel_file;

use std::path::{Path, PathBuf};

use serde::Serialize;

use crate::error::{Error, Result};
use crate::manifest::Install;
use crate::output::Output;
use crate::plan::PlannedWheel;
use crate::support::process::{Cmd, CmdError, tail};
use crate::support::tools::{self, Python};

use backend::{Backend, BuildSystem};
use cache::{Cache, Entry};
use inputs::{HashMemo, KeyBuilder};
use wheel_file::WheelName;

/// `SOURCE_DATE_EPOCH` outside git: 1980-01-01, the earliest time a zip file can hold.
pub const FALLBACK_EPOCH: i64 = 315_532_800;

/// Lines of a failed build's output shown in the error.
const FAILURE_TAIL: usize = 40;

/// Bump when the cache layout or the way builds run changes, so old entries are not reused.
const CACHE_VERSION: &str = "2";

pub struct Options {
    pub python: Python,
    pub no_cache: bool,
}

/// One built (or cached) wheel.
#[derive(Clone, Debug, Serialize)]
pub struct BuiltWheel {
    /// The package folder as written in mlops.toml (or found in the cargo workspace).
    pub package: String,
    pub name: String,
    pub version: String,
    pub file: String,
    /// Where the wheel is on this machine.
    pub path: PathBuf,
    pub sha256: String,
    /// The content address: the first 16 hex digits of `sha256`.
    pub address: String,
    pub size: u64,
    pub cached: bool,
    pub backend: Backend,
    pub install: Install,
}

/// What a build of all wheels did: the wheels that were built, and the errors of the others.
pub struct Report {
    pub wheels: Vec<BuiltWheel>,
    pub failures: Vec<Failure>,
}

/// A wheel that did not build: its package folder (as the manifest names it) and why.
#[derive(Debug)]
pub struct Failure {
    pub package: String,
    pub error: Error,
}

impl serde::Serialize for Failure {
    fn serialize<S: serde::Serializer>(&self, s: S) -> std::result::Result<S::Ok, S::Error> {
        use serde::ser::SerializeStruct;
        let mut st = s.serialize_struct("Failure", 3)?;
        st.serialize_field("package", &self.package)?;
        st.serialize_field("error", self.error.message())?;
        st.serialize_field("help", &self.error.help())?;
        st.end()
    }
}

impl Report {
    /// The wheels, or one error saying how many failed (each was already shown).
    pub fn into_result(self) -> Result<Vec<BuiltWheel>> {
        match self.failures.len() {
            0 => Ok(self.wheels),
            1 if self.wheels.is_empty() => {
                Err(self.failures.into_iter().next().expect("one").error)
            }
            n => Err(Error::failed(format!(
                "{n} of {} wheels failed to build",
                n + self.wheels.len()
            ))),
        }
    }
}

/// Builds every wheel in `wheels`, going on past failures so that every result is reported.
/// Failures are shown as they happen and returned in the report.
pub fn build_all(
    state_dir: &Path,
    wheels: &[PlannedWheel],
    opts: &Options,
    output: &Output,
) -> Report {
    let cache = Cache::new(state_dir.join("wheels"));
    let mut memo = HashMemo::load(&memo_path(state_dir));
    let mut report = Report {
        wheels: Vec::new(),
        failures: Vec::new(),
    };
    for spec in wheels {
        match build_one(&cache, spec, opts, output, &mut memo) {
            Ok(wheel) => report.wheels.push(wheel),
            Err(err) => {
                if wheels.len() > 1 {
                    output.error(&err);
                }
                report.failures.push(Failure {
                    package: spec.declared.clone(),
                    error: err,
                });
            }
        }
    }
    memo.save(&memo_path(state_dir));
    report
}

/// Where the file-hash memo of the build cache lives.
fn memo_path(state_dir: &Path) -> PathBuf {
    state_dir.join("wheels").join("file-hashes.json")
}

/// The cache key of a package: everything its build reads (see `inputs.rs`).
/// `files` is the package's walk (`inputs::walk`), which a build then copies from.
fn cache_key(
    spec: &PlannedWheel,
    files: &[PathBuf],
    system: &BuildSystem,
    tool: &Tool,
    python: &Python,
    memo: &mut HashMemo,
) -> Result<String> {
    let mut key = KeyBuilder::new(CACHE_VERSION, memo);
    key.line("backend", &system.name);
    key.line("python", &tools::fingerprint(&python.path));
    key.line("tool", &tool.fingerprint());
    for var in inputs::BUILD_ENV {
        if let Some(value) = std::env::var_os(var) {
            key.line(&format!("env.{var}"), &value.to_string_lossy());
        }
    }
    key.dir("package", &spec.path, files)?;
    // A version taken from git changes with a new tag, with no file changed.
    if system.vcs_version {
        key.line(
            "vcs",
            &crate::git::version_inputs(&spec.path).unwrap_or_default(),
        );
    }
    if system.backend == Backend::Maturin {
        let cargo = inputs::cargo_inputs(&spec.path);
        for dir in &cargo.dirs {
            key.dir(
                &format!("crate:{}", dir.display()),
                dir,
                &inputs::walk(dir, inputs::PACKAGE_OUTPUTS)?,
            )?;
        }
        for file in &cargo.files {
            key.file("cargo", file, &file.display().to_string())?;
        }
    }
    Ok(key.finish())
}

/// The cached wheel of `spec`, if an identical build is cached; starts no process and writes
/// nothing (for `--dry-run`).
pub fn peek(state_dir: &Path, spec: &PlannedWheel, python: &Python) -> Result<Option<BuiltWheel>> {
    let system = backend::read(&spec.path)?;
    if system.backend == Backend::Maturin
        && !inputs::cargo_lock_dir(&spec.path)
            .join("Cargo.lock")
            .is_file()
    {
        return Ok(None);
    }
    let tool = Tool::for_backend(system.backend, python);
    let mut memo = HashMemo::load(&memo_path(state_dir));
    let files = inputs::walk(&spec.path, inputs::PACKAGE_OUTPUTS)?;
    let key = cache_key(spec, &files, &system, &tool, python, &mut memo)?;
    let cache = Cache::new(state_dir.join("wheels"));
    match cache.lookup(&key) {
        Some((entry, path)) => Ok(Some(finish(spec, &system, &entry, path, true)?)),
        None => Ok(None),
    }
}

/// The name a wheel of `spec` will have where it matters for where it installs (its Python and
/// ABI tags), told without building: a maturin crate's wheel is for the stable ABI from its
/// abi3 floor, else for the building interpreter only. `None` for other backends (pure Python
/// unless their build says otherwise) and when the interpreter does not answer.
pub fn predicted_file(spec: &PlannedWheel, python: &Python) -> Result<Option<String>> {
    let system = backend::read(&spec.path)?;
    if system.backend != Backend::Maturin {
        return Ok(None);
    }
    let dist = backend::distribution_name(&spec.path);
    let file = match tags::abi3_floor(&spec.path) {
        Some(tags::Version { major, minor }) => {
            format!("{dist}-*-cp{major}{minor}-abi3-linux_x86_64.whl")
        }
        None => match crate::support::tools::python_version(python) {
            Some(tags::Version { major, minor }) => {
                format!("{dist}-*-cp{major}{minor}-cp{major}{minor}-linux_x86_64.whl")
            }
            None => return Ok(None),
        },
    };
    Ok(Some(file))
}

fn build_one(
    cache: &Cache,
    spec: &PlannedWheel,
    opts: &Options,
    output: &Output,
    memo: &mut HashMemo,
) -> Result<BuiltWheel> {
    let system = backend::read(&spec.path)?;
    if system.backend == Backend::Maturin {
        ensure_lockfile(spec, output)?;
    }
    let tool = Tool::for_backend(system.backend, &opts.python);
    let files = inputs::walk(&spec.path, inputs::PACKAGE_OUTPUTS)?;
    let key = cache_key(spec, &files, &system, &tool, &opts.python, memo)?;

    if !opts.no_cache {
        if let Some((entry, path)) = cache.lookup(&key) {
            let wheel = finish(spec, &system, &entry, path, true)?;
            output.status(
                "Fresh",
                format!("{} {} (cached)", wheel.name, wheel.version),
            );
            return Ok(wheel);
        }
    }

    output.status("Building", format!("{} ({})", spec.declared, system.name));
    let staging = cache.staging()?;
    let out_dir = staging.path().join("out");
    fs_err::create_dir_all(&out_dir)?;
    // A clean copy of exactly the hashed files: stale `build/` folders in the package cannot
    // leak into the wheel, and the package folder is not written to. Maturin builds in place
    // (cargo keeps its own target folder), as do packages whose version comes from git.
    let source_dir = if system.backend == Backend::Pep517 && !system.vcs_version {
        let copy = staging.path().join("src");
        copy_files(&spec.path, &files, &copy)?;
        copy
    } else {
        spec.path.clone()
    };
    let epoch = source_date_epoch(&spec.path);
    let cmd = tool
        .command(&opts.python, &source_dir, &out_dir)
        .env("SOURCE_DATE_EPOCH", epoch.to_string())
        .env("PYTHONDONTWRITEBYTECODE", "1")
        .env("PIP_DISABLE_PIP_VERSION_CHECK", "1");
    output.verbose("Running", cmd.display());
    cmd.output()
        .map_err(|e| build_error(spec, &opts.python, &tool, e))?;

    let built = single_wheel(&out_dir, &cmd)?;
    let file = built
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    let (sha256, size) = wheel_file::hash_file(&built)?;
    let entry = Entry {
        key,
        file,
        sha256,
        size,
        backend: system.name.clone(),
    };
    let path = cache.store(staging, &built, &entry)?;
    finish(spec, &system, &entry, path, false)
}

fn finish(
    spec: &PlannedWheel,
    system: &BuildSystem,
    entry: &Entry,
    path: PathBuf,
    cached: bool,
) -> Result<BuiltWheel> {
    let name = WheelName::parse(&entry.file).map_err(|why| {
        Error::failed(format!(
            "building `{}` gave a wheel with a bad name: {why}",
            spec.declared
        ))
    })?;
    Ok(BuiltWheel {
        package: spec.declared.clone(),
        name: name.name,
        version: name.version,
        file: entry.file.clone(),
        path,
        address: wheel_file::address(&entry.sha256).to_string(),
        sha256: entry.sha256.clone(),
        size: entry.size,
        cached,
        backend: system.backend,
        install: spec.install,
    })
}

/// The program that builds one backend's wheels.
enum Tool {
    /// `python -m build --wheel`.
    PyBuild,
    /// The `maturin` executable beside the interpreter or on PATH.
    Maturin(PathBuf),
    /// `python -m maturin` when no executable was found (fails with a clear message when the
    /// module is missing too).
    MaturinModule,
}

impl Tool {
    fn for_backend(backend: Backend, python: &Python) -> Tool {
        match backend {
            Backend::Pep517 => Tool::PyBuild,
            Backend::Maturin => match tools::beside_or_on_path(python, "maturin") {
                Some(exe) => Tool::Maturin(exe),
                None => Tool::MaturinModule,
            },
        }
    }

    fn fingerprint(&self) -> String {
        match self {
            Tool::PyBuild => "python -m build".into(),
            Tool::Maturin(exe) => tools::fingerprint(exe),
            Tool::MaturinModule => "python -m maturin".into(),
        }
    }

    fn module(&self) -> &'static str {
        match self {
            Tool::PyBuild => "build",
            Tool::Maturin(_) | Tool::MaturinModule => "maturin",
        }
    }

    fn command(&self, python: &Python, source: &Path, out: &Path) -> Cmd {
        // Panic locations embed source paths; naming the workspace `/build` instead of where
        // it was checked out keeps the library's bytes the same in every checkout. Passed as
        // rustc flags of the final crate only, so the user's RUSTFLAGS and cargo config stay
        // in force.
        let remap = format!(
            "--remap-path-prefix={}=/build",
            inputs::cargo_lock_dir(source).display()
        );
        let maturin_args = |cmd: Cmd| {
            cmd.args(["build", "--release", "--out"])
                .arg(out)
                .arg("--interpreter")
                .arg(&python.path)
                .arg("--")
                .arg(&remap)
                .dir(source)
        };
        match self {
            Tool::PyBuild => Cmd::new(&python.path)
                .args(["-m", "build", "--wheel", "--outdir"])
                .arg(out)
                .arg(source)
                .dir(source),
            Tool::Maturin(exe) => maturin_args(Cmd::new(exe)),
            Tool::MaturinModule => maturin_args(Cmd::new(&python.path).args(["-m", "maturin"])),
        }
    }
}

fn build_error(spec: &PlannedWheel, python: &Python, tool: &Tool, err: CmdError) -> Error {
    let module = tool.module();
    match err {
        CmdError::NotFound { program } => Error::usage(format!(
            "cannot build `{}`: `{program}` was not found",
            spec.declared
        ))
        .with_help(format!(
            "install it into the build interpreter: `{} -m pip install {module}`",
            python.path.display()
        )),
        CmdError::Failed { ref output, .. }
            if output.stderr.contains(&format!("No module named {module}"))
                || output.stderr.contains(&format!("No module named '{module}'")) =>
        {
            Error::usage(format!(
                "cannot build `{}`: the Python module `{module}` is not installed for `{}` (from {})",
                spec.declared,
                python.path.display(),
                python.source
            ))
            .with_help(format!(
                "install it: `{} -m pip install {module}`",
                python.path.display()
            ))
        }
        CmdError::Failed { ref output, .. } => {
            let combined = format!("{}{}", output.stdout, output.stderr);
            let shown = tail(&combined, FAILURE_TAIL)
                .lines()
                .map(|l| format!("  | {l}"))
                .collect::<Vec<_>>()
                .join("\n");
            Error::failed(format!(
                "building `{}` failed: {err}\n  last lines of its output:\n{shown}",
                spec.declared
            ))
            .with_help("run the command above in that folder to see the whole output")
        }
        CmdError::Spawn { .. } => {
            Error::failed(format!("cannot build `{}`: {err}", spec.declared))
        }
    }
}

/// Cargo writes Cargo.lock during the first build; make it before the cache key is computed,
/// or the first rebuild of an unchanged crate would miss the cache. Runs only while the lock
/// file is missing, so cache hits still start no process.
fn ensure_lockfile(spec: &PlannedWheel, output: &Output) -> Result<()> {
    let dir = inputs::cargo_lock_dir(&spec.path);
    if dir.join("Cargo.lock").is_file() {
        return Ok(());
    }
    let cmd = Cmd::new("cargo")
        .args(["generate-lockfile", "--manifest-path"])
        .arg(dir.join("Cargo.toml"))
        .dir(&dir);
    output.verbose("Running", cmd.display());
    cmd.output().map(drop).map_err(|e| match e {
        CmdError::NotFound { .. } => Error::usage(format!(
            "cannot build `{}`: cargo was not found",
            spec.declared
        ))
        .with_help("install Rust with rustup (https://rustup.rs), which provides cargo"),
        other => Error::failed(format!(
            "cannot build `{}`: {other}\n{}",
            spec.declared,
            match &other {
                CmdError::Failed { output, .. } => tail(&output.stderr, FAILURE_TAIL),
                _ => String::new(),
            }
        )),
    })
}

/// The one wheel a build wrote to `out`.
fn single_wheel(out: &Path, cmd: &Cmd) -> Result<PathBuf> {
    let mut wheels: Vec<PathBuf> = fs_err::read_dir(out)?
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.extension().is_some_and(|x| x == "whl"))
        .collect();
    match wheels.len() {
        1 => Ok(wheels.remove(0)),
        n => Err(Error::failed(format!(
            "`{}` succeeded but wrote {n} wheels to `{}`, expected exactly one",
            cmd.display(),
            out.display()
        ))),
    }
}

fn copy_files(from: &Path, files: &[PathBuf], to: &Path) -> Result<()> {
    for rel in files {
        let dest = to.join(rel);
        if let Some(parent) = dest.parent() {
            fs_err::create_dir_all(parent)?;
        }
        fs_err::copy(from.join(rel), &dest)?;
    }
    Ok(())
}

/// The time of the last commit that touched the package (so a commit elsewhere in the
/// repository does not change this wheel's bytes, and so not its content address), the
/// caller's own `SOURCE_DATE_EPOCH` when set, or 1980-01-01 outside git.
pub fn source_date_epoch(package: &Path) -> i64 {
    if let Some(value) = std::env::var("SOURCE_DATE_EPOCH")
        .ok()
        .and_then(|v| v.trim().parse().ok())
    {
        return value;
    }
    crate::git::last_change_time(package).unwrap_or(FALLBACK_EPOCH)
}
