//! Spans: one per operation, OpenTelemetry database fields, never a value.

use std::cell::Cell;
use std::collections::BTreeMap;
use std::sync::{Arc, Mutex, OnceLock};
use std::thread::ThreadId;

use rustauth_core::db::{DbAdapter, DbValue, FindOne, Where};
use rustauth_core::options::{RateLimitConsumeInput, RateLimitRule, RateLimitStore};
use rustauth_tokio_postgres::RoutePolicy;
use tracing::field::{Field, Visit};
use tracing::span::{Attributes, Id, Record};
use tracing_subscriber::Layer;
use tracing_subscriber::layer::{Context, SubscriberExt};

use crate::fixtures::{adapter, create_session, create_user};
use crate::support::TestDb;

/// One captured span: its name, target and every field recorded on it.
#[derive(Debug, Clone, Default)]
struct Captured {
    name: &'static str,
    target: String,
    fields: BTreeMap<String, String>,
}

impl Captured {
    fn field(&self, name: &str) -> Option<&str> {
        self.fields.get(name).map(String::as_str)
    }
}

/// A layer that keeps the spans created on threads that asked for them, in creation order.
///
/// It is installed once, globally: scoped subscribers (`set_default`) race with callsite
/// registration on other test threads, which can cache a callsite as uninteresting.
#[derive(Clone, Default)]
struct Capture(Arc<Mutex<Vec<(ThreadId, Id, Captured)>>>);

thread_local! {
    static CAPTURING: Cell<bool> = const { Cell::new(false) };
}

/// The global capture, with capturing switched on for the calling thread (each
/// `#[tokio::test]` runs its runtime, connection tasks included, on its own thread).
fn capture() -> Capture {
    static CAPTURE: OnceLock<Capture> = OnceLock::new();
    let capture = CAPTURE.get_or_init(|| {
        let capture = Capture::default();
        tracing::subscriber::set_global_default(
            tracing_subscriber::registry().with(capture.clone()),
        )
        .expect("no other global subscriber in the test binary");
        capture
    });
    CAPTURING.with(|on| on.set(true));
    capture.clone()
}

struct Fields<'a>(&'a mut BTreeMap<String, String>);

impl Visit for Fields<'_> {
    fn record_str(&mut self, field: &Field, value: &str) {
        self.0.insert(field.name().to_owned(), value.to_owned());
    }

    fn record_debug(&mut self, field: &Field, value: &dyn std::fmt::Debug) {
        self.0.insert(field.name().to_owned(), format!("{value:?}"));
    }
}

impl<S: tracing::Subscriber> Layer<S> for Capture {
    fn on_new_span(&self, attrs: &Attributes<'_>, id: &Id, _: Context<'_, S>) {
        let mut captured = Captured {
            name: attrs.metadata().name(),
            target: attrs.metadata().target().to_owned(),
            ..Captured::default()
        };
        if !CAPTURING.with(Cell::get) {
            return;
        }
        attrs.record(&mut Fields(&mut captured.fields));
        let thread = std::thread::current().id();
        self.0.lock().unwrap().push((thread, id.clone(), captured));
    }

    fn on_record(&self, id: &Id, values: &Record<'_>, _: Context<'_, S>) {
        let thread = std::thread::current().id();
        let mut spans = self.0.lock().unwrap();
        let found = spans
            .iter_mut()
            .rev()
            .find(|(t, span, _)| *t == thread && span == id);
        if let Some((_, _, captured)) = found {
            values.record(&mut Fields(&mut captured.fields));
        }
    }
}

impl Capture {
    /// This thread's operation spans since the last call.
    fn take(&self) -> Vec<Captured> {
        let thread = std::thread::current().id();
        let mut spans = self.0.lock().unwrap();
        let (mine, others) = spans
            .drain(..)
            .partition::<Vec<_>, _>(|(t, ..)| *t == thread);
        *spans = others;
        mine.into_iter()
            .map(|(_, _, captured)| captured)
            .filter(|c| c.target == "rustauth_tokio_postgres" && c.name == "db")
            .collect()
    }
}

fn only(spans: Vec<Captured>) -> Captured {
    assert_eq!(spans.len(), 1, "one span per operation: {spans:#?}");
    spans.into_iter().next().unwrap()
}

