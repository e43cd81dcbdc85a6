//! Choosing who is using the device: one tap on a name, from the commune's volunteer list.

use dioxus::prelude::*;

use super::{call, Services, Ui};

#[component]
pub fn ChooseVolunteer() -> Element {
    let ui = use_context::<Ui>();
    let services = use_context::<Services>();
    let store = services.store.clone();
    let reference = use_resource(move || {
        let store = store.clone();
        async move { call(&store, |s| s.reference()).await }
    });
    let t = ui.t();
    let guard = reference.read();
    let volunteers = match &*guard {
        Some(Ok(r)) => r.volunteers.clone(),
        Some(Err(e)) => return rsx! { div { class: "fatal", "{t.store_error(e)}" } },
        None => return rsx! { div { class: "loading", "…" } },
    };
    drop(guard);
    let current = (ui.volunteer)();
    rsx! {
        section { class: "choose",
            h1 { "{t.who_is_using}" }
            p { class: "hint", "{t.who_is_using_hint}" }
            for v in volunteers {
                button {
                    key: "{v.id}",
                    class: if current.as_deref() == Some(v.id.as_str()) { "volunteer current" } else { "volunteer" },
                    "data-volunteer": "{v.id}",
                    onclick: {
                        let id = v.id.clone();
                        let store = services.store.clone();
                        move |_| {
                            let id = id.clone();
                            let store = store.clone();
                            let mut ui = ui;
                            async move {
                                let chosen = id.clone();
                                if call(&store, move |s| s.set_current_volunteer(&chosen)).await.is_ok() {
                                    ui.volunteer.set(Some(id));
                                    ui.home();
                                }
                            }
                        }
                    },
                    "👤 {v.name}"
                }
            }
        }
    }
}
