//! The HTTP client against the fake workspace: retries, Retry-After, the time budget, and
//! non-idempotent calls.

use std::time::{Duration, Instant};

use cargo_mlops::databricks::auth::{Config, Method};
use cargo_mlops::databricks::secret::Secret;
use cargo_mlops::databricks::{ApiError, Client};
use serde_json::json;

use crate::support::fake::{FakeWorkspace, Faults};

fn client(ws: &FakeWorkspace) -> Client {
    let mut c = Client::new(Config {
        host: ws.url(),
        method: Method::Pat(Secret::new(ws.token())),
        source: "the test".into(),
    })
    .unwrap();
    c.retry.first_backoff = Duration::from_millis(10);
    c
}

#[test]
fn retry_after_is_honoured() {
    let ws = FakeWorkspace::start();
    ws.set_faults(Faults {
        seed: 5,
        too_many: 0.5,
        retry_after_secs: 1,
        ..Faults::default()
    });
    let c = client(&ws);
    for _ in 0..4 {
        c.get_json("/api/2.0/dbfs/get-status", &[("path", "/")])
            .unwrap();
    }
    let log = ws.log();
    let limited: Vec<usize> = (0..log.len())
        .filter(|i| log[*i].status == Some(429))
        .collect();
    assert!(!limited.is_empty(), "no 429 was injected");
    for i in limited {
        if let Some(next) = log.get(i + 1) {
            let waited = next.at.duration_since(log[i].at);
            assert!(
                waited >= Duration::from_millis(950),
                "retried after {waited:?}, Retry-After said 1 s"
            );
        }
    }
}

#[test]
fn the_time_budget_ends_retries_with_a_remote_error() {
    let ws = FakeWorkspace::start();
    ws.set_faults(Faults {
        unavailable: 1.0,
        ..Faults::default()
    });
    let mut c = client(&ws);
    c.retry.budget = Duration::from_millis(400);
    let started = Instant::now();
    let err: ApiError = c
        .get_json("/api/2.0/dbfs/get-status", &[("path", "/")])
        .unwrap_err();
    assert!(started.elapsed() < Duration::from_secs(3));
    assert!(err.attempts > 1, "{err}");
    assert_eq!(err.code, "TEMPORARILY_UNAVAILABLE");
    let as_error: cargo_mlops::error::Error = err.into();
    assert_eq!(as_error.exit_code(), 3);
    assert!(
        as_error.message().contains("/api/2.0/dbfs/get-status"),
        "{}",
        as_error.message()
    );
}

#[test]
fn a_call_that_is_not_idempotent_is_not_sent_twice_after_a_lost_answer() {
    let ws = FakeWorkspace::start();
    ws.set_faults(Faults {
        reset_after: 1.0,
        only: "/runs/create".into(),
        ..Faults::default()
    });
    let c = client(&ws);
    let exp = c
        .post_json(
            "/api/2.0/mlflow/experiments/create",
            json!({"name": "/Shared/x"}),
            false,
        )
        .unwrap();
    let err = c
        .post_json(
            "/api/2.0/mlflow/runs/create",
            json!({"experiment_id": exp["experiment_id"], "start_time": 0}),
            false,
        )
        .unwrap_err();
    assert_eq!(err.attempts, 1, "{err}");
    let creates = ws
        .log()
        .iter()
        .filter(|l| l.path.ends_with("/runs/create"))
        .count();
    assert_eq!(creates, 1, "a non-idempotent call was sent again");
    // An idempotent one is retried through the same fault.
    ws.set_faults(Faults {
        seed: 3,
        reset_after: 0.5,
        ..Faults::default()
    });
    for _ in 0..5 {
        c.get_json("/api/2.0/dbfs/get-status", &[("path", "/")])
            .unwrap();
    }
}

#[test]
fn connection_refused_is_retried_then_reported() {
    let port = {
        let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        l.local_addr().unwrap().port()
    };
    let mut c = Client::new(Config {
        host: format!("http://127.0.0.1:{port}"),
        method: Method::Pat(Secret::new("t")),
        source: "the test".into(),
    })
    .unwrap();
    c.retry.first_backoff = Duration::from_millis(10);
    c.retry.budget = Duration::from_millis(300);
    let err = c
        .get_json("/api/2.0/dbfs/get-status", &[("path", "/")])
        .unwrap_err();
    assert!(err.attempts > 1);
    let e: cargo_mlops::error::Error = err.into();
    assert_eq!(e.exit_code(), 3);
    assert!(
        e.message().starts_with("cannot reach the workspace"),
        "{}",
        e.message()
    );
}

