//! The four record forms: one screen that loads a draft, a stored record or a blank form,
//! keeps every keystroke as a draft, and saves only what validates.

use chrono::Local;
use dioxus::prelude::*;
use uuid::Uuid;

use super::components::{Field, Tally};
use super::{call, Screen, Services, Ui};
use crate::domain::validate::{cid_warnings, Context, FieldError, Form, OTHER};
use crate::domain::*;
use crate::store::{ParentChoice, StoreError};

/// What the form screen needs before it can show the form.
#[derive(Clone, PartialEq)]
struct Loaded {
    form: Form,
    restored_at: Option<String>,
    record: Option<Record>,
    reference: ReferenceData,
    parents: Vec<ParentChoice>,
}

/// One draft per record being edited, per new-record kind, and per visit or meeting that
/// people are being added to (so adding to one never picks up another's half-typed form).
pub fn draft_key(kind: Option<RecordKind>, record_id: Option<Uuid>, parent: Option<Uuid>) -> String {
    match (record_id, kind, parent) {
        (Some(id), _, _) => format!("edit:{id}"),
        (None, Some(k), Some(p)) => format!("new:{}:{p}", k.code()),
        (None, Some(k), None) => format!("new:{}", k.code()),
        (None, None, _) => "new".into(),
    }
}

#[component]
pub fn FormScreen(kind: Option<RecordKind>, record_id: Option<Uuid>, parent: Option<Uuid>) -> Element {
    let ui = use_context::<Ui>();
    let services = use_context::<Services>();
    let key = draft_key(kind, record_id, parent);
    let load_key = key.clone();
    let loaded = use_resource(move || {
        let store = services.store.clone();
        let key = load_key.clone();
        let volunteer = (ui.volunteer)().unwrap_or_default();
        async move {
            call(&store, move |s| {
                let reference = s.reference()?;
                let record = match record_id {
                    Some(id) => Some(s.get(id)?.ok_or(StoreError::NotFound)?),
                    None => None,
                };
                let draft = s.draft(&key)?;
                let restored_at =
                    draft.as_ref().map(|d| d.updated_at.with_timezone(&Local).format("%H:%M %d/%m").to_string());
                let form = match (draft, &record) {
                    (Some(d), _) => d.form,
                    (None, Some(r)) => Form::from_record(r),
                    (None, None) => {
                        let hamlet = reference
                            .volunteer(&volunteer)
                            .and_then(|v| v.hamlet_id.clone())
                            .or_else(|| reference.hamlets.first().map(|h| h.id.clone()))
                            .unwrap_or_default();
                        let now = s.now().with_timezone(&Local).naive_local();
                        let mut form = Form::blank(kind.unwrap_or(RecordKind::Visit), &hamlet, now);
                        if let (Form::SignatureHelp(f), Some(p)) = (&mut form, parent) {
                            f.parent_id = p.to_string();
                            if let Some(parent) = s.get(p)? {
                                f.common.hamlet_id = parent.meta.hamlet_id.clone();
                            }
                            // The next person at the same meeting: its hamlet, date and time
                            // as the person before, so only the person is left to fill in.
                            if let Some(last) = s.children(p)?.into_iter().rfind(|c| !c.meta.voided) {
                                let at = last.meta.occurred_at;
                                f.common.hamlet_id = last.meta.hamlet_id.clone();
                                f.common.date = at.format("%Y-%m-%d").to_string();
                                f.common.time = at.format("%H:%M").to_string();
                            }
                        }
                        form
                    }
                };
                let parents = s.parent_choices(14)?;
                Ok(Loaded { form, restored_at, record, reference, parents })
            })
            .await
        }
    });
    let t = ui.t();
    let guard = loaded.read();
    match &*guard {
        None => rsx! { div { class: "loading", "…" } },
        Some(Err(e)) => rsx! { div { class: "fatal", role: "alert", "{t.store_error(e)}" } },
        Some(Ok(l)) => {
            let l = l.clone();
            rsx! { Editor { loaded: l, draft_key: key } }
        }
    }
}

/// Applies a change to the form and marks it as worth keeping as a draft.
fn edit(mut form: Signal<Form>, mut dirty: Signal<bool>, f: impl FnOnce(&mut Form)) {
    form.with_mut(f);
    dirty.set(true);
}

/// A handler that edits the fields of one form kind.
macro_rules! on {
    ($form:ident, $dirty:ident, $variant:ident, |$v:ident, $e:ident| $body:expr) => {
        move |$e: FormEvent| {
            edit($form, $dirty, |f| {
                if let Form::$variant($v) = f {
                    $body;
                }
            })
        }
    };
}

