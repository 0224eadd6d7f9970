//! `--watch DURATION`: once the checks pass, the request log of every
//! verified service is read once per `--interval` (one Logging
//! `entries.list` per service, the filter and classifier of `--logs`), and
//! the watch fails at the first read that finds Cloud Run refusing a
//! caller again, naming when, how many, and quoting them. A window with
//! none passes. Ctrl-C or SIGTERM stops it between reads, reported as not
//! finished.

use std::time::{Duration, Instant};

use chrono::{DateTime, SecondsFormat, Utc};
use indicatif::ProgressBar;
use runiam_core::api::Logging;
use runiam_core::doc::{Check, CheckResult};
use runiam_core::duration::Shown;
use runiam_core::model::ServiceRef;
use runiam_core::{Exit, interrupt};

use crate::checks::CheckName;
use crate::logs;

/// The shortest interval: Logging allows 60 reads a minute per project.
pub const MIN_INTERVAL: Duration = Duration::from_secs(1);
/// How often a sleep looks for a signal.
const TICK: Duration = Duration::from_millis(100);

/// The watch window and the time between reads.
#[derive(Clone, Copy, Debug)]
pub struct Window {
    pub length: Duration,
    pub interval: Duration,
}

/// How a watch ended: a check per service, and the exit a signal asks for.
pub struct Ended {
    pub checks: Vec<(ServiceRef, Check)>,
    pub signal: Option<Exit>,
}

/// Watches `targets` from `from` on, reading each once per interval, for
/// `window.length`; `progress` shows the time left.
pub async fn watch(
    logging: &Logging,
    targets: &[ServiceRef],
    from: DateTime<Utc>,
    window: Window,
    progress: &ProgressBar,
) -> Ended {
    let started = Instant::now();
    let at = from.to_rfc3339_opts(SecondsFormat::Secs, true);
    let length = Shown(window.length);
    let mut reads = 0u64;
    progress.set_length(window.length.as_millis() as u64);
    loop {
        reads += 1;
        for (i, target) in targets.iter().enumerate() {
            let entries = match logs::read(logging, target, from).await {
                Ok(e) => e,
                Err(why) => {
                    let check = CheckName::Watch.error(format!("stopped after {}: {why}", spent(started)));
                    return ended_by(targets, i, check);
                }
            };
            let seen = logs::refusals(&entries);
            if !seen.is_empty() {
                let times: Vec<&str> = seen.iter().filter_map(|e| e.timestamp).collect();
                let (first, last) = (times.iter().min().copied(), times.iter().max().copied());
                let when = match (first, last) {
                    (Some(f), Some(l)) if f != l => format!("from {f} to {l}"),
                    (Some(f), _) => format!("at {f}"),
                    _ => "at an unlogged time".to_owned(),
                };
                let detail = format!(
                    "{} Cloud Run 401/403 in the request logs {when}, {} into the {length} watch from {at}: \
                     callers are refused again",
                    logs::count(seen.len(), entries.len()),
                    spent(started)
                );
                let check = CheckName::Watch.with(CheckResult::Fail, detail, logs::quoted(seen));
                return ended_by(targets, i, check);
            }
        }
        let elapsed = started.elapsed();
        if elapsed >= window.length {
            let detail = format!(
                "no Cloud Run 401/403 in the request logs during the {length} watch from {at} ({reads} reads, \
                 verify's own calls aside)"
            );
            let checks = targets.iter().map(|t| (t.clone(), CheckName::Watch.pass(detail.clone()))).collect();
            return Ended { checks, signal: None };
        }
        let left = window.length - elapsed;
        if let Some(signal) = sleep(window.interval.min(left), started, window.length, progress).await {
            let detail = format!(
                "stopped by a signal after {} of the {length} watch from {at}: no Cloud Run 401/403 until then, \
                 the rest of the window was not watched",
                spent(started)
            );
            let checks = targets.iter().map(|t| (t.clone(), CheckName::Watch.error(detail.clone()))).collect();
            return Ended { checks, signal: Some(signal) };
        }
    }
}

/// `check` for the service `i`, and for the others a watch cut short by it.
fn ended_by(targets: &[ServiceRef], i: usize, check: Check) -> Ended {
    let cut = format!("the watch ended early, at what it found on {}", targets[i].full_name());
    let checks = targets
        .iter()
        .enumerate()
        .map(|(j, t)| (t.clone(), if i == j { check.clone() } else { CheckName::Watch.error(cut.clone()) }))
        .collect();
    Ended { checks, signal: None }
}

/// Sleeps `d`, or less when SIGINT or SIGTERM arrives: the exit it asks
/// for. The time left in the window shows as it goes.
async fn sleep(d: Duration, started: Instant, length: Duration, progress: &ProgressBar) -> Option<Exit> {
    let until = Instant::now() + d;
    loop {
        if let Some(signal) = interrupt::received().filter(|e| *e != Exit::Api) {
            return Some(signal);
        }
        let elapsed = started.elapsed().min(length);
        progress.set_position(elapsed.as_millis() as u64);
        progress.set_message(format!("watching for Cloud Run 401/403: none yet, {} left", remaining(length - elapsed)));
        let now = Instant::now();
        if now >= until {
            return None;
        }
        tokio::time::sleep(TICK.min(until - now)).await;
    }
}

fn spent(started: Instant) -> String {
    remaining(Duration::from_secs(started.elapsed().as_secs()))
}

/// A span to the second, largest units first: `47h 59m`, `3m 20s`, `9s`.
pub fn remaining(d: Duration) -> String {
    let s = d.as_secs();
    match (s / 3600, s % 3600 / 60, s % 60) {
        (0, 0, sec) => format!("{sec}s"),
        (0, m, sec) => format!("{m}m {sec}s"),
        (h, m, _) => format!("{h}h {m}m"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn time_left_reads_largest_units_first() {
        assert_eq!(remaining(Duration::from_secs(9)), "9s");
        assert_eq!(remaining(Duration::from_secs(200)), "3m 20s");
        assert_eq!(remaining(Duration::from_secs(48 * 3600 - 61)), "47h 58m");
    }
}
