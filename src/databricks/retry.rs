//! When and how long to wait before trying a request again: exponential backoff with
//! jitter, `Retry-After` in either of its forms (seconds, or an HTTP date), within a budget.

use std::time::{Duration, SystemTime};

/// How long and how often to retry.
#[derive(Clone, Debug)]
pub struct RetryPolicy {
    pub budget: Duration,
    pub first_backoff: Duration,
    pub max_backoff: Duration,
}

impl Default for RetryPolicy {
    fn default() -> Self {
        let ms = |var: &str, default: u64| {
            std::env::var(var)
                .ok()
                .and_then(|v| v.parse().ok())
                .unwrap_or(default)
        };
        RetryPolicy {
            // As the SDKs: five minutes in all.
            budget: Duration::from_secs(ms("MLOPS_RETRY_BUDGET_SECS", 300)),
            first_backoff: Duration::from_millis(ms("MLOPS_RETRY_FIRST_MS", 500)),
            max_backoff: Duration::from_secs(10),
        }
    }
}

impl RetryPolicy {
    /// The wait before attempt `attempt + 1`: `first_backoff` doubled per attempt, at most
    /// `max_backoff`, plus up to `first_backoff` of jitter.
    pub fn backoff(&self, attempt: u32) -> Duration {
        let exp = self
            .first_backoff
            .saturating_mul(1u32 << attempt.saturating_sub(1).min(16));
        exp.min(self.max_backoff) + jitter(self.first_backoff)
    }
}

/// How long a `Retry-After` header asks to wait: integer seconds, or an HTTP date
/// (RFC 9110 section 10.2.3). A date in the past is no wait.
pub fn retry_after(headers: &reqwest::header::HeaderMap) -> Option<Duration> {
    let value = headers.get("retry-after")?.to_str().ok()?.trim();
    if let Ok(secs) = value.parse::<u64>() {
        return Some(Duration::from_secs(secs));
    }
    let at = httpdate::parse_http_date(value).ok()?;
    Some(at.duration_since(SystemTime::now()).unwrap_or_default())
}

/// Up to `max` of pseudo-random delay, so that clients retrying together spread out.
fn jitter(max: Duration) -> Duration {
    use std::hash::{BuildHasher, Hasher};
    let mut h = std::collections::hash_map::RandomState::new().build_hasher();
    h.write_u128(
        SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.as_nanos()),
    );
    let frac = (h.finish() % 1000) as u32;
    max.mul_f64(f64::from(frac) / 1000.0)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn headers(value: &str) -> reqwest::header::HeaderMap {
        let mut h = reqwest::header::HeaderMap::new();
        h.insert("retry-after", value.parse().unwrap());
        h
    }

    #[test]
    fn retry_after_in_seconds_and_as_a_date() {
        assert_eq!(retry_after(&headers("7")), Some(Duration::from_secs(7)));
        let soon = httpdate::fmt_http_date(SystemTime::now() + Duration::from_secs(30));
        let wait = retry_after(&headers(&soon)).unwrap();
        assert!(
            wait > Duration::from_secs(25) && wait <= Duration::from_secs(30),
            "{wait:?}"
        );
        assert_eq!(
            retry_after(&headers("Wed, 21 Oct 2015 07:28:00 GMT")),
            Some(Duration::ZERO)
        );
        assert_eq!(retry_after(&headers("soon")), None);
    }

    #[test]
    fn backoff_grows_to_its_cap() {
        let p = RetryPolicy {
            budget: Duration::from_secs(300),
            first_backoff: Duration::from_millis(500),
            max_backoff: Duration::from_secs(10),
        };
        assert!(
            p.backoff(1) >= Duration::from_millis(500) && p.backoff(1) < Duration::from_secs(1)
        );
        assert!(
            p.backoff(30) >= Duration::from_secs(10)
                && p.backoff(30) < Duration::from_millis(10_500)
        );
    }
}
