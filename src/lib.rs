#![doc = include_str!("../README.md")]
#![cfg_attr(docsrs, feature(doc_cfg))]

mod adapter;
mod connection;
mod dynamic;
mod error;
mod migrate;
#[cfg(feature = "deadpool")]
mod pool;
mod rate_limit;
mod route;
mod router;
mod stores;
mod telemetry;
mod timeout;
#[cfg(feature = "rustls")]
mod tls;
mod transaction;
mod typed;
mod verify;

pub use adapter::TokioPostgresAdapter;
pub use connection::{
    DEFAULT_CONNECT_TIMEOUT, DEFAULT_STATEMENT_TIMEOUT, StatementMode, TokioPostgresConnection,
};
/// The pool crate this crate is built on, re-exported so versions always match.
#[cfg(feature = "deadpool")]
#[cfg_attr(docsrs, doc(cfg(feature = "deadpool")))]
pub use deadpool_postgres;
pub use error::{Error, ErrorKind, Result};
#[cfg(feature = "deadpool")]
#[cfg_attr(docsrs, doc(cfg(feature = "deadpool")))]
pub use pool::PoolOptions;
pub use rate_limit::TokioPostgresRateLimitStore;
pub use route::{DynamicReason, RoutePolicy, RouteReport, TableRoute};
/// The rustls crate [`TokioPostgresConnection::connect_tls`] takes a configuration of,
/// re-exported so versions always match.
#[cfg(feature = "rustls")]
#[cfg_attr(docsrs, doc(cfg(feature = "rustls")))]
pub use rustls;
pub use stores::{TokioPostgresStores, TokioPostgresStoresBuilder};
/// The driver this crate is built on, re-exported so versions always match.
pub use tokio_postgres;
/// The tokio-postgres integration of rustls, re-exported so versions always match.
#[cfg(feature = "rustls")]
#[cfg_attr(docsrs, doc(cfg(feature = "rustls")))]
pub use tokio_postgres_rustls;
pub use verify::{Drift, StatementCheck, StatementOutcome, TableCheck, VerifyReport};
