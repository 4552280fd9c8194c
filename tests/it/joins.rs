//! Native joins on the dynamic route: the base sort survives the join (upstream loses it),
//! one-to-many arrays are limited and deduplicated, one-to-one joins give a Record or Null, and
//! plugin tables with an optional foreign key join both ways.

use rustauth_core::db::{
    Create, DbAdapter, DbField, DbFieldType, DbTable, DbValue, FindMany, FindOne, ForeignKey,
    IdPolicy, JoinOption, OnDelete, Sort, SortDirection, Where,
};
use rustauth_tokio_postgres::{
    DynamicReason, RoutePolicy, TableRoute, TokioPostgresAdapter, TokioPostgresConnection,
};

use crate::dynamic::user;
use crate::fixtures::{extended_schema, ids, migrated, s, ts};
use crate::support::TestDb;

/// An adapter whose session cannot plan nested-loop or hash joins: a merge join emits rows in
/// join-key order, so an outer query without ORDER BY comes back sorted by id.
async fn merge_join_adapter(db: &TestDb) -> TokioPostgresAdapter {
    let client = db.client().await;
    client
        .batch_execute("SET enable_nestloop = off; SET enable_hashjoin = off")
        .await
        .unwrap();
    TokioPostgresAdapter::with_policy(
        TokioPostgresConnection::from_client(client),
        extended_schema(),
        RoutePolicy::DynamicOnly,
    )
}

async fn account(a: &dyn DbAdapter, id: &str, user_id: &str, t: i64) {
    let query = Create::new("account")
        .data("id", s(id))
        .data("account_id", s("a"))
        .data("provider_id", s("credential"))
        .data("user_id", s(user_id))
        .data("created_at", ts(t))
        .data("updated_at", ts(t))
        .force_allow_id();
    a.create(query).await.unwrap();
}

#[tokio::test]
async fn joins_keep_the_sort_order() {
    let (db, _) = migrated(extended_schema()).await;
    let a = merge_join_adapter(&db).await;
    // Id order differs from created_at order. Upstream's joined statement has no outer
    // ORDER BY, so under a merge join it would return u1, u2, u3, u4 for both directions.
    for (id, t) in [("u4", 10), ("u1", 40), ("u3", 20), ("u2", 30)] {
        user(&a, id, &format!("{id}@x.io"), None, t).await;
        for n in 0..3 {
            account(&a, &format!("{id}_acc{n}"), id, t).await;
        }
    }
    let join = JoinOption::enabled().limit(2);
    for (direction, expected) in [
        (SortDirection::Desc, ["u1", "u2", "u3", "u4"]),
        (SortDirection::Asc, ["u4", "u3", "u2", "u1"]),
    ] {
        let query = FindMany::new("user")
            .join("account", join.clone())
            .sort_by(Sort::new("created_at", direction))
            .select(["email"]);
        let rows = a.find_many(query).await.unwrap();
        let emails: Vec<_> = rows.iter().map(|r| r.get("email").cloned()).collect();
        let expected: Vec<_> = expected
            .iter()
            .map(|id| Some(s(&format!("{id}@x.io"))))
            .collect();
        assert_eq!(emails, expected, "{direction:?}");
        for row in &rows {
            // The sort column was added for ORDER BY only and is trimmed again.
            assert_eq!(row.keys().collect::<Vec<_>>(), ["email", "account"]);
            let Some(DbValue::RecordArray(accounts)) = row.get("account") else {
                panic!("{row:?}")
            };
            assert_eq!(accounts.len(), 2, "join limit");
        }
    }
    let query = FindMany::new("user")
        .join("account", join.clone())
        .sort_by(Sort::new("id", SortDirection::Desc))
        .limit(2);
    let rows = a.find_many(query).await.unwrap();
    assert_eq!(
        ids(&rows),
        ["u4", "u3"],
        "base limit applies to users, not rows"
    );
    for row in &rows {
        let Some(DbValue::RecordArray(accounts)) = row.get("account") else {
            panic!("{row:?}")
        };
        let mut account_ids: Vec<_> = ids(accounts);
        let id = row.get("id").cloned();
        account_ids.dedup();
        assert_eq!(account_ids.len(), 2, "no duplicates for {id:?}");
        assert!(
            accounts.iter().all(|acc| acc.get("user_id") == id.as_ref()),
            "{accounts:?}"
        );
    }
}