#[component]
fn Editor(loaded: Loaded, draft_key: String) -> Element {
    let ui = use_context::<Ui>();
    let services = use_context::<Services>();
    let t = ui.t();
    let form = use_signal(|| loaded.form.clone());
    let mut errors = use_signal(Vec::<FieldError>::new);
    let mut dirty = use_signal(|| false);
    let mut saving = use_signal(|| false);
    let mut status = use_signal(|| None::<String>);

    // Every change is kept as a draft, so closing the app loses nothing typed.
    let draft_store = services.store.clone();
    let key_for_draft = draft_key.clone();
    let record_id = loaded.record.as_ref().map(|r| r.meta.id);
    use_effect(move || {
        let f = form();
        if !dirty() {
            return;
        }
        let store = draft_store.clone();
        let key = key_for_draft.clone();
        spawn(async move {
            if call(&store, move |s| s.save_draft(&key, record_id, &f)).await.is_ok() {
                ui.changed();
            }
        });
    });

    let error_for = move |field: &str| -> Option<String> {
        errors.read().iter().find(|e| e.field == field).map(|e| ui.t().field_message(e.field, e.problem).to_owned())
    };

    let save_store = services.store.clone();
    let save_sync = services.sync.clone();
    let save_key = draft_key.clone();
    let record_version = loaded.record.as_ref().map(|r| r.meta.version);
    let on_save = move |next: bool| {
        let store = save_store.clone();
        let sync = save_sync.clone();
        let key = save_key.clone();
        let mut ui = ui;
        async move {
            if saving() {
                return;
            }
            saving.set(true);
            dirty.set(false);
            let f = form();
            let volunteer = (ui.volunteer)().unwrap_or_default();
            let result = call(&store, move |s| {
                let reference = s.reference()?;
                let cid_key = s.cid_key()?;
                // Sealed to the server only on a real commune: practice records never leave.
                let seal_key = if reference.commune.sample { None } else { s.seal_key()? };
                let now = s.now().with_timezone(&Local).naive_local();
                let ctx = Context { now, reference: &reference, cid_key: &cid_key, seal_key: seal_key.as_ref() };
                let valid = match f.validate(&ctx) {
                    Ok(v) => v,
                    Err(errs) => return Ok(Err(errs)),
                };
                let record = match (record_id, record_version) {
                    (Some(id), Some(version)) => {
                        s.update(id, version, &volunteer, &valid.hamlet_id, valid.occurred_at, valid.body)?
                    }
                    _ => s.create(NewRecord {
                        hamlet_id: valid.hamlet_id,
                        volunteer_id: volunteer,
                        occurred_at: valid.occurred_at,
                        body: valid.body,
                    })?,
                };
                s.discard_draft(&key)?;
                Ok(Ok(record))
            })
            .await;
            saving.set(false);
            let t = ui.t();
            match result {
                Ok(Ok(record)) => {
                    sync.sync_now();
                    errors.set(Vec::new());
                    ui.flash.set(Some(t.saved.to_owned()));
                    ui.changed();
                    match (next, record.body.parent_id()) {
                        // A fresh form for the next person of the same visit or meeting.
                        (true, Some(parent)) => ui.next_form(Screen::New(RecordKind::SignatureHelp, Some(parent))),
                        _ => ui.replace(Screen::Detail(record.meta.id)),
                    }
                }
                Ok(Err(errs)) => {
                    errors.set(errs);
                    status.set(Some(t.fix_fields.to_owned()));
                    // Bring the first field to fix into view on a small screen.
                    let _ = document::eval(
                        "setTimeout(() => document.querySelector('.field.invalid')?.scrollIntoView({block: 'center'}), 50)",
                    );
                }
                Err(e) => {
                    // Keep the draft: nothing typed is lost when the save fails.
                    dirty.set(true);
                    status.set(Some(t.store_error(&e)));
                }
            }
        }
    };

    let discard_store = services.store.clone();
    let discard_key = draft_key.clone();
    let on_discard = move |_: MouseEvent| {
        let store = discard_store.clone();
        let key = discard_key.clone();
        async move {
            dirty.set(false);
            // A draft that cannot be deleted is harmless: it only shows again on home.
            let _ = call(&store, move |s| s.discard_draft(&key)).await;
            ui.changed();
            ui.back();
        }
    };

    let kind = form.read().kind();
    let title = if loaded.record.is_some() { t.edit_title[kind.index()] } else { t.new_record[kind.index()] };
    let reference = loaded.reference.clone();
    let common = form.read().common().clone();
    let save_plain = on_save.clone();
    let save_next = on_save;
    let has_parent = matches!(&*form.read(), Form::SignatureHelp(s) if !s.parent_id.is_empty());
    rsx! {
        section { class: "form", "data-form": kind.code(),
            h1 { "{title}" }
            if let Some(msg) = status() {
                p { class: "form-status error top", role: "alert", "{msg}" }
            }
            if let Some(at) = &loaded.restored_at {
                div { class: "card restored", role: "status",
                    span { "{t.draft_restored} {at}" }
                    button { class: "small danger", "data-testid": "discard-draft", onclick: on_discard.clone(), "{t.discard_draft}" }
                }
            }
            Field { label: t.hamlet, name: "hamlet", error: error_for("hamlet"),
                select { id: "f-hamlet", name: "hamlet", value: "{common.hamlet_id}",
                    onchange: move |e: FormEvent| edit(form, dirty, |f| f.common_mut().hamlet_id = e.value()),
                    for h in reference.hamlets.iter() {
                        option { value: "{h.id}", selected: h.id == common.hamlet_id, "{h.name}" }
                    }
                }
            }
            div { class: "row",
                Field { label: t.date, name: "date", error: error_for("date"),
                    input { r#type: "date", id: "f-date", name: "date", initial_value: "{common.date}",
                        oninput: move |e: FormEvent| edit(form, dirty, |f| f.common_mut().date = e.value()) }
                }
                Field { label: t.time, name: "time", error: error_for("time"),
                    input { r#type: "time", id: "f-time", name: "time", initial_value: "{common.time}",
                        oninput: move |e: FormEvent| edit(form, dirty, |f| f.common_mut().time = e.value()) }
                }
            }
            match form() {
                Form::Visit(v) => rsx! {
                    Field { label: t.household, name: "household", error: error_for("household"),
                        input { id: "f-household", name: "household", initial_value: "{v.household}", placeholder: t.household_hint,
                            oninput: on!(form, dirty, Visit, |v, e| v.household = e.value()) }
                    }
                    Field { label: t.people_helped, name: "people_helped", error: error_for("people_helped"),
                        input { id: "f-people_helped", name: "people_helped", inputmode: "numeric", pattern: "[0-9]*", initial_value: "{v.people_helped}",
                            oninput: on!(form, dirty, Visit, |v, e| v.people_helped = e.value()) }
                    }
                    TopicPicker { selected: v.topics.clone(), error: error_for("topics"),
                        onchange: move |topics: Vec<Topic>| edit(form, dirty, |f| if let Form::Visit(v) = f { v.topics = topics }) }
                    Field { label: t.notes, name: "notes", error: error_for("notes"),
                        textarea { id: "f-notes", name: "notes", initial_value: "{v.notes}", rows: "3",
                            oninput: on!(form, dirty, Visit, |v, e| v.notes = e.value()) }
                        p { class: "hint", "{t.free_text_hint}" }
                    }
                },
                Form::SignatureHelp(s) => rsx! {
                    SignatureFields { form, dirty, s, reference: reference.clone(), parents: loaded.parents.clone(), errors: errors() }
                },
                Form::Training(tr) => rsx! {
                    Field { label: t.training_kind, name: "training_kind", error: None,
                        select { id: "f-training_kind", name: "training_kind",
                            onchange: on!(form, dirty, Training, |v, e| v.kind = TrainingKind::from_code(&e.value()).unwrap_or(v.kind)),
                            for k in TrainingKind::ALL.iter() {
                                option { value: k.code(), selected: *k == tr.kind, "{t.training_kinds[k.index()]}" }
                            }
                        }
                    }
                    TopicPicker { selected: tr.topics.clone(), error: error_for("topics"),
                        onchange: move |topics: Vec<Topic>| edit(form, dirty, |f| if let Form::Training(v) = f { v.topics = topics }) }
                    Tally { label: t.attendance_total, name: "total", value: tr.total, error: error_for("total"),
                        onchange: move |n: u32| edit(form, dirty, |f| if let Form::Training(v) = f { v.total = n }) }
                    Tally { label: t.attendance_women, name: "women", value: tr.women, error: error_for("women"),
                        onchange: move |n: u32| edit(form, dirty, |f| if let Form::Training(v) = f { v.women = n }) }
                    Tally { label: t.attendance_minority, name: "ethnic_minority", value: tr.ethnic_minority, error: error_for("ethnic_minority"),
                        onchange: move |n: u32| edit(form, dirty, |f| if let Form::Training(v) = f { v.ethnic_minority = n }) }
                    Field { label: t.trainers, name: "trainers", error: error_for("trainers"),
                        input { id: "f-trainers", name: "trainers", initial_value: "{tr.trainers}",
                            oninput: on!(form, dirty, Training, |v, e| v.trainers = e.value()) }
                    }
                    Field { label: t.platform, name: "platform", error: None,
                        select { id: "f-platform", name: "platform",
                            onchange: on!(form, dirty, Training, |v, e| v.platform = Platform::from_code(&e.value()).unwrap_or(v.platform)),
                            for p in Platform::ALL.iter() {
                                option { value: p.code(), selected: *p == tr.platform, "{t.platforms[p.index()]}" }
                            }
                        }
                    }
                    if tr.platform == Platform::Other {
                        Field { label: t.platform_other, name: "platform_other", error: error_for("platform_other"),
                            input { id: "f-platform_other", name: "platform_other", initial_value: "{tr.platform_other}",
                                oninput: on!(form, dirty, Training, |v, e| v.platform_other = e.value()) }
                        }
                    }
                },
                Form::Outreach(o) => rsx! {
                    Field { label: t.channel, name: "channel", error: None,
                        select { id: "f-channel", name: "channel",
                            onchange: on!(form, dirty, Outreach, |v, e| v.channel = Channel::from_code(&e.value()).unwrap_or(v.channel)),
                            for c in Channel::ALL.iter() {
                                option { value: c.code(), selected: *c == o.channel, "{t.channels[c.index()]}" }
                            }
                        }
                    }
                    Field { label: t.quantity, name: "quantity", error: error_for("quantity"),
                        input { id: "f-quantity", name: "quantity", inputmode: "numeric", pattern: "[0-9]*", initial_value: "{o.quantity}",
                            oninput: on!(form, dirty, Outreach, |v, e| v.quantity = e.value()) }
                    }
                    Field { label: t.reach, name: "reach", error: error_for("reach"),
                        input { id: "f-reach", name: "reach", inputmode: "numeric", pattern: "[0-9]*", initial_value: "{o.reach}",
                            oninput: on!(form, dirty, Outreach, |v, e| v.reach = e.value()) }
                    }
                    Field { label: t.notes, name: "notes", error: error_for("notes"),
                        textarea { id: "f-notes", name: "notes", initial_value: "{o.notes}", rows: "3",
                            oninput: on!(form, dirty, Outreach, |v, e| v.notes = e.value()) }
                        p { class: "hint", "{t.free_text_hint}" }
                    }
                },
            }
            if let Some(msg) = status() {
                p { class: "form-status error", role: "alert", "{msg}" }
            }
            div { class: "actions",
                button { class: "primary", "data-testid": "save", disabled: saving(), onclick: move |_| save_plain(false), "{t.save}" }
                if has_parent {
                    button { class: "secondary", "data-testid": "save-next", disabled: saving(), onclick: move |_| save_next(true), "+ {t.save_and_next}" }
                }
            }
        }
    }
}

