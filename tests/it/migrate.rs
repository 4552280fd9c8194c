//! Migrations through the public adapter: planning, idempotence for every id policy, additive
//! changes, refusal on warnings, rollback on failure, schema files, plugin migrations and
//! schema-qualified tables.

use rustauth_core::db::adapter_harness::run_adapter_contract;
use rustauth_core::db::{
    AuthSchemaOptions, DbAdapter, DbField, DbFieldType, IdPolicy, SchemaMigrationWarning,
    TableOptions, auth_schema,
};
use rustauth_core::error::RustAuthError;
use rustauth_core::plugin::{PluginMigration, PluginMigrationBody, PluginMigrationStep};
use rustauth_tokio_postgres::{DynamicReason, RoutePolicy, TableRoute};

use crate::fixtures::{adapter_with, default_schema, migrated, prefixed_schema, table_exists};
use crate::ids::id_policies;
use crate::support::TestDb;

const APP_TABLES: [&str; 4] = [
    "app_users",
    "app_sessions",
    "app_accounts",
    "app_verifications",
];

fn app_schema() -> rustauth_core::db::DbSchema {
    prefixed_schema("app", IdPolicy::default(), TableOptions::default())
}

async fn existing(db: &TestDb, tables: &[&str]) -> Vec<String> {
    let mut out = Vec::new();
    for table in tables {
        if table_exists(db, table).await {
            out.push((*table).to_owned());
        }
    }
    out
}

#[tokio::test]
async fn a_fresh_database_plans_create_table_for_every_table() {
    let db = TestDb::empty().await;
    let schema = app_schema();
    let a = adapter_with(&db, schema.clone(), RoutePolicy::Auto).await;
    let plan = a.plan_migrations(&schema).await.unwrap();
    let created: Vec<_> = plan
        .to_be_created
        .iter()
        .map(|t| t.table_name.as_str())
        .collect();
    assert_eq!(created, APP_TABLES);
    assert!(
        plan.warnings.is_empty() && plan.to_be_added.is_empty(),
        "{plan:?}"
    );
    let sql = a.compile_migrations(&schema).await.unwrap();
    for table in APP_TABLES {
        assert!(
            sql.contains(&format!("CREATE TABLE IF NOT EXISTS \"{table}\"")),
            "{sql}"
        );
    }
    assert!(
        existing(&db, &APP_TABLES).await.is_empty(),
        "planning applies nothing"
    );
}

#[tokio::test]
async fn run_migrations_twice_is_a_no_op_for_every_id_policy() {
    for policy in id_policies() {
        let schema = prefixed_schema("app", policy, TableOptions::default());
        let (db, a) = migrated(schema.clone()).await;
        assert_eq!(existing(&db, &APP_TABLES).await, APP_TABLES, "{policy:?}");
        a.run_migrations(&schema)
            .await
            .unwrap_or_else(|e| panic!("{policy:?}: second run: {e}"));
        let plan = a.plan_migrations(&schema).await.unwrap();
        assert!(
            plan.statements.is_empty() && plan.warnings.is_empty(),
            "{policy:?}: {plan:?}"
        );
        assert_eq!(a.compile_migrations(&schema).await.unwrap(), ";");
    }
}

#[tokio::test]
async fn an_added_indexed_field_plans_an_additive_column_and_index() {
    let (db, a) = migrated(app_schema()).await;
    let user = TableOptions::default().with_field(
        "nickname",
        DbField::new("nick_name", DbFieldType::String)
            .optional()
            .indexed(),
    );
    let schema = prefixed_schema("app", IdPolicy::default(), user);
    let plan = a.plan_migrations(&schema).await.unwrap();
    assert!(
        plan.to_be_created.is_empty() && plan.warnings.is_empty(),
        "{plan:?}"
    );
    let added: Vec<_> = plan
        .to_be_added
        .iter()
        .map(|c| (c.table_name.as_str(), c.column_name.as_str()))
        .collect();
    assert_eq!(added, [("app_users", "nick_name")]);
    assert_eq!(plan.indexes_to_be_created.len(), 1, "{plan:?}");
    assert_eq!(plan.indexes_to_be_created[0].column_name, "nick_name");
    a.run_migrations(&schema).await.unwrap();
    assert!(a.plan_migrations(&schema).await.unwrap().is_empty());
    let client = db.client().await;
    let row = client
        .query_one(
            "SELECT count(*) FROM pg_indexes WHERE tablename = 'app_users' \
             AND indexdef LIKE '%nick_name%'",
            &[],
        )
        .await
        .unwrap();
    assert_eq!(row.get::<_, i64>(0), 1);
}

