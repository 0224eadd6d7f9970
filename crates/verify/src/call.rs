//! The real call: a request to the service as the caller (its answer
//! classified in `answer`), retries through IAM propagation, and the smoke
//! load with its histogram and percentiles.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

use reqwest::Method;
use reqwest::header::{AUTHORIZATION, HOST, HeaderValue};
use runiam_core::CommandError;
use runiam_core::auth::Secret;
use runiam_core::redact::redact;
use serde_json::{Value, json};
use url::Url;

use crate::answer::{Answer, Expect, USER_AGENT, classify};
use crate::wire::{Plain, Sent};

/// How long one call may take, connection included.
const CALL_TIMEOUT: Duration = Duration::from_secs(30);

/// One call's answer and how long it took.
#[derive(Clone, Debug)]
pub struct Outcome {
    pub answer: Answer,
    pub latency: Duration,
    /// The start of the body, redacted (containers may echo headers).
    pub excerpt: String,
}

/// Where calls go: the service URL as the caller uses it, and, against
/// the emulator, its base URL with the service's Host. Clones share the
/// client and its connection pool.
#[derive(Clone)]
pub struct Endpoint {
    client: reqwest::Client,
    /// The URL as the caller sees it (evidence shows this one).
    pub url: Url,
    send_to: Url,
    host: Option<HeaderValue>,
    pub method: Method,
}

impl Endpoint {
    pub fn new(service_url: &str, path: &str, method: &str, emulator: Option<&Url>) -> Result<Self, CommandError> {
        let base = Url::parse(service_url)
            .map_err(|e| CommandError::usage(format!("the service URL '{service_url}' is not a URL: {e}")))?;
        if !path.starts_with('/') {
            return Err(CommandError::usage(format!("--path '{path}' must start with /")));
        }
        let url = base.join(path).map_err(|e| CommandError::usage(format!("--path '{path}': {e}")))?;
        let method = Method::from_bytes(method.to_ascii_uppercase().as_bytes())
            .map_err(|_| CommandError::usage(format!("--method '{method}' is not an HTTP method")))?;
        let (send_to, host) = match emulator {
            Some(e) => {
                let mut to = e.clone();
                to.set_path(url.path());
                to.set_query(url.query());
                let host = url.host_str().unwrap_or_default();
                let host = HeaderValue::from_str(host)
                    .map_err(|_| CommandError::usage(format!("the service URL '{service_url}' has no usable host")))?;
                (to, Some(host))
            }
            None => (url.clone(), None),
        };
        let client = reqwest::Client::builder()
            .user_agent(USER_AGENT)
            .timeout(CALL_TIMEOUT)
            .connect_timeout(Duration::from_secs(10))
            // The caller's own redirect would carry no token further.
            .redirect(reqwest::redirect::Policy::none())
            .build()
            .map_err(|e| CommandError::api(format!("cannot build an HTTP client: {e}")))?;
        Ok(Self { client, url, send_to, host, method })
    }

    /// One request with `auth` as its Authorization header: the answer, its
    /// latency and, when `excerpt`, the start of its body, redacted.
    async fn exchange(&self, auth: Option<&HeaderValue>, excerpt: bool) -> (Answer, Duration, String) {
        let mut req = self.client.request(self.method.clone(), self.send_to.clone());
        if let Some(h) = &self.host {
            req = req.header(HOST, h.clone());
        }
        if let Some(a) = auth {
            req = req.header(AUTHORIZATION, a.clone());
        }
        let started = Instant::now();
        let (answer, text) = match req.send().await {
            Ok(resp) => {
                let status = resp.status().as_u16();
                match resp.bytes().await {
                    Ok(b) => {
                        let text = if excerpt {
                            redact(&String::from_utf8_lossy(&b[..b.len().min(300)]))
                        } else {
                            String::new()
                        };
                        (classify(status, &b), text)
                    }
                    Err(e) => (Answer::Transport { error: redact(&e.to_string()) }, String::new()),
                }
            }
            // Against the emulator the URL is its port, which says nothing to the user.
            Err(e) => (Answer::Transport { error: redact(&e.without_url().to_string()) }, String::new()),
        };
        (answer, started.elapsed(), text)
    }

    /// One call with `token` as the bearer (none: anonymous).
    pub async fn call(&self, token: Option<&Secret>) -> Outcome {
        let auth = match token.map(bearer).transpose() {
            Ok(a) => a,
            Err(error) => {
                return Outcome {
                    answer: Answer::Transport { error: error.to_string() },
                    latency: Duration::ZERO,
                    excerpt: String::new(),
                };
            }
        };
        let (answer, latency, excerpt) = self.exchange(auth.as_ref(), true).await;
        Outcome { answer, latency, excerpt }
    }

