//! Workspace hosts as the SDKs normalise them, and the rule that keeps tokens off plain http.

/// `adb-1.2.azuredatabricks.net/` → `https://adb-1.2.azuredatabricks.net`. Plain `http://` is
/// refused except on loopback (the fake workspace in tests), where no token leaves the machine.
pub fn normalize_host(raw: &str) -> std::result::Result<String, String> {
    let raw = raw.trim();
    if raw.is_empty() {
        return Err("it is empty".into());
    }
    let with_scheme = if raw.contains("://") {
        raw.to_string()
    } else {
        format!("https://{raw}")
    };
    let (scheme, rest) = with_scheme.split_once("://").expect("added above");
    let scheme = scheme.to_lowercase();
    let authority = rest.split('/').next().unwrap_or("");
    if authority.is_empty() {
        return Err("it has no host name".into());
    }
    let authority = authority
        .strip_suffix(":443")
        .filter(|_| scheme == "https")
        .unwrap_or(authority);
    let hostname = authority
        .rsplit_once(':')
        .filter(|(_, port)| port.chars().all(|c| c.is_ascii_digit()))
        .map_or(authority, |(h, _)| h);
    match scheme.as_str() {
        "https" => {}
        "http" if is_loopback(hostname) => {}
        "http" => {
            return Err(
                "plain http:// would send the token unencrypted; only loopback hosts may use it"
                    .into(),
            );
        }
        other => return Err(format!("`{other}://` is not a web address")),
    }
    Ok(format!("{scheme}://{authority}"))
}

pub fn is_loopback(host: &str) -> bool {
    let host = host.trim_start_matches('[').trim_end_matches(']');
    host == "localhost"
        || host == "::1"
        || host
            .parse::<std::net::Ipv4Addr>()
            .is_ok_and(|ip| ip.is_loopback())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hosts_are_normalised_and_http_only_on_loopback() {
        assert_eq!(
            normalize_host("https://x.net:443/").unwrap(),
            "https://x.net"
        );
        assert_eq!(normalize_host("x.net/").unwrap(), "https://x.net");
        assert_eq!(
            normalize_host("http://127.0.0.1:8080").unwrap(),
            "http://127.0.0.1:8080"
        );
        assert_eq!(
            normalize_host("http://localhost:1").unwrap(),
            "http://localhost:1"
        );
        assert_eq!(normalize_host("http://[::1]:9").unwrap(), "http://[::1]:9");
        assert!(
            normalize_host("http://adb-1.azuredatabricks.net")
                .unwrap_err()
                .contains("unencrypted")
        );
        assert!(normalize_host("ftp://x").is_err());
        assert!(normalize_host("").is_err());
    }
}
