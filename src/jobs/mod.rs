//! `cargo mlops jobs deploy|list|run|remove`: the persistent Databricks jobs `[jobs.<name>]`
//! declares, one per job and branch, found by their tags (`spec.rs`). `deploy` deploys this
//! commit's artifacts as `deploy` does and creates the job, or resets it when its settings
//! changed; a branch the target does not release from gets its schedule paused.

pub mod spec;

use std::sync::Arc;

use serde::Serialize;
use serde_json::Value;

use crate::databricks::Client;
use crate::databricks::job_defs::{Deployed, JobDefs};
use crate::databricks::jobs::Jobs;
use crate::databricks::workspace::Workspace;
use crate::error::{Error, Result};
use crate::manifest::jobs::Job;
use crate::manifest::release::branch_matches;
use crate::output::Output;
use crate::session::{Prepared, Session};

/// What `jobs deploy` did to one job.
#[derive(Clone, Debug, Serialize)]
pub struct Deployment {
    pub name: String,
    pub target: String,
    pub branch: String,
    pub display_name: String,
    pub job_id: Option<u64>,
    /// `created`, `updated`, `unchanged`, or with `--dry-run` `would create`/`would update`.
    pub action: String,
    pub schedule: Option<String>,
    pub paused: bool,
    pub release: bool,
    /// Off the live branches: the release task checks and registers nothing.
    pub release_checks_only: bool,
}

/// A deployed job, as `jobs list` shows it.
#[derive(Clone, Debug, Serialize)]
pub struct Listed {
    pub name: String,
    pub branch: String,
    pub job_id: Option<u64>,
    pub schedule: Option<String>,
    pub timezone: Option<String>,
    pub paused: bool,
    pub last_run_id: Option<u64>,
    pub last_result: Option<String>,
    /// The next scheduled start, RFC 3339 UTC (none: paused, on demand, or not deployed).
    pub next_run: Option<String>,
}

/// `jobs deploy`'s, `jobs list`'s and `jobs remove`'s JSON.
#[derive(Clone, Debug, Serialize)]
pub struct Report<T> {
    pub branch: String,
    pub dry_run: bool,
    pub jobs: Vec<T>,
}

/// The session on the job's target, and its plan with the job's entry point and parameters.
fn prepare_job(session: &Session, job: &Job, output: &Output) -> Result<(Session, Prepared)> {
    let mut global = session.global.clone();
    global.target = Some(job.target.clone());
    let scoped = Session {
        global,
        output: output.clone(),
        cwd: session.cwd.clone(),
    };
    let params: Vec<String> = job
        .parameters
        .iter()
        .map(|(k, v)| format!("{k}={v}"))
        .collect();
    let prepared = scoped.prepare(Some(&job.entry), &params)?;
    Ok((scoped, prepared))
}

/// The manifest's jobs, or the one named (an unknown name is a usage error).
fn selected(session: &Session, name: Option<&str>) -> Result<Vec<Job>> {
    let manifest = session.manifest()?;
    let jobs: Vec<Job> = manifest.jobs.values().cloned().collect();
    match name {
        None if jobs.is_empty() => Err(Error::usage(format!(
            "{} declares no [jobs.NAME]",
            manifest.display_path.display()
        ))
        .with_help("add one, e.g.\n\n    [jobs.nightly]\n    entry = \"train\"\n    schedule = { cron = \"0 0 2 * * ?\", timezone = \"UTC\" }\n")),
        None => Ok(jobs),
        Some(n) => match jobs.into_iter().find(|j| j.name == n) {
            Some(j) => Ok(vec![j]),
            None => Err(Error::usage(format!("no job `{n}` in {}", manifest.display_path.display()))
                .with_help(crate::manifest::suggestion(
                    "jobs",
                    n,
                    manifest.jobs.keys().map(String::as_str),
                ))),
        },
    }
}

fn tag<'a>(d: &'a Deployed, key: &str) -> Option<&'a str> {
    d.settings["tags"][key].as_str()
}

/// The deployed job of `project`'s `job` on branch `slug` among `jobs`.
fn ours(jobs: &[Deployed], project: &str, job: &str, slug: &str) -> Option<Deployed> {
    jobs.iter()
        .find(|d| {
            tag(d, spec::PROJECT_TAG) == Some(project)
                && tag(d, spec::JOB_TAG) == Some(job)
                && tag(d, spec::BRANCH_TAG) == Some(slug)
        })
        .cloned()
}

