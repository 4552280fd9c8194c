//! Schema migrations: introspect the live database, let core plan, apply in one transaction.
//!
//! Planning is core's (`plan_schema_migration` with `SqlDialect::Postgres`); this module only
//! builds the [`SqlSchemaSnapshot`] core compares against. Unlike upstream 0.3.2 the snapshot
//! also carries nullability, primary keys and generated ids, so re-running migrations on a
//! database created with `Uuid` (+ database support), `Serial` or `Disabled` ids plans nothing
//! instead of failing with `GeneratedIdMismatch`.
//!
//! Introspection is four static catalog queries, each over all schema tables at once (the
//! table list travels as two `text[]` parameters). They are sent concurrently, so the
//! connection pipelines them into about one round trip. These constants are the only
//! hand-written SQL outside `queries/` and `migrations/`.

use std::collections::HashMap;

use futures::try_join;
use postgres_types::Type;
use rustauth_core::db::{
    DbSchema, ForeignKey, IdGeneration, OnDelete, SchemaMigrationPlan, SqlColumnSnapshot,
    SqlDialect, SqlSchemaSnapshot, ensure_executable_migration_plan, execute_schema_migration_plan,
    plan_schema_migration,
};
use rustauth_core::error::RustAuthError;
use rustauth_core::plugin::{PluginMigration, PluginMigrationBody};
use tokio_postgres::{GenericClient, Row};

use crate::Error;
use crate::dynamic::PgExecutor;

/// Shared prefix: the requested tables, 1-based position `ord`, unqualified names resolved in
/// `current_schema()`.
macro_rules! wanted {
    ($rest:literal) => {
        concat!(
            "WITH wanted AS (SELECT w.ord, COALESCE(NULLIF(w.nsp, ''), current_schema()) AS nsp, w.rel \
             FROM unnest($1::text[], $2::text[]) WITH ORDINALITY AS w(nsp, rel, ord)) ",
            $rest
        )
    };
}

/// Which requested tables exist.
const TABLES_SQL: &str = wanted!(
    "SELECT w.ord FROM wanted w JOIN information_schema.tables t \
     ON t.table_schema = w.nsp AND t.table_name = w.rel"
);

/// Columns: type (`udt_name` for arrays, e.g. `_text`), nullability, identity and default.
const COLUMNS_SQL: &str = wanted!(
    "SELECT w.ord, c.column_name::text, \
     (CASE WHEN c.data_type = 'ARRAY' THEN c.udt_name ELSE c.data_type END)::text, \
     c.is_nullable = 'YES', c.is_identity = 'YES', c.column_default::text \
     FROM wanted w JOIN information_schema.columns c \
     ON c.table_schema = w.nsp AND c.table_name = w.rel \
     ORDER BY w.ord, c.ordinal_position"
);

/// Single-column primary key, unique and foreign key constraints (composite ones do not make
/// one column unique or referencing, so they are left out). FK targets come with their schema.
const CONSTRAINTS_SQL: &str = wanted!(
    "SELECT w.ord, con.contype::text, a.attname::text, fn.nspname::text, fc.relname::text, \
     fa.attname::text, con.confdeltype::text, current_schema()::text \
     FROM wanted w \
     JOIN pg_catalog.pg_namespace n ON n.nspname = w.nsp \
     JOIN pg_catalog.pg_class c ON c.relnamespace = n.oid AND c.relname = w.rel \
     JOIN pg_catalog.pg_constraint con ON con.conrelid = c.oid \
     AND con.contype IN ('p', 'u', 'f') AND cardinality(con.conkey) = 1 \
     JOIN pg_catalog.pg_attribute a ON a.attrelid = c.oid AND a.attnum = con.conkey[1] \
     LEFT JOIN pg_catalog.pg_class fc ON fc.oid = con.confrelid \
     LEFT JOIN pg_catalog.pg_namespace fn ON fn.oid = fc.relnamespace \
     LEFT JOIN pg_catalog.pg_attribute fa ON fa.attrelid = con.confrelid AND fa.attnum = con.confkey[1] \
     ORDER BY w.ord, con.conname"
);

/// Index names per table.
const INDEXES_SQL: &str = wanted!(
    "SELECT w.ord, i.indexname::text FROM wanted w JOIN pg_catalog.pg_indexes i \
     ON i.schemaname = w.nsp AND i.tablename = w.rel"
);

fn driver_error(error: tokio_postgres::Error) -> RustAuthError {
    RustAuthError::from(Error::from(error))
}

/// `(schema or "", table)` for a possibly schema-qualified physical table name.
fn split_name(name: &str) -> (&str, &str) {
    name.split_once('.').unwrap_or(("", name))
}

