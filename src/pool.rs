//! deadpool-postgres pools with production defaults (feature `deadpool`).

use std::time::Duration;

use deadpool_postgres::{Manager, ManagerConfig, Pool, RecyclingMethod, Runtime};

use crate::error::{Error, Result};

/// Sizing and timeouts of a pool made by
/// [`TokioPostgresConnection::connect_pool`](crate::TokioPostgresConnection::connect_pool).
///
/// The defaults fail fast instead of hanging: a caller waits at most `wait_timeout` for a free
/// connection, connecting and recycling are bounded too, and each operation at most
/// `statement_timeout` (after which its connection is closed instead of reused).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub struct PoolOptions {
    /// Most connections open at once (default 16).
    pub max_size: usize,
    /// Longest wait for a free connection (default 5 s).
    pub wait_timeout: Duration,
    /// Longest wait to open a new connection (default 5 s).
    pub create_timeout: Duration,
    /// Longest wait to check a returned connection (default 5 s).
    pub recycle_timeout: Duration,
    /// Longest run of one operation, checkout included (default 30 s); see
    /// [`TokioPostgresConnection::with_statement_timeout`](crate::TokioPostgresConnection::with_statement_timeout).
    pub statement_timeout: Duration,
}

impl Default for PoolOptions {
    fn default() -> Self {
        Self {
            max_size: 16,
            wait_timeout: Duration::from_secs(5),
            create_timeout: Duration::from_secs(5),
            recycle_timeout: Duration::from_secs(5),
            statement_timeout: crate::connection::DEFAULT_STATEMENT_TIMEOUT,
        }
    }
}

impl PoolOptions {
    /// Sets the most connections open at once.
    #[must_use]
    pub fn max_size(mut self, max_size: usize) -> Self {
        self.max_size = max_size;
        self
    }

    /// Sets the longest wait for a free connection.
    #[must_use]
    pub fn wait_timeout(mut self, timeout: Duration) -> Self {
        self.wait_timeout = timeout;
        self
    }

    /// Sets the longest wait to open a new connection (TCP connect and login).
    #[must_use]
    pub fn create_timeout(mut self, timeout: Duration) -> Self {
        self.create_timeout = timeout;
        self
    }

    /// Sets the longest run of one operation.
    #[must_use]
    pub fn statement_timeout(mut self, timeout: Duration) -> Self {
        self.statement_timeout = timeout;
        self
    }
}

/// Builds a pool for `url` whose connections negotiate TLS with `tls`
/// ([`tokio_postgres::NoTls`] for none).
pub(crate) fn build<T>(url: &str, options: PoolOptions, tls: T) -> Result<Pool>
where
    T: tokio_postgres::tls::MakeTlsConnect<tokio_postgres::Socket> + Clone + Sync + Send + 'static,
    T::Stream: Sync + Send,
    T::TlsConnect: Sync + Send,
    <T::TlsConnect as tokio_postgres::tls::TlsConnect<tokio_postgres::Socket>>::Future: Send,
{
    let mut config: tokio_postgres::Config = url.parse().map_err(|_| {
        Error::Config("the database URL is not a valid PostgreSQL connection string".to_owned())
    })?;
    if config.get_connect_timeout().is_none() {
        config.connect_timeout(options.create_timeout);
    }
    // `Fast` recycling checks only that the connection is open: a cancelled transaction has
    // already queued its ROLLBACK on the connection before it returns to the pool, and the
    // next user's statements run after it.
    let manager = Manager::from_config(
        config,
        tls,
        ManagerConfig {
            recycling_method: RecyclingMethod::Fast,
        },
    );
    Pool::builder(manager)
        .max_size(options.max_size)
        .wait_timeout(Some(options.wait_timeout))
        .create_timeout(Some(options.create_timeout))
        .recycle_timeout(Some(options.recycle_timeout))
        .runtime(Runtime::Tokio1)
        .build()
        .map_err(|error| Error::Config(format!("cannot build the pool: {error}")))
}

/// Pooled connections to close instead of reusing: an operation on them timed out. The
/// object goes back to the pool when its lease drops; the next checkout that draws it takes it
/// out of the pool instead.
#[derive(Debug, Default)]
pub(crate) struct Discards(
    std::sync::Mutex<std::collections::HashSet<deadpool_postgres::ObjectId>>,
);

impl Discards {
    pub(crate) fn add(&self, id: deadpool_postgres::ObjectId) {
        if let Ok(mut ids) = self.0.lock() {
            ids.insert(id);
        }
    }

    /// Whether `id` was marked, forgetting it.
    fn take(&self, id: deadpool_postgres::ObjectId) -> bool {
        self.0.lock().is_ok_and(|mut ids| ids.remove(&id))
    }

    /// A pooled connection that was not marked; marked ones are closed on the way.
    pub(crate) async fn get(&self, pool: &Pool) -> Result<deadpool_postgres::Object> {
        loop {
            let object = pool.get().await?;
            if !self.take(deadpool_postgres::Object::id(&object)) {
                return Ok(object);
            }
            drop(deadpool_postgres::Object::take(object));
        }
    }
}
