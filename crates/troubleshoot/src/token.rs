//! Token inspection (`--token-file`, `--token-env`): what the caller sends,
//! judged the way Cloud Run's front end judges it (docs/cloud-run.md). Pure:
//! parsing, signature checking against an already fetched JWKS, and the
//! token.* findings. The raw token is held only to check its signature and
//! never reaches a finding, a trace or `Debug`: only its claims do.

use chrono::{DateTime, Utc};
use runiam_core::api::run::{Service, audience_accepted, token_audience_accepted};
use runiam_core::doc::{Evidence, Finding, Fix, FixAction};
use runiam_core::jwt;
pub use runiam_core::jwt::{Jwks, Jwt, SIGNATURE_REMOVED};
use serde_json::{Value, json};

use crate::findings as f;

/// The issuer spellings Google's verifiers accept (docs/cloud-run.md).
pub const GOOGLE_ISSUERS: [&str; 2] = ["https://accounts.google.com", "accounts.google.com"];
/// Clock skew tolerated for `iat`/`nbf` in the future.
const SKEW_SECONDS: i64 = 300;
/// Anything longer is not a token anyone pasted on purpose.
const MAX_INPUT: usize = 64 * 1024;

/// What one pasted credential is.
pub enum Kind {
    /// `ya29.` OAuth access token.
    AccessToken,
    /// `1//` OAuth refresh token.
    RefreshToken,
    /// Neither a JWT nor a known Google token.
    Opaque,
    Jwt(Jwt),
}

/// Everything found in the pasted text.
pub struct Presented {
    /// Authorization headers seen (`Bearer` occurrences or header names).
    pub headers: usize,
    pub tokens: Vec<Kind>,
}

fn classify(word: &str) -> Kind {
    if word.starts_with("ya29.") {
        return Kind::AccessToken;
    }
    if word.starts_with("1//") {
        return Kind::RefreshToken;
    }
    match jwt::decode(word) {
        Ok(j) => Kind::Jwt(j),
        Err(_) => Kind::Opaque,
    }
}

/// Reads a token, a list of tokens, or a pasted `Authorization` header
/// (or several). Never panics; text past 64 KiB is ignored.
pub fn parse(input: &str) -> Presented {
    let mut end = input.len().min(MAX_INPUT);
    while !input.is_char_boundary(end) {
        end -= 1;
    }
    let input = &input[..end];
    let mut bearers = 0;
    let mut header_names = 0;
    let mut tokens = Vec::new();
    for word in input.split(|c: char| c.is_whitespace() || c == ',') {
        let word = word.trim_matches(|c| c == '"' || c == '\'' || c == ';');
        let lower = word.to_ascii_lowercase();
        if word.is_empty() {
            continue;
        }
        if lower == "bearer" {
            bearers += 1;
        } else if lower.ends_with(':') || lower == "-h" || lower == "--header" {
            if lower.ends_with("authorization:") {
                header_names += 1;
            }
        } else {
            tokens.push(classify(word));
        }
    }
    Presented { headers: bearers.max(header_names), tokens }
}

/// How a signature fared.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Signature {
    Valid,
    /// No key of the JWKS verifies it.
    Invalid,
    /// Google removed it (a token handed to a container).
    Removed,
    /// The JWKS could not be read: not judged.
    Unchecked,
}

pub fn verify(jwt: &Jwt, jwks: Option<&Jwks>) -> Signature {
    if jwt.signature_removed {
        return Signature::Removed;
    }
    match jwks {
        None => Signature::Unchecked,
        Some(keys) if jwt.verifies(keys) => Signature::Valid,
        Some(_) => Signature::Invalid,
    }
}

