//! Decodes tokio-postgres rows into [`DbValue`]s for core's SQL runner.
//!
//! Columns are looked up by the alias the planner gave them, and the Rust type is chosen from
//! the schema field (what core's record parsers expect), refined by the column's actual wire
//! type where the planner's `type_matches` accepts more than the canonical DDL: a `uuid` column
//! behind a string field, `integer`/`smallint` behind a number field and `timestamp` without a
//! time zone behind a timestamp field still decode instead of failing.
//!
//! SQL NULL is always [`DbValue::Null`]; JSON `null` stays [`DbValue::Json`]`(Null)`. Nothing here
//! panics: a missing alias, an unexpected type or an array with NULL elements is an error.

use rustauth_core::db::{DbField, DbFieldType, DbValue, SqlRowReader};
use rustauth_core::error::RustAuthError;
use tokio_postgres::Row;
use tokio_postgres::types::{FromSql, Type};

use crate::Error;

/// Reads planner-selected columns out of [`Row`]s.
#[derive(Debug, Clone)]
pub(crate) struct PgRowReader {
    /// Physical table name used in error messages.
    table: String,
}

impl PgRowReader {
    /// Creates a reader whose errors name `table`.
    pub(crate) fn new(table: impl Into<String>) -> Self {
        Self {
            table: table.into(),
        }
    }
}

impl SqlRowReader<Row> for PgRowReader {
    fn value_at(&self, row: &Row, field: &DbField, alias: &str) -> Result<DbValue, RustAuthError> {
        read_value(row, field, alias, &self.table).map_err(RustAuthError::from)
    }
}

fn read_value(row: &Row, field: &DbField, alias: &str, table: &str) -> Result<DbValue, Error> {
    let Some(index) = row
        .columns()
        .iter()
        .position(|column| column.name() == alias)
    else {
        return Err(Error::value(
            table,
            &field.name,
            "the result has no column for this field",
        ));
    };
    let ty = row.columns()[index].type_().clone();
    let value = match field.field_type {
        DbFieldType::String if ty == Type::UUID => {
            get::<uuid::Uuid>(row, index)?.map(|id| DbValue::String(id.hyphenated().to_string()))
        }
        DbFieldType::String => get::<String>(row, index)?.map(DbValue::String),
        DbFieldType::Number if ty == Type::INT4 => {
            get::<i32>(row, index)?.map(|n| DbValue::Number(n.into()))
        }
        DbFieldType::Number if ty == Type::INT2 => {
            get::<i16>(row, index)?.map(|n| DbValue::Number(n.into()))
        }
        DbFieldType::Number => get::<i64>(row, index)?.map(DbValue::Number),
        DbFieldType::Boolean => get::<bool>(row, index)?.map(DbValue::Boolean),
        // A zone-less timestamp is read as UTC, the zone RustAuth writes in.
        DbFieldType::Timestamp if ty == Type::TIMESTAMP => {
            get::<time::PrimitiveDateTime>(row, index)?
                .map(|at| DbValue::Timestamp(at.assume_utc()))
        }
        DbFieldType::Timestamp => get::<time::OffsetDateTime>(row, index)?.map(DbValue::Timestamp),
        DbFieldType::Json => get::<serde_json::Value>(row, index)?.map(DbValue::Json),
        DbFieldType::StringArray => get::<Vec<Option<String>>>(row, index)?
            .map(|items| no_null_items(items, table, &field.name))
            .transpose()?
            .map(DbValue::StringArray),
        DbFieldType::NumberArray => get::<Vec<Option<i64>>>(row, index)?
            .map(|items| no_null_items(items, table, &field.name))
            .transpose()?
            .map(DbValue::NumberArray),
    };
    Ok(value.unwrap_or(DbValue::Null))
}

/// Reads a nullable column; the driver reports type mismatches as errors, never panics.
fn get<'r, T: FromSql<'r>>(row: &'r Row, index: usize) -> Result<Option<T>, Error> {
    row.try_get::<_, Option<T>>(index).map_err(Error::from)
}

/// `DbValue` arrays have no NULL element, so such an array is a data error rather than a
/// silently shortened list.
fn no_null_items<T>(items: Vec<Option<T>>, table: &str, column: &str) -> Result<Vec<T>, Error> {
    items
        .into_iter()
        .collect::<Option<Vec<T>>>()
        .ok_or_else(|| Error::value(table, column, "array contains NULL elements"))
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use super::*;

    #[test]
    fn null_array_items_are_a_value_error() {
        let err = no_null_items(vec![Some(1_i64), None], "t", "c").unwrap_err();
        assert_eq!(
            err.to_string(),
            "invalid value for `t.c`: array contains NULL elements"
        );
        assert_eq!(
            no_null_items::<i64>(vec![], "t", "c").unwrap(),
            Vec::<i64>::new()
        );
    }
}