#[tokio::test]
async fn every_operation_has_one_span_with_database_fields_and_no_values() {
    let capture = capture();
    let db = TestDb::new().await;
    let adapter = adapter(&db, RoutePolicy::Auto).await;
    let (email, token) = ("trace-secret@example.com", "tok-very-secret-0123456789");
    let mut seen = Vec::new();

    // Typed: the sign-up insert.
    create_user(&adapter, "u-trace", email, 0).await;
    let span = only(capture.take());
    assert_eq!(span.field("db.system.name"), Some("postgresql"));
    assert_eq!(span.field("db.operation.name"), Some("create"));
    assert_eq!(span.field("db.collection.name"), Some("users"));
    assert_eq!(span.field("rustauth.route"), Some("typed"));
    assert_eq!(span.field("otel.name"), Some("create users"));
    assert_eq!(span.field("error.type"), None);
    seen.push(span);

    create_session(&adapter, "s-trace", "u-trace", token, 0).await;
    let span = only(capture.take());
    assert_eq!(span.field("db.collection.name"), Some("sessions"));
    assert_eq!(span.field("rustauth.route"), Some("typed"));
    seen.push(span);

    // Dynamic: no typed statement looks a user up by name.
    let found = adapter
        .find_one(
            FindOne::new("user")
                .where_clause(Where::new("name", DbValue::String("name u-trace".into()))),
        )
        .await
        .unwrap();
    assert!(found.is_some());
    let span = only(capture.take());
    assert_eq!(span.field("db.operation.name"), Some("find_one"));
    assert_eq!(span.field("db.collection.name"), Some("users"));
    assert_eq!(span.field("rustauth.route"), Some("dynamic"));
    assert_eq!(span.field("error.type"), None);
    seen.push(span);

    // A failure: the same email again violates the unique constraint (SQLSTATE 23505).
    let duplicate = adapter
        .create(
            rustauth_core::db::Create::new("user")
                .data("id", DbValue::String("u-trace-2".into()))
                .data("name", DbValue::String("again".into()))
                .data("email", DbValue::String(email.into()))
                .data("email_verified", DbValue::Boolean(false))
                .data("image", DbValue::Null)
                .data("created_at", DbValue::Timestamp(crate::fixtures::at(1)))
                .data("updated_at", DbValue::Timestamp(crate::fixtures::at(1)))
                .force_allow_id(),
        )
        .await;
    assert!(duplicate.is_err());
    let span = only(capture.take());
    assert_eq!(span.field("rustauth.route"), Some("typed"));
    assert_eq!(span.field("error.type"), Some("23505"));
    assert_eq!(span.field("db.response.status_code"), Some("23505"));
    assert_eq!(span.field("rustauth.error.kind"), Some("unique_violation"));
    assert_eq!(span.field("otel.status_code"), Some("ERROR"));
    seen.push(span);

    // The rate-limit store's consume.
    let store = adapter.rate_limit_store();
    let input = RateLimitConsumeInput {
        key: format!("ip:{email}"),
        rule: RateLimitRule {
            window: time::Duration::seconds(10),
            max: 3,
        },
        now_ms: 1_000,
    };
    assert!(store.consume(input).await.unwrap().permitted);
    let span = only(capture.take());
    assert_eq!(span.field("db.operation.name"), Some("consume"));
    assert_eq!(span.field("db.collection.name"), Some("rate_limits"));
    assert_eq!(span.field("rustauth.route"), Some("typed"));
    seen.push(span);

    for span in &seen {
        for (name, value) in &span.fields {
            for secret in [email, token, "u-trace", "name u-trace"] {
                assert!(
                    !value.contains(secret),
                    "field `{name}` = {value:?} leaks a value"
                );
            }
        }
    }
}

#[tokio::test]
async fn a_failing_dynamic_operation_records_its_sqlstate() {
    let capture = capture();
    let db = TestDb::new().await;
    let adapter = adapter(&db, RoutePolicy::DynamicOnly).await;
    create_user(&adapter, "u-dyn", "dyn@example.com", 0).await;
    capture.take();
    let error = adapter
        .create(
            rustauth_core::db::Create::new("user")
                .data("id", DbValue::String("u-dyn".into()))
                .data("name", DbValue::String("again".into()))
                .data("email", DbValue::String("other@example.com".into()))
                .data("email_verified", DbValue::Boolean(false))
                .data("created_at", DbValue::Timestamp(crate::fixtures::at(1)))
                .data("updated_at", DbValue::Timestamp(crate::fixtures::at(1)))
                .force_allow_id(),
        )
        .await;
    assert!(error.is_err());
    let span = only(capture.take());
    assert_eq!(span.field("rustauth.route"), Some("dynamic"));
    assert_eq!(span.field("db.response.status_code"), Some("23505"));
    assert_eq!(span.field("rustauth.error.kind"), Some("unique_violation"));
}

#[tokio::test]
async fn a_transaction_has_its_own_span_around_its_operations() {
    let capture = capture();
    let db = TestDb::new().await;
    let adapter = adapter(&db, RoutePolicy::Auto).await;
    adapter
        .transaction(Box::new(|tx| {
            Box::pin(async move {
                create_user(&*tx, "u-tx", "tx@example.com", 0).await;
                Ok(())
            })
        }))
        .await
        .unwrap();
    let spans = capture.take();
    let names = spans
        .iter()
        .map(|span| span.field("db.operation.name"))
        .collect::<Vec<_>>();
    assert_eq!(names, [Some("transaction"), Some("create")], "{spans:#?}");
    assert_eq!(spans[0].field("otel.name"), Some("transaction"));
    assert_eq!(spans[0].field("error.type"), None);
}
