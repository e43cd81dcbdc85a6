//! Small props-in, events-out pieces shared by the screens.

use dioxus::prelude::*;

use super::{call, Services, Ui};
use crate::domain::coverage::Coverage;
use crate::domain::SyncState;
use crate::i18n::Lang;

/// Switches between Vietnamese and English and remembers the choice.
#[component]
pub fn LangSwitch() -> Element {
    let mut ui = use_context::<Ui>();
    let services = use_context::<Services>();
    let other = match (ui.lang)() {
        Lang::Vi => Lang::En,
        Lang::En => Lang::Vi,
    };
    rsx! {
        button {
            class: "lang",
            "data-testid": "lang",
            "aria-label": ui.t().switch_language,
            onclick: move |_| {
                let store = services.store.clone();
                ui.lang.set(other);
                async move {
                    let _ = call(&store, move |s| s.set_setting("language", other.code())).await;
                }
            },
            "{other.code().to_uppercase()}"
        }
    }
}

/// A labelled form field with its error message under it.
#[component]
pub fn Field(label: String, name: String, error: Option<String>, children: Element) -> Element {
    let class = if error.is_some() { "field invalid" } else { "field" };
    rsx! {
        div { class, "data-field": "{name}",
            label { class: "label", "{label}" }
            {children}
            if let Some(e) = error {
                p { class: "error", role: "alert", "{e}" }
            }
        }
    }
}

/// A big − / + tally for counting people at a meeting.
#[component]
pub fn Tally(label: String, name: String, value: u32, error: Option<String>, onchange: EventHandler<u32>) -> Element {
    rsx! {
        Field { label, name: name.clone(), error,
            div { class: "tally",
                button { class: "minus", "aria-label": "−1 {name}", "data-tally": "{name}-minus",
                    onclick: move |_| onchange.call(value.saturating_sub(1)), "−" }
                input { class: "tally-value", r#type: "number", inputmode: "numeric", min: "0", name: "{name}",
                    value: "{value}",
                    oninput: move |e| onchange.call(e.value().trim().parse().unwrap_or(0)) }
                button { class: "plus", "aria-label": "+1 {name}", "data-tally": "{name}-plus",
                    onclick: move |_| onchange.call(value.saturating_add(1)), "+" }
            }
        }
    }
}

/// A hamlet's progress bar with the target line.
#[component]
pub fn ProgressBar(name: String, coverage: Coverage) -> Element {
    let ui = use_context::<Ui>();
    let t = ui.t();
    let pct = coverage.percent();
    let width = pct.clamp(0.0, 100.0);
    let target = coverage.target_percent;
    let class = if coverage.reached() { "bar reached" } else { "bar" };
    let needed = coverage.still_needed();
    rsx! {
        div { class: "progress",
            div { class: "progress-head",
                span { class: "name", "{name}" }
                span { class: "pct", "{pct:.1}%" }
            }
            div { class: "track", role: "img", "aria-label": "{name} {pct:.1}%",
                div { class, style: "width: {width:.1}%" }
                div { class: "target", style: "left: {target}%" }
            }
            p { class: "sub",
                "{coverage.signed()}/{coverage.adult_population} · "
                if needed == 0 { "{t.target_reached}" } else { "{t.still_needed(needed)}" }
            }
        }
    }
}

/// Pending / sent / rejected / practice, with the reason when rejected.
#[component]
pub fn StateBadge(state: SyncState, voided: bool) -> Element {
    let t = use_context::<Ui>().t();
    let label = t.sync_states[state.index()];
    rsx! {
        span { class: "badges",
            if voided { span { class: "badge voided", "{t.voided}" } }
            span { class: "badge {state.code()}", "{label}" }
        }
    }
}