/// The deployed job of `project`'s `job` on branch `slug`.
pub fn find(client: &Client, project: &str, job: &str, slug: &str) -> Result<Option<Deployed>> {
    Ok(ours(&JobDefs { client }.list(false)?, project, job, slug))
}

/// The workspaces' jobs, listed once per workspace however many jobs are looked up there
/// (`jobs/list` pages through every job of the workspace).
#[derive(Default)]
struct Listings(std::collections::BTreeMap<String, Vec<Deployed>>);

impl Listings {
    fn find(
        &mut self,
        client: &Client,
        plan: &crate::plan::Plan,
        job: &str,
    ) -> Result<Option<Deployed>> {
        let jobs = match self.0.entry(client.host.clone()) {
            std::collections::btree_map::Entry::Occupied(e) => e.into_mut(),
            std::collections::btree_map::Entry::Vacant(e) => {
                e.insert(JobDefs { client }.list(false)?)
            }
        };
        Ok(ours(jobs, &plan.project, job, &plan.branch_slug))
    }
}

impl Listed {
    /// A job of the manifest as deployed (`found`), its runs not yet looked at.
    fn of(name: &str, branch: &str, found: Option<&Deployed>) -> Listed {
        let schedule = found.map_or(&Value::Null, |d| &d.settings["schedule"]);
        Listed {
            name: name.to_string(),
            branch: branch.to_string(),
            job_id: found.map(|d| d.job_id),
            schedule: schedule["quartz_cron_expression"]
                .as_str()
                .map(str::to_string),
            timezone: schedule["timezone_id"].as_str().map(str::to_string),
            paused: schedule["pause_status"] == "PAUSED",
            last_run_id: None,
            last_result: None,
            next_run: None,
        }
    }
}

/// Whether this branch's jobs are live: their schedules run and their release tasks register.
/// Live branches are the target's `release_branches`, or with none set the repository's
/// default branch only: a feature branch's job is created paused, and its release task checks
/// the gates but registers nothing and moves no alias, whoever starts it.
pub struct Live {
    pub live: bool,
    /// The live branches, in words, for the output.
    pub branches: String,
}

pub fn live(prepared: &Prepared) -> Result<Live> {
    let target = prepared.manifest.target(Some(&prepared.plan.target))?;
    let patterns = &target.release.branches;
    let branch = &prepared.plan.branch;
    if patterns.is_empty() {
        let (default, how) = crate::git::default_branch(&prepared.manifest.root);
        let source = if how == "origin/HEAD" {
            "the remote's default branch"
        } else {
            "the default branch"
        };
        return Ok(Live {
            live: *branch == default,
            branches: format!(
                "`{default}` ({source}; set `release_branches` on [targets.{}] for others)",
                prepared.plan.target
            ),
        });
    }
    Ok(Live {
        live: patterns.iter().any(|p| branch_matches(p, branch)),
        branches: format!(
            "{} (the target's release_branches)",
            patterns
                .iter()
                .map(|p| format!("`{p}`"))
                .collect::<Vec<_>>()
                .join(", ")
        ),
    })
}

fn schedule_text(job: &Job) -> Option<String> {
    job.schedule
        .as_ref()
        .map(|s| format!("{} ({})", s.cron, s.timezone))
}

/// Deploys this commit's artifacts and creates or updates each job to use them.
pub fn deploy(
    session: &Session,
    name: Option<&str>,
    dry_run: bool,
    output: &Output,
) -> Result<Report<Deployment>> {
    let mut out = Vec::new();
    let mut branch = String::new();
    let mut listings = Listings::default();
    for job in selected(session, name)? {
        let (scoped, prepared) = prepare_job(session, &job, output)?;
        let plan = &prepared.plan;
        branch = plan.branch.clone();
        let live = live(&prepared)?;
        let paused = job.schedule.is_some() && !live.live;
        // The manifest checked that the target has a Unity Catalog model to release into.
        let release = job
            .release
            .then(|| crate::release::model_of(&prepared, &plan.target))
            .transpose()?;
        let mut done = Deployment {
            name: job.name.clone(),
            target: plan.target.clone(),
            branch: plan.branch.clone(),
            display_name: spec::display_name(plan, &job.name),
            job_id: None,
            action: String::new(),
            schedule: schedule_text(&job),
            paused,
            release: job.release,
            release_checks_only: job.release && !live.live,
        };
        // The store comes with the workspace's client: credentials are resolved once.
        let open = scoped.store(plan)?;
        let client = open
            .client
            .clone()
            .expect("a Databricks target's store comes with its client");
        let existing = listings.find(&client, plan, &job.name)?;
        if dry_run {
            done.job_id = existing.as_ref().map(|d| d.job_id);
            done.action = if existing.is_some() {
                "would update"
            } else {
                "would create"
            }
            .into();
            out.push(done);
            continue;
        }
        let (job_id, action) = deploy_one(
            (&scoped, &prepared, &open),
            &job,
            release,
            (paused, live.live),
            existing,
            output,
        )?;
        done.job_id = Some(job_id);
        done.action = action.into();
        show_deployed(&done, &live, output);
        out.push(done);
    }
    Ok(Report {
        branch,
        dry_run,
        jobs: out,
    })
}

