//! [`TokioPostgresAdapter::verify`]: does the database match what the compiled statements and
//! the adapter's schema expect?
//!
//! Two checks, both read-only:
//!
//! 1. **The catalog.** Every table of the adapter's schema is looked up in
//!    `information_schema` (the same introspection migrations use) and each field is compared
//!    with its column: present, of a compatible type, and nullable exactly when the field is
//!    optional.
//! 2. **The statements.** Every statement cornucopia compiled from `queries/` is prepared
//!    (parsed, planned and described by the server, never executed) for each table the adapter
//!    serves typed. A statement that no longer prepares fails with the server's SQLSTATE.

use std::fmt;

use rustauth_core::db::{DbSchema, DbTable, SqlDialect, SqlSchemaSnapshot};
use rustauth_core::error::RustAuthError;
use tokio_postgres::GenericClient;

use crate::adapter::TokioPostgresAdapter;
use crate::error::Error;
use crate::migrate;
use crate::route::{RouteReport, TableRoute};
use crate::typed::client::Conn;
use crate::typed::statements::STATEMENTS;

/// What [`TokioPostgresAdapter::verify`] found: per table its route and drift, per compiled
/// statement whether it prepares.
///
/// [`is_clean`](Self::is_clean) is the one-line answer for CI; [`Display`](fmt::Display) prints
/// a report a person can act on.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
#[non_exhaustive]
pub struct VerifyReport {
    /// Every table of the adapter's schema, in schema order.
    pub tables: Vec<TableCheck>,
    /// Every compiled statement, in `queries/` order.
    pub statements: Vec<StatementCheck>,
}

/// One table of the adapter's schema, compared with the database.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct TableCheck {
    /// The logical model name, e.g. `user`.
    pub model: String,
    /// The physical table name, e.g. `users`.
    pub table: String,
    /// How the adapter serves the table (decided from the schema, not the database).
    pub route: TableRoute,
    /// Every difference between the table's definition and the database; empty when they
    /// match.
    pub drift: Vec<Drift>,
}

/// One difference between the adapter's schema and the database.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum Drift {
    /// The table does not exist (or is not visible in the connection's `search_path`).
    MissingTable,
    /// A field's column does not exist.
    MissingColumn {
        /// The physical column name.
        column: String,
    },
    /// A column's type cannot hold the field's values.
    TypeMismatch {
        /// The physical column name.
        column: String,
        /// The PostgreSQL type the field needs, e.g. `TIMESTAMPTZ`.
        expected: String,
        /// The type the catalog reports, e.g. `text`.
        found: String,
    },
    /// A column is nullable where the field is required, or the reverse.
    NullabilityMismatch {
        /// The physical column name.
        column: String,
        /// Whether the field is optional (the column should accept `NULL`).
        expected_nullable: bool,
        /// Whether the column accepts `NULL`.
        found_nullable: bool,
    },
}

impl fmt::Display for Drift {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::MissingTable => f.write_str("table is missing"),
            Self::MissingColumn { column } => write!(f, "column `{column}` is missing"),
            Self::TypeMismatch {
                column,
                expected,
                found,
            } => write!(f, "column `{column}` is `{found}`, expected `{expected}`"),
            Self::NullabilityMismatch {
                column,
                expected_nullable,
                ..
            } => {
                let (found, expected) = if *expected_nullable {
                    ("NOT NULL", "nullable")
                } else {
                    ("nullable", "NOT NULL")
                };
                write!(f, "column `{column}` is {found}, expected {expected}")
            }
        }
    }
}

/// One compiled statement and whether it prepares on the database.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct StatementCheck {
    /// The statement's name in `queries/`, e.g. `find_user_by_email`.
    pub name: &'static str,
    /// The logical model it reads or writes, e.g. `user`.
    pub model: &'static str,
    /// What preparing it gave.
    pub outcome: StatementOutcome,
}

/// The result of preparing one compiled statement.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum StatementOutcome {
    /// The server parsed, planned and described it.
    Prepared,
    /// The server rejected it.
    Failed {
        /// The SQLSTATE, e.g. `42703` for an undefined column.
        sqlstate: Option<String>,
        /// The server's message (it names tables and columns, never row values).
        message: String,
    },
    /// Not prepared: the adapter never runs it, because its table is served dynamically or
    /// is not in the adapter's schema.
    Skipped {
        /// Why it is not used.
        reason: String,
    },
}

impl VerifyReport {
    /// Whether the database matches: no drift on any table and no statement failed.
    pub fn is_clean(&self) -> bool {
        self.drift().next().is_none() && self.failures().next().is_none()
    }

    /// Every drift found, with the physical table it was found on.
    pub fn drift(&self) -> impl Iterator<Item = (&str, &Drift)> {
        self.tables
            .iter()
            .flat_map(|table| table.drift.iter().map(|d| (table.table.as_str(), d)))
    }

    /// Every statement that failed to prepare.
    pub fn failures(&self) -> impl Iterator<Item = &StatementCheck> {
        self.statements
            .iter()
            .filter(|s| matches!(s.outcome, StatementOutcome::Failed { .. }))
    }

    /// The check of a table, by logical or physical name.
    pub fn table(&self, name: &str) -> Option<&TableCheck> {
        self.tables
            .iter()
            .find(|t| t.model == name || t.table == name)
    }

    /// The check of a statement, by name.
    pub fn statement(&self, name: &str) -> Option<&StatementCheck> {
        self.statements.iter().find(|s| s.name == name)
    }
}

