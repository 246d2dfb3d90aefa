//! Runs a submitted `spark_python_task` for real, as a Databricks driver would: the task's
//! libraries (or its serverless environment's wheel dependencies) are installed from what the
//! workspace stores, DBFS and volume paths in the parameters are mounted under a folder of the
//! run, and the task's `python_file` is executed with `exec()` in a fresh `__main__`
//! namespace, with `DATABRICKS_HOST`/`DATABRICKS_TOKEN` pointing back at the fake, so
//! `MLFLOW_TRACKING_URI=databricks` logs into the fake's MLflow. A path the workspace does
//! not hold fails the run as the service fails a library install or a missing file.
//!
//! The mount stands for the cluster's `/dbfs` and `/Volumes` FUSE mounts: stored files are
//! copied in, and files the task writes there are written through to the workspace's store
//! (every 100 ms, and once more when the task ends, before its run is seen to end), as the
//! mounts upload a file when it is closed.

use std::io::{BufRead, BufReader};
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};

/// How executed runs are started: the interpreter that stands for the cluster's Python, and
/// where the fake is reached.
#[derive(Clone, Debug)]
pub struct Executor {
    pub python: PathBuf,
    pub base_url: String,
    pub token: String,
    /// Where files written through the mount go: the workspace's store.
    pub sink: Sink,
}

/// Stores a file written through the mount at its store path (`dbfs:/...`, `/Volumes/...`);
/// false when the store refuses it.
#[derive(Clone)]
pub struct Sink(pub Arc<StoreFile>);

/// The store's write: path and bytes in, whether it took them out.
pub type StoreFile = dyn Fn(&str, Vec<u8>) -> bool + Send + Sync;

impl std::fmt::Debug for Sink {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Sink")
    }
}

/// Files of the mount as last seen: their length and modification time.
type Seen = std::collections::HashMap<PathBuf, (u64, std::time::SystemTime)>;

/// One executed task.
pub struct Execution {
    child: Arc<Mutex<Option<Child>>>,
    /// In the task's environment, and so in everything it starts (see `marks`).
    mark: String,
    exit: Arc<Mutex<Option<Option<i32>>>>,
    log: Arc<Mutex<String>>,
    _dir: Arc<tempfile::TempDir>,
}

impl std::fmt::Debug for Execution {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Execution").finish_non_exhaustive()
    }
}

/// Runs a Python file with `exec()` in a fresh `__main__`, as a notebook-less driver does:
/// `__file__` is not defined for it.
const EXEC_SHIM: &str = "import sys\np = sys.argv[1]\nsys.argv = sys.argv[1:]\nsrc = open(p).read()\nexec(compile(src, p, 'exec'), {'__name__': '__main__'})\n";

impl Execution {
    /// Starts the task. `read` gives a stored file's bytes by any path form the platform
    /// takes (`dbfs:/`, `/dbfs/`, `/Volumes/`, workspace paths); `wheels` are the library paths
    /// to install. An error is the reason the run fails before it starts.
    pub fn start(
        executor: &Executor,
        python_file: &str,
        parameters: &[String],
        wheels: &[String],
        read: &dyn Fn(&str) -> Option<Vec<u8>>,
        refuse_writes: bool,
    ) -> Result<Execution, String> {
        let dir = tempfile::Builder::new()
            .prefix("fake-run-")
            .tempdir()
            .map_err(|e| e.to_string())?;
        let site = dir.path().join("site");
        fs_err::create_dir_all(&site).map_err(|e| e.to_string())?;
        for wheel in wheels {
            let bytes = read(wheel).ok_or_else(|| {
                format!("Library installation failed for library due to user error for whl: \"{wheel}\". Error message: file not found")
            })?;
            let name = wheel.rsplit('/').next().unwrap_or("x.whl");
            let local = dir.path().join(name);
            fs_err::write(&local, bytes).map_err(|e| e.to_string())?;
            let out = Command::new(&executor.python)
                .args(["-m", "zipfile", "-e"])
                .arg(&local)
                .arg(&site)
                .output()
                .map_err(|e| e.to_string())?;
            if !out.status.success() {
                return Err(format!(
                    "Library installation failed for {wheel}: {}",
                    String::from_utf8_lossy(&out.stderr)
                ));
            }
        }
        let file = read(python_file)
            .ok_or_else(|| format!("File {python_file} does not exist or is not accessible."))?;
        let task = dir.path().join("task.py");
        fs_err::write(&task, file).map_err(|e| e.to_string())?;
        let mut seen = Seen::new();
        let mounted: Vec<String> = parameters
            .iter()
            .map(|p| mount(dir.path(), p, read, refuse_writes, &mut seen))
            .collect();
        let mark = super::marks::new_mark();
        let mut child = Command::new(&executor.python)
            .args(["-c", EXEC_SHIM])
            .arg(&task)
            .args(&mounted)
            .current_dir(dir.path())
            .env("PYTHONPATH", &site)
            .env("PYTHONUNBUFFERED", "1")
            .env(super::marks::VARIABLE, &mark)
            .env("HOME", dir.path())
            .env("DATABRICKS_HOST", &executor.base_url)
            .env("DATABRICKS_TOKEN", &executor.token)
            .env("DATABRICKS_AUTH_TYPE", "pat")
            .env_remove("MLFLOW_TRACKING_URI")
            .env_remove("MLFLOW_RUN_ID")
            .env_remove("MLFLOW_EXPERIMENT_ID")
            .env_remove("VIRTUAL_ENV")
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .process_group(0)
            .spawn()
            .map_err(|e| e.to_string())?;
        let log = Arc::new(Mutex::new(String::new()));
        for stream in [
            Box::new(child.stdout.take().unwrap()) as Box<dyn std::io::Read + Send>,
            Box::new(child.stderr.take().unwrap()),
        ] {
            let log = log.clone();
            std::thread::spawn(move || {
                for line in BufReader::new(stream).lines().map_while(|l| l.ok()) {
                    let mut log = log.lock().unwrap();
                    log.push_str(&line);
                    log.push('\n');
                }
            });
        }
        let execution = Execution {
            child: Arc::new(Mutex::new(Some(child))),
            mark,
            exit: Arc::new(Mutex::new(None)),
            log,
            _dir: Arc::new(dir),
        };
        execution.watch(executor.sink.clone(), seen);
        Ok(execution)
    }

