//! The app-wide sync worker: one task per store file that syncs at start, after each save,
//! every few minutes while anything is queued, and on "Đồng bộ ngay"; one sync at a time,
//! exponential backoff with jitter after a failure.
//!
//! Runs as a tokio task (not a Dioxus task), so it outlives screens. Its status is kept in
//! the store's settings too, so the home screen shows the last sync after a restart.

use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::{Arc, Mutex, OnceLock};
use std::time::Duration;

use chrono::{DateTime, Utc};
use rand::Rng;
use tokio::sync::{watch, Notify};

use super::engine::{backoff, BatchSize};
use super::{run_once, SyncError};
use crate::store::Store;

/// What the home screen shows about syncing.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct SyncStatus {
    pub running: bool,
    pub last_success: Option<DateTime<Utc>>,
    /// The last failure (`i18n` words it); cleared by a success.
    pub last_error: Option<SyncError>,
    /// Server clock minus device clock, in seconds, from the last answer.
    pub clock_offset_secs: Option<i64>,
}

impl SyncStatus {
    /// True when the device clock is more than ten minutes off the server's.
    pub fn clock_is_off(&self) -> bool {
        self.clock_offset_secs.is_some_and(|s| s.abs() > 600)
    }
}

/// A handle on a running worker. Cheap to clone.
#[derive(Clone)]
pub struct SyncHandle {
    wake: Arc<Notify>,
    status: watch::Receiver<SyncStatus>,
}

impl SyncHandle {
    /// Asks for a sync now (after a save, or the volunteer's tap).
    pub fn sync_now(&self) {
        self.wake.notify_one();
    }

    pub fn status(&self) -> SyncStatus {
        self.status.borrow().clone()
    }

    pub fn subscribe(&self) -> watch::Receiver<SyncStatus> {
        self.status.clone()
    }

    /// Starts a worker for `store`. Use [`shared`] in the app so a store gets only one.
    pub fn start(store: Arc<Store>) -> SyncHandle {
        let wake = Arc::new(Notify::new());
        let (tx, rx) = watch::channel(load_status(&store));
        tokio::spawn(run(store, wake.clone(), tx));
        SyncHandle { wake, status: rx }
    }
}

/// The one worker of the store file at `store.path()`, started on first use. (Several
/// windows or liveview sessions may open the same file; they share its worker.)
pub fn shared(store: &Arc<Store>) -> SyncHandle {
    static WORKERS: OnceLock<Mutex<HashMap<PathBuf, SyncHandle>>> = OnceLock::new();
    let mut workers = WORKERS.get_or_init(Default::default).lock().unwrap_or_else(|p| p.into_inner());
    workers.entry(store.path().to_path_buf()).or_insert_with(|| SyncHandle::start(store.clone())).clone()
}

fn load_status(store: &Store) -> SyncStatus {
    SyncStatus {
        running: false,
        last_success: store
            .setting("last_sync_at")
            .ok()
            .flatten()
            .and_then(|s| DateTime::parse_from_rfc3339(&s).ok())
            .map(|t| t.with_timezone(&Utc)),
        last_error: store.setting("last_sync_error").ok().flatten().and_then(|s| SyncError::from_code(&s)),
        clock_offset_secs: store.setting("clock_offset_secs").ok().flatten().and_then(|s| s.parse().ok()),
    }
}

/// How long to wait before the next sync when nothing asks for one.
const QUEUED_INTERVAL: Duration = Duration::from_secs(3 * 60);
const IDLE_INTERVAL: Duration = Duration::from_secs(15 * 60);

async fn run(store: Arc<Store>, wake: Arc<Notify>, status: watch::Sender<SyncStatus>) {
    let mut batch = BatchSize::default();
    let mut failures: u32 = 0;
    loop {
        let enrolled = matches!(blocking(&store, |s| s.enrolment().map(|e| e.is_some())).await, Some(true));
        let wait = if !enrolled {
            None
        } else {
            status.send_modify(|s| s.running = true);
            let result = run_once(&store, &mut batch).await;
            let mut current = status.borrow().clone();
            current.running = false;
            let wait = match &result {
                Ok(report) => {
                    failures = 0;
                    current.last_success = Some(Utc::now());
                    current.last_error = None;
                    current.clock_offset_secs = Some(report.clock_offset_secs);
                    let queued = blocking(&store, |s| s.outbox_summary().map(|o| o.pending)).await.unwrap_or(0);
                    Some(if queued > 0 { QUEUED_INTERVAL } else { IDLE_INTERVAL })
                }
                Err(e) => {
                    current.last_error = Some(e.clone());
                    if e.is_permanent() {
                        // Nothing changes by itself: wait for the volunteer or a long time.
                        Some(IDLE_INTERVAL)
                    } else {
                        failures += 1;
                        Some(backoff(failures, rand::thread_rng().gen::<f64>()))
                    }
                }
            };
            save_status(&store, &current).await;
            status.send_replace(current);
            wait
        };
        match wait {
            Some(wait) => {
                let _ = tokio::time::timeout(wait, wake.notified()).await;
            }
            None => wake.notified().await,
        }
    }
}

async fn save_status(store: &Arc<Store>, s: &SyncStatus) {
    let (at, error, offset) = (
        s.last_success.map(|t| t.to_rfc3339()).unwrap_or_default(),
        s.last_error.as_ref().map(|e| e.code().to_owned()).unwrap_or_default(),
        s.clock_offset_secs.map(|o| o.to_string()).unwrap_or_default(),
    );
    let _ = blocking(store, move |st| {
        if !at.is_empty() {
            st.set_setting("last_sync_at", &at)?;
        }
        st.set_setting("last_sync_error", &error)?;
        if !offset.is_empty() {
            st.set_setting("clock_offset_secs", &offset)?;
        }
        Ok(())
    })
    .await;
}

async fn blocking<T: Send + 'static>(
    store: &Arc<Store>,
    f: impl FnOnce(&Store) -> Result<T, crate::store::StoreError> + Send + 'static,
) -> Option<T> {
    let store = store.clone();
    tokio::task::spawn_blocking(move || f(&store).ok()).await.ok().flatten()
}
