//! The dynamic route through the public adapter: renamed tables with plugin fields (which route
//! dynamic under `Auto`), every where operator, mode and connector, NULL vs JSON null, arrays,
//! select/sort/limit/offset, single-row writes and transactions (joins: `joins.rs`).

use rustauth_core::db::adapter_harness::run_adapter_contract;
use rustauth_core::db::{
    Count, Create, DbAdapter, DbValue, Delete, DeleteMany, FindMany, FindOne, Sort, SortDirection,
    Update, UpdateMany, Where, WhereOperator,
};
use rustauth_core::error::RustAuthError;
use rustauth_tokio_postgres::{DynamicReason, TableRoute};
use serde_json::json;

use crate::fixtures::{extended_schema, ids, migrated, s, ts};

/// Creates a user; `email_verified` is true for even `t`.
pub async fn user(a: &dyn DbAdapter, id: &str, email: &str, image: Option<&str>, t: i64) {
    a.create(
        Create::new("user")
            .data("id", s(id))
            .data("name", s(id))
            .data("email", s(email))
            .data("email_verified", DbValue::Boolean(t % 2 == 0))
            .data("image", image.map_or(DbValue::Null, s))
            .data("created_at", ts(t))
            .data("updated_at", ts(t))
            .force_allow_id(),
    )
    .await
    .expect("create user");
}

/// Ids of the users matching `wheres`, sorted by id.
async fn find(a: &dyn DbAdapter, wheres: Vec<Where>) -> Vec<String> {
    let mut query = FindMany::new("user").sort_by(Sort::new("id", SortDirection::Asc));
    query.where_clauses = wheres;
    ids(&a.find_many(query).await.expect("find_many"))
}

fn arr(values: &[&str]) -> DbValue {
    DbValue::StringArray(values.iter().map(|v| (*v).to_owned()).collect())
}

const NONE: [&str; 0] = [];

#[tokio::test]
async fn extended_tables_route_dynamic_under_auto() {
    let (_db, a) = migrated(extended_schema()).await;
    for model in ["user", "session", "account", "verification"] {
        assert!(
            matches!(
                a.route_report().route(model),
                Some(TableRoute::Dynamic(DynamicReason::RenamedTable { .. }))
            ),
            "{model}: {}",
            a.route_report()
        );
    }
    user(&a, "u1", "u1@x.io", None, 1).await;
    assert_eq!(a.count(Count::new("app_users")).await.unwrap(), 1);
    assert_eq!(a.route_counts(), (0, 2));
}

#[tokio::test]
async fn core_contract_passes_on_prefixed_tables() {
    let (_db, a) = migrated(extended_schema()).await;
    run_adapter_contract(&a).await.expect("contract");
    assert_eq!(a.route_counts().0, 0, "nothing ran typed");
}

