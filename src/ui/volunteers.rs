//! Choosing who is using the device: one tap on a name from the commune's volunteer list,
//! then that volunteer's PIN (see [`super::lock`]).

use dioxus::prelude::*;

use super::lock::VolunteerPicker;

#[component]
pub fn ChooseVolunteer() -> Element {
    rsx! { VolunteerPicker {} }
}
