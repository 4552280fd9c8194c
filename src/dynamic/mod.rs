//! The dynamic fallback path: any query shape, any table, planned by rustauth-core.
//!
//! SQL text comes only from core's planner (`SqlAdapterRunner` and the statement planners in
//! `rustauth_core::db::sql`); this module only executes it. A statement is sent with
//! `query_typed`/`execute_typed`: unnamed, with parameter types given explicitly (see
//! [`params`]), one round trip, nothing left on the server. On a single client in
//! `StatementMode::Prepared`, SQL that repeats is prepared once under a name and reused
//! ([`statements`]: admitted on its second sighting, at most 128 per connection), since the
//! planner's SQL varies with IN-list sizes and literal LIMIT/OFFSET and an unbounded text-keyed
//! cache would grow forever.
//!
//! The functions take `&C` for any [`GenericClient`], so the same code runs on a `Client`, inside
//! a `Transaction`, or on a pooled client through deref.
//!
//! Joins deviate from the runner in one place: core's joined statement has no outer ORDER BY,
//! which loses `sort_by` (contract §9.10). [`find_many`] re-applies the sort on the outer query
//! using core's own ORDER BY renderer; see `joined_order_by`.

mod params;
mod row;
pub(crate) mod statements;

use rustauth_core::db::sql::{
    base_alias, find_many_with_joins_statement, joined_rows, resolve_field, resolve_table,
};
use rustauth_core::db::{
    AdapterFuture, Count, Create, DbField, DbRecord, DbSchema, DbTable, Delete, DeleteMany,
    FindMany, FindOne, Sort, SqlAdapterRunner, SqlDialect, SqlExecutor, SqlRowReader, SqlStatement,
    Update, UpdateMany,
};
use rustauth_core::error::RustAuthError;
use tokio_postgres::types::ToSql;
use tokio_postgres::{GenericClient, Row};

pub(crate) use row::PgRowReader;

use crate::Error;
use statements::{DynamicStatements, Plan};

/// A client, transaction or pooled client, and the named statements it may reuse (`None`:
/// every statement runs unnamed, as on pools and in `StatementMode::Unnamed`).
#[derive(Debug)]
pub(crate) struct Db<'c, C> {
    pub(crate) client: &'c C,
    pub(crate) statements: Option<&'c DynamicStatements>,
}

impl<C> Clone for Db<'_, C> {
    fn clone(&self) -> Self {
        *self
    }
}

impl<C> Copy for Db<'_, C> {}

/// Executes planner statements on a borrowed client, transaction or pooled client.
#[derive(Debug)]
pub(crate) struct PgExecutor<'c, C> {
    db: Db<'c, C>,
    /// Physical table name, used to label parameter errors.
    table: String,
}

impl<'c, C> PgExecutor<'c, C> {
    /// Wraps `db`; `table` labels parameter errors.
    pub(crate) fn new(db: Db<'c, C>, table: impl Into<String>) -> Self {
        Self {
            db,
            table: table.into(),
        }
    }
}

impl<C: GenericClient + Sync> PgExecutor<'_, C> {
    /// The named statement to run `sql` on, if it repeats; `None` runs it unnamed.
    async fn named(
        &self,
        sql: &str,
        bound: &[params::Bound],
    ) -> Result<Option<tokio_postgres::Statement>, RustAuthError> {
        let Some(cache) = self.db.statements else {
            return Ok(None);
        };
        let types = bound.iter().map(|(_, ty)| ty.clone()).collect::<Vec<_>>();
        Ok(match cache.plan(sql, &types) {
            Plan::Cached(statement) => Some(statement),
            Plan::Unnamed => None,
            Plan::Prepare => {
                let statement = self
                    .db
                    .client
                    .prepare_typed(sql, &types)
                    .await
                    .map_err(driver_error)?;
                cache.keep(sql, &types, statement.clone());
                Some(statement)
            }
        })
    }
}

/// Borrows bound values as plain parameters, for a named statement.
fn value_refs(bound: &[params::Bound]) -> Vec<&(dyn ToSql + Sync)> {
    bound
        .iter()
        .map(|(value, _)| &**value as &(dyn ToSql + Sync))
        .collect()
}

fn driver_error(error: tokio_postgres::Error) -> RustAuthError {
    RustAuthError::from(Error::from(error))
}

/// Borrows bound parameters in the shape `*_typed` expects.
fn typed_refs(bound: &[params::Bound]) -> Vec<(&(dyn ToSql + Sync), tokio_postgres::types::Type)> {
    bound
        .iter()
        .map(|(value, ty)| (&**value as &(dyn ToSql + Sync), ty.clone()))
        .collect()
}