/// Why `aud` is refused, or `None` when accepted docs/cloud-run.md: any URL
/// of the service with or without a trailing `/`, or a custom audience exactly).
pub fn audience_problem(aud: &str, urls: &[String], custom: &[String]) -> Option<String> {
    if audience_accepted(aud, urls, custom) {
        return None;
    }
    if aud.ends_with(".apps.googleusercontent.com") {
        return Some(format!(
            "`{aud}` is an OAuth client id: Cloud Run accepts only gcloud's and ADC's, and only in a user's token; other clients' tokens pass only an IAP-secured load balancer"
        ));
    }
    let Ok(parsed) = url::Url::parse(aud) else {
        return Some(format!("`{aud}` is not a URL; Cloud Run accepts only the service's URLs or its customAudiences"));
    };
    let host = parsed.host_str().unwrap_or_default().to_ascii_lowercase();
    let ours = urls
        .iter()
        .any(|u| url::Url::parse(u).ok().and_then(|p| p.host_str().map(str::to_owned)) == Some(host.clone()));
    if ours && parsed.scheme() == "http" {
        return Some(format!("`{aud}` uses http: the audience must be the https URL"));
    }
    if ours {
        return Some(format!(
            "`{aud}` includes a path or query: the audience is the service URL alone (a push or job target URL with a path is not)"
        ));
    }
    if host.ends_with(".run.app") || host.ends_with(".cloudfunctions.net") {
        return Some(format!("`{aud}` is another service's URL"));
    }
    Some(format!(
        "`{aud}` looks like a custom domain: Cloud Run does not accept custom domains as aud unless they are listed in customAudiences"
    ))
}

/// The moment a token is judged at, and what fixed it.
pub struct At {
    pub time: DateTime<Utc>,
    /// "now", or the log entry that gave the time.
    pub source: String,
}

fn ev(detail: String, data: Option<Value>) -> Evidence {
    Evidence { source: "token (claims only)".into(), detail, data }
}

fn manual(command: &str) -> Option<Fix> {
    Some(Fix { action: FixAction::Manual, member: None, role: None, condition: None, command: command.to_owned() })
}

fn rfc(t: i64) -> String {
    DateTime::from_timestamp(t, 0).map(|d| d.to_rfc3339()).unwrap_or_else(|| t.to_string())
}

/// The token.* findings for what the caller sends to `service`.
pub fn judge(p: &Presented, service: &Service, at: &At, sigs: &[Signature]) -> Vec<Finding> {
    let mut out = Vec::new();
    let fix_url = service.uri.clone().unwrap_or_else(|| "the service URL".into());
    let mint = format!(
        "mint a Google ID token with audience {fix_url}: gcloud auth print-identity-token --audiences={fix_url} (service accounts), or the metadata server's identity?audience={fix_url}&format=full"
    );
    if p.tokens.len() > 1 || p.headers > 1 {
        out.push(f::token_multiple(
            p.tokens.len(),
            p.headers,
            vec![ev(format!("{} credentials in {} Authorization headers", p.tokens.len(), p.headers), None)],
            manual("send exactly one ID token, in one Authorization (or X-Serverless-Authorization) header"),
        ));
    }
    for (i, k) in p.tokens.iter().enumerate() {
        let what = match k {
            Kind::AccessToken => "an OAuth access token (ya29.)",
            Kind::RefreshToken => "an OAuth refresh token (1//)",
            Kind::Opaque => "not a JWT",
            Kind::Jwt(jwt) => {
                let sig = sigs.get(i).copied().unwrap_or(Signature::Unchecked);
                let judged = Judged { n: i + 1, jwt, claims: Some(jwt.summary()), mint: &mint };
                out.extend(judged.issuer(sig));
                out.extend(judged.audience(service));
                out.extend(judged.time(at));
                out.extend(judged.email());
                continue;
            }
        };
        out.push(f::token_not_id_token(what, vec![ev(format!("credential {}: {what}", i + 1), None)], manual(&mint)));
    }
    if p.tokens.is_empty() {
        out.push(f::token_not_id_token(
            "empty",
            vec![ev("the token input holds no credential".into(), Some(json!({})))],
            manual(&mint),
        ));
    }
    out
}

/// One JWT being judged: its number among the credentials, its claims as
/// evidence, and the fix that mints a right one.
struct Judged<'a> {
    n: usize,
    jwt: &'a Jwt,
    claims: Option<Value>,
    mint: &'a str,
}

