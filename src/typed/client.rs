//! What a typed statement runs on: a client or a transaction, and how statements are kept.
//!
//! cornucopia's generated statements call a `GenericClient`. [`Typed`] is ours: it runs the
//! statement on the session's connection and decides how it is prepared. With
//! [`StatementMode::Prepared`](crate::StatementMode::Prepared) each statement is prepared once per
//! connection (in this crate's cache on a single client, in deadpool's cache on a pooled one)
//! and every later call is one Bind/Execute round trip. With
//! [`StatementMode::Unnamed`](crate::StatementMode::Unnamed) nothing is ever named: the statement
//! text goes out as an unnamed statement with explicit parameter types, in one round trip, which
//! transaction-mode poolers (PgBouncer before 1.21, Supavisor, RDS Proxy) require.

use std::future::Future;

use tokio_postgres::types::{BorrowToSql, ToSql, Type};
use tokio_postgres::{
    Client, Error, GenericClient as PgClient, Row, RowStream, Statement, ToStatement, Transaction,
};

use super::cache::StatementCache;
use super::generated::client::GenericClient;
use crate::dynamic::statements::DynamicStatements;

/// Calls the same tokio-postgres method on whichever connection the session holds.
macro_rules! on_conn {
    ($conn:expr, $method:ident($($arg:expr),*)) => {
        match $conn {
            Conn::Client(client) => PgClient::$method(client, $($arg),*).await,
            Conn::Transaction(transaction) => PgClient::$method(transaction, $($arg),*).await,
        }
    };
}

/// The connection a session runs on.
#[derive(Clone, Copy)]
pub(crate) enum Conn<'c> {
    Client(&'c Client),
    Transaction(&'c Transaction<'c>),
}

/// Where prepared statements are kept, or that none may be.
#[derive(Clone, Copy)]
pub(crate) enum Statements<'c> {
    Cache(&'c StatementCache),
    #[cfg(feature = "deadpool")]
    Pooled(&'c deadpool_postgres::ClientWrapper),
    #[cfg(feature = "deadpool")]
    PooledTransaction(&'c deadpool_postgres::Transaction<'c>),
    Unnamed,
}

/// One connection (or transaction) and its statement policy, for the length of an operation.
#[derive(Clone, Copy)]
pub(crate) struct Session<'c> {
    pub(crate) conn: Conn<'c>,
    pub(crate) statements: Statements<'c>,
}

impl<'c> Session<'c> {
    /// Whether statements may be prepared (named) on this session.
    pub(crate) fn prepares(&self) -> bool {
        !matches!(self.statements, Statements::Unnamed)
    }

    /// Where repeating dynamic SQL may be kept prepared: only this crate's per-connection cache
    /// is bounded (deadpool's grows with every distinct text, so pools run dynamic SQL unnamed).
    pub(crate) fn dynamic_statements(&self) -> Option<&'c DynamicStatements> {
        match self.statements {
            Statements::Cache(cache) => Some(&cache.dynamic),
            _ => None,
        }
    }
}

/// The client one typed statement (`sql`) runs on; `PREPARED` selects the mode.
pub(crate) struct Typed<'c, const PREPARED: bool> {
    session: Session<'c>,
    sql: &'static str,
}

impl<'c, const PREPARED: bool> Typed<'c, PREPARED> {
    pub(crate) fn new(session: Session<'c>, sql: &'static str) -> Self {
        Self { session, sql }
    }

    async fn prepared(&self) -> Result<Statement, Error> {
        let conn = self.session.conn;
        match self.session.statements {
            Statements::Cache(cache) => cache.get(self.sql, || prepare(conn, self.sql)).await,
            #[cfg(feature = "deadpool")]
            Statements::Pooled(client) => client.prepare_cached(self.sql).await,
            #[cfg(feature = "deadpool")]
            Statements::PooledTransaction(transaction) => {
                transaction.prepare_cached(self.sql).await
            }
            // Never reached: cornucopia prepares only when `stmt_cache()` is true.
            Statements::Unnamed => prepare(conn, self.sql).await,
        }
    }
}

