//! A client of the emulator for tests and tools: its knobs (faults, reset,
//! minted ID tokens) and the control-plane calls a test makes behind a
//! command's back (a service's policy, read and replaced), so no test
//! builds these requests by hand.

use serde_json::{Value, json};

/// The emulator answered something other than 200.
#[derive(Debug, thiserror::Error)]
pub enum ClientError {
    #[error("{what}: the emulator answered {status}: {body}")]
    Status { what: String, status: u16, body: Value },
    #[error("{what}: {source}")]
    Transport {
        what: String,
        #[source]
        source: reqwest::Error,
    },
}

/// The emulator at a base URL (`http://127.0.0.1:PORT`).
#[derive(Clone, Debug)]
pub struct Client {
    base: String,
    http: reqwest::Client,
}

impl Client {
    pub fn new(base: &str) -> Self {
        Self { base: base.trim_end_matches('/').to_owned(), http: reqwest::Client::new() }
    }

    async fn call(
        &self,
        what: &str,
        method: reqwest::Method,
        path: &str,
        body: Option<Value>,
    ) -> Result<Value, ClientError> {
        let mut req = self.http.request(method, format!("{}/{path}", self.base));
        if let Some(b) = body {
            req = req.json(&b);
        }
        let transport = |source| ClientError::Transport { what: what.to_owned(), source };
        let resp = req.send().await.map_err(transport)?;
        let status = resp.status().as_u16();
        let body: Value = resp.json().await.unwrap_or(Value::Null);
        if status != 200 {
            return Err(ClientError::Status { what: what.to_owned(), status, body });
        }
        Ok(body)
    }

    /// An ID token for `email` and `audience`, signed as the emulator signs them.
    pub async fn mint_id_token(&self, email: &str, audience: &str) -> Result<String, ClientError> {
        self.mint(json!({"email": email, "audience": audience})).await
    }

    /// An ID token with any claims the knob takes (`email`, `audience`,
    /// `expiresIn`, `issuer`, ...).
    pub async fn mint(&self, claims: Value) -> Result<String, ClientError> {
        let minted =
            self.call("minting an ID token", reqwest::Method::POST, "emulator/v1/idTokens", Some(claims)).await?;
        Ok(minted["token"].as_str().unwrap_or_default().to_owned())
    }

    /// A service's allow policy (`projects/P/locations/R/services/S`), at version 3.
    pub async fn policy(&self, service: &str) -> Result<Value, ClientError> {
        let path = format!("v2/{service}:getIamPolicy?options.requestedPolicyVersion=3");
        self.call("reading a policy", reqwest::Method::GET, &path, None).await
    }

    /// Replaces a service's policy unconditionally (no etag); the policy written.
    pub async fn put_policy(&self, service: &str, mut policy: Value) -> Result<Value, ClientError> {
        if let Some(p) = policy.as_object_mut() {
            p.remove("etag");
        }
        let path = format!("v2/{service}:setIamPolicy");
        self.call("writing a policy", reqwest::Method::POST, &path, Some(json!({"policy": policy}))).await
    }

    /// Changes the fault settings given (`latencyMs`, `raceRate`, ...); the settings now.
    pub async fn faults(&self, changes: Value) -> Result<Value, ClientError> {
        self.call("setting faults", reqwest::Method::POST, "emulator/v1/faults", Some(changes)).await
    }

    /// Policies, etags and logs back to the world file's.
    pub async fn reset(&self) -> Result<(), ClientError> {
        self.call("resetting", reqwest::Method::POST, "emulator/v1/reset", None).await.map(|_| ())
    }
}
