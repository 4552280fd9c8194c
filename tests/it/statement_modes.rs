//! `StatementMode::Unnamed` never names a statement and stays one round trip per operation.

use rustauth_core::db::{DbAdapter, DbValue, FindOne, Where};
use rustauth_core::options::{RateLimitConsumeInput, RateLimitRule, RateLimitStore};
use rustauth_tokio_postgres::{RoutePolicy, TokioPostgresAdapter, TokioPostgresRateLimitStore};

use crate::fixtures::{Backend, connection, create_session, create_user, default_schema};
use crate::support::TestDb;
use crate::support::wire::CountingProxy;

#[tokio::test]
async fn unnamed_mode_names_nothing_and_keeps_one_round_trip_per_operation() {
    let db = TestDb::new().await;
    let proxy = CountingProxy::start(&db.url).await;
    let adapter = TokioPostgresAdapter::with_policy(
        connection(&proxy.url, Backend::ClientUnnamed).await,
        default_schema(),
        RoutePolicy::Auto,
    );
    let store = TokioPostgresRateLimitStore::from(&adapter);
    create_user(&adapter, "u1", "u1@example.com", 0).await;
    let trips = proxy.counts.round_trips();
    for i in 0..10 {
        let token = format!("t{i}");
        create_session(&adapter, &format!("s{i}"), "u1", &token, i).await;
        adapter
            .find_one(
                FindOne::new("session").where_clause(Where::new("token", DbValue::String(token))),
            )
            .await
            .expect("find")
            .expect("found");
        let input = RateLimitConsumeInput {
            key: "ip|/sign-in".into(),
            rule: RateLimitRule {
                window: time::Duration::seconds(10),
                max: 3,
            },
            now_ms: 1_000 + i,
        };
        store.consume(input).await.expect("consume");
    }
    assert_eq!(
        proxy.counts.named_parses(),
        0,
        "no named statement was ever parsed"
    );
    assert_eq!(
        proxy.counts.round_trips() - trips,
        30,
        "one round trip per operation"
    );
    assert_eq!(
        adapter.route_counts().1,
        0,
        "the typed statements ran, unnamed"
    );
}
