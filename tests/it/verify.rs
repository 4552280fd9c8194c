//! `verify()`: a matching database is clean; drift is reported precisely.

use rustauth_core::db::{AuthSchemaOptions, RateLimitStorage, TableOptions, auth_schema};
use rustauth_tokio_postgres::{Drift, RoutePolicy, StatementOutcome, TableRoute};

use crate::fixtures::{adapter, adapter_with};
use crate::support::TestDb;

fn failed_with(outcome: &StatementOutcome) -> Option<&str> {
    match outcome {
        StatementOutcome::Failed { sqlstate, .. } => sqlstate.as_deref(),
        _ => None,
    }
}

#[tokio::test]
async fn a_migrated_database_verifies_clean_with_every_statement_prepared() {
    let db = TestDb::new().await;
    let report = adapter(&db, RoutePolicy::Auto)
        .await
        .verify()
        .await
        .unwrap();
    assert!(report.is_clean(), "{report}");
    assert_eq!(report.tables.len(), 5);
    assert!(report.tables.iter().all(|t| t.route == TableRoute::Typed));
    assert!(report.statements.len() >= 30);
    assert!(
        report
            .statements
            .iter()
            .all(|s| s.outcome == StatementOutcome::Prepared),
        "{report}"
    );
}

#[tokio::test]
async fn dropped_retyped_renamed_and_relaxed_columns_are_reported() {
    let db = TestDb::new().await;
    db.client()
        .await
        .batch_execute(
            "ALTER TABLE users DROP COLUMN image; \
             ALTER TABLE sessions ALTER COLUMN ip_address TYPE integer USING NULL; \
             ALTER TABLE verifications RENAME TO verification_rows; \
             ALTER TABLE accounts ALTER COLUMN scope SET NOT NULL;",
        )
        .await
        .unwrap();
    let report = adapter(&db, RoutePolicy::Auto)
        .await
        .verify()
        .await
        .unwrap();
    assert!(!report.is_clean());
    let drift = |table: &str| report.table(table).unwrap().drift.clone();

    assert_eq!(
        drift("users"),
        vec![Drift::MissingColumn {
            column: "image".into()
        }]
    );
    assert_eq!(
        drift("sessions"),
        vec![Drift::TypeMismatch {
            column: "ip_address".into(),
            expected: "TEXT".into(),
            found: "integer".into(),
        }]
    );
    assert_eq!(drift("verifications"), vec![Drift::MissingTable]);
    assert_eq!(
        drift("accounts"),
        vec![Drift::NullabilityMismatch {
            column: "scope".into(),
            expected_nullable: true,
            found_nullable: false,
        }]
    );
    assert!(drift("rate_limits").is_empty());

    // The statements that name the dropped column or the renamed table no longer prepare.
    let outcome = |name: &str| &report.statement(name).unwrap().outcome;
    assert_eq!(failed_with(outcome("find_user_by_email")), Some("42703"));
    assert_eq!(failed_with(outcome("insert_user")), Some("42703"));
    assert_eq!(
        failed_with(outcome("find_verification_by_identifier")),
        Some("42P01")
    );
    assert_eq!(
        outcome("find_session_by_token"),
        &StatementOutcome::Prepared
    );
    assert_eq!(outcome("consume_rate_limit"), &StatementOutcome::Prepared);
    let text = report.to_string();
    assert!(text.contains("column `image` is missing"), "{text}");
    assert!(text.contains("SQLSTATE 42P01"), "{text}");
}

#[tokio::test]
async fn statements_of_dynamic_tables_are_skipped_and_their_tables_still_checked() {
    let db = TestDb::new().await;
    let schema = auth_schema(AuthSchemaOptions {
        session: TableOptions::default().with_name("app_sessions"),
        rate_limit_storage: RateLimitStorage::Database,
        ..AuthSchemaOptions::default()
    });
    let adapter = adapter_with(&db, schema, RoutePolicy::Auto).await;
    let report = adapter.verify().await.unwrap();
    let sessions = report.table("session").unwrap();
    assert!(matches!(sessions.route, TableRoute::Dynamic(_)));
    assert_eq!(sessions.drift, vec![Drift::MissingTable]);
    assert!(matches!(
        report.statement("find_session_by_token").unwrap().outcome,
        StatementOutcome::Skipped { .. }
    ));
    assert_eq!(
        report.statement("find_user_by_id").unwrap().outcome,
        StatementOutcome::Prepared
    );
    assert_eq!(report.failures().count(), 0);
    assert_eq!(report.drift().count(), 1);
}
