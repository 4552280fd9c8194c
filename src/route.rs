//! Which tables typed statements may serve, decided once when the adapter is built.
//!
//! Generated SQL hard-codes table and column names, types and positions, while RustAuth lets
//! users rename tables and columns, qualify them with a schema, pick other id policies, and
//! lets plugins add fields. A table is served typed only when its runtime definition is exactly
//! the one `queries/` was compiled against; every other table goes to the dynamic planner.

use std::collections::HashMap;
use std::fmt;

use rustauth_core::db::{DbSchema, DbTable};

use crate::typed::{COMPILED_SCHEMA, Model};

/// Whether the adapter may use the compiled, prepared statements.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
#[non_exhaustive]
pub enum RoutePolicy {
    /// Typed statements for every table that matches the compiled schema; dynamic SQL for the
    /// rest and for query shapes without a typed statement.
    #[default]
    Auto,
    /// Dynamic SQL for everything (useful to compare paths or to rule the typed path out).
    DynamicOnly,
}

/// Why a table is served by the dynamic planner.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum DynamicReason {
    /// The adapter was built with [`RoutePolicy::DynamicOnly`].
    PolicyDynamicOnly,
    /// The table is not one of the fixed RustAuth tables (for example a plugin table).
    NotAFixedTable,
    /// The physical table name differs from the compiled one (renamed or schema-qualified).
    RenamedTable {
        /// The name the statements were compiled for.
        expected: String,
    },
    /// The fields differ from the compiled ones: added (plugin or additional fields), missing,
    /// renamed, retyped, reordered, or a non-default id policy.
    FieldsDiffer {
        /// The first difference found, naming the field.
        difference: String,
    },
}

impl fmt::Display for DynamicReason {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::PolicyDynamicOnly => f.write_str("route policy is DynamicOnly"),
            Self::NotAFixedTable => f.write_str("not a fixed RustAuth table"),
            Self::RenamedTable { expected } => {
                write!(f, "table renamed (compiled for `{expected}`)")
            }
            Self::FieldsDiffer { difference } => write!(f, "fields differ: {difference}"),
        }
    }
}

/// How one table of the adapter's schema is served.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum TableRoute {
    /// Known query shapes run as typed prepared statements.
    Typed,
    /// Every query runs as dynamic SQL, for this reason.
    Dynamic(DynamicReason),
}

/// The route of every table of an adapter's schema.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct RouteReport {
    tables: Vec<(String, String, TableRoute)>,
}

impl RouteReport {
    /// `(logical model, physical table, route)` for every table, in schema order.
    pub fn tables(&self) -> impl Iterator<Item = (&str, &str, &TableRoute)> {
        self.tables
            .iter()
            .map(|(m, t, r)| (m.as_str(), t.as_str(), r))
    }

    /// The route of a table, by logical or physical name.
    pub fn route(&self, model: &str) -> Option<&TableRoute> {
        self.tables
            .iter()
            .find(|(m, t, _)| m == model || t == model)
            .map(|(_, _, r)| r)
    }
}

impl fmt::Display for RouteReport {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (model, table, route) in &self.tables {
            match route {
                TableRoute::Typed => writeln!(f, "{model} ({table}): typed")?,
                TableRoute::Dynamic(reason) => writeln!(f, "{model} ({table}): dynamic, {reason}")?,
            }
        }
        Ok(())
    }
}

/// The typed tables of one adapter, found by logical model name.
#[derive(Debug, Default)]
pub(crate) struct Routes {
    typed: HashMap<String, Model>,
    report: RouteReport,
}

impl Routes {
    /// Decides the route of every table of `schema`.
    pub(crate) fn decide(schema: &DbSchema, policy: RoutePolicy) -> Self {
        let mut routes = Routes::default();
        for (logical, table) in schema.tables() {
            let route = match policy {
                RoutePolicy::DynamicOnly => TableRoute::Dynamic(DynamicReason::PolicyDynamicOnly),
                RoutePolicy::Auto => match compiled_model(logical, table) {
                    Ok(model) => {
                        routes.typed.insert(logical.to_owned(), model);
                        TableRoute::Typed
                    }
                    Err(reason) => TableRoute::Dynamic(reason),
                },
            };
            routes
                .report
                .tables
                .push((logical.to_owned(), table.name.clone(), route));
        }
        routes
    }

