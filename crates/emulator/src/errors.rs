//! google.rpc.Status error envelopes, as every Google REST front end sends
//! them: `{"error": {"code": HTTP, "message", "status": NAME, "details"}}`.
//!
//! Clients branch on `status` (ABORTED and ALREADY_EXISTS are both 409)
//! and on the first ErrorInfo's `reason`, so both are exact.

use serde_json::{Value, json};

/// The `google.rpc.Code`s the emulator answers with.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Code {
    InvalidArgument,
    FailedPrecondition,
    NotFound,
    AlreadyExists,
    Aborted,
    PermissionDenied,
    ResourceExhausted,
    Internal,
    Unavailable,
    DeadlineExceeded,
    Unimplemented,
}

impl Code {
    /// The HTTP status Google's front ends map the code to.
    pub fn http(self) -> u16 {
        match self {
            Self::InvalidArgument | Self::FailedPrecondition => 400,
            Self::PermissionDenied => 403,
            Self::NotFound => 404,
            Self::AlreadyExists | Self::Aborted => 409,
            Self::ResourceExhausted => 429,
            Self::Internal => 500,
            Self::Unimplemented => 501,
            Self::Unavailable => 503,
            Self::DeadlineExceeded => 504,
        }
    }

    /// The `google.rpc.Code` name, the envelope's `status`.
    pub fn name(self) -> &'static str {
        match self {
            Self::InvalidArgument => "INVALID_ARGUMENT",
            Self::FailedPrecondition => "FAILED_PRECONDITION",
            Self::NotFound => "NOT_FOUND",
            Self::AlreadyExists => "ALREADY_EXISTS",
            Self::Aborted => "ABORTED",
            Self::PermissionDenied => "PERMISSION_DENIED",
            Self::ResourceExhausted => "RESOURCE_EXHAUSTED",
            Self::Internal => "INTERNAL",
            Self::Unavailable => "UNAVAILABLE",
            Self::DeadlineExceeded => "DEADLINE_EXCEEDED",
            Self::Unimplemented => "UNIMPLEMENTED",
        }
    }
}

/// A failed call: the code, the message and any `details` entries.
#[derive(Clone, Debug, PartialEq)]
pub struct ApiError {
    pub code: Code,
    /// Overrides the code's usual HTTP status (a 502 reads UNAVAILABLE).
    pub http: Option<u16>,
    pub message: String,
    pub details: Vec<Value>,
}

/// The message Google sends on a setIamPolicy whose etag is stale.
pub const CONCURRENT_CHANGES: &str =
    "There were concurrent policy changes. Please retry the whole read-modify-write with exponential backoff.";

impl ApiError {
    pub fn new(code: Code, message: impl Into<String>) -> Self {
        Self { code, http: None, message: message.into(), details: Vec::new() }
    }

    pub fn invalid(message: impl Into<String>) -> Self {
        Self::new(Code::InvalidArgument, message)
    }

    /// INVALID_ARGUMENT with a BadRequest detail naming the field at fault.
    pub fn invalid_field(field: &str, message: impl Into<String>) -> Self {
        let message = message.into();
        let detail = json!({
            "@type": "type.googleapis.com/google.rpc.BadRequest",
            "fieldViolations": [{"field": field, "description": message}],
        });
        Self::new(Code::InvalidArgument, message).with_detail(detail)
    }

    pub fn not_found(message: impl Into<String>) -> Self {
        Self::new(Code::NotFound, message)
    }

    /// The stale-etag answer of every setIamPolicy.
    pub fn concurrent_policy_change() -> Self {
        Self::new(Code::Aborted, CONCURRENT_CHANGES)
    }

    /// A path or verb no API here serves.
    pub fn no_such_method(method: &str, path: &str) -> Self {
        Self::not_found(format!("The requested URL {path} was not found on this server (method {method})."))
    }

    /// Adds a `google.rpc.ErrorInfo` detail.
    pub fn with_reason(self, reason: &str, domain: &str, metadata: Value) -> Self {
        let mut info = json!({"@type": "type.googleapis.com/google.rpc.ErrorInfo", "reason": reason, "domain": domain});
        if metadata.as_object().is_some_and(|m| !m.is_empty()) {
            info["metadata"] = metadata;
        }
        self.with_detail(info)
    }

    pub fn with_detail(mut self, detail: Value) -> Self {
        self.details.push(detail);
        self
    }

    pub fn status(&self) -> u16 {
        self.http.unwrap_or_else(|| self.code.http())
    }

    /// The JSON body: `{"error": {code, message, status, details?}}`.
    pub fn body(&self) -> Value {
        let mut error = json!({"code": self.status(), "message": self.message, "status": self.code.name()});
        if !self.details.is_empty() {
            error["details"] = Value::Array(self.details.clone());
        }
        json!({ "error": error })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn envelope_shape() {
        let e = ApiError::concurrent_policy_change();
        assert_eq!(e.body(), json!({"error": {"code": 409, "status": "ABORTED", "message": CONCURRENT_CHANGES}}));
        let e = ApiError::new(Code::PermissionDenied, "no").with_reason(
            "IAM_PERMISSION_DENIED",
            "iam.googleapis.com",
            json!({}),
        );
        assert_eq!(e.body()["error"]["details"][0]["reason"], "IAM_PERMISSION_DENIED");
        assert!(e.body()["error"]["details"][0].get("metadata").is_none());
    }
}
