//! Whole RustAuth flows through its HTTP handler: the default schema (typed) and a schema
//! with plugin-style user fields (the user table must route dynamic and still work).

use std::collections::BTreeMap;

use http::{Method, Request};
use rustauth::RustAuth;
use rustauth_core::context::create_auth_context;
use rustauth_core::db::{DbFieldType, DbValue};
use rustauth_core::options::{
    AdvancedOptions, RateLimitOptions, RustAuthOptions, UserAdditionalField, UserOptions,
};
use rustauth_core::test_utils::with_integration_test_defaults;
use rustauth_tokio_postgres::{TableRoute, TokioPostgresStores};
use serde_json::{Value, json};

use crate::fixtures::{BACKENDS, Backend, connection};
use crate::support::TestDb;

const BASE: &str = "http://localhost:3000/api/auth";

pub fn options(user: UserOptions) -> RustAuthOptions {
    let mut options = with_integration_test_defaults(
        RustAuthOptions::new()
            .secret("a-test-secret-that-is-long-enough-for-rustauth")
            .user(user)
            .advanced(AdvancedOptions {
                disable_csrf_check: true,
                disable_origin_check: true,
                ..AdvancedOptions::default()
            }),
    );
    options.rate_limit = RateLimitOptions::new()
        .enabled(true)
        .window(time::Duration::seconds(60))
        .max(1000);
    options
}

/// RustAuth on stores built with the context's merged schema, migrated by the adapter.
async fn auth(db: &TestDb, options: RustAuthOptions) -> (RustAuth, TokioPostgresStores) {
    auth_on(db, Backend::Client, options).await
}

pub async fn auth_on(
    db: &TestDb,
    backend: Backend,
    options: RustAuthOptions,
) -> (RustAuth, TokioPostgresStores) {
    let schema = create_auth_context(options.clone())
        .expect("context")
        .db_schema;
    let stores = TokioPostgresStores::builder()
        .schema(schema.clone())
        .build(connection(&db.url, backend).await);
    rustauth_core::db::DbAdapter::run_migrations(&stores.adapter, &schema)
        .await
        .expect("migrate");
    let options = stores.apply_to_options(options);
    assert!(
        options.rate_limit.enabled == Some(true),
        "apply_to_options keeps the user's settings"
    );
    let auth = RustAuth::builder()
        .options(options)
        .adapter(stores.adapter.clone())
        .build()
        .await
        .expect("build");
    (auth, stores)
}

pub struct Client<'a> {
    pub auth: &'a RustAuth,
    pub cookie: String,
}

impl Client<'_> {
    pub async fn send(&mut self, method: Method, path: &str, body: Option<Value>) -> (u16, Value) {
        let mut request = Request::builder()
            .method(method)
            .uri(format!("{BASE}{path}"));
        if !self.cookie.is_empty() {
            request = request.header("cookie", &self.cookie);
        }
        if body.is_some() {
            request = request.header("content-type", "application/json");
        }
        let bytes = body.map(|b| b.to_string().into_bytes()).unwrap_or_default();
        let response = self
            .auth
            .handler_async(request.body(bytes).expect("request"))
            .await
            .expect("handled");
        let cookies = response
            .headers()
            .get_all("set-cookie")
            .iter()
            .filter_map(|v| v.to_str().ok()?.split(';').next().map(str::to_owned))
            .filter(|c| {
                c.split_once('=')
                    .is_some_and(|(_, value)| !value.is_empty())
            })
            .collect::<Vec<_>>();
        if !cookies.is_empty() {
            self.cookie = cookies.join("; ");
        }
        let status = response.status().as_u16();
        (
            status,
            serde_json::from_slice(response.body()).unwrap_or(Value::Null),
        )
    }
}

