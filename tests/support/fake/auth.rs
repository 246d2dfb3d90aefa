//! The fake's OAuth token endpoint (`/oidc/v1/token`, M2M client credentials).

use base64::Engine;
use serde_json::json;

use super::http::{Request, Response};
use super::state::*;

impl State {
    pub(super) fn oauth(&mut self, req: &Request) -> Response {
        let basic = req
            .header("authorization")
            .and_then(|h| h.strip_prefix("Basic "))
            .and_then(|b| B64.decode(b).ok())
            .map(|b| String::from_utf8_lossy(&b).into_owned());
        let form = super::http::parse_query(&String::from_utf8_lossy(&req.body));
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
