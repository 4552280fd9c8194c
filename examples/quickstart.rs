//! The main job: RustAuth sign-up, get-session, sign-in, sign-out and a rate-limited request,
//! stored in PostgreSQL through this crate.
//!
//! ```sh
//! cargo run --example quickstart                      # starts a throwaway PostgreSQL
//! RUSTAUTH_PG_URL=postgres://user:pass@host/db cargo run --example quickstart
//! ```
//!
//! Every database call is printed with the path that served it: `typed` (a statement compiled
//! from `queries/` and prepared once) or `dynamic` (rustauth-core's planner).

#[path = "../support/throwaway_pg.rs"]
mod throwaway_pg;

use std::error::Error;

use http::{Method, Request};
use rustauth::RustAuth;
use rustauth_core::context::create_auth_context;
use rustauth_core::db::DbAdapter;
use rustauth_core::options::{
    AdvancedOptions, DeploymentMode, EmailPasswordOptions, RateLimitOptions, RustAuthOptions,
};
use rustauth_tokio_postgres::TokioPostgresStores;
use serde_json::{Value, json};

const BASE: &str = "http://localhost:3000/api/auth";

#[tokio::main]
async fn main() -> Result<(), Box<dyn Error>> {
    // Each adapter operation is a span; printing it as it closes shows its fields, the route
    // (`rustauth.route`) among them.
    tracing_subscriber::fmt()
        .with_max_level(tracing::Level::DEBUG)
        .with_span_events(tracing_subscriber::fmt::format::FmtSpan::CLOSE)
        .with_target(false)
        .without_time()
        .with_level(false)
        .init();

    // A URL, or a PostgreSQL of our own that is removed when this program ends.
    let (_cluster, url) = match std::env::var("RUSTAUTH_PG_URL") {
        Ok(url) if !url.trim().is_empty() => (None, url),
        _ => {
            println!("RUSTAUTH_PG_URL is not set: starting a throwaway PostgreSQL");
            let cluster = throwaway_pg::ThrowawayPostgres::start()?;
            let url = cluster.url("postgres");
            (Some(cluster), url)
        }
    };

    let mut options = RustAuthOptions::new()
        .secret("quickstart-secret-please-change-me-32-chars-min")
        .email_password(EmailPasswordOptions::new().enabled(true))
        .advanced(AdvancedOptions {
            disable_csrf_check: true,
            disable_origin_check: true,
            ..AdvancedOptions::default()
        });
    options.mode = DeploymentMode::Development;
    // Rate limiting is off in development unless asked for; sign-in allows 3 per 10 s.
    options.rate_limit = RateLimitOptions::new().enabled(true);

    // Plan against the schema RustAuth will use (plugins and additional fields included).
    let schema = create_auth_context(options.clone())?.db_schema;
    let stores = TokioPostgresStores::builder()
        .schema(schema)
        .connect(&url)
        .await?;
    // The stores' schema adds the `rate_limits` table the database rate-limit store needs.
    stores
        .adapter
        .run_migrations(stores.adapter.schema())
        .await?;
    print!("table routes:\n{}", stores.adapter.route_report());
    let auth = RustAuth::builder()
        .options(stores.apply_to_options(options))
        .adapter(stores.adapter.clone())
        .build()
        .await?;

    let mut browser = Browser {
        auth: &auth,
        cookie: String::new(),
    };
    let email = "ada@example.com";
    let password = "correct horse battery staple";
    browser
        .step(
            "sign up",
            Method::POST,
            "/sign-up/email",
            Some(json!({"name": "Ada", "email": email, "password": password})),
        )
        .await?;
    browser
        .step("get session", Method::GET, "/get-session", None)
        .await?;
    browser
        .step(
            "sign in",
            Method::POST,
            "/sign-in/email",
            Some(json!({"email": email, "password": password})),
        )
        .await?;
    browser
        .step("sign out", Method::POST, "/sign-out", None)
        .await?;
    browser
        .step(
            "get session after sign-out",
            Method::GET,
            "/get-session",
            None,
        )
        .await?;
    let wrong = json!({"email": email, "password": "wrong password"});
    // Sign-in allows 3 requests per 10 s: the successful one and two failures use them up.
    for attempt in 1..=2 {
        browser
            .step(
                &format!("wrong password #{attempt}"),
                Method::POST,
                "/sign-in/email",
                Some(wrong.clone()),
            )
            .await?;
    }
    let status = browser
        .step(
            "one sign-in too many",
            Method::POST,
            "/sign-in/email",
            Some(wrong),
        )
        .await?;
    let (typed, dynamic) = stores.adapter.route_counts();
    println!(
        "\ndatabase calls: {typed} typed, {dynamic} dynamic; the last request got HTTP {status}"
    );
    if status != 429 {
        return Err("the rate limit did not deny the fourth sign-in".into());
    }
    Ok(())
}

/// Sends requests to RustAuth's handler and keeps its cookies, like a browser.
struct Browser<'a> {
    auth: &'a RustAuth,
    cookie: String,
}

impl Browser<'_> {
    async fn step(
        &mut self,
        title: &str,
        method: Method,
        path: &str,
        body: Option<Value>,
    ) -> Result<u16, Box<dyn Error>> {
        println!("\n== {title}: {method} {path}");
        let mut request = Request::builder()
            .method(method)
            .uri(format!("{BASE}{path}"));
        if !self.cookie.is_empty() {
            request = request.header("cookie", &self.cookie);
        }
        if body.is_some() {
            request = request.header("content-type", "application/json");
        }
        let payload = body.map(|b| b.to_string().into_bytes()).unwrap_or_default();
        let response = self.auth.handler_async(request.body(payload)?).await?;
        let fresh: Vec<String> = response
            .headers()
            .get_all("set-cookie")
            .iter()
            .filter_map(|value| value.to_str().ok()?.split(';').next().map(str::to_owned))
            .filter(|pair| {
                pair.split_once('=')
                    .is_some_and(|(_, value)| !value.is_empty())
            })
            .collect();
        if !fresh.is_empty() {
            self.cookie = fresh.join("; ");
        }
        let status = response.status().as_u16();
        let text = String::from_utf8_lossy(response.body());
        let shown: String = text.chars().take(160).collect();
        println!("-> HTTP {status} {shown}");
        Ok(status)
    }
}