/// Introspects every table of `schema` into a snapshot keyed by the schema's physical names.
pub(crate) async fn snapshot<C: GenericClient + Sync>(
    client: &C,
    schema: &DbSchema,
) -> Result<SqlSchemaSnapshot, RustAuthError> {
    let names: Vec<&str> = schema
        .tables()
        .map(|(_, table)| table.name.as_str())
        .collect();
    let (nsps, rels): (Vec<&str>, Vec<&str>) = names.iter().map(|name| split_name(name)).unzip();
    let params: [(&(dyn tokio_postgres::types::ToSql + Sync), Type); 2] =
        [(&nsps, Type::TEXT_ARRAY), (&rels, Type::TEXT_ARRAY)];
    let (tables, columns, constraints, indexes) = try_join!(
        client.query_typed(TABLES_SQL, &params),
        client.query_typed(COLUMNS_SQL, &params),
        client.query_typed(CONSTRAINTS_SQL, &params),
        client.query_typed(INDEXES_SQL, &params),
    )
    .map_err(driver_error)?;
    build_snapshot(&names, &tables, &columns, &constraints, &indexes).map_err(driver_error)
}

/// Facts about one column gathered from the constraint query.
#[derive(Default)]
struct ColumnConstraints {
    primary_key: bool,
    unique: bool,
    foreign_key: Option<ForeignKey>,
}

fn table_at<'n>(names: &[&'n str], row: &Row) -> Result<Option<&'n str>, tokio_postgres::Error> {
    let ord: i64 = row.try_get(0)?;
    Ok(usize::try_from(ord - 1)
        .ok()
        .and_then(|index| names.get(index).copied()))
}

fn build_snapshot(
    names: &[&str],
    tables: &[Row],
    columns: &[Row],
    constraints: &[Row],
    indexes: &[Row],
) -> Result<SqlSchemaSnapshot, tokio_postgres::Error> {
    let mut snapshot = SqlSchemaSnapshot::default();
    for row in tables {
        if let Some(table) = table_at(names, row)? {
            snapshot = snapshot.with_table(table);
        }
    }

    let mut facts = HashMap::<(&str, String), ColumnConstraints>::new();
    for row in constraints {
        let Some(table) = table_at(names, row)? else {
            continue;
        };
        let kind: String = row.try_get(1)?;
        let column: String = row.try_get(2)?;
        let entry = facts.entry((table, column.clone())).or_default();
        match kind.as_str() {
            "p" => {
                entry.primary_key = true;
                entry.unique = true;
            }
            "u" => entry.unique = true,
            // Keep the first FK per column (ordered by constraint name), as core compares one.
            _ if entry.foreign_key.is_none() => {
                let target_nsp: Option<String> = row.try_get(3)?;
                let target_rel: Option<String> = row.try_get(4)?;
                let target_col: Option<String> = row.try_get(5)?;
                let rule: String = row.try_get(6)?;
                let current: String = row.try_get(7)?;
                if let (Some(nsp), Some(rel), Some(field)) = (target_nsp, target_rel, target_col) {
                    entry.foreign_key = Some(ForeignKey {
                        table: render_target(names, &current, &nsp, &rel),
                        field,
                        on_delete: on_delete(&rule),
                    });
                }
            }
            _ => {}
        }
        if entry.unique {
            snapshot = snapshot.with_unique_column(table, column);
        }
    }

    for row in columns {
        let Some(table) = table_at(names, row)? else {
            continue;
        };
        let name: String = row.try_get(1)?;
        let data_type: String = row.try_get(2)?;
        let nullable: bool = row.try_get(3)?;
        let identity: bool = row.try_get(4)?;
        let default: Option<String> = row.try_get(5)?;
        let fact = facts.remove(&(table, name.clone())).unwrap_or_default();
        let generated = generated_id(identity, default.as_deref(), fact.primary_key);
        let mut column = SqlColumnSnapshot::new(name, data_type)
            .nullable(nullable)
            .primary_key(fact.primary_key)
            .generated_id(generated);
        if let Some(foreign_key) = fact.foreign_key {
            column = column.references(foreign_key);
        }
        snapshot = snapshot.with_column(table, column);
    }

    for row in indexes {
        let Some(table) = table_at(names, row)? else {
            continue;
        };
        let index: String = row.try_get(1)?;
        snapshot = snapshot.with_index(table, index);
    }
    Ok(snapshot)
}

/// How the database generates a column's value, in core's terms.
///
/// Identity (what the planner emits for `Serial`) and a legacy `nextval(...)` default are
/// `Serial`; a `gen_random_uuid()` default is `Uuid`; a primary key with no default at all is
/// `Disabled`, which is exactly what the planner emits for that policy. Core only compares this
/// for `id` fields whose policy is database-generated, so `Random` ids are unaffected.
fn generated_id(identity: bool, default: Option<&str>, primary_key: bool) -> Option<IdGeneration> {
    match default {
        _ if identity => Some(IdGeneration::Serial),
        Some(default) if default.contains("gen_random_uuid()") => Some(IdGeneration::Uuid),
        Some(default) if default.starts_with("nextval(") => Some(IdGeneration::Serial),
        None if primary_key => Some(IdGeneration::Disabled),
        _ => None,
    }
}