impl fmt::Display for VerifyReport {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        writeln!(f, "tables:")?;
        for table in &self.tables {
            let route = match &table.route {
                TableRoute::Dynamic(reason) => format!("dynamic ({reason})"),
                _ => "typed".to_owned(),
            };
            let status = if table.drift.is_empty() {
                "ok"
            } else {
                "DRIFT"
            };
            writeln!(f, "  {} ({}): {status}, {route}", table.model, table.table)?;
            for drift in &table.drift {
                writeln!(f, "    - {drift}")?;
            }
        }
        let prepared = self
            .statements
            .iter()
            .filter(|s| s.outcome == StatementOutcome::Prepared)
            .count();
        let skipped = self
            .statements
            .iter()
            .filter(|s| matches!(s.outcome, StatementOutcome::Skipped { .. }))
            .count();
        writeln!(
            f,
            "statements: {prepared} prepared, {} failed, {skipped} skipped",
            self.failures().count()
        )?;
        for statement in self.failures() {
            if let StatementOutcome::Failed { sqlstate, message } = &statement.outcome {
                let code = sqlstate.as_deref().unwrap_or("-----");
                writeln!(f, "  - {}: SQLSTATE {code}: {message}", statement.name)?;
            }
        }
        write!(f, "{}", if self.is_clean() { "clean" } else { "DRIFT" })
    }
}

impl TokioPostgresAdapter {
    /// Checks the database against the adapter's schema and the compiled statements.
    ///
    /// Read-only: it introspects the catalog and prepares (never executes) every statement of
    /// the tables served typed. Run it in CI against a copy of production's schema, or at
    /// start-up, to learn before the first request that a column was dropped or retyped.
    /// `examples/verify.rs` is a ready-made command.
    ///
    /// Drift is reported, not returned as an error: the `Err` case is for not being able to
    /// ask at all.
    ///
    /// # Errors
    ///
    /// [`RustAuthError::Adapter`] when no connection can be leased or the catalog queries fail
    /// ([`ErrorKind::Connection`](crate::ErrorKind::Connection) or
    /// [`ErrorKind::Timeout`](crate::ErrorKind::Timeout) underneath).
    pub async fn verify(&self) -> Result<VerifyReport, RustAuthError> {
        let lease = self.connection().lease().await?;
        match lease.session().conn {
            Conn::Client(client) => verify_on(client, self.schema(), self.route_report()).await,
            Conn::Transaction(transaction) => {
                verify_on(transaction, self.schema(), self.route_report()).await
            }
        }
    }
}

async fn verify_on<C: GenericClient + Sync>(
    client: &C,
    schema: &DbSchema,
    routes: &RouteReport,
) -> Result<VerifyReport, RustAuthError> {
    let catalog = migrate::snapshot(client, schema).await?;
    let tables = schema
        .tables()
        .map(|(model, table)| TableCheck {
            model: model.to_owned(),
            table: table.name.clone(),
            route: routes.route(model).cloned().unwrap_or(TableRoute::Typed),
            drift: table_drift(&catalog, table),
        })
        .collect();
    let mut statements = Vec::with_capacity(STATEMENTS.len());
    for statement in &STATEMENTS {
        let model = statement.model.logical();
        let outcome = match schema.table(model).map(|_| routes.route(model)) {
            None => StatementOutcome::Skipped {
                reason: format!("`{model}` is not in the adapter's schema"),
            },
            Some(Some(TableRoute::Dynamic(reason))) => StatementOutcome::Skipped {
                reason: format!("`{model}` is served dynamically: {reason}"),
            },
            Some(_) => match client.prepare((statement.sql)()).await {
                Ok(_) => StatementOutcome::Prepared,
                Err(error) => failed(error),
            },
        };
        statements.push(StatementCheck {
            name: statement.name,
            model,
            outcome,
        });
    }
    Ok(VerifyReport { tables, statements })
}

fn failed(error: tokio_postgres::Error) -> StatementOutcome {
    match error.as_db_error() {
        Some(db) => StatementOutcome::Failed {
            sqlstate: Some(db.code().code().to_owned()),
            message: db.message().to_owned(),
        },
        None => StatementOutcome::Failed {
            sqlstate: None,
            message: RustAuthError::from(Error::from(error)).to_string(),
        },
    }
}

/// Every difference between `table` and its columns in `catalog`.
fn table_drift(catalog: &SqlSchemaSnapshot, table: &DbTable) -> Vec<Drift> {
    if !catalog.table_exists(&table.name) {
        return vec![Drift::MissingTable];
    }
    let mut drift = Vec::new();
    for (logical, field) in &table.fields {
        let Some(column) = catalog.column(&table.name, &field.name) else {
            drift.push(Drift::MissingColumn {
                column: field.name.clone(),
            });
            continue;
        };
        if !SqlDialect::Postgres.type_matches(&column.data_type, field) {
            drift.push(Drift::TypeMismatch {
                column: field.name.clone(),
                expected: SqlDialect::Postgres.sql_type(logical, field),
                found: column.data_type.clone(),
            });
        }
        let expected_nullable = !field.required && column.primary_key != Some(true);
        if let Some(found_nullable) = column.nullable
            && found_nullable != expected_nullable
        {
            drift.push(Drift::NullabilityMismatch {
                column: field.name.clone(),
                expected_nullable,
                found_nullable,
            });
        }
    }
    drift
}