    /// Writes what the task writes into the mount through to the store, and notes the
    /// task's exit only after the last of it is written.
    fn watch(&self, sink: Sink, mut seen: Seen) {
        let (child, exit, dir) = (self.child.clone(), self.exit.clone(), self._dir.clone());
        std::thread::spawn(move || {
            let mnt = dir.path().join("mnt");
            loop {
                write_through(&mnt, &sink, &mut seen);
                let ended = child
                    .lock()
                    .unwrap()
                    .as_mut()
                    .map(|c| c.try_wait().ok().flatten().map(|s| s.code()))
                    .unwrap_or(Some(None));
                if let Some(code) = ended {
                    write_through(&mnt, &sink, &mut seen);
                    *exit.lock().unwrap() = Some(code);
                    return;
                }
                std::thread::sleep(std::time::Duration::from_millis(100));
            }
        });
    }

    /// `None` while it runs; then its exit code (`None` when killed by a signal).
    pub fn poll(&self) -> Option<Option<i32>> {
        *self.exit.lock().unwrap()
    }

    /// Ends the task and everything it started (found by its mark: its pid may name another
    /// process by now).
    pub fn kill(&self) {
        if let Some(c) = self.child.lock().unwrap().as_mut() {
            if c.try_wait().ok().flatten().is_none() {
                let _ = c.kill();
            }
            super::marks::signal("-KILL", &super::marks::marked(&self.mark));
            let _ = c.wait();
        }
    }

    pub fn log(&self) -> String {
        self.log.lock().unwrap().clone()
    }

    /// The task's error and trace, as `runs/get-output` reports a Python failure: the last
    /// line of the traceback, and the traceback.
    pub fn error(&self) -> (String, String) {
        let log = self.log();
        let trace = log
            .rfind("Traceback (most recent call last):")
            .map(|i| log[i..].trim_end().to_string())
            .unwrap_or_default();
        let last = log
            .lines()
            .rev()
            .find(|l| !l.trim().is_empty())
            .unwrap_or("the task failed")
            .to_string();
        (last, trace)
    }
}

impl Drop for Execution {
    fn drop(&mut self) {
        self.kill();
    }
}

/// A parameter naming a DBFS or volume path becomes its path in the mount, as the
/// platform's `/dbfs` and `/Volumes` mounts make it readable (a stored file is copied in) and
/// writable. With `refuse_writes`, a path the store does not hold is under a file, so that
/// writing there fails as a mount the store refuses fails (an `OSError`).
fn mount(
    root: &Path,
    param: &str,
    read: &dyn Fn(&str) -> Option<Vec<u8>>,
    refuse_writes: bool,
    seen: &mut Seen,
) -> String {
    let rel = if let Some(rest) = param.strip_prefix("dbfs:/") {
        format!("dbfs/{}", rest.trim_start_matches('/'))
    } else if let Some(rest) = param.strip_prefix("/Volumes/") {
        format!("Volumes/{rest}")
    } else {
        return param.to_string();
    };
    let mnt = root.join("mnt");
    match read(param) {
        Some(bytes) => {
            let local = mnt.join(rel);
            fs_err::create_dir_all(local.parent().unwrap()).unwrap();
            fs_err::write(&local, bytes).unwrap();
            let meta = fs_err::metadata(&local).unwrap();
            seen.insert(local.clone(), (meta.len(), meta.modified().unwrap()));
            local.to_string_lossy().into_owned()
        }
        None if refuse_writes => {
            fs_err::create_dir_all(&mnt).unwrap();
            fs_err::write(root.join("refused"), b"").unwrap();
            root.join("refused")
                .join(rel)
                .to_string_lossy()
                .into_owned()
        }
        None => mnt.join(rel).to_string_lossy().into_owned(),
    }
}

/// Stores the files of the mount that are new or changed since `seen` (not the temporary
/// names a writer renames into place).
fn write_through(mnt: &Path, sink: &Sink, seen: &mut Seen) {
    let mut stack = vec![mnt.to_path_buf()];
    while let Some(dir) = stack.pop() {
        let Ok(entries) = std::fs::read_dir(&dir) else {
            continue;
        };
        for entry in entries.flatten() {
            let path = entry.path();
            let Ok(meta) = entry.metadata() else { continue };
            if meta.is_dir() {
                stack.push(path);
                continue;
            }
            let name = entry.file_name().to_string_lossy().into_owned();
            let stamp = (meta.len(), meta.modified().unwrap());
            if name.starts_with(".tmp-") || seen.get(&path) == Some(&stamp) {
                continue;
            }
            let rel = path
                .strip_prefix(mnt)
                .unwrap()
                .to_string_lossy()
                .into_owned();
            let store_path = match rel.strip_prefix("dbfs/") {
                Some(rest) => format!("dbfs:/{rest}"),
                None => format!("/{rel}"),
            };
            if let Ok(bytes) = fs_err::read(&path) {
                (sink.0)(&store_path, bytes);
                seen.insert(path, stamp);
            }
        }
    }
}
