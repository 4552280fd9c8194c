//! The connection shared by the adapter and the rate-limit store: one client with a
//! transaction gate and a prepared-statement cache, or (feature `deadpool`) a pool.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use tokio::sync::{OwnedRwLockWriteGuard, RwLock, RwLockReadGuard};
use tokio_postgres::Client;

use crate::error::{Error, Result};
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
#[derive(Clone)]
pub struct TokioPostgresConnection {
    source: Source,
    mode: StatementMode,
}

#[derive(Clone)]
enum Source {
    Single(Arc<Shared>),
    #[cfg(feature = "deadpool")]
    Pool(deadpool_postgres::Pool),
}

pub(crate) struct Shared {
    id: u64,
    client: Arc<RwLock<Client>>,
    statements: StatementCache,
}

impl std::fmt::Debug for TokioPostgresConnection {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let mut debug = f.debug_struct("TokioPostgresConnection");
        match &self.source {
            Source::Single(shared) => debug.field("client", &shared.id),
            #[cfg(feature = "deadpool")]
            Source::Pool(pool) => debug.field("pool", &pool.status()),
        };
        debug.field("mode", &self.mode).finish_non_exhaustive()
    }
}

/// A connection checked out for one ordinary operation.
// Lives on the stack for one operation; boxing the pooled object would cost an allocation each.
#[allow(clippy::large_enum_variant)]
pub(crate) enum Lease<'a> {
    Single(
        RwLockReadGuard<'a, Client>,
        &'a StatementCache,
        StatementMode,
    ),
    #[cfg(feature = "deadpool")]
    Pooled(deadpool_postgres::Object, StatementMode),
}

impl Lease<'_> {
    /// The session typed and dynamic statements run on.
    pub(crate) fn session(&self) -> Session<'_> {
        match self {
            Lease::Single(client, cache, mode) => Session {
                conn: Conn::Client(client),
                statements: statements(*mode, Statements::Cache(cache)),
            },
            #[cfg(feature = "deadpool")]
            Lease::Pooled(object, mode) => Session {
                conn: Conn::Client(object),
                statements: statements(*mode, Statements::Pooled(object)),
            },
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
    pub fn from_client(client: Client) -> Self {
        Self {
            source: Source::Single(Arc::new(Shared {
                id: NEXT_CONNECTION_ID.fetch_add(1, Ordering::Relaxed),
                client: Arc::new(RwLock::new(client)),
                statements: StatementCache::default(),
            })),
            mode: StatementMode::default(),
        }
    }

    /// Uses a deadpool-postgres pool: every operation checks out a connection.
    #[cfg(feature = "deadpool")]
    #[cfg_attr(docsrs, doc(cfg(feature = "deadpool")))]
    pub fn from_pool(pool: deadpool_postgres::Pool) -> Self {
        Self {
            source: Source::Pool(pool),
            mode: StatementMode::default(),
        }
    }

    /// Connects one client to `url` without TLS and spawns its driver task.
    ///
    /// # Errors
    /// [`ErrorKind::Connection`](crate::ErrorKind::Connection) when the server cannot be
    /// reached or rejects the login (the message keeps the SQLSTATE, e.g. `3D000` for a missing
    /// database).
    pub async fn connect(url: &str) -> Result<Self> {
        let (client, connection) = tokio_postgres::connect(url, tokio_postgres::NoTls).await?;
        tokio::spawn(async move {
            if let Err(error) = connection.await {
                tracing::warn!(target: "rustauth_tokio_postgres", %error, "connection closed with an error");
            }
        });
        Ok(Self::from_client(client))
    }

    /// Creates a pool for `url` (no TLS) with production defaults: see [`crate::PoolOptions`].
    ///
    /// # Errors
    /// [`ErrorKind::Config`](crate::ErrorKind::Config) for an invalid URL; connection errors
    /// surface on first use.
    #[cfg(feature = "deadpool")]
    #[cfg_attr(docsrs, doc(cfg(feature = "deadpool")))]
    pub fn connect_pool(url: &str, options: crate::PoolOptions) -> Result<Self> {
        Ok(Self::from_pool(crate::pool::build(
            url,
            options,
            tokio_postgres::NoTls,
        )?))
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

    /// Checks out a connection for one ordinary operation.
    ///
    /// # Errors
    /// On a single client, a usage error when called from inside this connection's own
    /// transaction callback (it would wait forever for the transaction it is part of); on a
    /// pool, checkout errors (timeout, connection).
    pub(crate) async fn lease(&self) -> Result<Lease<'_>> {
        match &self.source {
            Source::Single(shared) => {
                self.refuse_reentry(shared)?;
                Ok(Lease::Single(
                    shared.client.read().await,
                    &shared.statements,
                    self.mode,
                ))
            }
            #[cfg(feature = "deadpool")]
            Source::Pool(pool) => Ok(Lease::Pooled(pool.get().await?, self.mode)),
        }
    }

    /// Holds a connection for a transaction or a migration.
    pub(crate) async fn exclusive(&self) -> Result<Exclusive> {
        match &self.source {
            Source::Single(shared) => {
                self.refuse_reentry(shared)?;
                let client = Arc::clone(&shared.client).write_owned().await;
                Ok(Exclusive::Single(client, Arc::clone(shared), self.mode))
            }
            #[cfg(feature = "deadpool")]
            Source::Pool(pool) => Ok(Exclusive::Pooled(pool.get().await?, self.mode)),
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
            Source::Pool(_) => future.await,
        }
    }

    /// Forgets prepared statements, after a migration changed the tables they describe.
    pub(crate) fn forget_statements(&self) {
        match &self.source {
            Source::Single(shared) => shared.statements.clear(),
            #[cfg(feature = "deadpool")]
            Source::Pool(pool) => pool.manager().statement_caches.clear(),
        }
    }

    /// How many typed statements are prepared on a single client; `None` for a pool, whose
    /// connections each keep their own (deadpool's) cache.
    pub fn prepared_statement_count(&self) -> Option<usize> {
        match &self.source {
            Source::Single(shared) => Some(shared.statements.len()),
            #[cfg(feature = "deadpool")]
            Source::Pool(_) => None,
        }
    }
}
