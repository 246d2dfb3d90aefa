//! How an entry point is started, the same way on every target: its command rendered by the
//! MLproject rules, what the launcher (`templates/launcher.py`) does with it (a Python file or
//! module in the launcher's own process, anything else as a subprocess), and the launcher's
//! arguments.

use std::collections::BTreeMap;

use serde::Serialize;

use crate::manifest::EntryPoint;

/// What the launcher runs.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum Entry {
    /// `python FILE ARGS...`: `FILE` runs as `__main__` in the launcher's interpreter, so it
    /// shares the task's Spark session and `dbutils` (as MLflow's `run_databricks_spark_job`
    /// does).
    PythonFile { file: String, args: Vec<String> },
    /// `python -m MODULE ARGS...`, also in-process.
    PythonModule { module: String, args: Vec<String> },
    /// Anything else runs as a subprocess of a shell, with the same environment.
    Shell { command: String },
}

impl Entry {
    /// Whether the entry point runs in the launcher's own process.
    pub fn in_process(&self) -> bool {
        !matches!(self, Entry::Shell { .. })
    }

    /// The launcher's arguments that say what to run (after the run and tarball options).
    fn launcher_args(&self) -> Vec<String> {
        let (flag, what, args): (&str, &str, &[String]) = match self {
            Entry::PythonFile { file, args } => ("--python-file", file, args),
            Entry::PythonModule { module, args } => ("--python-module", module, args),
            Entry::Shell { command } => ("--shell", command, &[]),
        };
        let mut out = vec![flag.to_string(), what.to_string()];
        if !args.is_empty() {
            out.push("--".into());
            out.extend(args.iter().cloned());
        }
        out
    }
}

/// The entry point's command with `values` filled in by MLflow's rules
/// (`EntryPoint.compute_command` in `mlflow/projects/_project_spec.py`): `{name}` becomes the
/// shell-quoted value, `{{` and `}}` are literal braces, and parameters the command does not
/// name are appended as `--name value`.
pub fn render_command(entry: &EntryPoint, values: &BTreeMap<String, String>) -> String {
    let quote = |v: &str| crate::support::process::shell_quote(v);
    let mut out = String::new();
    let mut used = std::collections::BTreeSet::new();
    let mut rest = entry.command.as_str();
    while let Some(i) = rest.find(['{', '}']) {
        out.push_str(&rest[..i]);
        let tail = &rest[i..];
        if tail.starts_with("{{") || tail.starts_with("}}") {
            out.push_str(&tail[..1]);
            rest = &tail[2..];
            continue;
        }
        if let Some(end) = tail.strip_prefix('{').and_then(|t| t.find('}')) {
            let name = &tail[1..1 + end];
            if let Some(value) = values.get(name) {
                out.push_str(&quote(value));
                used.insert(name);
                rest = &tail[end + 2..];
                continue;
            }
        }
        out.push_str(&tail[..1]);
        rest = &tail[1..];
    }
    out.push_str(rest);
    for (name, value) in values {
        if !used.contains(name.as_str()) && !entry.parameters.contains_key(name) {
            out.push_str(&format!(" --{} {}", quote(name), quote(value)));
        }
    }
    out
}

/// Characters a shell gives meaning to when they are not quoted: a command holding one of
/// them needs a shell.
const SHELL_SYNTAX: &[char] = &[
    ';', '&', '|', '<', '>', '$', '`', '(', ')', '*', '?', '[', '~', '#', '\n', '!',
];

/// Whether `command` uses shell syntax (pipes, redirection, variables, globs, `&&`...) outside
/// quotes.
fn needs_shell(command: &str) -> bool {
    let mut quote: Option<char> = None;
    let mut chars = command.chars();
    while let Some(c) = chars.next() {
        match (quote, c) {
            (None, '\\') => {
                chars.next();
            }
            (None, '\'' | '"') => quote = Some(c),
            (None, c) if SHELL_SYNTAX.contains(&c) => return true,
            (Some('"'), '$' | '`') => return true,
            (Some('"'), '\\') => {
                chars.next();
            }
            (Some(q), c) if c == q => quote = None,
            _ => {}
        }
    }
    false
}

/// Whether `program` is a Python interpreter by name (`python`, `python3`, `python3.11`).
fn is_python(program: &str) -> bool {
    program
        .strip_prefix("python")
        .is_some_and(|v| v.chars().all(|c| c.is_ascii_digit() || c == '.'))
}

/// How the launcher runs a rendered command: in-process for `python FILE.py ...` and
/// `python -m MODULE ...`, through a shell for anything else.
pub fn classify(command: &str) -> Entry {
    let shell = || Entry::Shell {
        command: command.to_string(),
    };
    if needs_shell(command) {
        return shell();
    }
    let Some(argv) = shlex::split(command) else {
        return shell();
    };
    match argv.as_slice() {
        [python, file, args @ ..] if is_python(python) && file.ends_with(".py") => {
            Entry::PythonFile {
                file: file.clone(),
                args: args.to_vec(),
            }
        }
        [python, m, module, args @ ..] if is_python(python) && m == "-m" => Entry::PythonModule {
            module: module.clone(),
            args: args.to_vec(),
        },
        _ => shell(),
    }
}

/// Which MLflow run the launcher logs into.
#[derive(Clone, Debug)]
pub enum RunRef {
    /// Created beforehand (on Databricks, through the REST API).
    Existing {
        run_id: String,
        experiment_id: String,
    },
    /// Created by the launcher before the entry point starts, in the same process, so MLflow
    /// is imported once (the local target): the experiment's name, the run's name, its tags
    /// and parameters.
    New(NewRun),
}