    /// Calls until the answer meets `expect` or `wait` has passed, backing
    /// off from 1 s to 15 s: IAM changes take up to 7 minutes to reach
    /// Cloud Run. A progress bar of the seconds waited goes to stderr on a
    /// terminal only.
    pub async fn call_until(
        &self,
        token: Option<&Secret>,
        expect: Expect,
        wait: Duration,
        quiet: bool,
    ) -> (Outcome, u32) {
        let started = Instant::now();
        let deadline = started + wait;
        let bar =
            runiam_core::output::waiting(wait.as_secs().max(1), "waiting for IAM propagation", quiet || wait.is_zero());
        let mut pause = Duration::from_secs(1);
        let mut attempts = 0;
        loop {
            attempts += 1;
            let outcome = self.call(token).await;
            let now = Instant::now();
            if outcome.answer.meets(expect) || now >= deadline {
                bar.finish_and_clear();
                return (outcome, attempts);
            }
            bar.set_message(format!("waiting for IAM propagation: attempt {attempts} got {}", outcome.answer.key()));
            let until = now + pause.min(deadline - now);
            // The bar counts the seconds waited, also between attempts.
            while Instant::now() < until {
                bar.set_position(started.elapsed().as_secs());
                tokio::time::sleep((until - Instant::now()).min(Duration::from_millis(250))).await;
            }
            pause = (pause * 2).min(Duration::from_secs(15));
        }
    }

    /// One round of a load (the caller renews the token between rounds):
    /// `requests` calls, all with the same token, from `concurrency`
    /// spawned workers that each take the next request number until all are
    /// sent, as wrk's connections do: spread over the runtime's threads,
    /// where one stream of futures would poll them all from one. The header
    /// is built once and no body is kept. Plain-HTTP targets get wrk's
    /// design instead ([`Plain`]); others go through the client's pool.
    pub async fn load_round(
        &self,
        token: Option<&Secret>,
        requests: u64,
        concurrency: usize,
        sent: &Sent,
    ) -> Vec<(Answer, Duration)> {
        let auth = match token.map(bearer).transpose() {
            Ok(a) => a,
            Err(error) => return vec![(Answer::Transport { error: error.to_string() }, Duration::ZERO)],
        };
        if let Some(plain) = Plain::new(&self.send_to, self.host.as_ref(), &self.method, auth.as_ref(), CALL_TIMEOUT) {
            return plain.load(requests, concurrency.max(1), sent).await;
        }
        let workers = concurrency.max(1);
        let next = sent.track(requests);
        let share = usize::try_from(requests / workers as u64 + 1).unwrap_or(usize::MAX).min(1 << 16);
        let handles: Vec<_> = (0..workers)
            .map(|_| {
                let (endpoint, auth, next) = (self.clone(), auth.clone(), Arc::clone(&next));
                tokio::spawn(async move {
                    let mut out = Vec::with_capacity(share);
                    while next.fetch_add(1, Ordering::Relaxed) < requests {
                        let (answer, latency, _) = endpoint.exchange(auth.as_ref(), false).await;
                        out.push((answer, latency));
                    }
                    out
                })
            })
            .collect();
        let mut answers = Vec::new();
        for h in handles {
            match h.await {
                Ok(a) => answers.extend(a),
                Err(e) => {
                    answers.push((Answer::Transport { error: format!("a load worker stopped: {e}") }, Duration::ZERO))
                }
            }
        }
        answers
    }
}

/// A token that cannot travel in a header.
#[derive(Clone, Copy, Debug, thiserror::Error)]
#[error("the ID token holds characters an HTTP header cannot carry")]
struct NotHeaderSafe;

/// `Bearer TOKEN`, marked sensitive so no debug output shows it.
fn bearer(token: &Secret) -> Result<HeaderValue, NotHeaderSafe> {
    let mut v = HeaderValue::try_from(format!("Bearer {}", token.expose())).map_err(|_| NotHeaderSafe)?;
    v.set_sensitive(true);
    Ok(v)
}

/// How many failures a load report quotes.
const FAILURES_QUOTED: usize = 5;

/// What a smoke load saw.
#[derive(Clone, Debug, PartialEq)]
pub struct Load {
    pub requests: u64,
    pub concurrency: usize,
    /// Answers by status (`error` for no answer).
    pub statuses: BTreeMap<String, u64>,
    /// Latencies in milliseconds, sorted.
    pub latencies_ms: Vec<f64>,
    pub elapsed: Duration,
    /// Answers that did not meet the expectation.
    pub failed: u64,
    /// The first few of them, in words.
    pub failures: Vec<String>,
}