impl Judged<'_> {
    fn evidence(&self, what: String) -> Vec<Evidence> {
        vec![ev(format!("credential {}: {what}", self.n), self.claims.clone())]
    }

    /// Google as the issuer, and its signature.
    fn issuer(&self, sig: Signature) -> Option<Finding> {
        let iss = self.jwt.text("iss").unwrap_or("(none)");
        let (why, what) = if self.jwt.signature_removed || sig == Signature::Removed {
            (
                "its signature reads SIGNATURE_REMOVED_BY_GOOGLE: it was copied from a request inside a service (Google strips the signature before handing tokens to containers, so they cannot be replayed). It is not a forgery, but it can never be accepted".to_owned(),
                format!("signature {SIGNATURE_REMOVED}"),
            )
        } else if !GOOGLE_ISSUERS.contains(&iss) {
            let why = if iss.starts_with("https://securetoken.google.com/") {
                format!(
                    "issuer {iss} is Firebase Authentication / Identity Platform, not Google: Cloud Run's IAM check accepts only Google-signed ID tokens"
                )
            } else {
                format!("issuer {iss} is not Google (https://accounts.google.com): a self-signed or third-party token")
            };
            (why, format!("iss {iss}"))
        } else if sig == Signature::Invalid {
            (
                "it claims Google as issuer but no key of Google's JWKS verifies its signature (forged, tampered, or signed by another key)".to_owned(),
                "signature does not verify".to_owned(),
            )
        } else {
            return None;
        };
        Some(f::token_issuer(why, self.evidence(what), manual(self.mint)))
    }

    /// An `aud` the service accepts.
    fn audience(&self, service: &Service) -> Option<Finding> {
        let urls = service.all_urls();
        let auds = self.jwt.audiences();
        let email = self.jwt.email();
        let problems: Vec<String> = auds
            .iter()
            .filter(|a| !token_audience_accepted(a, email, &urls, &service.custom_audiences))
            .filter_map(|a| audience_problem(a, &urls, &service.custom_audiences))
            .collect();
        if !auds.is_empty() && problems.len() < auds.len() {
            return None;
        }
        let why = if auds.is_empty() { "the token has no aud claim".to_owned() } else { problems.join("; ") };
        let what =
            format!("aud {:?}; accepted: {} and customAudiences {:?}", auds, urls.join(", "), service.custom_audiences);
        Some(f::token_audience_mismatch(why, self.evidence(what), manual(self.mint)))
    }

    /// Valid at the time of the logged denial (or now).
    fn time(&self, at: &At) -> Option<Finding> {
        let now = at.time.timestamp();
        let expired = self
            .jwt
            .time("exp")
            .filter(|e| *e <= now)
            .map(|e| format!("exp {} was past at {} ({})", rfc(e), at.time.to_rfc3339(), at.source));
        let future = ["nbf", "iat"].into_iter().find_map(|k| {
            self.jwt
                .time(k)
                .filter(|t| *t > now + SKEW_SECONDS)
                .map(|t| format!("{k} {} is in the future at {} ({})", rfc(t), at.time.to_rfc3339(), at.source))
        });
        let why = expired.or(future)?;
        Some(f::token_expired(why.clone(), self.evidence(why), manual(self.mint)))
    }

    /// An email claim, which names the caller.
    fn email(&self) -> Option<Finding> {
        if self.jwt.email().is_some() {
            return None;
        }
        Some(f::token_no_email(
            self.evidence("no email claim".to_owned()),
            manual("mint with includeEmail (IAM Credentials generateIdToken) or format=full (metadata server)"),
        ))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use base64::Engine;
    use base64::engine::general_purpose::URL_SAFE_NO_PAD;
    use proptest::prelude::*;

    fn jwt(claims: Value, sig: &str) -> String {
        let h = URL_SAFE_NO_PAD.encode(br#"{"alg":"RS256","kid":"k"}"#);
        let p = URL_SAFE_NO_PAD.encode(claims.to_string());
        format!("{h}.{p}.{sig}")
    }

    fn service() -> Service {
        Service {
            uri: Some("https://hello-1.europe-west1.run.app".into()),
            urls: vec!["https://hello-1.europe-west1.run.app".into(), "https://hello-abc-ew.a.run.app".into()],
            custom_audiences: vec!["https://api.acme.example".into()],
            extra: serde_json::from_value(
                json!({"trafficStatuses": [{"uri": "https://canary---hello-1.europe-west1.run.app"}]}),
            )
            .unwrap(),
            ..Default::default()
        }
    }

    fn ids(tok: &str, at: i64) -> Vec<String> {
        let p = parse(tok);
        let at = At { time: DateTime::from_timestamp(at, 0).unwrap(), source: "now".into() };
        let sigs: Vec<Signature> = p.tokens.iter().map(|_| Signature::Valid).collect();
        let out = judge(&p, &service(), &at, &sigs);
        for f in &out {
            let text = serde_json::to_string(f).unwrap();
            assert!(!text.contains(tok.trim()), "raw token in a finding");
        }
        out.into_iter().map(|f| f.id).collect()
    }

    #[test]
    fn audiences() {
        let s = service();
        let urls = s.all_urls();
        for ok in [
            "https://hello-1.europe-west1.run.app/",
            "https://hello-abc-ew.a.run.app",
            "https://canary---hello-1.europe-west1.run.app",
            "https://api.acme.example",
        ] {
            assert_eq!(audience_problem(ok, &urls, &s.custom_audiences), None, "{ok}");
        }
        let why = |a: &str| audience_problem(a, &urls, &s.custom_audiences).unwrap();
        assert!(why("https://hello-1.europe-west1.run.app/push").contains("path"));
        assert!(why("http://hello-1.europe-west1.run.app").contains("http"));
        assert!(why("https://other-1.europe-west1.run.app").contains("another service"));
        assert!(why("https://hello.acme.example").contains("custom domain"));
        assert!(why("1-abc.apps.googleusercontent.com").contains("OAuth client"));
    }

    #[test]
    fn kinds_and_times() {
        let good = json!({"iss": "https://accounts.google.com", "aud": "https://hello-1.europe-west1.run.app", "email": "a@b", "exp": 2000, "iat": 1000});
        assert!(ids(&jwt(good.clone(), "c2ln"), 1500).is_empty());
        assert_eq!(ids(&jwt(good.clone(), "c2ln"), 2500), ["token.expired"]);
        assert_eq!(ids("ya29.a0AfH6SMxyz", 0), ["token.not-id-token"]);
        let two = format!(
            "Authorization: Bearer {}\nAuthorization: Bearer {}",
            jwt(good.clone(), "c2ln"),
            jwt(good.clone(), "c2ln")
        );
        assert_eq!(ids(&two, 1500), ["token.multiple"]);
        assert_eq!(ids(&jwt(good, SIGNATURE_REMOVED), 1500), ["token.issuer"]);
        let fb = json!({"iss": "https://securetoken.google.com/p", "aud": "https://hello-1.europe-west1.run.app", "email": "a@b"});
        assert_eq!(ids(&jwt(fb, "c2ln"), 1500), ["token.issuer"]);
        let noemail = json!({"iss": "accounts.google.com", "aud": "https://hello-1.europe-west1.run.app", "sub": "1"});
        assert_eq!(ids(&jwt(noemail, "c2ln"), 1500), ["token.no-email"]);
        // A user's token from gcloud or ADC carries the tool's client id.
        for aud in runiam_core::api::run::USER_TOKEN_AUDIENCES {
            let user =
                json!({"iss": "https://accounts.google.com", "aud": aud, "email": "alice@acme.example", "exp": 2000});
            assert!(ids(&jwt(user, "c2ln"), 1500).is_empty(), "{aud}");
            let sa = json!({"iss": "https://accounts.google.com", "aud": aud, "email": "x@p.iam.gserviceaccount.com", "exp": 2000});
            assert_eq!(ids(&jwt(sa, "c2ln"), 1500), ["token.audience-mismatch"], "{aud}");
        }
        let other = json!({"iss": "https://accounts.google.com", "aud": "1-x.apps.googleusercontent.com", "email": "alice@acme.example", "exp": 2000});
        assert_eq!(ids(&jwt(other, "c2ln"), 1500), ["token.audience-mismatch"]);
    }

    proptest! {
        #[test]
        fn parse_never_panics(text in ".{0,400}", parts in prop::collection::vec("[A-Za-z0-9_=-]{0,60}", 0..5)) {
            let p = parse(&text);
            let at = At { time: Utc::now(), source: "now".into() };
            let _ = judge(&p, &service(), &at, &[]);
            let joined = parts.join(".");
            let p = parse(&joined);
            for k in &p.tokens {
                if let Kind::Jwt(j) = k {
                    let _ = verify(j, Some(&Jwks::default()));
                }
            }
            let _ = judge(&p, &service(), &at, &[]);
        }
    }
}
