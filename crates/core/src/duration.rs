//! The one duration syntax of every flag (`--expires 2h`, `--since 2d`,
//! `--wait 7m`, the emulator's `--latency 50ms`): whole numbers with a unit
//! each — `ms`, `s`, `m`, `h`, `d` — written alone or together (`1h30m`),
//! or a bare `0`. Each flag bounds the result as its meaning requires.

use std::fmt;
use std::time::Duration;

/// A duration that does not parse, with what was given.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("'{given}' is not a duration such as 500ms, 30s, 15m, 2h, 7d or 1h30m")]
pub struct DurationError {
    pub given: String,
}

/// Parses a duration in the syntax above.
pub fn parse(s: &str) -> Result<Duration, DurationError> {
    let bad = || DurationError { given: s.to_owned() };
    let t = s.trim();
    if t == "0" {
        return Ok(Duration::ZERO);
    }
    let mut total = Duration::ZERO;
    let mut rest = t;
    if rest.is_empty() {
        return Err(bad());
    }
    while !rest.is_empty() {
        let digits = rest.find(|c: char| !c.is_ascii_digit()).unwrap_or(rest.len());
        let n: u64 = rest[..digits].parse().map_err(|_| bad())?;
        let after = &rest[digits..];
        let unit_len = after.find(|c: char| c.is_ascii_digit()).unwrap_or(after.len());
        let millis_per: u64 = match &after[..unit_len] {
            "ms" => 1,
            "s" => 1_000,
            "m" => 60_000,
            "h" => 3_600_000,
            "d" => 86_400_000,
            _ => return Err(bad()),
        };
        let part = n.checked_mul(millis_per).ok_or_else(bad)?;
        total = total.checked_add(Duration::from_millis(part)).ok_or_else(bad)?;
        rest = &after[unit_len..];
    }
    Ok(total)
}

/// A duration as the flags take it: `250ms`, `90s`, `7m`, `2h`, `3d`.
pub struct Shown(pub Duration);

impl fmt::Display for Shown {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let ms = self.0.as_millis();
        let s = self.0.as_secs();
        match () {
            _ if !ms.is_multiple_of(1000) => write!(f, "{ms}ms"),
            _ if s >= 86_400 && s.is_multiple_of(86_400) => write!(f, "{}d", s / 86_400),
            _ if s >= 3_600 && s.is_multiple_of(3_600) => write!(f, "{}h", s / 3_600),
            _ if s >= 60 && s.is_multiple_of(60) => write!(f, "{}m", s / 60),
            _ => write!(f, "{s}s"),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn units_and_combinations() {
        let d = |s: &str| parse(s).unwrap();
        assert_eq!(d("250ms"), Duration::from_millis(250));
        assert_eq!(d("30s"), Duration::from_secs(30));
        assert_eq!(d("7m"), Duration::from_secs(420));
        assert_eq!(d("2h"), Duration::from_secs(7200));
        assert_eq!(d("2d"), Duration::from_secs(172_800));
        assert_eq!(d("1h30m"), Duration::from_secs(5400));
        assert_eq!(d(" 0 "), Duration::ZERO);
        for bad in ["", "7", "m", "7x", "-1s", "1.5m", "1h 30m", "99999999999999999999d", "213503982334601d"] {
            assert_eq!(parse(bad), Err(DurationError { given: bad.to_owned() }), "{bad}");
        }
        for shown in ["250ms", "20s", "90s", "7m", "2h", "3d"] {
            assert_eq!(Shown(d(shown)).to_string(), shown);
        }
    }

    proptest::proptest! {
        #[test]
        fn never_panics_and_round_trips(s in "\\PC{0,12}", n in 0u64..1_000_000, unit in 0usize..5) {
            let _ = parse(&s);
            let unit = ["ms", "s", "m", "h", "d"][unit];
            let d = parse(&format!("{n}{unit}")).unwrap();
            proptest::prop_assert_eq!(parse(&Shown(d).to_string()).unwrap(), d);
        }
    }
}
