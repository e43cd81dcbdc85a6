//! Sổ tay: the field logger of a commune's community digital technology teams.
//!
//! This crate is the volunteer's app. Layers, each depending only on those after it: [`ui`]
//! → [`sync`] → [`store`] → `sotay-core` ([`domain`], [`protocol`], [`enrol_link`], re-exported
//! here); [`i18n`] holds the app's words and [`platform`] the data folder and key store.
//!
//! Invariant: the app never depends on the commune server's crate (`sotay-server`, which
//! only the tests and benches add, with feature `server`), so nothing here can reach the
//! server's database or the office. Within this crate the compiler cannot keep the layers
//! apart; `tests/it/architecture.rs` checks what it cannot. See ARCHITECTURE.md.

pub use sotay_core::{domain, enrol_link, protocol};

#[cfg(feature = "app")]
pub mod enrol_photo;
pub mod i18n;
pub mod platform;
pub mod store;
#[cfg(feature = "app")]
pub mod sync;
#[cfg(feature = "app")]
pub mod ui;
