//! The `deadpool` backend: exhaustion, cancellation, lost connections and concurrency.

use std::sync::Arc;
use std::time::{Duration, Instant};

use rustauth_core::db::{Count, DbAdapter};
use rustauth_tokio_postgres::{
    PoolOptions, RoutePolicy, TokioPostgresAdapter, TokioPostgresConnection,
};

use crate::fixtures::{create_user, default_schema};
use crate::support::TestDb;

fn pooled(db: &TestDb, options: PoolOptions) -> Arc<TokioPostgresAdapter> {
    let connection = TokioPostgresConnection::connect_pool(&db.url, options).expect("pool");
    Arc::new(TokioPostgresAdapter::with_policy(
        connection,
        default_schema(),
        RoutePolicy::Auto,
    ))
}

async fn users(adapter: &dyn DbAdapter) -> Result<u64, rustauth_core::error::RustAuthError> {
    adapter.count(Count::new("user")).await
}

async fn sessions_in_transaction(db: &TestDb) -> i64 {
    db.client()
        .await
        .query_one(
            "SELECT count(*) FROM pg_stat_activity WHERE datname = $1 AND state LIKE 'idle in transaction%'",
            &[&db.name],
        )
        .await
        .expect("pg_stat_activity")
        .get(0)
}

#[tokio::test]
async fn an_exhausted_pool_times_out_instead_of_hanging_and_recovers() {
    let db = TestDb::new().await;
    let adapter = pooled(
        &db,
        PoolOptions::default()
            .max_size(1)
            .wait_timeout(Duration::from_millis(200)),
    );
    let (release, released) = tokio::sync::oneshot::channel::<()>();
    let (started, is_started) = tokio::sync::oneshot::channel::<()>();
    let holder = adapter.clone();
    let holding = tokio::spawn(async move {
        holder
            .transaction(Box::new(move |_tx| {
                Box::pin(async move {
                    let _ = started.send(());
                    let _ = released.await;
                    Ok(())
                })
            }))
            .await
    });
    is_started.await.expect("transaction started");
    let begun = Instant::now();
    let error = users(&*adapter).await.expect_err("no connection is free");
    assert!(
        begun.elapsed() < Duration::from_secs(3),
        "bounded wait: {:?}",
        begun.elapsed()
    );
    assert!(
        error
            .to_string()
            .contains("could not check out a pooled connection"),
        "{error}"
    );
    let _ = release.send(());
    holding.await.expect("task").expect("transaction");
    assert_eq!(users(&*adapter).await.expect("pool recovered"), 0);
}

#[tokio::test]
async fn cancelled_transactions_leave_every_pooled_connection_idle() {
    let db = TestDb::new().await;
    let adapter = pooled(&db, PoolOptions::default().max_size(4));
    for round in 0..100u64 {
        let _ = tokio::time::timeout(
            Duration::from_micros(round * 97 % 5_000),
            adapter.transaction(Box::new(move |tx| {
                Box::pin(async move {
                    create_user(
                        &*tx,
                        &format!("ghost{round}"),
                        &format!("ghost{round}@example.com"),
                        1,
                    )
                    .await;
                    tokio::time::sleep(Duration::from_secs(60)).await;
                    Ok(())
                })
            })),
        )
        .await;
    }
    assert_eq!(
        users(&*adapter).await.expect("count"),
        0,
        "no cancelled write is visible"
    );
    let deadline = Instant::now() + Duration::from_secs(5);
    while sessions_in_transaction(&db).await > 0 {
        assert!(
            Instant::now() < deadline,
            "a pooled connection stayed inside a transaction"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

#[tokio::test]
async fn a_transaction_holds_one_connection_while_others_keep_working() {
    let db = TestDb::new().await;
    let adapter = pooled(&db, PoolOptions::default().max_size(2));
    let inside = adapter.clone();
    adapter
        .transaction(Box::new(move |tx| {
            Box::pin(async move {
                create_user(&*tx, "u1", "u1@example.com", 1).await;
                // The outer adapter runs on the other pooled connection and cannot see the
                // uncommitted user.
                assert_eq!(users(&*inside).await.expect("outer adapter"), 0);
                Ok(())
            })
        }))
        .await
        .expect("commit");
    assert_eq!(users(&*adapter).await.expect("count"), 1);
}

#[tokio::test]
async fn lost_connections_fail_that_call_and_the_pool_recovers() {
    let db = TestDb::new().await;
    let adapter = pooled(&db, PoolOptions::default().max_size(2));
    users(&*adapter).await.expect("warm");
    db.client()
        .await
        .execute(
            "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = $1 AND pid <> pg_backend_pid()",
            &[&db.name],
        )
        .await
        .expect("terminate");
    let mut failures = 0;
    let mut recovered = false;
    for _ in 0..5 {
        match users(&*adapter).await {
            Ok(_) => {
                recovered = true;
                break;
            }
            Err(error) => {
                failures += 1;
                let text = error.to_string();
                assert!(
                    text.contains("57P01")
                        || text.contains("closed")
                        || text.contains("connection"),
                    "{text}"
                );
            }
        }
    }
    assert!(
        recovered,
        "the pool recovered by itself after {failures} failed calls"
    );
    assert!(failures <= 2, "{failures} calls failed");
}
