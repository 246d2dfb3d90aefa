//! Shared helpers for the integration tests: throwaway git projects, running the binary with a
//! clean environment, and snapshot filters that hide temp paths and commit ids.
#![allow(dead_code)]

pub mod fake;
pub use fake::mlflow_server;

use std::path::{Path, PathBuf};
use std::process::Command;

/// The binary under test.
pub fn bin() -> PathBuf {
    PathBuf::from(env!("CARGO_BIN_EXE_cargo-mlops"))
}

/// A temporary project folder, a git repository on branch `main` unless made otherwise.
pub struct Project {
    dir: tempfile::TempDir,
}

impl Project {
    /// An empty folder (not a git repository).
    pub fn bare() -> Self {
        Project {
            dir: tempfile::Builder::new()
                .prefix("mlops-test-")
                .tempdir()
                .expect("temp dir"),
        }
    }

    /// A git repository on `main` with one commit.
    pub fn git() -> Self {
        let p = Self::bare();
        p.git_cmd(&["init", "-q", "-b", "main"]);
        p.git_cmd(&["commit", "-q", "--allow-empty", "-m", "start"]);
        p
    }

    pub fn path(&self) -> &Path {
        self.dir.path()
    }

    pub fn file(&self, rel: &str, contents: &str) -> &Self {
        let path = self.path().join(rel);
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        std::fs::write(path, contents).unwrap();
        self
    }

    pub fn dir(&self, rel: &str) -> &Self {
        std::fs::create_dir_all(self.path().join(rel)).unwrap();
        self
    }

    pub fn read(&self, rel: &str) -> String {
        std::fs::read_to_string(self.path().join(rel)).unwrap()
    }

    /// Runs git in the project with a clean environment; returns what it did (for pushes
    /// whose hooks may refuse).
    pub fn git_run(&self, args: &[&str]) -> Run {
        let mut cmd = clean_command(Path::new("git"));
        cmd.args(args)
            .current_dir(self.path())
            .env("GIT_AUTHOR_NAME", "Test")
            .env("GIT_AUTHOR_EMAIL", "test@example.com")
            .env("GIT_COMMITTER_NAME", "Test")
            .env("GIT_COMMITTER_EMAIL", "test@example.com")
            .env("GIT_CONFIG_NOSYSTEM", "1");
        Run::from(cmd.output().expect("git runs"), self.path())
    }

