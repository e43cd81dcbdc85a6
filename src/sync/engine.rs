//! The sync decisions, as pure functions: what a push answer means for the outbox, how big
//! the next batch is, and how long to wait after a failure. No I/O, so a table of cases
//! tests them.

use std::collections::HashMap;
use std::time::Duration;

use uuid::Uuid;

use crate::protocol::{Applied, PushResponse};

/// What to do with one outbox entry after a push.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Op {
    /// The server has this version: the outbox row leaves.
    Sent { id: Uuid, version: i64 },
    /// The server refused this version: it goes to quarantine with the reason.
    Rejected { id: Uuid, version: i64, reason: String },
    /// No usable answer for it: it stays queued and goes again next time.
    Keep { id: Uuid },
}

/// Matches a push answer to the batch that was sent. Only an answer for the exact version
/// sent settles an entry; anything missing or mismatched is kept for the next push.
pub fn settle(sent: &[(Uuid, i64)], response: &PushResponse) -> Vec<Op> {
    let answers: HashMap<(Uuid, i64), &crate::protocol::RecordResult> =
        response.results.iter().map(|r| ((r.id, r.version), r)).collect();
    sent.iter()
        .map(|&(id, version)| match answers.get(&(id, version)) {
            // Stale: the server holds a newer version than this device's latest, which only a
            // restored old backup could cause; there is nothing better to send, so it is done.
            Some(r) if matches!(r.result, Applied::Applied | Applied::Duplicate | Applied::Stale) => {
                Op::Sent { id, version }
            }
            Some(r) => Op::Rejected {
                id,
                version,
                reason: r.reason.clone().unwrap_or_else(|| "Máy chủ từ chối bản ghi.".into()),
            },
            None => Op::Keep { id },
        })
        .collect()
}

/// Why a push failed, as far as batch sizing cares.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PushFailure {
    /// Timeout, 413 or 5xx: a smaller batch may get through.
    TooBigOrSlow,
    /// Anything else: the batch size is not the problem.
    Other,
}

/// Batch sizes: start at [`BatchSize::START`], halve after a timeout, 413 or 5xx, grow
/// back by doubling after each success, never above the server's limit.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct BatchSize(pub usize);

impl BatchSize {
    pub const START: usize = 100;
    pub const MAX: usize = crate::protocol::MAX_BATCH_RECORDS;

    pub fn after_success(self) -> BatchSize {
        BatchSize((self.0 * 2).min(Self::MAX))
    }

    pub fn after_failure(self, failure: PushFailure) -> BatchSize {
        match failure {
            PushFailure::TooBigOrSlow => BatchSize((self.0 / 2).max(1)),
            PushFailure::Other => self,
        }
    }
}

impl Default for BatchSize {
    fn default() -> Self {
        BatchSize(Self::START)
    }
}

/// Exponential backoff with full jitter: a random wait up to `base · 2^attempt`, capped.
/// `unit` is a random number in `[0, 1)`.
pub fn backoff(attempt: u32, unit: f64) -> Duration {
    const BASE_SECS: f64 = 5.0;
    const CAP_SECS: f64 = 600.0;
    let ceiling = (BASE_SECS * 2f64.powi(attempt.min(16) as i32)).min(CAP_SECS);
    Duration::from_secs_f64((ceiling * unit.clamp(0.0, 1.0)).max(1.0))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::protocol::{RecordResult, API_VERSION};

    fn id(n: u128) -> Uuid {
        Uuid::from_u128(n)
    }

    fn answer(results: Vec<(u128, i64, Applied, Option<&str>)>) -> PushResponse {
        PushResponse {
            api_version: API_VERSION,
            server_time: chrono::Utc::now(),
            results: results
                .into_iter()
                .map(|(n, v, result, reason)| RecordResult {
                    id: id(n),
                    version: v,
                    result,
                    reason: reason.map(Into::into),
                })
                .collect(),
            pull: None,
        }
    }

    #[test]
    fn each_answer_settles_exactly_the_version_sent() {
        let sent = [(id(1), 1), (id(2), 3), (id(3), 1), (id(4), 2), (id(5), 1), (id(6), 4)];
        let response = answer(vec![
            (1, 1, Applied::Applied, None),
            (2, 3, Applied::Duplicate, None),
            (3, 1, Applied::Stale, None),
            (4, 2, Applied::Rejected, Some("Thôn không có")),
            // An answer for another version of record 6 settles nothing.
            (6, 3, Applied::Applied, None),
            // An answer for a record not sent is ignored.
            (9, 1, Applied::Applied, None),
        ]);
        assert_eq!(
            settle(&sent, &response),
            vec![
                Op::Sent { id: id(1), version: 1 },
                Op::Sent { id: id(2), version: 3 },
                Op::Sent { id: id(3), version: 1 },
                Op::Rejected { id: id(4), version: 2, reason: "Thôn không có".into() },
                Op::Keep { id: id(5) },
                Op::Keep { id: id(6) },
            ]
        );
    }

    #[test]
    fn batches_halve_on_trouble_and_grow_back() {
        let table = [
            (100, Some(PushFailure::TooBigOrSlow), 50),
            (1, Some(PushFailure::TooBigOrSlow), 1),
            (100, Some(PushFailure::Other), 100),
            (100, None, 200),
            (400, None, 500),
        ];
        for (from, failure, to) in table {
            let next = match failure {
                Some(f) => BatchSize(from).after_failure(f),
                None => BatchSize(from).after_success(),
            };
            assert_eq!(next, BatchSize(to), "from {from} after {failure:?}");
        }
    }

    #[test]
    fn backoff_grows_with_jitter_and_is_capped() {
        assert_eq!(backoff(0, 0.0), Duration::from_secs(1));
        assert!(backoff(0, 0.999) <= Duration::from_secs(5));
        assert!(backoff(3, 0.999) <= Duration::from_secs(40));
        assert!(backoff(3, 0.999) > Duration::from_secs(35));
        assert!(backoff(30, 0.999) <= Duration::from_secs(600));
        assert!(backoff(30, 0.5) < backoff(30, 0.9));
    }
}