#[tokio::test]
async fn a_type_mismatch_warning_refuses_the_whole_plan() {
    let db = TestDb::empty().await;
    db.client()
        .await
        .batch_execute(r#"CREATE TABLE "app_users" (id TEXT PRIMARY KEY, email BOOLEAN)"#)
        .await
        .unwrap();
    let schema = app_schema();
    let a = adapter_with(&db, schema.clone(), RoutePolicy::Auto).await;
    let plan = a.plan_migrations(&schema).await.unwrap();
    assert!(
        plan.warnings.iter().any(|w| matches!(w,
            SchemaMigrationWarning::ColumnTypeMismatch { column_name, .. } if column_name == "email")),
        "{plan:?}"
    );
    assert!(
        !plan.to_be_created.is_empty(),
        "the other tables are planned"
    );
    let error = a.run_migrations(&schema).await.unwrap_err();
    assert!(
        matches!(&error, RustAuthError::Adapter(m) if m.contains("non-executable")),
        "{error:?}"
    );
    assert_eq!(
        existing(&db, &APP_TABLES).await,
        ["app_users"],
        "nothing applied"
    );
    let columns: i64 = db
        .client()
        .await
        .query_one(
            "SELECT count(*) FROM information_schema.columns WHERE table_name = 'app_users'",
            &[],
        )
        .await
        .unwrap()
        .get(0);
    assert_eq!(columns, 2, "no column added");
}

#[tokio::test]
async fn a_failure_mid_plan_rolls_everything_back() {
    let db = TestDb::empty().await;
    // Adding the NOT NULL columns fails on a non-empty table, after `CREATE TABLE`s ran.
    db.client()
        .await
        .batch_execute(r#"CREATE TABLE "app_users" (id TEXT PRIMARY KEY); INSERT INTO "app_users" VALUES ('x')"#)
        .await
        .unwrap();
    let schema = app_schema();
    let a = adapter_with(&db, schema.clone(), RoutePolicy::Auto).await;
    let plan = a.plan_migrations(&schema).await.unwrap();
    assert!(
        plan.warnings.is_empty() && !plan.to_be_added.is_empty(),
        "{plan:?}"
    );
    let error = a.run_migrations(&schema).await.unwrap_err().to_string();
    assert!(error.contains("23502"), "{error}");
    assert!(!error.contains("'x'"), "{error}");
    assert_eq!(
        existing(&db, &APP_TABLES).await,
        ["app_users"],
        "rolled back"
    );
    // The adapter's connection is usable afterwards.
    assert_eq!(a.plan_migrations(&schema).await.unwrap(), plan);
}

#[tokio::test]
async fn create_schema_with_a_file_writes_the_sql_and_applies_nothing() {
    let db = TestDb::empty().await;
    let schema = app_schema();
    let a = adapter_with(&db, schema.clone(), RoutePolicy::Auto).await;
    let path = std::env::temp_dir().join(format!("{}.sql", db.name));
    let path_str = path.to_str().unwrap();
    let creation = a
        .create_schema(&schema, Some(path_str))
        .await
        .unwrap()
        .expect("a file was written");
    let written = std::fs::read_to_string(&path).unwrap();
    std::fs::remove_file(&path).unwrap();
    assert_eq!(creation.path, path_str);
    assert_eq!(creation.code, written);
    assert_eq!(written, a.compile_migrations(&schema).await.unwrap());
    assert!(
        written.contains("CREATE TABLE IF NOT EXISTS \"app_users\""),
        "{written}"
    );
    assert!(
        existing(&db, &APP_TABLES).await.is_empty(),
        "nothing applied"
    );
    // Without a file it migrates.
    assert!(a.create_schema(&schema, None).await.unwrap().is_none());
    assert_eq!(existing(&db, &APP_TABLES).await, APP_TABLES);
    // An unwritable path is a clear error.
    let error = a
        .create_schema(&schema, Some("/nonexistent-dir/x.sql"))
        .await
        .unwrap_err()
        .to_string();
    assert!(error.contains("cannot write the schema file"), "{error}");
}

#[tokio::test]
async fn plugin_migrations_run_sql_bodies_and_plan_steps() {
    let db = TestDb::empty().await;
    let a = adapter_with(&db, default_schema(), RoutePolicy::Auto).await;
    let migrations = [
        PluginMigration::new("one").body(PluginMigrationBody::Sql(
            "CREATE TABLE plugin_a (x INT); CREATE TABLE plugin_b (y INT)".into(),
        )),
        PluginMigration::new("two").body(PluginMigrationBody::Plan(vec![
            PluginMigrationStep::new("note only"),
            PluginMigrationStep::new("insert").sql("INSERT INTO plugin_a VALUES (1)"),
        ])),
        PluginMigration::new("empty"),
    ];
    a.run_plugin_migrations(&migrations).await.unwrap();
    let client = db.client().await;
    let n: i64 = client
        .query_one("SELECT count(*) FROM plugin_a", &[])
        .await
        .unwrap()
        .get(0);
    assert_eq!(n, 1);
    assert!(table_exists(&db, "plugin_b").await);
    let bad = [
        PluginMigration::new("broken").body(PluginMigrationBody::Sql(
            "SELECT * FROM missing_table_xyz".into(),
        )),
    ];
    let error = a.run_plugin_migrations(&bad).await.unwrap_err().to_string();
    assert!(
        error.contains("plugin migration `broken` failed") && error.contains("42P01"),
        "{error}"
    );
}

fn qualified_schema() -> rustauth_core::db::DbSchema {
    let ns = |t: &str| TableOptions::default().with_name(format!("auth.{t}"));
    auth_schema(AuthSchemaOptions {
        user: ns("users"),
        session: ns("sessions"),
        account: ns("accounts"),
        verification: ns("verifications"),
        ..AuthSchemaOptions::default()
    })
}

#[tokio::test]
async fn schema_qualified_tables_migrate_replan_empty_and_pass_the_contract() {
    let db = TestDb::empty().await;
    db.client()
        .await
        .batch_execute("CREATE SCHEMA auth")
        .await
        .unwrap();
    let schema = qualified_schema();
    let a = adapter_with(&db, schema.clone(), RoutePolicy::Auto).await;
    let plan = a.plan_migrations(&schema).await.unwrap();
    assert_eq!(plan.to_be_created.len(), 4, "{plan:?}");
    a.run_migrations(&schema).await.unwrap();
    for table in [
        "auth.users",
        "auth.sessions",
        "auth.accounts",
        "auth.verifications",
    ] {
        assert!(table_exists(&db, table).await, "{table}");
    }
    assert!(!table_exists(&db, "public.users").await);
    let plan = a.plan_migrations(&schema).await.unwrap();
    assert!(
        plan.statements.is_empty() && plan.warnings.is_empty(),
        "{plan:?}"
    );
    a.run_migrations(&schema).await.unwrap();
    assert!(matches!(
        a.route_report().route("user"),
        Some(TableRoute::Dynamic(DynamicReason::RenamedTable { .. }))
    ));
    run_adapter_contract(&a).await.expect("contract");
    assert_eq!(a.route_counts().0, 0);
}

#[tokio::test]
async fn qualified_tables_beside_same_named_public_tables_stay_apart() {
    // The default schema's `public.users` exists (TestDb::new); `auth.users` must be planned
    // and created on its own, not mistaken for it.
    let db = TestDb::new().await;
    db.client()
        .await
        .batch_execute("CREATE SCHEMA auth")
        .await
        .unwrap();
    let schema = qualified_schema();
    let a = adapter_with(&db, schema.clone(), RoutePolicy::Auto).await;
    assert_eq!(
        a.plan_migrations(&schema)
            .await
            .unwrap()
            .to_be_created
            .len(),
        4
    );
    a.run_migrations(&schema).await.unwrap();
    assert!(a.plan_migrations(&schema).await.unwrap().is_empty());
    let public = adapter_with(&db, default_schema(), RoutePolicy::Auto).await;
    assert!(
        public
            .plan_migrations(&default_schema())
            .await
            .unwrap()
            .is_empty()
    );
}
