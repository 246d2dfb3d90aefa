//! The fake's OAuth token endpoint (`/oidc/v1/token`): M2M client credentials, and the token
//! exchange of workload identity federation (an OIDC ID token from a CI system, checked
//! against the service principal's federation policy), plus the host metadata the SDKs read
//! a default audience from (`/.well-known/databricks-config`).

use base64::Engine;
use serde_json::json;

use super::http::{Request, Response};
use super::state::*;

/// A service principal's federation policy: which CI tokens it exchanges.
#[derive(Clone, Debug)]
pub struct Federation {
    pub client_id: String,
    pub issuer: String,
    pub subject: String,
    /// The audience a token must carry; `None`: the workspace's token endpoint.
    pub audience: Option<String>,
}

fn refused(description: &str) -> Response {
    Response::json(
        401,
        json!({ "error": "invalid_client", "error_description": description }),
    )
}

impl State {
    /// `grant_type=urn:ietf:params:oauth:grant-type:token-exchange`: the subject token must be
    /// one the CI stand-in issued, unexpired, from the policy's issuer and subject, for its
    /// audience; `client_id` names the service principal.
    fn exchange(
        &mut self,
        req: &Request,
        form: &std::collections::BTreeMap<String, String>,
    ) -> Response {
        if form.get("subject_token_type").map(String::as_str)
            != Some("urn:ietf:params:oauth:token-type:jwt")
        {
            return Response::json(
                400,
                json!({ "error": "invalid_request", "error_description": "subject_token_type must be urn:ietf:params:oauth:token-type:jwt" }),
            );
        }
        let token = form.get("subject_token").cloned().unwrap_or_default();
        let Some(claims) = super::ci_tokens::claims(&token) else {
            return refused("The subject token is not a valid JWT from a trusted issuer.");
        };
        let id = form.get("client_id").cloned().unwrap_or_default();
        let Some(policy) = self.federation.iter().find(|f| f.client_id == id) else {
            return refused(&format!(
                "No federation policy for service principal '{id}'."
            ));
        };
        let audience = policy.audience.clone().unwrap_or_else(|| {
            format!("http://{}/oidc/v1/token", req.header("host").unwrap_or(""))
        });
        if claims["iss"] != policy.issuer.as_str() || claims["sub"] != policy.subject.as_str() {
            return refused(&format!(
                "The token's issuer '{}' and subject '{}' do not match the federation policy.",
                claims["iss"].as_str().unwrap_or(""),
                claims["sub"].as_str().unwrap_or("")
            ));
        }
        if claims["aud"] != audience.as_str() {
            return refused(&format!(
                "The token's audience '{}' does not match the federation policy's audience.",
                claims["aud"].as_str().unwrap_or("")
            ));
        }
        if claims["exp"].as_i64().unwrap_or(0) < now_ms() / 1000 {
            return refused("The subject token has expired.");
        }
        self.oauth_tokens_issued += 1;
        Response::ok(
            json!({ "access_token": self.token, "token_type": "Bearer", "expires_in": 3600 }),
        )
    }

    pub(super) fn host_metadata(&self) -> Response {
        if self.advertised_audiences.is_empty() {
            return Response::error(404, "NOT_FOUND", "Not Found");
        }
        Response::ok(json!({
            "workspace_id": super::WORKSPACE_ID,
            "token_federation_default_oidc_audiences": self.advertised_audiences,
        }))
    }

    pub(super) fn oauth(&mut self, req: &Request) -> Response {
        let basic = req
            .header("authorization")
            .and_then(|h| h.strip_prefix("Basic "))
            .and_then(|b| B64.decode(b).ok())
            .map(|b| String::from_utf8_lossy(&b).into_owned());
        let form = super::http::parse_query(&String::from_utf8_lossy(&req.body));
        if form.get("grant_type").map(String::as_str)
            == Some("urn:ietf:params:oauth:grant-type:token-exchange")
        {
            return self.exchange(req, &form);
        }
        let (id, secret) = match basic.as_deref().and_then(|b| b.split_once(':')) {
            Some((i, s)) => (i.to_string(), s.to_string()),
            None => (
                form.get("client_id").cloned().unwrap_or_default(),
                form.get("client_secret").cloned().unwrap_or_default(),
            ),
        };
        if id != self.client_id || secret != self.client_secret {
            return Response::json(
                401,
                json!({ "error": "invalid_client", "error_description": "Client authentication failed" }),
            );
        }
        self.oauth_tokens_issued += 1;
        Response::ok(
            json!({ "access_token": self.token, "token_type": "Bearer", "expires_in": "3600" }),
        )
    }
}
