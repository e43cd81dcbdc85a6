//! The app lock on a shared tablet: each volunteer's PIN, the lock screen, and switching
//! volunteer (which asks for the next volunteer's PIN).
//!
//! The app starts locked, locks itself after [`super::AppConfig::lock_after`] without a tap
//! or keystroke and when the page is hidden (the app sent to the background), and on
//! "Khoá". While locked nothing but the lock screen is drawn, so no record is on screen.
//! The rules (PIN format, slow-down, blocking) are in `domain::pin`; the counts of wrong
//! tries live in the store, so restarting the app does not reset them.

use dioxus::prelude::*;

use super::components::write_field;
use super::{call, Services, Ui};
use crate::domain::pin;
use crate::store::{Authority, PinCheck, PinState};

/// The lock screen: the current volunteer's PIN, or "Đổi người" to pick another.
#[component]
pub fn LockScreen() -> Element {
    let mut ui = use_context::<Ui>();
    let mut switching = use_signal(|| false);
    let t = ui.t();
    let current = (ui.volunteer)();
    match current {
        Some(id) if !switching() => rsx! {
            section { class: "lock", "data-testid": "lock-screen",
                h1 { "🔒 {t.locked_title}" }
                PinGate { key: "{id}", volunteer_id: id.clone(), on_unlocked: move |_| ui.locked.set(false) }
                button { class: "secondary wide", "data-testid": "switch-volunteer", onclick: move |_| switching.set(true),
                    "{t.switch_volunteer}" }
            }
        },
        // First start, or "Đổi người": the list (nothing of anyone's work is on screen).
        _ => rsx! {
            div { class: "lock", "data-testid": "lock-screen",
                VolunteerPicker {}
            }
        },
    }
}

/// The volunteers this device offers (on an enrolled device, those the office assigned to
/// it); tapping one asks for their PIN (or to choose one), then makes them the device's
/// user and opens home.
#[component]
pub fn VolunteerPicker() -> Element {
    let ui = use_context::<Ui>();
    let services = use_context::<Services>();
    let store = services.store.clone();
    let here = use_resource(move || {
        let store = store.clone();
        async move { call(&store, |s| s.volunteers_here()).await }
    });
    let mut chosen = use_signal(|| None::<String>);
    let t = ui.t();
    let guard = here.read();
    let volunteers = match &*guard {
        Some(Ok(v)) => v.clone(),
        Some(Err(e)) => return rsx! { div { class: "fatal", "{t.store_error(e)}" } },
        None => return rsx! { div { class: "loading", "…" } },
    };
    drop(guard);
    let current = (ui.volunteer)();
    let store = services.store.clone();
    let become_user = move |id: String| {
        let store = store.clone();
        let mut ui = ui;
        spawn(async move {
            let chosen_id = id.clone();
            if call(&store, move |s| s.set_current_volunteer(&chosen_id)).await.is_ok() {
                ui.volunteer.set(Some(id));
                ui.locked.set(false);
                ui.home();
            }
        });
    };
    if let Some(id) = chosen() {
        return rsx! {
            div { class: "pin-step",
                PinGate { key: "{id}", volunteer_id: id.clone(), on_unlocked: move |id| become_user.clone()(id) }
                button { class: "secondary wide", "data-testid": "pick-other", onclick: move |_| chosen.set(None), "‹ {t.back}" }
            }
        };
    }
    rsx! {
        section { class: "choose",
            h1 { "{t.who_is_using}" }
            p { class: "hint", "{t.who_is_using_hint}" }
            if volunteers.is_empty() {
                p { class: "error", role: "alert", "data-testid": "nobody-here", "{t.nobody_here}" }
            }
            for v in volunteers {
                button {
                    key: "{v.id}",
                    class: if current.as_deref() == Some(v.id.as_str()) { "volunteer current" } else { "volunteer" },
                    "data-volunteer": "{v.id}",
                    onclick: {
                        let id = v.id.clone();
                        let become_user = become_user.clone();
                        move |_| {
                            if ui.lock_enabled {
                                chosen.set(Some(id.clone()));
                            } else {
                                become_user.clone()(id.clone());
                            }
                        }
                    },
                    "👤 {v.name}"
                    if v.lead {
                        span { class: "lead-badge", " · {t.lead_label}" }
                    }
                }
            }
        }
    }
}

