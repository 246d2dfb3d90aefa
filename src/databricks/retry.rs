//! When and how long to wait before trying a request again: exponential backoff with
//! jitter, `Retry-After` in either of its forms (seconds, or an HTTP date), within a budget.

use std::time::{Duration, SystemTime};

/// How long and how often to retry.
#[derive(Clone, Debug)]
pub struct RetryPolicy {
    pub budget: Duration,
    /// How long a host that takes no connection (refused, a name that does not resolve, no
    /// answer to the connect) is tried: seconds, not the minutes transient answers get, so
    /// a misspelt or unreachable host is said within half a minute.
    pub connect_budget: Duration,
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
            connect_budget: Duration::from_secs(ms("MLOPS_CONNECT_BUDGET_SECS", 20)),
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

/// The longest `Retry-After` we wait for at once: a server asking for more (or an answer
/// garbled into a huge number) is asked again after this, within the budget, instead of
/// ending the command or stalling it for hours.
pub const MAX_RETRY_AFTER: Duration = Duration::from_secs(60);

/// How long a `Retry-After` header asks to wait: integer seconds, or an HTTP date
/// (RFC 9110 section 10.2.3), at most [`MAX_RETRY_AFTER`]. A date in the past is no wait.
pub fn retry_after(headers: &reqwest::header::HeaderMap) -> Option<Duration> {
    let value = headers.get("retry-after")?.to_str().ok()?.trim();
    let asked = match value.parse::<u64>() {
        Ok(secs) => Duration::from_secs(secs),
        Err(_) => {
            let at = httpdate::parse_http_date(value).ok()?;
            at.duration_since(SystemTime::now()).unwrap_or_default()
        }
    };
    Some(asked.min(MAX_RETRY_AFTER))
}

/// Sleeps `wait` in short steps, waking early when `stop` says so; returns whether the whole
/// wait passed (so Ctrl-C during a back-off acts within a tenth of a second).
pub fn pause(wait: Duration, stop: &dyn Fn() -> bool) -> bool {
    let until = std::time::Instant::now() + wait;
    loop {
        if stop() {
            return false;
        }
        let left = until.saturating_duration_since(std::time::Instant::now());
        if left.is_zero() {
            return true;
        }
        std::thread::sleep(left.min(Duration::from_millis(50)));
    }
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
    fn a_huge_retry_after_is_capped() {
        assert_eq!(retry_after(&headers("999999999999")), Some(MAX_RETRY_AFTER));
        let far = httpdate::fmt_http_date(SystemTime::now() + Duration::from_secs(86_400));
        assert_eq!(retry_after(&headers(&far)), Some(MAX_RETRY_AFTER));
    }

    #[test]
    fn a_pause_ends_early_when_told_to_stop() {
        let started = std::time::Instant::now();
        let calls = std::cell::Cell::new(0);
        let whole = pause(Duration::from_secs(30), &|| {
            calls.set(calls.get() + 1);
            calls.get() > 2
        });
        assert!(!whole);
        assert!(started.elapsed() < Duration::from_secs(5));
        assert!(pause(Duration::from_millis(20), &|| false));
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
            connect_budget: Duration::from_secs(20),
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
