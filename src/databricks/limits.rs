//! How long transfers may stall and in what pieces large files go, as the client's settings
//! (kept apart from the client so that the upload code and the client share them without
//! importing each other).

use std::time::Duration;

/// How long one request may take before it is given up as stuck (an upload: without moving).
pub const REQUEST_TIMEOUT: Duration = Duration::from_secs(60);

/// When and in what pieces files go up in parts.
#[derive(Clone, Copy, Debug)]
pub struct Multipart {
    /// Files this large or larger go in parts (`files_ext_multipart_upload_min_stream_size`).
    pub threshold: u64,
    /// The size of each part (`files_ext_multipart_upload_default_part_size`, 10 MiB).
    pub part_size: u64,
}

impl Default for Multipart {
    fn default() -> Self {
        Multipart {
            threshold: 50 * 1024 * 1024,
            part_size: 10 * 1024 * 1024,
        }
    }
}

/// How long an upload may make no progress (`MLOPS_UPLOAD_STALL_SECS`, default the request
/// timeout, 60 s) before it is given up and tried again.
pub fn stall_limit() -> Duration {
    Duration::from_secs(crate::support::time::env_number(
        "MLOPS_UPLOAD_STALL_SECS",
        REQUEST_TIMEOUT.as_secs(),
    ))
}
