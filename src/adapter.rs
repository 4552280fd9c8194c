//! [`TokioPostgresAdapter`]: the `DbAdapter` users install.

use std::sync::Arc;

use rustauth_core::db::{
    AdapterCapabilities, AdapterFuture, Count, Create, DbAdapter, DbRecord, DbSchema, Delete,
    DeleteMany, FindMany, FindOne, SchemaCreation, SchemaMigrationPlan, TransactionCallback,
    Update, UpdateMany, auth_schema,
};
use rustauth_core::error::RustAuthError;
use rustauth_core::plugin::PluginMigration;
use tokio_postgres::Client;

use crate::connection::{Exclusive, TokioPostgresConnection, statements};
use crate::error::Error;
use crate::migrate;
use crate::route::{RoutePolicy, RouteReport, Routes};
use crate::router::{RouteCounters, Router};
use crate::timeout::{Poison, within};
use crate::transaction::TransactionAdapter;
use crate::typed::client::{Conn, Statements};

/// The adapter id reported by [`DbAdapter::id`] and the capabilities.
pub(crate) const ADAPTER_ID: &str = "tokio-postgres";

/// A RustAuth [`DbAdapter`] over one PostgreSQL client.
///
/// Known operations on the fixed tables run as typed statements compiled from `queries/` and
/// prepared once per connection; every other operation runs through rustauth-core's SQL
/// planner as one unnamed statement. Which tables may run typed is decided once, when the
/// adapter is built: see [`route_report`](Self::route_report).
///
/// Cheap to clone; clones share the connection and the prepared statements.
#[derive(Clone)]
pub struct TokioPostgresAdapter {
    connection: TokioPostgresConnection,
    state: Arc<State>,
}

pub(crate) struct State {
    pub(crate) schema: DbSchema,
    pub(crate) routes: Routes,
    pub(crate) counters: RouteCounters,
}

impl State {
    pub(crate) fn router(&self) -> Router<'_> {
        Router {
            schema: &self.schema,
            routes: &self.routes,
            counters: &self.counters,
        }
    }
}

impl std::fmt::Debug for TokioPostgresAdapter {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TokioPostgresAdapter")
            .field("connection", &self.connection)
            .field("routes", self.state.routes.report())
            .finish_non_exhaustive()
    }
}

impl TokioPostgresAdapter {
    /// An adapter for RustAuth's default schema over `client`.
    ///
    /// The caller drives the client's `Connection` (usually `tokio::spawn(connection)`). Build
    /// with the schema your `RustAuth` context uses (plugins add fields) via
    /// [`with_schema`](Self::with_schema).
    pub fn new(client: Client) -> Self {
        Self::with_schema(client, auth_schema(Default::default()))
    }

    /// An adapter for `schema` over `client`; the caller drives the connection.
    pub fn with_schema(client: Client, schema: DbSchema) -> Self {
        Self::with_connection(TokioPostgresConnection::from_client(client), schema)
    }

    /// An adapter for `schema` over a shared connection (for example the one the rate-limit
    /// store uses).
    pub fn with_connection(connection: TokioPostgresConnection, schema: DbSchema) -> Self {
        Self::with_policy(connection, schema, RoutePolicy::Auto)
    }

    /// Like [`with_connection`](Self::with_connection), choosing whether typed statements may
    /// be used.
    pub fn with_policy(
        connection: TokioPostgresConnection,
        schema: DbSchema,
        policy: RoutePolicy,
    ) -> Self {
        let routes = Routes::decide(&schema, policy);
        tracing::info!(target: "rustauth_tokio_postgres", routes = %routes.report(), "table routes decided");
        Self {
            connection,
            state: Arc::new(State {
                schema,
                routes,
                counters: RouteCounters::default(),
            }),
        }
    }

    /// Connects to `url` (no TLS) for RustAuth's default schema and spawns the driver task.
    ///
    /// # Errors
    /// A connection error (with SQLSTATE, e.g. `3D000` for a missing database).
    pub async fn connect(url: &str) -> Result<Self, RustAuthError> {
        Self::connect_with_schema(url, auth_schema(Default::default())).await
    }

    /// Connects to `url` (no TLS) for `schema` and spawns the driver task.
    ///
    /// # Errors
    /// A connection error (with SQLSTATE, e.g. `3D000` for a missing database).
    pub async fn connect_with_schema(url: &str, schema: DbSchema) -> Result<Self, RustAuthError> {
        Ok(Self::with_connection(
            TokioPostgresConnection::connect(url).await?,
            schema,
        ))
    }

