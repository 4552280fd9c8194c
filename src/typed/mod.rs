//! The typed path: the fixed RustAuth tables served by statements cornucopia compiled from
//! `queries/*.sql` and checked against a live PostgreSQL before the crate shipped.
//!
//! Each operation is first *planned* (a pure shape match: does a compiled statement have
//! exactly this query's semantics?) and then *run* on a statement prepared once per connection
//! ([`cache::StatementCache`]). A query whose shape has no statement is served by
//! [`crate::dynamic`]; the router in [`crate::router`] makes that choice, and
//! [`crate::route`] decides once per table whether the table qualifies at all.

/// Runs `$body` with `$client` bound to the generated statement `$ctor` on `$session`,
/// prepared or unnamed as the session's statement mode says.
macro_rules! with_statement {
    ($session:expr, $ctor:path, |$stmt:ident, $client:ident| $body:expr) => {{
        let $stmt = $ctor();
        if $session.prepares() {
            let $client = $crate::typed::client::Typed::<true>::new($session, $stmt.sql());
            $body
        } else {
            let $client = $crate::typed::client::Typed::<false>::new($session, $stmt.sql());
            $body
        }
    }};
}

pub(crate) use with_statement;

pub(crate) mod cache;
pub(crate) mod client;
mod generated;
pub(crate) mod read;
mod records;
pub(crate) mod shape;
pub(crate) mod statements;
pub(crate) mod write;

use std::sync::LazyLock;

use rustauth_core::db::{AuthSchemaOptions, DbSchema, RateLimitStorage, auth_schema};

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

    /// The logical table name in RustAuth's schema.
    pub(crate) fn logical(self) -> &'static str {
        match self {
            Model::User => "user",
            Model::Session => "session",
            Model::Account => "account",
            Model::Verification => "verification",
            Model::RateLimit => "rate_limit",
        }
    }
}

/// The schema `queries/` was compiled against: rustauth-core's default schema with database
/// rate limiting, which `migrations/` reproduces exactly (a test proves it).
pub(crate) static COMPILED_SCHEMA: LazyLock<DbSchema> = LazyLock::new(|| {
    auth_schema(AuthSchemaOptions {
        rate_limit_storage: RateLimitStorage::Database,
        ..AuthSchemaOptions::default()
    })
});
