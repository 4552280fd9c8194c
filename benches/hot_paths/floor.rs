//! The raw floor: plain tokio-postgres, every statement prepared once, rows decoded to
//! `DbRecord`s keyed by logical field names exactly as the adapter returns them.

use rustauth_core::db::{DbRecord, DbValue};
use time::OffsetDateTime;
use tokio_postgres::{Client, Row, Statement};

#[derive(Clone, Copy)]
enum Col {
    Text,
    OptText,
    Bool,
    At,
    OptAt,
}

const USER: &[(&str, Col)] = &[
    ("id", Col::Text),
    ("name", Col::Text),
    ("email", Col::Text),
    ("email_verified", Col::Bool),
    ("image", Col::OptText),
    ("created_at", Col::At),
    ("updated_at", Col::At),
];
const SESSION: &[(&str, Col)] = &[
    ("id", Col::Text),
    ("expires_at", Col::At),
    ("token", Col::Text),
    ("created_at", Col::At),
    ("updated_at", Col::At),
    ("ip_address", Col::OptText),
    ("user_agent", Col::OptText),
    ("user_id", Col::Text),
];
const ACCOUNT: &[(&str, Col)] = &[
    ("id", Col::Text),
    ("account_id", Col::Text),
    ("provider_id", Col::Text),
    ("user_id", Col::Text),
    ("access_token", Col::OptText),
    ("refresh_token", Col::OptText),
    ("id_token", Col::OptText),
    ("access_token_expires_at", Col::OptAt),
    ("refresh_token_expires_at", Col::OptAt),
    ("scope", Col::OptText),
    ("password", Col::OptText),
    ("created_at", Col::At),
    ("updated_at", Col::At),
];
const VERIFICATION: &[(&str, Col)] = &[
    ("id", Col::Text),
    ("identifier", Col::Text),
    ("value", Col::Text),
    ("expires_at", Col::At),
    ("created_at", Col::At),
    ("updated_at", Col::At),
];

fn decode(row: &Row, cols: &[(&str, Col)]) -> Result<DbRecord, tokio_postgres::Error> {
    let mut record = DbRecord::with_capacity(cols.len());
    for (index, (name, col)) in cols.iter().enumerate() {
        let value = match col {
            Col::Text => DbValue::String(row.try_get(index)?),
            Col::OptText => row
                .try_get::<_, Option<String>>(index)?
                .map_or(DbValue::Null, DbValue::String),
            Col::Bool => DbValue::Boolean(row.try_get(index)?),
            Col::At => DbValue::Timestamp(row.try_get(index)?),
            Col::OptAt => row
                .try_get::<_, Option<OffsetDateTime>>(index)?
                .map_or(DbValue::Null, DbValue::Timestamp),
        };
        record.insert((*name).to_owned(), value);
    }
    Ok(record)
}

const USER_COLS: &str = "id, name, email, email_verified, image, created_at, updated_at";
const SESSION_COLS: &str =
    "id, expires_at, token, created_at, updated_at, ip_address, user_agent, user_id";
const ACCOUNT_COLS: &str = "id, account_id, provider_id, user_id, access_token, refresh_token, \
    id_token, access_token_expires_at, refresh_token_expires_at, scope, password, created_at, \
    updated_at";
const VERIFICATION_COLS: &str = "id, identifier, value, expires_at, created_at, updated_at";

/// The one-statement consume, as in `queries/rate_limit.sql`.
const CONSUME: &str = "WITH permitted AS (INSERT INTO rate_limits AS r (key, count, last_request) \
    VALUES ($1, 1, $2::bigint) ON CONFLICT (key) DO UPDATE SET count = CASE \
    WHEN $2::bigint::numeric - r.last_request <= $3::bigint THEN LEAST(r.count, 9223372036854775806) + 1 \
    ELSE 1 END, last_request = EXCLUDED.last_request \
    WHERE r.count >= 0 AND NOT ($2::bigint::numeric - r.last_request <= $3::bigint \
    AND r.count >= $4::bigint) \
    RETURNING r.count, r.last_request) \
    SELECT count, last_request, true FROM permitted UNION ALL \
    SELECT r.count, r.last_request, false FROM rate_limits AS r \
    WHERE r.key = $1 AND NOT EXISTS (SELECT 1 FROM permitted)";

