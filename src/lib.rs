//! Sổ tay: the field logger of a commune's community digital technology teams.
//!
//! Layers, each depending only on those after it: [`ui`] → [`store`] → [`domain`], with
//! [`i18n`] wording domain and store outcomes for the UI. See ARCHITECTURE.md.

pub mod domain;
pub mod i18n;
pub mod platform;
pub mod store;
pub mod ui;