    /// The shared connection.
    pub fn connection(&self) -> &TokioPostgresConnection {
        &self.connection
    }

    /// The schema CRUD operations are planned against.
    pub fn schema(&self) -> &DbSchema {
        &self.state.schema
    }

    /// Which tables run typed statements, and why the others do not.
    pub fn route_report(&self) -> &RouteReport {
        self.state.routes.report()
    }

    /// `(typed, dynamic)`: how many operations each path has served on this adapter.
    pub fn route_counts(&self) -> (u64, u64) {
        self.state.counters.snapshot()
    }

    /// A rate-limit store sharing this adapter's connection, with names from its schema.
    pub fn rate_limit_store(&self) -> crate::TokioPostgresRateLimitStore {
        crate::TokioPostgresRateLimitStore::from(self)
    }

    /// The migration plan that would bring the database to `schema`.
    ///
    /// # Errors
    /// Database errors while reading the catalog.
    pub async fn plan_migrations(
        &self,
        schema: &DbSchema,
    ) -> Result<SchemaMigrationPlan, RustAuthError> {
        let lease = self.connection.lease().await?;
        match lease.session().conn {
            Conn::Client(client) => migrate::plan(client, schema).await,
            Conn::Transaction(transaction) => migrate::plan(transaction, schema).await,
        }
    }

    /// The SQL of [`plan_migrations`](Self::plan_migrations) (`";"` when up to date).
    ///
    /// # Errors
    /// Database errors while reading the catalog.
    pub async fn compile_migrations(&self, schema: &DbSchema) -> Result<String, RustAuthError> {
        Ok(self.plan_migrations(schema).await?.compile())
    }

    async fn migrate(&self, schema: &DbSchema) -> Result<(), RustAuthError> {
        let mut held = self.connection.exclusive().await?;
        let result = migrate::apply(held.client_mut(), schema).await;
        // Prepared statements may describe the tables as they were before.
        self.connection.forget_statements();
        result
    }

    fn router(&self) -> Router<'_> {
        self.state.router()
    }

    async fn run_callback(
        &self,
        transaction: &tokio_postgres::Transaction<'_>,
        statements: Statements<'_>,
        poison: &Poison,
        callback: TransactionCallback<'_>,
    ) -> Result<(), RustAuthError> {
        let limit = self.connection.statement_timeout();
        let tx_adapter =
            TransactionAdapter::new(transaction, statements, &self.state, limit, poison);
        self.connection
            .in_transaction(callback(Box::new(tx_adapter)))
            .await
    }
}

pub(crate) fn capabilities() -> AdapterCapabilities {
    AdapterCapabilities::new(ADAPTER_ID)
        .named(ADAPTER_ID)
        .with_uuid_ids()
        .with_json()
        .with_arrays()
        .with_native_joins()
        .with_transactions()
}

/// Runs a transaction on `$conn` (a client or a pooled object): `BEGIN`, the callback, then
/// `COMMIT` on `Ok` or `ROLLBACK` on `Err` (the callback's error is returned unchanged). Each
/// step is bounded by the statement timeout; once one timed out or lost the connection
/// (`$poison` is set) the transaction is dropped, which queues its `ROLLBACK`, and never
/// committed.
macro_rules! run_transaction {
    ($self:ident, $conn:expr, $poison:ident, $callback:ident, |$tx:ident| $statements:expr) => {
        async {
            let limit = $self.connection.statement_timeout();
            let $tx = within(limit, &$poison, "BEGIN", async {
                $conn.transaction().await.map_err(|error| Error::from(error).into())
            })
            .await?;
            let outcome = $self
                .run_callback(&$tx, $statements, &$poison, $callback)
                .await;
            if $poison.is_set() {
                drop($tx);
                return outcome.and(Err(RustAuthError::Adapter(
                    "tokio-postgres error: the transaction was rolled back: one of its \
                     statements timed out or lost its connection"
                        .to_owned(),
                )));
            }
            match outcome {
                Ok(()) => {
                    within(limit, &$poison, "COMMIT (its outcome is unknown)", async {
                        $tx.commit().await.map_err(|error| Error::from(error).into())
                    })
                    .await
                }
                Err(error) => {
                    let rollback = within(limit, &$poison, "ROLLBACK", async {
                        $tx.rollback().await.map_err(|error| Error::from(error).into())
                    });
                    if let Err(rollback) = rollback.await {
                        tracing::warn!(target: "rustauth_tokio_postgres", error = %rollback, "rollback failed");
                    }
                    Err(error)
                }
            }
        }
    };
}

