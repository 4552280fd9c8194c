//! Transactions on the single shared client: commit, rollback, cancellation, nesting and
//! misuse of the outer adapter, on both routes.

use std::sync::Arc;
use std::time::Duration;

use rustauth_core::db::{Count, DbAdapter, DbValue, FindOne, Where};
use rustauth_core::error::RustAuthError;

use crate::fixtures::{POLICIES, adapter, create_user};
use crate::support::TestDb;

async fn users(adapter: &dyn DbAdapter) -> u64 {
    adapter.count(Count::new("user")).await.expect("count")
}

#[tokio::test]
async fn commit_makes_writes_visible_and_err_rolls_back_unchanged() {
    for policy in POLICIES {
        let db = TestDb::new().await;
        let adapter = adapter(&db, policy).await;
        adapter
            .transaction(Box::new(|tx| {
                Box::pin(async move {
                    create_user(&*tx, "u1", "u1@example.com", 1).await;
                    Ok(())
                })
            }))
            .await
            .expect("commit");
        assert_eq!(users(&adapter).await, 1);

        let error = adapter
            .transaction(Box::new(|tx| {
                Box::pin(async move {
                    create_user(&*tx, "u2", "u2@example.com", 2).await;
                    Err(RustAuthError::Api("callback says no".into()))
                })
            }))
            .await
            .expect_err("rolled back");
        assert_eq!(
            error,
            RustAuthError::Api("callback says no".into()),
            "returned unchanged"
        );
        assert_eq!(
            users(&adapter).await,
            1,
            "{policy:?}: the second user was rolled back"
        );
    }
}

#[tokio::test]
async fn sql_error_inside_transaction_rolls_back_with_sqlstate() {
    for policy in POLICIES {
        let db = TestDb::new().await;
        let adapter = adapter(&db, policy).await;
        let error = adapter
            .transaction(Box::new(|tx| {
                Box::pin(async move {
                    create_user(&*tx, "u1", "dup@example.com", 1).await;
                    tx.create(
                        rustauth_core::db::Create::new("user")
                            .data("id", DbValue::String("u1".into()))
                            .data("name", DbValue::String("again".into()))
                            .data("email", DbValue::String("other@example.com".into()))
                            .data("email_verified", DbValue::Boolean(false))
                            .data("created_at", DbValue::Timestamp(crate::fixtures::at(1)))
                            .data("updated_at", DbValue::Timestamp(crate::fixtures::at(1))),
                    )
                    .await?;
                    Ok(())
                })
            }))
            .await
            .expect_err("duplicate primary key");
        let text = error.to_string();
        assert!(text.contains("23505"), "{text}");
        assert!(
            !text.contains("dup@example.com") && !text.contains("(u1)"),
            "no row values: {text}"
        );
        assert_eq!(users(&adapter).await, 0, "{policy:?}");
    }
}

#[tokio::test]
async fn cancelled_transactions_roll_back_and_never_bleed_into_the_next_commit() {
    let db = TestDb::new().await;
    let adapter = Arc::new(adapter(&db, rustauth_tokio_postgres::RoutePolicy::Auto).await);
    for delay_ms in [0u64, 1, 2, 5, 10, 20] {
        let cancelled = tokio::time::timeout(
            Duration::from_millis(delay_ms),
            adapter.transaction(Box::new(move |tx| {
                Box::pin(async move {
                    create_user(
                        &*tx,
                        &format!("ghost{delay_ms}"),
                        &format!("ghost{delay_ms}@example.com"),
                        1,
                    )
                    .await;
                    tokio::time::sleep(Duration::from_secs(3600)).await;
                    Ok(())
                })
            })),
        )
        .await;
        assert!(cancelled.is_err(), "the transaction was cancelled");
        adapter
            .transaction(Box::new(move |tx| {
                Box::pin(async move {
                    create_user(
                        &*tx,
                        &format!("real{delay_ms}"),
                        &format!("real{delay_ms}@example.com"),
                        2,
                    )
                    .await;
                    Ok(())
                })
            }))
            .await
            .expect("next transaction commits");
    }
    let ghosts = adapter
        .count(
            Count::new("user").where_clause(
                Where::new("id", DbValue::String("ghost".into()))
                    .operator(rustauth_core::db::WhereOperator::StartsWith),
            ),
        )
        .await
        .expect("count");
    assert_eq!(ghosts, 0, "no cancelled write became durable");
    assert_eq!(users(&*adapter).await, 6);
}

#[tokio::test]
async fn nested_transactions_are_rejected_with_nested_in_the_message() {
    let db = TestDb::new().await;
    let adapter = adapter(&db, rustauth_tokio_postgres::RoutePolicy::Auto).await;
    let error = adapter
        .transaction(Box::new(|tx| {
            Box::pin(async move {
                tx.transaction(Box::new(|_| Box::pin(async { Ok(()) })))
                    .await
            })
        }))
        .await
        .expect_err("nested");
    assert!(error.to_string().contains("nested"), "{error}");
}

#[tokio::test]
async fn outer_adapter_inside_its_own_callback_errors_instead_of_deadlocking() {
    let db = TestDb::new().await;
    let adapter = Arc::new(adapter(&db, rustauth_tokio_postgres::RoutePolicy::Auto).await);
    let outer = adapter.clone();
    let result = tokio::time::timeout(
        Duration::from_secs(10),
        adapter.transaction(Box::new(move |_tx| {
            Box::pin(async move {
                outer
                    .find_one(
                        FindOne::new("user")
                            .where_clause(Where::new("id", DbValue::String("x".into()))),
                    )
                    .await?;
                Ok(())
            })
        })),
    )
    .await
    .expect("no deadlock");
    let error = result.expect_err("misuse is reported");
    assert!(
        error
            .to_string()
            .contains("transaction adapter passed to the callback"),
        "{error}"
    );
    assert_eq!(
        users(&*adapter).await,
        0,
        "the adapter is usable afterwards"
    );
}

#[tokio::test]
async fn transaction_adapter_reports_the_same_capabilities() {
    let db = TestDb::new().await;
    let adapter = adapter(&db, rustauth_tokio_postgres::RoutePolicy::Auto).await;
    let outer = adapter.capabilities();
    adapter
        .transaction(Box::new(move |tx| {
            Box::pin(async move {
                assert_eq!(tx.capabilities(), outer);
                Ok(())
            })
        }))
        .await
        .expect("transaction");
}
