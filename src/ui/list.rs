//! The record list: search that ignores case and diacritics, and filters by hamlet, kind,
//! date and sync state.

use chrono::NaiveDate;
use dioxus::prelude::*;

use super::components::StateBadge;
use super::{call, Screen, Services, Ui};
use crate::domain::{Body, Record, RecordKind, ReferenceData, SyncState};
use crate::i18n::Strings;
use crate::store::Filter;

/// How dates and times are shown in lists (day first, as Vietnamese write them).
pub const DATE_TIME: &str = "%d/%m/%y %H:%M";

/// The one-line title of a record in a list.
pub fn record_title(t: &Strings, body: &Body) -> String {
    match body {
        Body::Visit(v) => v.household.clone(),
        Body::SignatureHelp(s) => match &s.person {
            Some(p) => p.display_name.clone(),
            None => t.person_without_consent.to_owned(),
        },
        Body::Training(tr) => format!("{} · {}", t.training_kinds[tr.kind.index()], t.people(tr.total)),
        Body::Outreach(o) => format!("{} · {}", t.channels[o.channel.index()], o.quantity),
    }
}

#[component]
pub fn RecordList(preset: Option<SyncState>) -> Element {
    let ui = use_context::<Ui>();
    let services = use_context::<Services>();
    let mut text = use_signal(String::new);
    let mut hamlet = use_signal(String::new);
    let mut kind = use_signal(String::new);
    let mut state = use_signal(|| preset.map(|s| s.code().to_owned()).unwrap_or_default());
    let mut from = use_signal(String::new);
    let mut to = use_signal(String::new);
    let store = services.store.clone();
    let reference = use_resource(move || {
        let store = store.clone();
        async move { call(&store, |s| s.reference()).await }
    });
    let store = services.store.clone();
    let results = use_resource(move || {
        let _ = (ui.revision)();
        let filter = Filter {
            text: text(),
            hamlet_id: Some(hamlet()).filter(|s| !s.is_empty()),
            kind: RecordKind::from_code(&kind()),
            from: NaiveDate::parse_from_str(&from(), "%Y-%m-%d").ok(),
            to: NaiveDate::parse_from_str(&to(), "%Y-%m-%d").ok(),
            sync_state: SyncState::from_code(&state()),
            limit: 100,
        };
        let store = store.clone();
        // The results carry the query they answer, so a reader (or a test) can tell them
        // apart from the previous query's while a new search is running.
        async move { call(&store, move |s| Ok((filter.text.clone(), s.search_ranked(&filter)?))).await }
    });
    let t = ui.t();
    let reference: Option<ReferenceData> = reference.read().as_ref().and_then(|r| r.as_ref().ok().cloned());
    let Some(reference) = reference else {
        return rsx! { div { class: "loading", "…" } };
    };
    rsx! {
        section { class: "list",
            h1 { "{t.records}" }
            input { class: "search", r#type: "search", name: "search", "aria-label": t.search_label, placeholder: t.search_hint, initial_value: "{text}",
                oninput: move |e| text.set(e.value()) }
            details { class: "filters", open: preset.is_some(),
                summary { "{t.filters}" }
                div { class: "row",
                    select { name: "filter_hamlet", "aria-label": t.hamlet, onchange: move |e| hamlet.set(e.value()),
                        option { value: "", "{t.all_hamlets}" }
                        for h in reference.hamlets.iter() { option { value: "{h.id}", "{h.name}" } }
                    }
                    select { name: "filter_kind", "aria-label": t.kind, onchange: move |e| kind.set(e.value()),
                        option { value: "", "{t.all_kinds}" }
                        for k in RecordKind::ALL.iter() { option { value: k.code(), "{t.kinds[k.index()]}" } }
                    }
                }
                div { class: "row",
                    label { class: "small-label", "{t.from}"
                        input { r#type: "date", name: "filter_from", initial_value: "{from}", oninput: move |e| from.set(e.value()) } }
                    label { class: "small-label", "{t.to}"
                        input { r#type: "date", name: "filter_to", initial_value: "{to}", oninput: move |e| to.set(e.value()) } }
                }
                select { name: "filter_state", "aria-label": t.sync_state, onchange: move |e| state.set(e.value()),
                    option { value: "", "{t.all_states}" }
                    for s in SyncState::ALL.iter() { option { value: s.code(), selected: state() == s.code(), "{t.sync_states[s.index()]}" } }
                }
            }
            match &*results.read() {
                None => rsx! { div { class: "loading", "…" } },
                Some(Err(e)) => rsx! { p { class: "error", role: "alert", "{t.store_error(e)}" } },
                Some(Ok((query, found))) if found.by_name.is_empty() && found.by_label.is_empty() => rsx! { p { class: "empty", "data-query": "{query}", "{t.no_records}" } },
                Some(Ok((query, found))) => rsx! {
                    p { class: "count", "data-testid": "result-count", "data-query": "{query}", "{t.found(found.by_name.len() + found.by_label.len())}" }
                    ul { class: "records",
                        for r in found.by_name.iter() {
                            RecordRow { key: "{r.meta.id}", record: r.clone(), reference: reference.clone(), by_label: false }
                        }
                    }
                    if !found.by_label.is_empty() {
                        if !found.by_name.is_empty() || !query.trim().is_empty() {
                            h2 { class: "by-label", "data-testid": "by-label", "{t.found_by_label}" }
                        }
                        ul { class: "records",
                            for r in found.by_label.iter() {
                                RecordRow { key: "{r.meta.id}", record: r.clone(), reference: reference.clone(), by_label: !query.trim().is_empty() }
                            }
                        }
                    }
                },
            }
        }
    }
}

/// One record of the list: its kind, title, hamlet and time, and its state. A record found
/// only by its label, hamlet or volunteer (`by_label`) says so.
#[component]
fn RecordRow(record: Record, reference: ReferenceData, by_label: bool) -> Element {
    let ui = use_context::<Ui>();
    let t = ui.t();
    let r = record;
    let class = match (r.meta.voided, by_label) {
        (true, true) => "record voided by-label",
        (true, false) => "record voided",
        (false, true) => "record by-label",
        (false, false) => "record",
    };
    rsx! {
        li {
            button { class, "data-record": "{r.meta.id}",
                onclick: { let id = r.meta.id; move |_| ui.go(Screen::Detail(id)) },
                span { class: "kind", "{t.kinds[r.body.kind().index()]}" }
                span { class: "title", "{record_title(t, &r.body)}" }
                span { class: "meta", "{reference.hamlet_name(&r.meta.hamlet_id)} · {r.meta.occurred_at.format(DATE_TIME)}" }
                StateBadge { state: r.sync_state, voided: r.meta.voided }
            }
        }
    }
}