async fn full_flow(auth: &RustAuth) {
    let mut client = Client {
        auth,
        cookie: String::new(),
    };
    let credentials =
        json!({"name": "Ada", "email": "ada@example.com", "password": "correct horse battery"});
    let (status, body) = client
        .send(Method::POST, "/sign-up/email", Some(credentials.clone()))
        .await;
    assert_eq!(status, 200, "sign-up: {body}");
    assert_eq!(body["user"]["email"], "ada@example.com");
    let (status, body) = client.send(Method::GET, "/get-session", None).await;
    assert_eq!(status, 200);
    assert_eq!(
        body["user"]["email"], "ada@example.com",
        "get-session: {body}"
    );
    let (status, body) = client
        .send(
            Method::POST,
            "/sign-in/email",
            Some(json!({"email": "ada@example.com", "password": "correct horse battery"})),
        )
        .await;
    assert_eq!(status, 200, "sign-in: {body}");
    assert!(body["token"].is_string());
    let (status, body) = client.send(Method::POST, "/sign-out", None).await;
    assert_eq!((status, body), (200, json!({"success": true})));
    let (status, body) = client.send(Method::GET, "/get-session", None).await;
    assert_eq!((status, body), (200, Value::Null), "signed out");
    let mut stranger = Client {
        auth,
        cookie: String::new(),
    };
    let (status, body) = stranger
        .send(Method::POST, "/sign-up/email", Some(credentials))
        .await;
    assert_eq!(status, 400, "duplicate sign-up: {body}");
    assert_eq!(body["code"], "USER_ALREADY_EXISTS");
}

#[tokio::test]
async fn sign_up_session_sign_in_sign_out_on_the_default_schema_run_typed() {
    for &backend in BACKENDS {
        let db = TestDb::new().await;
        let (auth, stores) = auth_on(&db, backend, options(UserOptions::default())).await;
        let report = stores.adapter.route_report();
        assert_eq!(report.route("user"), Some(&TableRoute::Typed));
        full_flow(&auth).await;
        let (typed, dynamic) = stores.adapter.route_counts();
        // Only sign-in's `find_one user … join account` has no typed statement.
        assert!(typed >= 12, "{backend:?}: typed {typed}, dynamic {dynamic}");
        assert!(
            dynamic <= 2,
            "{backend:?}: typed {typed}, dynamic {dynamic}"
        );
    }
}

#[tokio::test]
async fn plugin_style_user_fields_route_the_user_table_dynamic_and_flows_still_work() {
    let db = TestDb::new().await;
    let mut fields = BTreeMap::new();
    let mut role = UserAdditionalField::new(DbFieldType::String);
    role.required = false;
    role.input = false;
    role.default_value = Some(DbValue::String("user".into()));
    fields.insert("role".to_owned(), role);
    let mut banned = UserAdditionalField::new(DbFieldType::Boolean);
    banned.required = false;
    banned.input = false;
    fields.insert("banned".to_owned(), banned);
    let mut username = UserAdditionalField::new(DbFieldType::String);
    username.required = false;
    fields.insert("username".to_owned(), username);
    let user = UserOptions {
        additional_fields: fields,
        ..UserOptions::default()
    };
    let (auth, stores) = auth(&db, options(user)).await;
    let report = stores.adapter.route_report();
    eprintln!("route report with plugin-style user fields:\n{report}");
    assert!(
        matches!(report.route("user"), Some(TableRoute::Dynamic(_))),
        "{report}"
    );
    assert_eq!(
        report.route("session"),
        Some(&TableRoute::Typed),
        "{report}"
    );
    full_flow(&auth).await;
    let role: Option<String> = db
        .client()
        .await
        .query_one(
            "SELECT role FROM users WHERE email = 'ada@example.com'",
            &[],
        )
        .await
        .expect("user row")
        .get(0);
    assert_eq!(
        role.as_deref(),
        Some("user"),
        "the additional field was written"
    );
}

#[tokio::test]
async fn rate_limited_requests_are_denied_through_the_database_store() {
    let db = TestDb::new().await;
    let mut options = options(UserOptions::default());
    options.rate_limit = RateLimitOptions::new()
        .enabled(true)
        .window(time::Duration::seconds(60))
        .max(2);
    let (auth, _stores) = auth(&db, options).await;
    let mut client = Client {
        auth: &auth,
        cookie: String::new(),
    };
    let mut statuses = Vec::new();
    for _ in 0..4 {
        statuses.push(client.send(Method::GET, "/ok", None).await.0);
    }
    assert_eq!(statuses, [200, 200, 429, 429]);
    let count: i64 = db
        .client()
        .await
        .query_one("SELECT max(count) FROM rate_limits", &[])
        .await
        .expect("row")
        .get(0);
    assert_eq!(count, 2, "denied requests were not counted");
}
