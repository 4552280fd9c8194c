//! Statement timeouts, and marking the connection of an operation that timed out or lost its
//! connection so it is never reused.

use std::future::Future;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use rustauth_core::error::RustAuthError;

use crate::error::Error;

tokio::task_local! {
    /// Set when the bounded operation the current task runs timed out; leases taken inside it
    /// then throw their connection away.
    static POISON: Poison;
}

/// How long [`TokioPostgresConnection::connect`](crate::TokioPostgresConnection::connect) waits for the TCP connect and the login
/// together, unless the URL sets `connect_timeout`.
pub const DEFAULT_CONNECT_TIMEOUT: Duration = Duration::from_secs(10);

/// How long one adapter or rate-limit operation may take, waiting for the connection included,
/// unless [`TokioPostgresConnection::with_statement_timeout`](crate::TokioPostgresConnection::with_statement_timeout) says otherwise.
pub const DEFAULT_STATEMENT_TIMEOUT: Duration = Duration::from_secs(30);

/// Shared between a bounded operation and the connection it holds: set when the operation
/// timed out or lost its connection, so the connection is not reused. It also keeps the time
/// spent acquiring the connection, which the statement timeout does not count (waiting for the
/// gate, reconnecting and pool checkouts have bounds of their own).
#[derive(Debug, Clone, Default)]
pub(crate) struct Poison(Arc<PoisonState>);

#[derive(Debug, Default)]
struct PoisonState {
    set: AtomicBool,
    /// Time spent acquiring, and since when the current acquisition runs.
    acquiring: std::sync::Mutex<(Duration, Option<Instant>)>,
}

impl Poison {
    pub(crate) fn set(&self) {
        self.0.set.store(true, Ordering::SeqCst);
    }

    pub(crate) fn is_set(&self) -> bool {
        self.0.set.load(Ordering::SeqCst)
    }

    /// Time since `start` not spent acquiring a connection.
    fn statement_time(&self, start: Instant) -> Duration {
        let elapsed = start.elapsed();
        let Ok(acquiring) = self.0.acquiring.lock() else {
            return elapsed;
        };
        let current = acquiring.1.map_or(Duration::ZERO, |since| since.elapsed());
        elapsed.saturating_sub(acquiring.0 + current)
    }

    /// Marks the time until the guard drops as spent acquiring a connection.
    pub(crate) fn acquiring(&self) -> Acquiring<'_> {
        if let Ok(mut acquiring) = self.0.acquiring.lock() {
            acquiring.1 = Some(Instant::now());
        }
        Acquiring(self)
    }
}

pub(crate) struct Acquiring<'a>(&'a Poison);

impl Drop for Acquiring<'_> {
    fn drop(&mut self) {
        if let Ok(mut acquiring) = self.0.0.acquiring.lock()
            && let Some(since) = acquiring.1.take()
        {
            acquiring.0 += since.elapsed();
        }
    }
}

/// The poison of the bounded operation the current task runs, if any.
pub(crate) fn current() -> Option<Poison> {
    POISON.try_with(Poison::clone).ok()
}

/// Marks the connection of the bounded operation the current task runs (if any) for
/// replacement: called for every connection-class error.
pub(crate) fn poison_current() {
    let _ = POISON.try_with(Poison::set);
}

/// Runs `future` with at most `limit` of statement time (time spent acquiring a connection
/// excluded); on timeout sets `poison` and returns [`Error::Timeout`] for `operation`.
pub(crate) async fn within<T, F>(
    limit: Duration,
    poison: &Poison,
    operation: &'static str,
    future: F,
) -> Result<T, RustAuthError>
where
    F: Future<Output = Result<T, RustAuthError>>,
{
    let start = Instant::now();
    let future = POISON.scope(poison.clone(), future);
    tokio::pin!(future);
    loop {
        let spent = poison.statement_time(start);
        if spent >= limit {
            poison.set();
            tracing::warn!(target: "rustauth_tokio_postgres", operation, ?limit, "operation timed out; its connection will be replaced");
            return Err(Error::Timeout { operation }.into());
        }
        tokio::select! {
            biased;
            outcome = &mut future => return outcome,
            () = tokio::time::sleep(limit - spent) => {}
        }
    }
}
