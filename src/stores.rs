//! [`TokioPostgresStores`]: the adapter and the rate-limit store on one connection.

use std::sync::Arc;
use std::time::Duration;

use rustauth_core::db::{DbAdapter, DbSchema, RateLimitStorage, auth_schema};
use rustauth_core::error::RustAuthError;
use rustauth_core::options::{RateLimitStorageOption, RustAuthOptions};

use crate::{
    RoutePolicy, StatementMode, TokioPostgresAdapter, TokioPostgresConnection,
    TokioPostgresRateLimitStore,
};

/// Everything RustAuth stores in PostgreSQL, sharing one connection.
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct TokioPostgresStores {
    /// The database adapter.
    pub adapter: TokioPostgresAdapter,
    /// The rate-limit store, on the adapter's connection.
    pub rate_limit: TokioPostgresRateLimitStore,
}

impl TokioPostgresStores {
    /// A builder (schema, route policy).
    pub fn builder() -> TokioPostgresStoresBuilder {
        TokioPostgresStoresBuilder::default()
    }

    /// Connects to `url` for RustAuth's default schema with database rate limiting.
    ///
    /// # Errors
    /// A connection error with its SQLSTATE.
    pub async fn connect(url: &str) -> Result<Self, RustAuthError> {
        Self::builder().connect(url).await
    }

    /// Connects to `url` for `schema` (use the schema of your `RustAuth` context).
    ///
    /// # Errors
    /// A connection error with its SQLSTATE.
    pub async fn connect_with_schema(url: &str, schema: DbSchema) -> Result<Self, RustAuthError> {
        Self::builder().schema(schema).connect(url).await
    }

    /// Bundles an adapter with a rate-limit store on its connection.
    pub fn from_adapter(adapter: TokioPostgresAdapter) -> Self {
        let rate_limit = adapter.rate_limit_store();
        Self {
            adapter,
            rate_limit,
        }
    }

    /// Sets rate-limit storage to this database and the store to [`Self::rate_limit`],
    /// keeping every other rate-limit option (enabled, window, max, rules, …) as it was.
    #[must_use]
    pub fn apply_to_options(&self, mut options: RustAuthOptions) -> RustAuthOptions {
        options.rate_limit.storage = RateLimitStorageOption::Database;
        options.rate_limit.custom_store = Some(Arc::new(self.rate_limit.clone()));
        options
    }

    /// The adapter as a shared trait object.
    pub fn adapter(&self) -> Arc<dyn DbAdapter> {
        Arc::new(self.adapter.clone())
    }

    /// The adapter.
    pub fn adapter_ref(&self) -> &TokioPostgresAdapter {
        &self.adapter
    }
}

/// Builds [`TokioPostgresStores`].
#[derive(Debug, Clone, Default)]
#[must_use]
pub struct TokioPostgresStoresBuilder {
    schema: Option<DbSchema>,
    policy: RoutePolicy,
    mode: Option<StatementMode>,
    connect_timeout: Option<Duration>,
    statement_timeout: Option<Duration>,
    #[cfg(feature = "deadpool")]
    pool: Option<crate::PoolOptions>,
}

impl TokioPostgresStoresBuilder {
    /// Same as [`TokioPostgresStores::builder`].
    pub fn new() -> Self {
        Self::default()
    }

    /// The schema to plan against; defaults to RustAuth's default schema with database rate
    /// limiting. Pass `create_auth_context(options)?.db_schema` when plugins add fields.
    pub fn schema(mut self, schema: DbSchema) -> Self {
        self.schema = Some(schema);
        self
    }

    /// Whether typed statements may be used (default [`RoutePolicy::Auto`]).
    pub fn route_policy(mut self, policy: RoutePolicy) -> Self {
        self.policy = policy;
        self
    }

    /// Builds the stores over an existing connection.
    ///
    /// The stores keep rate limits in the database, so a schema without a `rate_limit` table
    /// gets RustAuth's default one: `stores.adapter.schema()` is then the complete schema to
    /// migrate with.
    pub fn build(self, connection: TokioPostgresConnection) -> TokioPostgresStores {
        let default_schema = || {
            auth_schema(rustauth_core::db::AuthSchemaOptions {
                rate_limit_storage: RateLimitStorage::Database,
                ..Default::default()
            })
        };
        let mut schema = self.schema.unwrap_or_else(default_schema);
        if schema.table("rate_limit").is_none()
            && let Some(table) = default_schema().table("rate_limit")
            && let Err(error) = schema.insert_plugin_table("rate_limit".to_owned(), table.clone())
        {
            // Another table already uses the name `rate_limits`; the store then fails with
            // that table's error on use, which names it.
            tracing::warn!(target: "rustauth_tokio_postgres", %error, "no rate_limit table added");
        }
        let connection = match self.mode {
            Some(mode) => connection.with_statement_mode(mode),
            None => connection,
        };
        let connection = match self.statement_timeout {
            Some(timeout) => connection.with_statement_timeout(timeout),
            None => connection,
        };
        TokioPostgresStores::from_adapter(TokioPostgresAdapter::with_policy(
            connection,
            schema,
            self.policy,
        ))
    }

    /// How statements reach the server (default [`StatementMode::Prepared`]; use
    /// [`StatementMode::Unnamed`] behind transaction-mode poolers).
    pub fn statement_mode(mut self, mode: StatementMode) -> Self {
        self.mode = Some(mode);
        self
    }

    /// Bounds each connect and reconnect, TCP and login together (default: the URL's
    /// `connect_timeout`, else [`DEFAULT_CONNECT_TIMEOUT`](crate::DEFAULT_CONNECT_TIMEOUT); for
    /// a pool it sets `PoolOptions::create_timeout`, feature `deadpool`).
    /// Used by [`connect`](Self::connect).
    pub fn connect_timeout(mut self, timeout: Duration) -> Self {
        self.connect_timeout = Some(timeout);
        self
    }

    /// Bounds each operation (default
    /// [`DEFAULT_STATEMENT_TIMEOUT`](crate::DEFAULT_STATEMENT_TIMEOUT), or the pool options'):
    /// see [`TokioPostgresConnection::with_statement_timeout`].
    pub fn statement_timeout(mut self, timeout: Duration) -> Self {
        self.statement_timeout = Some(timeout);
        self
    }

    /// Connect through a deadpool pool with these options instead of one client.
    #[cfg(feature = "deadpool")]
    #[cfg_attr(docsrs, doc(cfg(feature = "deadpool")))]
    pub fn pool(mut self, options: crate::PoolOptions) -> Self {
        self.pool = Some(options);
        self
    }

    /// Connects to `url` (no TLS) and builds the stores: one client with its driver task
    /// spawned, which reconnects by itself after losing its connection, or a pool when `pool`
    /// (feature `deadpool`) was set.
    ///
    /// # Errors
    /// A connection error with its SQLSTATE (a pool connects on first use instead).
    pub async fn connect(self, url: &str) -> Result<TokioPostgresStores, RustAuthError> {
        #[cfg(feature = "deadpool")]
        if let Some(mut options) = self.pool {
            if let Some(timeout) = self.connect_timeout {
                options.create_timeout = timeout;
            }
            let connection = TokioPostgresConnection::connect_pool(url, options)?;
            return Ok(self.build(connection));
        }
        let connection =
            TokioPostgresConnection::connect_with_timeout(url, self.connect_timeout).await?;
        Ok(self.build(connection))
    }
}
