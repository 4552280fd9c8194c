//! Adapters, schemas and records shared by the adapter test modules.

use rustauth_core::db::{
    AuthSchemaOptions, Create, DbAdapter, DbField, DbFieldType, DbRecord, DbSchema, DbValue,
    IdPolicy, RateLimitStorage, TableOptions, auth_schema,
};
use rustauth_tokio_postgres::{RoutePolicy, TokioPostgresAdapter, TokioPostgresConnection};
use time::OffsetDateTime;

use crate::support::TestDb;

/// The schema `migrations/` creates: RustAuth's default with database rate limiting.
pub fn default_schema() -> DbSchema {
    auth_schema(AuthSchemaOptions {
        rate_limit_storage: RateLimitStorage::Database,
        ..AuthSchemaOptions::default()
    })
}

/// Both route policies, for tests that must hold on each path.
pub const POLICIES: [RoutePolicy; 2] = [RoutePolicy::Auto, RoutePolicy::DynamicOnly];

/// An adapter over a fresh client of `db`.
pub async fn adapter(db: &TestDb, policy: RoutePolicy) -> TokioPostgresAdapter {
    adapter_with(db, default_schema(), policy).await
}

/// An adapter for `schema` over a fresh client of `db`.
pub async fn adapter_with(
    db: &TestDb,
    schema: DbSchema,
    policy: RoutePolicy,
) -> TokioPostgresAdapter {
    TokioPostgresAdapter::with_policy(
        TokioPostgresConnection::from_client(db.client().await),
        schema,
        policy,
    )
}

/// A fixed instant `seconds` after 2026-01-01T00:00:00Z (microsecond precision, as stored).
pub fn at(seconds: i64) -> OffsetDateTime {
    OffsetDateTime::from_unix_timestamp(1_767_225_600 + seconds).expect("valid timestamp")
}

/// Creates a user the way core's sign-up does.
pub async fn create_user(adapter: &dyn DbAdapter, id: &str, email: &str, created: i64) -> DbRecord {
    adapter
        .create(
            Create::new("user")
                .data("id", DbValue::String(id.into()))
                .data("name", DbValue::String(format!("name {id}")))
                .data("email", DbValue::String(email.into()))
                .data("email_verified", DbValue::Boolean(false))
                .data("image", DbValue::Null)
                .data("created_at", DbValue::Timestamp(at(created)))
                .data("updated_at", DbValue::Timestamp(at(created)))
                .force_allow_id(),
        )
        .await
        .expect("create user")
}

/// Creates a session the way core's sign-in does.
pub async fn create_session(
    adapter: &dyn DbAdapter,
    id: &str,
    user_id: &str,
    token: &str,
    created: i64,
) -> DbRecord {
    adapter
        .create(
            Create::new("session")
                .data("id", DbValue::String(id.into()))
                .data("expires_at", DbValue::Timestamp(at(created + 3600)))
                .data("token", DbValue::String(token.into()))
                .data("created_at", DbValue::Timestamp(at(created)))
                .data("updated_at", DbValue::Timestamp(at(created)))
                .data("ip_address", DbValue::String("127.0.0.1".into()))
                .data("user_agent", DbValue::Null)
                .data("user_id", DbValue::String(user_id.into()))
                .force_allow_id(),
        )
        .await
        .expect("create session")
}

/// Creates a credential account.
pub async fn create_account(
    adapter: &dyn DbAdapter,
    id: &str,
    user_id: &str,
    provider: &str,
) -> DbRecord {
    adapter
        .create(
            Create::new("account")
                .data("id", DbValue::String(id.into()))
                .data("account_id", DbValue::String(format!("acct-{id}")))
                .data("provider_id", DbValue::String(provider.into()))
                .data("user_id", DbValue::String(user_id.into()))
                .data("access_token", DbValue::Null)
                .data("refresh_token", DbValue::Null)
                .data("id_token", DbValue::Null)
                .data("access_token_expires_at", DbValue::Null)
                .data("refresh_token_expires_at", DbValue::Null)
                .data("scope", DbValue::Null)
                .data("password", DbValue::String("hash".into()))
                .data("created_at", DbValue::Timestamp(at(0)))
                .data("updated_at", DbValue::Timestamp(at(0)))
                .force_allow_id(),
        )
        .await
        .expect("create account")
}

/// Creates a verification.
pub async fn create_verification(
    adapter: &dyn DbAdapter,
    id: &str,
    identifier: &str,
    value: &str,
    created: i64,
) -> DbRecord {
    adapter
        .create(
            Create::new("verification")
                .data("id", DbValue::String(id.into()))
                .data("identifier", DbValue::String(identifier.into()))
                .data("value", DbValue::String(value.into()))
                .data("expires_at", DbValue::Timestamp(at(created + 600)))
                .data("created_at", DbValue::Timestamp(at(created)))
                .data("updated_at", DbValue::Timestamp(at(created)))
                .force_allow_id(),
        )
        .await
        .expect("create verification")
}

