//! A host that takes no connection: how it failed (refused, a name that does not resolve,
//! TLS, no answer), in codes the retry loop branches on and words a person can act on.

/// The ways a connection is not made, by code and in words. A refused connection and a name
/// that does not resolve are tried again for seconds only ([`super::retry::RetryPolicy`]
/// `connect_budget`); a TLS failure is not tried again: a certificate does not fix itself.
pub const UNREACHABLE: [(&str, &str); 5] = [
    ("CONNECTION_REFUSED", "connection refused"),
    ("UNKNOWN_HOST", "the host name does not resolve"),
    ("TLS", "the TLS handshake failed"),
    ("CONNECT_TIMEOUT", "no answer to the connection"),
    ("NETWORK", "the connection failed"),
];

/// The code of a failure to connect, from what the error chain says.
pub(super) fn code(refused: bool, timed_out: bool, text: &str) -> &'static str {
    let lower = text.to_ascii_lowercase();
    if refused {
        "CONNECTION_REFUSED"
    } else if lower.contains("dns error") || lower.contains("failed to lookup address") {
        "UNKNOWN_HOST"
    } else if [
        "certificate",
        "tls",
        "handshake",
        // rustls's `Error` texts (rustls/src/error.rs `Display`): hyper-util's connect error
        // carries it as text-bearing boxes, not as a type that can be downcast.
        "invalid peer",
        "corrupt message",
        "fatal alert",
        "peer is incompatible",
        "peer misbehaved",
    ]
    .iter()
    .any(|t| lower.contains(t))
    {
        "TLS"
    } else if timed_out {
        "CONNECT_TIMEOUT"
    } else {
        "NETWORK"
    }
}

/// What to check when a host takes no connection, by how it failed.
pub(super) fn help(code: &str, host: &str) -> String {
    let settings = "DATABRICKS_HOST, or `host` in the profile of ~/.databrickscfg, or the target's `host` in mlops.toml";
    match code {
        "UNKNOWN_HOST" => format!(
            "check the spelling of the host ({settings}); on a VPN or a private network, check that it is connected and its DNS answers for the workspace"
        ),
        "CONNECTION_REFUSED" => format!(
            "nothing takes connections at {}: check the host and its port ({settings}), and any proxy (HTTPS_PROXY) in the way",
            host
        ),
        "TLS" => "the workspace's certificate was not accepted: a proxy that inspects TLS needs its CA certificate in the system's store (or SSL_CERT_FILE); an `http://` host needs `https://`".to_string(),
        _ => format!(
            "the host did not answer the connection: check the host ({settings}), the VPN, and that a firewall lets HTTPS out"
        ),
    }
}