macro_rules! shared_op {
    ($self:ident, $method:ident, $query:ident) => {
        Box::pin($self.connection.bounded(stringify!($method), async move {
            let lease = $self.connection.lease().await?;
            $self.router().$method(lease.session(), $query).await
        }))
    };
}

impl DbAdapter for TokioPostgresAdapter {
    fn id(&self) -> &str {
        ADAPTER_ID
    }

    fn capabilities(&self) -> AdapterCapabilities {
        capabilities()
    }

    fn create<'a>(&'a self, query: Create) -> AdapterFuture<'a, DbRecord> {
        shared_op!(self, create, query)
    }

    fn find_one<'a>(&'a self, query: FindOne) -> AdapterFuture<'a, Option<DbRecord>> {
        shared_op!(self, find_one, query)
    }

    fn find_many<'a>(&'a self, query: FindMany) -> AdapterFuture<'a, Vec<DbRecord>> {
        shared_op!(self, find_many, query)
    }

    fn count<'a>(&'a self, query: Count) -> AdapterFuture<'a, u64> {
        shared_op!(self, count, query)
    }

    fn update<'a>(&'a self, query: Update) -> AdapterFuture<'a, Option<DbRecord>> {
        shared_op!(self, update, query)
    }

    fn update_many<'a>(&'a self, query: UpdateMany) -> AdapterFuture<'a, u64> {
        shared_op!(self, update_many, query)
    }

    fn delete<'a>(&'a self, query: Delete) -> AdapterFuture<'a, ()> {
        shared_op!(self, delete, query)
    }

    fn delete_many<'a>(&'a self, query: DeleteMany) -> AdapterFuture<'a, u64> {
        shared_op!(self, delete_many, query)
    }

    fn transaction<'a>(&'a self, callback: TransactionCallback<'a>) -> AdapterFuture<'a, ()> {
        // One span from BEGIN to COMMIT/ROLLBACK; the operations inside are its children.
        let span = crate::telemetry::operation_span("transaction", None);
        Box::pin(crate::telemetry::traced(span, async move {
            // tokio-postgres arms its rollback guard before sending BEGIN, and a dropped
            // transaction queues ROLLBACK on its connection before the connection is released
            // (the gate on a single client, the pool otherwise): a cancelled transaction can
            // never leak writes into the next caller's statements.
            let limit = self.connection.statement_timeout();
            let waiting = tokio::time::timeout(limit, self.connection.exclusive());
            let mut held = waiting.await.map_err(|_| Error::Timeout {
                operation: "waiting for the connection",
            })??;
            let poison = Poison::default();
            let outcome = match &mut held {
                Exclusive::Single(client, shared, mode) => {
                    let statements = statements(*mode, Statements::Cache(shared.statements()));
                    run_transaction!(self, client, poison, callback, |transaction| statements).await
                }
                #[cfg(feature = "deadpool")]
                Exclusive::Pooled(object, mode) => {
                    let mode = *mode;
                    run_transaction!(self, object, poison, callback, |transaction| {
                        statements(mode, Statements::PooledTransaction(&transaction))
                    })
                    .await
                }
            };
            if poison.is_set() {
                held.poison();
            }
            outcome
        }))
    }

    fn create_schema<'a>(
        &'a self,
        schema: &'a DbSchema,
        file: Option<&'a str>,
    ) -> AdapterFuture<'a, Option<SchemaCreation>> {
        Box::pin(async move {
            let Some(path) = file else {
                self.migrate(schema).await?;
                return Ok(None);
            };
            let code = self.compile_migrations(schema).await?;
            std::fs::write(path, &code).map_err(|error| {
                RustAuthError::Adapter(format!(
                    "tokio-postgres error: cannot write the schema file `{path}`: {error}"
                ))
            })?;
            Ok(Some(SchemaCreation {
                path: path.to_owned(),
                code,
                append: false,
                overwrite: true,
            }))
        })
    }

    fn run_migrations<'a>(&'a self, schema: &'a DbSchema) -> AdapterFuture<'a, ()> {
        Box::pin(self.migrate(schema))
    }

    fn run_plugin_migrations<'a>(
        &'a self,
        migrations: &'a [PluginMigration],
    ) -> AdapterFuture<'a, ()> {
        Box::pin(async move {
            let mut held = self.connection.exclusive().await?;
            let result = migrate::run_plugin_migrations(&*held.client_mut(), migrations).await;
            self.connection.forget_statements();
            result
        })
    }
}
