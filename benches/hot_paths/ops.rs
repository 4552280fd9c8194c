//! The measured operations and the implementations that run them (four, six with the
//! `deadpool` feature).

use std::collections::VecDeque;
use std::sync::Mutex;
use std::sync::atomic::{AtomicU64, Ordering};

use rustauth_core::db::{
    AuthSchemaOptions, Count, Create, DbAdapter, DbValue, Delete, DeleteMany, FindMany, FindOne,
    RateLimitStorage, Sort, SortDirection, Update, Where, WhereOperator, auth_schema,
};
use rustauth_core::options::{RateLimitConsumeInput, RateLimitRule, RateLimitStore};
use rustauth_tokio_postgres::{
    RoutePolicy, TokioPostgresAdapter, TokioPostgresConnection, TokioPostgresRateLimitStore,
};
use time::OffsetDateTime;

use crate::floor::Floor;
pub use crate::kind::Kind;
use crate::setup::{RATE_LIMIT_KEYS, SESSIONS_PER_USER, USERS, connect};

/// One measured operation (a composite counts as one).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Op {
    SessionByToken,
    UserById,
    UserByEmail,
    SessionsOfUser,
    AccountByProvider,
    SessionCreate,
    SessionUpdate,
    SessionDelete,
    Verification,
    RateLimit,
    CountEmailSuffix,
}

impl Op {
    /// In run order: reads first, then writes; creates come before the deletes they feed.
    pub const ALL: [Op; 11] = [
        Op::SessionByToken,
        Op::UserById,
        Op::UserByEmail,
        Op::SessionsOfUser,
        Op::AccountByProvider,
        Op::SessionCreate,
        Op::SessionUpdate,
        Op::SessionDelete,
        Op::Verification,
        Op::RateLimit,
        Op::CountEmailSuffix,
    ];

    pub fn name(self) -> &'static str {
        match self {
            Op::SessionByToken => "session_by_token",
            Op::UserById => "user_by_id",
            Op::UserByEmail => "user_by_email",
            Op::SessionsOfUser => "sessions_of_user",
            Op::AccountByProvider => "account_by_provider",
            Op::SessionCreate => "session_create",
            Op::SessionUpdate => "session_update",
            Op::SessionDelete => "session_delete",
            Op::Verification => "verification_cycle",
            Op::RateLimit => "rate_limit_consume",
            Op::CountEmailSuffix => "dyn_count_suffix",
        }
    }

    pub fn is_lookup(self) -> bool {
        matches!(
            self,
            Op::SessionByToken
                | Op::UserById
                | Op::UserByEmail
                | Op::SessionsOfUser
                | Op::AccountByProvider
        )
    }

    pub fn is_single_row_write(self) -> bool {
        matches!(
            self,
            Op::SessionCreate | Op::SessionUpdate | Op::SessionDelete
        )
    }

    /// Share of the base op count this op runs (the suffix count scans every user).
    pub fn ops_divisor(self) -> usize {
        if self == Op::CountEmailSuffix { 10 } else { 1 }
    }
}

enum Backend {
    Adapter {
        db: Box<dyn DbAdapter>,
        rate_limit: Box<dyn RateLimitStore>,
    },
    Floor(Box<Floor>),
}

/// An implementation over one client (or one pool), with the tokens its creates left for its deletes.
pub struct Impl {
    pub kind: Kind,
    backend: Backend,
    created: Mutex<VecDeque<String>>,
    seq: AtomicU64,
}

/// A small xorshift generator: the same key sequence for every implementation.
#[derive(Debug, Clone)]
pub struct Rng(u64);

impl Rng {
    pub fn new(seed: u64) -> Self {
        Self(seed.wrapping_mul(0x9e37_79b9_7f4a_7c15) | 1)
    }

    pub fn below(&mut self, n: u32) -> u32 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        (self.0 % u64::from(n)) as u32
    }
}

pub fn s(value: impl Into<String>) -> DbValue {
    DbValue::String(value.into())
}

pub fn email(i: u32) -> String {
    format!("user{i}@d{}.example.com", i % 10)
}

const SESSION_FIELDS: [&str; 8] = [
    "id",
    "user_id",
    "expires_at",
    "token",
    "ip_address",
    "user_agent",
    "created_at",
    "updated_at",
];
pub const SUFFIX: &str = "@D3.EXAMPLE.COM";
pub const RATE_LIMIT_MAX: u64 = 1_000_000_000;

