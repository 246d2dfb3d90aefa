//! Workspace API (folders, imported files) and SCIM `Me`.

use base64::Engine;
use serde_json::json;

use super::client::Client;
use super::error::ApiError;

pub struct Workspace<'a> {
    pub client: &'a Client,
}

impl Workspace<'_> {
    /// `mkdir -p` of a workspace folder.
    pub fn mkdirs(&self, path: &str) -> Result<(), ApiError> {
        self.client
            .post_json("/api/2.0/workspace/mkdirs", json!({ "path": path }), true)
            .map(drop)
    }

    /// Imports a file (not a notebook) at `path`, replacing what is there.
    pub fn import_file(&self, path: &str, bytes: &[u8]) -> Result<(), ApiError> {
        let content = base64::engine::general_purpose::STANDARD.encode(bytes);
        self.client
            .post_json(
                "/api/2.0/workspace/import",
                json!({ "path": path, "content": content, "format": "RAW", "overwrite": true }),
                true,
            )
            .map(drop)
    }

    /// Whether something exists at `path`.
    pub fn exists(&self, path: &str) -> Result<bool, ApiError> {
        match self
            .client
            .get_json("/api/2.0/workspace/get-status", &[("path", path)])
        {
            Ok(_) => Ok(true),
            Err(e) if e.is_not_found() => Ok(false),
            Err(e) => Err(e),
        }
    }

    /// The user the credentials belong to (`userName`, usually an e-mail address).
    pub fn me(&self) -> Result<String, ApiError> {
        #[derive(serde::Deserialize)]
        #[serde(rename_all = "camelCase")]
        struct Me {
            user_name: String,
        }
        let me: Me = self.client.get_as("/api/2.0/preview/scim/v2/Me", &[])?;
        Ok(me.user_name)
    }
}
