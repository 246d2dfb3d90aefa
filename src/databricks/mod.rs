//! The Databricks workspace: authentication, the HTTP client, and the REST APIs we call
//! (`../shared/databricks-api.md` is the contract).

pub mod auth;
pub mod client;
pub mod clusters;
pub mod config_file;
pub mod dbfs;
pub mod deployment_jobs;
pub mod error;
pub mod files;
pub mod host;
pub mod job_defs;
pub mod jobs;
pub mod limits;
pub mod mlflow;
pub mod models;
pub mod multipart;
pub mod oidc;
pub mod request;
pub mod retry;
pub mod secret;
pub mod serving;
pub mod token;
pub mod unreachable;
mod upload;
pub mod workspace;

pub use client::Client;
pub use error::ApiError;