/// Says what became of a deployed job, and why it is paused off the live branches.
fn show_deployed(done: &Deployment, live: &Live, output: &Output) {
    let mut state = String::new();
    if !live.live {
        state = format!(", paused: only {} run schedules and release", live.branches);
        if done.release {
            state.push_str("; its release task checks the gates and registers nothing");
        }
    }
    output.status(
        match done.action.as_str() {
            "unchanged" => "Unchanged",
            "created" => "Created",
            _ => "Updated",
        },
        format!(
            "job {} ({}){state}",
            done.display_name,
            done.job_id.unwrap_or_default()
        ),
    );
}

/// One job: its existing cluster's runtime checked before anything is uploaded (a job whose
/// cluster cannot install its libraries fails at every scheduled run), this commit deployed,
/// and the job created or updated; the deploy's lease ends once the job names its files.
fn deploy_one(
    (session, prepared, open): (&Session, &Prepared, &crate::session::OpenStore),
    job: &Job,
    release: Option<String>,
    (paused, live): (bool, bool),
    existing: Option<Deployed>,
    output: &Output,
) -> Result<(u64, &'static str)> {
    let client = open
        .client
        .clone()
        .expect("a Databricks target's store comes with its client");
    crate::check::existing_cluster_runtime(&client, &prepared.plan, &prepared.project)?;
    let mut deployment = crate::pipeline::deploy(session, prepared, open, false, true, output)?;
    let result = apply(
        &client,
        prepared,
        job,
        &deployment,
        release,
        (paused, live),
        existing,
        output,
    );
    crate::pipeline::end_lease(open.store.as_ref(), &mut deployment.lease, output);
    result
}

/// Creates the job, or resets it when its settings differ from the deployed ones.
#[allow(clippy::too_many_arguments)]
fn apply(
    client: &Arc<Client>,
    prepared: &Prepared,
    job: &Job,
    deployment: &crate::pipeline::Deployment,
    release_model: Option<String>,
    (paused, live): (bool, bool),
    existing: Option<Deployed>,
    output: &Output,
) -> Result<(u64, &'static str)> {
    let plan = &prepared.plan;
    let user = Workspace { client }.me()?;
    // The experiment exists before the first scheduled run (the launcher would make it too).
    let (experiment, _) = crate::run::experiment::ensure(client, plan, &user)?;
    let (cluster, pip) = crate::run::submit::rendered_compute(deployment)?;
    let launcher = crate::run::submit::launcher_path(client, plan, deployment, &user, output)?;
    let repo_url = crate::git::remote_url(&plan.mlproject);
    let mut plan_for_job = plan.clone();
    plan_for_job.experiment = experiment;
    let settings = spec::settings(&spec::Inputs {
        plan: &plan_for_job,
        job,
        deployment,
        launcher_path: &launcher,
        cluster: &cluster,
        env_pip: &pip,
        user: &user,
        repo_url: repo_url.as_deref(),
        paused,
        release: release_model.map(|model| spec::ReleaseTask {
            model,
            settings: &prepared.manifest.release,
            registry_uri: "databricks-uc",
            checks_only: !live,
        }),
        deploys: (prepared.manifest.release.deployment_job.as_deref() == Some(job.name.as_str()))
            .then(|| prepared.manifest.model_of(&job.target).ok())
            .flatten(),
    });
    let defs = JobDefs { client };
    match existing {
        Some(d) if d.settings["tags"][spec::SPEC_TAG] == settings["tags"][spec::SPEC_TAG] => {
            Ok((d.job_id, "unchanged"))
        }
        Some(d) => {
            defs.reset(d.job_id, settings)?;
            Ok((d.job_id, "updated"))
        }
        None => match defs.create(settings) {
            Ok(id) => Ok((id, "created")),
            // The answer was lost: the job may exist; look for it before creating another.
            Err(e) if e.may_have_been_applied() => {
                match find(client, &plan.project, &job.name, &plan.branch_slug)? {
                    Some(d) => Ok((d.job_id, "created")),
                    None => Err(e.into()),
                }
            }
            Err(e) => Err(e.into()),
        },
    }
}