async fn prepare(conn: Conn<'_>, sql: &str) -> Result<Statement, Error> {
    on_conn!(conn, prepare(sql))
}

/// The PostgreSQL type of each parameter, found by asking the value which type it serializes
/// as. The generated statements bind only these types, exactly as cornucopia inferred them.
fn wire_types(params: &[&(dyn ToSql + Sync)]) -> Vec<Type> {
    const CANDIDATES: [Type; 6] = [
        Type::TEXT,
        Type::INT8,
        Type::BOOL,
        Type::TIMESTAMPTZ,
        Type::TEXT_ARRAY,
        Type::JSONB,
    ];
    let mut scratch = bytes::BytesMut::new();
    params
        .iter()
        .map(|param| {
            CANDIDATES
                .iter()
                .find(|ty| {
                    scratch.clear();
                    param.to_sql_checked(ty, &mut scratch).is_ok()
                })
                .cloned()
                // No candidate fits: TEXT makes the driver report the mismatch by position.
                .unwrap_or(Type::TEXT)
        })
        .collect()
}

/// Parameters with their explicit types, for an unnamed statement: one round trip, nothing
/// named on the server.
fn typed<'p>(params: &[&'p (dyn ToSql + Sync)]) -> Vec<(&'p (dyn ToSql + Sync), Type)> {
    params.iter().copied().zip(wire_types(params)).collect()
}

impl<const PREPARED: bool> GenericClient for Typed<'_, PREPARED> {
    fn stmt_cache() -> bool {
        PREPARED
    }

    fn prepare(&self, _query: &str) -> impl Future<Output = Result<Statement, Error>> + Send {
        self.prepared()
    }

    async fn execute<T>(&self, query: &T, params: &[&(dyn ToSql + Sync)]) -> Result<u64, Error>
    where
        T: ?Sized + ToStatement + Sync + Send,
    {
        if !PREPARED {
            return on_conn!(self.session.conn, execute_typed(self.sql, &typed(params)));
        }
        // cornucopia passes execute-only statements as text, which would be parsed again on
        // every call; run them on the connection's prepared statement instead.
        let _ = query;
        let statement = self.prepared().await?;
        on_conn!(self.session.conn, execute(&statement, params))
    }

    async fn query_one<T>(
        &self,
        statement: &T,
        params: &[&(dyn ToSql + Sync)],
    ) -> Result<Row, Error>
    where
        T: ?Sized + ToStatement + Sync + Send,
    {
        if !PREPARED {
            return on_conn!(self.session.conn, query_typed_one(self.sql, &typed(params)));
        }
        on_conn!(self.session.conn, query_one(statement, params))
    }

    async fn query_opt<T>(
        &self,
        statement: &T,
        params: &[&(dyn ToSql + Sync)],
    ) -> Result<Option<Row>, Error>
    where
        T: ?Sized + ToStatement + Sync + Send,
    {
        if !PREPARED {
            return on_conn!(self.session.conn, query_typed_opt(self.sql, &typed(params)));
        }
        on_conn!(self.session.conn, query_opt(statement, params))
    }

    async fn query<T>(&self, query: &T, params: &[&(dyn ToSql + Sync)]) -> Result<Vec<Row>, Error>
    where
        T: ?Sized + ToStatement + Sync + Send,
    {
        if !PREPARED {
            return on_conn!(self.session.conn, query_typed(self.sql, &typed(params)));
        }
        on_conn!(self.session.conn, query(query, params))
    }

    async fn query_raw<T, I>(&self, statement: &T, params: I) -> Result<RowStream, Error>
    where
        T: ?Sized + ToStatement + Sync + Send,
        I: IntoIterator + Sync + Send,
        I::IntoIter: ExactSizeIterator,
        I::Item: BorrowToSql,
    {
        // Only `.iter()` streams; this crate never calls it on a typed statement.
        on_conn!(self.session.conn, query_raw(statement, params))
    }
}
