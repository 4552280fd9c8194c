//! Hostile and malformed input on both routes: every case is a clear error (or a correct
//! result), never a panic, never a row value in the message, and the database is unchanged.

use rustauth_core::db::{
    AuthSchemaOptions, Count, Create, DbAdapter, DbField, DbFieldType, DbRecord, DbValue, Delete,
    DeleteMany, FindMany, FindOne, IdGeneration, IdPolicy, RateLimitStorage, Sort, SortDirection,
    TableOptions, Update, UpdateMany, Where, WhereOperator, auth_schema,
};
use rustauth_core::error::RustAuthError;
use rustauth_tokio_postgres::RoutePolicy;

use crate::fixtures::{
    POLICIES, adapter, adapter_with, create_session, create_user, dump, s, table_exists, ts,
};
use crate::support::TestDb;

const INJECTION: &str = r#"email"; DROP TABLE users; --"#;
/// A marker every hostile row value carries, so leaks are easy to spot.
const SECRET: &str = "s3cr3t";

type Outcome<T> = Result<T, RustAuthError>;

/// A database with two users and a session, and an adapter for `policy`.
async fn seeded(policy: RoutePolicy) -> (TestDb, rustauth_tokio_postgres::TokioPostgresAdapter) {
    let db = TestDb::new().await;
    let a = adapter(&db, policy).await;
    create_user(&a, "u1", "u1@example.com", 1).await;
    create_user(&a, "u2", "u2@example.com", 2).await;
    create_session(&a, "s1", "u1", "tok1", 1).await;
    (db, a)
}

/// Asserts a clear error that quotes no row value.
fn assert_clean<T: std::fmt::Debug>(
    policy: RoutePolicy,
    what: &str,
    outcome: Outcome<T>,
    expect: &[&str],
) {
    let error = match outcome {
        Ok(value) => panic!("{policy:?} {what}: expected an error, got {value:?}"),
        Err(error) => error,
    };
    let text = error.to_string();
    for part in expect {
        assert!(
            text.contains(part),
            "{policy:?} {what}: `{part}` not in `{text}`"
        );
    }
    assert!(
        !text.contains(SECRET),
        "{policy:?} {what}: value leaked: {text}"
    );
    assert!(!text.contains("@example.com"), "{policy:?} {what}: {text}");
}

fn user_with(key: &str, value: DbValue) -> Create {
    let mut data = DbRecord::new();
    for (k, v) in [
        ("id", s("u9")),
        ("name", s("n")),
        ("email", s(&format!("u9{SECRET}@x.io"))),
        ("email_verified", DbValue::Boolean(false)),
        ("created_at", ts(9)),
        ("updated_at", ts(9)),
    ] {
        data.insert(k.to_owned(), v);
    }
    data.insert(key.to_owned(), value);
    let mut query = Create::new("user").force_allow_id();
    query.data = data;
    query
}

#[tokio::test]
async fn nul_bytes_are_rejected_everywhere_without_the_value() {
    for policy in POLICIES {
        let (db, a) = seeded(policy).await;
        let before = dump(&db).await;
        let nul = format!("a\0{SECRET}");
        let nul_text = ["NUL byte", "users.email"];
        assert_clean(
            policy,
            "create",
            a.create(user_with("email", s(&nul))).await,
            &nul_text,
        );
        let by_email = || Where::new("email", s(&nul));
        let find = FindOne::new("user").where_clause(by_email());
        assert_clean(policy, "find_one", a.find_one(find).await, &nul_text);
        let many = FindMany::new("user").where_clause(by_email().operator(WhereOperator::Contains));
        assert_clean(policy, "find_many", a.find_many(many).await, &nul_text);
        let list = DbValue::StringArray(vec!["u1".into(), nul.clone()]);
        let many =
            FindMany::new("user").where_clause(Where::new("id", list).operator(WhereOperator::In));
        assert_clean(policy, "in list", a.find_many(many).await, &["NUL byte"]);
        let update = Update::new("user")
            .where_clause(Where::new("id", s("u1")))
            .data("name", s(&nul));
        assert_clean(
            policy,
            "update",
            a.update(update).await,
            &["NUL byte", "users.name"],
        );
        let update = Update::new("session")
            .where_clause(Where::new("token", s(&nul)))
            .data("ip_address", s("1.1.1.1"));
        assert_clean(policy, "update key", a.update(update).await, &["NUL byte"]);
        let delete = Delete::new("session").where_clause(Where::new("token", s(&nul)));
        assert_clean(policy, "delete", a.delete(delete).await, &["NUL byte"]);
        let count = Count::new("user").where_clause(by_email().insensitive());
        assert_clean(policy, "count", a.count(count).await, &["NUL byte"]);
        assert_eq!(dump(&db).await, before, "{policy:?}");
    }
}