#[tokio::test]
async fn where_operators_modes_and_connectors_follow_sql_semantics() {
    let (_db, a) = migrated(extended_schema()).await;
    user(&a, "u1", "Ada@Example.com", Some("a.png"), 1).await;
    user(&a, "u2", "grace%_@example.org", None, 2).await;
    user(&a, "u3", "ÄDA@unicode.net", Some("b.png"), 3).await;
    let a = &a;
    let w = Where::new;
    use WhereOperator::*;
    let cases: Vec<(Vec<Where>, &[&str])> = vec![
        (vec![w("email", s("ada@example.com"))], &NONE),
        (
            vec![w("email", s("ada@example.com")).insensitive()],
            &["u1"],
        ),
        (
            vec![w("email", s("äda@UNICODE.net")).insensitive()],
            &["u3"],
        ),
        (vec![w("image", s("a.png")).operator(Ne)], &["u3"]),
        (vec![w("image", DbValue::Null)], &["u2"]),
        (vec![w("image", DbValue::Null).operator(Ne)], &["u1", "u3"]),
        (vec![w("created_at", ts(2)).operator(Lt)], &["u1"]),
        (vec![w("created_at", ts(2)).operator(Lte)], &["u1", "u2"]),
        (vec![w("created_at", ts(2)).operator(Gt)], &["u3"]),
        (vec![w("created_at", ts(2)).operator(Gte)], &["u2", "u3"]),
        (
            vec![w("id", arr(&["u1", "u3"])).operator(In)],
            &["u1", "u3"],
        ),
        (vec![w("id", arr(&[])).operator(In)], &NONE),
        (
            vec![w("image", arr(&[])).operator(NotIn)],
            &["u1", "u2", "u3"],
        ),
        (vec![w("image", arr(&["a.png"])).operator(NotIn)], &["u3"]),
        (
            vec![
                w("email", arr(&["ADA@EXAMPLE.COM"]))
                    .operator(In)
                    .insensitive(),
            ],
            &["u1"],
        ),
        // LIKE metacharacters in the pattern are literals.
        (vec![w("email", s("%_")).operator(Contains)], &["u2"]),
        (vec![w("email", s("_")).operator(Contains)], &["u2"]),
        (vec![w("email", s("ada")).operator(StartsWith)], &NONE),
        (
            vec![w("email", s("ada")).operator(StartsWith).insensitive()],
            &["u1"],
        ),
        (vec![w("email", s(".net")).operator(EndsWith)], &["u3"]),
        (
            vec![w("email", s(".NET")).operator(EndsWith).insensitive()],
            &["u3"],
        ),
        // ANDs plus one OR group, wherever the Or clauses stand.
        (
            vec![
                w("id", s("u1")).or(),
                w("email_verified", DbValue::Boolean(false)),
                w("id", s("u3")).or(),
            ],
            &["u1", "u3"],
        ),
        (
            vec![
                w("email_verified", DbValue::Boolean(false)),
                w("id", s("u1")).or(),
                w("image", DbValue::Null).operator(Ne),
                w("id", s("u2")).or(),
            ],
            &["u1"],
        ),
        // A lone Or beside Ands is a group of one: it behaves like AND.
        (vec![w("id", s("u1")), w("id", s("u2")).or()], &NONE),
        (
            vec![
                w("email_verified", DbValue::Boolean(false)),
                w("id", s("u3")).or(),
            ],
            &["u3"],
        ),
        (
            vec![w("id", s("u1")).or(), w("id", s("u2")).or()],
            &["u1", "u2"],
        ),
    ];
    for (step, (wheres, expected)) in cases.into_iter().enumerate() {
        let debug = format!("{wheres:?}");
        assert_eq!(find(a, wheres).await, expected, "case {step}: {debug}");
    }
    let error = a
        .find_many(FindMany::new("user").where_clause(w("image", DbValue::Null).operator(Lt)))
        .await
        .unwrap_err();
    assert!(error.to_string().contains("null only supports"), "{error}");
    let count = a
        .count(Count::new("user").where_clause(w("image", DbValue::Null).operator(Ne)))
        .await;
    assert_eq!(count.unwrap(), 2);
    assert_eq!(a.route_counts().0, 0);
}

#[tokio::test]
async fn select_sort_limit_offset_and_single_row_writes() {
    let (_db, a) = migrated(extended_schema()).await;
    for (i, id) in ["a", "b", "c", "d"].iter().enumerate() {
        user(&a, id, &format!("{id}@x.io"), None, i as i64).await;
    }
    let error = a.find_many(FindMany::new("users")).await.unwrap_err();
    assert!(
        matches!(&error, RustAuthError::TableNotFound { table } if table == "users"),
        "{error:?}"
    );
    let query = FindMany::new("user")
        .select(["email", "id"])
        .sort_by(Sort::new("created_at", SortDirection::Desc))
        .limit(2)
        .offset(1);
    let rows = a.find_many(query).await.unwrap();
    assert_eq!(ids(&rows), ["c", "b"]);
    assert_eq!(rows[0].keys().collect::<Vec<_>>(), ["email", "id"]);
    let query = FindMany::new("user")
        .select(["id", "email"])
        .sort_by(Sort::new("id", SortDirection::Asc))
        .offset(3);
    let rows = a.find_many(query).await.unwrap();
    assert_eq!(ids(&rows), ["d"]);
    assert_eq!(rows[0].keys().collect::<Vec<_>>(), ["id", "email"]);
    let query = FindMany::new("user")
        .sort_by(Sort::new("email", SortDirection::Desc))
        .limit(0);
    assert!(a.find_many(query).await.unwrap().is_empty());

    let row = a
        .find_one(FindOne::new("user").where_clause(Where::new("id", s("a"))))
        .await
        .unwrap()
        .unwrap();
    assert_eq!(row.get("image"), Some(&DbValue::Null));
    assert_eq!(row.get("meta"), Some(&DbValue::Null));
    assert_eq!(row.keys().next().map(String::as_str), Some("id"));

    // update touches one row even when many match; empty data short-circuits.
    let update = Update::new("user")
        .where_clause(Where::new("image", DbValue::Null))
        .data("image", s("x"));
    assert!(a.update(update).await.unwrap().is_some());
    let count = Count::new("user").where_clause(Where::new("image", s("x")));
    assert_eq!(a.count(count).await.unwrap(), 1);
    let update = Update::new("user").where_clause(Where::new("id", s("a")));
    assert_eq!(a.update(update).await.unwrap(), None);
    let many = UpdateMany::new("user").data("name", s("n"));
    assert_eq!(a.update_many(many).await.unwrap(), 4);
    a.delete(Delete::new("user")).await.unwrap();
    assert_eq!(a.count(Count::new("user")).await.unwrap(), 3);
    assert_eq!(a.delete_many(DeleteMany::new("user")).await.unwrap(), 3);
}