#[test]
fn oauth_token_requests_are_retried_like_any_other() {
    let ws = FakeWorkspace::start();
    // The first token request is answered 503, the second's answer is lost.
    ws.set_faults(Faults {
        unavailable: 1.0,
        only: "/oidc/v1/token".into(),
        ..Faults::default()
    });
    let mut c = Client::new(Config {
        host: ws.url(),
        method: Method::OAuthM2M {
            client_id: "fake-client".into(),
            client_secret: Secret::new("fake-secret"),
            scopes: "all-apis".into(),
        },
        source: "the test".into(),
    })
    .unwrap();
    c.retry.first_backoff = Duration::from_millis(10);
    std::thread::scope(|s| {
        let call = s.spawn(|| c.get_json("/api/2.0/dbfs/get-status", &[("path", "/")]));
        let started = Instant::now();
        while !ws.log().iter().any(|l| l.path == "/oidc/v1/token") {
            assert!(started.elapsed() < Duration::from_secs(20));
            std::thread::sleep(Duration::from_millis(5));
        }
        ws.set_faults(Faults {
            lose_answer_of: Some(0),
            only: "/oidc/v1/token".into(),
            ..Faults::default()
        });
        call.join().unwrap().unwrap();
    });
    let tokens: Vec<Option<u16>> = ws
        .log()
        .iter()
        .filter(|l| l.path == "/oidc/v1/token")
        .map(|l| l.status)
        .collect();
    assert!(tokens.len() >= 3, "{tokens:?}");
    assert_eq!(tokens.first(), Some(&Some(503)));
    assert_eq!(tokens.last(), Some(&Some(200)));
    assert!(tokens.contains(&None), "the lost answer: {tokens:?}");
}

#[test]
fn a_loopback_workspace_never_goes_through_a_proxy() {
    // A "proxy" that counts who connects to it and answers nothing useful.
    let proxy = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let proxy_url = format!("http://{}", proxy.local_addr().unwrap());
    proxy.set_nonblocking(true).unwrap();
    let p = crate::support::Project::git();
    p.mlops(&["init", "--name", "proxied"]).success();
    let manifest = p.read("mlops.toml")
        + "\n[targets.dev]\nkind = \"databricks\"\nartifacts = \"/Volumes/main/mlops/artifacts\"\n";
    p.file("mlops.toml", &manifest);
    let ws = FakeWorkspace::start();
    let out = p.mlops_ws(
        &ws,
        &["status", "4242", "-t", "dev"],
        &[
            ("HTTP_PROXY", proxy_url.as_str()),
            ("http_proxy", proxy_url.as_str()),
            ("ALL_PROXY", proxy_url.as_str()),
        ],
    );
    // The fake itself answered: the run does not exist.
    out.code(3);
    assert!(out.stderr.contains("does not exist"), "{}", out.stderr);
    let reached = proxy.accept().is_ok();
    assert!(
        !reached,
        "a request to a loopback host went to the proxy, bearer token and all"
    );
}

/// `check --online` against `host`: the run and how long it took.
fn online_check(host: &str, budget: &str) -> (crate::support::Run, Duration) {
    let p = crate::support::Project::git();
    p.mlops(&["init", "--name", "far"]).success();
    p.file(
        "mlops.toml",
        &(p.read("mlops.toml")
            + "\n[targets.dev]\nkind = \"databricks\"\nartifacts = \"/Volumes/main/mlops/artifacts/{project}\"\n"),
    );
    let home = p.path().to_string_lossy().into_owned();
    let started = Instant::now();
    let run = p.mlops_in(
        ".",
        &["check", "--target", "dev", "--online"],
        &[
            ("DATABRICKS_HOST", host),
            ("DATABRICKS_TOKEN", "dapi-unreachable-test-token"),
            ("HOME", home.as_str()),
            ("MLOPS_CONNECT_BUDGET_SECS", budget),
        ],
    );
    (run, started.elapsed())
}

