//! `cargo mlops build`: real builds with `python -m build` and maturin, reproducible, cached,
//! content-addressed.

use std::path::{Path, PathBuf};

use serde_json::Value;

use crate::support::{Project, Run, assert_has, project_from_fixture, sha256_file, test_python};

fn python_arg() -> String {
    test_python().to_string_lossy().into_owned()
}

/// `cargo mlops build --json` with the test interpreter and the shared cargo target folder.
fn build(p: &Project, extra: &[&str]) -> Run {
    let python = python_arg();
    let mut args = vec!["build", "--json", "--python", python.as_str()];
    args.extend_from_slice(extra);
    p.mlops_shared_target(&args, &[])
}

fn wheels(run: &Run) -> Vec<Value> {
    run.json()["wheels"]
        .as_array()
        .expect("a JSON list")
        .clone()
}

fn by_name<'a>(wheels: &'a [Value], name: &str) -> &'a Value {
    wheels
        .iter()
        .find(|w| w["name"] == name)
        .unwrap_or_else(|| panic!("no wheel {name} in {wheels:#?}"))
}

#[test]
fn demo_builds_with_both_backends_into_one_folder() {
    let p = project_from_fixture("demo");
    let run = build(&p, &[]);
    run.success();
    let wheels = wheels(&run);
    assert_eq!(wheels.len(), 2, "{wheels:#?}");
    let features = by_name(&wheels, "demo_features");
    let fast = by_name(&wheels, "demo_fast");
    assert_eq!(features["backend"], "pep517");
    assert_eq!(fast["backend"], "maturin");
    for w in [features, fast] {
        for key in [
            "name", "version", "file", "sha256", "size", "cached", "address", "path",
        ] {
            assert!(w.get(key).is_some(), "missing {key} in {w:#}");
        }
        assert_eq!(w["version"], "0.1.0");
        assert_eq!(w["cached"], false);
        let path = PathBuf::from(w["path"].as_str().unwrap());
        // Every wheel lands in the project's one output folder.
        assert!(path.starts_with(p.path().join(".mlops/wheels")), "{path:?}");
        assert_eq!(path.file_name().unwrap().to_str().unwrap(), w["file"]);
        // The reported hash and size are the file's.
        let sha = sha256_file(&path);
        assert_eq!(w["sha256"], sha.as_str());
        assert_eq!(w["address"], &sha[..16]);
        assert_eq!(w["size"], std::fs::metadata(&path).unwrap().len());
    }
    assert!(fast["file"].as_str().unwrap().contains("abi3"));
    // Nothing is written into the packages' own folders.
    let pkg = p.path().join("python/demo_features");
    for leftover in ["dist", "build", "src/demo_features.egg-info"] {
        assert!(
            !pkg.join(leftover).exists(),
            "{leftover} was written into the package"
        );
    }
    assert!(!p.path().join("rust/demo_fast/dist").exists());
    // The summary shows name, version, size, address and cache state.
    let text = p.mlops_shared_target(&["build", "--python", &python_arg()], &[]);
    text.success();
    let address = features["address"].as_str().unwrap();
    let line = text
        .stdout
        .lines()
        .find(|l| l.starts_with("demo_features"))
        .unwrap();
    for part in [
        "0.1.0",
        "KiB",
        address,
        "cached",
        "demo_features-0.1.0-py3-none-any.whl",
    ] {
        assert!(line.contains(part), "{part} missing in {line:?}");
    }
}

/// Wrapper scripts that log every call of python, maturin, git and cargo, then run the real one.
struct Spy {
    dir: tempfile::TempDir,
}

impl Spy {
    fn new() -> Spy {
        let dir = tempfile::tempdir().unwrap();
        let python = which(&test_python());
        let maturin = which(&test_python().with_file_name("maturin"));
        for (name, real) in [
            ("python", python),
            ("maturin", maturin),
            ("git", which(Path::new("git"))),
            ("cargo", which(Path::new("cargo"))),
        ] {
            let script = dir.path().join(name);
            let log = dir.path().join("calls.log");
            std::fs::write(
                &script,
                format!(
                    "#!/bin/sh\necho \"{name} $*\" >> '{}'\nexec '{}' \"$@\"\n",
                    log.display(),
                    real.display()
                ),
            )
            .unwrap();
            use std::os::unix::fs::PermissionsExt;
            std::fs::set_permissions(&script, std::fs::Permissions::from_mode(0o755)).unwrap();
        }
        Spy { dir }
    }

