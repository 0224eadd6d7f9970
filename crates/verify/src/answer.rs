//! Who answered a call: Cloud Run's front end, recognised by its own
//! refusal pages (their text is Cloud Run's, see docs/emulator.md), or the
//! container, whatever its status. The real call (`call`) and the load's
//! wire client (`wire`) both classify through here.

/// verify's calls say who made them, so `--logs` can leave them out.
pub const USER_AGENT: &str = concat!("runiam-verify/", env!("CARGO_PKG_VERSION"));

/// What the caller expects of the call.
#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
pub enum Expect {
    /// The call gets through Cloud Run to the container.
    Allow,
    /// Cloud Run refuses the call with its 403.
    Deny,
}

impl Expect {
    pub fn word(self) -> &'static str {
        match self {
            Expect::Allow => "allow",
            Expect::Deny => "deny",
        }
    }
}

/// Who answered a call.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Answer {
    /// Cloud Run's front end refused it before any container saw it.
    CloudRun { status: u16, reason: &'static str },
    /// The request reached the container, which answered `status`.
    Container { status: u16 },
    /// No HTTP answer at all.
    Transport { error: String },
}

const REASON_401: &str =
    "Cloud Run did not accept the ID token (audience, issuer, expiry or signature), so IAM was never asked";
const REASON_IAP: &str = "IAP refused the request before Cloud Run (no IAP credentials)";
pub(crate) const REASON_403: &str =
    "Cloud Run refused the caller: its principal lacks run.routes.invoke on the service (or no credential was sent)";
const REASON_404: &str =
    "Cloud Run served no service at this URL from this origin (ingress, a disabled default URL, or a wrong URL)";

/// Whether [`classify`] needs the body of an answer with `status`: only
/// Cloud Run's own refusals are told apart by their text, so the load
/// path keeps no body for any other answer.
pub fn reads_body(status: u16) -> bool {
    matches!(status, 401 | 403 | 404)
}

/// Classifies an answer by its status and body: Cloud Run's own pages
/// (docs/cloud-run.md) are recognised by their text, anything else is the
/// container's, whatever its status.
pub fn classify(status: u16, body: &[u8]) -> Answer {
    if !reads_body(status) {
        return Answer::Container { status };
    }
    let text = String::from_utf8_lossy(&body[..body.len().min(4096)]);
    let page = |h1: &str| text.contains(h1);
    let reason = match status {
        401 if page("<h1>Error: Unauthorized</h1>")
            && text.contains("Your client does not have permission to the requested URL") =>
        {
            Some(REASON_401)
        }
        401 if text.starts_with("Invalid IAP credentials") => Some(REASON_IAP),
        403 if page("<h1>Error: Forbidden</h1>")
            && text.contains("Your client does not have permission to get URL") =>
        {
            Some(REASON_403)
        }
        404 if page("<h1>Error: Page not found</h1>")
            || (page("<h1>Error: Not Found</h1>") && text.contains("was not found on this server")) =>
        {
            Some(REASON_404)
        }
        _ => None,
    };
    match reason {
        Some(reason) => Answer::CloudRun { status, reason },
        None => Answer::Container { status },
    }
}

impl Answer {
    /// Whether the answer is what `expect` asks for.
    pub fn meets(&self, expect: Expect) -> bool {
        matches!(
            (expect, self),
            (Expect::Allow, Answer::Container { .. }) | (Expect::Deny, Answer::CloudRun { status: 403, .. })
        )
    }

    /// The status, or `error` for no answer (histogram keys).
    pub fn key(&self) -> String {
        match self {
            Answer::CloudRun { status, .. } | Answer::Container { status } => status.to_string(),
            Answer::Transport { .. } => "error".to_owned(),
        }
    }

    /// The answer in words.
    pub fn describe(&self) -> String {
        match self {
            Answer::CloudRun { status, reason } => format!("Cloud Run's {status}: {reason}"),
            Answer::Container { status } => format!("{status} from the container"),
            Answer::Transport { error } => format!("no answer: {error}"),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const FORBIDDEN: &str = "<html><head>\n<meta http-equiv=\"content-type\" content=\"text/html;charset=utf-8\">\n<title>403 Forbidden</title>\n</head>\n<body text=#000000 bgcolor=#ffffff>\n<h1>Error: Forbidden</h1>\n<h2>Your client does not have permission to get URL <code>/</code> from this server.</h2>\n<h2></h2>\n</body></html>\n";
    const UNAUTHORIZED: &str = "<html><head>\n<title>401 Unauthorized</title>\n</head>\n<body text=#000000 bgcolor=#ffffff>\n<h1>Error: Unauthorized</h1>\n<h2>Your client does not have permission to the requested URL <code>/convert</code>.</h2>\n<h2></h2>\n</body></html>\n";
    const NOT_FOUND: &str = "<html><head>\n<title>404 Page not found</title>\n</head>\n<body>\n<h1>Error: Page not found</h1>\n<h2>The requested URL <code>/</code> was not found on this server.</h2>\n</body></html>\n";

    #[test]
    fn cloud_run_pages_are_told_from_the_container() {
        assert!(matches!(classify(403, FORBIDDEN.as_bytes()), Answer::CloudRun { status: 403, .. }));
        assert!(matches!(classify(401, UNAUTHORIZED.as_bytes()), Answer::CloudRun { status: 401, .. }));
        assert!(matches!(classify(404, NOT_FOUND.as_bytes()), Answer::CloudRun { status: 404, .. }));
        assert_eq!(
            classify(401, b"Invalid IAP credentials: empty token\n"),
            Answer::CloudRun { status: 401, reason: REASON_IAP }
        );
        // The app's own refusals and errors are the container's.
        assert_eq!(classify(403, b"{\"error\":\"forbidden\"}"), Answer::Container { status: 403 });
        assert_eq!(classify(401, b"token expired"), Answer::Container { status: 401 });
        assert_eq!(classify(404, b"Cannot GET /x"), Answer::Container { status: 404 });
        assert_eq!(classify(200, FORBIDDEN.as_bytes()), Answer::Container { status: 200 });
    }

    #[test]
    fn expectations() {
        let through = Answer::Container { status: 500 };
        let refused = Answer::CloudRun { status: 403, reason: REASON_403 };
        let bad_token = Answer::CloudRun { status: 401, reason: REASON_401 };
        assert!(through.meets(Expect::Allow) && !through.meets(Expect::Deny));
        assert!(refused.meets(Expect::Deny) && !refused.meets(Expect::Allow));
        // A 401 proves nothing about IAM either way.
        assert!(!bad_token.meets(Expect::Deny) && !bad_token.meets(Expect::Allow));
    }

    proptest::proptest! {
        #[test]
        fn classify_never_panics(status in 100u16..600, body in proptest::collection::vec(proptest::num::u8::ANY, 0..600)) {
            let _ = classify(status, &body);
        }
    }
}
