//! Enrolling the device with the commune server: a pasted enrolment link (which fills in
//! the rest), or the address, one-time code and certificate fingerprint typed; the device
//! name.

use dioxus::prelude::*;

use super::components::Field;
use super::{Services, Ui};
use crate::enrol_link::{EnrolLink, Fingerprint};
use crate::sync::SyncError;

#[component]
pub fn Enrol() -> Element {
    let ui = use_context::<Ui>();
    let services = use_context::<Services>();
    let mut link = use_signal(String::new);
    // Whether the pasted link was read (`Some(true)`), could not be (`Some(false)`), or
    // nothing is pasted.
    let mut link_read = use_signal(|| None::<bool>);
    let mut server = use_signal(String::new);
    let mut code = use_signal(String::new);
    let mut fingerprint = use_signal(String::new);
    let mut name = use_signal(String::new);
    let mut busy = use_signal(|| false);
    let mut error = use_signal(|| None::<String>);
    let t = ui.t();
    let on_link = move |e: FormEvent| {
        let text = e.value();
        link.set(text.clone());
        error.set(None);
        if text.trim().is_empty() {
            link_read.set(None);
            return;
        }
        match EnrolLink::parse(&text) {
            Some(l) => {
                server.set(l.server);
                code.set(l.code);
                fingerprint.set(l.fingerprint.map(|f| f.grouped()).unwrap_or_default());
                link_read.set(Some(true));
            }
            None => link_read.set(Some(false)),
        }
    };
    let on_enrol = move |_: MouseEvent| {
        let store = services.store.clone();
        let sync = services.sync.clone();
        let mut ui = ui;
        async move {
            if busy() {
                return;
            }
            error.set(None);
            let pin = match fingerprint().trim() {
                "" => None,
                typed => match Fingerprint::parse(typed) {
                    Some(f) => Some(f),
                    None => {
                        error.set(Some(ui.t().sync_error(&SyncError::BadFingerprint)));
                        return;
                    }
                },
            };
            busy.set(true);
            let device_name = if name().trim().is_empty() { "Sổ tay".to_owned() } else { name().trim().to_owned() };
            let result = crate::sync::enrol_pinned(&store, &server(), pin, &code(), &device_name).await;
            busy.set(false);
            match result {
                Ok(()) => {
                    sync.sync_now();
                    ui.volunteer.set(None);
                    ui.home();
                    ui.flash.set(Some(ui.t().enrolled_done.to_owned()));
                    ui.changed();
                }
                Err(e) => error.set(Some(ui.t().sync_error(&e))),
            }
        }
    };
    rsx! {
        section { class: "enrol",
            h1 { "{t.enrol_title}" }
            p { class: "hint", "{t.enrol_hint}" }
            Field { label: t.enrol_link, name: "enrol_link", error: None,
                input { name: "enrol_link", inputmode: "url", autocomplete: "off", autocapitalize: "none",
                    spellcheck: "false", value: "{link}", placeholder: "sotay://enrol?…", oninput: on_link }
            }
            match link_read() {
                Some(true) => rsx! { p { class: "hint", "data-testid": "enrol-link-read", "{t.enrol_link_read}" } },
                Some(false) => rsx! { p { class: "error", role: "alert", "data-testid": "enrol-link-bad", "{t.enrol_link_bad}" } },
                None => rsx! {},
            }
            Field { label: t.server_url, name: "server_url", error: None,
                input { name: "server_url", r#type: "url", inputmode: "url", autocomplete: "off", value: "{server}",
                    placeholder: "https://192.168.1.10:8443", oninput: move |e| server.set(e.value()) }
            }
            Field { label: t.enrol_code, name: "enrol_code", error: None,
                input { name: "enrol_code", autocomplete: "off", autocapitalize: "characters", value: "{code}",
                    placeholder: "ABCD-EFGH", oninput: move |e| { code.set(e.value()); error.set(None); } }
            }
            Field { label: t.cert_fingerprint, name: "cert_fingerprint", error: None,
                input { name: "cert_fingerprint", autocomplete: "off", autocapitalize: "characters", spellcheck: "false",
                    value: "{fingerprint}", oninput: move |e| { fingerprint.set(e.value()); error.set(None); } }
            }
            Field { label: t.device_name, name: "device_name", error: None,
                input { name: "device_name", value: "{name}", oninput: move |e| name.set(e.value()) }
            }
            if let Some(e) = error() {
                p { class: "error form-status", role: "alert", "data-testid": "enrol-error", "{e}" }
            }
            div { class: "actions",
                button { class: "primary", "data-testid": "enrol", disabled: busy(), onclick: on_enrol,
                    if busy() { "{t.enrolling}" } else { "{t.enrol_button}" }
                }
            }
        }
    }
}
