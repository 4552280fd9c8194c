//! The pooled implementations (feature `deadpool`): this crate's
//! `TokioPostgresConnection::connect_pool` with `RoutePolicy::Auto`, and upstream
//! `rustauth-deadpool-postgres` 0.3.2, both with 8 connections.

use rustauth_core::db::{DbAdapter, DbSchema};
use rustauth_core::options::RateLimitStore;
use rustauth_tokio_postgres::{
    PoolOptions, RoutePolicy, TokioPostgresAdapter, TokioPostgresConnection,
    TokioPostgresRateLimitStore,
};

use crate::ops::Kind;

/// Connections per pool: one per concurrent task at c=8.
pub const POOL_SIZE: usize = 8;

/// The adapter and rate-limit store of a pooled `kind` over `url` (connections open lazily).
pub async fn open(
    kind: Kind,
    url: &str,
    schema: DbSchema,
) -> Result<(Box<dyn DbAdapter>, Box<dyn RateLimitStore>), String> {
    match kind {
        Kind::Pool => {
            let options = PoolOptions::default().max_size(POOL_SIZE);
            let conn = TokioPostgresConnection::connect_pool(url, options)
                .map_err(|e| format!("pool: {e}"))?;
            let rate_limit = TokioPostgresRateLimitStore::from_connection(&conn, "rate_limits");
            let db = TokioPostgresAdapter::with_policy(conn, schema, RoutePolicy::Auto);
            Ok((Box::new(db), Box::new(rate_limit)))
        }
        Kind::UpstreamPool => {
            let db = upstream_deadpool::DeadpoolPostgresAdapter::builder()
                .database_url(url)
                .schema(schema)
                .max_size(POOL_SIZE)
                .connect()
                .await
                .map_err(|e| format!("upstream pool: {e}"))?;
            let rate_limit = upstream_deadpool::DeadpoolPostgresRateLimitStore::with_table(
                db.pool().clone(),
                "rate_limits",
            );
            Ok((Box::new(db), Box::new(rate_limit)))
        }
        other => Err(format!("{} is not a pooled implementation", other.name())),
    }
}
