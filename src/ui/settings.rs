//! The settings screen: the app's language, chosen deliberately here rather than by a
//! button in the top bar that a slipping thumb could press.

use dioxus::prelude::*;

use super::{call, Services, Ui};
use crate::i18n::Lang;

#[component]
pub fn Settings() -> Element {
    let ui = use_context::<Ui>();
    let services = use_context::<Services>();
    let t = ui.t();
    let current = (ui.lang)();
    rsx! {
        section { class: "settings",
            h1 { "{t.settings}" }
            fieldset { class: "field", "data-field": "language",
                legend { class: "label", "{t.language}" }
                div { class: "choices column",
                    for (i, lang) in Lang::ALL.into_iter().enumerate() {
                        label { class: "choice", lang: lang.code(),
                            input { r#type: "radio", name: "language", value: lang.code(), checked: lang == current,
                                onchange: {
                                    let store = services.store.clone();
                                    move |_: FormEvent| {
                                        let store = store.clone();
                                        let mut ui = ui;
                                        ui.lang.set(lang);
                                        async move {
                                            let _ = call(&store, move |s| s.set_setting("language", lang.code())).await;
                                        }
                                    }
                                } }
                            span { "{t.language_names[i]}" }
                        }
                    }
                }
            }
        }
    }
}
