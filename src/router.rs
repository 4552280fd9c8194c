//! The one place that decides, per query, whether a typed statement or the dynamic planner
//! serves it. Both the adapter and its transaction-bound twin call these functions, so a
//! transaction runs typed and dynamic statements on the same client.

use std::sync::atomic::{AtomicU64, Ordering};

use rustauth_core::db::sql::{resolve_table_with_logical, select_record};
use rustauth_core::db::{
    Count, Create, DbRecord, DbSchema, DbTable, Delete, DeleteMany, FindMany, FindOne, Update,
    UpdateMany,
};
use rustauth_core::error::RustAuthError;

use crate::dynamic;
use crate::error::Error;
use crate::route::Routes;
use crate::telemetry;
use crate::typed::client::{Conn, Session};
use crate::typed::{self, Model, read, write};

/// Runs a dynamic-path operation on whichever connection the session holds.
macro_rules! dynamic {
    ($session:expr, $op:ident($($arg:expr),*)) => {
        match $session.conn {
            Conn::Client(client) => {
                let db = dynamic::Db { client, statements: $session.dynamic_statements() };
                dynamic::$op(db, $($arg),*).await
            }
            Conn::Transaction(transaction) => {
                let db = dynamic::Db { client: transaction, statements: $session.dynamic_statements() };
                dynamic::$op(db, $($arg),*).await
            }
        }
    };
}

type Result<T> = std::result::Result<T, RustAuthError>;

/// How many operations each path served, for observability.
#[derive(Debug, Default)]
pub(crate) struct RouteCounters {
    typed: AtomicU64,
    dynamic: AtomicU64,
}

impl RouteCounters {
    /// `(typed, dynamic)` operations served so far.
    pub(crate) fn snapshot(&self) -> (u64, u64) {
        (
            self.typed.load(Ordering::Relaxed),
            self.dynamic.load(Ordering::Relaxed),
        )
    }
}

/// What the router needs besides the client.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Router<'a> {
    pub(crate) schema: &'a DbSchema,
    pub(crate) routes: &'a Routes,
    pub(crate) counters: &'a RouteCounters,
}

fn pg(error: tokio_postgres::Error) -> RustAuthError {
    Error::from(error).into()
}

impl<'a> Router<'a> {
    fn typed_table(&self, model: &str) -> Option<(Model, &'a DbTable)> {
        let (logical, table) = resolve_table_with_logical(self.schema, model).ok()?;
        Some((self.routes.typed(logical)?, table))
    }

    fn served(&self, typed: bool) {
        let counter = if typed {
            &self.counters.typed
        } else {
            &self.counters.dynamic
        };
        counter.fetch_add(1, Ordering::Relaxed);
        telemetry::record_route(typed);
    }

    /// The span of one operation on `model`, named after its physical table.
    fn span(&self, operation: &'static str, model: &str) -> tracing::Span {
        let table = resolve_table_with_logical(self.schema, model)
            .ok()
            .map(|(_, table)| table.name.as_str());
        telemetry::operation_span(operation, table)
    }
    pub(crate) async fn create(&self, session: Session<'_>, query: Create) -> Result<DbRecord> {
        let span = self.span("create", &query.model);
        telemetry::traced(span, self.create_inner(session, query)).await
    }

    async fn create_inner(&self, session: Session<'_>, query: Create) -> Result<DbRecord> {
        if let Some((model, table)) = self.typed_table(&query.model)
            && let Some(insert) = write::plan_insert(model, table, &query.data)
        {
            self.served(true);
            write::insert(session, insert).await.map_err(pg)?;
            // Ids are caller-supplied on compiled tables, so the result is the caller's
            // data, exactly as the dynamic path returns it.
            return Ok(select_record(query.data, &query.select));
        }
        self.served(false);
        dynamic!(session, create(self.schema, query))
    }

    pub(crate) async fn find_one(
        &self,
        session: Session<'_>,
        query: FindOne,
    ) -> Result<Option<DbRecord>> {
        let span = self.span("find_one", &query.model);
        telemetry::traced(span, self.find_one_inner(session, query)).await
    }

    async fn find_one_inner(
        &self,
        session: Session<'_>,
        query: FindOne,
    ) -> Result<Option<DbRecord>> {
        if let Some((model, table)) = self.typed_table(&query.model)
            && let Some(plan) = read::plan_find_one(model, &query)
        {
            typed::check_select(table, &query.select)?;
            self.served(true);
            let page = read::Page {
                limit: Some(1),
                offset: None,
            };
            let rows = read::run(session, plan, page).await.map_err(pg)?;
            return rows
                .into_iter()
                .next()
                .map(|row| typed::project(table, row, &query.select))
                .transpose();
        }
        self.served(false);
        dynamic!(session, find_one(self.schema, query))
    }