impl<C> SqlExecutor for PgExecutor<'_, C>
where
    C: GenericClient + Sync,
{
    type Row = Row;

    fn execute<'a>(&'a mut self, statement: SqlStatement) -> AdapterFuture<'a, u64> {
        Box::pin(async move {
            let bound = params::bind_all(&self.table, &statement.params)?;
            let client = self.db.client;
            match self.named(&statement.sql, &bound).await? {
                Some(named) => client.execute(&named, &value_refs(&bound)).await,
                None => {
                    client
                        .execute_typed(&statement.sql, &typed_refs(&bound))
                        .await
                }
            }
            .map_err(driver_error)
        })
    }

    fn fetch_all<'a>(&'a mut self, statement: SqlStatement) -> AdapterFuture<'a, Vec<Row>> {
        Box::pin(async move {
            let bound = params::bind_all(&self.table, &statement.params)?;
            let client = self.db.client;
            match self.named(&statement.sql, &bound).await? {
                Some(named) => client.query(&named, &value_refs(&bound)).await,
                None => {
                    client
                        .query_typed(&statement.sql, &typed_refs(&bound))
                        .await
                }
            }
            .map_err(driver_error)
        })
    }

    fn fetch_optional<'a>(&'a mut self, statement: SqlStatement) -> AdapterFuture<'a, Option<Row>> {
        Box::pin(async move {
            let bound = params::bind_all(&self.table, &statement.params)?;
            let client = self.db.client;
            match self.named(&statement.sql, &bound).await? {
                Some(named) => client.query_opt(&named, &value_refs(&bound)).await,
                None => {
                    client
                        .query_typed_opt(&statement.sql, &typed_refs(&bound))
                        .await
                }
            }
            .map_err(driver_error)
        })
    }

    fn fetch_scalar_i64<'a>(&'a mut self, statement: SqlStatement) -> AdapterFuture<'a, i64> {
        Box::pin(async move {
            let bound = params::bind_all(&self.table, &statement.params)?;
            let client = self.db.client;
            let row = match self.named(&statement.sql, &bound).await? {
                Some(named) => client.query_opt(&named, &value_refs(&bound)).await,
                None => {
                    client
                        .query_typed_opt(&statement.sql, &typed_refs(&bound))
                        .await
                }
            }
            .map_err(driver_error)?
            .ok_or_else(|| {
                RustAuthError::from(Error::Usage("scalar query returned no row".to_owned()))
            })?;
            // `try_get` turns a non-INT8 or NULL scalar into an error instead of a panic.
            row.try_get::<_, i64>(0).map_err(driver_error)
        })
    }
}

type Runner<'a, C> = SqlAdapterRunner<'a, PgExecutor<'a, C>, PgRowReader>;

fn runner<'a, C>(db: Db<'a, C>, schema: &'a DbSchema, table: &DbTable) -> Runner<'a, C> {
    SqlAdapterRunner::new(
        SqlDialect::Postgres,
        schema,
        PgExecutor::new(db, table.name.clone()),
        PgRowReader::new(table.name.clone()),
    )
}

/// Inserts one row; see contract §1.3 for the two return shapes.
pub(crate) async fn create<C: GenericClient + Sync>(
    db: Db<'_, C>,
    schema: &DbSchema,
    query: Create,
) -> Result<DbRecord, RustAuthError> {
    let table = resolve_table(schema, &query.model)?;
    params::check_record(table, &query.data)?;
    runner(db, schema, table).create(query).await
}

/// Reads at most one row (`LIMIT 1`, no ORDER BY); with joins, the first joined record.
pub(crate) async fn find_one<C: GenericClient + Sync>(
    db: Db<'_, C>,
    schema: &DbSchema,
    query: FindOne,
) -> Result<Option<DbRecord>, RustAuthError> {
    let table = resolve_table(schema, &query.model)?;
    params::check_where(table, &query.where_clauses)?;
    if query.joins.values().any(|join| join.enabled) {
        let mut many = FindMany::new(query.model);
        many.where_clauses = query.where_clauses;
        many.limit = Some(1);
        many.select = query.select;
        many.joins = query.joins;
        return find_many_joined(db, schema, table, many)
            .await
            .map(|records| records.into_iter().next());
    }
    let mut query = query;
    query.joins.clear();
    runner(db, schema, table).find_one(query).await
}