    /// Runs git in the project and returns its stdout.
    pub fn git_cmd(&self, args: &[&str]) -> String {
        let out = Command::new("git")
            .args(args)
            .current_dir(self.path())
            .env("GIT_AUTHOR_NAME", "Test")
            .env("GIT_AUTHOR_EMAIL", "test@example.com")
            .env("GIT_COMMITTER_NAME", "Test")
            .env("GIT_COMMITTER_EMAIL", "test@example.com")
            // Fixed commit times: two copies of a fixture are the same commit, as two
            // checkouts would be.
            .env("GIT_AUTHOR_DATE", "2024-05-01T12:00:00Z")
            .env("GIT_COMMITTER_DATE", "2024-05-01T12:00:00Z")
            .env("GIT_CONFIG_NOSYSTEM", "1")
            .output()
            .expect("git runs");
        assert!(
            out.status.success(),
            "git {args:?} failed: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8_lossy(&out.stdout).trim().to_string()
    }

    /// `cargo-mlops ARGS` in the project folder.
    pub fn mlops(&self, args: &[&str]) -> Run {
        self.mlops_in(".", args, &[])
    }

    /// `cargo-mlops ARGS` with maturin builds going to the shared cargo target folder (one at a
    /// time), plus extra environment variables.
    pub fn mlops_shared_target(&self, args: &[&str], env: &[(&str, &str)]) -> Run {
        let _lock = maturin_lock();
        let target = shared_cargo_target();
        let mut all = vec![("CARGO_TARGET_DIR", target.to_str().unwrap())];
        all.extend_from_slice(env);
        self.mlops_in(".", args, &all)
    }

    /// `cmd` (cargo-mlops, or a shell that execs it) set up to run in this project against
    /// `ws` in the background, as `Group::spawn` takes it: the workspace's credentials, the
    /// project as home, the shared build folder, quick first polls, piped output.
    pub fn against<'c>(&self, ws: &fake::FakeWorkspace, cmd: &'c mut Command) -> &'c mut Command {
        cmd.current_dir(self.path())
            .env("DATABRICKS_HOST", ws.url())
            .env("DATABRICKS_TOKEN", ws.token())
            .env("HOME", self.path())
            .env("CARGO_TARGET_DIR", shared_cargo_target())
            .env("MLOPS_POLL_FIRST_MS", "100")
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::piped())
    }

    /// `cargo-mlops ARGS` against the fake workspace `ws`: its host and token, a HOME with no
    /// `~/.databrickscfg`, the shared cargo target, fast retries and polls; `env` adds to or
    /// overrides that.
    pub fn mlops_ws(&self, ws: &fake::FakeWorkspace, args: &[&str], env: &[(&str, &str)]) -> Run {
        let url = ws.url();
        let target = shared_cargo_target();
        let home = self.path().to_string_lossy().into_owned();
        let mut all = vec![
            ("DATABRICKS_HOST", url.as_str()),
            ("DATABRICKS_TOKEN", ws.token()),
            ("HOME", home.as_str()),
            ("CARGO_TARGET_DIR", target.to_str().unwrap()),
            ("MLOPS_RETRY_FIRST_MS", "20"),
            ("MLOPS_POLL_FIRST_MS", "100"),
        ];
        all.extend_from_slice(env);
        self.mlops_in(".", args, &all)
    }

    /// `cargo-mlops ARGS` with credentials for a Databricks workspace that is never reached
    /// (commands that resolve credentials without using the network: `check`, dry runs).
    pub fn mlops_offline_creds(&self, args: &[&str]) -> Run {
        let home = self.path().to_string_lossy().into_owned();
        self.mlops_in(
            ".",
            args,
            &[
                (
                    "DATABRICKS_HOST",
                    "https://adb-1234567890123456.7.azuredatabricks.net",
                ),
                ("DATABRICKS_TOKEN", "dapi-offline-test-token"),
                ("HOME", home.as_str()),
            ],
        )
    }

    /// `cargo-mlops ARGS` in a sub-folder, with extra environment variables.
    pub fn mlops_in(&self, sub: &str, args: &[&str], env: &[(&str, &str)]) -> Run {
        let mut cmd = clean_command(&bin());
        cmd.args(args).current_dir(self.path().join(sub));
        for (k, v) in env {
            cmd.env(k, v);
        }
        Run::from(cmd.output().expect("binary runs"), self.path())
    }
}

/// A command with no CI, branch, target or colour variables from the outer environment.
pub fn clean_command(program: &Path) -> Command {
    let mut cmd = Command::new(program);
    for var in cargo_mlops::support::naming::variables() {
        cmd.env_remove(var);
    }
    for var in [
        "MLOPS_TARGET",
        "CLICOLOR_FORCE",
        "CARGO_TERM_COLOR",
        "CI",
        "RUST_BACKTRACE",
        "GITHUB_ACTIONS",
        "GITHUB_OUTPUT",
        "GITHUB_STEP_SUMMARY",
        "TF_BUILD",
        "AGENT_TEMPDIRECTORY",
        "MLOPS_PROGRESS_INTERVAL",
        // Credentials, and the CI systems' OIDC token sources.
        "DATABRICKS_HOST",
        "DATABRICKS_TOKEN",
        "DATABRICKS_CLIENT_ID",
        "DATABRICKS_CLIENT_SECRET",
        "DATABRICKS_AUTH_TYPE",
        "DATABRICKS_CONFIG_PROFILE",
        "DATABRICKS_TOKEN_AUDIENCE",
        "DATABRICKS_OIDC_TOKEN",
        "DATABRICKS_OIDC_TOKEN_ENV",
        "ACTIONS_ID_TOKEN_REQUEST_URL",
        "ACTIONS_ID_TOKEN_REQUEST_TOKEN",
        "SYSTEM_ACCESSTOKEN",
        "SYSTEM_OIDCREQUESTURI",
    ] {
        cmd.env_remove(var);
    }
    cmd.env("NO_COLOR", "1");
    // The user name is read as Python's getpass does: LOGNAME first.
    for var in ["LOGNAME", "LNAME", "USERNAME"] {
        cmd.env_remove(var);
    }
    cmd.env("USER", "tester");
    cmd
}

