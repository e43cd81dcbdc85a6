//! The home screen: who is logging, what to record, what waits to be sent, today's and
//! this month's tallies, drafts to resume, and each hamlet's progress.

use chrono::{Datelike, Days, Local, NaiveDate};
use dioxus::prelude::*;

use super::components::ProgressBar;
use super::{call, Screen, Services, Ui};
use crate::domain::RecordKind;
use crate::store::Tallies;

/// Everything the home screen shows, read in one blocking call.
#[derive(Clone, PartialEq)]
struct HomeData {
    commune: String,
    sample: bool,
    volunteer: String,
    today: Tallies,
    month: Tallies,
    outbox: crate::store::OutboxSummary,
    drafts: Vec<crate::store::Draft>,
    progress: Vec<(crate::domain::Hamlet, crate::domain::coverage::Coverage)>,
    revoked: Option<crate::store::Wiped>,
    practice: u32,
}

#[component]
pub fn Home() -> Element {
    let ui = use_context::<Ui>();
    let services = use_context::<Services>();
    let data = use_resource(move || {
        let store = services.store.clone();
        let _ = (ui.revision)();
        let volunteer = (ui.volunteer)().unwrap_or_default();
        async move {
            call(&store, move |s| {
                let today = s.now().with_timezone(&Local).date_naive();
                let month_start = NaiveDate::from_ymd_opt(today.year(), today.month(), 1).unwrap_or(today);
                let tomorrow = today + Days::new(1);
                let reference = s.reference()?;
                Ok(HomeData {
                    commune: reference.commune.name.clone(),
                    sample: reference.commune.sample,
                    volunteer: reference.volunteer_name(&volunteer),
                    today: s.tallies(today, tomorrow)?,
                    month: s.tallies(month_start, tomorrow)?,
                    outbox: s.outbox_summary()?,
                    drafts: s.drafts()?,
                    progress: s.hamlet_progress()?,
                    revoked: s.revocation()?,
                    practice: if reference.commune.sample { s.practice_count()? } else { 0 },
                })
            })
            .await
        }
    });
    let t = ui.t();
    let guard = data.read();
    let d = match &*guard {
        None => return rsx! { div { class: "loading", "…" } },
        Some(Err(e)) => return rsx! { div { class: "fatal", role: "alert", "{t.store_error(e)}" } },
        Some(Ok(d)) => d.clone(),
    };
    drop(guard);
    let kinds = [
        (RecordKind::Visit, "🏠"),
        (RecordKind::SignatureHelp, "✍"),
        (RecordKind::Training, "👥"),
        (RecordKind::Outreach, "📢"),
    ];
    rsx! {
        section { class: "home",
            h1 { class: "commune", "{d.commune}" }
            if d.sample {
                p { class: "sample-banner", role: "note", "{t.sample_banner}" }
            }
            button { class: "who", "data-testid": "current-volunteer", onclick: move |_| ui.go(Screen::ChooseVolunteer),
                span { "👤 {d.volunteer}" }
                span { class: "switch", "{t.switch_volunteer}" }
            }
            div { class: "new-grid",
                for (kind, icon) in kinds {
                    button { class: "new-record", "data-kind": kind.code(),
                        onclick: move |_| ui.go(Screen::New(kind, None)),
                        span { class: "icon", "{icon}" }
                        span { "{t.new_record[kind.index()]}" }
                    }
                }
            }
            button { class: "secondary wide", "data-testid": "open-list", onclick: move |_| ui.go(Screen::List(None)), "🔎 {t.records}" }
            if let Some(w) = &d.revoked {
                div { class: "card revoked", role: "alert", "data-testid": "revoked-wiped", "{t.revoked_wiped(w)}" }
            }
            SyncCard { sample: d.sample, practice: d.practice, pending: d.outbox.pending, rejected: d.outbox.rejected }
            if !d.drafts.is_empty() {
                div { class: "card drafts",
                    h2 { "{t.drafts}" }
                    for draft in d.drafts {
                        DraftRow { key: "{draft.key}", draft }
                    }
                }
            }
            div { class: "card tallies",
                h2 { "{t.tallies}" }
                TallyTable { today: d.today, month: d.month }
            }
            div { class: "card",
                h2 { "{t.hamlet_progress}" }
                for (hamlet, coverage) in d.progress {
                    ProgressBar { key: "{hamlet.id}", name: hamlet.name, coverage }
                }
            }
            button { class: "secondary wide", "data-testid": "open-settings", onclick: move |_| ui.go(Screen::Settings), "⚙ {t.settings}" }
        }
    }
}

