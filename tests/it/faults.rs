//! Network and server faults through a fault-injecting proxy (`support/faults.rs`): a cut, a
//! reset or a stall at every frontend message of a workload, an unanswering server, and
//! `pg_terminate_backend`. Every call ends within a bound with a connection or timeout error,
//! nothing is half-written, and the owned client and the pool recover by themselves.

use std::time::{Duration, Instant};

use rustauth_core::db::{Count, Create, DbAdapter, DbValue, FindOne, Where};
use rustauth_core::error::RustAuthError;
use rustauth_core::options::{RateLimitConsumeInput, RateLimitRule, RateLimitStore};
use rustauth_tokio_postgres::{TokioPostgresConnection, TokioPostgresStores};

use crate::fixtures::{s, ts};
use crate::support::TestDb;
use crate::support::faults::{Fault, FaultProxy};

/// The statement timeout of these tests.
pub const LIMIT: Duration = Duration::from_millis(250);
/// No call may take longer than this (a transaction is four bounded steps).
pub const BOUND: Duration = Duration::from_secs(5);

/// A connection this crate opens (and so may reopen).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Owned {
    /// `TokioPostgresStores::builder().connect(url)`: one client that reconnects.
    Client,
    /// A deadpool pool.
    #[cfg(feature = "deadpool")]
    Pool,
}

/// Every owned backend this build supports.
pub const OWNED: &[Owned] = &[
    Owned::Client,
    #[cfg(feature = "deadpool")]
    Owned::Pool,
];

pub async fn stores(url: &str, owned: Owned) -> TokioPostgresStores {
    let builder = TokioPostgresStores::builder()
        .statement_timeout(LIMIT)
        .connect_timeout(Duration::from_secs(2));
    let builder = match owned {
        Owned::Client => builder,
        #[cfg(feature = "deadpool")]
        Owned::Pool => builder.pool(rustauth_tokio_postgres::PoolOptions::default().max_size(3)),
    };
    builder.connect(url).await.expect("stores")
}

pub fn user(id: &str) -> Create {
    Create::new("user")
        .data("id", s(id))
        .data("name", s("n"))
        .data("email", s(&format!("{id}@example.com")))
        .data("email_verified", DbValue::Boolean(false))
        .data("image", DbValue::Null)
        .data("created_at", ts(1))
        .data("updated_at", ts(1))
        .force_allow_id()
}

pub fn session(id: &str) -> Create {
    Create::new("session")
        .data("id", s(&format!("s-{id}")))
        .data("expires_at", ts(3600))
        .data("token", s(&format!("t-{id}")))
        .data("created_at", ts(1))
        .data("updated_at", ts(1))
        .data("ip_address", DbValue::Null)
        .data("user_agent", DbValue::Null)
        .data("user_id", s(id))
        .force_allow_id()
}

/// One sign-up's writes in a transaction, then a read and a rate-limit check.
pub async fn workload(stores: &TokioPostgresStores, id: &str) -> Result<(), RustAuthError> {
    let owned = id.to_owned();
    stores
        .adapter
        .transaction(Box::new(move |tx| {
            Box::pin(async move {
                tx.create(user(&owned)).await?;
                tx.create(session(&owned)).await?;
                Ok(())
            })
        }))
        .await?;
    let by_email = Where::new("email", s(&format!("{id}@example.com")));
    stores
        .adapter
        .find_one(FindOne::new("user").where_clause(by_email))
        .await?;
    let input = RateLimitConsumeInput {
        key: id.to_owned(),
        rule: RateLimitRule {
            window: time::Duration::seconds(60),
            max: 10,
        },
        now_ms: 1_000,
    };
    stores.rate_limit.consume(input).await?;
    Ok(())
}

/// Whether an error names a lost connection or a timeout.
pub fn is_connection_or_timeout(error: &RustAuthError) -> bool {
    let text = error.to_string().to_lowercase();
    [
        "timed out",
        "timeout",
        "connection",
        "closed",
        "communicating with the server",
        "57p01",
    ]
    .iter()
    .any(|part| text.contains(part))
}

/// `(users, users missing their session)` among ids starting with `prefix`, read on a
/// separate client.
pub async fn written(db: &TestDb, prefix: &str) -> (i64, i64) {
    written_on(&db.client().await, prefix).await
}

/// [`written`] on an open client.
pub async fn written_on(client: &tokio_postgres::Client, prefix: &str) -> (i64, i64) {
    let row = client
        .query_one(
            "SELECT count(*), count(*) FILTER (WHERE NOT EXISTS \
             (SELECT 1 FROM sessions s WHERE s.user_id = u.id)) FROM users u WHERE u.id LIKE $1",
            &[&format!("{prefix}%")],
        )
        .await
        .expect("read back");
    (row.get(0), row.get(1))
}