    fn python(&self) -> String {
        self.dir
            .path()
            .join("python")
            .to_string_lossy()
            .into_owned()
    }

    fn path_var(&self) -> String {
        format!(
            "{}:{}",
            self.dir.path().display(),
            std::env::var("PATH").unwrap()
        )
    }

    /// The calls logged since the last `take`.
    fn take(&self) -> Vec<String> {
        let log = self.dir.path().join("calls.log");
        let text = std::fs::read_to_string(&log).unwrap_or_default();
        let _ = std::fs::remove_file(&log);
        text.lines().map(str::to_string).collect()
    }

    fn build(&self, p: &Project, extra: &[&str]) -> Run {
        let python = self.python();
        let path = self.path_var();
        let mut args = vec!["build", "--json", "--python", python.as_str()];
        args.extend_from_slice(extra);
        p.mlops_shared_target(&args, &[("PATH", path.as_str())])
    }
}

fn which(program: &Path) -> PathBuf {
    if program.is_absolute() {
        return program.to_path_buf();
    }
    cargo_mlops::support::tools::resolve(program, std::env::var_os("PATH").as_deref())
        .unwrap_or_else(|| panic!("{} not on PATH", program.display()))
}

#[test]
fn cache_hits_run_no_process_and_any_change_misses() {
    let p = project_from_fixture("demo");
    let spy = Spy::new();
    let first = spy.build(&p, &[]);
    first.success();
    let calls = spy.take();
    assert!(
        calls.iter().any(|c| c.contains("-m build --wheel")),
        "{calls:#?}"
    );
    assert!(
        calls
            .iter()
            .any(|c| c.starts_with("maturin build --release")),
        "{calls:#?}"
    );

    let second = spy.build(&p, &[]);
    second.success();
    assert_eq!(
        spy.take(),
        Vec::<String>::new(),
        "a cache hit must start no process"
    );
    let (a, b) = (wheels(&first), wheels(&second));
    for name in ["demo_features", "demo_fast"] {
        assert_eq!(by_name(&b, name)["cached"], true);
        assert_eq!(by_name(&b, name)["sha256"], by_name(&a, name)["sha256"]);
    }

    // A change to one source file rebuilds that package only.
    let init = p
        .path()
        .join("python/demo_features/src/demo_features/__init__.py");
    let text = std::fs::read_to_string(&init).unwrap();
    std::fs::write(&init, format!("{text}\nVERSION_NOTE = 'changed'\n")).unwrap();
    let third = spy.build(&p, &[]);
    third.success();
    let c = wheels(&third);
    assert_eq!(by_name(&c, "demo_features")["cached"], false);
    assert_ne!(
        by_name(&c, "demo_features")["sha256"],
        by_name(&a, "demo_features")["sha256"]
    );
    assert_eq!(by_name(&c, "demo_fast")["cached"], true);
    let calls = spy.take();
    assert!(
        !calls.iter().any(|c| c.starts_with("maturin")),
        "{calls:#?}"
    );

    // A change to the Rust crate rebuilds it.
    let lib = p.path().join("rust/demo_fast/src/lib.rs");
    let text = std::fs::read_to_string(&lib).unwrap();
    std::fs::write(&lib, format!("{text}\n// touched\n")).unwrap();
    let fourth = spy.build(&p, &[]);
    assert_eq!(by_name(&wheels(&fourth), "demo_fast")["cached"], false);
    spy.take();

    // A file .gitignore excludes does not matter.
    p.file("python/demo_features/.gitignore", "*.tmp\n");
    spy.build(&p, &[]).success();
    spy.take();
    p.file("python/demo_features/scratch.tmp", "junk");
    let ignored = spy.build(&p, &[]);
    assert_eq!(by_name(&wheels(&ignored), "demo_features")["cached"], true);
    assert!(spy.take().is_empty());

    // --no-cache builds even when nothing changed.
    let forced = spy.build(&p, &["--no-cache"]);
    for w in wheels(&forced) {
        assert_eq!(w["cached"], false, "{w:#}");
    }
    assert!(!spy.take().is_empty());
}

