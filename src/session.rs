//! One invocation of the tool: the global flags, the output channel and where it started; and
//! what every command needs before it acts (the manifest, the project, the branch, the plan,
//! credentials, the store), resolved and validated with no side effects.

use std::path::PathBuf;

use crate::cli::GlobalArgs;
use crate::error::{Error, Result};
use crate::git;
use crate::manifest::project::MlflowProject;
use crate::manifest::{self, Manifest};
use crate::output::Output;
use crate::plan::{Inputs, Plan, PlannedWheel};
use crate::support::naming::{self, Branch};
use crate::support::tools::{self, Python};

/// What every command shares: the global flags, the output channel and where we started.
pub struct Session {
    pub global: GlobalArgs,
    pub output: Output,
    pub cwd: PathBuf,
}

impl Session {
    /// Where the manifest is: `--manifest-path`, else the nearest `mlops.toml` upward.
    pub fn manifest_path(&self) -> Result<PathBuf> {
        Ok(match &self.global.manifest_path {
            Some(path) => {
                let path = self.cwd.join(path);
                if path.is_dir() {
                    path.join(manifest::MANIFEST_FILE)
                } else {
                    path
                }
            }
            None => manifest::find(&self.cwd)?,
        })
    }

    /// A command of this tool to suggest, as it runs when pasted into the same shell: `args`
    /// with the target, and the manifest path when one was given, added.
    pub fn suggest(&self, plan: &Plan, args: &str) -> String {
        self.suggest_for(&plan.target, args)
    }

    /// [`Session::suggest`] for a command on `target`.
    pub fn suggest_for(&self, target: &str, args: &str) -> String {
        let mut text = format!("cargo mlops {args}");
        if target != crate::manifest::defaults::TARGET {
            text.push_str(" --target ");
            text.push_str(&crate::support::process::shell_quote(target));
        }
        if let Some(path) = &self.global.manifest_path {
            text.push_str(" --manifest-path ");
            text.push_str(&crate::support::process::shell_quote(
                &path.to_string_lossy(),
            ));
        }
        text
    }

    /// The manifest named by `--manifest-path`, else the nearest `mlops.toml` upward.
    pub fn manifest(&self) -> Result<Manifest> {
        let path = self.manifest_path()?;
        self.output.verbose("Reading", path.display());
        manifest::load(&path)
    }

    /// The branch from the flag, the environment, the CI, or git (asked in the project root).
    pub fn branch(&self, manifest: &Manifest) -> Result<Branch> {
        naming::detect(
            self.global.branch.as_deref(),
            &|k| std::env::var(k).ok(),
            || git::head(&manifest.root),
        )
    }

    /// The wheels to build: mlops.toml's `[[wheel]]` list, and the cargo workspace's PyO3
    /// crates when it lists none (or with `discover = true`). A PyO3 crate the list leaves out
    /// is named in a warning, with the lines that add it: it would silently not ship.
    pub fn wheels(&self, manifest: &Manifest) -> Result<Vec<PlannedWheel>> {
        let mut wheels: Vec<PlannedWheel> = manifest
            .wheels
            .iter()
            .map(|w| PlannedWheel {
                path: w.path.clone(),
                declared: w.declared.clone(),
                install: w.install,
            })
            .collect();
        if manifest.project.discover == Some(false) {
            return Ok(wheels);
        }
        let found = crate::build::discover::maturin_members(&manifest.root)?;
        let include = manifest.project.discover == Some(true) || wheels.is_empty();
        for dir in found {
            if wheels.iter().any(|w| w.path == dir) {
                continue;
            }
            let declared = relative_to(&dir, &manifest.root);
            if include {
                self.output
                    .verbose("Found", format!("PyO3 crate {}", dir.display()));
                wheels.push(PlannedWheel {
                    declared,
                    path: dir,
                    install: Default::default(),
                });
            } else {
                self.output.warn(format!(
                    "the cargo workspace's PyO3 crate `{declared}` is not in {}'s [[wheel]] list, so it is not built or shipped; add\n\n    [[wheel]]\n    path = \"{declared}\"\n\n  or `discover = true` under [project] to ship every PyO3 crate (`discover = false` keeps only the list, quietly)",
                    manifest.display_path.display()
                ));
            }
        }
        Ok(wheels)
    }

    /// The build interpreter: `--python`, `MLOPS_PYTHON`, the active virtualenv, `python3`.
    pub fn python(&self) -> Result<Python> {
        let python = tools::find_python(self.global.python.as_deref(), &|k| std::env::var_os(k))?;
        self.output.verbose(
            "Python",
            format!("{} (from {})", python.path.display(), python.source),
        );
        Ok(python)
    }

