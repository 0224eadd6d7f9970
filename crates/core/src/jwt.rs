//! JSON Web Tokens as Google signs its ID tokens: split, decoded and
//! RS256-checked in one place, for the emulator's front end (which mints
//! and verifies its own) and troubleshoot's token inspection (which checks
//! a pasted token against Google's keys). Judging the claims (issuer,
//! audience, expiry) is each caller's business.
//!
//! The raw token is never kept: only its signed bytes and signature, for
//! the check, and its decoded header and claims.

use aws_lc_rs::signature::{RSA_PKCS1_2048_8192_SHA256, RsaPublicKeyComponents};
use base64::Engine;
use base64::engine::general_purpose::{URL_SAFE, URL_SAFE_NO_PAD};
use serde_json::{Map, Value};

/// What Google puts in place of the signature of a token handed to a container.
pub const SIGNATURE_REMOVED: &str = "SIGNATURE_REMOVED_BY_GOOGLE";
/// Anything longer is not a token (Google's are about 1 KB).
pub const MAX_LEN: usize = 16 * 1024;

/// Not three base64url parts with a JSON object for header and payload.
#[derive(Clone, Copy, Debug, PartialEq, Eq, thiserror::Error)]
#[error("not a JWT: expected three base64url parts with JSON header and claims")]
pub struct NotJwt;

/// A decoded JWT. The signed part and the signature stay private.
pub struct Jwt {
    pub header: Map<String, Value>,
    pub claims: Map<String, Value>,
    /// Google removed the signature (`SIGNATURE_REMOVED_BY_GOOGLE`).
    pub signature_removed: bool,
    signed: Vec<u8>,
    signature: Vec<u8>,
}

impl std::fmt::Debug for Jwt {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Jwt").field("header", &self.header).field("claims", &self.claims).finish_non_exhaustive()
    }
}

/// base64url, with or without padding (some tools pad).
pub fn b64url(part: &str) -> Option<Vec<u8>> {
    let part = part.trim_end_matches('=');
    URL_SAFE_NO_PAD.decode(part).ok().or_else(|| URL_SAFE.decode(part).ok())
}

fn json_object(part: &str) -> Option<Map<String, Value>> {
    match serde_json::from_slice(&b64url(part)?).ok()? {
        Value::Object(m) => Some(m),
        _ => None,
    }
}

/// Splits and decodes a token; never panics on any input.
pub fn decode(token: &str) -> Result<Jwt, NotJwt> {
    if token.len() > MAX_LEN {
        return Err(NotJwt);
    }
    let mut parts = token.split('.');
    let (Some(h), Some(p), Some(s), None) = (parts.next(), parts.next(), parts.next(), parts.next()) else {
        return Err(NotJwt);
    };
    let (header, claims) = json_object(h).zip(json_object(p)).ok_or(NotJwt)?;
    let signature_removed = s == SIGNATURE_REMOVED;
    // A signature that is not even base64url is a JWT whose signature fails.
    let signature = if signature_removed { Vec::new() } else { b64url(s).unwrap_or_default() };
    Ok(Jwt { header, claims, signature_removed, signed: token.as_bytes()[..h.len() + 1 + p.len()].to_vec(), signature })
}

impl Jwt {
    pub fn text(&self, k: &str) -> Option<&str> {
        self.claims.get(k).and_then(Value::as_str)
    }

    pub fn email(&self) -> Option<&str> {
        self.text("email")
    }

    /// A time claim in seconds (Google writes integers; some tools floats).
    pub fn time(&self, k: &str) -> Option<i64> {
        self.claims.get(k).and_then(|v| v.as_i64().or_else(|| v.as_f64().map(|f| f as i64)))
    }

    /// `aud` as a list (a JWT may carry an array).
    pub fn audiences(&self) -> Vec<String> {
        match self.claims.get("aud") {
            Some(Value::String(s)) => vec![s.clone()],
            Some(Value::Array(a)) => a.iter().filter_map(Value::as_str).map(str::to_owned).collect(),
            _ => Vec::new(),
        }
    }

    pub fn kid(&self) -> Option<&str> {
        self.header.get("kid").and_then(Value::as_str)
    }

    /// The claims worth showing, never the token.
    pub fn summary(&self) -> Value {
        let mut out = Map::new();
        for k in ["iss", "aud", "email", "sub", "azp", "exp", "iat", "nbf"] {
            if let Some(v) = self.claims.get(k) {
                out.insert(k.to_owned(), v.clone());
            }
        }
        if let Some(kid) = self.header.get("kid") {
            out.insert("kid".into(), kid.clone());
        }
        Value::Object(out)
    }

    /// Whether an RS256 signature holds under one of `keys` (the key the
    /// header names, or any when it names none).
    pub fn verifies(&self, keys: &Jwks) -> bool {
        if self.signature_removed || self.header.get("alg").and_then(Value::as_str) != Some("RS256") {
            return false;
        }
        let kid = self.kid();
        keys.0.iter().filter(|k| kid.is_none() || k.kid.as_deref() == kid).any(|k| {
            RsaPublicKeyComponents { n: k.n.as_slice(), e: k.e.as_slice() }
                .verify(&RSA_PKCS1_2048_8192_SHA256, &self.signed, &self.signature)
                .is_ok()
        })
    }
}

/// One RSA public key of a JWKS.
#[derive(Clone, Debug)]
struct Key {
    kid: Option<String>,
    n: Vec<u8>,
    e: Vec<u8>,
}

/// Signing keys (Google's, or the emulator's own).
#[derive(Clone, Debug, Default)]
pub struct Jwks(Vec<Key>);

impl Jwks {
    /// A JWKS document; keys that are not RSA, or malformed, are skipped.
    pub fn from_json(v: &Value) -> Self {
        let keys = v.get("keys").and_then(Value::as_array).map(Vec::as_slice).unwrap_or_default();
        Self(
            keys.iter()
                .filter(|k| k.get("kty").and_then(Value::as_str) == Some("RSA"))
                .filter_map(|k| {
                    Some(Key {
                        kid: k.get("kid").and_then(Value::as_str).map(str::to_owned),
                        n: b64url(k.get("n")?.as_str()?)?,
                        e: b64url(k.get("e")?.as_str()?)?,
                    })
                })
                .collect(),
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn decodes_what_google_shapes_and_refuses_the_rest() {
        let h = URL_SAFE_NO_PAD.encode(br#"{"alg":"RS256","kid":"k"}"#);
        let p = URL_SAFE_NO_PAD.encode(br#"{"aud":["a","b"],"email":"x@y.example","exp":1.5e9}"#);
        let j = decode(&format!("{h}.{p}.{SIGNATURE_REMOVED}")).unwrap();
        assert!(j.signature_removed);
        assert_eq!((j.email(), j.kid(), j.time("exp")), (Some("x@y.example"), Some("k"), Some(1_500_000_000)));
        assert_eq!(j.audiences(), ["a", "b"]);
        assert!(!j.verifies(&Jwks::default()));
        for bad in ["", "a.b", "a.b.c.d", &format!("{h}.e30"), &format!("{h}.bm90IGpzb24.sig")] {
            assert!(decode(bad).is_err(), "{bad}");
        }
        assert!(!decode(&format!("{h}.{p}.!!")).unwrap().verifies(&Jwks::default()));
    }

    proptest::proptest! {
        #[test]
        fn decode_never_panics(s in ".{0,300}", parts in proptest::collection::vec("[A-Za-z0-9_=-]{0,40}", 0..5)) {
            let _ = decode(&s);
            let _ = decode(&parts.join("."));
        }
    }
}