impl Load {
    pub fn from_answers(answers: &[(Answer, Duration)], expect: Expect, concurrency: usize, elapsed: Duration) -> Self {
        let mut statuses = BTreeMap::new();
        let mut failures = Vec::new();
        let mut failed = 0;
        for (a, _) in answers {
            *statuses.entry(a.key()).or_insert(0) += 1;
            if !a.meets(expect) {
                failed += 1;
                if failures.len() < FAILURES_QUOTED {
                    failures.push(a.describe());
                }
            }
        }
        let mut latencies_ms: Vec<f64> = answers.iter().map(|(_, l)| l.as_secs_f64() * 1000.0).collect();
        latencies_ms.sort_by(f64::total_cmp);
        Self { requests: answers.len() as u64, concurrency, statuses, latencies_ms, elapsed, failed, failures }
    }

    /// The nearest-rank percentile `p` (0 to 100) in milliseconds.
    pub fn percentile(&self, p: f64) -> f64 {
        percentile(&self.latencies_ms, p)
    }

    pub fn throughput(&self) -> f64 {
        let secs = self.elapsed.as_secs_f64();
        if secs > 0.0 { self.requests as f64 / secs } else { 0.0 }
    }

    /// `200 × 198, 403 × 2`.
    pub fn histogram(&self) -> String {
        self.statuses.iter().map(|(s, n)| format!("{s} × {n}")).collect::<Vec<_>>().join(", ")
    }

    pub fn summary(&self) -> String {
        format!(
            "{} requests, {} at a time: {}; p50 {:.1} ms, p95 {:.1} ms, p99 {:.1} ms, max {:.1} ms; {:.0} req/s",
            self.requests,
            self.concurrency,
            self.histogram(),
            self.percentile(50.0),
            self.percentile(95.0),
            self.percentile(99.0),
            self.latencies_ms.last().copied().unwrap_or(0.0),
            self.throughput()
        )
    }

    pub fn to_json(&self) -> Value {
        let round = |x: f64| (x * 1000.0).round() / 1000.0;
        json!({
            "requests": self.requests,
            "concurrency": self.concurrency,
            "statuses": self.statuses,
            "latencyMs": {
                "p50": round(self.percentile(50.0)),
                "p95": round(self.percentile(95.0)),
                "p99": round(self.percentile(99.0)),
                "max": round(self.latencies_ms.last().copied().unwrap_or(0.0)),
            },
            "throughputPerSecond": round(self.throughput()),
            "failed": self.failed,
            "firstFailures": self.failures,
        })
    }
}

/// Nearest-rank percentile of sorted values; 0 for none.
pub fn percentile(sorted: &[f64], p: f64) -> f64 {
    if sorted.is_empty() {
        return 0.0;
    }
    let rank = ((p / 100.0) * sorted.len() as f64).ceil() as usize;
    sorted[rank.clamp(1, sorted.len()) - 1]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn percentiles_and_histogram() {
        let answer = |status: u16, ms: u64| {
            let a = if status == 403 {
                Answer::CloudRun { status, reason: crate::answer::REASON_403 }
            } else {
                Answer::Container { status }
            };
            (a, Duration::from_millis(ms))
        };
        let mut answers: Vec<(Answer, Duration)> = (1..=98).map(|ms| answer(200, ms)).collect();
        answers.push(answer(403, 99));
        answers.push(answer(403, 100));
        let load = Load::from_answers(&answers, Expect::Allow, 10, Duration::from_secs(2));
        assert_eq!(load.histogram(), "200 × 98, 403 × 2");
        assert_eq!((load.percentile(50.0), load.percentile(95.0), load.percentile(99.0)), (50.0, 95.0, 99.0));
        assert_eq!(load.throughput(), 50.0);
        assert_eq!(load.failed, 2);
        assert!(load.failures[0].contains("run.routes.invoke"), "{:?}", load.failures);
        assert_eq!(percentile(&[], 50.0), 0.0);
    }

    #[test]
    fn emulator_calls_keep_the_service_host() {
        let emu = Url::parse("http://127.0.0.1:9/").unwrap();
        let e = Endpoint::new("https://api-1.europe-west1.run.app", "/x?y=1", "post", Some(&emu)).unwrap();
        assert_eq!(e.url.as_str(), "https://api-1.europe-west1.run.app/x?y=1");
        assert_eq!(e.send_to.as_str(), "http://127.0.0.1:9/x?y=1");
        assert_eq!(e.host.as_ref().unwrap(), "api-1.europe-west1.run.app");
        assert_eq!(e.method, Method::POST);
        assert!(Endpoint::new("https://a.run.app", "x", "GET", None).is_err());
    }
}
