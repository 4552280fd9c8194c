//! Typed statements are prepared once per connection and every hot path is one round trip,
//! counted on the wire.

use rustauth_core::db::{
    DbAdapter, DbValue, Delete, FindMany, FindOne, Sort, SortDirection, Update, Where,
};
use rustauth_tokio_postgres::{RoutePolicy, TokioPostgresAdapter, TokioPostgresConnection};

use crate::fixtures::{
    at, create_account, create_session, create_user, create_verification, default_schema,
};
use crate::support::TestDb;
use crate::support::wire::CountingProxy;

async fn proxied(db: &TestDb, policy: RoutePolicy) -> (TokioPostgresAdapter, CountingProxy) {
    let proxy = CountingProxy::start(&db.url).await;
    let (client, connection) = tokio_postgres::connect(&proxy.url, tokio_postgres::NoTls)
        .await
        .expect("connect");
    tokio::spawn(connection);
    let adapter = TokioPostgresAdapter::with_policy(
        TokioPostgresConnection::from_client(client),
        default_schema(),
        policy,
    );
    (adapter, proxy)
}

fn by(field: &str, value: &str) -> Where {
    Where::new(field, DbValue::String(value.into()))
}

/// The hot paths: get-session, sign-in lookups, session refresh and sign-out.
async fn hot_paths(adapter: &TokioPostgresAdapter, i: usize) {
    let token = format!("tok{i}");
    create_session(adapter, &format!("s{i}"), "u1", &token, i as i64).await;
    adapter
        .find_one(FindOne::new("session").where_clause(by("token", &token)))
        .await
        .expect("session")
        .expect("found");
    adapter
        .find_one(FindOne::new("user").where_clause(by("id", "u1")))
        .await
        .expect("user")
        .expect("found");
    adapter
        .find_one(FindOne::new("user").where_clause(by("email", "u1@example.com")))
        .await
        .expect("by email");
    adapter
        .find_one(
            FindOne::new("account")
                .where_clause(by("user_id", "u1"))
                .where_clause(by("provider_id", "credential")),
        )
        .await
        .expect("account");
    adapter
        .find_many(
            FindMany::new("session")
                .where_clause(by("user_id", "u1"))
                .sort_by(Sort::new("created_at", SortDirection::Desc)),
        )
        .await
        .expect("sessions");
    adapter
        .update(
            Update::new("session")
                .where_clause(by("token", &token))
                .data("expires_at", DbValue::Timestamp(at(99_999))),
        )
        .await
        .expect("refresh")
        .expect("updated");
    adapter
        .find_many(
            FindMany::new("verification")
                .where_clause(by("identifier", "reset"))
                .sort_by(Sort::new("created_at", SortDirection::Desc))
                .limit(1),
        )
        .await
        .expect("latest verification");
    adapter
        .delete(Delete::new("session").where_clause(by("token", &token)))
        .await
        .expect("sign-out");
}

const HOT_PATH_OPERATIONS: u64 = 9;

#[tokio::test]
async fn typed_statements_are_prepared_once_and_each_call_is_one_round_trip() {
    let db = TestDb::new().await;
    let (adapter, proxy) = proxied(&db, RoutePolicy::Auto).await;
    create_user(&adapter, "u1", "u1@example.com", 0).await;
    create_account(&adapter, "a1", "u1", "credential").await;
    create_verification(&adapter, "v1", "reset", "value", 0).await;
    hot_paths(&adapter, 0).await;
    let prepared = adapter.connection().prepared_statement_count();
    let (parses, trips) = (proxy.counts.parses(), proxy.counts.round_trips());
    for i in 1..=20 {
        hot_paths(&adapter, i).await;
    }
    assert_eq!(
        proxy.counts.parses() - parses,
        0,
        "no statement was parsed again"
    );
    assert_eq!(
        proxy.counts.round_trips() - trips,
        20 * HOT_PATH_OPERATIONS,
        "one round trip per operation"
    );
    assert_eq!(adapter.connection().prepared_statement_count(), prepared);
    assert_eq!(adapter.route_counts().1, 0, "every hot path ran typed");
}

#[tokio::test]
async fn repeating_dynamic_statements_are_prepared_on_second_sight_then_one_round_trip() {
    let db = TestDb::new().await;
    let (adapter, proxy) = proxied(&db, RoutePolicy::DynamicOnly).await;
    create_user(&adapter, "u1", "u1@example.com", 0).await;
    create_account(&adapter, "a1", "u1", "credential").await;
    create_verification(&adapter, "v1", "reset", "value", 0).await;
    // First sighting runs unnamed, the second prepares: warm both.
    hot_paths(&adapter, 0).await;
    hot_paths(&adapter, 1).await;
    let (parses, trips) = (proxy.counts.parses(), proxy.counts.round_trips());
    for i in 2..22 {
        hot_paths(&adapter, i).await;
    }
    assert_eq!(proxy.counts.round_trips() - trips, 20 * HOT_PATH_OPERATIONS);
    assert_eq!(
        proxy.counts.parses() - parses,
        0,
        "repeating dynamic SQL is not parsed again"
    );
    assert_eq!(adapter.route_counts().0, 0, "everything ran dynamic");
}

#[tokio::test]
async fn distinct_dynamic_statements_keep_server_side_statements_bounded() {
    let db = TestDb::new().await;
    let (adapter, proxy) = proxied(&db, RoutePolicy::DynamicOnly).await;
    for length in 1..=200usize {
        // A new IN-list length is new SQL; each is sent twice so every one is admitted.
        let tokens = (0..length).map(|i| format!("t{i}")).collect::<Vec<_>>();
        for _ in 0..2 {
            let query = FindMany::new("session").where_clause(
                Where::new("token", DbValue::StringArray(tokens.clone()))
                    .operator(rustauth_core::db::WhereOperator::In),
            );
            adapter.find_many(query).await.expect("find");
        }
    }
    let live = proxy.counts.live_named_statements();
    eprintln!("figure: 200 distinct dynamic statements left {live} named statements on the server");
    assert!(live <= 128, "server-side statements stay bounded: {live}");
    assert!(
        adapter
            .connection()
            .prepared_statement_count()
            .is_some_and(|n| n <= 128)
    );
}

#[tokio::test]
async fn pools_and_unnamed_mode_run_dynamic_sql_unnamed() {
    let db = TestDb::new().await;
    let proxy = CountingProxy::start(&db.url).await;
    let connection =
        crate::fixtures::connection(&proxy.url, crate::fixtures::Backend::ClientUnnamed).await;
    let adapter =
        TokioPostgresAdapter::with_policy(connection, default_schema(), RoutePolicy::DynamicOnly);
    create_user(&adapter, "u1", "u1@example.com", 0).await;
    create_account(&adapter, "a1", "u1", "credential").await;
    create_verification(&adapter, "v1", "reset", "value", 0).await;
    for i in 0..5 {
        hot_paths(&adapter, i).await;
    }
    assert_eq!(proxy.counts.named_parses(), 0);
}

#[tokio::test]
async fn every_typed_statement_round_trips_per_table() {
    let db = TestDb::new().await;
    let adapter = crate::fixtures::adapter(&db, RoutePolicy::Auto).await;
    crate::differential::typed_corpus(&adapter).await;
    let (typed, dynamic) = adapter.route_counts();
    assert!(typed >= 40, "typed operations: {typed}");
    assert_eq!(dynamic, 0, "the typed corpus needed no dynamic statement");
}