    /// The compiled model serving the table with this logical name, if typed.
    pub(crate) fn typed(&self, logical: &str) -> Option<Model> {
        self.typed.get(logical).copied()
    }

    /// The report users can read.
    pub(crate) fn report(&self) -> &RouteReport {
        &self.report
    }
}

fn compiled_model(logical: &str, table: &DbTable) -> Result<Model, DynamicReason> {
    let model = Model::ALL
        .iter()
        .find(|(_, name)| *name == logical)
        .map(|(model, _)| *model)
        .ok_or(DynamicReason::NotAFixedTable)?;
    let expected = COMPILED_SCHEMA
        .table(logical)
        .ok_or(DynamicReason::NotAFixedTable)?;
    if expected.name != table.name {
        return Err(DynamicReason::RenamedTable {
            expected: expected.name.clone(),
        });
    }
    let mut actual = table.fields.iter();
    for (name, want) in &expected.fields {
        let difference = match actual.next() {
            None => format!("`{name}` is missing"),
            Some((got_name, _)) if got_name != name => {
                format!("`{got_name}` where `{name}` was compiled")
            }
            Some((_, got)) if got.name != want.name => {
                format!("`{name}` is stored in column `{}`", got.name)
            }
            Some((_, got)) if got.field_type != want.field_type => {
                format!("`{name}` has another type")
            }
            Some((_, got)) if got.generated_id != want.generated_id => {
                format!("`{name}` uses another id policy")
            }
            Some(_) => continue,
        };
        return Err(DynamicReason::FieldsDiffer { difference });
    }
    if let Some((extra, _)) = actual.next() {
        return Err(DynamicReason::FieldsDiffer {
            difference: format!("`{extra}` was added"),
        });
    }
    Ok(model)
}

#[cfg(test)]
mod tests {
    use rustauth_core::db::{AuthSchemaOptions, DbField, DbFieldType, TableOptions, auth_schema};

    use super::*;

    #[test]
    fn the_default_schema_routes_every_fixed_table_typed() {
        let routes = Routes::decide(&COMPILED_SCHEMA, RoutePolicy::Auto);
        for (model, logical) in Model::ALL {
            assert_eq!(routes.typed(logical), Some(model), "{logical}");
        }
    }

    #[test]
    fn added_and_renamed_fields_and_tables_route_dynamic() {
        let schema = auth_schema(AuthSchemaOptions {
            user: TableOptions::default()
                .with_field("role", DbField::new("role", DbFieldType::String).optional()),
            session: TableOptions::default().with_name("app_sessions"),
            account: TableOptions::default().with_field_name("password", "hash"),
            ..AuthSchemaOptions::default()
        });
        let routes = Routes::decide(&schema, RoutePolicy::Auto);
        assert_eq!(routes.typed("user"), None);
        assert_eq!(routes.typed("session"), None);
        assert_eq!(routes.typed("account"), None);
        assert_eq!(routes.typed("verification"), Some(Model::Verification));
        assert!(matches!(
            routes.report().route("user"),
            Some(TableRoute::Dynamic(DynamicReason::FieldsDiffer { .. }))
        ));
        assert!(matches!(
            routes.report().route("app_sessions"),
            Some(TableRoute::Dynamic(DynamicReason::RenamedTable { .. }))
        ));
    }

    #[test]
    fn dynamic_only_policy_routes_nothing_typed() {
        let routes = Routes::decide(&COMPILED_SCHEMA, RoutePolicy::DynamicOnly);
        assert!(
            Model::ALL
                .iter()
                .all(|(_, logical)| routes.typed(logical).is_none())
        );
    }
}