pub fn check(ok: bool, op: Op) -> Result<(), String> {
    if ok {
        Ok(())
    } else {
        Err(format!("{}: unexpected result", op.name()))
    }
}

impl Impl {
    /// Builds `kind` over the database at `url`: one client, or a pool for the pooled kinds.
    pub async fn open(kind: Kind, url: &str) -> Result<Self, String> {
        let schema = auth_schema(AuthSchemaOptions {
            rate_limit_storage: RateLimitStorage::Database,
            ..AuthSchemaOptions::default()
        });
        let backend = match kind {
            #[cfg(feature = "deadpool")]
            Kind::Pool | Kind::UpstreamPool => {
                let (db, rate_limit) = crate::pool::open(kind, url, schema).await?;
                Backend::Adapter { db, rate_limit }
            }
            Kind::Typed | Kind::Dynamic => {
                let client = connect(url).await?;
                let policy = if kind == Kind::Typed {
                    RoutePolicy::Auto
                } else {
                    RoutePolicy::DynamicOnly
                };
                let conn = TokioPostgresConnection::from_client(client);
                Backend::Adapter {
                    rate_limit: Box::new(TokioPostgresRateLimitStore::from_connection(
                        &conn,
                        "rate_limits",
                    )),
                    db: Box::new(TokioPostgresAdapter::with_policy(conn, schema, policy)),
                }
            }
            Kind::Upstream => {
                let client = connect(url).await?;
                let conn = upstream::TokioPostgresConnection::from_client(client);
                Backend::Adapter {
                    rate_limit: Box::new(upstream::TokioPostgresRateLimitStore::from_connection(
                        &conn,
                        "rate_limits",
                    )),
                    db: Box::new(upstream::TokioPostgresAdapter::with_connection(
                        conn, schema,
                    )),
                }
            }
            Kind::Floor => Backend::Floor(Box::new(
                Floor::new(connect(url).await?)
                    .await
                    .map_err(|e| e.to_string())?,
            )),
        };
        Ok(Self {
            kind,
            backend,
            created: Mutex::new(VecDeque::new()),
            seq: AtomicU64::new(0),
        })
    }

    pub fn next_id(&self, prefix: &str) -> String {
        let n = self.seq.fetch_add(1, Ordering::Relaxed);
        format!("{prefix}-{}-{n}", self.kind.name())
    }

    /// Runs `op` once with inputs drawn from `rng`.
    pub async fn run(&self, op: Op, rng: &mut Rng) -> Result<(), String> {
        match &self.backend {
            Backend::Adapter { db, rate_limit } => self
                .run_adapter(db.as_ref(), rate_limit.as_ref(), op, rng)
                .await
                .map_err(|e| format!("{}: {e}", op.name())),
            Backend::Floor(floor) => self
                .run_floor(floor, op, rng)
                .await
                .map_err(|e| format!("{}: {e}", op.name())),
        }
    }

    pub fn push_created(&self, token: String) {
        if let Ok(mut created) = self.created.lock() {
            created.push_back(token);
        }
    }

    pub fn pop_created(&self) -> Result<String, String> {
        self.created
            .lock()
            .ok()
            .and_then(|mut c| c.pop_front())
            .ok_or_else(|| "no created session left to delete".to_owned())
    }