#[component]
fn TallyTable(today: Tallies, month: Tallies) -> Element {
    let t = use_context::<Ui>().t();
    let rows = [
        (t.tally_visits, today.visits, month.visits),
        (t.tally_signature_sessions, today.signature_sessions, month.signature_sessions),
        (t.tally_signed, today.signed, month.signed),
        (t.tally_trainings, today.trainings, month.trainings),
        (t.tally_attendance, today.attendance, month.attendance),
        (t.tally_outreach, today.outreach, month.outreach),
        (t.tally_person_times, today.person_times, month.person_times),
    ];
    rsx! {
        table {
            thead { tr { th { scope: "col", class: "what", "{t.tally_what}" } th { scope: "col", "{t.today}" } th { scope: "col", "{t.this_month}" } } }
            tbody {
                for (label, a, b) in rows {
                    tr { th { scope: "row", "{label}" } td { "{a}" } td { "{b}" } }
                }
            }
        }
    }
}

#[component]
fn DraftRow(draft: crate::store::Draft) -> Element {
    let ui = use_context::<Ui>();
    let services = use_context::<Services>();
    let t = ui.t();
    let kind = draft.form.kind();
    let when = draft.updated_at.with_timezone(&Local).format("%d/%m %H:%M").to_string();
    // The key of a draft for people added to a visit ends with that visit's id.
    let parent = draft.key.rsplit(':').next().and_then(|p| uuid::Uuid::parse_str(p).ok());
    let target = match draft.record_id {
        Some(id) => Screen::Edit(id),
        None => Screen::New(kind, parent),
    };
    let key = draft.key.clone();
    rsx! {
        div { class: "draft-row", "data-draft": "{draft.key}",
            span { "{t.kinds[kind.index()]} · {when}" }
            button { class: "small", "data-testid": "draft-resume", onclick: move |_| ui.go(target.clone()), "{t.resume}" }
            button { class: "small danger", "data-testid": "draft-discard", onclick: move |_| {
                    let store = services.store.clone();
                    let key = key.clone();
                    async move {
                        let _ = call(&store, move |s| s.discard_draft(&key)).await;
                        ui.changed();
                    }
                }, "{t.discard}" }
        }
    }
}

/// What waits to be sent, how the last sync went, and "Đồng bộ ngay".
#[component]
fn SyncCard(sample: bool, practice: u32, pending: u32, rejected: u32) -> Element {
    let ui = use_context::<Ui>();
    let services = use_context::<Services>();
    let mut status = use_signal(|| services.sync.status());
    let handle = services.sync.clone();
    // Follow the worker's status for this card (Shell refreshes the counts).
    use_future(move || {
        let mut rx = handle.subscribe();
        async move {
            while rx.changed().await.is_ok() {
                let s = rx.borrow().clone();
                status.set(s);
            }
        }
    });
    let t = ui.t();
    if sample {
        return rsx! {
            div { class: "card outbox", "data-testid": "outbox",
                if practice == 0 {
                    p { "{t.practice_not_sent}" }
                } else {
                    // The more practice records there are, the likelier someone takes them
                    // for real work: say plainly they stay here and how to record for real.
                    p { class: "note", role: "note", "data-testid": "practice-pile", "{t.practice_pile(practice)}" }
                }
                button { class: "secondary wide", "data-testid": "open-enrol", onclick: move |_| ui.go(Screen::Enrol), "{t.enrol_device}" }
            }
        };
    }
    let s = status();
    let last_at = s.last_success.map(|at| at.with_timezone(&Local).format("%H:%M %d/%m/%Y").to_string());
    let must_enrol_again =
        matches!(s.last_error, Some(crate::sync::SyncError::Revoked(_) | crate::sync::SyncError::Unauthorized(_)));
    let offline = matches!(s.last_error, Some(crate::sync::SyncError::Offline));
    let sync = services.sync.clone();
    rsx! {
        div { class: "card outbox", "data-testid": "outbox",
            p { class: "pending", "{t.pending_count(pending)}" }
            p { class: "sub", "data-testid": "last-sync",
                if let Some(at) = last_at {
                    "{t.last_sync} "
                    span { class: "nowrap", "{at}" }
                } else {
                    "{t.never_synced}"
                }
            }
            if let Some(e) = &s.last_error {
                // Offline is the normal state in the field: a calm note, not an alarm.
                p { class: if offline { "note" } else { "error" }, role: if offline { "status" } else { "alert" },
                    "data-testid": "sync-error", "{t.sync_error(e)}" }
            }
            if must_enrol_again {
                button { class: "secondary wide", "data-testid": "open-enrol", onclick: move |_| ui.go(Screen::Enrol), "{t.enrol_device}" }
            }
            if s.clock_is_off() {
                p { class: "error", role: "alert", "data-testid": "clock-warning", "⏰ {t.clock_off}" }
            }
            if rejected > 0 {
                p { class: "error", "{t.rejected_count(rejected)}" }
                button { class: "secondary wide", "data-testid": "open-quarantine",
                    onclick: move |_| ui.go(Screen::List(Some(crate::domain::SyncState::Rejected))), "{t.open_quarantine}" }
            }
            button { class: "primary wide", "data-testid": "sync-now", disabled: s.running,
                onclick: move |_| sync.sync_now(),
                if s.running { "{t.syncing}" } else { "⟳ {t.sync_now}" }
            }
        }
    }
}
