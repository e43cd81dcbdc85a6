//! Sổ tay: the field logger of a commune's community digital technology teams.
//!
//! Layers, each depending only on those after it: [`ui`] → [`sync`] → [`store`] →
//! [`domain`] in the app (feature `app`), and [`server`] → [`protocol`] → [`domain`] on the
//! commune server (feature `server`). [`i18n`] words domain and store outcomes for the UI;
//! [`enrol_link`] is the enrolment link both sides share.
//! See ARCHITECTURE.md.

pub mod domain;
pub mod enrol_link;
#[cfg(feature = "app")]
pub mod enrol_photo;
pub mod i18n;
pub mod platform;
pub mod protocol;
#[cfg(feature = "server")]
pub mod server;
pub mod store;
#[cfg(feature = "app")]
pub mod sync;
#[cfg(feature = "app")]
pub mod ui;
