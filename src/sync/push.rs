//! The push half of a sync: the outbox sent in batches, two pushes in flight at once (the
//! next batch is read, built, compressed and sent while the server answers the one before),
//! each settled by exactly the versions its own answer acknowledges.
//!
//! Two in flight keep a slow link busy (a batch goes up while the one before waits out its
//! round trip) and overlap the device's work with the server's. A record in flight is never
//! in another batch: the next is read past the records in flight. After any failure the
//! rest of the sync sends one batch at a time and halves as it always did, so a record the
//! server cannot read is still found alone and quarantined. Each push asks for the changes
//! after the device's cursor (`?after=`), so the last answer brings what the pushes changed
//! and the pull after them is needed only when a page was full or a server sent none.

use std::collections::{HashSet, VecDeque};
use std::sync::Arc;

use chrono::{DateTime, Utc};
use tokio::task::JoinHandle;
use uuid::Uuid;

use super::engine::{self, BatchSize, Op, PushFailure};
use super::{blocking, pulled, to_wire, Client, Report, SyncError};
use crate::protocol::*;
use crate::store::{Enrolment, Pulled, Settled, Store};

/// Pushes in flight at once while nothing has failed.
pub const DEPTH: usize = 2;

/// One push sent and not yet answered.
struct InFlight {
    /// The batch size it was read at.
    size: usize,
    sent: Vec<(Uuid, i64)>,
    req: PushRequest,
    /// The pull cursor it asked after.
    after: i64,
    asked_at: DateTime<Utc>,
    task: JoinHandle<Result<PushResponse, SyncError>>,
}

impl InFlight {
    async fn answer(self) -> (InFlightDone, Result<PushResponse, SyncError>) {
        let answer = self.task.await.unwrap_or_else(|_| Err(SyncError::Protocol("push task".into())));
        (
            InFlightDone {
                size: self.size,
                sent: self.sent,
                req: self.req,
                after: self.after,
                asked_at: self.asked_at,
            },
            answer,
        )
    }
}

/// A push once answered.
struct InFlightDone {
    size: usize,
    sent: Vec<(Uuid, i64)>,
    req: PushRequest,
    after: i64,
    asked_at: DateTime<Utc>,
}

/// Sends the whole outbox. True when a pull must follow: nothing was pushed, or an answer
/// did not bring every change after the device's cursor.
pub(super) async fn push_all(
    store: &Arc<Store>,
    client: &Client,
    enrolment: &Enrolment,
    batch: &mut BatchSize,
    report: &mut Report,
) -> Result<bool, SyncError> {
    let mut flights: VecDeque<InFlight> = VecDeque::new();
    let mut depth = DEPTH;
    let mut halvings = 0;
    // Set once an empty push went through this sync: a 400 for a batch is then the batch's.
    let mut envelope_ok = false;
    let mut pull_needed = false;
    let mut answered = false;
    // The last read found nothing past the records in flight.
    let mut exhausted = false;
    loop {
        while flights.len() < depth && (flights.is_empty() || !exhausted) {
            // Read as if the pushes in flight succeed: the batch grows as it would serially.
            let size = flights.iter().fold(*batch, |b, _| b.after_success()).0;
            let busy: HashSet<Uuid> = flights.iter().flat_map(|f| f.sent.iter().map(|(id, _)| *id)).collect();
            let wanted = size + busy.len();
            let mut records = blocking(store, move |s| s.outbox_batch(wanted)).await?;
            exhausted = records.len() < wanted;
            records.retain(|r| !busy.contains(&r.meta.id));
            records.truncate(size);
            if records.is_empty() {
                exhausted = true;
                break;
            }
            let (queued, after) = blocking(store, |s| Ok((s.outbox_summary()?.pending, s.pull_cursor()?))).await?;
            let in_flight = busy.len() + records.len();
            let sent: Vec<(Uuid, i64)> = records.iter().map(|r| (r.meta.id, r.meta.version)).collect();
            let req = PushRequest {
                api_version: API_VERSION,
                device: DeviceReport {
                    queued: queued.saturating_sub(in_flight as u32),
                    app_version: env!("CARGO_PKG_VERSION").to_owned(),
                },
                records: records.iter().map(to_wire).collect(),
            };
            let (client, commune, token, body) =
                (client.clone(), enrolment.commune.clone(), enrolment.token.clone(), req.clone());
            let asked_at = Utc::now();
            let task = tokio::spawn(async move { client.push_after(&commune, &token, &body, Some(after)).await });
            flights.push_back(InFlight { size, sent, req, after, asked_at, task });
        }
        let Some(flight) = flights.pop_front() else {
            break;
        };
        let (done, answer) = flight.answer().await;
        match answer {
            Ok(answer) => {
                answered = true;
                let progress = settle(store, &done, &answer, report).await?;
                match &answer.pull {
                    Some(page) => {
                        let whole = apply_page(store, done.after, page, report).await?;
                        pull_needed |= !whole;
                    }
                    None => pull_needed = true,
                }
                *batch = batch.after_success();
                if progress == 0 {
                    // The server answered but settled nothing: stop rather than spin.
                    finish(store, &mut flights, report).await?;
                    return Err(SyncError::Protocol("no record settled".into()));
                }
            }
            Err(e) => {
                // One batch at a time from here; what the others got acknowledged is kept.
                depth = 1;
                exhausted = false;
                pull_needed = true;
                finish(store, &mut flights, report).await?;
                let (size, sent) = (done.size, &done.sent);
                match e {
                    SyncError::Offline | SyncError::TooLarge | SyncError::Server(_) => {
                        *batch = BatchSize(size).after_failure(PushFailure::TooBigOrSlow);
                        halvings += 1;
                        // A smaller batch right away may get through a weak link; after a few
                        // tries the failure is reported and the worker backs off.
                        if size == 1 || halvings > 4 {
                            return Err(e);
                        }
                    }
                    SyncError::Refused(400, _) if sent.len() > 1 => {
                        // A record the server could not read made it refuse the whole batch
                        // (an older server does that for a code it does not know): halve
                        // until that record is alone.
                        tracing::debug!(records = sent.len(), "batch refused with 400: halving");
                        *batch = BatchSize(sent.len() / 2);
                    }
                    SyncError::Refused(400, message) => {
                        // One record alone, refused. If the same push without it is accepted,
                        // the record is at fault: it goes to quarantine with the server's
                        // words, and the rest of the queue goes on. Otherwise the push itself
                        // is (and the record stays queued).
                        if !envelope_ok {
                            let empty = PushRequest { records: Vec::new(), ..done.req.clone() };
                            client.push(&enrolment.commune, &enrolment.token, &empty).await?;
                            envelope_ok = true;
                        }
                        let (id, version) = sent[0];
                        let reason =
                            if message.is_empty() { "Máy chủ từ chối bản ghi.".to_owned() } else { message };
                        tracing::debug!("a record refused alone with 400: quarantined");
                        report.rejected += 1;
                        blocking(store, move |s| s.settle_push(&[Settled::Rejected { id, version, reason }])).await?;
                    }
                    e => return Err(e),
                }
            }
        }
    }
    Ok(pull_needed || !answered)
}

