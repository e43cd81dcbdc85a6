//! Enrolling the device with the commune server: a photo of the office's QR code (which
//! fills in the rest), a pasted enrolment link (likewise), or the address, one-time code and
//! certificate fingerprint typed; the device name.
//!
//! The photo comes from a file input that asks for the camera (`capture="environment"`): a
//! phone's WebView opens the camera, a desktop offers a file. Its bytes are read by a few
//! lines of script and handed over base64-encoded (the one way every renderer, the desktop
//! and phone WebViews and liveview alike, gives a picked file's bytes), then decoded and the
//! QR code read in Rust off the UI thread (`enrol_photo`).

use dioxus::prelude::*;

use super::components::{write_field, Field};
use super::{Services, Ui};
use crate::enrol_link::{EnrolLink, Fingerprint};
use crate::enrol_photo::PhotoError;
use crate::sync::SyncError;

/// Reads the picked photo's bytes and sends them base64-encoded ("" when none was picked),
/// then empties the input so the same photo can be picked again.
const READ_PHOTO: &str = r#"
const input = document.querySelector('input[name=enrol_photo]');
const file = input && input.files && input.files[0];
if (!file) {
  dioxus.send("");
} else {
  const bytes = new Uint8Array(await file.arrayBuffer());
  let text = "";
  for (let i = 0; i < bytes.length; i += 0x8000) {
    text += String.fromCharCode.apply(null, bytes.subarray(i, i + 0x8000));
  }
  input.value = "";
  dioxus.send(btoa(text));
}
"#;

#[component]
pub fn Enrol() -> Element {
    let ui = use_context::<Ui>();
    let services = use_context::<Services>();
    let mut link = use_signal(String::new);
    // Whether the pasted link was read (`Some(true)`), could not be (`Some(false)`), or
    // nothing is pasted.
    let mut link_read = use_signal(|| None::<bool>);
    // What the last photo of a QR code gave: `Ok` once its link filled the fields.
    let mut photo = use_signal(|| None::<Result<(), PhotoError>>);
    let mut server = use_signal(String::new);
    let mut code = use_signal(String::new);
    let mut fingerprint = use_signal(String::new);
    let mut name = use_signal(String::new);
    let mut busy = use_signal(|| false);
    let mut error = use_signal(|| None::<String>);
    let t = ui.t();
    // What a read link gives: the address, the code and the fingerprint, in their boxes
    // too (the boxes are the volunteer's while they type: `write_field`).
    let mut fill_in = move |l: EnrolLink| {
        let pin = l.fingerprint.map(|f| f.grouped()).unwrap_or_default();
        write_field("f-server_url", &l.server);
        write_field("f-enrol_code", &l.code);
        write_field("f-cert_fingerprint", &pin);
        server.set(l.server);
        code.set(l.code);
        fingerprint.set(pin);
    };
    let on_link = move |e: FormEvent| {
        let text = e.value();
        link.set(text.clone());
        error.set(None);
        photo.set(None);
        if text.trim().is_empty() {
            link_read.set(None);
            return;
        }
        match EnrolLink::parse(&text) {
            Some(l) => {
                fill_in(l);
                link_read.set(Some(true));
            }
            None => link_read.set(Some(false)),
        }
    };
    let on_photo = move |_: FormEvent| async move {
        error.set(None);
        let mut script = document::eval(READ_PHOTO);
        let Ok(encoded) = script.recv::<String>().await else {
            photo.set(Some(Err(PhotoError::NotAPicture)));
            return;
        };
        if encoded.is_empty() {
            return;
        }
        use base64::Engine;
        let Ok(bytes) = base64::engine::general_purpose::STANDARD.decode(encoded.as_bytes()) else {
            photo.set(Some(Err(PhotoError::NotAPicture)));
            return;
        };
        let read = tokio::task::spawn_blocking(move || crate::enrol_photo::read_link(&bytes))
            .await
            .unwrap_or(Err(PhotoError::NotAPicture));
        match read {
            Ok(l) => {
                link.set(l.to_link());
                write_field("f-enrol_link", &l.to_link());
                link_read.set(None);
                fill_in(l);
                photo.set(Some(Ok(())));
            }
            Err(e) => photo.set(Some(Err(e))),
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
            label { class: "photo-button", "data-testid": "enrol-photo",
                span { "{t.enrol_photo}" }
                input { id: "f-enrol_photo", name: "enrol_photo", r#type: "file", accept: "image/*", capture: "environment", onchange: on_photo }
            }
            p { class: "hint", "{t.enrol_photo_hint}" }
            match photo() {
                Some(Ok(())) => rsx! { p { class: "hint", "data-testid": "enrol-photo-read", "{t.enrol_photo_read}" } },
                Some(Err(PhotoError::NotALink)) => rsx! { p { class: "error", role: "alert", "data-testid": "enrol-photo-bad", "{t.enrol_photo_not_link}" } },
                Some(Err(_)) => rsx! { p { class: "error", role: "alert", "data-testid": "enrol-photo-bad", "{t.enrol_photo_bad}" } },
                None => rsx! {},
            }
            Field { label: t.enrol_link, name: "enrol_link", error: None,
                input { id: "f-enrol_link", name: "enrol_link", inputmode: "url", autocomplete: "off", autocapitalize: "none",
                    spellcheck: "false", initial_value: "{link}", placeholder: "sotay://enrol?…", oninput: on_link }
            }
            match link_read() {
                Some(true) => rsx! { p { class: "hint", "data-testid": "enrol-link-read", "{t.enrol_link_read}" } },
                Some(false) => rsx! { p { class: "error", role: "alert", "data-testid": "enrol-link-bad", "{t.enrol_link_bad}" } },
                None => rsx! {},
            }
            Field { label: t.server_url, name: "server_url", error: None,
                input { id: "f-server_url", name: "server_url", r#type: "url", inputmode: "url", autocomplete: "off", initial_value: "{server}",
                    placeholder: "https://192.168.1.10:8443", oninput: move |e| server.set(e.value()) }
            }
            Field { label: t.enrol_code, name: "enrol_code", error: None,
                input { id: "f-enrol_code", name: "enrol_code", autocomplete: "off", autocapitalize: "characters", initial_value: "{code}",
                    placeholder: "ABCD-EFGH", oninput: move |e| { code.set(e.value()); error.set(None); } }
            }
            Field { label: t.cert_fingerprint, name: "cert_fingerprint", error: None,
                input { id: "f-cert_fingerprint", name: "cert_fingerprint", autocomplete: "off", autocapitalize: "characters", spellcheck: "false",
                    initial_value: "{fingerprint}", oninput: move |e| { fingerprint.set(e.value()); error.set(None); } }
            }
            Field { label: t.device_name, name: "device_name", error: None,
                input { id: "f-device_name", name: "device_name", initial_value: "{name}", oninput: move |e| name.set(e.value()) }
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
