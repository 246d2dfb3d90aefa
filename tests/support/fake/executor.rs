//! Runs a submitted `spark_python_task` for real, as a Databricks driver would: the task's
//! libraries (or its serverless environment's wheel dependencies) are installed from what the
//! workspace stores, DBFS and volume paths in the parameters are mounted (copied) under a
//! folder of the run, and the task's `python_file` is executed with `exec()` in a fresh
//! `__main__` namespace, with `DATABRICKS_HOST`/`DATABRICKS_TOKEN` pointing back at the fake,
//! so `MLFLOW_TRACKING_URI=databricks` logs into the fake's MLflow. A path the workspace does
//! not hold fails the run as the service fails a library install or a missing file.

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
}

/// One executed task.
pub struct Execution {
    child: Mutex<Option<Child>>,
    exit: Mutex<Option<Option<i32>>>,
    log: Arc<Mutex<String>>,
    _dir: tempfile::TempDir,
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
        let mounted: Vec<String> = parameters
            .iter()
            .map(|p| mount(dir.path(), p, read))
            .collect();
        let mut child = Command::new(&executor.python)
            .args(["-c", EXEC_SHIM])
            .arg(&task)
            .args(&mounted)
            .current_dir(dir.path())
            .env("PYTHONPATH", &site)
            .env("PYTHONUNBUFFERED", "1")
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
        Ok(Execution {
            child: Mutex::new(Some(child)),
            exit: Mutex::new(None),
            log,
            _dir: dir,
        })
    }

    /// `None` while it runs; then its exit code (`None` when killed by a signal).
    pub fn poll(&self) -> Option<Option<i32>> {
        let mut exit = self.exit.lock().unwrap();
        if exit.is_none() {
            let mut child = self.child.lock().unwrap();
            if let Some(c) = child.as_mut() {
                if let Ok(Some(status)) = c.try_wait() {
                    *exit = Some(status.code());
                    *child = None;
                }
            }
        }
        *exit
    }

    /// Ends the task and everything it started.
    pub fn kill(&self) {
        if let Some(c) = self.child.lock().unwrap().as_mut() {
            let _ = Command::new("kill")
                .args(["-KILL", &format!("-{}", c.id())])
                .status();
            let _ = c.kill();
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

/// A parameter naming a stored file becomes the path of a local copy, as the platform's
/// `/dbfs` and `/Volumes` mounts make it readable.
fn mount(root: &Path, param: &str, read: &dyn Fn(&str) -> Option<Vec<u8>>) -> String {
    let rel = if let Some(rest) = param.strip_prefix("dbfs:/") {
        format!("dbfs/{}", rest.trim_start_matches('/'))
    } else if let Some(rest) = param.strip_prefix("/Volumes/") {
        format!("Volumes/{rest}")
    } else {
        return param.to_string();
    };
    match read(param) {
        Some(bytes) => {
            let local = root.join("mnt").join(rel);
            fs_err::create_dir_all(local.parent().unwrap()).unwrap();
            fs_err::write(&local, bytes).unwrap();
            local.to_string_lossy().into_owned()
        }
        None => param.to_string(),
    }
}
