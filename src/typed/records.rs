//! Typed rows to `DbRecord`s keyed by logical field names, in schema order, as the dynamic path
//! returns them; and the `select` projection.

use rustauth_core::db::sql::resolve_field;
use rustauth_core::db::{DbRecord, DbTable, DbValue};
use rustauth_core::error::RustAuthError;
use time::OffsetDateTime;

use super::generated::queries::{
    account::AccountRow, session::SessionRow, user::UserRow, verification::VerificationRow,
};

fn text(value: String) -> DbValue {
    DbValue::String(value)
}

fn optional_text(value: Option<String>) -> DbValue {
    value.map_or(DbValue::Null, DbValue::String)
}

fn at(value: OffsetDateTime) -> DbValue {
    DbValue::Timestamp(value)
}

fn optional_at(value: Option<OffsetDateTime>) -> DbValue {
    value.map_or(DbValue::Null, DbValue::Timestamp)
}

fn record<const N: usize>(fields: [(&str, DbValue); N]) -> DbRecord {
    fields
        .into_iter()
        .map(|(name, value)| (name.to_owned(), value))
        .collect()
}

impl From<UserRow> for DbRecord {
    fn from(row: UserRow) -> Self {
        record([
            ("id", text(row.id)),
            ("name", text(row.name)),
            ("email", text(row.email)),
            ("email_verified", DbValue::Boolean(row.email_verified)),
            ("image", optional_text(row.image)),
            ("created_at", at(row.created_at)),
            ("updated_at", at(row.updated_at)),
        ])
    }
}

impl From<SessionRow> for DbRecord {
    fn from(row: SessionRow) -> Self {
        record([
            ("id", text(row.id)),
            ("expires_at", at(row.expires_at)),
            ("token", text(row.token)),
            ("created_at", at(row.created_at)),
            ("updated_at", at(row.updated_at)),
            ("ip_address", optional_text(row.ip_address)),
            ("user_agent", optional_text(row.user_agent)),
            ("user_id", text(row.user_id)),
        ])
    }
}

impl From<AccountRow> for DbRecord {
    fn from(row: AccountRow) -> Self {
        record([
            ("id", text(row.id)),
            ("account_id", text(row.account_id)),
            ("provider_id", text(row.provider_id)),
            ("user_id", text(row.user_id)),
            ("access_token", optional_text(row.access_token)),
            ("refresh_token", optional_text(row.refresh_token)),
            ("id_token", optional_text(row.id_token)),
            (
                "access_token_expires_at",
                optional_at(row.access_token_expires_at),
            ),
            (
                "refresh_token_expires_at",
                optional_at(row.refresh_token_expires_at),
            ),
            ("scope", optional_text(row.scope)),
            ("password", optional_text(row.password)),
            ("created_at", at(row.created_at)),
            ("updated_at", at(row.updated_at)),
        ])
    }
}

impl From<VerificationRow> for DbRecord {
    fn from(row: VerificationRow) -> Self {
        record([
            ("id", text(row.id)),
            ("identifier", text(row.identifier)),
            ("value", text(row.value)),
            ("expires_at", at(row.expires_at)),
            ("created_at", at(row.created_at)),
            ("updated_at", at(row.updated_at)),
        ])
    }
}

/// Keeps the `select`ed fields of a full record, in `select` order, keyed logically.
///
/// An empty `select` keeps every field. Names are resolved like the dynamic planner resolves
/// them (logical or physical), with the same `FieldNotFound` error.
pub(crate) fn project(
    table: &DbTable,
    mut full: DbRecord,
    select: &[String],
) -> Result<DbRecord, RustAuthError> {
    if select.is_empty() {
        return Ok(full);
    }
    let mut projected = DbRecord::with_capacity(select.len());
    for name in select {
        let (logical, _) = resolve_field(table, name)?;
        if projected.contains_key(logical) {
            // Selected twice: one key, as the dynamic path returns it.
            continue;
        }
        // Moved, not cloned: each field is taken at most once.
        let value = full.swap_remove(logical).unwrap_or(DbValue::Null);
        projected.insert(logical.to_owned(), value);
    }
    Ok(projected)
}

/// Checks a `select` list up front, so an unknown field fails before any I/O, as it does on
/// the dynamic path.
pub(crate) fn check_select(table: &DbTable, select: &[String]) -> Result<(), RustAuthError> {
    select
        .iter()
        .try_for_each(|name| resolve_field(table, name).map(|_| ()))
}