/// What one run of the binary did.
#[derive(Debug)]
pub struct Run {
    pub code: i32,
    pub stdout: String,
    pub stderr: String,
    root: PathBuf,
}

impl Run {
    pub fn from(out: std::process::Output, root: &Path) -> Self {
        Run {
            code: out.status.code().unwrap_or(-1),
            stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
            stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
            root: root.to_path_buf(),
        }
    }

    /// Exit code, stdout and stderr in one text, with the project path shown as `[ROOT]`.
    pub fn snapshot(&self) -> String {
        let root = self.root.to_string_lossy();
        let canonical = self
            .root
            .canonicalize()
            .map(|p| p.to_string_lossy().into_owned())
            .unwrap_or_default();
        let clean = |s: &str| {
            let s = s.replace(&*root, "[ROOT]");
            if canonical.is_empty() {
                s
            } else {
                s.replace(&canonical, "[ROOT]")
            }
        };
        format!(
            "exit: {}\n----- stdout -----\n{}----- stderr -----\n{}",
            self.code,
            clean(&self.stdout),
            clean(&self.stderr)
        )
    }

    #[track_caller]
    pub fn success(&self) -> &Self {
        assert_eq!(self.code, 0, "expected success:\n{}", self.snapshot());
        self
    }

    #[track_caller]
    pub fn code(&self, code: i32) -> &Self {
        assert_eq!(
            self.code,
            code,
            "unexpected exit code:\n{}",
            self.snapshot()
        );
        self
    }

    pub fn json(&self) -> serde_json::Value {
        serde_json::from_str(&self.stdout)
            .unwrap_or_else(|e| panic!("stdout is not JSON ({e}):\n{}", self.stdout))
    }
}

/// Snapshot settings shared by every CLI snapshot: commit ids and versions are filtered.
pub fn snapshot_settings() -> insta::Settings {
    let mut settings = insta::Settings::clone_current();
    settings.add_filter(r"\b[0-9a-f]{40}\b", "[COMMIT]");
    settings.add_filter(&regex_escape(env!("CARGO_PKG_VERSION")), "[VERSION]");
    settings.set_prepend_module_to_snapshot(false);
    settings.set_snapshot_path(Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/snapshots"));
    settings
}

fn regex_escape(s: &str) -> String {
    s.chars()
        .flat_map(|c| {
            if c.is_ascii_alphanumeric() {
                vec![c]
            } else {
                vec!['\\', c]
            }
        })
        .collect()
}

/// The demo fixture's folder.
pub fn demo_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("fixtures/demo")
}

/// Copies a fixture into a fresh git project (so tests never write into the repository).
pub fn project_from_fixture(name: &str) -> Project {
    let p = Project::git();
    copy_dir(
        &Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("fixtures")
            .join(name),
        p.path(),
    );
    p.git_cmd(&["add", "-A"]);
    p.git_cmd(&["commit", "-q", "-m", "fixture"]);
    p
}

pub fn copy_dir(from: &Path, to: &Path) {
    for entry in std::fs::read_dir(from).unwrap() {
        let entry = entry.unwrap();
        let name = entry.file_name();
        if matches!(
            name.to_str(),
            Some("target" | ".mlops" | "dist" | "__pycache__")
        ) {
            continue;
        }
        let dest = to.join(&name);
        if entry.file_type().unwrap().is_dir() {
            std::fs::create_dir_all(&dest).unwrap();
            copy_dir(&entry.path(), &dest);
        } else {
            std::fs::copy(entry.path(), dest).unwrap();
        }
    }
}

/// The Python interpreter with `build` and `maturin` that scripts/test sets up.
pub fn test_python() -> PathBuf {
    mlflow_server::python()
}

