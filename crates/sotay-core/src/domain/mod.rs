//! The domain: what Sổ tay records and the rules those records obey.
//!
//! Owns the four record kinds and their fields (PRODUCT.md "What is recorded"), the one
//! rule set a record obeys on the device and on the server ([`rules`]), the form reading
//! that turns a volunteer's raw input into a record or a list of field errors, the
//! citizen-ID handling (only a keyed hash and the last four digits ever leave
//! [`citizen_id`]), the diacritic-folding used by search, coverage arithmetic, the
//! built-in sample commune and the rules for volunteers' PINs ([`pin`]). It knows nothing
//! of SQL, HTTP, Dioxus or any language's wording: errors are [`rules::Problem`] keys
//! that `i18n` turns into text.

pub mod citizen_id;
pub mod consent;
pub mod coverage;
pub mod fold;
pub mod form;
pub mod labels;
pub mod pin;
pub mod record;
pub mod reference;
pub mod rules;
pub mod sample;
pub mod validate;

pub use record::*;
pub use reference::*;
