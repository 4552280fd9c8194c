//! Checks a database against what this crate's compiled statements expect, for CI.
//!
//! ```sh
//! RUSTAUTH_PG_URL=postgres://user:pass@host/db cargo run --example verify
//! ```
//!
//! Prints the report of [`TokioPostgresAdapter::verify`]: each table with its route and any
//! drift (missing tables or columns, type or nullability mismatches), then every compiled
//! statement that no longer prepares, with its SQLSTATE. Exits with status 0 when the database
//! matches, 1 on drift, 2 when it could not check at all.
//!
//! It uses the schema `migrations/` creates (RustAuth's default with database rate limiting).
//! If your application customizes the schema (renamed tables, plugin fields), copy this file
//! and pass your own [`DbSchema`](rustauth_core::db::DbSchema): tables that then route
//! dynamically are still checked against the catalog, and their typed statements are skipped.

use std::process::ExitCode;

use rustauth_core::db::{AuthSchemaOptions, RateLimitStorage, auth_schema};
use rustauth_tokio_postgres::{TokioPostgresAdapter, TokioPostgresConnection};

const URL_ENV: &str = "RUSTAUTH_PG_URL";

#[tokio::main(flavor = "current_thread")]
async fn main() -> ExitCode {
    let Some(url) = std::env::var(URL_ENV)
        .ok()
        .filter(|url| !url.trim().is_empty())
    else {
        eprintln!("set {URL_ENV} to the database to verify");
        return ExitCode::from(2);
    };
    let connection = match TokioPostgresConnection::connect(&url).await {
        Ok(connection) => connection,
        Err(error) => {
            eprintln!("cannot connect: {error}");
            return ExitCode::from(2);
        }
    };
    let schema = auth_schema(AuthSchemaOptions {
        rate_limit_storage: RateLimitStorage::Database,
        ..AuthSchemaOptions::default()
    });
    let adapter = TokioPostgresAdapter::with_connection(connection, schema);
    match adapter.verify().await {
        Ok(report) => {
            println!("{report}");
            if report.is_clean() {
                ExitCode::SUCCESS
            } else {
                ExitCode::from(1)
            }
        }
        Err(error) => {
            eprintln!("cannot verify: {error}");
            ExitCode::from(2)
        }
    }
}
