//! [`TokioPostgresRateLimitStore`]: RustAuth's rate-limit check as one atomic statement.

use rustauth_core::db::sql::{SqlDialect, SqlRateLimitNames};
use rustauth_core::error::RustAuthError;
use rustauth_core::options::{
    RateLimitConsumeInput, RateLimitDecision, RateLimitFuture, RateLimitStore,
    validate_rate_limit_rule,
};
use tokio_postgres::types::Type;

use crate::connection::TokioPostgresConnection;
use crate::error::Error;
use crate::typed::client::Conn;
use crate::typed::rate_limit_queries::{RateLimitOutcome, consume_rate_limit, find_rate_limit};
use crate::typed::with_statement;

/// A RustAuth [`RateLimitStore`] on a [`TokioPostgresConnection`].
///
/// Each `consume` is one statement (an `INSERT … ON CONFLICT … DO UPDATE … WHERE`), atomic
/// across connections and processes: the row lock taken by the upsert serializes concurrent
/// callers, so a burst gets exactly `max` permits. Denied requests write nothing. It needs no
/// transaction, so it shares the connection with the adapter without blocking it.
#[derive(Clone)]
pub struct TokioPostgresRateLimitStore {
    connection: TokioPostgresConnection,
    names: SqlRateLimitNames,
    /// The consume statement for custom table or column names (`None`: the compiled names).
    custom_sql: Option<Result<String, String>>,
}

impl std::fmt::Debug for TokioPostgresRateLimitStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TokioPostgresRateLimitStore")
            .field("table", &self.names.table)
            .field("typed", &self.custom_sql.is_none())
            .finish_non_exhaustive()
    }
}

impl TokioPostgresRateLimitStore {
    /// A store over `connection` using `table` with the columns `key`, `count` and
    /// `last_request`.
    pub fn from_connection(connection: &TokioPostgresConnection, table: impl Into<String>) -> Self {
        Self::with_names(connection.clone(), SqlRateLimitNames::new(table))
    }

    fn with_names(connection: TokioPostgresConnection, names: SqlRateLimitNames) -> Self {
        let compiled = SqlRateLimitNames::new("rate_limits");
        let custom_sql =
            (names != compiled).then(|| custom_consume_sql(&names).map_err(|e| e.to_string()));
        Self {
            connection,
            names,
            custom_sql,
        }
    }

    /// The shared connection.
    pub fn connection(&self) -> &TokioPostgresConnection {
        &self.connection
    }

    async fn consume_checked(
        &self,
        input: RateLimitConsumeInput,
    ) -> Result<RateLimitDecision, RustAuthError> {
        let window_ms = validate_rate_limit_rule(&input.rule)?;
        let max = i64::try_from(input.rule.max).map_err(|_| {
            RustAuthError::InvalidConfig("rate limit max must fit in i64".to_owned())
        })?;
        let lease = self.connection.lease().await?;
        let session = lease.session();
        crate::telemetry::record_route(self.custom_sql.is_none());
        let outcome = match &self.custom_sql {
            None => {
                let now = input.now_ms;
                let consumed = with_statement!(session, consume_rate_limit, |stmt, db| stmt
                    .bind(&db, &input.key, &now, &window_ms, &max)
                    .opt()
                    .await);
                match consumed.map_err(Error::from)? {
                    Some(outcome) => Some(outcome),
                    // A denial raced a concurrent first insert that this statement's snapshot
                    // could not see; it is committed now.
                    None => with_statement!(session, find_rate_limit, |stmt, db| stmt
                        .bind(&db, &input.key)
                        .opt()
                        .await)
                    .map_err(Error::from)?,
                }
            }
            Some(Ok(sql)) => {
                let (key, now) = (&input.key, input.now_ms);
                custom_consume(session.conn, sql, &self.names, key, now, window_ms, max).await?
            }
            Some(Err(reason)) => return Err(Error::Config(reason.clone()).into()),
        };
        let outcome =
            outcome.ok_or_else(|| RustAuthError::Adapter("missing rate limit row".to_owned()))?;
        decide(&input, window_ms, &outcome)
    }
}

