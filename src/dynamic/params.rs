//! Converts core's [`SqlParam`]s into tokio-postgres parameters with an explicit wire type.
//!
//! The dynamic path sends every statement with `query_typed`/`execute_typed`, so the server
//! never infers a parameter type. The type is chosen here from the *field* the planner bound
//! the value to (`SqlParam::field_type` + `generated_id`), never from the value, which gives
//! NULLs the column's type and turns id strings into `uuid` where the schema says so.
//!
//! Values are checked before anything is sent: a variant that does not match the field type,
//! a string with a NUL byte (PostgreSQL text cannot hold one) or an invalid UUID is rejected
//! with a reason that names the expected and actual kinds, never the value itself.

use postgres_types::{ToSql, Type};
use rustauth_core::db::sql::resolve_field;
use rustauth_core::db::{
    DbFieldType, DbRecord, DbTable, DbValue, IdGeneration, SqlParam, Where, WhereOperator,
};
use rustauth_core::error::RustAuthError;

use crate::Error;

/// A parameter value ready to be borrowed as `&(dyn ToSql + Sync)`.
pub(crate) type BoxedParam = Box<dyn ToSql + Sync + Send>;

/// A bound parameter: the owned value and the type announced to the server.
pub(crate) type Bound = (BoxedParam, Type);

/// The PostgreSQL type a parameter for this field is sent as.
///
/// Mirrors `SqlDialect::sql_type`, so values always match the DDL the planner emits.
pub(crate) fn wire_type(field_type: &DbFieldType, generated_id: Option<IdGeneration>) -> Type {
    match field_type {
        DbFieldType::String if generated_id == Some(IdGeneration::Uuid) => Type::UUID,
        DbFieldType::String => Type::TEXT,
        DbFieldType::Number => Type::INT8,
        DbFieldType::Boolean => Type::BOOL,
        DbFieldType::Timestamp => Type::TIMESTAMPTZ,
        DbFieldType::Json => Type::JSONB,
        DbFieldType::StringArray => Type::TEXT_ARRAY,
        DbFieldType::NumberArray => Type::INT8_ARRAY,
    }
}

/// Binds one planner parameter, or returns why it cannot be sent (without the value).
pub(crate) fn bind(param: &SqlParam) -> Result<Bound, String> {
    let ty = wire_type(&param.field_type, param.generated_id);
    let value: BoxedParam = match (&param.field_type, &param.value) {
        (_, DbValue::Null) => typed_null(&ty),
        (_, DbValue::Record(_) | DbValue::RecordArray(_)) => {
            return Err("joined records cannot be bound as parameters".to_owned());
        }
        (DbFieldType::String, DbValue::String(text)) if ty == Type::UUID => {
            let id = uuid::Uuid::parse_str(text).map_err(|_| "not a valid UUID".to_owned())?;
            Box::new(id)
        }
        (DbFieldType::String, DbValue::String(text)) => {
            reject_nul(text)?;
            Box::new(text.clone())
        }
        (DbFieldType::Number, DbValue::Number(number)) => Box::new(*number),
        (DbFieldType::Boolean, DbValue::Boolean(flag)) => Box::new(*flag),
        (DbFieldType::Timestamp, DbValue::Timestamp(at)) => Box::new(*at),
        (DbFieldType::Json, DbValue::Json(json)) => {
            reject_nul_in_json(json)?;
            Box::new(json.clone())
        }
        (DbFieldType::StringArray, DbValue::StringArray(items)) => {
            items.iter().try_for_each(|item| reject_nul(item))?;
            Box::new(items.clone())
        }
        (DbFieldType::NumberArray, DbValue::NumberArray(items)) => Box::new(items.clone()),
        (field_type, value) => {
            return Err(format!(
                "expected {}, got {}",
                field_kind(field_type, param.generated_id),
                value_kind(value)
            ));
        }
    };
    Ok((value, ty))
}

/// A SQL NULL carrying the column's type, so `INSERT … VALUES ($1)` and `SET c = $1` type-check.
fn typed_null(ty: &Type) -> BoxedParam {
    match *ty {
        Type::UUID => Box::new(None::<uuid::Uuid>),
        Type::INT8 => Box::new(None::<i64>),
        Type::BOOL => Box::new(None::<bool>),
        Type::TIMESTAMPTZ => Box::new(None::<time::OffsetDateTime>),
        Type::JSONB => Box::new(None::<serde_json::Value>),
        Type::TEXT_ARRAY => Box::new(None::<Vec<String>>),
        Type::INT8_ARRAY => Box::new(None::<Vec<i64>>),
        _ => Box::new(None::<String>),
    }
}

