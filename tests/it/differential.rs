//! The typed and the dynamic route must be indistinguishable: the same corpus of queries runs
//! on two identical databases, one adapter per route, and every result and the final contents
//! of every table must match.

use rustauth_core::db::{
    Connector, Count, DbAdapter, DbRecord, DbValue, Delete, DeleteMany, FindMany, FindOne, Sort,
    SortDirection, Update, UpdateMany, Where, WhereMode, WhereOperator,
};
use rustauth_tokio_postgres::RoutePolicy;

use crate::fixtures::{
    adapter, at, create_account, create_session, create_user, create_verification, dump,
};
use crate::support::TestDb;

fn by(field: &str, value: &str) -> Where {
    Where::new(field, DbValue::String(value.into()))
}

fn ts(seconds: i64) -> DbValue {
    DbValue::Timestamp(at(seconds))
}

/// Records sorted by id, for results whose order SQL leaves unspecified.
fn as_set(result: Result<Vec<DbRecord>, rustauth_core::error::RustAuthError>) -> String {
    match result {
        Ok(mut records) => {
            records.sort_by_key(|r| format!("{:?}", r.get("id")));
            format!("{records:?}")
        }
        Err(error) => format!("Err({error})"),
    }
}

/// Every query shape that has a typed statement, each once, with its result rendered.
pub async fn typed_corpus(a: &dyn DbAdapter) -> Vec<String> {
    let mut out = Vec::new();
    macro_rules! log {
        ($e:expr) => {
            out.push(format!("{:?}", $e))
        };
    }
    for (i, id) in ["u1", "u2", "u3", "u4"].iter().enumerate() {
        log!(create_user(a, id, &format!("{id}@example.com"), i as i64 * 10).await);
    }
    log!(
        a.find_one(FindOne::new("user").where_clause(by("id", "u1")))
            .await
    );
    log!(
        a.find_one(
            FindOne::new("users")
                .where_clause(by("email", "u2@example.com"))
                .select(["email", "id"])
        )
        .await
    );
    log!(
        a.find_one(FindOne::new("user").where_clause(by("email", "missing@example.com")))
            .await
    );
    log!(
        a.find_many(
            FindMany::new("user")
                .sort_by(Sort::new("created_at", SortDirection::Desc))
                .limit(2)
                .offset(1)
        )
        .await
    );
    log!(
        a.find_many(
            FindMany::new("user")
                .sort_by(Sort::new("created_at", SortDirection::Asc))
                .offset(1)
                .select(["id", "name"])
        )
        .await
    );
    out.push(as_set(a.find_many(FindMany::new("user")).await));
    log!(
        a.find_many(FindMany::new("user").where_clause(by("id", "u3")).limit(5))
            .await
    );
    log!(a.count(Count::new("user")).await);
    log!(
        a.update(
            Update::new("user")
                .where_clause(by("id", "u1"))
                .data("name", DbValue::String("Ada".into()))
                .data("image", DbValue::String("i.png".into()))
                .data("updated_at", ts(100))
        )
        .await
    );
    log!(
        a.update(
            Update::new("user")
                .where_clause(by("id", "u1"))
                .data("image", DbValue::Null)
                .data("email_verified", DbValue::Boolean(true))
        )
        .await
    );
    log!(
        a.update(
            Update::new("user")
                .where_clause(by("id", "nobody"))
                .data("name", DbValue::String("x".into()))
        )
        .await
    );
    log!(
        a.delete(Delete::new("user").where_clause(by("id", "u4")))
            .await
    );

    for (i, (id, user)) in [("s1", "u1"), ("s2", "u1"), ("s3", "u2"), ("s4", "u3")]
        .iter()
        .enumerate()
    {
        log!(create_session(a, id, user, &format!("t{id}"), i as i64 * 10).await);
    }
    log!(
        a.find_one(FindOne::new("session").where_clause(by("token", "ts1")))
            .await
    );
    log!(
        a.find_one(
            FindOne::new("session")
                .where_clause(by("id", "s2"))
                .select(["token", "user_id"])
        )
        .await
    );
    log!(
        a.find_one(FindOne::new("session").where_clause(by("user_id", "u2")))
            .await
    );
    out.push(as_set(
        a.find_many(
            FindMany::new("session").where_clause(
                Where::new(
                    "token",
                    DbValue::StringArray(vec!["ts1".into(), "ts3".into(), "nope".into()]),
                )
                .operator(WhereOperator::In),
            ),
        )
        .await,
    ));
    log!(
        a.find_many(FindMany::new("session").where_clause(
            Where::new("token", DbValue::StringArray(vec![])).operator(WhereOperator::In)
        ))
        .await
    );
    log!(
        a.find_many(
            FindMany::new("session")
                .where_clause(by("user_id", "u1"))
                .sort_by(Sort::new("created_at", SortDirection::Desc))
                .limit(1)
                .offset(1)
        )
        .await
    );
    out.push(as_set(
        a.find_many(FindMany::new("session").where_clause(by("user_id", "u1")))
            .await,
    ));
    log!(
        a.update(
            Update::new("session")
                .where_clause(by("token", "ts1"))
                .data("expires_at", ts(9_000))
                .data("updated_at", ts(200))
        )
        .await
    );
    log!(
        a.update_many(
            UpdateMany::new("session")
                .where_clause(by("user_id", "u1"))
                .data("updated_at", ts(300))
        )
        .await
    );
    log!(
        a.delete(Delete::new("session").where_clause(by("token", "ts2")))
            .await
    );
    log!(
        a.delete_many(
            DeleteMany::new("session")
                .where_clause(Where::new("expires_at", ts(3_615)).operator(WhereOperator::Lt))
        )
        .await
    );
    log!(
        a.delete_many(DeleteMany::new("session").where_clause(by("user_id", "u3")))
            .await
    );

    for (id, user, provider) in [
        ("a1", "u1", "credential"),
        ("a2", "u1", "github"),
        ("a3", "u2", "credential"),
    ] {
        log!(create_account(a, id, user, provider).await);
    }
    log!(
        a.find_one(FindOne::new("account").where_clause(by("id", "a1")))
            .await
    );
    log!(
        a.find_one(
            FindOne::new("account")
                .where_clause(by("provider_id", "github"))
                .where_clause(by("user_id", "u1"))
        )
        .await
    );
    log!(
        a.find_one(
            FindOne::new("account")
                .where_clause(by("account_id", "acct-a3"))
                .where_clause(by("provider_id", "credential"))
        )
        .await
    );
    log!(
        a.find_one(FindOne::new("account").where_clause(by("user_id", "u2")))
            .await
    );
    out.push(as_set(
        a.find_many(FindMany::new("account").where_clause(by("user_id", "u1")))
            .await,
    ));
    log!(
        a.update(
            Update::new("account")
                .where_clause(by("id", "a1"))
                .data("password", DbValue::String("new-hash".into()))
                .data("access_token_expires_at", ts(50))
        )
        .await
    );
    log!(
        a.delete_many(DeleteMany::new("account").where_clause(by("user_id", "u2")))
            .await
    );

    for (i, (id, identifier)) in [
        ("v1", "email"),
        ("v2", "email"),
        ("v3", "reset"),
        ("v4", "old"),
    ]
    .iter()
    .enumerate()
    {
        log!(create_verification(a, id, identifier, &format!("val-{id}"), i as i64 * 10).await);
    }
    log!(
        a.find_one(FindOne::new("verification").where_clause(by("identifier", "reset")))
            .await
    );
    log!(
        a.find_many(
            FindMany::new("verification")
                .where_clause(by("identifier", "email"))
                .sort_by(Sort::new("created_at", SortDirection::Desc))
                .limit(1)
        )
        .await
    );
    log!(
        a.update(
            Update::new("verification")
                .where_clause(by("identifier", "email"))
                .where_clause(by("id", "v1"))
                .where_clause(by("value", "val-v1"))
                .data("value", DbValue::String("used".into()))
        )
        .await
    );
    log!(
        a.update(
            Update::new("verification")
                .where_clause(by("identifier", "email"))
                .where_clause(by("id", "v1"))
                .where_clause(by("value", "val-v1"))
                .data("value", DbValue::String("again".into()))
        )
        .await
    );
    log!(
        a.delete_many(
            DeleteMany::new("verification")
                .where_clause(by("identifier", "email"))
                .where_clause(by("id", "v2"))
        )
        .await
    );
    log!(
        a.delete(Delete::new("verification").where_clause(by("identifier", "reset")))
            .await
    );
    log!(
        a.delete_many(
            DeleteMany::new("verification")
                .where_clause(Where::new("expires_at", ts(625)).operator(WhereOperator::Lt))
        )
        .await
    );
    log!(
        a.delete_many(DeleteMany::new("verification").where_clause(by("identifier", "old")))
            .await
    );
    out
}