/// Environment variables under which no Python but the test interpreter is found (PATH has
/// only its folder and the system's, pyenv's root and uv's are an empty folder, uv downloads
/// nothing): a project asking for another Python is told it is not installed, whatever this
/// machine has. The folder lives as long as the returned guard.
pub fn no_other_pythons() -> (tempfile::TempDir, Vec<(&'static str, String)>) {
    let empty = tempfile::tempdir().unwrap();
    let python = test_python();
    let bin = python.parent().unwrap().to_string_lossy().into_owned();
    let vars = vec![
        ("PATH", format!("{bin}:/usr/bin:/bin")),
        ("PYENV_ROOT", empty.path().to_string_lossy().into_owned()),
        ("UV_PYTHON_DOWNLOADS", "never".to_string()),
        (
            "UV_PYTHON_INSTALL_DIR",
            empty.path().to_string_lossy().into_owned(),
        ),
        ("MLOPS_PYTHON", python.to_string_lossy().into_owned()),
    ];
    (empty, vars)
}

/// Borrowed pairs of [`no_other_pythons`]' variables, as the `mlops_*` helpers take them.
pub fn env_pairs<'a>(vars: &'a [(&'static str, String)]) -> Vec<(&'static str, &'a str)> {
    vars.iter().map(|(k, v)| (*k, v.as_str())).collect()
}

/// The interpreter with the latest MLflow 2.x that scripts/test sets up beside the main one
/// (`MLOPS_PYTHON_MLFLOW2`), for what must work under both majors users run.
pub fn mlflow2_python() -> PathBuf {
    let python = std::env::var_os("MLOPS_PYTHON_MLFLOW2").map(PathBuf::from).expect(
        "MLOPS_PYTHON_MLFLOW2 is not set: run the tests with scripts/test, which installs MLflow 2.x into target/test-venv-mlflow2",
    );
    assert!(python.exists(), "{} does not exist", python.display());
    python
}

/// Held while a test runs maturin in the shared cargo target folder: maturin stages the built
/// library under a fixed name there, so two builds of the demo crate at once collide.
/// Runs a Python snippet with the test interpreter (which has MLflow) and reads the JSON it
/// prints: how the tests ask MLflow's own client what a store holds.
pub fn python_json(script: &str, args: &[&str]) -> serde_json::Value {
    json_of(Command::new(test_python()).arg("-c").arg(script).args(args))
}

/// Runs `cmd`, which must succeed (else its stderr is the failure), and reads the JSON it
/// prints.
pub fn json_of(cmd: &mut Command) -> serde_json::Value {
    let out = cmd.output().unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_slice(&out.stdout).unwrap()
}

/// The local MLflow store of a project (`.mlops/mlflow.db`).
pub fn local_store(p: &Project) -> String {
    format!("sqlite:///{}", p.path().join(".mlops/mlflow.db").display())
}

pub fn maturin_lock() -> std::sync::MutexGuard<'static, ()> {
    static LOCK: std::sync::Mutex<()> = std::sync::Mutex::new(());
    LOCK.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
}

/// A cargo target folder shared by the tests' maturin builds, so PyO3 compiles once.
pub fn shared_cargo_target() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("target/test-cargo-target")
}