/// Builds `p` twice from nothing (no cache, fresh cargo target folders) and returns the two
/// JSON reports.
fn two_clean_builds(p: &Project) -> (Vec<Value>, Vec<Value>) {
    let python = python_arg();
    let mut out = Vec::new();
    for _ in 0..2 {
        let target = tempfile::tempdir().unwrap();
        let _ = std::fs::remove_dir_all(p.path().join(".mlops"));
        let run = p.mlops_in(
            ".",
            &["build", "--json", "--no-cache", "--python", &python],
            &[("CARGO_TARGET_DIR", target.path().to_str().unwrap())],
        );
        run.success();
        out.push(wheels(&run));
    }
    (out.remove(0), out.remove(0))
}

#[test]
fn clean_builds_are_byte_identical() {
    let p = project_from_fixture("demo");
    let (a, b) = two_clean_builds(&p);
    for name in ["demo_features", "demo_fast"] {
        assert_eq!(
            by_name(&a, name)["sha256"],
            by_name(&b, name)["sha256"],
            "{name} differs"
        );
    }
    // The zip entries carry the time of the last commit that touched the package.
    let commit_time: i64 = p
        .git_cmd(&["log", "-1", "--format=%ct", "--", "python/demo_features"])
        .parse()
        .unwrap();
    let wheel = by_name(&a, "demo_features")["path"]
        .as_str()
        .unwrap()
        .to_string();
    let stamp = std::process::Command::new(test_python())
        .args([
            "-c",
            "import sys, zipfile, calendar; print(calendar.timegm(zipfile.ZipFile(sys.argv[1]).infolist()[0].date_time + (0, 0, 0)))",
            &wheel,
        ])
        .output()
        .unwrap();
    let stamp: i64 = String::from_utf8_lossy(&stamp.stdout)
        .trim()
        .parse()
        .unwrap();
    // Zip times have a two-second resolution.
    assert!(
        (stamp - commit_time).abs() <= 2,
        "zip time {stamp} vs commit {commit_time}"
    );
}

#[test]
fn hatchling_packages_build_reproducibly_too() {
    let p = Project::git();
    p.file("mlops.toml", "[project]\nname = \"h\"\n[[wheel]]\npath = \"pkg\"\n")
        .dir("mlproject")
        .file(
            "pkg/pyproject.toml",
            "[build-system]\nrequires = [\"hatchling\"]\nbuild-backend = \"hatchling.build\"\n[project]\nname = \"hpkg\"\nversion = \"2.1.0\"\n",
        )
        .file("pkg/src/hpkg/__init__.py", "VALUE = 1\n");
    p.git_cmd(&["add", "-A"]);
    p.git_cmd(&["commit", "-q", "-m", "hatch"]);
    let (a, b) = two_clean_builds(&p);
    assert_eq!(a[0]["name"], "hpkg");
    assert_eq!(a[0]["version"], "2.1.0");
    assert_eq!(a[0]["sha256"], b[0]["sha256"]);
}

#[test]
fn pyo3_crates_are_found_through_cargo_metadata() {
    let p = Project::git();
    let demo = crate::support::demo_dir().join("rust/demo_fast");
    std::fs::create_dir_all(p.path().join("crates/fast")).unwrap();
    crate::support::copy_dir(&demo, &p.path().join("crates/fast"));
    // As a member of the project's workspace, not a workspace of its own.
    let cargo_toml = p
        .read("crates/fast/Cargo.toml")
        .replace("[workspace]\n", "");
    p.file("crates/fast/Cargo.toml", &cargo_toml);
    let _ = std::fs::remove_file(p.path().join("crates/fast/Cargo.lock"));
    p.file(
        "Cargo.toml",
        "[workspace]\nmembers = [\"crates/*\"]\nresolver = \"2\"\n",
    )
    .file(
        "crates/plain/Cargo.toml",
        "[package]\nname = \"plain\"\nversion = \"0.1.0\"\nedition = \"2021\"\n",
    )
    .file("crates/plain/src/lib.rs", "")
    .file("mlops.toml", "[project]\nname = \"ws\"\n")
    .dir("mlproject");
    let plan = p.mlops(&["check", "--json"]).success().json();
    let found = plan["wheels"].as_array().unwrap();
    assert_eq!(found.len(), 1, "{found:#?}");
    assert_eq!(found[0]["declared"], "crates/fast");
    let run = build(&p, &[]);
    run.success();
    let built = wheels(&run);
    assert_eq!(built.len(), 1);
    assert_eq!(built[0]["name"], "demo_fast");
    assert_eq!(built[0]["backend"], "maturin");
}