#[tokio::test]
async fn wrong_value_types_are_rejected_by_kind() {
    for policy in POLICIES {
        let (db, a) = seeded(policy).await;
        let before = dump(&db).await;
        let create = a.create(user_with("email", DbValue::Number(5))).await;
        assert_clean(
            policy,
            "number email",
            create,
            &["users.email", "expected a string, got a number"],
        );
        let create = a.create(user_with("email_verified", s(SECRET))).await;
        assert_clean(
            policy,
            "string bool",
            create,
            &["users.email_verified", "expected a boolean, got a string"],
        );
        let create = a.create(user_with("created_at", s(SECRET))).await;
        assert_clean(
            policy,
            "string ts",
            create,
            &["expected a timestamp, got a string"],
        );
        let create = a
            .create(user_with("image", DbValue::Record(DbRecord::new())))
            .await;
        assert_clean(policy, "record", create, &["users.image"]);
        let count = Count::new("user").where_clause(Where::new("email_verified", s(SECRET)));
        assert_clean(
            policy,
            "where",
            a.count(count).await,
            &["expected a boolean, got a string"],
        );
        let update = UpdateMany::new("user").data("email", DbValue::Boolean(true));
        assert_clean(
            policy,
            "update_many",
            a.update_many(update).await,
            &["users.email"],
        );
        let list = DbValue::NumberArray(vec![1]);
        let find = FindMany::new("user")
            .where_clause(Where::new("email", list).operator(WhereOperator::In));
        assert_clean(
            policy,
            "in numbers",
            a.find_many(find).await,
            &["expected a string, got a number"],
        );
        assert_eq!(dump(&db).await, before, "{policy:?}");
    }
}

#[tokio::test]
async fn unknown_tables_and_fields_are_reported_by_name() {
    for policy in POLICIES {
        let (db, a) = seeded(policy).await;
        let before = dump(&db).await;
        let outcome = a.find_many(FindMany::new("nope")).await;
        assert!(
            matches!(&outcome, Err(RustAuthError::TableNotFound { table }) if table == "nope"),
            "{outcome:?}"
        );
        let outcome = a.create(Create::new("nope").data("id", s(SECRET))).await;
        assert!(
            matches!(outcome, Err(RustAuthError::TableNotFound { .. })),
            "{outcome:?}"
        );
        let outcome = a.delete_many(DeleteMany::new("nope")).await;
        assert!(
            matches!(outcome, Err(RustAuthError::TableNotFound { .. })),
            "{outcome:?}"
        );
        let outcome = a.create(user_with("nickname", s(SECRET))).await;
        assert!(
            matches!(&outcome, Err(RustAuthError::FieldNotFound { field, .. }) if field == "nickname"),
            "{policy:?} {outcome:?}"
        );
        let find = FindOne::new("user").where_clause(Where::new("nickname", s(SECRET)));
        let outcome = a.find_one(find).await;
        assert!(
            matches!(outcome, Err(RustAuthError::FieldNotFound { .. })),
            "{policy:?} {outcome:?}"
        );
        let find = FindMany::new("user").sort_by(Sort::new("nickname", SortDirection::Asc));
        let outcome = a.find_many(find).await;
        assert!(
            matches!(outcome, Err(RustAuthError::FieldNotFound { .. })),
            "{policy:?} {outcome:?}"
        );
        let find = FindOne::new("user")
            .where_clause(Where::new("id", s("u1")))
            .select(["nickname"]);
        let outcome = a.find_one(find).await;
        assert!(
            matches!(outcome, Err(RustAuthError::FieldNotFound { .. })),
            "{policy:?} {outcome:?}"
        );
        let update = Update::new("user")
            .where_clause(Where::new("id", s("u1")))
            .data("nickname", s(SECRET));
        let outcome = a.update(update).await;
        assert!(
            matches!(outcome, Err(RustAuthError::FieldNotFound { .. })),
            "{policy:?} {outcome:?}"
        );
        assert_eq!(dump(&db).await, before, "{policy:?}");
    }
}

