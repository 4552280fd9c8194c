//! Hostile input not covered by `hostile.rs`: invalid UTF-8 at the HTTP boundary, integers at
//! and beyond the edges of their columns, and NULL where a list or array element belongs.
//! Every case is a correct result or a clear error, never a panic, and both routes agree.

use http::{Method, Request};
use rustauth_core::db::{
    Count, Create, DbAdapter, DbRecord, DbValue, FindMany, Sort, SortDirection, Update, Where,
    WhereOperator,
};
use rustauth_core::options::UserOptions;
use rustauth_tokio_postgres::RoutePolicy;

use crate::fixtures::{POLICIES, adapter, create_user, dump, extended_schema, migrated, s};
use crate::http_flows::{auth_on, options};
use crate::support::TestDb;

/// Invalid UTF-8 cannot reach SQL: every text the adapter binds is a Rust `String` (a
/// `DbValue::String`), which is valid UTF-8 by construction, and PostgreSQL's UTF-8 check is
/// a second wall. The only way in is a request body, and core rejects it before any query.
#[tokio::test]
async fn invalid_utf8_in_a_request_body_never_reaches_the_database() {
    let db = TestDb::new().await;
    let (auth, _stores) = auth_on(
        &db,
        crate::fixtures::Backend::Client,
        options(UserOptions::default()),
    )
    .await;
    // The rate limiter counts every request; only auth rows matter here.
    let auth_rows = |rows: Vec<String>| {
        rows.into_iter()
            .filter(|row| !row.starts_with("rate_limits:"))
            .collect::<Vec<_>>()
    };
    let before = auth_rows(dump(&db).await);
    let mut statuses = Vec::new();
    for body in [
        b"{\"name\":\"a\",\"email\":\"\xff\xfe@example.com\",\"password\":\"long enough pw\"}"
            .to_vec(),
        b"{\"name\":\"\xc3\x28\",\"email\":\"x@example.com\",\"password\":\"long enough pw\"}"
            .to_vec(),
        b"{\"name\":\"a\",\"email\":\"y@example.com\",\"password\":\"\xed\xa0\x80 long pw\"}"
            .to_vec(),
    ] {
        let request = Request::builder()
            .method(Method::POST)
            .uri("http://localhost:3000/api/auth/sign-up/email")
            .header("content-type", "application/json")
            .body(body)
            .expect("request");
        let status = match auth.handler_async(request).await {
            Ok(response) => response.status().as_u16(),
            Err(_) => 400,
        };
        statuses.push(status);
    }
    assert!(
        statuses.iter().all(|s| (400..500).contains(s)),
        "{statuses:?}"
    );
    assert_eq!(auth_rows(dump(&db).await), before, "nothing written");
    eprintln!("figure: invalid UTF-8 request bodies: statuses {statuses:?}, rows written 0");
}

fn rate_limit_row(key: &str, count: i64, last: i64) -> Create {
    Create::new("rate_limit")
        .data("key", s(key))
        .data("count", DbValue::Number(count))
        .data("last_request", DbValue::Number(last))
}

#[tokio::test]
async fn integers_at_the_edges_of_bigint_round_trip_and_compare_exactly() {
    let mut results = Vec::new();
    for policy in POLICIES {
        let db = TestDb::new().await;
        let a = adapter(&db, policy).await;
        let edges = [i64::MIN, i64::MIN + 1, -1, 0, 1, i64::MAX - 1, i64::MAX];
        for (i, edge) in edges.iter().enumerate() {
            a.create(rate_limit_row(
                &format!("k{i}"),
                *edge,
                -*edge.max(&(i64::MIN + 1)),
            ))
            .await
            .unwrap_or_else(|e| panic!("{policy:?} {edge}: {e}"));
        }
        let mut out = Vec::new();
        for op in [
            WhereOperator::Eq,
            WhereOperator::Lt,
            WhereOperator::Gt,
            WhereOperator::Lte,
            WhereOperator::Gte,
            WhereOperator::Ne,
        ] {
            for edge in [i64::MIN, 0, i64::MAX] {
                let query = FindMany::new("rate_limit")
                    .where_clause(Where::new("count", DbValue::Number(edge)).operator(op))
                    .sort_by(Sort::new("count", SortDirection::Asc));
                out.push(format!("{op:?} {edge}: {:?}", a.find_many(query).await));
            }
        }
        let list = DbValue::NumberArray(vec![i64::MIN, i64::MAX, 0]);
        let count = Count::new("rate_limit")
            .where_clause(Where::new("count", list).operator(WhereOperator::In));
        out.push(format!("in: {:?}", a.count(count).await));
        let update = Update::new("rate_limit")
            .where_clause(Where::new("key", s("k3")))
            .data("count", DbValue::Number(i64::MAX));
        out.push(format!("update: {:?}", a.update(update).await));
        // A string where a number belongs, and a number where a string belongs.
        let wrong = Count::new("rate_limit").where_clause(Where::new("count", s("1e400")));
        let wrong = a.count(wrong).await.expect_err("a string for a bigint");
        assert!(wrong.to_string().contains("count"), "{policy:?}: {wrong}");
        let wrong = Count::new("rate_limit").where_clause(Where::new("key", DbValue::Number(1)));
        a.count(wrong).await.expect_err("a number for a text key");
        let stored: Vec<i64> = db
            .client()
            .await
            .query("SELECT count FROM rate_limits ORDER BY key", &[])
            .await
            .expect("read")
            .iter()
            .map(|row| row.get(0))
            .collect();
        assert_eq!(
            stored,
            [
                i64::MIN,
                i64::MIN + 1,
                -1,
                i64::MAX,
                1,
                i64::MAX - 1,
                i64::MAX
            ]
        );
        results.push(out);
    }
    assert_eq!(results[0], results[1], "typed and dynamic agree");
    eprintln!(
        "figure: bigint edges i64::MIN..=i64::MAX: {} comparisons identical on both routes, \
         stored exactly",
        results[0].len()
    );
}