/// A run for the launcher to create (see [`RunRef::New`]).
#[derive(Clone, Debug, Serialize)]
pub struct NewRun {
    pub experiment: String,
    /// Where a new experiment keeps its artifacts (the local store's folder); `None` lets
    /// the tracking server choose.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub artifact_location: Option<String>,
    pub run_name: String,
    pub tags: BTreeMap<String, String>,
    pub params: BTreeMap<String, String>,
    /// Tags the experiment gets when it is made, or lacks (whose it is, for `gc`).
    #[serde(skip_serializing_if = "BTreeMap::is_empty")]
    pub experiment_tags: BTreeMap<String, String>,
}

/// Everything the launcher is told.
#[derive(Clone, Debug)]
pub struct Launch {
    /// The project tarball (`dbfs:/`, `/Volumes/...` or a local path).
    pub tarball: String,
    pub run: RunRef,
    /// Set as `MLFLOW_TRACKING_URI` for the entry point (`databricks` in a job).
    pub tracking_uri: Option<String>,
    /// Where the launcher writes the run's outcome as JSON (the local target reads it back).
    pub result_file: Option<String>,
    /// Where the launcher streams the entry point's output in numbered chunks (`{run_id}`
    /// stands for the MLflow run's id; see [`crate::run::live_log`]).
    pub log_dir: Option<String>,
    pub entry: Entry,
}

impl Launch {
    /// The launcher's command-line arguments.
    pub fn args(&self) -> Vec<String> {
        let mut out = vec!["--tarball".to_string(), self.tarball.clone()];
        match &self.run {
            RunRef::Existing {
                run_id,
                experiment_id,
            } => {
                out.extend(["--run-id".into(), run_id.clone()]);
                out.extend(["--experiment-id".into(), experiment_id.clone()]);
            }
            RunRef::New(new) => {
                out.extend([
                    "--new-run".into(),
                    serde_json::to_string(new).expect("plain data serializes"),
                ]);
            }
        }
        if let Some(uri) = &self.tracking_uri {
            out.extend(["--tracking-uri".into(), uri.clone()]);
        }
        if let Some(file) = &self.result_file {
            out.extend(["--result-file".into(), file.clone()]);
        }
        if let Some(dir) = &self.log_dir {
            out.extend(["--log-dir".into(), dir.clone()]);
        }
        out.extend(self.entry.launcher_args());
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::manifest::{ParamType, Parameter};

    fn entry(command: &str, params: &[&str]) -> EntryPoint {
        EntryPoint {
            command: command.into(),
            parameters: params
                .iter()
                .map(|p| {
                    (
                        p.to_string(),
                        Parameter {
                            ty: ParamType::String,
                            default: None,
                        },
                    )
                })
                .collect(),
        }
    }

    fn values(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
        pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    }

    #[test]
    fn commands_are_rendered_as_mlflow_renders_them() {
        let e = entry(
            "python train.py --alpha {alpha} --name {name}",
            &["alpha", "name"],
        );
        let cmd = render_command(&e, &values(&[("alpha", "0.5"), ("name", "it's a b")]));
        assert_eq!(cmd, r"python train.py --alpha 0.5 --name 'it'\''s a b'");
        // Literal braces, and a value with braces is not read as a placeholder.
        let e = entry("python t.py '{{\"a\": 1}}' {x}", &["x"]);
        assert_eq!(
            render_command(&e, &values(&[("x", "{y}")])),
            r#"python t.py '{"a": 1}' '{y}'"#
        );
    }

    #[test]
    fn python_files_and_modules_run_in_process_and_the_rest_in_a_shell() {
        assert_eq!(
            classify(r"python train.py --name 'a b' --x 1"),
            Entry::PythonFile {
                file: "train.py".into(),
                args: vec!["--name".into(), "a b".into(), "--x".into(), "1".into()],
            }
        );
        assert_eq!(
            classify("python3.11 -m pkg.train --epochs 3"),
            Entry::PythonModule {
                module: "pkg.train".into(),
                args: vec!["--epochs".into(), "3".into()],
            }
        );
        for shell in [
            "bash run.sh",
            "python train.py && python eval.py",
            "python train.py > out.log",
            "python train.py --dir $HOME",
            "FOO=1 python train.py",
            "python train.py \"$X\"",
            "python -c 'print(1)'",
            "python data/*.py",
        ] {
            assert!(!classify(shell).in_process(), "{shell}");
        }
        // Shell syntax inside single quotes is just text.
        assert!(classify("python train.py --q 'a && b; $c'").in_process());
    }

    #[test]
    fn launcher_arguments() {
        let launch = Launch {
            tarball: "dbfs:/a/p.tar.gz".into(),
            run: RunRef::Existing {
                run_id: "r1".into(),
                experiment_id: "7".into(),
            },
            tracking_uri: Some("databricks".into()),
            result_file: None,
            log_dir: Some("dbfs:/a/main/runs/r1/logs".into()),
            entry: classify("python train.py --x 1"),
        };
        assert_eq!(
            launch.args(),
            [
                "--tarball",
                "dbfs:/a/p.tar.gz",
                "--run-id",
                "r1",
                "--experiment-id",
                "7",
                "--tracking-uri",
                "databricks",
                "--log-dir",
                "dbfs:/a/main/runs/r1/logs",
                "--python-file",
                "train.py",
                "--",
                "--x",
                "1"
            ]
        );
    }
}