    async fn run_adapter(
        &self,
        db: &dyn DbAdapter,
        rate_limit: &dyn RateLimitStore,
        op: Op,
        rng: &mut Rng,
    ) -> Result<(), String> {
        let e = |e: rustauth_core::error::RustAuthError| e.to_string();
        let now = OffsetDateTime::now_utc();
        match op {
            Op::SessionByToken => {
                let token = format!("tok{}", rng.below(USERS * SESSIONS_PER_USER));
                let q = FindOne::new("session").where_clause(Where::new("token", s(token)));
                check(db.find_one(q).await.map_err(e)?.is_some(), op)
            }
            Op::UserById => {
                let q = FindOne::new("user")
                    .where_clause(Where::new("id", s(format!("u{}", rng.below(USERS)))));
                check(db.find_one(q).await.map_err(e)?.is_some(), op)
            }
            Op::UserByEmail => {
                let q = FindOne::new("user")
                    .where_clause(Where::new("email", s(email(rng.below(USERS)))));
                check(db.find_one(q).await.map_err(e)?.is_some(), op)
            }
            Op::SessionsOfUser => {
                let q = FindMany::new("session")
                    .where_clause(Where::new("user_id", s(format!("u{}", rng.below(USERS)))))
                    .sort_by(Sort::new("created_at", SortDirection::Desc));
                check(db.find_many(q).await.map_err(e)?.len() >= 10, op)
            }
            Op::AccountByProvider => {
                let q = FindOne::new("account")
                    .where_clause(Where::new(
                        "account_id",
                        s(format!("gh{}", rng.below(USERS))),
                    ))
                    .where_clause(Where::new("provider_id", s("github")));
                check(db.find_one(q).await.map_err(e)?.is_some(), op)
            }
            Op::SessionCreate => {
                let token = self.next_id("t");
                let q = Create::new("session")
                    .data("id", s(self.next_id("s")))
                    .data(
                        "expires_at",
                        DbValue::Timestamp(now + time::Duration::days(7)),
                    )
                    .data("token", s(token.clone()))
                    .data("created_at", DbValue::Timestamp(now))
                    .data("updated_at", DbValue::Timestamp(now))
                    .data("ip_address", s("10.0.0.2"))
                    .data("user_agent", s("bench/1.0"))
                    .data("user_id", s(format!("u{}", rng.below(USERS))))
                    .select(SESSION_FIELDS)
                    .force_allow_id();
                db.create(q).await.map_err(e)?;
                self.push_created(token);
                Ok(())
            }
            Op::SessionUpdate => {
                let token = format!("tok{}", rng.below(USERS * SESSIONS_PER_USER));
                let q = Update::new("session")
                    .where_clause(Where::new("token", s(token)))
                    .data(
                        "expires_at",
                        DbValue::Timestamp(now + time::Duration::days(7)),
                    )
                    .data("updated_at", DbValue::Timestamp(now));
                check(db.update(q).await.map_err(e)?.is_some(), op)
            }
            Op::SessionDelete => {
                let token = self.pop_created()?;
                let q = Delete::new("session").where_clause(Where::new("token", s(token)));
                db.delete(q).await.map_err(e)
            }
            Op::Verification => {
                let id = self.next_id("v");
                let identifier = format!("email-verification:{id}");
                let create = Create::new("verification")
                    .data("id", s(id.clone()))
                    .data("identifier", s(identifier.clone()))
                    .data("value", s("secret-value"))
                    .data(
                        "expires_at",
                        DbValue::Timestamp(now + time::Duration::hours(1)),
                    )
                    .data("created_at", DbValue::Timestamp(now))
                    .data("updated_at", DbValue::Timestamp(now))
                    .force_allow_id();
                db.create(create).await.map_err(e)?;
                let latest = FindMany::new("verification")
                    .where_clause(Where::new("identifier", s(identifier.clone())))
                    .sort_by(Sort::new("created_at", SortDirection::Desc))
                    .limit(1);
                check(db.find_many(latest).await.map_err(e)?.len() == 1, op)?;
                let delete = DeleteMany::new("verification")
                    .where_clause(Where::new("identifier", s(identifier)))
                    .where_clause(Where::new("id", s(id)));
                check(db.delete_many(delete).await.map_err(e)? == 1, op)
            }
            Op::RateLimit => {
                let input = RateLimitConsumeInput {
                    key: format!("rl:{}", rng.below(RATE_LIMIT_KEYS)),
                    rule: RateLimitRule {
                        window: time::Duration::seconds(60),
                        max: RATE_LIMIT_MAX,
                    },
                    now_ms: i64::try_from(now.unix_timestamp_nanos() / 1_000_000).unwrap_or(0),
                };
                check(rate_limit.consume(input).await.map_err(e)?.permitted, op)
            }
            Op::CountEmailSuffix => {
                let q = Count::new("user").where_clause(
                    Where::new("email", s(SUFFIX))
                        .operator(WhereOperator::EndsWith)
                        .insensitive(),
                );
                check(db.count(q).await.map_err(e)? == u64::from(USERS / 10), op)
            }
        }
    }
}
