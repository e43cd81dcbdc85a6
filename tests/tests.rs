//! All Rust integration tests, compiled into one binary (as ripgrep does).

mod it;
