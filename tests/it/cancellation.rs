//! Transactions dropped at every await point, on every backend: each cancelled transaction
//! is all or nothing, nothing bleeds into the next caller, and the connection or pool serves
//! the very next operation.

use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll};
use std::time::{Duration, Instant};

use rustauth_core::db::{Count, DbAdapter};
use rustauth_core::error::RustAuthError;
use rustauth_tokio_postgres::{RoutePolicy, TokioPostgresAdapter};

use crate::faults::{no_open_transactions, session, user, written_on};
use crate::fixtures::{BACKENDS, backend_adapter};
use crate::support::TestDb;

/// Polls the inner future until it has been pending `pending` times, then drops it on the next
/// wake-up: the drop lands exactly at the `pending`-th await point.
struct DropAtAwait<F: Future> {
    inner: Option<Pin<Box<F>>>,
    pending: usize,
    /// Await points passed.
    passed: usize,
}

impl<F: Future> Future for DropAtAwait<F> {
    type Output = (Option<F::Output>, usize);

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let this = self.get_mut();
        if this.passed == this.pending {
            this.inner = None;
            return Poll::Ready((None, this.passed));
        }
        let Some(inner) = this.inner.as_mut() else {
            return Poll::Ready((None, this.passed));
        };
        match inner.as_mut().poll(cx) {
            Poll::Ready(output) => Poll::Ready((Some(output), this.passed)),
            Poll::Pending => {
                this.passed += 1;
                Poll::Pending
            }
        }
    }
}

fn drop_at_await<F: Future>(future: F, pending: usize) -> DropAtAwait<F> {
    DropAtAwait {
        inner: Some(Box::pin(future)),
        pending,
        passed: 0,
    }
}

/// Drops `future` once `delay` has passed, measured by busy polling (microsecond resolution,
/// where tokio's timer has one millisecond).
async fn drop_after<F: Future>(future: F, delay: Duration) -> Option<F::Output> {
    let deadline = Instant::now() + delay;
    let spin = std::future::poll_fn(|cx| {
        if Instant::now() >= deadline {
            Poll::Ready(())
        } else {
            cx.waker().wake_by_ref();
            Poll::Pending
        }
    });
    tokio::select! {
        biased;
        () = spin => None,
        output = future => Some(output),
    }
}

fn sign_up<'a>(
    adapter: &'a TokioPostgresAdapter,
    id: &str,
) -> impl Future<Output = Result<(), RustAuthError>> + 'a {
    let id = id.to_owned();
    adapter.transaction(Box::new(move |tx| {
        Box::pin(async move {
            tx.create(user(&id)).await?;
            tx.create(session(&id)).await?;
            Ok(())
        })
    }))
}

/// The operations right after a cancellation: a read and a committed transaction.
async fn next_ops_succeed(adapter: &TokioPostgresAdapter, id: &str) {
    let next = async {
        adapter.count(Count::new("user")).await?;
        sign_up(adapter, id).await
    };
    tokio::time::timeout(Duration::from_secs(5), next)
        .await
        .unwrap_or_else(|_| panic!("{id}: the next operation hung"))
        .unwrap_or_else(|e| panic!("{id}: the next operation failed: {e}"));
}

#[derive(Default, Debug)]
struct Tally {
    runs: u64,
    cancelled: u64,
    committed_anyway: u64,
}

/// Checks one run of `id` (ids end with `;`, so a prefix match is exact).
async fn check(
    checker: &tokio_postgres::Client,
    adapter: &TokioPostgresAdapter,
    tally: &mut Tally,
    id: &str,
    finished: bool,
) {
    tally.runs += 1;
    if !finished {
        tally.cancelled += 1;
    }
    let next_id = format!("next-{id}");
    next_ops_succeed(adapter, &next_id).await;
    // A cancel after COMMIT was sent may still commit: all or nothing either way.
    let (users, half) = written_on(checker, id).await;
    assert_eq!(half, 0, "{id}: a user without its session");
    if !finished && users > 0 {
        tally.committed_anyway += 1;
    }
    let (next, half) = written_on(checker, &next_id).await;
    assert_eq!(
        (next, half),
        (1, 0),
        "{id}: the next transaction committed alone"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn transactions_dropped_at_every_await_point_leak_nothing_on_every_backend() {
    for &backend in BACKENDS {
        let db = TestDb::new().await;
        let adapter = backend_adapter(&db, backend, RoutePolicy::Auto).await;
        let checker = db.client().await;
        // Warm up (prepares), then time a whole transaction.
        sign_up(&adapter, "warm").await.expect("warm-up");
        let mut took = Vec::new();
        for i in 0..5 {
            let begun = Instant::now();
            sign_up(&adapter, &format!("time{i}"))
                .await
                .expect("timed run");
            took.push(begun.elapsed());
        }
        took.sort();
        let full = took[2];

        let mut by_poll = Tally::default();
        // Drop at the first, second, ... await point until a run gets through them all.
        let mut points = 0;
        for pending in 0..64 {
            let id = format!("p{pending};");
            let (outcome, _) = drop_at_await(sign_up(&adapter, &id), pending).await;
            if let Some(result) = &outcome {
                result.as_ref().expect("an uncancelled run succeeds");
            }
            check(&checker, &adapter, &mut by_poll, &id, outcome.is_some()).await;
            if outcome.is_some() {
                points = pending;
                break;
            }
        }
        assert!(points > 0, "a run completed within 64 await points");

        let mut by_time = Tally::default();
        let steps = 200u32;
        for step in 0..=steps {
            let id = format!("t{step};");
            let delay = full * step / 100;
            let outcome = drop_after(sign_up(&adapter, &id), delay).await;
            if let Some(result) = &outcome {
                result.as_ref().expect("an uncancelled run succeeds");
            }
            check(&checker, &adapter, &mut by_time, &id, outcome.is_some()).await;
        }
        no_open_transactions(&db).await;
        let leaked: i64 = checker
            .query_one(
                "SELECT count(*) FROM users u WHERE NOT EXISTS \
                 (SELECT 1 FROM sessions s WHERE s.user_id = u.id)",
                &[],
            )
            .await
            .expect("leak check")
            .get(0);
        eprintln!(
            "figure: {backend:?} cancellation: dropped at each of {points} await points ({} runs, \
             {} cancelled, {} of them committed whole after COMMIT was sent) + {} delays \
             0..2x{full:?} ({} cancelled, {} committed whole): partial writes {leaked}, next \
             operation ok {}/{}",
            by_poll.runs,
            by_poll.cancelled,
            by_poll.committed_anyway,
            by_time.runs,
            by_time.cancelled,
            by_time.committed_anyway,
            by_poll.runs + by_time.runs,
            by_poll.runs + by_time.runs,
        );
        assert_eq!(leaked, 0);
        assert!(
            by_poll.cancelled >= points as u64,
            "every await point was hit"
        );
        assert!(by_poll.runs + by_time.runs >= 100);
    }
}