/// Values of every kind for the user table's fields, including wrong kinds and NULL.
fn values() -> Vec<(&'static str, DbValue)> {
    vec![
        ("email", DbValue::String("u1@example.com".into())),
        ("email", DbValue::String("U2@EXAMPLE.COM".into())),
        ("email", DbValue::String("example".into())),
        (
            "email",
            DbValue::StringArray(vec!["u1@example.com".into(), "U3@example.com".into()]),
        ),
        ("email", DbValue::StringArray(vec![])),
        ("name", DbValue::Null),
        ("image", DbValue::Null),
        ("image", DbValue::String("i%_.png".into())),
        ("email_verified", DbValue::Boolean(true)),
        ("created_at", ts(15)),
        ("id", DbValue::String("u2".into())),
        ("id", DbValue::Number(7)),
    ]
}

/// Every where operator.
pub const OPERATORS: [WhereOperator; 11] = [
    WhereOperator::Eq,
    WhereOperator::Ne,
    WhereOperator::Lt,
    WhereOperator::Lte,
    WhereOperator::Gt,
    WhereOperator::Gte,
    WhereOperator::In,
    WhereOperator::NotIn,
    WhereOperator::Contains,
    WhereOperator::StartsWith,
    WhereOperator::EndsWith,
];

/// Generated combinations of operators, values, modes, connectors, sorts and pages.
pub async fn generated_corpus(a: &dyn DbAdapter) -> Vec<String> {
    let mut out = Vec::new();
    for (i, id) in ["u1", "u2", "u3"].iter().enumerate() {
        out.push(format!(
            "{:?}",
            create_user(
                a,
                id,
                &format!("{}@example.com", id.to_uppercase()),
                i as i64 * 10
            )
            .await
        ));
    }
    let values = values();
    let mut seed = 7u64;
    let mut next = |bound: usize| {
        seed = seed.wrapping_mul(6_364_136_223_846_793_005).wrapping_add(1);
        ((seed >> 33) as usize) % bound
    };
    for _ in 0..400 {
        let clauses = (0..1 + next(3))
            .map(|_| {
                let (field, value) = values[next(values.len())].clone();
                Where {
                    field: field.into(),
                    value,
                    operator: OPERATORS[next(OPERATORS.len())],
                    connector: if next(2) == 0 {
                        Connector::And
                    } else {
                        Connector::Or
                    },
                    mode: if next(2) == 0 {
                        WhereMode::Sensitive
                    } else {
                        WhereMode::Insensitive
                    },
                }
            })
            .collect::<Vec<_>>();
        let mut query = FindMany::new("user").sort_by(Sort::new("id", SortDirection::Asc));
        query.where_clauses = clauses.clone();
        if next(2) == 0 {
            query.limit = Some(next(3));
        }
        if next(3) == 0 {
            query.offset = Some(next(3));
        }
        out.push(format!("{clauses:?} => {:?}", a.find_many(query).await));
        let mut count = Count::new("user");
        count.where_clauses = clauses.clone();
        out.push(format!("count => {:?}", a.count(count).await));
        let mut find_one = FindOne::new("user").select(["email", "id"]);
        find_one.where_clauses = clauses.clone();
        let one = a.find_one(find_one).await;
        // Which matching row LIMIT 1 returns is unspecified; compare only whether one exists.
        out.push(format!("find_one => {:?}", one.map(|r| r.is_some())));
        if next(8) == 0 {
            let mut update =
                UpdateMany::new("user").data("name", DbValue::String(format!("n{}", next(100))));
            update.where_clauses = clauses.clone();
            out.push(format!("update_many => {:?}", a.update_many(update).await));
        }
    }
    out
}