#[test]
fn a_failing_build_shows_command_folder_and_output_and_the_rest_still_build() {
    let p = Project::git();
    p.file(
        "mlops.toml",
        "[project]\nname = \"x\"\n[[wheel]]\npath = \"good\"\n[[wheel]]\npath = \"bad\"\n",
    )
    .dir("mlproject")
    .file(
        "good/pyproject.toml",
        "[build-system]\nrequires = [\"setuptools\"]\nbuild-backend = \"setuptools.build_meta\"\n[project]\nname = \"good\"\nversion = \"1.0\"\n",
    )
    .file("good/good.py", "")
    .file(
        "bad/pyproject.toml",
        "[build-system]\nrequires = [\"setuptools\"]\nbuild-backend = \"setuptools.build_meta\"\n[project]\nname = \"bad\"\nversion = \"1.0\"\n",
    )
    .file("bad/setup.py", "raise SystemExit('the bad package cannot be built: DELIBERATE')\n");
    let run = build(&p, &[]);
    run.code(1);
    assert_has(
        &run.stderr,
        &[
            "building `bad` failed",
            "-m build --wheel --outdir",
            "(in ",
            "exited with status",
            "DELIBERATE",
            "1 of 2 wheels failed to build",
        ],
    );
    let built = wheels(&run);
    assert_eq!(built.len(), 1);
    assert_eq!(built[0]["name"], "good");
    let failures = run.json()["failures"].clone();
    assert_eq!(failures.as_array().unwrap().len(), 1, "{failures:#}");
    assert_eq!(failures[0]["package"], "bad");
}

#[test]
fn build_json_reports_the_failures_when_every_build_failed() {
    let p = Project::git();
    p.file(
        "mlops.toml",
        "[project]\nname = \"x\"\n[[wheel]]\npath = \"bad\"\n[[wheel]]\npath = \"worse\"\n",
    )
    .dir("mlproject");
    for name in ["bad", "worse"] {
        p.file(
            &format!("{name}/pyproject.toml"),
            &format!("[build-system]\nrequires = [\"setuptools\"]\nbuild-backend = \"setuptools.build_meta\"\n[project]\nname = \"{name}\"\nversion = \"1.0\"\n"),
        )
        .file(&format!("{name}/setup.py"), "raise SystemExit('DELIBERATE')\n");
    }
    let run = build(&p, &[]);
    run.code(1);
    let report = run.json();
    assert_eq!(report["wheels"], serde_json::json!([]));
    let failures = report["failures"].as_array().unwrap();
    let packages: Vec<&str> = failures
        .iter()
        .map(|f| f["package"].as_str().unwrap())
        .collect();
    assert_eq!(packages, ["bad", "worse"]);
    for f in failures {
        assert!(f["error"].as_str().unwrap().contains("failed"), "{f:#}");
    }
}

#[test]
fn missing_tools_say_how_to_install_them() {
    let p = project_from_fixture("demo");
    // A bare virtualenv: neither `build` nor `maturin`.
    let venv = tempfile::tempdir().unwrap();
    let made = std::process::Command::new(test_python())
        .args(["-m", "venv", "--without-pip"])
        .arg(venv.path())
        .status()
        .unwrap();
    assert!(made.success());
    let bare = venv.path().join("bin/python");
    let run = p.mlops_in(
        ".",
        &["build", "--python", bare.to_str().unwrap()],
        // No maturin on PATH either.
        &[("PATH", "/usr/bin:/bin")],
    );
    run.code(1);
    let install_build = format!("{} -m pip install build", bare.display());
    assert_has(
        &run.stderr,
        &[
            "the Python module `build` is not installed",
            &install_build,
            "the Python module `maturin` is not installed",
            "-m pip install maturin",
        ],
    );

    let run = p.mlops(&["build", "--python", "/nonexistent/python3.99"]);
    run.code(2);
    assert_has(
        &run.stderr,
        &[
            "`/nonexistent/python3.99` (from --python) was not found",
            "install Python 3",
        ],
    );
}

