//! `--timeout`: a duration as people write one, within what a Databricks job accepts.

use std::time::Duration;

use crate::error::{Error, Result};

/// Parses `--timeout` (at most the Jobs API's limit).
pub fn timeout(text: Option<&str>) -> Result<Option<Duration>> {
    text.map(parse_duration)
        .transpose()
        .map_err(|e| Error::usage(format!("--timeout {e}")))
}

/// The longest `--timeout`: the Jobs API's `timeout_seconds` is a 32-bit integer.
pub const MAX_TIMEOUT_SECS: u64 = i32::MAX as u64;

/// A duration written as `90s`, `30m`, `2h`, `1h30m`, `1d` (humantime's forms), or plain
/// seconds; at most [`MAX_TIMEOUT_SECS`].
pub fn parse_duration(text: &str) -> std::result::Result<Duration, String> {
    let text = text.trim();
    let parsed = match text.parse::<u64>() {
        Ok(secs) => Ok(Duration::from_secs(secs)),
        Err(_) => humantime::parse_duration(text),
    };
    let too_long = || {
        format!(
            "`{text}` is longer than the longest timeout a Databricks job takes ({MAX_TIMEOUT_SECS} seconds, about 68 years)"
        )
    };
    match parsed {
        Ok(d) if d.as_secs() > MAX_TIMEOUT_SECS => Err(too_long()),
        Ok(d) if d.is_zero() => Err(format!(
            "`{text}` is no time at all: give a duration such as 90s, 30m or 1h30m"
        )),
        Ok(d) => Ok(d),
        Err(humantime::DurationError::NumberOverflow) => Err(too_long()),
        Err(_) if text.parse::<f64>().is_ok() || text.starts_with('-') => Err(format!(
            "`{text}` is not a duration such as 90s, 30m or 1h30m"
        )),
        Err(e) => Err(format!(
            "`{text}` is not a duration such as 90s, 30m or 1h30m ({e})"
        )),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations() {
        assert_eq!(parse_duration("90").unwrap(), Duration::from_secs(90));
        assert_eq!(parse_duration("90s").unwrap(), Duration::from_secs(90));
        assert_eq!(parse_duration("1h30m").unwrap(), Duration::from_secs(5400));
        assert_eq!(parse_duration("2h").unwrap(), Duration::from_secs(7200));
        assert!(parse_duration("soon").is_err());
        assert!(parse_duration("5x").is_err());
        assert!(parse_duration("10m5").is_err());
        assert!(parse_duration("0s").is_err());
    }

    #[test]
    fn durations_past_the_jobs_limit_are_refused_without_overflowing() {
        for text in [
            "300000000000000d",
            "18446744073709551615",
            "69years",
            "2147483648s",
        ] {
            let err = parse_duration(text).unwrap_err();
            assert!(err.contains("2147483647 seconds"), "{text}: {err}");
        }
        assert_eq!(
            parse_duration("2147483647").unwrap(),
            Duration::from_secs(MAX_TIMEOUT_SECS)
        );
    }
}
