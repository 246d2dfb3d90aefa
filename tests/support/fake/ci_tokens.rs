//! A stand-in for the CI systems' OIDC ID-token endpoints, on loopback: GitHub Actions'
//! (`GET $ACTIONS_ID_TOKEN_REQUEST_URL&audience=...`, answering `{value}`) and Azure
//! Pipelines' (`POST .../oidctoken?api-version=...`, answering `{oidcToken}` with the fixed
//! audience `api://AzureADTokenExchange`), as databricks-sdk-py's `oidc_token_supplier.py`
//! calls them. Tokens are unsigned-but-marked JWTs the fake workspace's `/oidc/v1/token`
//! reads (`claims`).

use std::io::BufReader;
use std::net::{SocketAddr, TcpListener};

use base64::Engine;
use serde_json::{Value, json};

use super::http::{self, Response};

pub const GITHUB_ISSUER: &str = "https://token.actions.githubusercontent.com";
pub const AZURE_ISSUER: &str = "https://vstoken.dev.azure.com/acme-org-id";
/// What the stand-in accepts as the job's request token (GitHub) or System.AccessToken.
pub const REQUEST_TOKEN: &str = "ci-request-token-5f0e";
/// The mark a token from this issuer carries instead of a signature.
const SIGNATURE: &str = "stand-in-ci-signature";

const B64URL: base64::engine::GeneralPurpose = base64::engine::general_purpose::URL_SAFE_NO_PAD;

/// A JWT with these claims, marked as issued by the stand-in.
pub fn jwt(claims: &Value) -> String {
    format!(
        "{}.{}.{}",
        B64URL.encode(br#"{"alg":"RS256","typ":"JWT"}"#),
        B64URL.encode(claims.to_string()),
        B64URL.encode(SIGNATURE)
    )
}

/// The claims of a token the stand-in issued (`None` for anything else: a forged mark, or
/// not a JWT at all).
pub fn claims(token: &str) -> Option<Value> {
    let mut parts = token.split('.');
    let (_, body, mark) = (parts.next()?, parts.next()?, parts.next()?);
    if B64URL.decode(mark).ok()? != SIGNATURE.as_bytes() {
        return None;
    }
    serde_json::from_slice(&B64URL.decode(body).ok()?).ok()
}

pub struct CiTokens {
    addr: SocketAddr,
}

/// The subject GitHub puts in a token for a job of `acme/churn` on `main`.
pub const GITHUB_SUBJECT: &str = "repo:acme/churn:ref:refs/heads/main";
pub const AZURE_SUBJECT: &str = "sc://acme/churn/databricks-federation";

impl CiTokens {
    pub fn start() -> CiTokens {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = listener.local_addr().unwrap();
        std::thread::spawn(move || {
            for stream in listener.incoming().flatten() {
                std::thread::spawn(move || {
                    let mut reader = BufReader::new(stream.try_clone().unwrap());
                    let mut writer = stream;
                    while let Ok(Some(req)) = http::read_request(&mut reader) {
                        let resp = answer(&req);
                        if http::write_response(&mut writer, &req.method, &resp).is_err() {
                            return;
                        }
                    }
                });
            }
        });
        CiTokens { addr }
    }

    /// `ACTIONS_ID_TOKEN_REQUEST_URL`: GitHub's has a query already, to which the client adds
    /// `&audience=`.
    pub fn github_url(&self) -> String {
        format!("http://{}/github/token?api-version=2.0", self.addr)
    }

    /// `SYSTEM_TEAMFOUNDATIONCOLLECTIONURI` (with its trailing slash, as Azure DevOps gives it).
    pub fn azure_collection(&self) -> String {
        format!("http://{}/acme/", self.addr)
    }
}

fn answer(req: &http::Request) -> Response {
    if req.header("authorization") != Some(&format!("Bearer {REQUEST_TOKEN}")) {
        return Response::json(403, json!({ "message": "Bad credentials" }));
    }
    let now = super::state::now_ms() / 1000;
    if req.method == "GET" && req.path == "/github/token" {
        let audience = req.query.get("audience").cloned().unwrap_or_default();
        return Response::ok(json!({ "value": jwt(&json!({
            "iss": GITHUB_ISSUER, "sub": GITHUB_SUBJECT, "aud": audience,
            "iat": now, "exp": now + 300,
        })) }));
    }
    if req.method == "POST" && req.path.ends_with("/oidctoken") {
        return Response::ok(json!({ "oidcToken": jwt(&json!({
            "iss": AZURE_ISSUER, "sub": AZURE_SUBJECT, "aud": "api://AzureADTokenExchange",
            "iat": now, "exp": now + 300,
        })) }));
    }
    Response::json(404, json!({ "message": "Not Found" }))
}
