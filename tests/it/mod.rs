//! Integration tests: the store's contract, durability under SIGKILL, schema upgrades,
//! components rendered with dioxus-ssr, the architecture's one-way dependencies, and (with
//! the `server` feature) sync against a real server with faults injected.

mod architecture;
#[cfg(feature = "server")]
mod asof;
#[cfg(feature = "server")]
mod audit;
#[cfg(feature = "server")]
mod backup;
#[cfg(feature = "server")]
mod breakdowns;
#[cfg(feature = "server")]
mod choices;
#[cfg(feature = "server")]
mod commands;
mod common;
#[cfg(feature = "server")]
mod consent;
#[cfg(all(feature = "server", unix))]
mod data_folder;
mod durability;
mod encryption;
#[cfg(all(feature = "server", feature = "app"))]
mod enrol_qr;
#[cfg(feature = "server")]
mod exhaustion;
#[cfg(feature = "server")]
mod hostile;
#[cfg(feature = "server")]
mod logs;
#[cfg(feature = "server")]
mod office;
#[cfg(feature = "server")]
mod office_headers;
#[cfg(feature = "server")]
mod openapi;
#[cfg(feature = "server")]
mod pins;
#[cfg(feature = "server")]
mod plan;
#[cfg(feature = "server")]
mod postgres;
#[cfg(feature = "server")]
mod protection;
#[cfg(feature = "server")]
mod province;
#[cfg(feature = "server")]
mod proxy;
#[cfg(feature = "server")]
mod records_pages;
#[cfg(feature = "server")]
mod report_docx;
#[cfg(feature = "server")]
mod retire;
#[cfg(feature = "server")]
mod rules;
mod search;
mod store;
#[cfg(feature = "server")]
mod stores;
#[cfg(feature = "server")]
mod sync;
#[cfg(feature = "server")]
mod sync_api;
#[cfg(feature = "server")]
mod sync_faults;
#[cfg(feature = "server")]
mod tls;
mod ui_ssr;
#[cfg(feature = "server")]
mod units;
#[cfg(feature = "server")]
mod upgrade;
#[cfg(feature = "server")]
mod wire;
