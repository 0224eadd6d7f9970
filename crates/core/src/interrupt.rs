//! Ctrl-C and SIGTERM during `--apply`. A write already sent is never
//! abandoned half-way: the signal is only noted, the in-flight write
//! finishes, and the command then records what it wrote (the ChangeRecord
//! with its backup path) before exiting 130 or 143. A signal before any
//! write leaves the service untouched.

use std::sync::atomic::{AtomicI32, Ordering};

use crate::error::{CommandError, Exit};

/// The signal received (2 or 15), or 0.
static RECEIVED: AtomicI32 = AtomicI32::new(0);

/// Starts noting SIGINT and SIGTERM instead of dying on them. Call it once
/// `--apply` is known, inside the command's runtime.
pub fn watch() {
    use tokio::signal::unix::{SignalKind, signal};
    for (kind, number) in [(SignalKind::interrupt(), 2), (SignalKind::terminate(), 15)] {
        if let Ok(mut s) = signal(kind) {
            tokio::spawn(async move {
                while s.recv().await.is_some() {
                    RECEIVED.store(number, Ordering::SeqCst);
                }
            });
        }
    }
}

/// The exit code a received signal calls for, if one was received.
pub fn received() -> Option<Exit> {
    match RECEIVED.load(Ordering::SeqCst) {
        2 => Some(Exit::Interrupted),
        15 => Some(Exit::Terminated),
        _ => None,
    }
}

/// The one line said when stopping for a signal.
pub fn message(exit: Exit, wrote: usize) -> String {
    let which = if exit == Exit::Terminated { "terminated" } else { "interrupted" };
    if wrote == 0 {
        format!("{which} before any write; nothing was changed")
    } else {
        format!("{which}: the write under way finished; {wrote} change(s) recorded on stdout, with their backups")
    }
}

/// Called right before a write is sent: a signal received by then stops
/// the command with nothing written, and says so.
pub fn stop_before_write() -> Result<(), CommandError> {
    match received() {
        Some(signal) => Err(CommandError::new(signal, std::io::Error::other(message(signal, 0)))),
        None => Ok(()),
    }
}