#[tokio::test]
async fn json_null_sql_null_and_arrays_round_trip() {
    let (db, a) = migrated(extended_schema()).await;
    user(&a, "j1", "j1@x.io", None, 1).await;
    user(&a, "j2", "j2@x.io", None, 2).await;
    let set = |id: &str, data: Vec<(&str, DbValue)>| {
        let mut query = UpdateMany::new("user").where_clause(Where::new("id", s(id)));
        for (key, value) in data {
            query = query.data(key, value);
        }
        a.update_many(query)
    };
    let get = |id: &str| a.find_one(FindOne::new("user").where_clause(Where::new("id", s(id))));
    let count_where = |clause: Where| a.count(Count::new("user").where_clause(clause));
    set(
        "j1",
        vec![
            ("meta", DbValue::Json(serde_json::Value::Null)),
            ("tags", DbValue::StringArray(vec![])),
            ("nums", DbValue::NumberArray(vec![])),
        ],
    )
    .await
    .unwrap();
    set(
        "j2",
        vec![
            ("meta", DbValue::Json(json!({"a": [1, null], "b": "ü\"'"}))),
            ("tags", DbValue::StringArray(vec!["x".into(), "".into()])),
            ("nums", DbValue::NumberArray(vec![-1, 7, i64::MAX])),
        ],
    )
    .await
    .unwrap();
    let j1 = get("j1").await.unwrap().unwrap();
    assert_eq!(
        j1.get("meta"),
        Some(&DbValue::Json(serde_json::Value::Null))
    );
    assert_eq!(j1.get("tags"), Some(&DbValue::StringArray(vec![])));
    assert_eq!(j1.get("nums"), Some(&DbValue::NumberArray(vec![])));
    let j2 = get("j2").await.unwrap().unwrap();
    assert_eq!(
        j2.get("meta"),
        Some(&DbValue::Json(json!({"a": [1, null], "b": "ü\"'"})))
    );
    assert_eq!(
        j2.get("tags"),
        Some(&DbValue::StringArray(vec!["x".into(), "".into()]))
    );
    assert_eq!(
        j2.get("nums"),
        Some(&DbValue::NumberArray(vec![-1, 7, i64::MAX]))
    );
    // IS NULL matches neither JSON null nor empty arrays.
    assert_eq!(
        count_where(Where::new("meta", DbValue::Null))
            .await
            .unwrap(),
        0
    );
    assert_eq!(
        count_where(Where::new("tags", DbValue::Null))
            .await
            .unwrap(),
        0
    );
    // SQL NULL round-trips as Null, JSON null as Json(Null).
    set("j2", vec![("meta", DbValue::Null), ("tags", DbValue::Null)])
        .await
        .unwrap();
    let j2 = get("j2").await.unwrap().unwrap();
    assert_eq!(
        (j2.get("meta"), j2.get("tags")),
        (Some(&DbValue::Null), Some(&DbValue::Null))
    );
    assert_eq!(
        count_where(Where::new("meta", DbValue::Null))
            .await
            .unwrap(),
        1
    );
    let json_null = Where::new("meta", DbValue::Json(serde_json::Value::Null));
    assert_eq!(count_where(json_null).await.unwrap(), 1);
    // An array with a NULL element (written behind the adapter's back) is a clear error.
    db.client()
        .await
        .batch_execute("UPDATE app_users SET tags = ARRAY['secret-tag', NULL] WHERE id = 'j1'")
        .await
        .unwrap();
    let error = get("j1").await.unwrap_err().to_string();
    assert!(
        error.contains("array contains NULL elements") && error.contains("app_users.tags"),
        "{error}"
    );
    assert!(!error.contains("secret-tag"), "{error}");
    let error = a.find_many(FindMany::new("user")).await.unwrap_err();
    assert!(matches!(error, RustAuthError::Adapter(_)), "{error:?}");
}

#[tokio::test]
async fn dynamic_writes_join_the_adapter_transaction() {
    let (_db, a) = migrated(extended_schema()).await;
    let error = a
        .transaction(Box::new(|tx| {
            Box::pin(async move {
                user(&*tx, "t1", "t1@x.io", None, 1).await;
                user(&*tx, "t2", "t2@x.io", None, 2).await;
                assert_eq!(tx.count(Count::new("user")).await?, 2);
                Err(RustAuthError::Api("roll back".into()))
            })
        }))
        .await
        .unwrap_err();
    assert_eq!(error, RustAuthError::Api("roll back".into()));
    assert_eq!(a.count(Count::new("user")).await.unwrap(), 0);
    a.transaction(Box::new(|tx| {
        Box::pin(async move {
            user(&*tx, "t3", "t3@x.io", None, 3).await;
            Ok(())
        })
    }))
    .await
    .unwrap();
    assert_eq!(a.count(Count::new("user")).await.unwrap(), 1);
}