/// Waits until no session of `db` is idle inside a transaction (the server ended them).
pub async fn no_open_transactions(db: &TestDb) {
    let client = db.client().await;
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let open: i64 = client
            .query_one(
                "SELECT count(*) FROM pg_stat_activity WHERE datname = $1 \
                 AND state LIKE 'idle in transaction%'",
                &[&db.name],
            )
            .await
            .expect("pg_stat_activity")
            .get(0);
        if open == 0 {
            return;
        }
        assert!(
            Instant::now() < deadline,
            "{open} sessions stayed in a transaction"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// Runs `call`, failing the test if it takes longer than [`BOUND`]; returns its outcome and time.
pub async fn bounded<T>(
    what: &str,
    call: impl Future<Output = Result<T, RustAuthError>>,
) -> (Result<T, RustAuthError>, Duration) {
    let begun = Instant::now();
    let outcome = tokio::time::timeout(BOUND, call)
        .await
        .unwrap_or_else(|_| panic!("{what}: hung for {BOUND:?}"));
    (outcome, begun.elapsed())
}

async fn users(stores: &TokioPostgresStores) -> Result<u64, RustAuthError> {
    stores.adapter.count(Count::new("user")).await
}

/// Fires `fault` at each frontend message of the workload in turn.
async fn sweep(fault: Fault, owned: Owned) {
    let db = TestDb::new().await;
    let proxy = FaultProxy::start(&db.url).await;
    let stores = stores(&proxy.url, owned).await;
    let before = proxy.messages();
    workload(&stores, "warm").await.expect("warm-up");
    // After a reconnect statements are prepared again: allow for the extra messages.
    let messages = proxy.messages() - before;
    let checker = db.client().await;
    let (mut fired, mut failed, mut slowest) = (0, 0, Duration::ZERO);
    // Position n = the n-th frontend message of the workload; after a failure the workload
    // runs on a new connection and prepares again, so it may send more messages than at first.
    for n in 0.. {
        let prefix = format!("{n}-");
        proxy.arm(fault, n);
        let (outcome, took) = bounded("workload", workload(&stores, &format!("{prefix}u"))).await;
        if !proxy.disarm() {
            // The workload sent fewer than n + 1 messages: every position was hit.
            outcome.expect("no fault, no error");
            break;
        }
        fired += 1;
        slowest = slowest.max(took);
        if let Err(error) = outcome {
            failed += 1;
            assert!(
                is_connection_or_timeout(&error),
                "{fault:?} at {n}: {error}"
            );
            if fault == Fault::Stall {
                assert!(error.to_string().contains("timed out"), "{n}: {error}");
            }
        }
        let (fresh, _) = bounded("next call", users(&stores)).await;
        fresh.unwrap_or_else(|e| panic!("{owned:?} {fault:?} at {n}: next call failed: {e}"));
        let (_, half) = written_on(&checker, &prefix).await;
        assert_eq!(half, 0, "{fault:?} at {n}: a user without its session");
    }
    proxy.cut_all();
    no_open_transactions(&db).await;
    let (committed, half) = written_on(&checker, "").await;
    assert_eq!(half, 0);
    if let Some(reconnects) = stores.adapter.connection().reconnect_count() {
        assert!(
            reconnects >= failed,
            "{reconnects} reconnects, {failed} failures"
        );
    }
    eprintln!(
        "figure: {owned:?} {fault:?} at each frontend message of the workload ({messages} when \
         warm, {fired} positions hit): failed calls {failed}, hung 0, half-written 0, next call \
         ok {fired}/{fired}, committed {committed}, slowest call {slowest:?} (bound {BOUND:?})"
    );
    assert!(failed > 0 && fired > 0);
    assert!(slowest < BOUND);
}

#[tokio::test]
async fn a_cut_at_every_message_fails_that_call_only_and_the_owned_client_reconnects() {
    for &owned in OWNED {
        sweep(Fault::Cut, owned).await;
    }
}

#[tokio::test]
async fn a_reset_at_every_message_fails_that_call_only_and_the_pool_recovers() {
    for &owned in OWNED {
        sweep(Fault::Reset, owned).await;
    }
}

#[tokio::test]
async fn a_stall_at_every_message_times_out_and_the_connection_is_replaced() {
    for &owned in OWNED {
        sweep(Fault::Stall, owned).await;
    }
}

#[tokio::test]
async fn an_unanswering_server_times_out_connects_and_calls_then_recovers() {
    let db = TestDb::new().await;
    let proxy = FaultProxy::start(&db.url).await;
    proxy.stall_new(true);
    let begun = Instant::now();
    let error =
        TokioPostgresConnection::connect_with_timeout(&proxy.url, Some(Duration::from_millis(300)))
            .await
            .expect_err("no answer");
    let connect_took = begun.elapsed();
    assert_eq!(error.kind(), rustauth_tokio_postgres::ErrorKind::Timeout);
    assert!(connect_took < Duration::from_secs(2), "{connect_took:?}");
    proxy.stall_new(false);
    for &owned in OWNED {
        let stores = stores(&proxy.url, owned).await;
        users(&stores).await.expect("reachable");
        // The whole server stops answering: the open connection and any new one.
        proxy.stall_new(true);
        proxy.arm(Fault::Stall, 0);
        let mut times = Vec::new();
        for _ in 0..3 {
            let (outcome, took) = bounded("stalled call", users(&stores)).await;
            let error = outcome.expect_err("stalled");
            let text = error.to_string().to_lowercase();
            assert!(
                text.contains("timed out") || text.contains("timeout"),
                "{owned:?}: {text}"
            );
            times.push(took);
        }
        proxy.stall_new(false);
        proxy.disarm();
        let (outcome, _) = bounded("after the stall", users(&stores)).await;
        outcome.unwrap_or_else(|e| panic!("{owned:?} did not recover: {e}"));
        eprintln!(
            "figure: {owned:?} unanswering server: connect timed out in {connect_took:?}, calls \
             timed out in {times:?} (statement limit {LIMIT:?}, connect limit 2s), first call \
             after it ok ({} connections accepted)",
            proxy.accepted()
        );
        proxy.cut_all();
    }
}

#[tokio::test]
async fn a_caller_client_fails_fast_after_a_cut_and_cannot_reconnect() {
    let db = TestDb::new().await;
    let proxy = FaultProxy::start(&db.url).await;
    let (client, connection) = tokio_postgres::connect(&proxy.url, tokio_postgres::NoTls)
        .await
        .expect("connect");
    tokio::spawn(connection);
    let connection = TokioPostgresConnection::from_client(client).with_statement_timeout(LIMIT);
    assert!(!connection.reconnects());
    let stores = TokioPostgresStores::builder().build(connection);
    users(&stores).await.expect("works");
    proxy.cut_all();
    for round in 0..3 {
        let (outcome, took) = bounded("closed client", users(&stores)).await;
        let error = outcome.expect_err("closed");
        assert!(is_connection_or_timeout(&error), "{round}: {error}");
        assert!(took < LIMIT * 2, "{took:?}");
    }
    assert_eq!(stores.adapter.connection().reconnect_count(), Some(0));
}

/// Terminates every backend of `db` but the caller's.
pub async fn terminate_all(db: &TestDb) -> i64 {
    db.client()
        .await
        .query_one(
            "SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity \
             WHERE datname = $1 AND pid <> pg_backend_pid()",
            &[&db.name],
        )
        .await
        .expect("terminate")
        .get(0)
}

#[tokio::test]
async fn pg_terminate_backend_between_calls_and_mid_transaction() {
    for &owned in OWNED {
        let db = TestDb::new().await;
        let stores = stores(&db.url, owned).await;
        let mut failures = 0;
        for round in 0..10 {
            users(&stores).await.expect("warm");
            assert!(terminate_all(&db).await >= 1);
            // The server's FATAL message may arrive after the next call was sent: that call
            // fails, the one after it runs on a new connection.
            let mut recovered = false;
            for _ in 0..2 {
                let (outcome, _) = bounded("after terminate", users(&stores)).await;
                match outcome {
                    Ok(_) => {
                        recovered = true;
                        break;
                    }
                    Err(error) => {
                        failures += 1;
                        assert!(is_connection_or_timeout(&error), "{round}: {error}");
                    }
                }
            }
            assert!(recovered, "{owned:?} round {round}: no recovery");
        }
        // Mid-transaction: the user is written, then the backend dies before the session.
        let (written_tx, terminated) = tokio::sync::oneshot::channel::<()>();
        let (terminated_tx, wait_terminated) = tokio::sync::oneshot::channel::<()>();
        let adapter = stores.adapter.clone();
        let transaction = tokio::spawn(async move {
            adapter
                .transaction(Box::new(move |tx| {
                    Box::pin(async move {
                        tx.create(user("mid")).await?;
                        let _ = written_tx.send(());
                        let _ = wait_terminated.await;
                        tx.create(session("mid")).await?;
                        Ok(())
                    })
                }))
                .await
        });
        terminated.await.expect("user written");
        terminate_all(&db).await;
        let _ = terminated_tx.send(());
        let (outcome, _) = bounded("terminated transaction", async {
            transaction.await.expect("task")
        })
        .await;
        let error = outcome.expect_err("the backend died mid-transaction");
        assert!(is_connection_or_timeout(&error), "{error}");
        assert_eq!(written(&db, "mid").await, (0, 0), "nothing half-written");
        users(&stores)
            .await
            .expect("recovered after the transaction");
        eprintln!(
            "figure: {owned:?} pg_terminate_backend x10 between calls: {failures} failed calls \
             (<= 1 per kill), recovered 10/10; killed mid-transaction: error, 0 rows written, \
             next call ok"
        );
        assert!(failures <= 10);
    }
}