#[test]
fn an_unreachable_host_is_said_within_seconds_with_what_failed() {
    // Refused: said at once, tried for the connect budget (20 s), then an error naming the
    // host and the cause; never the five minutes transient answers get.
    let port = {
        let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        l.local_addr().unwrap().port()
    };
    let host = format!("http://127.0.0.1:{port}");
    let (run, took) = online_check(&host, "20");
    run.code(3);
    assert!(took < Duration::from_secs(30), "took {took:?}");
    crate::support::assert_has(
        &run.stderr,
        &[
            &format!("cannot reach {host} (connection refused); trying again for up to 20 s"),
            &format!("cannot reach the workspace at {host}: connection refused"),
            "attempts",
            "nothing takes connections at",
        ],
    );
    assert!(!run.stderr.contains("dapi-unreachable-test-token"));

    // A name that does not resolve (tried for 2 s here: the budget is the same code path).
    let (run, took) = online_check("https://adb-0000000000000000.0.no-such-domain.invalid", "2");
    run.code(3);
    assert!(took < Duration::from_secs(30), "took {took:?}");
    crate::support::assert_has(
        &run.stderr,
        &[
            "the host name does not resolve",
            "check the spelling of the host",
        ],
    );

    // TLS refused by the peer (here a server that speaks plain HTTP): one attempt, no wait.
    let plain = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = plain.local_addr().unwrap().port();
    std::thread::spawn(move || {
        for conn in plain.incoming().flatten() {
            use std::io::{Read, Write};
            let mut conn = conn;
            let mut buf = [0u8; 1024];
            let _ = conn.read(&mut buf);
            let _ = conn.write_all(b"HTTP/1.1 400 Bad Request\r\nContent-Length: 0\r\n\r\n");
        }
    });
    let (run, took) = online_check(&format!("https://127.0.0.1:{port}"), "20");
    run.code(3);
    assert!(took < Duration::from_secs(10), "took {took:?}");
    crate::support::assert_has(&run.stderr, &["the TLS handshake failed", "certificate"]);
    assert!(!run.stderr.contains("trying again"), "{}", run.stderr);
}

#[test]
fn an_upload_is_given_up_when_it_stalls_never_for_taking_long() {
    let ws = FakeWorkspace::start();
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("big.whl");
    let data: Vec<u8> = (0..12 * 1024 * 1024u32).map(|i| (i % 251) as u8).collect();
    std::fs::write(&file, &data).unwrap();
    let mut c = client(&ws);
    // Bytes move in 1 MiB pieces, and the last few MiB drain from the socket's buffers
    // after the last piece: the limit must be longer than both take on this link.
    c.upload_stall = Duration::from_secs(2);
    c.retry.budget = Duration::from_secs(5);
    let files = cargo_mlops::databricks::files::Files { client: &c };
    // A slow link (4 MiB/s): longer than the stall limit in all, but bytes keep moving.
    ws.set_faults(Faults {
        pace: crate::support::fake::http::Pace {
            rate: 4 * 1024 * 1024,
            stall: Duration::ZERO,
        },
        ..Faults::default()
    });
    let started = Instant::now();
    files
        .put_file(
            "/Volumes/main/mlops/artifacts/slow.whl",
            &file,
            data.len() as u64,
            false,
            None,
        )
        .unwrap();
    assert!(
        started.elapsed() > Duration::from_secs(2),
        "the link was not slow"
    );
    assert_eq!(
        ws.volume_file("/Volumes/main/mlops/artifacts/slow.whl")
            .unwrap(),
        data
    );
    // A link that stops half-way for longer than the limit: each attempt is given up as
    // stalled after the limit and tried again (an upload is idempotent) within the budget,
    // then the error says it stalled.
    ws.set_faults(Faults {
        pace: crate::support::fake::http::Pace {
            rate: 0,
            stall: Duration::from_secs(4),
        },
        ..Faults::default()
    });
    let started = Instant::now();
    let err = files
        .put_file(
            "/Volumes/main/mlops/artifacts/stuck.whl",
            &file,
            data.len() as u64,
            false,
            None,
        )
        .unwrap_err();
    assert!(
        started.elapsed() < Duration::from_secs(10),
        "{:?}",
        started.elapsed()
    );
    assert!(err.attempts > 1, "{err}");
    assert!(
        err.to_string()
            .contains("the upload stalled: no bytes moved and no answer for 2 s"),
        "{err}"
    );
    ws.set_faults(Faults::default());
}

