//! What keeps the server usable when someone outside tries to exhaust it: request counts per
//! device, per client address and overall ([`RateLimiter`]), the client's address as the
//! connection gives it ([`Peer`]), and a bound on password checks running at once
//! ([`PasswordGate`]: argon2 at the crate's default parameters takes about 19 MiB each).
//!
//! The address is the TCP peer's, from `ConnectInfo<SocketAddr>` (the binary serves with
//! `into_make_service_with_connect_info`). Behind a reverse proxy every client has the
//! proxy's address, so the per-address limits become one shared limit; the global ones and
//! the per-name lock-out still hold.

use std::collections::HashMap;
use std::convert::Infallible;
use std::net::{IpAddr, SocketAddr};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{mpsc, Arc, Mutex};
use std::time::{Duration, Instant};

use axum::extract::{ConnectInfo, FromRequestParts};
use axum::http::request::Parts;
use tokio::sync::{Semaphore, SemaphorePermit};

/// Most keys a [`RateLimiter`] remembers; past that, keys whose window has passed are
/// forgotten, and while it is still full a new key shares one count with the others.
const MAX_KEYS: usize = 20_000;

/// A fixed-window request counter per key (a device id, `enrol`, `login:ADDRESS`, …).
pub struct RateLimiter {
    limit: u32,
    window: Duration,
    counts: Mutex<HashMap<String, (Instant, u32)>>,
}

impl RateLimiter {
    pub fn new(limit: u32, window: Duration) -> RateLimiter {
        RateLimiter { limit, window, counts: Mutex::new(HashMap::new()) }
    }

    /// Counts one request for `key`; false once the key is over its limit in this window.
    pub fn allow(&self, key: &str) -> bool {
        let mut counts = self.counts.lock().unwrap_or_else(|p| p.into_inner());
        let now = Instant::now();
        if counts.len() >= MAX_KEYS && !counts.contains_key(key) {
            counts.retain(|_, (start, _)| now.duration_since(*start) < self.window);
        }
        // Still full: many addresses at once. They share one count rather than grow the map.
        let key = if counts.len() >= MAX_KEYS && !counts.contains_key(key) { "(overflow)" } else { key };
        let entry = counts.entry(key.to_owned()).or_insert((now, 0));
        if now.duration_since(entry.0) >= self.window {
            *entry = (now, 0);
        }
        entry.1 = entry.1.saturating_add(1);
        entry.1 <= self.limit
    }
}

/// The client's address, when the server was started with connect info (`None` otherwise:
/// every such client then shares one per-address count).
#[derive(Debug, Clone, Copy)]
pub struct Peer(pub Option<IpAddr>);

impl Peer {
    /// The key the per-address limits count under. An IPv6 client is counted by its /64,
    /// the block one household or phone gets, so that walking through its own addresses
    /// gains nothing.
    pub fn key(&self) -> String {
        match self.0.map(|ip| ip.to_canonical()) {
            None => "unknown".into(),
            Some(IpAddr::V4(v4)) => v4.to_string(),
            Some(IpAddr::V6(v6)) => {
                let s = v6.segments();
                format!("{:x}:{:x}:{:x}:{:x}::/64", s[0], s[1], s[2], s[3])
            }
        }
    }
}

impl<S: Send + Sync> FromRequestParts<S> for Peer {
    type Rejection = Infallible;

    async fn from_request_parts(parts: &mut Parts, _: &S) -> Result<Self, Self::Rejection> {
        Ok(Peer(parts.extensions.get::<ConnectInfo<SocketAddr>>().map(|c| c.0.ip())))
    }
}

/// At most `threads` password checks at once, each on one of the gate's own threads; a
/// login that cannot start one within `wait` is answered "try again later" instead of
/// queueing without end.
///
/// The checks run on a few threads kept for them, each keeping its argon2 memory from one
/// check to the next (`accounts`): what password checks hold stays at `threads` × 19 MiB,
/// whatever the load. On tokio's blocking pool they would spread over many threads, each
/// keeping its own.
pub struct PasswordGate {
    permits: Semaphore,
    wait: Duration,
    checks: AtomicU64,
    jobs: Mutex<mpsc::Sender<Job>>,
}

