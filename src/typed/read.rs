//! Typed reads: `find_one`, `find_many` and `count` shapes core issues on the fixed tables.

use rustauth_core::db::{Count, DbRecord, DbTable, FindMany, FindOne, Sort, SortDirection};

use super::Model;
use super::client::Session;
use super::generated::queries::{account, session, user, verification};
use super::shape::{eq_strings, in_strings};

/// Row order a list statement was compiled with.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Order {
    Unsorted,
    CreatedAtDesc,
    CreatedAtAsc,
}

/// A read that a compiled statement serves.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Read<'q> {
    UserById(&'q str),
    UserByEmail(&'q str),
    Users(Order),
    SessionByToken(&'q str),
    SessionById(&'q str),
    SessionsByTokens(&'q [String]),
    SessionsByUserId(&'q str, Order),
    AccountById(&'q str),
    AccountByUserAndProvider(&'q str, &'q str),
    AccountByAccountAndProvider(&'q str, &'q str),
    AccountsByUserId(&'q str),
    VerificationByIdentifier(&'q str),
    VerificationsByIdentifierNewestFirst(&'q str),
}

impl Read<'_> {
    /// Whether the statement pages in SQL (`LIMIT :limit OFFSET :offset`); the others return at
    /// most a handful of rows that are paged in memory.
    fn pages_in_sql(self) -> bool {
        matches!(
            self,
            Read::Users(_)
                | Read::SessionsByUserId(..)
                | Read::AccountsByUserId(_)
                | Read::VerificationsByIdentifierNewestFirst(_)
        )
    }
}

/// Rows to skip and keep, already checked to fit the statements' BIGINT parameters.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub(crate) struct Page {
    pub(crate) limit: Option<i64>,
    pub(crate) offset: Option<i64>,
}

impl Page {
    fn new(limit: Option<usize>, offset: Option<usize>) -> Option<Self> {
        let convert = |value: Option<usize>| value.map(i64::try_from).transpose().ok();
        Some(Self {
            limit: convert(limit)?,
            offset: convert(offset)?,
        })
    }

    fn apply(self, mut rows: Vec<DbRecord>) -> Vec<DbRecord> {
        let skip = usize::try_from(self.offset.unwrap_or(0)).unwrap_or(usize::MAX);
        rows.drain(..skip.min(rows.len()));
        if let Some(limit) = self.limit {
            rows.truncate(usize::try_from(limit).unwrap_or(usize::MAX));
        }
        rows
    }
}

fn unique_lookup<'q>(
    model: Model,
    query_where: &'q [rustauth_core::db::Where],
) -> Option<Read<'q>> {
    Some(match model {
        Model::User => match eq_strings(query_where, ["id"]) {
            Some([id]) => Read::UserById(id),
            None => Read::UserByEmail(eq_strings(query_where, ["email"])?[0]),
        },
        Model::Session => match eq_strings(query_where, ["token"]) {
            Some([token]) => Read::SessionByToken(token),
            None => Read::SessionById(eq_strings(query_where, ["id"])?[0]),
        },
        Model::Account => Read::AccountById(eq_strings(query_where, ["id"])?[0]),
        Model::Verification | Model::RateLimit => return None,
    })
}

/// The typed statement for a `find_one`, if its shape has one.
pub(crate) fn plan_find_one(model: Model, query: &FindOne) -> Option<Read<'_>> {
    if !query.joins.is_empty() {
        return None;
    }
    let clauses = query.where_clauses.as_slice();
    if let Some(read) = unique_lookup(model, clauses) {
        return Some(read);
    }
    Some(match model {
        Model::Session => {
            Read::SessionsByUserId(eq_strings(clauses, ["user_id"])?[0], Order::Unsorted)
        }
        Model::Account => {
            if let Some([user_id, provider_id]) = eq_strings(clauses, ["user_id", "provider_id"]) {
                Read::AccountByUserAndProvider(user_id, provider_id)
            } else if let Some([account_id, provider_id]) =
                eq_strings(clauses, ["account_id", "provider_id"])
            {
                Read::AccountByAccountAndProvider(account_id, provider_id)
            } else {
                Read::AccountsByUserId(eq_strings(clauses, ["user_id"])?[0])
            }
        }
        Model::Verification => {
            Read::VerificationByIdentifier(eq_strings(clauses, ["identifier"])?[0])
        }
        Model::User | Model::RateLimit => return None,
    })
}

fn order(table: &DbTable, sort: Option<&Sort>) -> Option<Order> {
    let Some(sort) = sort else {
        return Some(Order::Unsorted);
    };
    let (logical, _) = rustauth_core::db::sql::resolve_field(table, &sort.field).ok()?;
    match (logical, sort.direction) {
        ("created_at", SortDirection::Desc) => Some(Order::CreatedAtDesc),
        ("created_at", SortDirection::Asc) => Some(Order::CreatedAtAsc),
        _ => None,
    }
}

/// The typed statement and page for a `find_many`, if its shape has one.
pub(crate) fn plan_find_many<'q>(
    model: Model,
    table: &DbTable,
    query: &'q FindMany,
) -> Option<(Read<'q>, Page)> {
    if !query.joins.is_empty() {
        return None;
    }
    let page = Page::new(query.limit, query.offset)?;
    let clauses = query.where_clauses.as_slice();
    if let Some(read) = unique_lookup(model, clauses) {
        // At most one row: any sort on an existing field gives the same result.
        if let Some(sort) = &query.sort_by {
            rustauth_core::db::sql::resolve_field(table, &sort.field).ok()?;
        }
        return Some((read, page));
    }
    let order = order(table, query.sort_by.as_ref())?;
    let read = match (model, order) {
        (Model::User, order) if clauses.is_empty() => Read::Users(order),
        (Model::Session, Order::Unsorted) if in_strings(clauses, "token").is_some() => {
            Read::SessionsByTokens(in_strings(clauses, "token")?)
        }
        (Model::Session, Order::Unsorted | Order::CreatedAtDesc) => {
            Read::SessionsByUserId(eq_strings(clauses, ["user_id"])?[0], order)
        }
        (Model::Account, Order::Unsorted) => {
            Read::AccountsByUserId(eq_strings(clauses, ["user_id"])?[0])
        }
        (Model::Verification, Order::CreatedAtDesc) => {
            Read::VerificationsByIdentifierNewestFirst(eq_strings(clauses, ["identifier"])?[0])
        }
        _ => return None,
    };
    Some((read, page))
}

/// Whether a `count` has a typed statement.
pub(crate) fn plan_count(model: Model, query: &Count) -> bool {
    model == Model::User && query.where_clauses.is_empty()
}

/// Runs a planned read and returns full records (every column, schema order).
pub(crate) async fn run(
    session: Session<'_>,
    read: Read<'_>,
    page: Page,
) -> Result<Vec<DbRecord>, tokio_postgres::Error> {
    let (limit, offset) = (&page.limit, &page.offset);
    let rows: Vec<DbRecord> = match read {
        Read::UserById(id) => rows(with_statement!(
            session,
            user::find_user_by_id,
            |stmt, db| stmt.bind(&db, &id).opt().await?
        )),
        Read::UserByEmail(email) => rows(with_statement!(
            session,
            user::find_user_by_email,
            |stmt, db| stmt.bind(&db, &email).opt().await?
        )),
        Read::Users(Order::Unsorted) => {
            all(with_statement!(session, user::list_users, |stmt, db| stmt
                .bind(&db, limit, offset)
                .all()
                .await?))
        }
        Read::Users(Order::CreatedAtDesc) => all(with_statement!(
            session,
            user::list_users_by_created_at_desc,
            |stmt, db| stmt.bind(&db, limit, offset).all().await?
        )),
        Read::Users(Order::CreatedAtAsc) => all(with_statement!(
            session,
            user::list_users_by_created_at_asc,
            |stmt, db| stmt.bind(&db, limit, offset).all().await?
        )),
        Read::SessionByToken(token) => rows(with_statement!(
            session,
            session::find_session_by_token,
            |stmt, db| stmt.bind(&db, &token).opt().await?
        )),
        Read::SessionById(id) => rows(with_statement!(
            session,
            session::find_session_by_id,
            |stmt, db| stmt.bind(&db, &id).opt().await?
        )),
        Read::SessionsByTokens(tokens) => all(with_statement!(
            session,
            session::find_sessions_by_tokens,
            |stmt, db| stmt.bind(&db, &tokens).all().await?
        )),
        Read::SessionsByUserId(user_id, Order::CreatedAtDesc) => all(with_statement!(
            session,
            session::find_sessions_by_user_id_by_created_at_desc,
            |stmt, db| stmt.bind(&db, &user_id, limit, offset).all().await?
        )),
        Read::SessionsByUserId(user_id, _) => all(with_statement!(
            session,
            session::find_sessions_by_user_id,
            |stmt, db| stmt.bind(&db, &user_id, limit, offset).all().await?
        )),
        Read::AccountById(id) => rows(with_statement!(
            session,
            account::find_account_by_id,
            |stmt, db| stmt.bind(&db, &id).opt().await?
        )),
        Read::AccountByUserAndProvider(user_id, provider_id) => rows(with_statement!(
            session,
            account::find_account_by_user_id_and_provider_id,
            |stmt, db| stmt.bind(&db, &user_id, &provider_id).opt().await?
        )),
        Read::AccountByAccountAndProvider(account_id, provider_id) => rows(with_statement!(
            session,
            account::find_account_by_account_id_and_provider_id,
            |stmt, db| stmt.bind(&db, &account_id, &provider_id).opt().await?
        )),
        Read::AccountsByUserId(user_id) => all(with_statement!(
            session,
            account::find_accounts_by_user_id,
            |stmt, db| stmt.bind(&db, &user_id, limit, offset).all().await?
        )),
        Read::VerificationByIdentifier(identifier) => rows(with_statement!(
            session,
            verification::find_verification_by_identifier,
            |stmt, db| stmt.bind(&db, &identifier).opt().await?
        )),
        Read::VerificationsByIdentifierNewestFirst(identifier) => all(with_statement!(
            session,
            verification::find_verifications_by_identifier_by_created_at_desc,
            |stmt, db| stmt.bind(&db, &identifier, limit, offset).all().await?
        )),
    };
    Ok(if read.pages_in_sql() {
        rows
    } else {
        page.apply(rows)
    })
}

/// Runs the typed `count`.
pub(crate) async fn count(session: Session<'_>) -> Result<i64, tokio_postgres::Error> {
    with_statement!(session, user::count_users, |stmt, db| stmt
        .bind(&db,)
        .one()
        .await)
}

fn rows<R: Into<DbRecord>>(row: Option<R>) -> Vec<DbRecord> {
    row.into_iter().map(Into::into).collect()
}

fn all<R: Into<DbRecord>>(rows: Vec<R>) -> Vec<DbRecord> {
    rows.into_iter().map(Into::into).collect()
}
