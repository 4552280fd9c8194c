#![doc = include_str!("../README.md")]
#![cfg_attr(docsrs, feature(doc_cfg))]

mod adapter;
mod connection;
mod dynamic;
mod error;
mod migrate;
mod rate_limit;
mod route;
mod router;
mod stores;
mod transaction;
mod typed;

pub use adapter::TokioPostgresAdapter;
pub use connection::TokioPostgresConnection;
pub use error::{Error, ErrorKind, Result};
pub use rate_limit::TokioPostgresRateLimitStore;
pub use route::{DynamicReason, RoutePolicy, RouteReport, TableRoute};
pub use stores::{TokioPostgresStores, TokioPostgresStoresBuilder};
/// The driver this crate is built on, re-exported so versions always match.
pub use tokio_postgres;