#[tokio::test]
async fn injection_shaped_identifiers_in_queries_are_rejected() {
    for policy in POLICIES {
        let (db, a) = seeded(policy).await;
        let before = dump(&db).await;
        let unknown = |outcome: &str| {
            assert!(
                outcome.contains("FieldNotFound")
                    || outcome.contains("TableNotFound")
                    || outcome.contains("invalid postgres identifier"),
                "{policy:?}: {outcome}"
            );
        };
        let find = FindMany::new("user").where_clause(Where::new(INJECTION, s("x")));
        unknown(&format!("{:?}", a.find_many(find).await));
        let find = FindMany::new("user").sort_by(Sort::new(INJECTION, SortDirection::Asc));
        unknown(&format!("{:?}", a.find_many(find).await));
        let mut find = FindMany::new("user");
        find.select = vec!["id".into(), INJECTION.into()];
        unknown(&format!("{:?}", a.find_many(find).await));
        let mut find = FindOne::new("user").where_clause(Where::new("id", s("u1")));
        find.select = vec![INJECTION.into()];
        unknown(&format!("{:?}", a.find_one(find).await));
        unknown(&format!(
            "{:?}",
            a.create(user_with(INJECTION, s("x"))).await
        ));
        let update = UpdateMany::new("user").data(INJECTION, s("x"));
        unknown(&format!("{:?}", a.update_many(update).await));
        let count = Count::new("user").where_clause(Where::new(INJECTION, DbValue::Null));
        unknown(&format!("{:?}", a.count(count).await));
        unknown(&format!("{:?}", a.count(Count::new(INJECTION)).await));
        let find = FindOne::new("user")
            .where_clause(Where::new("id", s("u1")))
            .join(INJECTION, rustauth_core::db::JoinOption::enabled());
        unknown(&format!("{:?}", a.find_one(find).await));
        assert_eq!(dump(&db).await, before, "{policy:?}");
    }
}

