//! The connection shared by the adapter and the rate-limit store: one client with a
//! transaction gate and a prepared-statement cache, or (feature `deadpool`) a pool.

use std::future::Future;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::Duration;

use rustauth_core::error::RustAuthError;
use tokio::sync::{OwnedRwLockWriteGuard, RwLock, RwLockReadGuard};
use tokio_postgres::{Client, Config};

use crate::error::{Error, Result};
#[cfg(feature = "deadpool")]
use crate::pool::Discards;
pub use crate::timeout::{DEFAULT_CONNECT_TIMEOUT, DEFAULT_STATEMENT_TIMEOUT};
use crate::timeout::{Poison, within};
use crate::typed::cache::StatementCache;
use crate::typed::client::{Conn, Session, Statements};

static NEXT_CONNECTION_ID: AtomicU64 = AtomicU64::new(1);

tokio::task_local! {
    /// The single-client connection whose transaction callback the current task is running.
    static IN_TRANSACTION_OF: u64;
}

/// How statements reach the server.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
#[non_exhaustive]
pub enum StatementMode {
    /// Typed statements are prepared once per connection and reused: one round trip per call.
    #[default]
    Prepared,
    /// Nothing is ever prepared under a name: every statement, typed ones included, goes out as
    /// an unnamed statement with explicit parameter types, in one round trip. Use it behind
    /// transaction-mode poolers that cannot track named statements (PgBouncer before 1.21,
    /// Supavisor's shared pooler, RDS Proxy).
    Unnamed,
}

/// The PostgreSQL connection shared by
/// [`TokioPostgresAdapter`](crate::TokioPostgresAdapter) and
/// [`TokioPostgresRateLimitStore`](crate::TokioPostgresRateLimitStore).
///
/// Cheap to clone; clones share everything. On a single client, ordinary queries hold the
/// transaction gate shared, so many tasks pipeline on the one connection, and a transaction
/// holds it exclusively from `BEGIN` to `COMMIT`/`ROLLBACK`, so no other caller's query can land
/// inside it. On a pool, each operation checks out a connection and a transaction keeps its
/// own until it ends.
///
/// Every operation is bounded by the [statement timeout](Self::with_statement_timeout). A
/// connection this crate opened ([`connect`](Self::connect)) reconnects by itself: when its
/// client was closed (server restart, network cut, `pg_terminate_backend`) or an operation on it
/// timed out, the next operation replaces the client (and forgets its prepared statements)
/// first. A connection built with [`from_client`](Self::from_client) cannot reconnect, as it
/// does not know how the client was made: once closed, every call fails with a connection error.
#[derive(Clone)]
pub struct TokioPostgresConnection {
    source: Source,
    mode: StatementMode,
    statement_timeout: Duration,
}

#[derive(Clone)]
enum Source {
    Single(Arc<Shared>),
    #[cfg(feature = "deadpool")]
    Pool(deadpool_postgres::Pool, Arc<Discards>),
}

pub(crate) struct Shared {
    id: u64,
    client: Arc<RwLock<Client>>,
    statements: StatementCache,
    /// How to open the client again; `None` for a caller's client.
    origin: Option<Origin>,
    /// An operation timed out on the client: replace it before the next use.
    broken: AtomicBool,
    reconnects: AtomicU64,
}

/// How a connection this crate opened was made, so it can be made again.
pub(crate) struct Origin {
    config: Config,
    connect_timeout: Duration,
    tls: Tls,
}

/// The TLS connector a client was opened with; a reconnect uses the same one, so a TLS
/// connection never comes back without TLS.
#[derive(Clone)]
pub(crate) enum Tls {
    None,
    #[cfg(feature = "rustls")]
    Rustls(tokio_postgres_rustls::MakeRustlsConnect),
}

