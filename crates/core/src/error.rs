//! The one error every command returns, and the exit codes (docs/exit-codes.md).
//!
//! A `CommandError` carries the exit code, the error with its cause chain,
//! and `hint:` lines. It prints as
//!
//! ```text
//! runiam-export: error: <message>
//!
//! Caused by:
//!   1: <cause>
//!
//! hint: <hint>
//! ```

use std::error::Error as StdError;
use std::fmt;
use std::io::{self, Write};

use crate::redact::redact;

/// Process exit codes shared by every runiam binary. The doc comment of
/// each code is its meaning: `cargo xtask all` writes them into the man
/// pages' EXIT STATUS and `docs/exit-codes.md`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub enum Exit {
    /// Everything healthy: every caller ALLOWED, every check passed.
    Ok = 0,
    /// A problem was found, or health could not be confirmed (a verdict DENIED or UNKNOWN, a failed check).
    Problem = 1,
    /// Bad usage or bad input; nothing was written.
    Usage = 2,
    /// An API, network or auth error left no document to write.
    Api = 3,
    /// Refused for safety, and nothing was written: the write would go beyond what was asked (an edited
    /// plan, a public or broad grant without its flag, a role beyond invoking), drift since the record or
    /// snapshot, an org policy forbids it, a grant that cannot help (a deny policy, a missing or disabled
    /// account), or a plan's etag moved.
    Refused = 4,
    /// Stopped by Ctrl-C (SIGINT) during `--apply`, after recording what was written, or during `verify --watch`, with the report so far.
    Interrupted = 130,
    /// Stopped by SIGTERM during `--apply`, after recording what was written, or during `verify --watch`, with the report so far.
    Terminated = 143,
}

impl Exit {
    pub fn code(self) -> i32 {
        self as i32
    }
}

impl From<Exit> for std::process::ExitCode {
    fn from(e: Exit) -> Self {
        std::process::ExitCode::from(e as u8)
    }
}

type BoxError = Box<dyn StdError + Send + Sync + 'static>;

/// An error that ends a command, with its exit code and hints.
#[derive(Debug)]
pub struct CommandError {
    pub exit: Exit,
    pub error: BoxError,
    pub hints: Vec<String>,
}

/// A plain message as an error, for errors that have no type of their own.
#[derive(Debug)]
struct Message(String);

impl fmt::Display for Message {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl StdError for Message {}

impl CommandError {
    pub fn new(exit: Exit, error: impl Into<BoxError>) -> Self {
        Self { exit, error: error.into(), hints: Vec::new() }
    }

    /// Bad usage or bad input (exit 2).
    pub fn usage(message: impl Into<String>) -> Self {
        Self::new(Exit::Usage, Message(message.into()))
    }

    /// An API, network or auth failure (exit 3).
    pub fn api(message: impl Into<String>) -> Self {
        Self::new(Exit::Api, Message(message.into()))
    }

    /// Refused for safety (exit 4).
    pub fn refused(message: impl Into<String>) -> Self {
        Self::new(Exit::Refused, Message(message.into()))
    }

    /// Wraps `source` under a new top-level message, keeping the exit code.
    pub fn context(self, message: impl Into<String>) -> Self {
        let error = Contextual { message: message.into(), source: self.error };
        Self { exit: self.exit, error: Box::new(error), hints: self.hints }
    }

    pub fn hinted(mut self, hint: impl Into<String>) -> Self {
        self.hints.push(hint.into());
        self
    }

    /// True when stdout was closed under us (`runiam export | head`).
    pub fn is_broken_pipe(&self) -> bool {
        let mut cur: Option<&(dyn StdError + 'static)> = Some(self.error.as_ref());
        while let Some(e) = cur {
            if let Some(io) = e.downcast_ref::<io::Error>()
                && io.kind() == io::ErrorKind::BrokenPipe
            {
                return true;
            }
            cur = e.source();
        }
        false
    }

    /// Renders the error the way every runiam binary prints it.
    pub fn render(&self, program: &str) -> String {
        let label = crate::style::paint_err(crate::style::Tone::Bad, "error:");
        let mut out = format!("{program}: {label} {}\n", redact(&self.error.to_string()));
        let mut causes = Vec::new();
        let mut cur = self.error.source();
        while let Some(e) = cur {
            causes.push(redact(&e.to_string()));
            cur = e.source();
        }
        if !causes.is_empty() {
            out.push_str("\nCaused by:\n");
            for (i, c) in causes.iter().enumerate() {
                out.push_str(&format!("  {}: {c}\n", i + 1));
            }
        }
        if !self.hints.is_empty() {
            out.push('\n');
            for h in &self.hints {
                let label = crate::style::paint_err(crate::style::Tone::Warn, "hint:");
                out.push_str(&format!("{label} {}\n", redact(h)));
            }
        }
        out
    }

    /// Prints to stderr and returns the exit code to use.
    pub fn report(&self, program: &str) -> Exit {
        if self.is_broken_pipe() {
            return Exit::Ok;
        }
        let _ = io::stderr().write_all(self.render(program).as_bytes());
        self.exit
    }
}

impl fmt::Display for CommandError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.error)
    }
}

#[derive(Debug)]
struct Contextual {
    message: String,
    source: BoxError,
}

impl fmt::Display for Contextual {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.message)
    }
}

impl StdError for Contextual {
    fn source(&self) -> Option<&(dyn StdError + 'static)> {
        Some(self.source.as_ref())
    }
}

impl From<io::Error> for CommandError {
    fn from(e: io::Error) -> Self {
        // Only stdout/stderr and document files reach here; a failing local
        // write is an environment problem, reported like an API failure.
        Self::new(Exit::Api, e)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn renders_chain_and_hints() {
        let e = CommandError::new(Exit::Api, io::Error::other("connection refused"))
            .context("cannot reach run.googleapis.com")
            .hinted("check RUNIAM_EMULATOR_HOST");
        assert_eq!(
            e.render("runiam-export"),
            "runiam-export: error: cannot reach run.googleapis.com\n\nCaused by:\n  1: connection refused\n\nhint: check RUNIAM_EMULATOR_HOST\n"
        );
        assert_eq!(e.exit, Exit::Api);
    }

    #[test]
    fn broken_pipe_is_quiet_success() {
        let e = CommandError::from(io::Error::from(io::ErrorKind::BrokenPipe)).context("writing stdout");
        assert!(e.is_broken_pipe());
        assert_eq!(e.report("runiam-export"), Exit::Ok);
    }
}