/// Every floor statement, prepared once on one client.
pub struct Floor {
    client: Client,
    session_by_token: Statement,
    user_by_id: Statement,
    user_by_email: Statement,
    sessions_of_user: Statement,
    account: Statement,
    create_session: Statement,
    update_session: Statement,
    delete_session: Statement,
    create_verification: Statement,
    latest_verification: Statement,
    delete_verification: Statement,
    consume: Statement,
    count_suffix: Statement,
}

impl Floor {
    pub async fn new(client: Client) -> Result<Self, tokio_postgres::Error> {
        let c = &client;
        Ok(Self {
            session_by_token: c
                .prepare(&format!(
                    "SELECT {SESSION_COLS} FROM sessions WHERE token = $1"
                ))
                .await?,
            user_by_id: c
                .prepare(&format!("SELECT {USER_COLS} FROM users WHERE id = $1"))
                .await?,
            user_by_email: c
                .prepare(&format!("SELECT {USER_COLS} FROM users WHERE email = $1"))
                .await?,
            sessions_of_user: c
                .prepare(&format!(
                    "SELECT {SESSION_COLS} FROM sessions WHERE user_id = $1 \
                     ORDER BY created_at DESC"
                ))
                .await?,
            account: c
                .prepare(&format!(
                    "SELECT {ACCOUNT_COLS} FROM accounts WHERE account_id = $1 \
                     AND provider_id = $2 LIMIT 1"
                ))
                .await?,
            create_session: c
                .prepare(&format!(
                    "INSERT INTO sessions ({SESSION_COLS}) VALUES ($1, $2, $3, $4, $5, $6, $7, $8)"
                ))
                .await?,
            update_session: c
                .prepare(&format!(
                    "UPDATE sessions SET expires_at = $1, updated_at = $2 WHERE token = $3 \
                     RETURNING {SESSION_COLS}"
                ))
                .await?,
            delete_session: c.prepare("DELETE FROM sessions WHERE token = $1").await?,
            create_verification: c
                .prepare(&format!(
                    "INSERT INTO verifications ({VERIFICATION_COLS}) \
                     VALUES ($1, $2, $3, $4, $5, $6)"
                ))
                .await?,
            latest_verification: c
                .prepare(&format!(
                    "SELECT {VERIFICATION_COLS} FROM verifications WHERE identifier = $1 \
                     ORDER BY created_at DESC LIMIT 1"
                ))
                .await?,
            delete_verification: c
                .prepare("DELETE FROM verifications WHERE identifier = $1 AND id = $2")
                .await?,
            consume: c.prepare(CONSUME).await?,
            count_suffix: c
                .prepare("SELECT COUNT(*) FROM users WHERE email ILIKE $1 ESCAPE '\\'")
                .await?,
            client,
        })
    }

    async fn one(
        &self,
        statement: &Statement,
        params: &[&(dyn tokio_postgres::types::ToSql + Sync)],
        cols: &[(&str, Col)],
    ) -> Result<Option<DbRecord>, tokio_postgres::Error> {
        self.client
            .query_opt(statement, params)
            .await?
            .map(|row| decode(&row, cols))
            .transpose()
    }

    pub async fn session_by_token(
        &self,
        token: &str,
    ) -> Result<Option<DbRecord>, tokio_postgres::Error> {
        self.one(&self.session_by_token, &[&token], SESSION).await
    }

    pub async fn user_by_id(&self, id: &str) -> Result<Option<DbRecord>, tokio_postgres::Error> {
        self.one(&self.user_by_id, &[&id], USER).await
    }

