//! One record: its fields, sync state, history of versions, and edit / void / add-person.

use dioxus::prelude::*;
use uuid::Uuid;

use super::components::StateBadge;
use super::list::record_title;
use super::{call, Screen, Services, Ui};
use crate::domain::*;
use crate::store::StoreError;

#[derive(Clone, PartialEq)]
struct DetailData {
    record: Record,
    history: Vec<HistoryEntry>,
    reference: ReferenceData,
    /// The visit or meeting this signature session belongs to.
    parent: Option<Record>,
    /// The people helped at this visit or meeting.
    children: Vec<Record>,
}

#[component]
pub fn Detail(id: Uuid) -> Element {
    let ui = use_context::<Ui>();
    let services = use_context::<Services>();
    let store = services.store.clone();
    let data = use_resource(move || {
        let _ = (ui.revision)();
        let store = store.clone();
        async move {
            call(&store, move |s| {
                let record = s.get(id)?.ok_or(StoreError::NotFound)?;
                let parent = match record.body.parent_id() {
                    Some(p) => s.get(p)?,
                    None => None,
                };
                let children = s.children(id)?;
                Ok(DetailData { record, history: s.history(id)?, reference: s.reference()?, parent, children })
            })
            .await
        }
    });
    let mut confirming = use_signal(|| false);
    let mut reason = use_signal(String::new);
    let mut status = use_signal(|| None::<String>);
    let t = ui.t();
    let guard = data.read();
    let d = match &*guard {
        None => return rsx! { div { class: "loading", "…" } },
        Some(Err(e)) => return rsx! { div { class: "fatal", role: "alert", "{t.store_error(e)}" } },
        Some(Ok(d)) => d.clone(),
    };
    drop(guard);
    let r = d.record.clone();
    let kind = r.body.kind();
    let version = r.meta.version;
    let void_store = services.store.clone();
    let void_sync = services.sync.clone();
    let on_void = move |_| {
        let store = void_store.clone();
        let sync = void_sync.clone();
        let volunteer = (ui.volunteer)().unwrap_or_default();
        let why = reason();
        let mut ui = ui;
        async move {
            match call(&store, move |s| s.void(id, version, &volunteer, &why)).await {
                Ok(_) => {
                    sync.sync_now();
                    confirming.set(false);
                    ui.flash.set(Some(ui.t().voided_done.to_owned()));
                    ui.changed();
                }
                Err(e) => status.set(Some(ui.t().store_error(&e))),
            }
        }
    };
    let rows = fields(t, &r, &d.reference);
    let history_lines: Vec<(i64, String, bool)> = d
        .history
        .iter()
        .map(|h| {
            let when = h.saved_at.with_timezone(&chrono::Local).format("%d/%m/%Y %H:%M");
            (h.version, format!("v{} · {when} · {}", h.version, d.reference.volunteer_name(&h.volunteer_id)), h.voided)
        })
        .collect();
    rsx! {
        section { class: "detail", "data-record": "{id}",
            h1 { "{t.kinds[kind.index()]}" }
            p { class: "title", "{record_title(t, &r.body)}" }
            StateBadge { state: r.sync_state, voided: r.meta.voided }
            if let Some(reason) = &r.reject_reason {
                p { class: "error", role: "alert", "{t.rejected_reason}: {reason}" }
            }
            if r.meta.voided {
                p { class: "voided-note", "{t.voided_note} {r.meta.void_reason.clone().unwrap_or_default()}" }
            }
            dl { class: "fields",
                for (label, value) in rows {
                    div { dt { "{label}" } dd { "{value}" } }
                }
            }
            if let Some(parent) = d.parent.clone() {
                div { class: "card links", "data-testid": "parent",
                    h2 { "{t.belongs_to}" }
                    button { class: "secondary", onclick: move |_| ui.go(Screen::Detail(parent.meta.id)),
                        "{t.kinds[parent.body.kind().index()]}: {record_title(t, &parent.body)}" }
                }
            }
            if matches!(kind, RecordKind::Visit | RecordKind::Training) && !d.children.is_empty() {
                div { class: "card links", "data-testid": "children",
                    h2 { "{t.people_helped_here} ({d.children.len()})" }
                    for c in d.children.clone() {
                        button { key: "{c.meta.id}", class: "secondary", onclick: move |_| ui.go(Screen::Detail(c.meta.id)),
                            "{record_title(t, &c.body)} · {t.outcomes[outcome_index(&c.body)]}" }
                    }
                }
            }
            if let Some(msg) = status() { p { class: "error", role: "alert", "{msg}" } }
            if !r.meta.voided {
                div { class: "actions",
                    if matches!(kind, RecordKind::Visit | RecordKind::Training) {
                        button { class: "primary", "data-testid": "add-person",
                            onclick: move |_| ui.go(Screen::New(RecordKind::SignatureHelp, Some(id))), "✍ {t.add_person}" }
                    }
                    button { class: "secondary", "data-testid": "edit", onclick: move |_| ui.go(Screen::Edit(id)), "{t.edit}" }
                    if !confirming() {
                        button { class: "danger", "data-testid": "void", onclick: move |_| confirming.set(true), "{t.void}" }
                    }
                }
                if confirming() {
                    div { class: "card confirm",
                        p { "{t.void_confirm}" }
                        input { name: "void_reason", placeholder: t.void_reason, initial_value: "{reason}", oninput: move |e| reason.set(e.value()) }
                        p { class: "hint", "{t.free_text_hint}" }
                        div { class: "actions",
                            button { class: "danger", "data-testid": "confirm-void", onclick: on_void, "{t.void}" }
                            button { class: "secondary", "data-testid": "cancel-void", onclick: move |_| confirming.set(false), "{t.cancel}" }
                        }
                    }
                }
            }
            button { class: "secondary wide", "data-testid": "home", onclick: move |_| ui.home(), "{t.home}" }
            div { class: "card history",
                h2 { "{t.history}" }
                ul { "data-testid": "history",
                    for (version, line, voided) in history_lines {
                        li { key: "{version}",
                            "{line}"
                            if voided { " · {t.voided}" }
                        }
                    }
                }
            }
        }
    }
}

