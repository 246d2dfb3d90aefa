//! File uploads: a file body streamed in 1 MiB pieces through reqwest's async client (its
//! blocking client pushes a reader through in 8 KiB pieces, which costs more than a fast
//! network does), with progress, and stopped at the next piece by Ctrl-C.
//!
//! An upload is given up only when it stalls: no piece taken by the connection and no answer
//! for `Client::upload_stall` (`limits::stall_limit`), as the SDKs time out a read or write that makes no progress
//! (databricks-sdk-py `_base_client.py` passes `http_timeout_seconds` to requests as its
//! per-socket-operation timeout, not a total), never for taking long on a slow link.

use std::io::Read;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use super::client::Client;
use super::error::ApiError;
use super::request::{Progress, Request, Response};
use super::secret::Secret;

/// A body as a stream of 1 MiB pieces: `prefix`, `len` bytes of the file, `suffix`; stopped
/// at the next piece by Ctrl-C. `progress` hears the file bytes sent so far.
fn pieces(
    file: fs_err::File,
    len: u64,
    prefix: &[u8],
    suffix: &[u8],
    progress: Option<Progress>,
) -> impl futures_util::Stream<Item = std::io::Result<bytes::Bytes>> + Send + 'static {
    let head = bytes::Bytes::copy_from_slice(prefix);
    let tail = bytes::Bytes::copy_from_slice(suffix);
    let state = (Some(head), file.take(len), Some(tail), 0u64, progress);
    futures_util::stream::unfold(
        state,
        |(mut head, mut body, mut tail, sent, progress)| async move {
            if let Some(h) = head.take() {
                return Some((Ok(h), (None, body, tail, sent, progress)));
            }
            if crate::support::interrupt::requested() {
                return Some((
                    Err(std::io::Error::other("interrupted by Ctrl-C")),
                    (None, body, None, sent, progress),
                ));
            }
            let mut buf = vec![0u8; 1024 * 1024];
            match body.read(&mut buf) {
                Ok(0) => tail
                    .take()
                    .map(|t| (Ok(t), (None, body, None, sent, progress))),
                Ok(n) => {
                    buf.truncate(n);
                    let sent = sent + n as u64;
                    if let Some(p) = &progress {
                        p(sent);
                    }
                    Some((
                        Ok(bytes::Bytes::from(buf)),
                        (None, body, tail, sent, progress),
                    ))
                }
                Err(e) => Some((Err(e), (None, body, None, sent, progress))),
            }
        },
    )
}

/// When the connection last took a piece or answered, as ms since `began`.
#[derive(Clone)]
struct LastMoved {
    began: Instant,
    at_ms: Arc<AtomicU64>,
}

impl LastMoved {
    fn new() -> LastMoved {
        LastMoved {
            began: Instant::now(),
            at_ms: Arc::new(AtomicU64::new(0)),
        }
    }

    fn now(&self) {
        self.at_ms
            .store(self.began.elapsed().as_millis() as u64, Ordering::Relaxed);
    }

    /// Resolves once nothing moved for `stall`.
    async fn stalled(self, stall: Duration) {
        loop {
            tokio::time::sleep(Duration::from_millis(250)).await;
            let idle = self.began.elapsed().as_millis() as u64 - self.at_ms.load(Ordering::Relaxed);
            if idle > stall.as_millis() as u64 {
                return;
            }
        }
    }
}

impl Client {
    /// Sends a file body as a stream of 1 MiB pieces through the async client.
    #[allow(clippy::too_many_arguments)]
    pub(super) fn upload(
        &self,
        req: &Request<'_>,
        token: &Secret,
        path: &std::path::Path,
        len: u64,
        prefix: &[u8],
        suffix: &[u8],
        content_type: &str,
        progress: Option<Progress>,
    ) -> Result<Response, ApiError> {
        let file = fs_err::File::open(path)
            .map_err(|e| ApiError::local(&self.host, req.path, &e.to_string()))?;
        let total = prefix.len() as u64 + len + suffix.len() as u64;
        let moved = LastMoved::new();
        let moved_by_stream = moved.clone();
        let progress: Option<Progress> = Some(Arc::new(move |sent: u64| {
            moved_by_stream.now();
            if let Some(p) = &progress {
                p(sent);
            }
        }));
        let chunks = pieces(file, len, prefix, suffix, progress);
        let url = format!("{}{}", self.host, req.path);
        let mut builder = self
            .uploads
            .request(req.method.clone(), &url)
            .bearer_auth(token.expose())
            .header("Content-Type", content_type)
            .header("Content-Length", total.to_string())
            .body(reqwest::Body::wrap_stream(chunks));
        if !req.query.is_empty() {
            builder = builder.query(&req.query);
        }
        let runtime = self.upload_runtime(req)?;
        let answered = moved.clone();
        let exchange = async move {
            let resp = builder.send().await?;
            answered.now();
            let status = resp.status().as_u16();
            let headers = resp.headers().clone();
            let body = resp.bytes().await?.to_vec();
            Ok::<_, reqwest::Error>(Response {
                status,
                headers,
                body,
            })
        };
        let stall = self.upload_stall;
        let result = runtime.block_on(async {
            let watchdog = moved.stalled(stall);
            match futures_util::future::select(Box::pin(exchange), Box::pin(watchdog)).await {
                futures_util::future::Either::Left((answer, _)) => Some(answer),
                futures_util::future::Either::Right(_) => None,
            }
        });
        let resp = match result {
            Some(answer) => answer.map_err(|e| {
                if self.stopped() {
                    ApiError::cancelled(&self.host, req.path)
                } else {
                    ApiError::transport(&self.host, req.path, &e)
                }
            })?,
            None => return Err(ApiError::stalled(&self.host, req.path, stall)),
        };
        self.refused(req, resp)
    }

    /// The async runtime uploads run on, made on first use.
    fn upload_runtime(&self, req: &Request<'_>) -> Result<&tokio::runtime::Runtime, ApiError> {
        if let Some(rt) = self.runtime.get() {
            return Ok(rt);
        }
        let rt = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .enable_all()
            .build()
            .map_err(|e| ApiError::local(&self.host, req.path, &e.to_string()))?;
        // Another thread may have won; either runtime works.
        let _ = self.runtime.set(rt);
        Ok(self.runtime.get().expect("set above"))
    }
}