type Job = Box<dyn FnOnce() + Send>;

impl PasswordGate {
    pub fn new(threads: usize, wait: Duration) -> PasswordGate {
        let (tx, rx) = mpsc::channel::<Job>();
        let rx = Arc::new(Mutex::new(rx));
        for _ in 0..threads {
            let rx = rx.clone();
            // The thread ends when the gate (and with it the sender) is dropped.
            let _ = std::thread::Builder::new().name("sotay-password".into()).spawn(move || loop {
                let job = rx.lock().unwrap_or_else(|p| p.into_inner()).recv();
                match job {
                    Ok(job) => job(),
                    Err(_) => break,
                }
            });
        }
        PasswordGate { permits: Semaphore::new(threads), wait, checks: AtomicU64::new(0), jobs: Mutex::new(tx) }
    }

    /// A place for one password check, or `None` when the server is too busy.
    pub async fn enter(&self) -> Option<SemaphorePermit<'_>> {
        tokio::time::timeout(self.wait, self.permits.acquire()).await.ok()?.ok()
    }

    /// Runs one password check on the gate's threads (the caller holds a place from
    /// [`PasswordGate::enter`]); `None` if the check could not run to its end.
    pub async fn check<T: Send + 'static>(&self, work: impl FnOnce() -> T + Send + 'static) -> Option<T> {
        self.checks.fetch_add(1, Ordering::Relaxed);
        let (tx, rx) = tokio::sync::oneshot::channel();
        let job: Job = Box::new(move || {
            let _ = tx.send(work());
        });
        self.jobs.lock().unwrap_or_else(|p| p.into_inner()).send(job).ok()?;
        rx.await.ok()
    }

    /// How many password checks have run.
    pub fn checks(&self) -> u64 {
        self.checks.load(Ordering::Relaxed)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    // The window has to pass: this test waits for it on purpose.
    #[allow(clippy::disallowed_methods)]
    fn a_key_over_its_limit_is_refused_until_the_window_passes_and_other_keys_are_not_touched() {
        let l = RateLimiter::new(2, Duration::from_millis(200));
        assert!(l.allow("a") && l.allow("a"));
        assert!(!l.allow("a"));
        assert!(l.allow("b"));
        std::thread::sleep(Duration::from_millis(250));
        assert!(l.allow("a"));
    }

    #[test]
    fn a_flood_of_new_keys_does_not_grow_the_map_past_its_bound() {
        let l = RateLimiter::new(1_000_000, Duration::from_secs(60));
        for i in 0..(MAX_KEYS + 5_000) {
            l.allow(&format!("k{i}"));
        }
        assert!(l.counts.lock().unwrap().len() <= MAX_KEYS + 1);
    }

    #[tokio::test]
    async fn the_gate_runs_checks_on_its_own_threads_and_refuses_a_place_once_all_are_taken() {
        let gate = PasswordGate::new(2, Duration::from_millis(20));
        let a = gate.enter().await.unwrap();
        let b = gate.enter().await.unwrap();
        assert!(gate.enter().await.is_none());
        let name = gate.check(|| std::thread::current().name().map(str::to_owned)).await.unwrap();
        assert_eq!(name.as_deref(), Some("sotay-password"));
        assert_eq!(gate.checks(), 1);
        drop((a, b));
        assert!(gate.enter().await.is_some());
    }

    #[test]
    fn ipv6_clients_are_counted_by_their_64_and_mapped_ipv4_as_ipv4() {
        let a: IpAddr = "2001:db8:1:2:aaaa::1".parse().unwrap();
        let b: IpAddr = "2001:db8:1:2:ffff:1:2:3".parse().unwrap();
        assert_eq!(Peer(Some(a)).key(), Peer(Some(b)).key());
        let mapped: IpAddr = "::ffff:192.0.2.7".parse().unwrap();
        assert_eq!(Peer(Some(mapped)).key(), "192.0.2.7");
        assert_eq!(Peer(None).key(), "unknown");
    }
}
