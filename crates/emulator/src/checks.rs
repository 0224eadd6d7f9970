//! The permission checks each API request made, for `GET
//! /emulator/v1/checks` (docs/emulator.md): which permission on which
//! resource, and whether the operator held it. It is how a test derives
//! the least privilege a command needs from the calls it really made.
//!
//! A request's checks are collected while the dispatcher holds the state's
//! lock, so concurrent requests never mix; a check made outside a request
//! (the front end, the token issuer) is not recorded.

use std::collections::VecDeque;
use std::sync::Mutex;

use serde::Serialize;

/// Requests kept; the oldest go first, so a load test cannot exhaust memory.
const MAX_REQUESTS: usize = 10_000;

/// One permission check.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Checked {
    pub permission: String,
    /// The policy key it was checked on (`projects/P`, a service's full name).
    pub resource: String,
    pub granted: bool,
}

/// One API request and the checks it made.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize)]
pub struct Served {
    pub method: String,
    pub host: String,
    pub path: String,
    /// The HTTP status it was answered with.
    pub status: u16,
    pub checks: Vec<Checked>,
}

#[derive(Debug, Default)]
struct Inner {
    current: Option<Served>,
    done: VecDeque<Served>,
}

/// The record; interior mutability because checks are made through `&State`.
#[derive(Debug, Default)]
pub struct Checks(Mutex<Inner>);

impl Checks {
    fn inner(&self) -> std::sync::MutexGuard<'_, Inner> {
        self.0.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    /// A request starts: its checks are collected until [`Checks::end`].
    pub fn begin(&self, method: &str, host: &str, path: &str) {
        let served =
            Served { method: method.to_owned(), host: host.to_owned(), path: path.to_owned(), ..Served::default() };
        self.inner().current = Some(served);
    }

    /// One check of the current request; none outside a request.
    pub fn record(&self, permission: &str, resource: &str, granted: bool) {
        if let Some(current) = self.inner().current.as_mut() {
            let check = Checked { permission: permission.to_owned(), resource: resource.to_owned(), granted };
            if !current.checks.contains(&check) {
                current.checks.push(check);
            }
        }
    }

    /// The current request is answered with `status`.
    pub fn end(&self, status: u16) {
        let mut inner = self.inner();
        if let Some(mut served) = inner.current.take() {
            served.status = status;
            if inner.done.len() >= MAX_REQUESTS {
                inner.done.pop_front();
            }
            inner.done.push_back(served);
        }
    }

    /// Every request recorded, oldest first.
    pub fn requests(&self) -> Vec<Served> {
        self.inner().done.iter().cloned().collect()
    }

    pub fn clear(&self) {
        *self.inner() = Inner::default();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn checks_belong_to_the_request_that_made_them_once_each() {
        let checks = Checks::default();
        checks.record("run.services.get", "projects/p", true);
        checks.begin("GET", "run.googleapis.com", "/v2/projects/p/locations/r/services/s");
        checks.record("run.services.get", "projects/p", true);
        checks.record("run.services.get", "projects/p", true);
        checks.record("run.services.getIamPolicy", "projects/p", false);
        checks.end(403);
        checks.begin("GET", "h", "/v1/projects/p/subscriptions");
        checks.end(200);
        let got = checks.requests();
        assert_eq!(got.len(), 2, "the check outside a request is not recorded");
        let perms: Vec<(&str, bool)> = got[0].checks.iter().map(|c| (c.permission.as_str(), c.granted)).collect();
        assert_eq!(perms, [("run.services.get", true), ("run.services.getIamPolicy", false)]);
        assert_eq!((got[0].status, got[1].status), (403, 200));
        assert!(got[1].checks.is_empty());
        checks.clear();
        assert!(checks.requests().is_empty());
    }
}