#[component]
fn SignatureFields(
    form: Signal<Form>,
    dirty: Signal<bool>,
    s: crate::domain::validate::SignatureForm,
    reference: ReferenceData,
    parents: Vec<ParentChoice>,
    errors: Vec<FieldError>,
) -> Element {
    let ui = use_context::<Ui>();
    let t = ui.t();
    let err =
        |field: &str| errors.iter().find(|e| e.field == field).map(|e| t.field_message(e.field, e.problem).to_owned());
    // Decided from what the form held when it opened, so typing in (or clearing) a field
    // never folds it away under the volunteer's fingers.
    let held = !s.ethnic_group.is_empty() || !s.phone.is_empty() || !s.citizen_id.is_empty() || s.kept_cid.is_some();
    let held = use_hook(|| held);
    let has_more = held || ["ethnic_group", "phone", "citizen_id"].iter().any(|f| err(f).is_some());
    let statement = crate::domain::consent::current();
    let statement_text = statement.text((ui.lang)().code());
    rsx! {
        Field { label: t.belongs_to, name: "parent", error: None,
            select { id: "f-parent", name: "parent",
                onchange: on!(form, dirty, SignatureHelp, |v, e| v.parent_id = e.value()),
                option { value: "", selected: s.parent_id.is_empty(), "{t.belongs_to_none}" }
                for p in parents.iter() {
                    option { value: "{p.id}", selected: p.id.to_string() == s.parent_id,
                        "{parent_label(p)}" }
                }
            }
        }
        label { class: "consent", "data-field": "consent",
            input { r#type: "checkbox", name: "consent", checked: s.consent,
                onchange: on!(form, dirty, SignatureHelp, |v, e| v.consent = e.checked()) }
            span { "{t.consent_label}" }
        }
        // What the person agrees to, word for word, for the volunteer to read out; folded
        // away once read (one tap opens it again).
        details { class: "hint consent-statement", "data-testid": "consent-statement",
            "data-version": statement.version, open: !s.consent,
            summary { strong { "{statement_text.title}" } " ({statement.version})"
                if s.consent { span { class: "fold-hint", " · {t.consent_show}" } }
            }
            ul {
                for point in statement_text.points.iter() { li { "{point}" } }
            }
        }
        if s.consent {
            Field { label: t.display_name, name: "display_name", error: err("display_name"),
                input { id: "f-display_name", name: "display_name", initial_value: "{s.display_name}", autocomplete: "off",
                    oninput: on!(form, dirty, SignatureHelp, |v, e| v.display_name = e.value()) }
            }
            Field { label: t.birth_year, name: "birth_year", error: err("birth_year"),
                    input { id: "f-birth_year", name: "birth_year", inputmode: "numeric", pattern: "[0-9]*", maxlength: "4", initial_value: "{s.birth_year}",
                    oninput: on!(form, dirty, SignatureHelp, |v, e| v.birth_year = e.value()) }
            }
            Field { label: t.sex, name: "sex", error: err("sex"), group: true,
                    div { class: "choices",
                        for x in Sex::ALL.iter() {
                            label { class: "choice",
                                input { r#type: "radio", name: "sex", value: x.code(), checked: s.sex == x.code(),
                                    onchange: {
                                        let code = x.code();
                                        move |_: FormEvent| edit(form, dirty, |f| if let Form::SignatureHelp(v) = f { v.sex = code.to_owned() })
                                    } }
                                span { "{t.sexes[x.index()]}" }
                            }
                        }
                    }
            }
            // The optional details, folded so that the form of a person fits two screens;
            // open when any holds something (or has a problem).
            details { class: "more", "data-testid": "more-details", open: has_more,
                summary { "{t.more_details}" }
                Field { label: t.ethnic_group, name: "ethnic_group", error: err("ethnic_group"),
                    input { id: "f-ethnic_group", name: "ethnic_group", initial_value: "{s.ethnic_group}", list: "ethnic-groups",
                        oninput: on!(form, dirty, SignatureHelp, |v, e| v.ethnic_group = e.value()) }
                    datalist { id: "ethnic-groups",
                        for g in ["Kinh", "Xơ Đăng", "Ba Na", "Giẻ Triêng", "Hrê"] { option { value: g } }
                    }
                }
                Field { label: t.phone, name: "phone", error: err("phone"),
                    input { id: "f-phone", name: "phone", r#type: "tel", inputmode: "tel", initial_value: "{s.phone}", autocomplete: "off",
                        oninput: on!(form, dirty, SignatureHelp, |v, e| v.phone = e.value()) }
                }
                Field { label: t.citizen_id, name: "citizen_id", error: err("citizen_id"),
                    if let Some(k) = &s.kept_cid {
                        p { class: "hint", "{t.cid_on_file} {last4_hint(k)}" }
                    }
                    input { id: "f-citizen_id", name: "citizen_id", inputmode: "numeric", autocomplete: "off", initial_value: "{s.citizen_id}",
                        placeholder: t.citizen_id_hint,
                        oninput: on!(form, dirty, SignatureHelp, |v, e| v.citizen_id = e.value()) }
                    // Checked against the birth year and sex as typed: a warning, not a refusal.
                    for w in cid_warnings(&s) {
                        p { class: "warning", role: "status", "data-testid": "cid-warning", "{t.cid_warning(w)}" }
                    }
                    label { class: "choice",
                        input { r#type: "checkbox", name: "keep_last4", checked: s.keep_last4,
                            onchange: on!(form, dirty, SignatureHelp, |v, e| v.keep_last4 = e.checked()) }
                        span { "{t.keep_last4}" }
                    }
                    p { class: "hint", "{t.cid_privacy}" }
                }
            }
        } else {
            p { class: "hint no-consent", "{t.no_consent_note}" }
        }
        div { class: "row",
            Field { label: t.level_before, name: "level_before", error: None,
                select { id: "f-level_before", name: "level_before",
                    onchange: on!(form, dirty, SignatureHelp, |v, e| v.level_before = AccountLevel::from_code(&e.value()).unwrap_or(v.level_before)),
                    for l in AccountLevel::ALL.iter() { option { value: l.code(), selected: *l == s.level_before, "{t.levels[l.index()]}" } }
                }
            }
            Field { label: t.level_after, name: "level_after", error: None,
                select { id: "f-level_after", name: "level_after",
                    onchange: on!(form, dirty, SignatureHelp, |v, e| v.level_after = AccountLevel::from_code(&e.value()).unwrap_or(v.level_after)),
                    for l in AccountLevel::ALL.iter() { option { value: l.code(), selected: *l == s.level_after, "{t.levels[l.index()]}" } }
                }
            }
        }
        Field { label: t.outcome, name: "outcome", error: err("outcome"), group: true,
            p { class: "hint", "{t.outcome_hint}" }
            div { class: "choices column",
                for o in Outcome::ALL.iter() {
                    label { class: "choice",
                        input { r#type: "radio", name: "outcome", value: o.code(), checked: s.outcome == Some(*o),
                            onchange: {
                                let o = *o;
                                move |_: FormEvent| edit(form, dirty, |f| if let Form::SignatureHelp(v) = f { v.outcome = Some(o) })
                            } }
                        span { "{t.outcomes[o.index()]}" }
                    }
                }
            }
        }
        if s.outcome == Some(Outcome::NotCompleted) {
            Field { label: t.failure_reason, name: "failure_reason", error: err("failure_reason"),
                select { id: "f-failure_reason", name: "failure_reason",
                    onchange: on!(form, dirty, SignatureHelp, |v, e| v.failure_reason = e.value()),
                    option { value: "", selected: s.failure_reason.is_empty(), "{t.choose}" }
                    for r in FailureReason::ALL.iter() {
                        option { value: r.code(), selected: s.failure_reason == r.code(), "{t.failure_reasons[r.index()]}" }
                    }
                }
            }
        } else if s.outcome.is_some() {
            Field { label: t.provider, name: "provider", error: err("provider"),
                select { id: "f-provider", name: "provider",
                    onchange: on!(form, dirty, SignatureHelp, |v, e| v.provider = e.value()),
                    option { value: "", selected: s.provider.is_empty(), "{t.choose}" }
                    for p in reference.providers.iter() {
                        option { value: "{p}", selected: *p == s.provider, "{p}" }
                    }
                    option { value: OTHER, selected: s.provider == OTHER, "{t.other}" }
                }
            }
            if s.provider == OTHER {
                Field { label: t.provider_other, name: "provider_other", error: err("provider_other"),
                    input { id: "f-provider_other", name: "provider_other", initial_value: "{s.provider_other}",
                        oninput: on!(form, dirty, SignatureHelp, |v, e| v.provider_other = e.value()) }
                }
            }
        }
    }
}

