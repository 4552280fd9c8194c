//! The operations on the raw floor, with the same inputs the adapters get.

use rustauth_core::db::{DbRecord, DbValue};
use time::OffsetDateTime;

use crate::floor::Floor;
use crate::ops::{Impl, Op, RATE_LIMIT_MAX, Rng, SUFFIX, check, email, s};
use crate::setup::{RATE_LIMIT_KEYS, SESSIONS_PER_USER, USERS};

impl Impl {
    pub async fn run_floor(&self, floor: &Floor, op: Op, rng: &mut Rng) -> Result<(), String> {
        let e = |e: tokio_postgres::Error| format!("{e:?}");
        let now = OffsetDateTime::now_utc();
        match op {
            Op::SessionByToken => {
                let token = format!("tok{}", rng.below(USERS * SESSIONS_PER_USER));
                check(
                    floor.session_by_token(&token).await.map_err(e)?.is_some(),
                    op,
                )
            }
            Op::UserById => {
                let id = format!("u{}", rng.below(USERS));
                check(floor.user_by_id(&id).await.map_err(e)?.is_some(), op)
            }
            Op::UserByEmail => {
                let email = email(rng.below(USERS));
                check(floor.user_by_email(&email).await.map_err(e)?.is_some(), op)
            }
            Op::SessionsOfUser => {
                let id = format!("u{}", rng.below(USERS));
                check(
                    floor.sessions_of_user(&id).await.map_err(e)?.len() >= 10,
                    op,
                )
            }
            Op::AccountByProvider => {
                let account_id = format!("gh{}", rng.below(USERS));
                let found = floor.account(&account_id, "github").await.map_err(e)?;
                check(found.is_some(), op)
            }
            Op::SessionCreate => {
                let token = self.next_id("t");
                let record: DbRecord = [
                    ("id", s(self.next_id("s"))),
                    ("user_id", s(format!("u{}", rng.below(USERS)))),
                    (
                        "expires_at",
                        DbValue::Timestamp(now + time::Duration::days(7)),
                    ),
                    ("token", s(token.clone())),
                    ("ip_address", s("10.0.0.2")),
                    ("user_agent", s("bench/1.0")),
                    ("created_at", DbValue::Timestamp(now)),
                    ("updated_at", DbValue::Timestamp(now)),
                ]
                .into_iter()
                .map(|(k, v)| (k.to_owned(), v))
                .collect();
                floor.create_session(&record).await.map_err(e)?;
                self.push_created(token);
                Ok(())
            }
            Op::SessionUpdate => {
                let token = format!("tok{}", rng.below(USERS * SESSIONS_PER_USER));
                let expires = now + time::Duration::days(7);
                let updated = floor
                    .update_session(&token, expires, now)
                    .await
                    .map_err(e)?;
                check(updated.is_some(), op)
            }
            Op::SessionDelete => {
                let token = self.pop_created()?;
                floor.delete_session(&token).await.map_err(e).map(drop)
            }
            Op::Verification => {
                let id = self.next_id("v");
                let identifier = format!("email-verification:{id}");
                let expires = now + time::Duration::hours(1);
                floor
                    .create_verification(&id, &identifier, "secret-value", expires, now)
                    .await
                    .map_err(e)?;
                check(
                    floor
                        .latest_verification(&identifier)
                        .await
                        .map_err(e)?
                        .is_some(),
                    op,
                )?;
                let deleted = floor
                    .delete_verification(&identifier, &id)
                    .await
                    .map_err(e)?;
                check(deleted == 1, op)
            }
            Op::RateLimit => {
                let key = format!("rl:{}", rng.below(RATE_LIMIT_KEYS));
                let now_ms = i64::try_from(now.unix_timestamp_nanos() / 1_000_000).unwrap_or(0);
                let max = i64::try_from(RATE_LIMIT_MAX).unwrap_or(i64::MAX);
                let permitted = floor.consume(&key, now_ms, 60_000, max).await.map_err(e)?;
                check(permitted, op)
            }
            Op::CountEmailSuffix => {
                let n = floor.count_email_suffix(SUFFIX).await.map_err(e)?;
                check(n == i64::from(USERS / 10), op)
            }
        }
    }
}
