//! The statements cornucopia compiled from `queries/*.sql`, included from `OUT_DIR`.
//!
//! Private on purpose: `typed::*` maps these structs to `DbRecord`s, so a cornucopia upgrade is
//! never a semver break for users. Lints are silenced here only.
#![allow(
    clippy::all,
    clippy::pedantic,
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    dead_code,
    unused_imports,
    unreachable_pub,
    missing_docs,
    missing_debug_implementations,
    unused_qualifications,
    rust_2018_idioms
)]

include!(concat!(env!("OUT_DIR"), "/cornucopia.rs"));
