//! Colour on terminals: verdicts, finding severities, diffs and error
//! labels, the way git and ripgrep colour theirs.
//!
//! `--color auto` (the default) colours a stream only when it is a terminal,
//! `NO_COLOR` is unset or empty (no-color.org) and `TERM` is not `dumb`;
//! `CLICOLOR_FORCE` forces it in a pipe. `--color always|never` overrides
//! all of them; `--no-color` is `--color never`. Documents (YAML, JSON,
//! Terraform) are never coloured: only the text renderings call [`paint`].

use std::io::IsTerminal;
use std::sync::atomic::{AtomicBool, Ordering};

/// `--color WHEN`.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, clap::ValueEnum)]
pub enum ColorChoice {
    /// Colour on a terminal, unless NO_COLOR is set or TERM is dumb.
    #[default]
    Auto,
    /// Always colour, even in a pipe.
    Always,
    /// Never colour.
    Never,
}

/// What a piece of text means, which decides its colour.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Tone {
    /// DENIED, FAIL, a cause, an error: red, bold.
    Bad,
    /// UNKNOWN, a risk, a hint: yellow.
    Warn,
    /// ALLOWED, PASS: green, bold.
    Good,
    /// A diff line that adds: green.
    Added,
    /// A diff line that removes: red.
    Removed,
    /// What only informs: dim.
    Quiet,
    /// The command to run next: bold.
    Strong,
}

/// The environment variables [`decide`] reads, as found.
#[derive(Clone, Debug, Default)]
pub struct ColorEnv {
    pub no_color: Option<String>,
    pub clicolor_force: Option<String>,
    pub term: Option<String>,
}

impl ColorEnv {
    pub fn from_process() -> Self {
        let get = |k: &str| std::env::var(k).ok();
        Self { no_color: get("NO_COLOR"), clicolor_force: get("CLICOLOR_FORCE"), term: get("TERM") }
    }
}

/// Whether a stream is coloured, given the flag, the environment and
/// whether the stream is a terminal.
pub fn decide(choice: ColorChoice, env: &ColorEnv, is_terminal: bool) -> bool {
    let set = |v: &Option<String>| v.as_deref().is_some_and(|v| !v.is_empty());
    match choice {
        ColorChoice::Never => false,
        ColorChoice::Always => true,
        ColorChoice::Auto if set(&env.no_color) => false,
        ColorChoice::Auto if set(&env.clicolor_force) && env.clicolor_force.as_deref() != Some("0") => true,
        ColorChoice::Auto if env.term.as_deref() == Some("dumb") => false,
        ColorChoice::Auto => is_terminal,
    }
}

static STDOUT: AtomicBool = AtomicBool::new(false);
static STDERR: AtomicBool = AtomicBool::new(false);

/// Decides once per process, for stdout and stderr, from `--color`.
pub fn init(choice: ColorChoice) {
    let env = ColorEnv::from_process();
    STDOUT.store(decide(choice, &env, std::io::stdout().is_terminal()), Ordering::Relaxed);
    STDERR.store(decide(choice, &env, std::io::stderr().is_terminal()), Ordering::Relaxed);
}

/// Whether stderr is coloured (for libraries that colour on their own).
pub fn stderr_enabled() -> bool {
    STDERR.load(Ordering::Relaxed)
}

/// `text` coloured for stdout by what it means, or as it is.
pub fn paint(tone: Tone, text: &str) -> String {
    painted(STDOUT.load(Ordering::Relaxed), tone, text)
}

/// `text` coloured for stderr by what it means, or as it is.
pub fn paint_err(tone: Tone, text: &str) -> String {
    painted(STDERR.load(Ordering::Relaxed), tone, text)
}

fn painted(enabled: bool, tone: Tone, text: &str) -> String {
    if !enabled || text.is_empty() {
        return text.to_owned();
    }
    let sgr = match tone {
        Tone::Bad => "1;31",
        Tone::Warn => "33",
        Tone::Good => "1;32",
        Tone::Added => "32",
        Tone::Removed => "31",
        Tone::Quiet => "2",
        Tone::Strong => "1",
    };
    format!("\x1b[{sgr}m{text}\x1b[0m")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn env(no_color: Option<&str>, force: Option<&str>, term: Option<&str>) -> ColorEnv {
        ColorEnv {
            no_color: no_color.map(str::to_owned),
            clicolor_force: force.map(str::to_owned),
            term: term.map(str::to_owned),
        }
    }

    #[test]
    fn the_flag_beats_the_environment_and_auto_follows_conventions() {
        use ColorChoice::*;
        // (choice, NO_COLOR, CLICOLOR_FORCE, TERM, terminal) -> coloured
        let cases = [
            (Auto, None, None, Some("xterm"), true, true),
            (Auto, None, None, Some("xterm"), false, false),
            (Auto, Some("1"), None, None, true, false),
            (Auto, Some(""), None, None, true, true),
            (Auto, None, Some("1"), None, false, true),
            (Auto, None, Some("0"), None, false, false),
            (Auto, Some("1"), Some("1"), None, false, false),
            (Auto, None, None, Some("dumb"), true, false),
            (Always, Some("1"), None, Some("dumb"), false, true),
            (Never, None, Some("1"), None, true, false),
        ];
        for (choice, nc, force, term, tty, want) in cases {
            assert_eq!(decide(choice, &env(nc, force, term), tty), want, "{choice:?} {nc:?} {force:?} {term:?} {tty}");
        }
    }

    #[test]
    fn painting_wraps_in_sgr_only_when_enabled() {
        assert_eq!(painted(true, Tone::Bad, "DENIED"), "\x1b[1;31mDENIED\x1b[0m");
        assert_eq!(painted(false, Tone::Bad, "DENIED"), "DENIED");
        assert_eq!(painted(true, Tone::Good, ""), "");
    }
}