/// Settles one answered push: each version its answer acknowledges leaves the outbox, each
/// refused one goes to quarantine, the rest stay queued. How many were settled.
async fn settle(
    store: &Arc<Store>,
    done: &InFlightDone,
    answer: &PushResponse,
    report: &mut Report,
) -> Result<usize, SyncError> {
    report.server_time = Some(answer.server_time);
    report.clock_offset_secs = (answer.server_time - done.asked_at).num_seconds();
    let settled: Vec<Settled> = engine::settle(&done.sent, answer)
        .into_iter()
        .filter_map(|op| match op {
            Op::Sent { id, version } => Some(Settled::Sent { id, version }),
            Op::Rejected { id, version, reason } => Some(Settled::Rejected { id, version, reason }),
            Op::Keep { .. } => None,
        })
        .collect();
    let progress = settled.len();
    report.sent += settled.iter().filter(|s| matches!(s, Settled::Sent { .. })).count();
    report.rejected += settled.iter().filter(|s| matches!(s, Settled::Rejected { .. })).count();
    blocking(store, move |s| s.settle_push(&settled)).await?;
    Ok(progress)
}

/// Waits for the pushes still in flight and settles those answered; a failed one leaves
/// its records queued (the caller goes on one batch at a time, or reports its own error).
async fn finish(store: &Arc<Store>, flights: &mut VecDeque<InFlight>, report: &mut Report) -> Result<(), SyncError> {
    while let Some(flight) = flights.pop_front() {
        if let (done, Ok(answer)) = flight.answer().await {
            settle(store, &done, &answer, report).await?;
        }
    }
    Ok(())
}

/// Applies the changes a push answer brought, in one store transaction with the cursor.
/// The page holds every change after `after` up to its cursor; the device's cursor may
/// have moved past `after` meanwhile (another answer's page), so only the changes past it
/// are applied. True when nothing after the device's cursor was left out (the page was not
/// cut short by its limit).
async fn apply_page(store: &Arc<Store>, after: i64, page: &PushPull, report: &mut Report) -> Result<bool, SyncError> {
    let (changes, skipped) = page.known();
    for seq in skipped {
        // A change of a kind this app does not know (a newer server's): passed over.
        tracing::warn!(seq, "pulled change of an unknown kind skipped");
    }
    let cursor = page.cursor;
    let (applied, joined) = blocking(store, move |s| {
        let now = s.pull_cursor()?;
        if after > now {
            // Cannot join the device's cursor (it never moves back): a pull follows.
            return Ok((0, false));
        }
        if cursor <= now {
            return Ok((0, true));
        }
        let fresh: Vec<Pulled> = changes.into_iter().filter(|(seq, _)| *seq > now).map(|(_, c)| pulled(c)).collect();
        let n = fresh.len();
        s.apply_pull(&fresh, cursor)?;
        Ok((n, true))
    })
    .await?;
    report.changes_pulled += applied;
    Ok(joined && !page.more)
}