fn reject_nul(text: &str) -> Result<(), String> {
    if text.contains('\0') {
        return Err("text contains a NUL byte, which PostgreSQL cannot store".to_owned());
    }
    Ok(())
}

/// `jsonb` rejects `\u0000` in strings and keys (SQLSTATE 22P05); fail before sending instead.
fn reject_nul_in_json(json: &serde_json::Value) -> Result<(), String> {
    match json {
        serde_json::Value::String(text) => reject_nul(text),
        serde_json::Value::Array(items) => items.iter().try_for_each(reject_nul_in_json),
        serde_json::Value::Object(map) => map.iter().try_for_each(|(key, value)| {
            reject_nul(key)?;
            reject_nul_in_json(value)
        }),
        _ => Ok(()),
    }
}

fn field_kind(field_type: &DbFieldType, generated_id: Option<IdGeneration>) -> &'static str {
    match field_type {
        DbFieldType::String if generated_id == Some(IdGeneration::Uuid) => "a UUID string",
        DbFieldType::String => "a string",
        DbFieldType::Number => "a number",
        DbFieldType::Boolean => "a boolean",
        DbFieldType::Timestamp => "a timestamp",
        DbFieldType::Json => "a JSON value",
        DbFieldType::StringArray => "a string array",
        DbFieldType::NumberArray => "a number array",
    }
}

fn value_kind(value: &DbValue) -> &'static str {
    match value {
        DbValue::String(_) => "a string",
        DbValue::Number(_) => "a number",
        DbValue::Boolean(_) => "a boolean",
        DbValue::Timestamp(_) => "a timestamp",
        DbValue::Json(_) => "a JSON value",
        DbValue::StringArray(_) => "a string array",
        DbValue::NumberArray(_) => "a number array",
        DbValue::Record(_) => "a record",
        DbValue::RecordArray(_) => "a record array",
        DbValue::Null => "null",
    }
}

/// The most parameters one PostgreSQL statement can carry.
pub(crate) const MAX_PARAMS: usize = u16::MAX as usize;

/// Binds a whole statement's parameters; errors name the table and the `$n` position,
/// because a planned [`SqlParam`] no longer knows its column.
pub(crate) fn bind_all(table: &str, params: &[SqlParam]) -> Result<Vec<Bound>, RustAuthError> {
    // The wire protocol counts parameters in a u16; the driver would otherwise fail with a
    // misleading "error parsing response from server: value too large to transmit".
    if params.len() > MAX_PARAMS {
        return Err(Error::Usage(format!(
            "a statement on `{table}` needs {} parameters, more than the {MAX_PARAMS} PostgreSQL \
             accepts; split the IN list",
            params.len()
        ))
        .into());
    }
    params
        .iter()
        .enumerate()
        .map(|(index, param)| {
            bind(param)
                .map_err(|reason| Error::value(table, &format!("${}", index + 1), reason).into())
        })
        .collect()
}

/// Checks the values of a create/update record against their columns before planning, so a
/// mismatch is reported with the real column name.
pub(crate) fn check_record(table: &DbTable, data: &DbRecord) -> Result<(), RustAuthError> {
    data.iter()
        .try_for_each(|(field, value)| check_value(table, field, value.clone()))
}

/// Checks where-clause values the way the planner will bind them (dialect.rs `clause_sql`):
/// NULL is rendered as `IS [NOT] NULL`, `In`/`NotIn` arrays are bound element by element, and
/// pattern operators bind a string pattern. Shapes the planner itself rejects are left to it.
pub(crate) fn check_where(table: &DbTable, clauses: &[Where]) -> Result<(), RustAuthError> {
    for clause in clauses {
        match (&clause.operator, &clause.value) {
            (_, DbValue::Null) => {}
            (WhereOperator::In | WhereOperator::NotIn, DbValue::StringArray(items)) => {
                for item in items {
                    check_value(table, &clause.field, DbValue::String(item.clone()))?;
                }
            }
            (WhereOperator::In | WhereOperator::NotIn, DbValue::NumberArray(items)) => {
                for item in items {
                    check_value(table, &clause.field, DbValue::Number(*item))?;
                }
            }
            (WhereOperator::In | WhereOperator::NotIn, _) => {}
            (
                WhereOperator::Contains | WhereOperator::StartsWith | WhereOperator::EndsWith,
                DbValue::String(_),
            ) => check_value(table, &clause.field, clause.value.clone())?,
            (WhereOperator::Contains | WhereOperator::StartsWith | WhereOperator::EndsWith, _) => {}
            _ => check_value(table, &clause.field, clause.value.clone())?,
        }
    }
    Ok(())
}

