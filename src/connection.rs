//! One client, one transaction gate and one typed-statement cache, shared by the adapter and
//! the rate-limit store.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use tokio::sync::{OwnedRwLockWriteGuard, RwLock, RwLockReadGuard};
use tokio_postgres::Client;

use crate::error::{Error, Result};
use crate::typed::cache::StatementCache;

static NEXT_CONNECTION_ID: AtomicU64 = AtomicU64::new(1);

tokio::task_local! {
    /// The connection whose transaction callback the current task is running.
    static IN_TRANSACTION_OF: u64;
}

/// A PostgreSQL client shared by [`TokioPostgresAdapter`](crate::TokioPostgresAdapter) and
/// [`TokioPostgresRateLimitStore`](crate::TokioPostgresRateLimitStore).
///
/// Cheap to clone: clones share the client, the transaction gate and the prepared typed
/// statements. Ordinary queries hold the gate shared, so many tasks pipeline on the one
/// connection; a transaction holds it exclusively from `BEGIN` to `COMMIT`/`ROLLBACK`, so no
/// other caller's query can land inside it.
#[derive(Clone)]
pub struct TokioPostgresConnection {
    shared: Arc<Shared>,
}

struct Shared {
    id: u64,
    client: Arc<RwLock<Client>>,
    statements: StatementCache,
}

impl std::fmt::Debug for TokioPostgresConnection {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TokioPostgresConnection")
            .field("id", &self.shared.id)
            .field("prepared_statements", &self.shared.statements.len())
            .finish_non_exhaustive()
    }
}

impl TokioPostgresConnection {
    /// Wraps a connected client.
    ///
    /// The caller keeps driving the `tokio_postgres::Connection` returned with the client
    /// (usually `tokio::spawn(connection)`); queries hang or fail once it stops.
    pub fn from_client(client: Client) -> Self {
        Self {
            shared: Arc::new(Shared {
                id: NEXT_CONNECTION_ID.fetch_add(1, Ordering::Relaxed),
                client: Arc::new(RwLock::new(client)),
                statements: StatementCache::default(),
            }),
        }
    }

    /// Connects to `url` without TLS and spawns the connection driver on the current runtime.
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

    /// Holds the gate shared for one ordinary query.
    ///
    /// # Errors
    /// A usage error when called from inside this connection's own transaction callback, which
    /// would otherwise wait forever for the transaction it is part of.
    pub(crate) async fn shared(&self) -> Result<RwLockReadGuard<'_, Client>> {
        self.refuse_reentry()?;
        Ok(self.shared.client.read().await)
    }

    /// Holds the gate exclusively (transactions and migrations).
    pub(crate) async fn exclusive(&self) -> Result<OwnedRwLockWriteGuard<Client>> {
        self.refuse_reentry()?;
        Ok(Arc::clone(&self.shared.client).write_owned().await)
    }

    fn refuse_reentry(&self) -> Result<()> {
        if IN_TRANSACTION_OF
            .try_with(|id| *id == self.shared.id)
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
    pub(crate) async fn in_transaction<F: std::future::Future>(&self, future: F) -> F::Output {
        IN_TRANSACTION_OF.scope(self.shared.id, future).await
    }

    /// The typed statements prepared on this connection.
    pub(crate) fn statements(&self) -> &StatementCache {
        &self.shared.statements
    }

    /// How many typed statements are prepared on this connection.
    pub fn prepared_statement_count(&self) -> usize {
        self.shared.statements.len()
    }
}
