//! The one integration-test binary (style R15): every test module is declared here.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    unreachable_pub
)]

mod cancellation;
mod contract;
mod differential;
mod dynamic;
mod faults;
mod fixtures;
mod harness_smoke;
mod hostile;
mod hostile_gaps;
mod http_flows;
mod ids;
mod joins;
mod migrate;
mod pgbouncer;
#[cfg(feature = "deadpool")]
mod pool;
mod property;
mod races;
mod rate_limit;
mod restart;
mod statement_modes;
mod statements;
mod support;
#[cfg(feature = "rustls")]
mod tls;
mod tracing;
mod transactions;
mod verify;