#[tokio::test]
async fn injection_shaped_table_and_field_names_are_rejected_at_plan_time() {
    for policy in POLICIES {
        let db = TestDb::new().await;
        let a = adapter(&db, policy).await;
        create_user(&a, "u1", "u1@example.com", 1).await;
        let before = dump(&db).await;
        let schemas = [
            (
                "table name",
                TableOptions::default().with_name(r#"users"; DROP TABLE users; --"#),
            ),
            (
                "column name",
                TableOptions::default().with_field_name("email", INJECTION),
            ),
            (
                "added field",
                TableOptions::default()
                    .with_field("x", DbField::new(INJECTION, DbFieldType::String).optional()),
            ),
        ];
        for (what, user) in schemas {
            let schema = auth_schema(AuthSchemaOptions {
                user,
                rate_limit_storage: RateLimitStorage::Database,
                ..AuthSchemaOptions::default()
            });
            let hostile = adapter_with(&db, schema.clone(), policy).await;
            let plan = hostile.plan_migrations(&schema).await;
            assert_clean(
                policy,
                what,
                plan.map(|p| p.statements.len()),
                &["invalid postgres identifier"],
            );
            let run = hostile.run_migrations(&schema).await;
            assert_clean(policy, what, run, &["invalid postgres identifier"]);
            let file = hostile
                .create_schema(&schema, Some("/nonexistent-dir/never.sql"))
                .await;
            assert_clean(
                policy,
                what,
                file.map(|c| c.is_some()),
                &["invalid postgres identifier"],
            );
            // CRUD against the hostile schema is refused before any SQL runs.
            let outcome = hostile.find_many(FindMany::new("user")).await;
            assert_clean(policy, what, outcome, &["invalid postgres identifier"]);
            // The write names the hostile column (`x` is the added field's logical name).
            let key = if what == "added field" { "x" } else { "email" };
            let outcome = hostile.create(user_with(key, s("u7@x.io"))).await;
            assert_clean(policy, what, outcome, &[]);
            assert!(table_exists(&db, "users").await, "{policy:?} {what}");
            assert_eq!(dump(&db).await, before, "{policy:?} {what}");
        }
    }
}

#[tokio::test]
async fn huge_limits_and_offsets_do_not_fail() {
    for policy in POLICIES {
        let (db, a) = seeded(policy).await;
        let before = dump(&db).await;
        let sorted = || FindMany::new("user").sort_by(Sort::new("id", SortDirection::Asc));
        let all = a.find_many(sorted().limit(usize::MAX)).await;
        assert_eq!(all.map(|r| r.len()), Ok(2), "{policy:?} limit MAX");
        let none = a.find_many(sorted().offset(usize::MAX)).await;
        assert_eq!(none.map(|r| r.len()), Ok(0), "{policy:?} offset MAX");
        let none = a
            .find_many(sorted().limit(usize::MAX).offset(usize::MAX))
            .await;
        assert_eq!(none.map(|r| r.len()), Ok(0), "{policy:?} both MAX");
        let by_user = FindMany::new("session").where_clause(Where::new("user_id", s("u1")));
        let one = a.find_many(by_user.limit(usize::MAX).offset(0)).await;
        assert_eq!(one.map(|r| r.len()), Ok(1), "{policy:?} typed shape");
        let join = sorted().limit(usize::MAX).join(
            "session",
            rustauth_core::db::JoinOption::enabled().limit(usize::MAX),
        );
        assert_eq!(
            a.find_many(join).await.map(|r| r.len()),
            Ok(2),
            "{policy:?} join"
        );
        assert_eq!(dump(&db).await, before, "{policy:?}");
    }
}

#[tokio::test]
async fn one_mebibyte_values_round_trip() {
    for policy in POLICIES {
        let (db, a) = seeded(policy).await;
        let big: String = "é0'\"\\%_;".repeat(1 << 17);
        assert!(big.len() >= 1 << 20);
        a.create(user_with("name", s(&big))).await.unwrap();
        let find = FindOne::new("user").where_clause(Where::new("id", s("u9")));
        let row = a.find_one(find.clone()).await.unwrap().unwrap();
        assert_eq!(row.get("name"), Some(&s(&big)), "{policy:?}");
        let update = Update::new("user")
            .where_clause(Where::new("id", s("u1")))
            .data("image", s(&big));
        let updated = a.update(update).await.unwrap().unwrap();
        assert_eq!(updated.get("image"), Some(&s(&big)), "{policy:?}");
        let by_name = Count::new("user").where_clause(Where::new("name", s(&big)));
        assert_eq!(a.count(by_name).await.unwrap(), 1, "{policy:?}");
        let prefix: String = big.chars().take(1000).collect();
        let contains = Count::new("user")
            .where_clause(Where::new("image", s(&prefix)).operator(WhereOperator::StartsWith));
        assert_eq!(a.count(contains).await.unwrap(), 1, "{policy:?}");
        let rows = db
            .client()
            .await
            .query_one("SELECT length(name) FROM users WHERE id = 'u9'", &[])
            .await
            .unwrap();
        assert_eq!(rows.get::<_, i32>(0) as usize, big.chars().count());
    }
}

#[tokio::test]
async fn invalid_uuids_are_rejected_on_uuid_tables() {
    let policy_ids = IdPolicy::new(IdGeneration::Uuid).with_database_uuid_support(true);
    let schema = auth_schema(AuthSchemaOptions {
        id_policy: policy_ids,
        ..AuthSchemaOptions::default()
    });
    for policy in POLICIES {
        let db = TestDb::empty().await;
        let a = adapter_with(&db, schema.clone(), policy).await;
        a.run_migrations(&schema).await.unwrap();
        let bad = format!("{SECRET}-not-a-uuid");
        let find = FindOne::new("user").where_clause(Where::new("id", s(&bad)));
        assert_clean(
            policy,
            "find",
            a.find_one(find).await,
            &["not a valid UUID", "users"],
        );
        let list = DbValue::StringArray(vec![bad.clone()]);
        let find = FindMany::new("user")
            .where_clause(Where::new("id", list).operator(WhereOperator::NotIn));
        assert_clean(
            policy,
            "not in",
            a.find_many(find).await,
            &["not a valid UUID"],
        );
        let delete = DeleteMany::new("session").where_clause(Where::new("user_id", s(&bad)));
        let outcome = a.delete_many(delete).await;
        assert!(
            outcome.is_err() || outcome == Ok(0),
            "{policy:?}: {outcome:?}"
        );
        if let Err(error) = outcome {
            assert!(!error.to_string().contains(SECRET), "{error}");
        }
        assert_eq!(a.count(Count::new("user")).await, Ok(0));
    }
}

#[tokio::test]
async fn in_lists_over_the_parameter_limit_are_a_clear_error() {
    for policy in POLICIES {
        let (db, a) = seeded(policy).await;
        let before = dump(&db).await;
        let mut many: Vec<String> = (0..70_000).map(|i| format!("{SECRET}{i}")).collect();
        many.push("u1".into());
        let clause = Where::new("id", DbValue::StringArray(many)).operator(WhereOperator::In);
        let find = FindMany::new("user").where_clause(clause.clone());
        let expect = &["70001 parameters", "65535"];
        assert_clean(policy, "find", a.find_many(find).await, expect);
        let delete = DeleteMany::new("user").where_clause(clause.operator(WhereOperator::NotIn));
        assert_clean(policy, "delete", a.delete_many(delete).await, expect);
        assert_eq!(dump(&db).await, before, "{policy:?}");
        // Just under the limit works.
        let ids: Vec<String> = (0..65_000).map(|i| format!("u{i}")).collect();
        let clause = Where::new("id", DbValue::StringArray(ids)).operator(WhereOperator::In);
        let found = a
            .find_many(FindMany::new("user").where_clause(clause))
            .await;
        assert_eq!(found.map(|r| r.len()), Ok(2), "{policy:?}");
    }
}

#[tokio::test]
async fn constraint_violations_keep_the_sqlstate_but_not_the_value() {
    for policy in POLICIES {
        let (db, a) = seeded(policy).await;
        let before = dump(&db).await;
        let duplicate = user_with("email", s("u1@example.com"));
        assert_clean(
            policy,
            "unique",
            a.create(duplicate).await,
            &["23505", "users"],
        );
        let orphan = Create::new("session")
            .data("id", s("s9"))
            .data("token", s(SECRET))
            .data("user_id", s(&format!("{SECRET}-user")))
            .data("expires_at", ts(9))
            .data("created_at", ts(9))
            .data("updated_at", ts(9))
            .force_allow_id();
        assert_clean(policy, "fk", a.create(orphan).await, &["23503", "sessions"]);
        let missing = Create::new("user")
            .data("id", s("u8"))
            .data("email", s(SECRET))
            .force_allow_id();
        assert_clean(policy, "not null", a.create(missing).await, &["23502"]);
        assert_eq!(dump(&db).await, before, "{policy:?}");
    }
}
