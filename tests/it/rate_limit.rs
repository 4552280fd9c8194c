//! The rate-limit store: core's decisions exactly, atomic under concurrency, one statement.

use std::sync::Arc;

use rustauth_core::db::sql::consume_sql_rate_limit_record;
use rustauth_core::error::RustAuthError;
use rustauth_core::options::{
    RateLimitConsumeInput, RateLimitRecord, RateLimitRule, RateLimitStore,
};
use rustauth_tokio_postgres::{TokioPostgresConnection, TokioPostgresRateLimitStore};

use crate::support::TestDb;
use crate::support::wire::CountingProxy;

fn input(key: &str, now_ms: i64, window_ms: i64, max: u64) -> RateLimitConsumeInput {
    RateLimitConsumeInput {
        key: key.to_owned(),
        rule: RateLimitRule {
            window: time::Duration::milliseconds(window_ms),
            max,
        },
        now_ms,
    }
}

async fn store(db: &TestDb) -> TokioPostgresRateLimitStore {
    TokioPostgresRateLimitStore::from_connection(
        &TokioPostgresConnection::from_client(db.client().await),
        "rate_limits",
    )
}

async fn row(db: &TestDb, key: &str) -> Option<(i64, i64)> {
    let client = db.client().await;
    client
        .query_opt(
            "SELECT count, last_request FROM rate_limits WHERE key = $1",
            &[&key],
        )
        .await
        .expect("read row")
        .map(|row| (row.get(0), row.get(1)))
}

/// A small deterministic generator, so failures replay.
struct Lcg(u64);
impl Lcg {
    fn next(&mut self, bound: u64) -> u64 {
        self.0 = self
            .0
            .wrapping_mul(6_364_136_223_846_793_005)
            .wrapping_add(1_442_695_040_888_963_407);
        (self.0 >> 33) % bound
    }
}

#[tokio::test]
async fn decisions_match_core_for_random_sequences() {
    let db = TestDb::new().await;
    let store = store(&db).await;
    let mut rng = Lcg(0x5eed);
    let mut model: std::collections::HashMap<String, RateLimitRecord> = Default::default();
    let mut now = 1_700_000_000_000_i64;
    for step in 0..600 {
        now += rng.next(4_000) as i64;
        let key = format!("k{}", rng.next(4));
        let window_ms = 1 + rng.next(5_000) as i64;
        let max = 1 + rng.next(4);
        let request = input(&key, now, window_ms, max);
        let (expected, record, _) =
            consume_sql_rate_limit_record(request.clone(), model.get(&key).cloned())
                .expect("core decides");
        let actual = store.consume(request).await.expect("store decides");
        assert_eq!(
            actual, expected,
            "step {step}: key {key} window {window_ms} max {max}"
        );
        if expected.permitted {
            model.insert(key.clone(), record);
        }
        let stored = row(&db, &key).await.expect("row exists");
        let modelled = &model[&key];
        assert_eq!(
            stored,
            (modelled.count as i64, modelled.last_request),
            "step {step}"
        );
    }
}

#[tokio::test]
async fn denied_requests_leave_the_row_unchanged() {
    let db = TestDb::new().await;
    let store = store(&db).await;
    assert!(
        store
            .consume(input("ip|/sign-in", 1_000, 10_000, 1))
            .await
            .expect("first")
            .permitted
    );
    let before = row(&db, "ip|/sign-in").await;
    let denied = store
        .consume(input("ip|/sign-in", 4_500, 10_000, 1))
        .await
        .expect("second");
    assert!(!denied.permitted);
    assert_eq!(
        (denied.retry_after, denied.reset_after, denied.remaining),
        (7, 7, 0)
    );
    assert_eq!(
        row(&db, "ip|/sign-in").await,
        before,
        "the denial wrote nothing"
    );
}

#[tokio::test]
async fn a_burst_of_64_gets_exactly_max_permits_on_one_client_and_across_connections() {
    let db = TestDb::new().await;
    let shared = Arc::new(store(&db).await);
    let mut separate = Vec::new();
    for _ in 0..8 {
        separate.push(Arc::new(store(&db).await));
    }
    for round in 0..20 {
        for (label, stores) in [
            ("shared", vec![shared.clone()]),
            ("separate", separate.clone()),
        ] {
            let key = format!("{label}-{round}");
            let mut tasks = Vec::new();
            for i in 0..64 {
                let store = stores[i % stores.len()].clone();
                let key = key.clone();
                tasks.push(tokio::spawn(async move {
                    store.consume(input(&key, 10_000, 60_000, 5)).await
                }));
            }
            let mut permitted = 0;
            for task in tasks {
                permitted += usize::from(task.await.expect("task").expect("consume").permitted);
            }
            assert_eq!(permitted, 5, "{label} round {round}");
        }
    }
}