    pub(crate) async fn find_many(
        &self,
        session: Session<'_>,
        query: FindMany,
    ) -> Result<Vec<DbRecord>> {
        let span = self.span("find_many", &query.model);
        telemetry::traced(span, self.find_many_inner(session, query)).await
    }

    async fn find_many_inner(
        &self,
        session: Session<'_>,
        query: FindMany,
    ) -> Result<Vec<DbRecord>> {
        if let Some((model, table)) = self.typed_table(&query.model)
            && let Some((plan, page)) = read::plan_find_many(model, table, &query)
        {
            typed::check_select(table, &query.select)?;
            self.served(true);
            let rows = read::run(session, plan, page).await.map_err(pg)?;
            return rows
                .into_iter()
                .map(|row| typed::project(table, row, &query.select))
                .collect();
        }
        self.served(false);
        dynamic!(session, find_many(self.schema, query))
    }

    pub(crate) async fn count(&self, session: Session<'_>, query: Count) -> Result<u64> {
        let span = self.span("count", &query.model);
        telemetry::traced(span, self.count_inner(session, query)).await
    }

    async fn count_inner(&self, session: Session<'_>, query: Count) -> Result<u64> {
        if let Some((model, _)) = self.typed_table(&query.model)
            && read::plan_count(model, &query)
        {
            self.served(true);
            let count = read::count(session).await.map_err(pg)?;
            return u64::try_from(count).map_err(|_| RustAuthError::NumericOutOfRange {
                context: "SQL count result",
            });
        }
        self.served(false);
        dynamic!(session, count(self.schema, query))
    }

    pub(crate) async fn update(
        &self,
        session: Session<'_>,
        query: Update,
    ) -> Result<Option<DbRecord>> {
        let span = self.span("update", &query.model);
        telemetry::traced(span, self.update_inner(session, query)).await
    }

    async fn update_inner(&self, session: Session<'_>, query: Update) -> Result<Option<DbRecord>> {
        if query.data.is_empty() {
            return Ok(None);
        }
        if let Some((model, table)) = self.typed_table(&query.model)
            && let Some(plan) = write::plan_update(model, table, &query)
        {
            self.served(true);
            return write::update(session, plan).await.map_err(pg);
        }
        self.served(false);
        dynamic!(session, update(self.schema, query))
    }

    pub(crate) async fn update_many(&self, session: Session<'_>, query: UpdateMany) -> Result<u64> {
        let span = self.span("update_many", &query.model);
        telemetry::traced(span, self.update_many_inner(session, query)).await
    }

    async fn update_many_inner(&self, session: Session<'_>, query: UpdateMany) -> Result<u64> {
        if query.data.is_empty() {
            return Ok(0);
        }
        if let Some((model, table)) = self.typed_table(&query.model)
            && let Some((user_id, values)) = write::plan_update_many(model, table, &query)
        {
            self.served(true);
            let count = write::update_sessions_of_user(session, user_id, values)
                .await
                .map_err(pg)?;
            return Ok(count);
        }
        self.served(false);
        dynamic!(session, update_many(self.schema, query))
    }

    pub(crate) async fn delete(&self, session: Session<'_>, query: Delete) -> Result<()> {
        let span = self.span("delete", &query.model);
        telemetry::traced(span, self.delete_inner(session, query)).await
    }

    async fn delete_inner(&self, session: Session<'_>, query: Delete) -> Result<()> {
        if let Some((model, _)) = self.typed_table(&query.model)
            && let Some(plan) = write::plan_delete(model, &query)
        {
            self.served(true);
            write::delete(session, plan).await.map_err(pg)?;
            return Ok(());
        }
        self.served(false);
        dynamic!(session, delete(self.schema, query))
    }

    pub(crate) async fn delete_many(&self, session: Session<'_>, query: DeleteMany) -> Result<u64> {
        let span = self.span("delete_many", &query.model);
        telemetry::traced(span, self.delete_many_inner(session, query)).await
    }

    async fn delete_many_inner(&self, session: Session<'_>, query: DeleteMany) -> Result<u64> {
        if let Some((model, _)) = self.typed_table(&query.model)
            && let Some(plan) = write::plan_delete_many(model, &query)
        {
            self.served(true);
            let count = write::delete(session, plan).await.map_err(pg)?;
            return Ok(count);
        }
        self.served(false);
        dynamic!(session, delete_many(self.schema, query))
    }
}
