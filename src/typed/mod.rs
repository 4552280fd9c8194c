//! The typed path: the fixed RustAuth tables served by statements cornucopia compiled from
//! `queries/*.sql` and checked against a live PostgreSQL before the crate shipped.
//!
//! Each operation is first *planned* (a pure shape match: does a compiled statement have
//! exactly this query's semantics?) and then *run* on a statement prepared once per connection
//! ([`cache::StatementCache`]). A query whose shape has no statement is served by
//! [`crate::dynamic`]; the router in [`crate::router`] makes that choice, and
//! [`crate::route`] decides once per table whether the table qualifies at all.

pub(crate) mod cache;
mod generated;
pub(crate) mod read;
mod records;
pub(crate) mod shape;
pub(crate) mod write;

use std::sync::LazyLock;

use rustauth_core::db::{AuthSchemaOptions, DbSchema, RateLimitStorage, auth_schema};

pub(crate) use generated::client::GenericClient as Client;
pub(crate) use generated::queries::rate_limit as rate_limit_queries;
pub(crate) use records::{check_select, project};

/// A fixed RustAuth table with compiled statements.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub(crate) enum Model {
    User,
    Session,
    Account,
    Verification,
    RateLimit,
}

impl Model {
    /// Every compiled model, with its logical name.
    pub(crate) const ALL: [(Model, &'static str); 5] = [
        (Model::User, "user"),
        (Model::Session, "session"),
        (Model::Account, "account"),
        (Model::Verification, "verification"),
        (Model::RateLimit, "rate_limit"),
    ];
}

/// The schema `queries/` was compiled against: rustauth-core's default schema with database
/// rate limiting, which `migrations/` reproduces exactly (a test proves it).
pub(crate) static COMPILED_SCHEMA: LazyLock<DbSchema> = LazyLock::new(|| {
    auth_schema(AuthSchemaOptions {
        rate_limit_storage: RateLimitStorage::Database,
        ..AuthSchemaOptions::default()
    })
});