    /// Everything a command needs before it acts: the manifest, the project folder, and the
    /// plan for the chosen target, branch and (optionally) entry point with its `-P` values,
    /// all validated. Nothing is built, written or sent.
    pub fn prepare(&self, entry: Option<&str>, params: &[String]) -> Result<Prepared> {
        let manifest = self.manifest()?;
        // Resolve the target first: a wrong `--target` is the likelier mistake, and its
        // message should not be hidden behind a branch problem.
        manifest.target(self.global.target.as_deref())?;
        let project = MlflowProject::load(&manifest)?;
        let pairs = crate::params::parse_pairs(params)?;
        let entry_point = entry.map(|name| project.entry_point(name)).transpose()?;
        let parameters = match (entry, &entry_point) {
            (Some(name), Some(point)) => crate::params::resolve(name, point, &pairs)?,
            _ if !pairs.is_empty() => {
                return Err(Error::usage("`-P` values need an entry point")
                    .with_help("name it with `--entry NAME`"));
            }
            _ => Default::default(),
        };
        let branch = self.branch(&manifest)?;
        let plan = Plan::new(
            &manifest,
            Inputs {
                target: self.global.target.as_deref(),
                branch,
                commit: git::commit(&manifest.root),
                dirty: git::changed_files(&manifest.root),
                local_user: crate::plan::local_user(),
                entry,
                entry_point,
                wheels: self.wheels(&manifest)?,
                entry_points: project.entry_points.clone(),
                parameters,
            },
        )?;
        for warning in crate::render::validate(&plan, &manifest, &project)? {
            self.output.warn(warning);
        }
        Ok(Prepared {
            manifest,
            project,
            plan,
        })
    }
}

impl Session {
    /// `prepared` for another branch of the same target (its experiment and artifact folder),
    /// from what is resolved already: the manifest, project and wheels are not read again.
    pub fn for_branch(&self, prepared: &Prepared, branch: &str) -> Result<Prepared> {
        self.replan(prepared, &prepared.plan.target, branch)
    }

    /// `prepared` for another target of the same branch (its host, store and compute).
    pub fn for_target(&self, prepared: &Prepared, target: &str) -> Result<Prepared> {
        self.replan(prepared, target, &prepared.plan.branch)
    }

    fn replan(&self, prepared: &Prepared, target: &str, branch: &str) -> Result<Prepared> {
        let branch = naming::detect(Some(branch), &|_| None, || naming::GitHead::Detached)?;
        let p = &prepared.plan;
        let plan = Plan::new(
            &prepared.manifest,
            Inputs {
                target: Some(target),
                branch,
                commit: p.commit.clone(),
                dirty: Vec::new(),
                local_user: crate::plan::local_user(),
                entry: None,
                entry_point: None,
                wheels: p.wheels.clone(),
                entry_points: p.entry_points.clone(),
                parameters: Default::default(),
            },
        )?;
        Ok(Prepared {
            manifest: prepared.manifest.clone(),
            project: prepared.project.clone(),
            plan,
        })
    }

    /// The workspace client of a Databricks target (credentials resolved, nothing sent yet).
    pub fn client(&self, plan: &Plan) -> Result<std::sync::Arc<crate::databricks::Client>> {
        let config = crate::databricks::auth::resolve(&crate::databricks::auth::Settings {
            target: &plan.target,
            host: plan.host.as_deref(),
            profile: plan.profile.as_deref(),
            env: &|k| std::env::var(k).ok(),
        })?;
        self.output.verbose(
            "Workspace",
            format!(
                "{} ({}, from {})",
                config.host,
                config.method.name(),
                config.source
            ),
        );
        let client = crate::databricks::Client::new(config)?;
        client.trace_to(&self.output);
        Ok(std::sync::Arc::new(client))
    }

    /// The artifact store of the plan's target, and its client when it is remote.
    pub fn store(&self, plan: &Plan) -> Result<OpenStore> {
        let client = match plan.target_kind {
            crate::manifest::TargetKind::Local => None,
            crate::manifest::TargetKind::Databricks => Some(self.client(plan)?),
        };
        Ok(OpenStore {
            store: crate::store::open(plan.store_kind, &plan.artifacts, client.clone()),
            client,
        })
    }
}

/// An artifact store, and the workspace client behind it when it is remote.
pub struct OpenStore {
    pub store: Box<dyn crate::store::Store>,
    pub client: Option<std::sync::Arc<crate::databricks::Client>>,
}

/// The validated inputs of a command (see [`Session::prepare`]).
pub struct Prepared {
    pub manifest: Manifest,
    pub project: MlflowProject,
    pub plan: Plan,
}

/// `path` relative to `base` when below it, for messages and manifests.
fn relative_to(path: &std::path::Path, base: &std::path::Path) -> String {
    path.strip_prefix(base)
        .unwrap_or(path)
        .to_string_lossy()
        .into_owned()
}