#[tokio::test]
async fn typed_and_dynamic_routes_agree_on_every_typed_shape() {
    let (typed_db, dynamic_db) = (TestDb::new().await, TestDb::new().await);
    let typed = typed_corpus(&adapter(&typed_db, RoutePolicy::Auto).await).await;
    let dynamic = typed_corpus(&adapter(&dynamic_db, RoutePolicy::DynamicOnly).await).await;
    for (step, (t, d)) in typed.iter().zip(&dynamic).enumerate() {
        assert_eq!(t, d, "step {step}");
    }
    assert_eq!(typed.len(), dynamic.len());
    assert_eq!(
        dump(&typed_db).await,
        dump(&dynamic_db).await,
        "identical database state"
    );
}

#[tokio::test]
async fn every_backend_gives_the_same_results_and_state() {
    let reference_db = TestDb::new().await;
    let reference = typed_corpus(&adapter(&reference_db, RoutePolicy::DynamicOnly).await).await;
    let reference_state = dump(&reference_db).await;
    for &backend in crate::fixtures::BACKENDS {
        let db = TestDb::new().await;
        let adapter = crate::fixtures::backend_adapter(&db, backend, RoutePolicy::Auto).await;
        let results = typed_corpus(&adapter).await;
        for (step, (got, want)) in results.iter().zip(&reference).enumerate() {
            assert_eq!(got, want, "{backend:?} step {step}");
        }
        assert_eq!(dump(&db).await, reference_state, "{backend:?}");
        assert_eq!(
            adapter.route_counts().1,
            0,
            "{backend:?}: every corpus query ran typed"
        );
    }
}

#[tokio::test]
async fn typed_and_dynamic_routes_agree_on_generated_queries() {
    let (typed_db, dynamic_db) = (TestDb::new().await, TestDb::new().await);
    let typed = generated_corpus(&adapter(&typed_db, RoutePolicy::Auto).await).await;
    let dynamic = generated_corpus(&adapter(&dynamic_db, RoutePolicy::DynamicOnly).await).await;
    for (step, (t, d)) in typed.iter().zip(&dynamic).enumerate() {
        assert_eq!(t, d, "step {step}");
    }
    assert_eq!(
        dump(&typed_db).await,
        dump(&dynamic_db).await,
        "identical database state"
    );
}
