//! Integration tests: the store's contract, durability under SIGKILL, schema upgrades,
//! components rendered with dioxus-ssr, and the architecture's one-way dependencies.

mod architecture;
mod common;
mod durability;
mod store;
mod ui_ssr;