/// SHA-256 of a file, for checking what the tool reports.
pub fn sha256_file(path: &Path) -> String {
    use sha2::Digest;
    let bytes = std::fs::read(path).unwrap();
    sha2::Sha256::digest(&bytes)
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

/// Asserts that `text` contains every one of `parts`, showing the whole text when not.
#[track_caller]
pub fn assert_has(text: &str, parts: &[&str]) {
    for part in parts {
        assert!(text.contains(part), "missing {part:?} in:\n{text}");
    }
}

/// A process a test started, in a process group of its own, so that ending it ends everything
/// it started too (`mlflow server` starts uvicorn and huey workers that would otherwise
/// outlive the suite, listening on a port; its job runner even puts the huey consumers in
/// sessions of their own, so descendants are ended as well as the group). Dropping it ends
/// them all, also when the test panics.
pub struct Group {
    /// The leader, until it is waited for: then its pid may be another process's.
    child: Option<std::process::Child>,
    pgid: u32,
    /// In the environment of everything the group starts (`fake::marks`).
    mark: String,
}

/// `(pid, parent pid, process group)` of every process, from `/proc`.
fn processes() -> Vec<(u32, u32, u32)> {
    let mut out = Vec::new();
    for entry in std::fs::read_dir("/proc").into_iter().flatten().flatten() {
        let Ok(pid) = entry.file_name().to_string_lossy().parse::<u32>() else {
            continue;
        };
        let Ok(stat) = std::fs::read_to_string(entry.path().join("stat")) else {
            continue;
        };
        // `pid (comm) state ppid pgrp ...`; the name may hold spaces and parentheses.
        let Some((_, rest)) = stat.rsplit_once(')') else {
            continue;
        };
        let fields: Vec<&str> = rest.split_whitespace().collect();
        if fields.first() == Some(&"Z") {
            continue;
        }
        if let (Some(ppid), Some(pgrp)) = (
            fields.get(1).and_then(|f| f.parse().ok()),
            fields.get(2).and_then(|f| f.parse().ok()),
        ) {
            out.push((pid, ppid, pgrp));
        }
    }
    out
}

impl Group {
    pub fn spawn(cmd: &mut Command) -> Group {
        use std::os::unix::process::CommandExt;
        let mark = fake::marks::new_mark();
        let child = cmd
            .env(fake::marks::VARIABLE, &mark)
            .process_group(0)
            .spawn()
            .expect("the process starts");
        let pgid = child.id();
        Group {
            child: Some(child),
            pgid,
            mark,
        }
    }

    pub fn id(&self) -> u32 {
        self.pgid
    }

    /// The process's stderr, line by line as it comes, each line with when it arrived (read
    /// by a thread of its own; the output `wait_output` returns then has no stderr).
    pub fn stderr_lines(&mut self) -> std::sync::mpsc::Receiver<(std::time::Instant, String)> {
        use std::io::BufRead;
        let stderr = self
            .child
            .as_mut()
            .and_then(|c| c.stderr.take())
            .expect("stderr piped and not taken yet");
        let (send, receive) = std::sync::mpsc::channel();
        std::thread::spawn(move || {
            for line in std::io::BufReader::new(stderr)
                .lines()
                .map_while(Result::ok)
            {
                if send.send((std::time::Instant::now(), line)).is_err() {
                    break;
                }
            }
        });
        receive
    }

    /// Sends `signal` (`INT`, `TERM`, `KILL`) to the process itself.
    pub fn signal(&self, signal: &str) {
        let status = Command::new("kill")
            .args([&format!("-{signal}"), &self.pgid.to_string()])
            .status()
            .unwrap();
        assert!(status.success());
    }

    /// The live processes that carry the group's mark; while the leader has not been waited
    /// for (its pid and group id still ours), also the group and every descendant of the
    /// leader (a process that cleared its environment has no mark).
    pub fn members(&self) -> Vec<u32> {
        let mut found = fake::marks::marked(&self.mark);
        if self.child.is_none() {
            return found;
        }
        let all = processes();
        for (pid, _, pgrp) in &all {
            if (*pgrp == self.pgid || *pid == self.pgid) && !found.contains(pid) {
                found.push(*pid);
            }
        }
        let mut i = 0;
        while i < found.len() {
            let parent = found[i];
            for (pid, ppid, _) in &all {
                if *ppid == parent && !found.contains(pid) {
                    found.push(*pid);
                }
            }
            i += 1;
        }
        found
    }

    /// Whether any process of the group (or a descendant) is still there.
    pub fn any_alive(&self) -> bool {
        !self.members().is_empty()
    }

    /// The process's stdout, to read as it comes.
    pub fn take_stdout(&mut self) -> std::process::ChildStdout {
        self.child
            .as_mut()
            .and_then(|c| c.stdout.take())
            .expect("stdout piped and not taken yet")
    }

    /// Waits for the process (not its group) and returns what it printed.
    pub fn wait_output(&mut self) -> std::process::Output {
        self.child
            .take()
            .expect("not waited for yet")
            .wait_with_output()
            .unwrap()
    }

    /// Ends the whole group and every descendant: TERM, then KILL after five seconds.
    pub fn end(&mut self) {
        fake::marks::signal("-TERM", &self.members());
        let started = std::time::Instant::now();
        // Found afresh each time, never remembered by pid: a pid that ended may be reused.
        // The leader is not reaped until the end: as a zombie its pid stays ours.
        let mut members = self.members();
        while !members.is_empty() && started.elapsed() < std::time::Duration::from_secs(5) {
            std::thread::sleep(std::time::Duration::from_millis(50));
            members = self.members();
        }
        fake::marks::signal("-KILL", &members);
        if let Some(mut c) = self.child.take() {
            let _ = c.wait();
        }
    }
}

impl Drop for Group {
    fn drop(&mut self) {
        self.end();
    }
}

/// The `spark_python_task` parameters of a submitted task.
pub fn task_params(task: &serde_json::Value) -> Vec<&str> {
    task["spark_python_task"]["parameters"]
        .as_array()
        .expect("a spark_python_task with parameters")
        .iter()
        .map(|v| v.as_str().expect("parameters are strings"))
        .collect()
}