#[tokio::test]
async fn a_saturated_rate_limit_count_denies_instead_of_overflowing() {
    use rustauth_core::options::{RateLimitConsumeInput, RateLimitRule, RateLimitStore};
    let db = TestDb::new().await;
    let a = adapter(&db, RoutePolicy::Auto).await;
    a.create(rate_limit_row("hot", i64::MAX, 1_000))
        .await
        .expect("create");
    let before = dump(&db).await;
    let store = a.rate_limit_store();
    let input = |now_ms| RateLimitConsumeInput {
        key: "hot".into(),
        rule: RateLimitRule {
            window: time::Duration::seconds(60),
            max: u64::MAX >> 1,
        },
        now_ms,
    };
    let decision = store.consume(input(2_000)).await.expect("consume");
    assert!(!decision.permitted, "i64::MAX >= max: denied");
    assert_eq!(dump(&db).await, before, "a denial writes nothing");
    let decision = store.consume(input(100_000)).await.expect("new window");
    assert!(decision.permitted, "a new window starts at 1");
    let rule = RateLimitRule {
        window: time::Duration::seconds(60),
        max: u64::MAX,
    };
    let error = store
        .consume(RateLimitConsumeInput {
            key: "hot".into(),
            rule,
            now_ms: 1,
        })
        .await
        .expect_err("u64::MAX does not fit a bigint");
    assert!(error.to_string().contains("i64"), "{error}");
}

#[tokio::test]
async fn null_where_a_list_or_an_element_belongs_is_an_error_or_matches_nothing() {
    let mut results = Vec::new();
    for policy in POLICIES {
        let db = TestDb::new().await;
        let a = adapter(&db, policy).await;
        create_user(&a, "u1", "u1@example.com", 1).await;
        let before = dump(&db).await;
        let mut out = Vec::new();
        // `DbValue::StringArray` holds `String`s: a NULL element cannot be expressed. NULL as
        // the whole list, and JSON arrays with null elements, are what a caller can send.
        for (label, value) in [
            ("null list", DbValue::Null),
            ("empty list", DbValue::StringArray(vec![])),
            (
                "json list with null",
                DbValue::Json(serde_json::json!(["u1", null])),
            ),
            ("record list", DbValue::RecordArray(vec![DbRecord::new()])),
        ] {
            for op in [WhereOperator::In, WhereOperator::NotIn] {
                let query = FindMany::new("user")
                    .where_clause(Where::new("id", value.clone()).operator(op));
                let outcome = a.find_many(query).await.map(|rows| rows.len());
                out.push(format!("{label} {op:?}: {outcome:?}"));
            }
        }
        assert_eq!(dump(&db).await, before, "{policy:?}");
        results.push(out);
    }
    // Both routes give the same answer or the same kind of error.
    for (typed, dynamic) in results[0].iter().zip(&results[1]) {
        let shape = |text: &str| text.split(": ").take(2).collect::<Vec<_>>().join(": ");
        assert_eq!(
            shape(typed).split('(').next(),
            shape(dynamic).split('(').next()
        );
    }
    eprintln!(
        "figure: NULL lists and elements (typed route): {:?}",
        results[0]
    );
}

#[tokio::test]
async fn stored_arrays_with_null_elements_read_back_as_a_clear_error() {
    let (db, a) = migrated(extended_schema()).await;
    create_user(&a, "u1", "u1@example.com", 1).await;
    let client = db.client().await;
    client
        .execute(
            "UPDATE app_users SET tags = ARRAY['a', NULL], nums = ARRAY[1, NULL]::bigint[]",
            &[],
        )
        .await
        .expect("written by another client");
    let outcome = a.find_many(FindMany::new("user")).await;
    let text = format!("{outcome:?}");
    assert!(!text.contains("panicked"));
    if let Err(error) = &outcome {
        assert!(error.to_string().contains("app_users"), "{error}");
    }
    eprintln!("figure: text[]/bigint[] with NULL elements read through the dynamic route: {text}");
}