/// Reads rows with filters, sort, limit/offset and optional native joins.
pub(crate) async fn find_many<C: GenericClient + Sync>(
    db: Db<'_, C>,
    schema: &DbSchema,
    mut query: FindMany,
) -> Result<Vec<DbRecord>, RustAuthError> {
    let table = resolve_table(schema, &query.model)?;
    params::check_where(table, &query.where_clauses)?;
    query.limit = query.limit.map(clamp_rows);
    query.offset = query.offset.map(clamp_rows);
    // Disabled joins add no output key, so they need not force the joined (id-grouped) path.
    query.joins.retain(|_, join| join.enabled);
    if query.joins.is_empty() {
        return runner(db, schema, table).find_many(query).await;
    }
    find_many_joined(db, schema, table, query).await
}

/// Clamps a LIMIT/OFFSET to `i64::MAX`.
///
/// The planner renders them as literals, and PostgreSQL reads those as `bigint`: a larger
/// `usize` (callers pass `usize::MAX` to mean "no limit") failed with SQLSTATE 22003 instead of
/// returning every row. No table holds more than `i64::MAX` rows, so clamping keeps the result.
fn clamp_rows(rows: usize) -> usize {
    rows.min(usize::try_from(i64::MAX).unwrap_or(usize::MAX))
}

/// Runs core's joined statement, with the base sort re-applied to the outer query.
///
/// The runner's native join path orders only the inner base query, so the LEFT JOIN may return
/// base rows in any order. Here the sort column is forced into the base selection (it is
/// trimmed again by `joined_rows`, which only outputs the caller's `select`) and the outer
/// query is ordered by its alias. The sort is evaluated by PostgreSQL on the same column, so
/// collation and NULL placement match the inner query exactly.
async fn find_many_joined<C: GenericClient + Sync>(
    db: Db<'_, C>,
    schema: &DbSchema,
    table: &DbTable,
    query: FindMany,
) -> Result<Vec<DbRecord>, RustAuthError> {
    let output_select = logical_select(table, &query.select)?;
    let mut planned = query.clone();
    // An unknown sort field is left for the planner to report as `FieldNotFound`.
    if let Some(Ok((logical, field))) = query
        .sort_by
        .as_ref()
        .map(|sort| resolve_field(table, &sort.field))
    {
        let selected = planned
            .select
            .iter()
            .any(|name| resolve_field(table, name).is_ok_and(|(_, f)| f.name == field.name));
        if !planned.select.is_empty() && !selected {
            planned.select.push(logical.to_owned());
        }
    }
    let read = find_many_with_joins_statement(SqlDialect::Postgres, schema, &planned)?;
    let mut statement = read.statement;
    if let Some(sort) = &query.sort_by {
        statement
            .sql
            .push_str(&joined_order_by(table, &read.base_selection, sort)?);
    }
    let mut executor = PgExecutor::new(db, table.name.clone());
    let rows = executor.fetch_all(statement).await?;
    let reader = PgRowReader::new(table.name.clone());
    joined_rows(
        &rows,
        &read.base_selection,
        &output_select,
        &read.joins,
        |row, field, alias| reader.value_at(row, field, alias),
    )
}

/// Renders ` ORDER BY "__base_<k>" ASC|DESC` for the joined statement's outer query.
///
/// The clause is produced by core's `SqlDialect::order_limit_offset` over a one-field view of
/// the outer query (the base alias as its only column), so no SQL is written here.
fn joined_order_by(
    table: &DbTable,
    base_selection: &[(&str, &DbField)],
    sort: &Sort,
) -> Result<String, RustAuthError> {
    let (_, field) = resolve_field(table, &sort.field)?;
    let Some(index) = base_selection
        .iter()
        .position(|(_, selected)| selected.name == field.name)
    else {
        return Err(Error::Usage("sort column missing from joined selection".to_owned()).into());
    };
    let alias = base_alias(index);
    let outer = DbTable {
        name: "base".to_owned(),
        fields: [(
            alias.clone(),
            DbField::new(alias.clone(), field.field_type.clone()),
        )]
        .into_iter()
        .collect(),
        order: None,
    };
    SqlDialect::Postgres.order_limit_offset(
        &outer,
        Some(&Sort::new(alias, sort.direction)),
        None,
        None,
    )
}

/// `joined_rows` keeps base fields by *logical* name; map physical spellings to logical ones.
fn logical_select(table: &DbTable, select: &[String]) -> Result<Vec<String>, RustAuthError> {
    select
        .iter()
        .map(|name| resolve_field(table, name).map(|(logical, _)| logical.to_owned()))
        .collect()
}