/// Puts the caret in the PIN field, so the phone's number pad opens at once.
async fn focus(e: MountedEvent) {
    let _ = e.set_focus(true).await;
}

/// Asks one volunteer for their PIN — or to choose one if they have none yet — and calls
/// `on_unlocked` with their id once it is right. A blocked volunteer is unblocked here by a
/// team lead's PIN, then chooses a new PIN.
#[component]
pub fn PinGate(volunteer_id: String, on_unlocked: EventHandler<String>) -> Element {
    let ui = use_context::<Ui>();
    let services = use_context::<Services>();
    let mut reload = use_signal(|| 0u32);
    let vid = volunteer_id.clone();
    let store = services.store.clone();
    let state = use_resource(move || {
        let store = store.clone();
        let vid = vid.clone();
        let _ = reload();
        async move { call(&store, move |s| Ok((s.pin_state(&vid)?, s.reference()?, s.volunteers_here()?))).await }
    });
    let mut pin_text = use_signal(String::new);
    let mut code_text = use_signal(String::new);
    let mut again = use_signal(String::new);
    let mut lead = use_signal(|| None::<String>);
    let mut message = use_signal(|| None::<String>);
    let mut busy = use_signal(|| false);
    let t = ui.t();
    let guard = state.read();
    let (pin_state, reference, here) = match &*guard {
        Some(Ok((s, r, h))) => (*s, r.clone(), h.clone()),
        Some(Err(e)) => return rsx! { div { class: "fatal", "{t.store_error(e)}" } },
        None => return rsx! { div { class: "loading", "…" } },
    };
    drop(guard);

    let id = volunteer_id.clone();
    let store = services.store.clone();
    let set_pin = move || {
        let (p, a) = (pin_text(), again());
        if let Err(problem) = pin::check_new(&p, &a) {
            message.set(Some(t.pin_problem(problem).to_owned()));
            return;
        }
        let store = store.clone();
        let id = id.clone();
        busy.set(true);
        spawn(async move {
            let who = id.clone();
            let saved = call(&store, move |s| s.set_pin(&who, &p)).await;
            busy.set(false);
            match saved {
                Ok(PinCheck::Right) => on_unlocked.call(id),
                Ok(_) => {
                    message.set(None);
                    *reload.write() += 1;
                }
                Err(e) => message.set(Some(t.store_error(&e))),
            }
        });
    };
    let id = volunteer_id.clone();
    let store = services.store.clone();
    let try_pin = move || {
        let p = pin_text();
        let store = store.clone();
        let id = id.clone();
        busy.set(true);
        spawn(async move {
            let who = id.clone();
            let answer = call(&store, move |s| s.check_pin(&who, &p)).await;
            busy.set(false);
            pin_text.set(String::new());
            write_field("f-pin", "");
            match answer {
                Ok(PinCheck::Right) => on_unlocked.call(id),
                Ok(PinCheck::Wrong { failures, wait_secs }) => {
                    let mut m = t.pin_wrong(failures);
                    if wait_secs > 0 {
                        m.push(' ');
                        m.push_str(&t.pin_wait(wait_secs));
                    }
                    if failures >= pin::FREE_TRIES {
                        m.push(' ');
                        m.push_str(&t.pin_tries_left(pin::BLOCK_AFTER - failures));
                    }
                    message.set(Some(m));
                }
                Ok(PinCheck::Wait { secs }) => message.set(Some(t.pin_wait(secs))),
                // The state changed under the screen (blocked, reset, unassigned): redraw it.
                Ok(_) => {
                    message.set(None);
                    *reload.write() += 1;
                }
                Err(e) => message.set(Some(t.store_error(&e))),
            }
        });
    };
    let id = volunteer_id.clone();
    let leads: Vec<_> = here.iter().filter(|v| v.lead && v.id != volunteer_id).cloned().collect();
    let store = services.store.clone();
    // A first PIN on an enrolled device: the office's one-time code or a team lead's PIN.
    let authorise = move |by_code: bool| {
        let (code, lead_id, lead_pin) = (code_text(), lead(), pin_text());
        let store = store.clone();
        let id = id.clone();
        busy.set(true);
        spawn(async move {
            let answer = call(&store, move |s| {
                let authority = match (by_code, lead_id.as_deref()) {
                    (true, _) => Authority::OfficeCode(&code),
                    (false, Some(lead_id)) => Authority::Lead { lead_id, lead_pin: &lead_pin },
                    (false, None) => return Ok(PinCheck::NotSet),
                };
                s.authorise_first_pin(&id, authority)
            })
            .await;
            busy.set(false);
            pin_text.set(String::new());
            code_text.set(String::new());
            write_field("f-lead_pin", "");
            write_field("f-office_code", "");
            match answer {
                Ok(PinCheck::Right) => {
                    message.set(None);
                    *reload.write() += 1;
                }
                Ok(PinCheck::CodeRefused) => message.set(Some(t.office_code_refused.to_owned())),
                Ok(PinCheck::Wait { secs }) => message.set(Some(t.pin_wait(secs))),
                Ok(_) => message.set(Some(t.lead_wrong.to_owned())),
                Err(e) => message.set(Some(t.store_error(&e))),
            }
        });
    };
    let id = volunteer_id.clone();
    let store = services.store.clone();
    let lead_unlock = move || {
        let Some(lead_id) = lead() else { return };
        let p = pin_text();
        let store = store.clone();
        let id = id.clone();
        busy.set(true);
        spawn(async move {
            let answer = call(&store, move |s| s.unblock_pin(&id, &lead_id, &p)).await;
            busy.set(false);
            pin_text.set(String::new());
            write_field("f-lead_pin", "");
            match answer {
                Ok(PinCheck::Right) => {
                    message.set(None);
                    *reload.write() += 1;
                }
                Ok(PinCheck::Wait { secs }) => message.set(Some(t.pin_wait(secs))),
                Ok(_) => message.set(Some(t.lead_wrong.to_owned())),
                Err(e) => message.set(Some(t.store_error(&e))),
            }
        });
    };
    if lead().is_none() {
        if let Some(first) = leads.first() {
            lead.set(Some(first.id.clone()));
        }
    }
    let notice = message().or(match pin_state {
        PinState::Wait { secs, .. } => Some(t.pin_wait(secs)),
        _ => None,
    });
    let body = match pin_state {
        PinState::NotSet => {
            let mut set_pin2 = set_pin.clone();
            let mut set_pin = set_pin;
            rsx! {
                h2 { "{t.set_pin_title}" }
                p { class: "hint", "{t.set_pin_hint}" }
                label { class: "field",
                    span { class: "label", "{t.pin_label}" }
                    input { id: "f-pin", r#type: "password", inputmode: "numeric", autocomplete: "new-password", maxlength: "12",
                        "data-testid": "pin-new", initial_value: "{pin_text}", onmounted: focus, oninput: move |e| { pin_text.set(e.value()); message.set(None); } }
                }
                label { class: "field",
                    span { class: "label", "{t.pin_again}" }
                    input { id: "f-pin_again", r#type: "password", inputmode: "numeric", autocomplete: "new-password", maxlength: "12",
                        "data-testid": "pin-again", initial_value: "{again}", oninput: move |e| { again.set(e.value()); message.set(None); },
                        onkeydown: move |e: KeyboardEvent| if e.key() == Key::Enter { set_pin2() } }
                }
                button { class: "primary wide", "data-testid": "pin-set", disabled: busy(), onclick: move |_| set_pin(),
                    if busy() { "{t.checking_pin}" } else { "{t.set_pin_button}" } }
            }
        }
        PinState::Ready { .. } | PinState::Wait { .. } => {
            let mut try_pin2 = try_pin.clone();
            let mut try_pin = try_pin;
            rsx! {
                label { class: "field",
                    span { class: "label", "{t.pin_label}" }
                    input { id: "f-pin", r#type: "password", inputmode: "numeric", autocomplete: "current-password", maxlength: "12",
                        "data-testid": "pin-input", initial_value: "{pin_text}", onmounted: focus, oninput: move |e| { pin_text.set(e.value()); message.set(None); },
                        onkeydown: move |e: KeyboardEvent| if e.key() == Key::Enter { try_pin2() } }
                }
                button { class: "primary wide", "data-testid": "pin-unlock", disabled: busy(), onclick: move |_| try_pin(),
                    if busy() { "{t.checking_pin}" } else { "{t.unlock}" } }
            }
        }
        PinState::NotHere => rsx! {
            p { class: "error", role: "alert", "data-testid": "not-here", "{t.not_here}" }
        },
        PinState::NeedsAuthority => {
            let authorise2 = authorise.clone();
            rsx! {
                h2 { "{t.first_pin_title}" }
                p { class: "hint", "{t.first_pin_hint}" }
                label { class: "field",
                    span { class: "label", "{t.office_code_label}" }
                    input { id: "f-office_code", r#type: "text", autocomplete: "off", autocapitalize: "characters", maxlength: "12",
                        "data-testid": "office-code", initial_value: "{code_text}", onmounted: focus,
                        oninput: move |e| { code_text.set(e.value()); message.set(None); } }
                }
                button { class: "primary wide", "data-testid": "use-office-code", disabled: busy(),
                    onclick: move |_| authorise2.clone()(true), "{t.use_office_code}" }
                if !leads.is_empty() {
                    p { class: "hint", "{t.or_lead}" }
                    LeadFields { leads: leads.clone(), lead, pin_text, message }
                    button { class: "secondary wide", "data-testid": "lead-authorise", disabled: busy(),
                        onclick: move |_| authorise.clone()(false), "{t.lead_authorise}" }
                }
            }
        }
        PinState::Blocked => {
            let mut lead_unlock = lead_unlock;
            rsx! {
                p { class: "error", role: "alert", "data-testid": "pin-blocked", "{t.pin_blocked}" }
                if leads.is_empty() {
                    p { class: "error", "{t.no_lead}" }
                } else {
                    LeadFields { leads: leads.clone(), lead, pin_text, message }
                    button { class: "primary wide", "data-testid": "lead-unlock", disabled: busy(), onclick: move |_| lead_unlock(),
                        "{t.lead_unlock}" }
                }
            }
        }
    };
    let name = reference.volunteer_name(&volunteer_id);
    rsx! {
        div { class: "pin-gate",
            p { class: "lock-who", "👤 {name}" }
            {body}
            if let Some(m) = notice {
                p { class: "error", role: "alert", "data-testid": "pin-message", "{m}" }
            }
        }
    }
}

/// A team lead of this device and the lead's PIN, for an unblock or a first PIN.
#[component]
fn LeadFields(
    leads: Vec<crate::domain::Volunteer>,
    lead: Signal<Option<String>>,
    pin_text: Signal<String>,
    message: Signal<Option<String>>,
) -> Element {
    let t = use_context::<Ui>().t();
    rsx! {
        label { class: "field",
            span { class: "label", "{t.lead_label}" }
            select { "data-testid": "lead-choice", onchange: move |e| lead.set(Some(e.value())),
                for l in leads.iter() {
                    option { key: "{l.id}", value: "{l.id}", selected: lead().as_deref() == Some(l.id.as_str()), "{l.name}" }
                }
            }
        }
        label { class: "field",
            span { class: "label", "{t.lead_pin}" }
            input { id: "f-lead_pin", r#type: "password", inputmode: "numeric", autocomplete: "off", maxlength: "12",
                "data-testid": "lead-pin", initial_value: "{pin_text}", oninput: move |e| { pin_text.set(e.value()); message.set(None); } }
        }
    }
}
