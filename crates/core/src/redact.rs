//! Keeps credentials out of everything runiam prints.
//!
//! Any text that may echo a request (server messages, transport errors,
//! traces) passes through `redact` before it reaches stderr or a document.

/// Replaces OAuth access tokens (`ya29.…`), JWTs (`eyJ….….…`) and the value
/// after `Bearer ` with `[REDACTED]`.
pub fn redact(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let mut rest = text;
    while let Some((start, len)) = next_secret(rest) {
        out.push_str(&rest[..start]);
        out.push_str("[REDACTED]");
        rest = &rest[start + len..];
    }
    out.push_str(rest);
    out
}

fn token_char(c: char) -> bool {
    c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.' | '~' | '+' | '/' | '=')
}

/// The byte range of the first secret in `s`.
fn next_secret(s: &str) -> Option<(usize, usize)> {
    let candidates = [s.find("ya29."), s.find("eyJ"), s.find("Bearer ").map(|i| i + "Bearer ".len())];
    let start = candidates.into_iter().flatten().min()?;
    let len = s[start..].find(|c: char| !token_char(c)).unwrap_or(s.len() - start);
    if len == 0 {
        // "Bearer " followed by nothing secret: skip past it.
        let skip = start.max(1);
        return next_secret(&s[skip..]).map(|(i, l)| (i + skip, l));
    }
    Some((start, len))
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn hides_tokens() {
        assert_eq!(redact("Authorization: Bearer abc.def"), "Authorization: Bearer [REDACTED]");
        assert_eq!(redact("token ya29.a0AfH6SM-x_y was bad"), "token [REDACTED] was bad");
        assert_eq!(redact("jwt eyJhbGciOi.eyJzdWIi.c2ln!"), "jwt [REDACTED]!");
        assert_eq!(redact("nothing here"), "nothing here");
        assert_eq!(redact("Bearer "), "Bearer ");
    }

    proptest! {
        #[test]
        fn never_panics_and_removes_access_tokens(prefix in ".{0,20}", tok in "[A-Za-z0-9_-]{10,40}", suffix in "[ ,;].{0,20}") {
            let text = format!("{prefix} ya29.{tok}{suffix}");
            let out = redact(&text);
            let secret = format!("ya29.{}", tok);
            prop_assert!(!out.contains(&secret));
        }
    }
}
