//! `--log FILE`: one line per request, appended as it is answered: time,
//! method, path (never the query, which may carry credentials), status,
//! latency to the answer's head, and who answered. Tokens never reach it.

use std::fs::File;
use std::io::Write;
use std::path::Path;
use std::sync::Mutex;
use std::time::Duration;

use chrono::{SecondsFormat, Utc};
use runiam_core::CommandError;

/// The open log file.
pub struct Log {
    file: Mutex<File>,
}

impl Log {
    /// Opens `path` for appending, creating it.
    pub fn open(path: &Path) -> Result<Self, CommandError> {
        let file = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(path)
            .map_err(|e| CommandError::usage(format!("--log {}: {e}", path.display())))?;
        Ok(Self { file: Mutex::new(file) })
    }

    /// Appends one request's line; a failed write is reported, never fatal.
    pub fn write(&self, method: &str, path: &str, status: u16, latency: Duration, by: &str) {
        let line = line(&Utc::now().to_rfc3339_opts(SecondsFormat::Millis, true), method, path, status, latency, by);
        let mut file = self.file.lock().unwrap_or_else(|p| p.into_inner());
        if let Err(e) = file.write_all(line.as_bytes()) {
            eprintln!("runiam proxy: cannot write to --log: {e}");
        }
    }
}

/// `TIME METHOD PATH STATUS LATENCYms BY`.
pub fn line(time: &str, method: &str, path: &str, status: u16, latency: Duration, by: &str) -> String {
    format!("{time} {method} {path} {status} {:.3}ms {by}\n", latency.as_secs_f64() * 1000.0)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_line_names_request_status_latency_and_answerer() {
        assert_eq!(
            line("2026-11-29T10:00:00.000Z", "GET", "/x", 403, Duration::from_micros(1500), "cloud-run"),
            "2026-11-29T10:00:00.000Z GET /x 403 1.500ms cloud-run\n"
        );
    }
}
