//! Ctrl-C, SIGTERM and `--timeout` during `--apply`. A write already sent is never
//! abandoned half-way: the signal is only noted, the in-flight write
//! finishes, and the command then records what it wrote (the ChangeRecord
//! with its backup path) before exiting 130 or 143. A signal before any
//! write leaves the service untouched. `verify --watch` notes signals the
//! same way and stops between two reads of the request log.

use std::sync::atomic::{AtomicI32, Ordering};

use crate::error::{CommandError, Exit};

/// The signal received (2 or 15), or 0; 14 when `--timeout` fired.
static RECEIVED: AtomicI32 = AtomicI32::new(0);
/// Writes under way (sent, answer not yet read).
static WRITING: AtomicI32 = AtomicI32::new(0);

/// Marks a write as under way while the guard lives (`change` holds one
/// around every request that writes).
pub fn writing_guard() -> impl Drop {
    struct Guard;
    impl Drop for Guard {
        fn drop(&mut self) {
            WRITING.fetch_sub(1, Ordering::SeqCst);
        }
    }
    WRITING.fetch_add(1, Ordering::SeqCst);
    Guard
}

/// Whether a write is under way.
pub fn writing() -> bool {
    WRITING.load(Ordering::SeqCst) > 0
}

/// `--timeout` fired during a write: stop as a signal would, after it.
pub fn time_out() {
    let _ = RECEIVED.compare_exchange(0, 14, Ordering::SeqCst, Ordering::SeqCst);
}

/// Starts noting SIGINT and SIGTERM instead of dying on them. Call it once
/// `--apply` (or a watch) is known, inside the command's runtime.
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
        14 => Some(Exit::Api),
        _ => None,
    }
}

/// The one line said when stopping for a signal.
pub fn message(exit: Exit, wrote: usize) -> String {
    let which = match exit {
        Exit::Terminated => "terminated",
        Exit::Api => "gave up (--timeout)",
        _ => "interrupted",
    };
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_timeout_during_a_write_waits_for_it_then_stops_like_a_signal() {
        assert!(!writing());
        {
            let _w = writing_guard();
            assert!(writing());
            time_out();
        }
        assert!(!writing());
        assert_eq!(received(), Some(Exit::Api));
        assert_eq!(
            message(Exit::Api, 1),
            "gave up (--timeout): the write under way finished; 1 change(s) recorded on stdout, with their backups"
        );
        assert_eq!(message(Exit::Interrupted, 0), "interrupted before any write; nothing was changed");
    }
}