impl Origin {
    /// Reads the URL and settles the connect timeout: `connect_timeout`, else the URL's, else
    /// [`DEFAULT_CONNECT_TIMEOUT`].
    pub(crate) fn new(url: &str, connect_timeout: Option<Duration>, tls: Tls) -> Result<Self> {
        let mut config: Config = url.parse()?;
        let connect_timeout = connect_timeout
            .or_else(|| config.get_connect_timeout().copied())
            .unwrap_or(DEFAULT_CONNECT_TIMEOUT);
        config.connect_timeout(connect_timeout);
        Ok(Self {
            config,
            connect_timeout,
            tls,
        })
    }

    async fn open(&self) -> Result<Client> {
        match &self.tls {
            Tls::None => self.open_with(tokio_postgres::NoTls).await,
            #[cfg(feature = "rustls")]
            Tls::Rustls(tls) => self.open_with(tls.clone()).await,
        }
    }

    async fn open_with<T>(&self, tls: T) -> Result<Client>
    where
        T: tokio_postgres::tls::MakeTlsConnect<tokio_postgres::Socket>,
        T::Stream: Send + 'static,
    {
        let connecting = self.config.connect(tls);
        let (client, connection) = tokio::time::timeout(self.connect_timeout, connecting)
            .await
            .map_err(|_| Error::Timeout {
                operation: "connecting to the server",
            })??;
        tokio::spawn(async move {
            if let Err(error) = connection.await {
                tracing::warn!(target: "rustauth_tokio_postgres", %error, "connection closed with an error");
            }
        });
        Ok(client)
    }
}

impl std::fmt::Debug for TokioPostgresConnection {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let mut debug = f.debug_struct("TokioPostgresConnection");
        match &self.source {
            Source::Single(shared) => debug.field("client", &shared.id),
            #[cfg(feature = "deadpool")]
            Source::Pool(pool, _) => debug.field("pool", &pool.status()),
        };
        debug
            .field("mode", &self.mode)
            .field("statement_timeout", &self.statement_timeout)
            .finish_non_exhaustive()
    }
}

/// A connection checked out for one ordinary operation.
///
/// Taken inside [`TokioPostgresConnection::bounded`], it throws its connection away when the
/// operation times out: the single client is marked for replacement, the pooled connection is
/// detached from the pool and closed.
pub(crate) struct Lease<'a> {
    held: Held<'a>,
    poison: Option<Poison>,
}

// Lives on the stack for one operation; boxing the pooled object would cost an allocation each.
#[allow(clippy::large_enum_variant)]
enum Held<'a> {
    Single(RwLockReadGuard<'a, Client>, &'a Shared, StatementMode),
    #[cfg(feature = "deadpool")]
    Pooled(deadpool_postgres::Object, &'a Discards, StatementMode),
}

impl Lease<'_> {
    /// The session typed and dynamic statements run on.
    pub(crate) fn session(&self) -> Session<'_> {
        match &self.held {
            Held::Single(client, shared, mode) => Session {
                conn: Conn::Client(client),
                statements: statements(*mode, Statements::Cache(&shared.statements)),
            },
            #[cfg(feature = "deadpool")]
            Held::Pooled(object, _, mode) => Session {
                conn: Conn::Client(object),
                statements: statements(*mode, Statements::Pooled(object)),
            },
        }
    }
}

impl Drop for Lease<'_> {
    fn drop(&mut self) {
        if !self.poison.as_ref().is_some_and(Poison::is_set) {
            return;
        }
        match &self.held {
            Held::Single(_, shared, _) => shared.mark_broken(),
            #[cfg(feature = "deadpool")]
            Held::Pooled(object, discards, _) => {
                discards.add(deadpool_postgres::Object::id(object))
            }
        }
    }
}

/// A connection held for a transaction or a migration.
#[allow(clippy::large_enum_variant)]
pub(crate) enum Exclusive {
    Single(OwnedRwLockWriteGuard<Client>, Arc<Shared>, StatementMode),
    #[cfg(feature = "deadpool")]
    Pooled(deadpool_postgres::Object, StatementMode),
}

impl Shared {
    /// This client's prepared typed statements.
    pub(crate) fn statements(&self) -> &StatementCache {
        &self.statements
    }

    /// Replaces the client before its next use, if this crate opened it.
    fn mark_broken(&self) {
        if self.origin.is_some() {
            self.broken.store(true, Ordering::SeqCst);
        }
    }

