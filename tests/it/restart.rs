//! A server restart, on a throwaway cluster this test starts itself (never the shared server):
//! in-flight transactions fail and leave nothing, the owned client and the pool reconnect.

use std::sync::Arc;
use std::time::Duration;

use rustauth_core::db::DbAdapter;
use rustauth_tokio_postgres::TokioPostgresAdapter;

use crate::faults::{bounded, is_connection_or_timeout, session, stores, user, workload};
use crate::fixtures::default_schema;
use crate::support::connect;
use crate::support::throwaway_pg::ThrowawayPostgres;

async fn half_written(url: &str) -> (i64, i64) {
    crate::faults::written_on(&connect(url).await, "").await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_server_restart_fails_in_flight_work_cleanly_and_both_backends_reconnect() {
    let cluster = tokio::task::spawn_blocking(ThrowawayPostgres::start)
        .await
        .expect("task")
        .expect("throwaway cluster");
    let cluster = Arc::new(cluster);
    let url = cluster.url("postgres");
    let setup = TokioPostgresAdapter::connect_with_schema(&url, default_schema())
        .await
        .expect("connect");
    setup
        .run_migrations(&default_schema())
        .await
        .expect("migrate");
    let mut backends = Vec::new();
    for &owned in crate::faults::OWNED {
        backends.push((owned, stores(&url, owned).await));
    }
    let mut figures = Vec::new();
    for round in 0..3 {
        let mut in_flight = Vec::new();
        for (owned, stores) in &backends {
            workload(stores, &format!("{owned:?}-{round}-before"))
                .await
                .expect("before the restart");
            // A transaction that has written its user and waits while the server restarts.
            let (written, is_written) = tokio::sync::oneshot::channel::<()>();
            let (restarted, is_restarted) = tokio::sync::oneshot::channel::<()>();
            let adapter = stores.adapter.clone();
            let id = format!("{owned:?}-{round}-mid");
            in_flight.push((
                restarted,
                tokio::spawn(async move {
                    adapter
                        .transaction(Box::new(move |tx| {
                            Box::pin(async move {
                                tx.create(user(&id)).await?;
                                let _ = written.send(());
                                let _ = is_restarted.await;
                                tx.create(session(&id)).await?;
                                Ok(())
                            })
                        }))
                        .await
                }),
            ));
            is_written.await.expect("user written");
        }
        let restarting = Arc::clone(&cluster);
        tokio::task::spawn_blocking(move || restarting.restart())
            .await
            .expect("task")
            .expect("restart");
        for (restarted, transaction) in in_flight {
            let _ = restarted.send(());
            let (outcome, _) = bounded("in-flight transaction", async {
                transaction.await.expect("task")
            })
            .await;
            let error = outcome.expect_err("the server restarted mid-transaction");
            assert!(is_connection_or_timeout(&error), "{error}");
        }
        for (owned, stores) in &backends {
            let mut failures = 0;
            for attempt in 0.. {
                let id = format!("{owned:?}-{round}-after-{attempt}");
                let (outcome, _) = bounded("after the restart", workload(stores, &id)).await;
                match outcome {
                    Ok(()) => break,
                    Err(error) => {
                        assert!(is_connection_or_timeout(&error), "{owned:?}: {error}");
                        failures += 1;
                        assert!(failures <= 2, "{owned:?} does not recover: {error}");
                        tokio::time::sleep(Duration::from_millis(50)).await;
                    }
                }
            }
            figures.push(format!("{owned:?} round {round}: {failures} failed calls"));
        }
        let (users, half) = half_written(&url).await;
        assert_eq!(half, 0, "nothing half-written");
        assert!(
            users >= 2 * backends.len() as i64 * (round + 1),
            "{users} users after round {round}"
        );
    }
    let (_, half) = half_written(&url).await;
    eprintln!(
        "figure: server restarted 3x under an owned client and a pool: in-flight transactions \
         failed 6/6 with connection errors, half-written 0, recovery: {}",
        figures.join(", ")
    );
    assert_eq!(half, 0);
}