/// Ticks for the digital-skills topics covered.
#[component]
fn TopicPicker(selected: Vec<Topic>, error: Option<String>, onchange: EventHandler<Vec<Topic>>) -> Element {
    let t = use_context::<Ui>().t();
    rsx! {
        Field { label: t.topics, name: "topics", error, group: true,
            div { class: "choices column topics",
                for topic in Topic::ALL.iter().copied() {
                    label { class: "choice",
                        input { r#type: "checkbox", name: "topic", value: topic.code(), checked: selected.contains(&topic),
                            onchange: {
                                let selected = selected.clone();
                                move |e: FormEvent| {
                                    let mut next: Vec<Topic> = selected.iter().copied().filter(|x| *x != topic).collect();
                                    if e.checked() {
                                        next.push(topic);
                                        next.sort_by_key(|x| x.index());
                                    }
                                    onchange.call(next)
                                }
                            } }
                        span { "{t.topics_list[topic.index()]}" }
                    }
                }
            }
        }
    }
}

fn last4_hint(k: &crate::domain::validate::KeptCid) -> String {
    k.last4.as_deref().map(|l| format!("…{l}")).unwrap_or_default()
}

/// A visit or meeting as offered in the "belongs to" choice: short enough for a phone.
fn parent_label(p: &ParentChoice) -> String {
    let icon = if p.kind == RecordKind::Visit { "🏠" } else { "👥" };
    format!("{icon} {} · {}", p.label, p.occurred_at.format("%d/%m"))
}