    /// Whether the client must be replaced before use.
    fn stale(&self, client: &Client) -> bool {
        self.origin.is_some() && (client.is_closed() || self.broken.load(Ordering::SeqCst))
    }

    /// Replaces a stale client, under the gate's write lock so no statement is in flight on it.
    async fn refresh(&self, client: &mut Client) -> Result<()> {
        let Some(origin) = &self.origin else {
            return Ok(());
        };
        // Another task may have reconnected while this one waited for the lock.
        if !self.stale(client) {
            return Ok(());
        }
        let fresh = origin.open().await?;
        // The old client's statements were prepared on the old server session.
        *client = fresh;
        self.statements.clear();
        self.broken.store(false, Ordering::SeqCst);
        self.reconnects.fetch_add(1, Ordering::Relaxed);
        tracing::info!(target: "rustauth_tokio_postgres", connection = self.id, "reconnected");
        Ok(())
    }

    /// The client for one operation, waiting at most `limit` for the gate (a transaction
    /// holds it), reconnecting first if needed.
    async fn read(&self, limit: Duration) -> Result<RwLockReadGuard<'_, Client>> {
        let client = tokio::time::timeout(limit, self.client.read())
            .await
            .map_err(|_| Error::Timeout {
                operation: "waiting for the connection",
            })?;
        if !self.stale(&client) {
            return Ok(client);
        }
        drop(client);
        let mut client = self.client.write().await;
        self.refresh(&mut client).await?;
        Ok(client.downgrade())
    }

    async fn write(self: &Arc<Self>) -> Result<OwnedRwLockWriteGuard<Client>> {
        let mut client = Arc::clone(&self.client).write_owned().await;
        if self.stale(&client) {
            self.refresh(&mut client).await?;
        }
        Ok(client)
    }
}

impl Exclusive {
    /// The client, for migrations.
    pub(crate) fn client_mut(&mut self) -> &mut Client {
        match self {
            Exclusive::Single(client, ..) => client,
            #[cfg(feature = "deadpool")]
            Exclusive::Pooled(object, _) => object,
        }
    }

    /// Throws the connection away after a timeout: the single client is replaced before its
    /// next use (when this crate opened it), a pooled connection is closed and leaves the pool.
    pub(crate) fn poison(self) {
        match self {
            Exclusive::Single(_, shared, _) => shared.mark_broken(),
            #[cfg(feature = "deadpool")]
            Exclusive::Pooled(object, _) => drop(deadpool_postgres::Object::take(object)),
        }
    }
}