/// The next start of a Quartz schedule after now, RFC 3339 in UTC.
pub fn next_start(cron: &str, timezone: &str) -> Option<String> {
    let tz: chrono_tz::Tz = timezone.parse().ok()?;
    let parsed = crate::manifest::jobs::quartz(cron).ok()?;
    let now = chrono::Utc::now().with_timezone(&tz);
    let next = parsed.find_next_occurrence(&now, false).ok()?;
    Some(
        next.with_timezone(&chrono::Utc)
            .format("%Y-%m-%dT%H:%M:%SZ")
            .to_string(),
    )
}

/// The manifest's jobs on this branch, as deployed (or not).
pub fn list(session: &Session, output: &Output) -> Result<Report<Listed>> {
    let mut out = Vec::new();
    let mut branch = String::new();
    let mut listings = Listings::default();
    for job in selected(session, None)? {
        let (scoped, prepared) = prepare_job(session, &job, output)?;
        let plan = &prepared.plan;
        branch = plan.branch.clone();
        let client = scoped.client(plan)?;
        let found = listings.find(&client, plan, &job.name)?;
        let mut listed = Listed::of(&job.name, &plan.branch, found.as_ref());
        if let Some(d) = &found {
            let last = JobDefs { client: &client }.last_run(d.job_id)?;
            listed.last_run_id = last.as_ref().map(|l| l.run_id);
            listed.last_result = last.map(|l| l.result);
        }
        if let (Some(c), Some(tz), false) = (&listed.schedule, &listed.timezone, listed.paused) {
            listed.next_run = next_start(c, tz);
        }
        out.push(listed);
    }
    Ok(Report {
        branch,
        dry_run: false,
        jobs: out,
    })
}

/// The deployed job `name` of this branch, or a usage error saying how to deploy it.
fn deployed(
    session: &Session,
    name: &str,
    output: &Output,
) -> Result<(Arc<Client>, Prepared, Job, Option<Deployed>)> {
    let job = selected(session, Some(name))?.remove(0);
    let (scoped, prepared) = prepare_job(session, &job, output)?;
    let client = scoped.client(&prepared.plan)?;
    let found = find(
        &client,
        &prepared.plan.project,
        &job.name,
        &prepared.plan.branch_slug,
    )?;
    Ok((client, prepared, job, found))
}

/// Starts one run of job `name` now and follows it to its end.
pub fn run(
    session: &Session,
    name: &str,
    output: &Output,
) -> Result<(u64, u64, crate::run::follow::Ended)> {
    let (client, prepared, _, found) = deployed(session, name, output)?;
    let Some(job) = found else {
        return Err(Error::usage(format!(
            "job `{name}` is not deployed on branch `{}`",
            prepared.plan.branch
        ))
        .with_help(format!(
            "deploy it first with `cargo mlops jobs deploy {name}`"
        )));
    };
    let token = uuid::Uuid::new_v4().simple().to_string();
    let run_id = JobDefs { client: &client }.run_now(job.job_id, &token)?;
    output.status("Started", format!("run {run_id} of job {}", job.job_id));
    let ended = crate::run::follow::follow(&Jobs { client: &client }, run_id, None, output, None)?;
    Ok((job.job_id, run_id, ended))
}

/// Deletes job `name` of this branch (with `dry_run`, says what would be deleted).
pub fn remove(
    session: &Session,
    name: &str,
    dry_run: bool,
    output: &Output,
) -> Result<Report<Listed>> {
    let (client, prepared, job, found) = deployed(session, name, output)?;
    if let (Some(d), false) = (&found, dry_run) {
        JobDefs { client: &client }.delete(d.job_id)?;
        output.status(
            "Deleted",
            format!(
                "job {} ({})",
                spec::display_name(&prepared.plan, &job.name),
                d.job_id
            ),
        );
    }
    Ok(Report {
        branch: prepared.plan.branch.clone(),
        dry_run,
        jobs: found
            .iter()
            .map(|d| Listed::of(&job.name, &prepared.plan.branch, Some(d)))
            .collect(),
    })
}