#[tokio::test]
async fn joins_shape_one_to_many_and_one_to_one() {
    let (_db, a) = migrated(extended_schema()).await;
    user(&a, "u1", "u1@x.io", None, 1).await;
    account(&a, "acc1", "u1", 1).await;
    let session = Create::new("session")
        .data("id", s("s1"))
        .data("token", s("t1"))
        .data("user_id", s("u1"))
        .data("expires_at", ts(99))
        .data("created_at", ts(1))
        .data("updated_at", ts(1))
        .force_allow_id();
    a.create(session).await.unwrap();
    // One-to-one (session -> user): a Record, trimmed select on the base.
    let query = FindOne::new("session")
        .where_clause(Where::new("token", s("t1")))
        .select(["token"])
        .join("user", JoinOption::enabled());
    let row = a.find_one(query).await.unwrap().unwrap();
    assert_eq!(row.keys().collect::<Vec<_>>(), ["token", "user"]);
    assert!(
        matches!(row.get("user"), Some(DbValue::Record(u)) if u.get("id") == Some(&s("u1"))),
        "{row:?}"
    );
    // A user without accounts gets [], and a disabled join adds no key.
    user(&a, "u5", "u5@x.io", None, 50).await;
    let query = FindOne::new("user")
        .where_clause(Where::new("id", s("u5")))
        .join("account", JoinOption::enabled().limit(2))
        .join("session", JoinOption::disabled());
    let row = a.find_one(query).await.unwrap().unwrap();
    assert_eq!(row.get("account"), Some(&DbValue::RecordArray(vec![])));
    assert!(!row.contains_key("session"));
    // find_many with joins over several bases, no sort: each gets its own accounts.
    let query = FindMany::new("user").join("account", JoinOption::enabled());
    let mut rows = a.find_many(query).await.unwrap();
    rows.sort_by_key(|r| format!("{:?}", r.get("id")));
    let counts: Vec<_> = rows
        .iter()
        .map(|r| match r.get("account") {
            Some(DbValue::RecordArray(v)) => v.len(),
            other => panic!("{other:?}"),
        })
        .collect();
    assert_eq!(counts, [1, 0]);
}

#[tokio::test]
async fn plugin_tables_join_one_to_one_as_record_or_null() {
    let mut schema = extended_schema();
    let device = DbTable {
        name: "app_devices".into(),
        fields: [
            ("id".to_owned(), IdPolicy::default().field()),
            (
                "label".to_owned(),
                DbField::new("label", DbFieldType::String),
            ),
            (
                "user_id".to_owned(),
                DbField::new("owner_id", DbFieldType::String)
                    .optional()
                    .references(ForeignKey::new("app_users", "id", OnDelete::SetNull)),
            ),
        ]
        .into_iter()
        .collect(),
        order: None,
    };
    schema.insert_plugin_table("device".into(), device).unwrap();
    let (_db, a) = migrated(schema).await;
    assert_eq!(
        a.route_report().route("device"),
        Some(&TableRoute::Dynamic(DynamicReason::NotAFixedTable))
    );
    user(&a, "u1", "u1@x.io", None, 1).await;
    for (id, label, owner) in [
        ("d1", "b-phone", s("u1")),
        ("d2", "a-orphan", DbValue::Null),
    ] {
        let query = Create::new("device")
            .data("id", s(id))
            .data("label", s(label))
            .data("user_id", owner)
            .force_allow_id();
        a.create(query).await.unwrap();
    }
    let query = FindMany::new("device")
        .join("user", JoinOption::enabled())
        .sort_by(Sort::new("label", SortDirection::Desc))
        .select(["id", "user_id"]);
    let rows = a.find_many(query).await.unwrap();
    assert_eq!(ids(&rows), ["d1", "d2"]);
    assert!(
        matches!(rows[0].get("user"), Some(DbValue::Record(u)) if u.get("email") == Some(&s("u1@x.io"))),
        "{rows:?}"
    );
    assert_eq!(rows[1].get("user"), Some(&DbValue::Null), "{rows:?}");
    assert_eq!(rows[1].get("user_id"), Some(&DbValue::Null));
    assert_eq!(
        rows[0].keys().collect::<Vec<_>>(),
        ["id", "user_id", "user"]
    );
    // The other direction is one-to-many.
    let query = FindOne::new("user")
        .where_clause(Where::new("id", s("u1")))
        .join("device", JoinOption::enabled());
    let row = a.find_one(query).await.unwrap().unwrap();
    let Some(DbValue::RecordArray(devices)) = row.get("device") else {
        panic!("{row:?}")
    };
    assert_eq!(ids(devices), ["d1"]);
    assert_eq!(devices[0].get("user_id"), Some(&s("u1")));
    assert_eq!(a.route_counts().0, 0);
}
