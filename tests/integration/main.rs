//! Integration tests: the `cargo-mlops` binary driven as users drive it.
// Test code reads and writes fixtures directly; the fs_err rule is for the tool's own errors.
#![allow(clippy::disallowed_methods, clippy::disallowed_types)]

#[path = "../support/mod.rs"]
mod support;

mod adopt;
mod auth;
mod auth_matrix;
mod build;
mod ci;
mod cli;
mod client;
mod compare;
mod compute;
mod compute_checks;
mod corners;
mod deploy;
mod deployment_jobs;
mod dirty;
mod docs;
mod environments;
mod fidelity;
mod gc;
mod gc_branches;
mod history_store;
mod hook;
mod house;
mod jobs;
mod json_shapes;
mod launcher;
mod launcher_majors;
mod licenses;
mod live_logs;
mod manifest_errors;
mod mlflow_server;
mod oidc;
mod props;
mod real_projects;
mod recipes;
mod release;
mod render;
mod run_databricks;
mod run_local;
mod serving;
mod shell;
mod spark_job;
mod suggestions;
mod tracking_server;
