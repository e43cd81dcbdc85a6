//! Small props-in, events-out pieces shared by the screens.

use dioxus::prelude::*;

use super::Ui;
use crate::domain::coverage::Coverage;
use crate::domain::SyncState;

/// A labelled form field with its error message under it. The label names the control whose
/// id is [`field_id`]`(name)` (tapping it focuses the field; a screen reader reads it); a
/// `group` of radio buttons or ticks is a fieldset named by its legend instead.
#[component]
pub fn Field(
    label: String,
    name: String,
    error: Option<String>,
    #[props(default)] group: bool,
    children: Element,
) -> Element {
    let class = if error.is_some() { "field invalid" } else { "field" };
    let error = rsx! {
        if let Some(e) = error {
            p { class: "error", role: "alert", id: "{field_id(&name)}-error", "{e}" }
        }
    };
    if group {
        return rsx! {
            fieldset { class, "data-field": "{name}",
                legend { class: "label", "{label}" }
                {children}
                {error}
            }
        };
    }
    rsx! {
        div { class, "data-field": "{name}",
            label { class: "label", r#for: "{field_id(&name)}", "{label}" }
            {children}
            {error}
        }
    }
}

/// The id of the control a [`Field`] named `name` labels.
pub fn field_id(name: &str) -> String {
    format!("f-{name}")
}

/// Writes `value` into the text box with id `id`: the one way the app changes what a box
/// the volunteer types in holds (a read link filling in the rest, a PIN box emptied after a
/// try). The boxes are uncontrolled (`initial_value`), so no re-render ever does.
pub fn write_field(id: &str, value: &str) {
    let (id, value) = (serde_json::to_string(id).unwrap_or_default(), serde_json::to_string(value).unwrap_or_default());
    let _ = document::eval(&format!("{{ const e = document.getElementById({id}); if (e) e.value = {value}; }}"));
}

/// A big − / + tally for counting people at a meeting.
#[component]
pub fn Tally(label: String, name: String, value: u32, error: Option<String>, onchange: EventHandler<u32>) -> Element {
    // The number box is the volunteer's while they type in it (the app never rewrites it
    // under their fingers); a tap of − or + writes the new number into it.
    let id = field_id(&name);
    let set = move |n: u32| {
        onchange.call(n);
        let _ = document::eval(&format!("{{ const e = document.getElementById('{id}'); if (e) e.value = '{n}'; }}"));
    };
    rsx! {
        Field { label: label.clone(), name: name.clone(), error,
            div { class: "tally",
                button { class: "minus", "aria-label": "−1 {label}", "data-tally": "{name}-minus",
                    onclick: { let set = set.clone(); move |_| set(value.saturating_sub(1)) }, "−" }
                input { class: "tally-value", r#type: "number", inputmode: "numeric", min: "0", name: "{name}", id: "{field_id(&name)}",
                    initial_value: "{value}",
                    oninput: move |e| onchange.call(e.value().trim().parse().unwrap_or(0)) }
                button { class: "plus", "aria-label": "+1 {label}", "data-tally": "{name}-plus",
                    onclick: move |_| set(value.saturating_add(1)), "+" }
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
