//! The Databricks workspace: authentication, the HTTP client, and the REST APIs we call
//! (`../shared/databricks-api.md` is the contract).

// `ApiError` carries the host, endpoint, code and message a user needs; errors are rare and
// off the hot path, so boxing it would only add noise.
#![allow(clippy::result_large_err)]

pub mod auth;
pub mod client;
pub mod dbfs;
pub mod error;
pub mod files;
pub mod secret;

pub use client::Client;
pub use error::ApiError;
