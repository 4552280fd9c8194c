//! Id policies on the dynamic route: database-generated UUIDs, serial and disabled ids, random
//! and client UUIDs: create, find, join, and a clear error for malformed UUIDs.

use rustauth_core::db::{
    Create, DbAdapter, DbValue, FindOne, IdGeneration, IdPolicy, JoinOption, TableOptions, Where,
};
use rustauth_core::error::RustAuthError;

use crate::fixtures::{migrated, prefixed_schema, s, ts};

const CLIENT_UUID: &str = "0b6f3a4e-8d5c-4e1a-9c7b-2f1d0e9a8b7c";

/// Every id policy RustAuth offers, with what it stores.
pub fn id_policies() -> [IdPolicy; 5] {
    [
        IdPolicy::new(IdGeneration::Uuid).with_database_uuid_support(true),
        IdPolicy::new(IdGeneration::Uuid),
        IdPolicy::new(IdGeneration::Serial),
        IdPolicy::new(IdGeneration::Disabled),
        IdPolicy::new(IdGeneration::Random),
    ]
}

#[tokio::test]
async fn every_id_policy_creates_finds_and_joins() {
    for policy in id_policies() {
        let schema = prefixed_schema("ids", policy, TableOptions::default());
        let (_db, a) = migrated(schema.clone()).await;
        let generation = schema
            .table("user")
            .unwrap()
            .field("id")
            .unwrap()
            .generated_id;
        let database_generated = matches!(
            generation,
            Some(IdGeneration::Uuid) | Some(IdGeneration::Serial)
        );
        let mut query = Create::new("user")
            .data("name", s("n"))
            .data("email", s("e@x.io"))
            .data("email_verified", DbValue::Boolean(false))
            .data("created_at", ts(1))
            .data("updated_at", ts(1));
        if !database_generated {
            query = query.data("id", s(CLIENT_UUID)).force_allow_id();
        }
        let created = a
            .create(query)
            .await
            .unwrap_or_else(|e| panic!("{policy:?}: {e}"));
        let id = created.get("id").cloned().unwrap();
        match generation {
            Some(IdGeneration::Serial) => {
                assert!(matches!(id, DbValue::Number(n) if n > 0), "{id:?}")
            }
            Some(IdGeneration::Uuid) => {
                let DbValue::String(text) = &id else {
                    panic!("{id:?}")
                };
                let parsed = uuid::Uuid::parse_str(text).unwrap();
                assert_eq!(text, &parsed.hyphenated().to_string(), "canonical form");
                assert_ne!(text, CLIENT_UUID);
            }
            _ => assert_eq!(id, s(CLIENT_UUID), "{policy:?}"),
        }
        let found = a
            .find_one(FindOne::new("user").where_clause(Where::new("id", id.clone())))
            .await
            .unwrap();
        assert_eq!(found.unwrap().get("id"), Some(&id), "{policy:?}");

        let mut session = Create::new("session")
            .data("token", s("t"))
            .data("user_id", id.clone())
            .data("expires_at", ts(9))
            .data("created_at", ts(1))
            .data("updated_at", ts(1));
        if !database_generated {
            session = session.data("id", s("s1")).force_allow_id();
        }
        let session = a.create(session).await.unwrap();
        let query = FindOne::new("user")
            .where_clause(Where::new("id", id.clone()))
            .join("session", JoinOption::enabled());
        let row = a.find_one(query).await.unwrap().unwrap();
        let Some(DbValue::RecordArray(sessions)) = row.get("session") else {
            panic!("{row:?}")
        };
        assert_eq!(sessions.len(), 1, "{policy:?}");
        assert_eq!(sessions[0].get("id"), session.get("id"), "{policy:?}");
        assert_eq!(sessions[0].get("user_id"), Some(&id), "{policy:?}");
        let query = FindOne::new("session")
            .where_clause(Where::new("token", s("t")))
            .join("user", JoinOption::enabled());
        let row = a.find_one(query).await.unwrap().unwrap();
        assert!(
            matches!(row.get("user"), Some(DbValue::Record(u)) if u.get("id") == Some(&id)),
            "{policy:?}: {row:?}"
        );
        assert_eq!(a.route_counts().0, 0);
    }
}

#[tokio::test]
async fn malformed_uuids_are_a_clear_error_naming_no_value() {
    let policy = IdPolicy::new(IdGeneration::Uuid).with_database_uuid_support(true);
    let (_db, a) = migrated(prefixed_schema("ids", policy, TableOptions::default())).await;
    for bad in ["nope-secret", "0b6f3a4e-8d5c-4e1a-9c7b-2f1d0e9a8b7", ""] {
        let error = a
            .find_one(FindOne::new("user").where_clause(Where::new("id", s(bad))))
            .await
            .unwrap_err();
        let RustAuthError::Adapter(text) = &error else {
            panic!("{error:?}")
        };
        assert!(text.contains("not a valid UUID"), "{text}");
        assert!(text.contains("ids_users"), "names the table: {text}");
        if !bad.is_empty() {
            assert!(!text.contains(bad), "{text}");
        }
        let session = Create::new("session")
            .data("token", s("t"))
            .data("user_id", s(bad))
            .data("expires_at", ts(9))
            .data("created_at", ts(1))
            .data("updated_at", ts(1));
        let error = a.create(session).await.unwrap_err().to_string();
        assert!(error.contains("not a valid UUID"), "{error}");
        if !bad.is_empty() {
            assert!(!error.contains(bad), "{error}");
        }
    }
    // Uppercase is a valid spelling and comes back canonical.
    let created = a
        .create(
            Create::new("user")
                .data("name", s("n"))
                .data("email", s("e@x.io"))
                .data("email_verified", DbValue::Boolean(false))
                .data("created_at", ts(1))
                .data("updated_at", ts(1)),
        )
        .await
        .unwrap();
    let Some(DbValue::String(id)) = created.get("id") else {
        panic!("{created:?}")
    };
    let upper = FindOne::new("user").where_clause(Where::new("id", s(&id.to_uppercase())));
    let found = a.find_one(upper).await.unwrap().unwrap();
    assert_eq!(found.get("id"), Some(&s(id)));
}