#[tokio::test]
async fn a_negative_stored_count_is_an_error_and_untouched() {
    let db = TestDb::new().await;
    db.client()
        .await
        .execute(
            "INSERT INTO rate_limits (key, count, last_request) VALUES ('neg', -1, 0)",
            &[],
        )
        .await
        .expect("seed");
    let error = store(&db)
        .await
        .consume(input("neg", 5, 1_000, 3))
        .await
        .expect_err("negative");
    assert_eq!(
        error,
        RustAuthError::Adapter("negative rate limit count persisted in database".into())
    );
    assert_eq!(row(&db, "neg").await, Some((-1, 0)));
}

#[tokio::test]
async fn invalid_rules_fail_before_any_database_access_with_core_messages() {
    let db = TestDb::new().await;
    let store = store(&db).await;
    for (rule, message) in [
        (
            RateLimitRule {
                window: time::Duration::ZERO,
                max: 1,
            },
            "rate limit window must be greater than zero",
        ),
        (
            RateLimitRule {
                window: time::Duration::microseconds(10),
                max: 1,
            },
            "rate limit window must be greater than zero",
        ),
        (
            RateLimitRule {
                window: time::Duration::seconds(1),
                max: 0,
            },
            "rate limit max must be greater than zero",
        ),
        (
            RateLimitRule {
                window: time::Duration::MAX,
                max: 1,
            },
            "rate limit window is too large",
        ),
        (
            RateLimitRule {
                window: time::Duration::seconds(1),
                max: u64::MAX,
            },
            "rate limit max must fit in i64",
        ),
    ] {
        let error = store
            .consume(RateLimitConsumeInput {
                key: "bad".into(),
                rule,
                now_ms: 0,
            })
            .await
            .expect_err(message);
        assert_eq!(error, RustAuthError::InvalidConfig(message.into()));
    }
    assert_eq!(row(&db, "bad").await, None, "nothing was written");
}

#[tokio::test]
async fn each_consume_is_one_round_trip_after_the_first_prepare() {
    let db = TestDb::new().await;
    let proxy = CountingProxy::start(&db.url).await;
    let (client, connection) = tokio_postgres::connect(&proxy.url, tokio_postgres::NoTls)
        .await
        .expect("connect");
    tokio::spawn(connection);
    let store = TokioPostgresRateLimitStore::from_connection(
        &TokioPostgresConnection::from_client(client),
        "rate_limits",
    );
    store
        .consume(input("warm", 1, 1_000, 5))
        .await
        .expect("warm up");
    let before = proxy.counts.round_trips();
    for i in 0..50 {
        store
            .consume(input(&format!("k{}", i % 3), 10 + i, 1_000, 2))
            .await
            .expect("consume");
    }
    assert_eq!(
        proxy.counts.round_trips() - before,
        50,
        "one round trip per consume"
    );
}

#[tokio::test]
async fn custom_table_and_column_names_work_through_the_dynamic_statement() {
    let db = TestDb::new().await;
    let client = db.client().await;
    client
        .batch_execute("CREATE TABLE app_limits (k TEXT NOT NULL UNIQUE, hits BIGINT NOT NULL, seen BIGINT NOT NULL)")
        .await
        .expect("create table");
    let schema = rustauth_core::db::auth_schema(rustauth_core::db::AuthSchemaOptions {
        rate_limit_storage: rustauth_core::db::RateLimitStorage::Database,
        rate_limit: rustauth_core::db::TableOptions::default()
            .with_name("app_limits")
            .with_field_name("key", "k")
            .with_field_name("count", "hits")
            .with_field_name("last_request", "seen"),
        ..Default::default()
    });
    let adapter =
        crate::fixtures::adapter_with(&db, schema, rustauth_tokio_postgres::RoutePolicy::Auto)
            .await;
    let store = adapter.rate_limit_store();
    let mut permitted = 0;
    for now in 0..5 {
        permitted += usize::from(
            store
                .consume(input("ip", now, 60_000, 3))
                .await
                .expect("consume")
                .permitted,
        );
    }
    assert_eq!(permitted, 3);
    let hits: i64 = client
        .query_one("SELECT hits FROM app_limits WHERE k = 'ip'", &[])
        .await
        .expect("row")
        .get(0);
    assert_eq!(hits, 3);
}