/// `preferred` unless the mode forbids prepared statements.
pub(crate) fn statements(mode: StatementMode, preferred: Statements<'_>) -> Statements<'_> {
    match mode {
        StatementMode::Prepared => preferred,
        StatementMode::Unnamed => Statements::Unnamed,
    }
}

impl TokioPostgresConnection {
    /// Wraps a connected client.
    ///
    /// The caller keeps driving the `tokio_postgres::Connection` returned with the client
    /// (usually `tokio::spawn(connection)`); queries fail once it stops.
    ///
    /// Such a connection cannot reconnect: once the client is closed every call fails with a
    /// connection error (build a new connection, or use [`connect`](Self::connect), which
    /// reconnects). A call that timed out leaves the client usable: tokio-postgres discards the
    /// late replies of a dropped request and a dropped transaction queues its `ROLLBACK`.
    pub fn from_client(client: Client) -> Self {
        Self::single(client, None)
    }

    fn single(client: Client, origin: Option<Origin>) -> Self {
        Self {
            source: Source::Single(Arc::new(Shared {
                id: NEXT_CONNECTION_ID.fetch_add(1, Ordering::Relaxed),
                client: Arc::new(RwLock::new(client)),
                statements: StatementCache::default(),
                origin,
                broken: AtomicBool::new(false),
                reconnects: AtomicU64::new(0),
            })),
            mode: StatementMode::default(),
            statement_timeout: DEFAULT_STATEMENT_TIMEOUT,
        }
    }

    /// Uses a deadpool-postgres pool: every operation checks out a connection.
    #[cfg(feature = "deadpool")]
    #[cfg_attr(docsrs, doc(cfg(feature = "deadpool")))]
    pub fn from_pool(pool: deadpool_postgres::Pool) -> Self {
        Self {
            source: Source::Pool(pool, Arc::default()),
            mode: StatementMode::default(),
            statement_timeout: DEFAULT_STATEMENT_TIMEOUT,
        }
    }

    /// Connects one client to `url` without TLS and spawns its driver task.
    ///
    /// Connecting (TCP and login together) waits at most the URL's `connect_timeout`, else
    /// [`DEFAULT_CONNECT_TIMEOUT`]. The connection keeps the URL and reconnects by itself: an
    /// operation that finds the client closed, or follows one that timed out, opens a new
    /// client first.
    ///
    /// # Errors
    /// [`ErrorKind::Connection`](crate::ErrorKind::Connection) when the server cannot be
    /// reached or rejects the login (the message keeps the SQLSTATE, e.g. `3D000` for a missing
    /// database); [`ErrorKind::Timeout`](crate::ErrorKind::Timeout) when connecting takes too
    /// long.
    pub async fn connect(url: &str) -> Result<Self> {
        Self::connect_with_timeout(url, None).await
    }

    /// Like [`connect`](Self::connect), waiting at most `connect_timeout` (when `Some`, it
    /// overrides the URL's `connect_timeout`) for each connect and reconnect.
    ///
    /// # Errors
    /// As for [`connect`](Self::connect).
    pub async fn connect_with_timeout(
        url: &str,
        connect_timeout: Option<Duration>,
    ) -> Result<Self> {
        Self::open(Origin::new(url, connect_timeout, Tls::None)?).await
    }

    /// Opens a client that reconnects the way it was first opened.
    pub(crate) async fn open(origin: Origin) -> Result<Self> {
        let client = origin.open().await?;
        Ok(Self::single(client, Some(origin)))
    }

    /// Creates a pool for `url` (no TLS) with production defaults: see [`crate::PoolOptions`].
    ///
    /// # Errors
    /// [`ErrorKind::Config`](crate::ErrorKind::Config) for an invalid URL; connection errors
    /// surface on first use.
    #[cfg(feature = "deadpool")]
    #[cfg_attr(docsrs, doc(cfg(feature = "deadpool")))]
    pub fn connect_pool(url: &str, options: crate::PoolOptions) -> Result<Self> {
        Ok(
            Self::from_pool(crate::pool::build(url, options, tokio_postgres::NoTls)?)
                .with_statement_timeout(options.statement_timeout),
        )
    }

    /// Sends statements as `mode` says (default [`StatementMode::Prepared`]).
    #[must_use]
    pub fn with_statement_mode(mut self, mode: StatementMode) -> Self {
        self.mode = mode;
        self
    }

    /// How statements reach the server.
    pub fn statement_mode(&self) -> StatementMode {
        self.mode
    }

    /// Bounds every adapter and rate-limit operation, waiting for the connection included
    /// (default [`DEFAULT_STATEMENT_TIMEOUT`]). In a transaction it bounds `BEGIN`, each
    /// operation and `COMMIT`/`ROLLBACK`, not the time the callback spends elsewhere.
    ///
    /// An operation that runs out of time fails with
    /// [`ErrorKind::Timeout`](crate::ErrorKind::Timeout) and its connection is not reused: a
    /// pooled one is closed, a client opened by [`connect`](Self::connect) is replaced on the
    /// next call, and a transaction it was part of is rolled back, never committed. A timed-out
    /// `COMMIT` has an unknown outcome.
    #[must_use]
    pub fn with_statement_timeout(mut self, timeout: Duration) -> Self {
        self.statement_timeout = timeout;
        self
    }

    /// The bound on each operation, see [`with_statement_timeout`](Self::with_statement_timeout).
    pub fn statement_timeout(&self) -> Duration {
        self.statement_timeout
    }

    /// Whether the connection opens a new client by itself after losing its own (true for
    /// [`connect`](Self::connect) and for pools).
    pub fn reconnects(&self) -> bool {
        match &self.source {
            Source::Single(shared) => shared.origin.is_some(),
            #[cfg(feature = "deadpool")]
            Source::Pool(..) => true,
        }
    }

    /// How many times the single client was replaced; `None` for a pool.
    pub fn reconnect_count(&self) -> Option<u64> {
        match &self.source {
            Source::Single(shared) => Some(shared.reconnects.load(Ordering::Relaxed)),
            #[cfg(feature = "deadpool")]
            Source::Pool(..) => None,
        }
    }

    /// Runs one operation within the statement timeout. Leases taken inside throw their
    /// connection away when it runs out.
    pub(crate) async fn bounded<T, F>(
        &self,
        operation: &'static str,
        future: F,
    ) -> std::result::Result<T, RustAuthError>
    where
        F: Future<Output = std::result::Result<T, RustAuthError>>,
    {
        within(
            self.statement_timeout,
            &Poison::default(),
            operation,
            future,
        )
        .await
    }

    /// Checks out a connection for one ordinary operation.
    ///
    /// # Errors
    /// On a single client, a usage error when called from inside this connection's own
    /// transaction callback (it would wait forever for the transaction it is part of); on a
    /// pool, checkout errors (timeout, connection).
    pub(crate) async fn lease(&self) -> Result<Lease<'_>> {
        let poison = crate::timeout::current();
        let acquiring = poison.as_ref().map(Poison::acquiring);
        let held = match &self.source {
            Source::Single(shared) => {
                self.refuse_reentry(shared)?;
                let client = shared.read(self.statement_timeout).await?;
                Held::Single(client, shared, self.mode)
            }
            #[cfg(feature = "deadpool")]
            Source::Pool(pool, discards) => {
                Held::Pooled(discards.get(pool).await?, discards, self.mode)
            }
        };
        drop(acquiring);
        Ok(Lease { held, poison })
    }

    /// Holds a connection for a transaction or a migration.
    pub(crate) async fn exclusive(&self) -> Result<Exclusive> {
        match &self.source {
            Source::Single(shared) => {
                self.refuse_reentry(shared)?;
                let client = shared.write().await?;
                Ok(Exclusive::Single(client, Arc::clone(shared), self.mode))
            }
            #[cfg(feature = "deadpool")]
            Source::Pool(pool, discards) => {
                Ok(Exclusive::Pooled(discards.get(pool).await?, self.mode))
            }
        }
    }

    fn refuse_reentry(&self, shared: &Shared) -> Result<()> {
        if IN_TRANSACTION_OF
            .try_with(|id| *id == shared.id)
            .unwrap_or(false)
        {
            return Err(Error::Usage(
                "the adapter was used inside its own transaction callback; use the transaction \
                 adapter passed to the callback (a nested call would wait for the transaction \
                 forever)"
                    .to_owned(),
            ));
        }
        Ok(())
    }

    /// Runs `future` marked as this connection's transaction callback.
    pub(crate) async fn in_transaction<F: Future>(&self, future: F) -> F::Output {
        match &self.source {
            Source::Single(shared) => IN_TRANSACTION_OF.scope(shared.id, future).await,
            #[cfg(feature = "deadpool")]
            Source::Pool(..) => future.await,
        }
    }

    /// Forgets prepared statements, after a migration changed the tables they describe.
    pub(crate) fn forget_statements(&self) {
        match &self.source {
            Source::Single(shared) => shared.statements.clear(),
            #[cfg(feature = "deadpool")]
            Source::Pool(pool, _) => pool.manager().statement_caches.clear(),
        }
    }

    /// How many typed statements are prepared on a single client; `None` for a pool, whose
    /// connections each keep their own (deadpool's) cache.
    pub fn prepared_statement_count(&self) -> Option<usize> {
        match &self.source {
            Source::Single(shared) => Some(shared.statements.len()),
            #[cfg(feature = "deadpool")]
            Source::Pool(..) => None,
        }
    }
}