/// Counts matching rows.
pub(crate) async fn count<C: GenericClient + Sync>(
    db: Db<'_, C>,
    schema: &DbSchema,
    query: Count,
) -> Result<u64, RustAuthError> {
    let table = resolve_table(schema, &query.model)?;
    params::check_where(table, &query.where_clauses)?;
    runner(db, schema, table).count(query).await
}

/// Updates at most one matching row and returns it; empty `data` is `Ok(None)` with no SQL.
pub(crate) async fn update<C: GenericClient + Sync>(
    db: Db<'_, C>,
    schema: &DbSchema,
    query: Update,
) -> Result<Option<DbRecord>, RustAuthError> {
    let table = resolve_table(schema, &query.model)?;
    if !query.data.is_empty() {
        params::check_record(table, &query.data)?;
        params::check_where(table, &query.where_clauses)?;
    }
    runner(db, schema, table).update(query).await
}

/// Updates every matching row and returns the count; empty `data` is `Ok(0)` with no SQL.
pub(crate) async fn update_many<C: GenericClient + Sync>(
    db: Db<'_, C>,
    schema: &DbSchema,
    query: UpdateMany,
) -> Result<u64, RustAuthError> {
    let table = resolve_table(schema, &query.model)?;
    if !query.data.is_empty() {
        params::check_record(table, &query.data)?;
        params::check_where(table, &query.where_clauses)?;
    }
    runner(db, schema, table).update_many(query).await
}

/// Deletes at most one matching row.
pub(crate) async fn delete<C: GenericClient + Sync>(
    db: Db<'_, C>,
    schema: &DbSchema,
    query: Delete,
) -> Result<(), RustAuthError> {
    let table = resolve_table(schema, &query.model)?;
    params::check_where(table, &query.where_clauses)?;
    runner(db, schema, table).delete(query).await
}

/// Deletes every matching row and returns the exact count.
pub(crate) async fn delete_many<C: GenericClient + Sync>(
    db: Db<'_, C>,
    schema: &DbSchema,
    query: DeleteMany,
) -> Result<u64, RustAuthError> {
    let table = resolve_table(schema, &query.model)?;
    params::check_where(table, &query.where_clauses)?;
    runner(db, schema, table).delete_many(query).await
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use rustauth_core::db::{DbFieldType, SortDirection};

    use super::*;

    fn table() -> DbTable {
        DbTable {
            name: "users".into(),
            fields: [
                ("id".to_owned(), DbField::new("id", DbFieldType::String)),
                (
                    "created_at".to_owned(),
                    DbField::new("created", DbFieldType::Timestamp),
                ),
            ]
            .into_iter()
            .collect(),
            order: None,
        }
    }

    #[test]
    fn joined_order_by_targets_the_base_alias_of_the_sort_column() {
        let table = table();
        let selection: Vec<(&str, &DbField)> =
            table.fields.iter().map(|(k, v)| (k.as_str(), v)).collect();
        let sql = joined_order_by(
            &table,
            &selection,
            &Sort::new("created", SortDirection::Desc),
        );
        assert_eq!(sql.unwrap(), r#" ORDER BY "__base_1" DESC"#);
    }

    #[test]
    fn page_sizes_beyond_bigint_are_clamped() {
        assert_eq!(clamp_rows(usize::MAX) as u64, i64::MAX as u64);
        assert_eq!(clamp_rows(7), 7);
    }

    #[test]
    fn select_is_normalized_to_logical_names() {
        assert_eq!(
            logical_select(&table(), &["created".to_owned(), "id".to_owned()]).unwrap(),
            vec!["created_at".to_owned(), "id".to_owned()]
        );
    }

    fn assert_send<T: Send>(_: T) {}

    #[allow(dead_code)]
    fn futures_are_send(
        client: &tokio_postgres::Client,
        tx: &tokio_postgres::Transaction<'_>,
        schema: &DbSchema,
    ) {
        let client = Db {
            client,
            statements: None,
        };
        let tx = Db {
            client: tx,
            statements: None,
        };
        assert_send(create(client, schema, Create::new("user")));
        assert_send(find_one(tx, schema, FindOne::new("user")));
        assert_send(find_many(client, schema, FindMany::new("user")));
        assert_send(count(tx, schema, Count::new("user")));
        assert_send(update(client, schema, Update::new("user")));
        assert_send(update_many(client, schema, UpdateMany::new("user")));
        assert_send(delete(client, schema, Delete::new("user")));
        assert_send(delete_many(tx, schema, DeleteMany::new("user")));
    }
}