/// Spells an FK target the way the schema does, so core's `ForeignKey` equality holds: the
/// schema's own name when it resolves to the same table (qualified or not), otherwise
/// `schema.table`, shortened to `table` inside `current_schema()`.
fn render_target(names: &[&str], current: &str, nsp: &str, rel: &str) -> String {
    let same = |name: &&&str| {
        let (name_nsp, name_rel) = split_name(name);
        let name_nsp = if name_nsp.is_empty() {
            current
        } else {
            name_nsp
        };
        name_nsp == nsp && name_rel == rel
    };
    if let Some(name) = names.iter().find(same) {
        return (*name).to_owned();
    }
    if nsp == current {
        rel.to_owned()
    } else {
        format!("{nsp}.{rel}")
    }
}

fn on_delete(rule: &str) -> OnDelete {
    match rule {
        "r" => OnDelete::Restrict,
        "c" => OnDelete::Cascade,
        "n" => OnDelete::SetNull,
        "d" => OnDelete::SetDefault,
        _ => OnDelete::NoAction,
    }
}

/// Plans the additive migration from the live database to `schema`.
pub(crate) async fn plan<C: GenericClient + Sync>(
    client: &C,
    schema: &DbSchema,
) -> Result<SchemaMigrationPlan, RustAuthError> {
    let snapshot = snapshot(client, schema).await?;
    plan_schema_migration(SqlDialect::Postgres, schema, &snapshot)
}

/// Plans and applies the migration in one transaction; a plan with warnings applies nothing.
pub(crate) async fn apply(
    client: &mut tokio_postgres::Client,
    schema: &DbSchema,
) -> Result<(), RustAuthError> {
    let tx = client.transaction().await.map_err(driver_error)?;
    // On error `tx` is dropped here, which rolls back every statement already run.
    apply_in(&tx, schema).await?;
    tx.commit().await.map_err(driver_error)
}

/// Plans and applies inside a transaction the caller already holds (pools, `apply`).
pub(crate) async fn apply_in<C: GenericClient + Sync>(
    tx: &C,
    schema: &DbSchema,
) -> Result<(), RustAuthError> {
    let plan = plan(tx, schema).await?;
    ensure_executable_migration_plan(&plan)?;
    let db = crate::dynamic::Db {
        client: tx,
        statements: None,
    };
    let mut executor = PgExecutor::new(db, "schema migration");
    execute_schema_migration_plan(&mut executor, &plan).await?;
    Ok(())
}

/// Runs plugin-provided SQL (`Sql` bodies and each `Plan` step's `sql`) in order, with the
/// simple protocol so a body may hold several statements.
pub(crate) async fn run_plugin_migrations<C: GenericClient + Sync>(
    client: &C,
    migrations: &[PluginMigration],
) -> Result<(), RustAuthError> {
    for migration in migrations {
        let bodies: Vec<&str> = match &migration.body {
            None => Vec::new(),
            Some(PluginMigrationBody::Sql(sql)) => vec![sql.as_str()],
            Some(PluginMigrationBody::Plan(steps)) => steps
                .iter()
                .filter_map(|step| step.sql.as_deref())
                .collect(),
        };
        for sql in bodies {
            client.batch_execute(sql).await.map_err(|error| {
                let RustAuthError::Adapter(message) = driver_error(error) else {
                    return RustAuthError::Adapter(format!(
                        "plugin migration `{}` failed",
                        migration.name
                    ));
                };
                RustAuthError::Adapter(format!(
                    "plugin migration `{}` failed: {message}",
                    migration.name
                ))
            })?;
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn generated_ids_follow_the_ddl_the_planner_emits() {
        assert_eq!(generated_id(true, None, true), Some(IdGeneration::Serial));
        let uuid = Some("pg_catalog.gen_random_uuid()");
        assert_eq!(generated_id(false, uuid, true), Some(IdGeneration::Uuid));
        assert_eq!(
            generated_id(false, Some("nextval('t_id_seq'::regclass)"), true),
            Some(IdGeneration::Serial)
        );
        assert_eq!(
            generated_id(false, None, true),
            Some(IdGeneration::Disabled)
        );
        assert_eq!(generated_id(false, None, false), None);
        assert_eq!(generated_id(false, Some("'x'::text"), true), None);
    }

    #[test]
    fn fk_targets_use_the_schema_spelling() {
        let names = ["app.users", "sessions", "public.accounts"];
        assert_eq!(render_target(&names, "public", "app", "users"), "app.users");
        assert_eq!(
            render_target(&names, "public", "public", "accounts"),
            "public.accounts"
        );
        assert_eq!(
            render_target(&names, "public", "public", "sessions"),
            "sessions"
        );
        assert_eq!(render_target(&names, "public", "public", "other"), "other");
        assert_eq!(render_target(&names, "public", "x", "other"), "x.other");
    }

    #[test]
    fn delete_rules_map_to_on_delete() {
        assert_eq!(on_delete("c"), OnDelete::Cascade);
        assert_eq!(on_delete("a"), OnDelete::NoAction);
        assert_eq!(on_delete("n"), OnDelete::SetNull);
    }
}