/// How the adapter reaches the server.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Backend {
    /// One client, statements prepared once.
    Client,
    /// One client, every statement unnamed.
    ClientUnnamed,
    /// A deadpool pool, statements prepared once per pooled connection.
    #[cfg(feature = "deadpool")]
    Pool,
    /// A deadpool pool, every statement unnamed.
    #[cfg(feature = "deadpool")]
    PoolUnnamed,
}

/// Every backend this build supports.
pub const BACKENDS: &[Backend] = &[
    Backend::Client,
    Backend::ClientUnnamed,
    #[cfg(feature = "deadpool")]
    Backend::Pool,
    #[cfg(feature = "deadpool")]
    Backend::PoolUnnamed,
];

/// A connection of the given kind to `url`.
pub async fn connection(url: &str, backend: Backend) -> TokioPostgresConnection {
    use rustauth_tokio_postgres::StatementMode;
    let client = || async {
        let (client, connection) = tokio_postgres::connect(url, tokio_postgres::NoTls)
            .await
            .expect("connect");
        tokio::spawn(connection);
        TokioPostgresConnection::from_client(client)
    };
    match backend {
        Backend::Client => client().await,
        Backend::ClientUnnamed => client().await.with_statement_mode(StatementMode::Unnamed),
        #[cfg(feature = "deadpool")]
        Backend::Pool => TokioPostgresConnection::connect_pool(url, pool_options()).expect("pool"),
        #[cfg(feature = "deadpool")]
        Backend::PoolUnnamed => TokioPostgresConnection::connect_pool(url, pool_options())
            .expect("pool")
            .with_statement_mode(StatementMode::Unnamed),
    }
}

#[cfg(feature = "deadpool")]
fn pool_options() -> rustauth_tokio_postgres::PoolOptions {
    rustauth_tokio_postgres::PoolOptions::default().max_size(4)
}

/// An adapter on the given backend.
pub async fn backend_adapter(
    db: &TestDb,
    backend: Backend,
    policy: RoutePolicy,
) -> TokioPostgresAdapter {
    TokioPostgresAdapter::with_policy(connection(&db.url, backend).await, default_schema(), policy)
}

/// RustAuth's default tables renamed to `<prefix>_users`, ... (so every table routes dynamic),
/// with `user` built from `user` options (extra fields) and the given id policy.
pub fn prefixed_schema(prefix: &str, id_policy: IdPolicy, user: TableOptions) -> DbSchema {
    let named = |table: &str| TableOptions::default().with_name(format!("{prefix}_{table}"));
    auth_schema(AuthSchemaOptions {
        id_policy,
        user: user.with_name(format!("{prefix}_users")),
        session: named("sessions"),
        account: named("accounts"),
        verification: named("verifications"),
        ..AuthSchemaOptions::default()
    })
}

/// `app_*` tables whose `user` has plugin-style fields: `meta` (JSON), `tags` (string array)
/// and `nums` (number array), all optional.
pub fn extended_schema() -> DbSchema {
    let user = TableOptions::default()
        .with_field("meta", DbField::new("meta", DbFieldType::Json).optional())
        .with_field(
            "tags",
            DbField::new("tags", DbFieldType::StringArray).optional(),
        )
        .with_field(
            "nums",
            DbField::new("nums", DbFieldType::NumberArray).optional(),
        );
    prefixed_schema("app", IdPolicy::default(), user)
}

/// An empty database migrated to `schema` through [`DbAdapter::run_migrations`], with an
/// `Auto` adapter over it.
pub async fn migrated(schema: DbSchema) -> (TestDb, TokioPostgresAdapter) {
    let db = TestDb::empty().await;
    let adapter = adapter_with(&db, schema.clone(), RoutePolicy::Auto).await;
    adapter
        .run_migrations(&schema)
        .await
        .expect("run_migrations");
    (db, adapter)
}

/// A string value.
pub fn s(value: &str) -> DbValue {
    DbValue::String(value.to_owned())
}

/// A timestamp value, see [`at`].
pub fn ts(seconds: i64) -> DbValue {
    DbValue::Timestamp(at(seconds))
}

/// The string ids of `records`, in order.
pub fn ids(records: &[DbRecord]) -> Vec<String> {
    records
        .iter()
        .map(|record| match record.get("id") {
            Some(DbValue::String(id)) => id.clone(),
            other => panic!("id {other:?}"),
        })
        .collect()
}

/// Every row of the default tables as `table: json`, sorted: equal dumps mean equal contents.
pub async fn dump(db: &TestDb) -> Vec<String> {
    let client = db.client().await;
    let mut out = Vec::new();
    for table in [
        "users",
        "sessions",
        "accounts",
        "verifications",
        "rate_limits",
    ] {
        let rows = client
            .query(
                &format!("SELECT to_jsonb(t)::text FROM {table} AS t ORDER BY 1"),
                &[],
            )
            .await
            .expect("dump");
        out.extend(
            rows.iter()
                .map(|row| format!("{table}: {}", row.get::<_, String>(0))),
        );
    }
    out
}

/// Whether a relation (possibly schema-qualified) exists.
pub async fn table_exists(db: &TestDb, name: &str) -> bool {
    db.client()
        .await
        .query_one("SELECT to_regclass($1) IS NOT NULL", &[&name])
        .await
        .expect("to_regclass")
        .get(0)
}
