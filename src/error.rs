//! The crate's error type, its classification, and the one conversion to [`RustAuthError`].

use std::fmt::Write as _;

use rustauth_core::error::RustAuthError;
use tokio_postgres::error::SqlState;

/// A specialized [`Result`](std::result::Result) whose error defaults to [`Error`].
pub type Result<T, E = Error> = std::result::Result<T, E>;

/// Errors produced by this adapter.
///
/// Every `DbAdapter` method converts it to [`RustAuthError::Adapter`] at the trait boundary; the
/// message keeps `SQLSTATE <code>`, the constraint, table and column, and never a row value
/// (the server's `detail`, which quotes values such as emails, is left out on purpose).
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// A statement failed on the typed or the dynamic path, or the connection failed.
    #[error("postgres request failed")]
    Postgres(#[from] tokio_postgres::Error),
    /// No pooled connection could be checked out.
    #[cfg(feature = "deadpool")]
    #[error("could not check out a pooled connection")]
    Pool(#[from] deadpool_postgres::PoolError),
    /// The adapter or store was configured inconsistently.
    #[error("invalid adapter configuration: {0}")]
    Config(String),
    /// A value could not be sent to or read from a column.
    #[error("invalid value for `{table}.{column}`: {reason}")]
    Value {
        /// Physical table name.
        table: String,
        /// Physical column name.
        column: String,
        /// Why the value was rejected; never contains the value itself.
        reason: String,
    },
    /// An operation did not finish within its deadline.
    #[error("{operation} timed out")]
    Timeout {
        /// What was being waited for.
        operation: &'static str,
    },
    /// The adapter was used in a way that cannot work (for example a nested transaction).
    #[error("{0}")]
    Usage(String),
}

/// A coarse classification of [`Error`], for callers that react to frequent failures.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum ErrorKind {
    /// SQLSTATE 23505: a unique constraint rejected the write (for example a duplicate email).
    UniqueViolation,
    /// SQLSTATE 23503: a foreign key rejected the write.
    ForeignKeyViolation,
    /// SQLSTATE 23502: a required column was missing.
    NotNullViolation,
    /// SQLSTATE 23514 or another integrity error.
    CheckViolation,
    /// The connection could not be made or was lost.
    Connection,
    /// A statement, connect or pool checkout ran out of time.
    Timeout,
    /// A value had the wrong type, shape or range for its column.
    Data,
    /// The adapter was configured or used incorrectly.
    Config,
    /// Anything else the server reported.
    Other,
}

impl Error {
    /// Builds a [`Error::Value`] for a column.
    pub(crate) fn value(table: &str, column: &str, reason: impl Into<String>) -> Self {
        Self::Value {
            table: table.to_owned(),
            column: column.to_owned(),
            reason: reason.into(),
        }
    }

    /// Classifies the error.
    pub fn kind(&self) -> ErrorKind {
        match self {
            Self::Postgres(error) => postgres_kind(error),
            #[cfg(feature = "deadpool")]
            Self::Pool(error) => match error {
                deadpool_postgres::PoolError::Timeout(_) => ErrorKind::Timeout,
                deadpool_postgres::PoolError::Backend(error) => postgres_kind(error),
                deadpool_postgres::PoolError::NoRuntimeSpecified
                | deadpool_postgres::PoolError::PostCreateHook(_) => ErrorKind::Config,
                _ => ErrorKind::Connection,
            },
            Self::Config(_) | Self::Usage(_) => ErrorKind::Config,
            Self::Value { .. } => ErrorKind::Data,
            Self::Timeout { .. } => ErrorKind::Timeout,
        }
    }

    /// The SQLSTATE the server reported, if any.
    pub fn sqlstate(&self) -> Option<&SqlState> {
        match self {
            Self::Postgres(error) => error.code(),
            #[cfg(feature = "deadpool")]
            Self::Pool(deadpool_postgres::PoolError::Backend(error)) => error.code(),
            _ => None,
        }
    }
}

fn postgres_kind(error: &tokio_postgres::Error) -> ErrorKind {
    let Some(code) = error.code() else {
        if error.is_closed() || error.as_db_error().is_none() && is_io(error) {
            return ErrorKind::Connection;
        }
        return ErrorKind::Data;
    };
    match code.code() {
        "23505" => ErrorKind::UniqueViolation,
        "23503" => ErrorKind::ForeignKeyViolation,
        "23502" => ErrorKind::NotNullViolation,
        c if c.starts_with("23") => ErrorKind::CheckViolation,
        "57014" => ErrorKind::Timeout,
        c if c.starts_with("08") || c.starts_with("57P") || c == "3D000" || c == "28P01" => {
            ErrorKind::Connection
        }
        c if c.starts_with("22") || c.starts_with("42") => ErrorKind::Data,
        _ => ErrorKind::Other,
    }
}

fn is_io(error: &tokio_postgres::Error) -> bool {
    let mut source = std::error::Error::source(error);
    while let Some(cause) = source {
        if cause.is::<std::io::Error>() {
            return true;
        }
        source = cause.source();
    }
    false
}

/// How every message this crate puts in [`RustAuthError::Adapter`] begins.
pub(crate) const ADAPTER_PREFIX: &str = "tokio-postgres error: ";

/// The message `RustAuthError::Adapter` carries: this layer's text, then each cause not already
/// quoted, then the server's SQLSTATE, message, schema, table, column and constraint.
fn flatten(error: &Error) -> String {
    let mut message = format!("{ADAPTER_PREFIX}{error}");
    if let Some(db) = database_error(error) {
        let _ = write!(message, ": SQLSTATE {}; {}", db.code().code(), db.message());
        for (label, part) in [
            ("schema", db.schema()),
            ("table", db.table()),
            ("column", db.column()),
            ("constraint", db.constraint()),
        ] {
            if let Some(part) = part {
                let _ = write!(message, "; {label}: {part}");
            }
        }
        return message;
    }
    let mut source = std::error::Error::source(error);
    while let Some(cause) = source {
        let text = cause.to_string();
        if !message.contains(&text) {
            let _ = write!(message, ": {text}");
        }
        source = cause.source();
    }
    message
}

fn database_error(error: &Error) -> Option<&tokio_postgres::error::DbError> {
    match error {
        Error::Postgres(error) => error.as_db_error(),
        #[cfg(feature = "deadpool")]
        Error::Pool(deadpool_postgres::PoolError::Backend(error)) => error.as_db_error(),
        _ => None,
    }
}

impl From<Error> for RustAuthError {
    fn from(error: Error) -> Self {
        crate::telemetry::record_error(&error);
        if error.kind() == ErrorKind::Connection {
            // The operation's connection is lost or broken: do not reuse it.
            crate::timeout::poison_current();
        }
        Self::Adapter(flatten(&error))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn config_errors_keep_their_reason_in_the_adapter_message() {
        let error = RustAuthError::from(Error::Config("schema has no `user` table".into()));
        assert_eq!(
            error,
            RustAuthError::Adapter(
                "tokio-postgres error: invalid adapter configuration: schema has no `user` table"
                    .into()
            )
        );
    }

    #[test]
    fn value_errors_are_classified_as_data() {
        let error = Error::value("users", "id", "not a UUID");
        assert_eq!(error.kind(), ErrorKind::Data);
        assert_eq!(error.sqlstate(), None);
    }
}