#[test]
fn a_setup_py_only_package_builds_reproducibly_and_is_cached() {
    let p = Project::git();
    p.file(
        "mlops.toml",
        "[project]\nname = \"x\"\n[[wheel]]\npath = \"legacy\"\n",
    )
    .dir("mlproject")
    .file(
        "legacy/setup.py",
        "from setuptools import setup\nsetup(name='legacy_pkg', version='2.0', py_modules=['legacy_pkg'])\n",
    )
    .file("legacy/legacy_pkg.py", "X = 1\n");
    p.git_cmd(&["add", "-A"]);
    p.git_cmd(&["commit", "-qm", "legacy"]);
    p.mlops(&["check"]).success();
    let first = build(&p, &[]);
    first.success();
    let built = wheels(&first);
    assert_eq!(built.len(), 1, "{built:#?}");
    assert_eq!(built[0]["file"], "legacy_pkg-2.0-py3-none-any.whl");
    assert_eq!(built[0]["cached"], false);
    let again = wheels(build(&p, &[]).success());
    assert_eq!(again[0]["cached"], true);
    assert_eq!(again[0]["sha256"], built[0]["sha256"]);
    let rebuilt = wheels(build(&p, &["--no-cache"]).success());
    assert_eq!(rebuilt[0]["cached"], false);
    assert_eq!(rebuilt[0]["sha256"], built[0]["sha256"], "not reproducible");
}

/// A cargo workspace with two PyO3 crates, `crates/a` and `crates/b`, and a manifest.
fn two_pyo3_crates(manifest: &str) -> Project {
    let p = Project::git();
    p.file(
        "Cargo.toml",
        "[workspace]\nmembers = [\"crates/a\", \"crates/b\"]\nresolver = \"2\"\n",
    )
    .file("mlops.toml", manifest)
    .dir("mlproject");
    for name in ["a", "b"] {
        p.file(
            &format!("crates/{name}/Cargo.toml"),
            &format!("[package]\nname = \"{name}\"\nversion = \"0.1.0\"\nedition = \"2021\"\n\n[lib]\ncrate-type = [\"cdylib\"]\n"),
        )
        .file(&format!("crates/{name}/src/lib.rs"), "")
        .file(
            &format!("crates/{name}/pyproject.toml"),
            &format!("[build-system]\nrequires = [\"maturin>=1.5,<2\"]\nbuild-backend = \"maturin\"\n\n[project]\nname = \"{name}\"\nversion = \"0.1.0\"\n"),
        );
    }
    p
}

fn planned_wheels(run: &Run) -> Vec<String> {
    run.json()["wheels"]
        .as_array()
        .unwrap()
        .iter()
        .map(|w| w["declared"].as_str().unwrap().to_string())
        .collect()
}

#[test]
fn pyo3_crates_left_out_of_the_wheel_list_are_named_with_the_line_to_add() {
    let list = "[project]\nname = \"x\"\n\n[[wheel]]\npath = \"crates/a\"\n";
    let p = two_pyo3_crates(list);
    let out = p.mlops(&["check", "--json"]);
    out.success();
    assert_eq!(planned_wheels(&out), ["crates/a"]);
    assert_has(
        &out.stderr,
        &[
            "warning: the cargo workspace's PyO3 crate `crates/b` is not in mlops.toml's [[wheel]] list",
            "path = \"crates/b\"",
            "`discover = true` under [project]",
        ],
    );
    assert!(!out.stderr.contains("`crates/a`"), "{}", out.stderr);
    // deploy and build say so too.
    let out = p.mlops(&["deploy", "--dry-run"]);
    assert_has(&out.stderr, &["PyO3 crate `crates/b` is not in"]);
    let out = p.mlops(&["build", "--json", "--python", "/no/such/python"]);
    assert_has(&out.stderr, &["PyO3 crate `crates/b` is not in"]);

    // `discover = true` beside the list ships both; `discover = false` keeps the list, quietly.
    let p = two_pyo3_crates(&list.replace("name = \"x\"\n", "name = \"x\"\ndiscover = true\n"));
    let out = p.mlops(&["check", "--json"]);
    out.success();
    assert_eq!(planned_wheels(&out), ["crates/a", "crates/b"]);
    assert!(!out.stderr.contains("warning"), "{}", out.stderr);
    let p = two_pyo3_crates(&list.replace("name = \"x\"\n", "name = \"x\"\ndiscover = false\n"));
    let out = p.mlops(&["check", "--json"]);
    assert_eq!(planned_wheels(&out), ["crates/a"]);
    assert!(!out.stderr.contains("warning"), "{}", out.stderr);
    // Without a list, every PyO3 crate is a wheel, as before.
    let p = two_pyo3_crates("[project]\nname = \"x\"\n");
    assert_eq!(
        planned_wheels(p.mlops(&["check", "--json"]).success()),
        ["crates/a", "crates/b"]
    );
}