/// Label/value pairs for a record's fields, in the volunteer's language.
fn fields(t: &crate::i18n::Strings, r: &Record, reference: &ReferenceData) -> Vec<(&'static str, String)> {
    let topics = |ts: &[Topic]| ts.iter().map(|x| t.topics_list[x.index()]).collect::<Vec<_>>().join(", ");
    let mut out = vec![
        (t.hamlet, reference.hamlet_name(&r.meta.hamlet_id)),
        (t.date, r.meta.occurred_at.format("%d/%m/%Y %H:%M").to_string()),
        (t.volunteer, reference.volunteer_name(&r.meta.volunteer_id)),
        (t.version, r.meta.version.to_string()),
    ];
    match &r.body {
        Body::Visit(v) => {
            out.push((t.household, v.household.clone()));
            out.push((t.people_helped, v.people_helped.to_string()));
            out.push((t.topics, topics(&v.topics)));
            if !v.notes.is_empty() {
                out.push((t.notes, v.notes.clone()));
            }
        }
        Body::SignatureHelp(s) => {
            out.push((t.consent, if s.consent { t.yes } else { t.no }.to_owned()));
            if let Some(p) = &s.person {
                out.push((t.display_name, p.display_name.clone()));
                out.push((t.birth_year, p.birth_year.to_string()));
                out.push((t.sex, t.sexes[p.sex.index()].to_owned()));
                if let Some(g) = &p.ethnic_group {
                    out.push((t.ethnic_group, g.clone()));
                }
                if let Some(ph) = &p.phone {
                    out.push((t.phone, ph.clone()));
                }
                if p.cid_hash.is_some() {
                    let last4 = p.cid_last4.as_deref().map(|l| format!(" (…{l})")).unwrap_or_default();
                    out.push((t.citizen_id, format!("{}{last4}", t.cid_hashed)));
                }
            }
            out.push((t.level_before, t.levels[s.level_before.index()].to_owned()));
            out.push((t.level_after, t.levels[s.level_after.index()].to_owned()));
            out.push((t.outcome, t.outcomes[s.outcome.index()].to_owned()));
            if let Some(f) = s.failure_reason {
                out.push((t.failure_reason, t.failure_reasons[f.index()].to_owned()));
            }
            if let Some(p) = &s.provider {
                out.push((t.provider, p.clone()));
            }
        }
        Body::Training(tr) => {
            out.push((t.training_kind, t.training_kinds[tr.kind.index()].to_owned()));
            out.push((t.topics, topics(&tr.topics)));
            out.push((t.attendance_total, tr.total.to_string()));
            out.push((t.attendance_women, tr.women.to_string()));
            out.push((t.attendance_minority, tr.ethnic_minority.to_string()));
            out.push((t.trainers, tr.trainers.clone()));
            let platform = tr.platform_other.clone().unwrap_or_else(|| t.platforms[tr.platform.index()].to_owned());
            out.push((t.platform, platform));
        }
        Body::Outreach(o) => {
            out.push((t.channel, t.channels[o.channel.index()].to_owned()));
            out.push((t.quantity, o.quantity.to_string()));
            out.push((t.reach, o.reach.to_string()));
            if !o.notes.is_empty() {
                out.push((t.notes, o.notes.clone()));
            }
        }
    }
    out
}

fn outcome_index(body: &Body) -> usize {
    match body {
        Body::SignatureHelp(s) => s.outcome.index(),
        _ => 0,
    }
}