    pub async fn user_by_email(
        &self,
        email: &str,
    ) -> Result<Option<DbRecord>, tokio_postgres::Error> {
        self.one(&self.user_by_email, &[&email], USER).await
    }

    pub async fn sessions_of_user(
        &self,
        user_id: &str,
    ) -> Result<Vec<DbRecord>, tokio_postgres::Error> {
        let rows = self
            .client
            .query(&self.sessions_of_user, &[&user_id])
            .await?;
        rows.iter().map(|row| decode(row, SESSION)).collect()
    }

    pub async fn account(
        &self,
        account_id: &str,
        provider_id: &str,
    ) -> Result<Option<DbRecord>, tokio_postgres::Error> {
        self.one(&self.account, &[&account_id, &provider_id], ACCOUNT)
            .await
    }

    /// Inserts the record's fields (as core's session create sends them); returns the record.
    pub async fn create_session(&self, record: &DbRecord) -> Result<u64, tokio_postgres::Error> {
        let text = |name: &str| match record.get(name) {
            Some(DbValue::String(v)) => Some(v.as_str()),
            _ => None,
        };
        let at = |name: &str| match record.get(name) {
            Some(DbValue::Timestamp(v)) => Some(*v),
            _ => None,
        };
        self.client
            .execute(
                &self.create_session,
                &[
                    &text("id"),
                    &at("expires_at"),
                    &text("token"),
                    &at("created_at"),
                    &at("updated_at"),
                    &text("ip_address"),
                    &text("user_agent"),
                    &text("user_id"),
                ],
            )
            .await
    }

    pub async fn update_session(
        &self,
        token: &str,
        expires_at: OffsetDateTime,
        updated_at: OffsetDateTime,
    ) -> Result<Option<DbRecord>, tokio_postgres::Error> {
        self.one(
            &self.update_session,
            &[&expires_at, &updated_at, &token],
            SESSION,
        )
        .await
    }

    pub async fn delete_session(&self, token: &str) -> Result<u64, tokio_postgres::Error> {
        self.client.execute(&self.delete_session, &[&token]).await
    }

    pub async fn create_verification(
        &self,
        id: &str,
        identifier: &str,
        value: &str,
        expires_at: OffsetDateTime,
        now: OffsetDateTime,
    ) -> Result<u64, tokio_postgres::Error> {
        self.client
            .execute(
                &self.create_verification,
                &[&id, &identifier, &value, &expires_at, &now, &now],
            )
            .await
    }

    pub async fn latest_verification(
        &self,
        identifier: &str,
    ) -> Result<Option<DbRecord>, tokio_postgres::Error> {
        self.one(&self.latest_verification, &[&identifier], VERIFICATION)
            .await
    }

    pub async fn delete_verification(
        &self,
        identifier: &str,
        id: &str,
    ) -> Result<u64, tokio_postgres::Error> {
        self.client
            .execute(&self.delete_verification, &[&identifier, &id])
            .await
    }

    /// One consume; `true` when permitted.
    pub async fn consume(
        &self,
        key: &str,
        now_ms: i64,
        window_ms: i64,
        max: i64,
    ) -> Result<bool, tokio_postgres::Error> {
        let row = self
            .client
            .query_opt(&self.consume, &[&key, &now_ms, &window_ms, &max])
            .await?;
        match row {
            Some(row) => {
                let (_count, _last): (i64, i64) = (row.try_get(0)?, row.try_get(1)?);
                row.try_get(2)
            }
            None => Ok(false),
        }
    }

    pub async fn count_email_suffix(&self, suffix: &str) -> Result<i64, tokio_postgres::Error> {
        let pattern = format!("%{suffix}");
        let row = self
            .client
            .query_one(&self.count_suffix, &[&pattern])
            .await?;
        row.try_get(0)
    }
}
