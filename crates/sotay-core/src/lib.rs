//! Sổ tay's core, shared by the volunteer's app and the commune server: what is recorded
//! and its rules ([`domain`]), the wire between them ([`protocol`]) and the enrolment link
//! ([`enrol_link`]).
//!
//! Invariant: no I/O and nothing of ours beneath it. It depends on no database, network,
//! UI or runtime crate (no rusqlite, tokio, axum, reqwest or Dioxus in its `Cargo.toml`), so
//! everything here is a pure function of its input, tested by tables, and both sides read
//! a record, a choice and a wire message the same way.

pub mod domain;
pub mod enrol_link;
pub mod protocol;