fn check_value(table: &DbTable, field: &str, value: DbValue) -> Result<(), RustAuthError> {
    // Unknown fields are reported by the planner as `FieldNotFound`.
    let Ok((_, metadata)) = resolve_field(table, field) else {
        return Ok(());
    };
    bind(&SqlParam::new(metadata, value))
        .map(drop)
        .map_err(|reason| Error::value(&table.name, &metadata.name, reason).into())
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

    use rustauth_core::db::DbField;

    use super::*;

    fn param(
        field_type: DbFieldType,
        generated_id: Option<IdGeneration>,
        value: DbValue,
    ) -> SqlParam {
        SqlParam {
            field_type,
            generated_id,
            value,
        }
    }

    fn ty_of(p: SqlParam) -> Type {
        bind(&p).map(|(_, ty)| ty).unwrap()
    }

    #[test]
    fn wire_types_follow_the_field_type_and_id_policy() {
        use DbFieldType as F;
        let s = |v: &str| DbValue::String(v.to_owned());
        assert_eq!(ty_of(param(F::String, None, s("a"))), Type::TEXT);
        let id = "6F9619FF-8B86-D011-B42D-00C04FC964FF";
        assert_eq!(
            ty_of(param(F::String, Some(IdGeneration::Uuid), s(id))),
            Type::UUID
        );
        assert_eq!(
            ty_of(param(F::String, Some(IdGeneration::Disabled), s("x"))),
            Type::TEXT
        );
        assert_eq!(
            ty_of(param(
                F::Number,
                Some(IdGeneration::Serial),
                DbValue::Number(1)
            )),
            Type::INT8
        );
        assert_eq!(
            ty_of(param(F::Boolean, None, DbValue::Boolean(true))),
            Type::BOOL
        );
        let now = time::OffsetDateTime::UNIX_EPOCH;
        assert_eq!(
            ty_of(param(F::Timestamp, None, DbValue::Timestamp(now))),
            Type::TIMESTAMPTZ
        );
        let json = DbValue::Json(serde_json::Value::Null);
        assert_eq!(ty_of(param(F::Json, None, json)), Type::JSONB);
        assert_eq!(
            ty_of(param(F::StringArray, None, DbValue::StringArray(vec![]))),
            Type::TEXT_ARRAY
        );
        assert_eq!(
            ty_of(param(F::NumberArray, None, DbValue::NumberArray(vec![]))),
            Type::INT8_ARRAY
        );
    }

    #[test]
    fn nulls_are_typed_by_the_field() {
        for (field_type, generated_id, expected) in [
            (DbFieldType::String, None, Type::TEXT),
            (DbFieldType::String, Some(IdGeneration::Uuid), Type::UUID),
            (DbFieldType::Number, None, Type::INT8),
            (DbFieldType::Boolean, None, Type::BOOL),
            (DbFieldType::Timestamp, None, Type::TIMESTAMPTZ),
            (DbFieldType::Json, None, Type::JSONB),
            (DbFieldType::StringArray, None, Type::TEXT_ARRAY),
            (DbFieldType::NumberArray, None, Type::INT8_ARRAY),
        ] {
            let (value, ty) = bind(&param(field_type, generated_id, DbValue::Null)).unwrap();
            assert_eq!(ty, expected);
            assert!(value.accepts_dyn(&ty), "typed null must accept {ty}");
        }
    }

    #[test]
    fn bound_values_accept_their_announced_type() {
        let (value, ty) = bind(&param(
            DbFieldType::Json,
            None,
            DbValue::Json(serde_json::json!({"a": 1})),
        ))
        .unwrap();
        assert!(value.accepts_dyn(&ty));
        let (value, ty) = bind(&param(
            DbFieldType::NumberArray,
            None,
            DbValue::NumberArray(vec![1]),
        ))
        .unwrap();
        assert!(value.accepts_dyn(&ty));
    }

    trait AcceptsDyn {
        fn accepts_dyn(&self, ty: &Type) -> bool;
    }
    impl AcceptsDyn for BoxedParam {
        fn accepts_dyn(&self, ty: &Type) -> bool {
            let mut buf = bytes_buf();
            self.to_sql_checked(ty, &mut buf).is_ok()
        }
    }
    fn bytes_buf() -> postgres_types::private::BytesMut {
        postgres_types::private::BytesMut::new()
    }

    #[test]
    fn mismatched_variants_are_rejected_with_kinds_not_values() {
        let err = bind(&param(DbFieldType::String, None, DbValue::Number(42))).unwrap_err();
        assert_eq!(err, "expected a string, got a number");
        let err = bind(&param(
            DbFieldType::Boolean,
            None,
            DbValue::String("secret@x".into()),
        ))
        .unwrap_err();
        assert_eq!(err, "expected a boolean, got a string");
        assert!(!err.contains("secret"));
        let err = bind(&param(
            DbFieldType::Number,
            None,
            DbValue::Record(DbRecord::new()),
        ))
        .unwrap_err();
        assert!(err.contains("joined records"));
    }

    #[test]
    fn nul_bytes_are_rejected_in_text_arrays_and_json() {
        let nul = "a\0b".to_owned();
        assert!(
            bind(&param(
                DbFieldType::String,
                None,
                DbValue::String(nul.clone())
            ))
            .unwrap_err()
            .contains("NUL")
        );
        assert!(
            bind(&param(
                DbFieldType::StringArray,
                None,
                DbValue::StringArray(vec![nul.clone()])
            ))
            .is_err()
        );
        let json = DbValue::Json(serde_json::json!({"k": [nul]}));
        assert!(bind(&param(DbFieldType::Json, None, json)).is_err());
    }

    #[test]
    fn statements_over_the_protocol_parameter_limit_are_a_clear_error() {
        let params =
            vec![
                SqlParam::new(&DbField::new("id", DbFieldType::Number), DbValue::Number(1));
                MAX_PARAMS + 1
            ];
        let err = bind_all("users", &params).unwrap_err().to_string();
        assert!(
            err.contains("65536 parameters") && err.contains("65535"),
            "{err}"
        );
        assert_eq!(bind_all("users", &params[1..]).unwrap().len(), MAX_PARAMS);
    }

    #[test]
    fn invalid_uuids_are_rejected_without_the_value() {
        let err = bind(&param(
            DbFieldType::String,
            Some(IdGeneration::Uuid),
            DbValue::String("not-a-uuid".into()),
        ))
        .unwrap_err();
        assert_eq!(err, "not a valid UUID");
    }

    fn users() -> DbTable {
        DbTable {
            name: "users".into(),
            fields: [
                (
                    "email".to_owned(),
                    DbField::new("email", DbFieldType::String),
                ),
                (
                    "verified".to_owned(),
                    DbField::new("is_verified", DbFieldType::Boolean),
                ),
            ]
            .into_iter()
            .collect(),
            order: None,
        }
    }

    #[test]
    fn record_checks_name_the_physical_column() {
        let mut data = DbRecord::new();
        data.insert("verified".into(), DbValue::String("yes".into()));
        let err = check_record(&users(), &data).unwrap_err();
        assert_eq!(
            err,
            RustAuthError::Adapter(
                "tokio-postgres error: invalid value for `users.is_verified`: expected a boolean, got a string".into()
            )
        );
    }

    #[test]
    fn where_checks_accept_what_the_planner_binds() {
        let table = users();
        let ok = [
            Where::new("email", DbValue::Null).operator(WhereOperator::Ne),
            Where::new("email", DbValue::StringArray(vec!["a".into()])).operator(WhereOperator::In),
            Where::new("email", DbValue::String("%_".into())).operator(WhereOperator::Contains),
            Where::new("verified", DbValue::Boolean(true)).operator(WhereOperator::Gt),
            Where::new("missing", DbValue::Number(1)),
        ];
        check_where(&table, &ok).unwrap();
        let bad =
            [Where::new("email", DbValue::NumberArray(vec![1])).operator(WhereOperator::NotIn)];
        assert!(check_where(&table, &bad).is_err());
        let bad = [Where::new("verified", DbValue::String("true".into()))];
        assert!(check_where(&table, &bad).is_err());
    }
}