/// Turns the row the statement left into core's decision, with core's exact arithmetic.
fn decide(
    input: &RateLimitConsumeInput,
    window_ms: i64,
    outcome: &RateLimitOutcome,
) -> Result<RateLimitDecision, RustAuthError> {
    let count = u64::try_from(outcome.count).map_err(|_| {
        RustAuthError::Adapter("negative rate limit count persisted in database".to_owned())
    })?;
    let max = input.rule.max;
    if outcome.permitted {
        return Ok(RateLimitDecision {
            permitted: true,
            retry_after: 0,
            limit: max,
            remaining: max.saturating_sub(count),
            reset_after: u64::try_from(input.rule.window.whole_seconds()).unwrap_or(0),
        });
    }
    let retry_ms = outcome
        .last_request
        .saturating_add(window_ms)
        .saturating_sub(input.now_ms)
        .max(0);
    let retry_after = u64::try_from(retry_ms).unwrap_or(0).saturating_add(999) / 1000;
    Ok(RateLimitDecision {
        permitted: false,
        retry_after,
        limit: max,
        remaining: 0,
        reset_after: retry_after,
    })
}

/// The compiled `consume_rate_limit` statement with the schema's custom names.
fn custom_consume_sql(names: &SqlRateLimitNames) -> Result<String, RustAuthError> {
    let quote = |name: &str| SqlDialect::Postgres.quote_identifier(name);
    let (table, key, count, last) = (
        quote(&names.table)?,
        quote(&names.key)?,
        quote(&names.count)?,
        quote(&names.last_request)?,
    );
    Ok(format!(
        "WITH permitted AS (INSERT INTO {table} AS r ({key}, {count}, {last}) VALUES ($1, 1, $2) \
         ON CONFLICT ({key}) DO UPDATE SET {count} = CASE WHEN $2::numeric - r.{last} <= $3 \
         THEN LEAST(r.{count}, 9223372036854775806) + 1 ELSE 1 END, {last} = EXCLUDED.{last} \
         WHERE r.{count} >= 0 AND NOT ($2::numeric - r.{last} <= $3 AND r.{count} >= $4) \
         RETURNING r.{count}, r.{last}) \
         SELECT {count}, {last}, true FROM permitted UNION ALL \
         SELECT r.{count}, r.{last}, false FROM {table} AS r \
         WHERE r.{key} = $1 AND NOT EXISTS (SELECT 1 FROM permitted)"
    ))
}

async fn custom_consume(
    conn: Conn<'_>,
    sql: &str,
    names: &SqlRateLimitNames,
    key: &str,
    now_ms: i64,
    window_ms: i64,
    max: i64,
) -> Result<Option<RateLimitOutcome>, RustAuthError> {
    let params: [(&(dyn tokio_postgres::types::ToSql + Sync), Type); 4] = [
        (&key, Type::TEXT),
        (&now_ms, Type::INT8),
        (&window_ms, Type::INT8),
        (&max, Type::INT8),
    ];
    let mut rows = query_typed(conn, sql, &params).await?;
    if rows.is_empty() {
        let quote = |name: &str| SqlDialect::Postgres.quote_identifier(name);
        let find = format!(
            "SELECT {}, {}, false FROM {} WHERE {} = $1",
            quote(&names.count)?,
            quote(&names.last_request)?,
            quote(&names.table)?,
            quote(&names.key)?
        );
        rows = query_typed(conn, &find, &params[..1]).await?;
    }
    rows.first()
        .map(|row| {
            Ok(RateLimitOutcome {
                count: row.try_get(0).map_err(Error::from)?,
                last_request: row.try_get(1).map_err(Error::from)?,
                permitted: row.try_get(2).map_err(Error::from)?,
            })
        })
        .transpose()
}

async fn query_typed(
    conn: Conn<'_>,
    sql: &str,
    params: &[(&(dyn tokio_postgres::types::ToSql + Sync), Type)],
) -> Result<Vec<tokio_postgres::Row>, RustAuthError> {
    let rows = match conn {
        Conn::Client(client) => client.query_typed(sql, params).await,
        Conn::Transaction(transaction) => transaction.query_typed(sql, params).await,
    };
    Ok(rows.map_err(Error::from)?)
}

impl From<&crate::TokioPostgresAdapter> for TokioPostgresRateLimitStore {
    fn from(adapter: &crate::TokioPostgresAdapter) -> Self {
        Self::with_names(
            adapter.connection().clone(),
            SqlRateLimitNames::from_schema(adapter.schema()),
        )
    }
}

impl RateLimitStore for TokioPostgresRateLimitStore {
    fn consume<'a>(&'a self, input: RateLimitConsumeInput) -> RateLimitFuture<'a> {
        let span = crate::telemetry::operation_span("consume", Some(&self.names.table));
        let bounded = self
            .connection
            .bounded("rate-limit consume", self.consume_checked(input));
        Box::pin(crate::telemetry::traced(span, bounded))
    }
}