#[test]
fn large_files_go_to_a_volume_in_parts_as_the_sdk_sends_them() {
    let ws = FakeWorkspace::start();
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("big.whl");
    let data: Vec<u8> = (0..(3 * 1024 * 1024 + 512 * 1024) as u32)
        .map(|i| (i % 253) as u8)
        .collect();
    std::fs::write(&file, &data).unwrap();
    let mut c = client(&ws);
    // The SDK's 50 MiB and 10 MiB, scaled down.
    c.multipart.threshold = 1024 * 1024;
    c.multipart.part_size = 1024 * 1024;
    let files = cargo_mlops::databricks::files::Files { client: &c };
    let target = "/Volumes/main/mlops/artifacts/parts.whl";
    files
        .put_file(target, &file, data.len() as u64, false, None)
        .unwrap();
    assert_eq!(ws.volume_file(target).unwrap(), data);
    let log = ws.log();
    let count = |part: &str| log.iter().filter(|l| l.path.contains(part)).count();
    assert_eq!(count("/fs/create-upload-part-urls"), 4);
    let parts: Vec<_> = log
        .iter()
        .filter(|l| l.path.starts_with("/_cloud/"))
        .collect();
    assert_eq!(parts.len(), 4);
    assert!(
        parts
            .iter()
            .all(|l| l.authorization.is_none() && l.method == "PUT"),
        "a presigned URL never gets the workspace token"
    );
    let actions: Vec<String> = log
        .iter()
        .filter(|l| l.path.ends_with("/parts.whl"))
        .map(|l| {
            format!(
                "{} {}",
                l.method,
                l.query.get("action").cloned().unwrap_or_default()
            )
        })
        .collect();
    assert_eq!(actions, ["POST initiate-upload", "POST complete-upload"]);
    // Again without overwrite: the file exists, said by the initiate call (no parts sent).
    let err = files
        .put_file(target, &file, data.len() as u64, false, None)
        .unwrap_err();
    assert!(err.is("ALREADY_EXISTS"), "{err}");

    // Storage that refuses the first part (a firewalled bucket): the session is aborted and
    // the file goes in one PUT, as the SDK falls back.
    ws.clear_log();
    ws.set_faults(Faults {
        denied: 1.0,
        only: "/_cloud/".into(),
        ..Faults::default()
    });
    let other = "/Volumes/main/mlops/artifacts/fallback.whl";
    files
        .put_file(other, &file, data.len() as u64, false, None)
        .unwrap();
    ws.set_faults(Faults::default());
    assert_eq!(ws.volume_file(other).unwrap(), data);
    let log = ws.log();
    // (The abort's DELETE meets the same refusing storage here: it is best effort.)
    assert!(
        log.iter()
            .any(|l| l.path.ends_with("/fs/create-abort-upload-url"))
    );
    assert!(
        log.iter().any(|l| l.method == "PUT"
            && l.path.ends_with("/fallback.whl")
            && l.status == Some(204))
    );
}

/// A server that answers each request path with a fixed JSON body (404 for any other path):
/// answers the real service could send, missing a field.
fn answering(answers: Vec<(&'static str, &'static str)>) -> String {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    std::thread::spawn(move || {
        for conn in listener.incoming().flatten() {
            let mut reader = std::io::BufReader::new(conn.try_clone().unwrap());
            let Ok(Some(req)) = crate::support::fake::http::read_request(&mut reader) else {
                continue;
            };
            let body = answers
                .iter()
                .find(|(p, _)| req.path == *p)
                .map(|(_, b)| *b);
            let (status, body) = match body {
                Some(b) => ("200 OK", b.to_string()),
                None => (
                    "404 Not Found",
                    r#"{"error_code":"NOT_FOUND","message":"no"}"#.into(),
                ),
            };
            use std::io::Write;
            let mut conn = conn;
            let _ = write!(
                conn,
                "HTTP/1.1 {status}\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
                body.len()
            );
        }
    });
    url
}

fn client_at(url: String) -> Client {
    let mut c = Client::new(Config {
        host: url,
        method: Method::Pat(Secret::new("t")),
        source: "the test".into(),
    })
    .unwrap();
    c.retry.first_backoff = Duration::from_millis(10);
    c.retry.budget = Duration::from_millis(300);
    c
}

#[test]
fn an_id_the_service_did_not_send_is_an_error_never_a_made_up_one() {
    let c = client_at(answering(vec![(
        "/api/2.2/jobs/runs/list",
        r#"{"runs": [{"state": {"life_cycle_state": "RUNNING"}}]}"#,
    )]));
    let err = cargo_mlops::databricks::job_defs::JobDefs { client: &c }
        .last_run(7)
        .unwrap_err();
    assert!(err.to_string().contains("no `run_id`"), "{err}");

    let c = client_at(answering(vec![
        ("/api/2.2/jobs/list", r#"{"jobs": [], "has_more": false}"#),
        ("/api/2.0/serving-endpoints", r#"{"endpoints": []}"#),
        (
            "/api/2.0/mlflow/experiments/search",
            r#"{"experiments": [{"name": "/Shared/p/gone", "tags": [{"key": "mlops.project", "value": "p"}, {"key": "mlops.branch", "value": "gone"}]}]}"#,
        ),
    ]));
    let err = cargo_mlops::gc::workspace::plan(
        &c,
        "p",
        "dbfs:/mlops/p",
        &std::collections::BTreeSet::from(["main".to_string()]),
        &cargo_mlops::gc::workspace::Releases {
            models: Vec::new(),
            branches: Vec::new(),
        },
    )
    .unwrap_err();
    assert!(
        err.message().contains("no `experiment_id`"),
        "{}",
        err.message()
    );
}
