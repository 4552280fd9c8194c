//! Spans for adapter operations, named after the OpenTelemetry database conventions.
//!
//! Every operation (`create`, `find_one`, …, `transaction`, and the rate-limit store's `consume`) runs inside
//! one span with target `rustauth_tokio_postgres` and name `db`:
//!
//! | field | value |
//! |---|---|
//! | `db.system.name` | `postgresql` |
//! | `db.operation.name` | the adapter operation, e.g. `find_one` |
//! | `db.collection.name` | the physical table, e.g. `users` |
//! | `rustauth.route` | `typed` or `dynamic` |
//! | `otel.name` | `{operation} {table}` (the span name OpenTelemetry layers export) |
//! | `error.type` | on failure: the SQLSTATE, or the [`ErrorKind`] when there is none |
//! | `db.response.status_code` | on failure: the SQLSTATE, if the server sent one |
//! | `rustauth.error.kind` | on failure: the [`ErrorKind`] |
//! | `otel.status_code` | `ERROR` on failure |
//!
//! No field ever holds a row value, a query parameter or a token.

use std::future::Future;

use rustauth_core::error::RustAuthError;
use tracing::field::Empty;
use tracing::{Instrument, Span};

use crate::error::{ADAPTER_PREFIX, Error, ErrorKind};

/// The `tracing` target of every span and event of this crate.
pub(crate) const TARGET: &str = "rustauth_tokio_postgres";

/// The span name of an adapter operation.
const SPAN_NAME: &str = "db";

/// A new span for `operation` on the physical `table` (`None` when the model is unknown).
pub(crate) fn operation_span(operation: &'static str, table: Option<&str>) -> Span {
    let otel_name = match table {
        Some(table) => format!("{operation} {table}"),
        None => operation.to_owned(),
    };
    tracing::info_span!(
        target: TARGET,
        SPAN_NAME,
        "otel.name" = otel_name,
        "db.system.name" = "postgresql",
        "db.operation.name" = operation,
        "db.collection.name" = table,
        "rustauth.route" = Empty,
        "error.type" = Empty,
        "db.response.status_code" = Empty,
        "rustauth.error.kind" = Empty,
        "otel.status_code" = Empty,
    )
}

/// Runs `future` inside `span` and records a failure on it.
pub(crate) async fn traced<T>(
    span: Span,
    future: impl Future<Output = Result<T, RustAuthError>>,
) -> Result<T, RustAuthError> {
    let result = future.instrument(span.clone()).await;
    if let Err(error) = &result {
        span.record("otel.status_code", "ERROR");
        // Errors of this crate were recorded, with their SQLSTATE, where they were converted
        // (`record_error`); the rest come from rustauth-core's checks.
        if !matches!(error, RustAuthError::Adapter(message) if message.starts_with(ADAPTER_PREFIX))
        {
            span.record("error.type", core_error_type(error));
        }
    }
    result
}

/// Records the route that serves the operation of the current span.
pub(crate) fn record_route(typed: bool) {
    if let Some(span) = current_operation() {
        span.record("rustauth.route", if typed { "typed" } else { "dynamic" });
    }
}

/// Records `error` on the current operation span, if there is one.
///
/// Called where the crate's [`Error`] becomes a [`RustAuthError`], the last point where its
/// SQLSTATE and kind are still known. Spans of other crates are never touched.
pub(crate) fn record_error(error: &Error) {
    let Some(span) = current_operation() else {
        return;
    };
    let kind = kind_name(error.kind());
    span.record("rustauth.error.kind", kind);
    match error.sqlstate() {
        Some(code) => {
            span.record("db.response.status_code", code.code());
            span.record("error.type", code.code());
        }
        None => {
            span.record("error.type", kind);
        }
    }
}

fn current_operation() -> Option<Span> {
    let span = Span::current();
    let ours = span
        .metadata()
        .is_some_and(|meta| meta.target() == TARGET && meta.name() == SPAN_NAME);
    ours.then_some(span)
}

/// A stable, lower-case name for an [`ErrorKind`].
pub(crate) fn kind_name(kind: ErrorKind) -> &'static str {
    match kind {
        ErrorKind::UniqueViolation => "unique_violation",
        ErrorKind::ForeignKeyViolation => "foreign_key_violation",
        ErrorKind::NotNullViolation => "not_null_violation",
        ErrorKind::CheckViolation => "check_violation",
        ErrorKind::Connection => "connection",
        ErrorKind::Timeout => "timeout",
        ErrorKind::Data => "data",
        ErrorKind::Config => "config",
        ErrorKind::Other => "other",
    }
}

/// `error.type` for errors raised by rustauth-core before any statement ran.
fn core_error_type(error: &RustAuthError) -> &'static str {
    match error {
        RustAuthError::Adapter(_) => "adapter",
        RustAuthError::InvalidConfig(_) => "invalid_config",
        RustAuthError::NumericOutOfRange { .. } => "numeric_out_of_range",
        _ => "rustauth",
    }
}
