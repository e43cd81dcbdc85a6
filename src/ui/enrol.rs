//! Enrolling the device with the commune server: address, one-time code, device name.

use dioxus::prelude::*;

use super::components::Field;
use super::{Services, Ui};

#[component]
pub fn Enrol() -> Element {
    let ui = use_context::<Ui>();
    let services = use_context::<Services>();
    let mut server = use_signal(|| "http://".to_owned());
    let mut code = use_signal(String::new);
    let mut name = use_signal(String::new);
    let mut busy = use_signal(|| false);
    let mut error = use_signal(|| None::<String>);
    let t = ui.t();
    let on_enrol = move |_: MouseEvent| {
        let store = services.store.clone();
        let sync = services.sync.clone();
        let mut ui = ui;
        async move {
            if busy() {
                return;
            }
            busy.set(true);
            error.set(None);
            let device_name = if name().trim().is_empty() { "Sổ tay".to_owned() } else { name().trim().to_owned() };
            let result = crate::sync::enrol(&store, &server(), &code(), &device_name).await;
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
            Field { label: t.server_url, name: "server_url", error: None,
                input { name: "server_url", r#type: "url", inputmode: "url", autocomplete: "off", value: "{server}",
                    oninput: move |e| server.set(e.value()) }
            }
            Field { label: t.enrol_code, name: "enrol_code", error: None,
                input { name: "enrol_code", autocomplete: "off", autocapitalize: "characters", value: "{code}",
                    placeholder: "ABCD-EFGH", oninput: move |e| { code.set(e.value()); error.set(None); } }
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
