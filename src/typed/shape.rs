//! Recognising the query shapes that have a typed statement.
//!
//! A query runs typed only when its semantics are exactly those of a compiled statement:
//! equality predicates on plain string values (no NULL, which would mean `IS NULL`; no
//! insensitive mode, which would mean `LOWER()`), joined by AND. Everything else returns `None`
//! here and is served by the dynamic planner.

use rustauth_core::db::{
    Connector, DbField, DbFieldType, DbRecord, DbTable, DbValue, Where, WhereMode, WhereOperator,
};
use time::OffsetDateTime;

/// True when the clauses combine with AND semantics: core puts every `Or` clause into one OR
/// group, and a group of one behaves like AND.
fn all_and(clauses: &[Where]) -> bool {
    clauses
        .iter()
        .filter(|c| c.connector == Connector::Or)
        .count()
        <= 1
}

/// The string values of `clauses` when they are exactly `field = 'value'` for each of `fields`,
/// in any order, returned in the order of `fields`.
pub(crate) fn eq_strings<'q, const N: usize>(
    clauses: &'q [Where],
    fields: [&str; N],
) -> Option<[&'q str; N]> {
    if clauses.len() != N || !all_and(clauses) {
        return None;
    }
    let mut values: [Option<&'q str>; N] = [None; N];
    for clause in clauses {
        if clause.operator != WhereOperator::Eq || clause.mode != WhereMode::Sensitive {
            return None;
        }
        let DbValue::String(value) = &clause.value else {
            return None;
        };
        let slot = fields.iter().position(|field| *field == clause.field)?;
        if values[slot].is_some() || value.contains('\0') {
            return None;
        }
        values[slot] = Some(value.as_str());
    }
    let mut out = [""; N];
    for (slot, value) in out.iter_mut().zip(values) {
        *slot = value?;
    }
    Some(out)
}

/// The values of a single `field IN (...)` over a string array.
pub(crate) fn in_strings<'q>(clauses: &'q [Where], field: &str) -> Option<&'q [String]> {
    let [clause] = clauses else { return None };
    if clause.field != field
        || clause.operator != WhereOperator::In
        || clause.mode != WhereMode::Sensitive
    {
        return None;
    }
    match &clause.value {
        DbValue::StringArray(values) if !values.iter().any(|v| v.contains('\0')) => Some(values),
        _ => None,
    }
}

/// The instant of a single `field < timestamp`.
pub(crate) fn lt_timestamp(clauses: &[Where], field: &str) -> Option<OffsetDateTime> {
    let [clause] = clauses else { return None };
    match (&clause.value, clause.operator) {
        (DbValue::Timestamp(at), WhereOperator::Lt) if clause.field == field => Some(*at),
        _ => None,
    }
}

/// A value for one column of a typed insert or update.
#[derive(Debug, Clone, Copy)]
pub(crate) enum ColumnValue<'q> {
    Text(Option<&'q str>),
    Bool(Option<bool>),
    Timestamp(Option<OffsetDateTime>),
}

/// Checks `value` against the column's type; `None` sends the query to the dynamic path, which
/// reports the mismatch (or the NUL byte) with its own clear error.
pub(crate) fn column_value<'q>(field: &DbField, value: &'q DbValue) -> Option<ColumnValue<'q>> {
    Some(match (&field.field_type, value) {
        (DbFieldType::String, DbValue::String(s)) if !s.contains('\0') => {
            ColumnValue::Text(Some(s))
        }
        (DbFieldType::String, DbValue::Null) => ColumnValue::Text(None),
        (DbFieldType::Boolean, DbValue::Boolean(b)) => ColumnValue::Bool(Some(*b)),
        (DbFieldType::Boolean, DbValue::Null) => ColumnValue::Bool(None),
        (DbFieldType::Timestamp, DbValue::Timestamp(t)) => ColumnValue::Timestamp(Some(*t)),
        (DbFieldType::Timestamp, DbValue::Null) => ColumnValue::Timestamp(None),
        _ => return None,
    })
}

/// Column values of `data`, keyed by logical field name, checked against `table`.
///
/// `None` when a key is not a field of the table, is listed in `excluded`, or holds a value of
/// the wrong type.
pub(crate) fn data_values<'t, 'q>(
    table: &'t DbTable,
    data: &'q DbRecord,
    excluded: &[&str],
) -> Option<Vec<(&'t str, ColumnValue<'q>)>> {
    data.iter()
        .map(|(key, value)| {
            let (logical, field) = table
                .fields
                .iter()
                .find(|(logical, field)| *logical == key || field.name == *key)?;
            if excluded.contains(&logical.as_str()) {
                return None;
            }
            Some((logical.as_str(), column_value(field, value)?))
        })
        .collect()
}

/// The typed value set for one column, if present in `values`.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Set<T> {
    pub(crate) set: bool,
    pub(crate) value: Option<T>,
}

impl<T> Default for Set<T> {
    fn default() -> Self {
        Self {
            set: false,
            value: None,
        }
    }
}

/// Finds the value for `column` in checked data.
pub(crate) fn text<'q>(values: &[(&str, ColumnValue<'q>)], column: &str) -> Set<&'q str> {
    match values.iter().find(|(key, _)| *key == column) {
        Some((_, ColumnValue::Text(value))) => Set {
            set: true,
            value: *value,
        },
        _ => Set::default(),
    }
}

/// Finds the boolean for `column` in checked data.
pub(crate) fn boolean(values: &[(&str, ColumnValue<'_>)], column: &str) -> Set<bool> {
    match values.iter().find(|(key, _)| *key == column) {
        Some((_, ColumnValue::Bool(value))) => Set {
            set: true,
            value: *value,
        },
        _ => Set::default(),
    }
}

/// Finds the timestamp for `column` in checked data.
pub(crate) fn timestamp(values: &[(&str, ColumnValue<'_>)], column: &str) -> Set<OffsetDateTime> {
    match values.iter().find(|(key, _)| *key == column) {
        Some((_, ColumnValue::Timestamp(value))) => Set {
            set: true,
            value: *value,
        },
        _ => Set::default(),
    }
}
