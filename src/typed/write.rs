//! Typed writes: inserts of the fixed tables, and the updates and deletes core issues.
//!
//! Updates use one statement per key whatever the SET list: each column is written as
//! `CASE WHEN :set_col THEN :col ELSE col END`, so a `(flag, value)` pair per column covers every
//! data key set core sends. Deletes and multi-row updates return `count(*)` from a CTE so they
//! run as prepared row statements.

use rustauth_core::db::{DbRecord, DbTable, Delete, DeleteMany, Update, UpdateMany};

use super::Model;
use super::client::Session;
use super::generated::queries::{account, session, user, verification};
use super::shape::{ColumnValue, boolean, data_values, eq_strings, lt_timestamp, text, timestamp};

type Values<'t, 'q> = Vec<(&'t str, ColumnValue<'q>)>;

/// A checked insert: every data key is a column of the table with a value of its type.
#[derive(Debug)]
pub(crate) struct Insert<'t, 'q> {
    model: Model,
    values: Values<'t, 'q>,
}

/// The typed insert for a `create`, if every data key is a known column with a value of its
/// type.
pub(crate) fn plan_insert<'t, 'q>(
    model: Model,
    table: &'t DbTable,
    data: &'q DbRecord,
) -> Option<Insert<'t, 'q>> {
    if model == Model::RateLimit {
        return None;
    }
    Some(Insert {
        model,
        values: data_values(table, data, &[])?,
    })
}

/// Runs a planned insert.
pub(crate) async fn insert(
    session: Session<'_>,
    insert: Insert<'_, '_>,
) -> Result<(), tokio_postgres::Error> {
    let v = &insert.values;
    let (t, b, ts) = (
        |c| text(v, c).value,
        |c| boolean(v, c).value,
        |c| timestamp(v, c).value,
    );
    match insert.model {
        Model::User => {
            with_statement!(session, user::insert_user, |stmt, db| stmt
                .bind(
                    &db,
                    &t("id"),
                    &t("name"),
                    &t("email"),
                    &b("email_verified"),
                    &t("image"),
                    &ts("created_at"),
                    &ts("updated_at"),
                )
                .await?);
        }
        Model::Session => {
            with_statement!(session, session::insert_session, |stmt, db| stmt
                .bind(
                    &db,
                    &t("id"),
                    &ts("expires_at"),
                    &t("token"),
                    &ts("created_at"),
                    &ts("updated_at"),
                    &t("ip_address"),
                    &t("user_agent"),
                    &t("user_id"),
                )
                .await?);
        }
        Model::Account => {
            with_statement!(session, account::insert_account, |stmt, db| stmt
                .bind(
                    &db,
                    &t("id"),
                    &t("account_id"),
                    &t("provider_id"),
                    &t("user_id"),
                    &t("access_token"),
                    &t("refresh_token"),
                    &t("id_token"),
                    &ts("access_token_expires_at"),
                    &ts("refresh_token_expires_at"),
                    &t("scope"),
                    &t("password"),
                    &ts("created_at"),
                    &ts("updated_at"),
                )
                .await?);
        }
        Model::Verification => {
            with_statement!(session, verification::insert_verification, |stmt, db| stmt
                .bind(
                    &db,
                    &t("id"),
                    &t("identifier"),
                    &t("value"),
                    &ts("expires_at"),
                    &ts("created_at"),
                    &ts("updated_at"),
                )
                .await?);
        }
        Model::RateLimit => {}
    }
    Ok(())
}

/// A single-row update core issues, by key.
#[derive(Debug)]
pub(crate) enum UpdateOne<'t, 'q> {
    UserById(&'q str, Values<'t, 'q>),
    /// Core's session refresh: exactly `expires_at` and `updated_at`, both set.
    SessionExpiryByToken(&'q str, [time::OffsetDateTime; 2]),
    SessionByToken(&'q str, Values<'t, 'q>),
    AccountById(&'q str, Values<'t, 'q>),
    VerificationByIdentifierIdValue([&'q str; 3], Values<'t, 'q>),
}

/// The typed statement for an `update` with non-empty data, if its shape has one.
pub(crate) fn plan_update<'t, 'q>(
    model: Model,
    table: &'t DbTable,
    query: &'q Update,
) -> Option<UpdateOne<'t, 'q>> {
    let clauses = query.where_clauses.as_slice();
    let values = data_values(table, &query.data, &["id"])?;
    Some(match model {
        Model::User => UpdateOne::UserById(eq_strings(clauses, ["id"])?[0], values),
        Model::Session => {
            let token = eq_strings(clauses, ["token"])?[0];
            match session_expiry(&values) {
                Some(instants) => UpdateOne::SessionExpiryByToken(token, instants),
                None => UpdateOne::SessionByToken(token, values),
            }
        }
        Model::Account => UpdateOne::AccountById(eq_strings(clauses, ["id"])?[0], values),
        Model::Verification => UpdateOne::VerificationByIdentifierIdValue(
            eq_strings(clauses, ["identifier", "id", "value"])?,
            values,
        ),
        Model::RateLimit => return None,
    })
}

/// The new `expires_at` and `updated_at` when they are the whole SET list.
fn session_expiry(values: &Values<'_, '_>) -> Option<[time::OffsetDateTime; 2]> {
    if values.len() != 2 {
        return None;
    }
    Some([
        timestamp(values, "expires_at").value?,
        timestamp(values, "updated_at").value?,
    ])
}

/// Runs a planned single-row update; returns the full post-update row.
pub(crate) async fn update(
    session: Session<'_>,
    update: UpdateOne<'_, '_>,
) -> Result<Option<DbRecord>, tokio_postgres::Error> {
    Ok(match update {
        UpdateOne::UserById(id, v) => {
            let (n, e, ev, i, c, u) = (
                text(&v, "name"),
                text(&v, "email"),
                boolean(&v, "email_verified"),
                text(&v, "image"),
                timestamp(&v, "created_at"),
                timestamp(&v, "updated_at"),
            );
            with_statement!(session, user::update_user_by_id, |stmt, db| stmt
                .bind(
                    &db, &n.set, &n.value, &e.set, &e.value, &ev.set, &ev.value, &i.set, &i.value,
                    &c.set, &c.value, &u.set, &u.value, &id,
                )
                .opt()
                .await?)
            .map(Into::into)
        }
        UpdateOne::SessionExpiryByToken(token, [expires_at, updated_at]) => with_statement!(
            session,
            session::update_session_expiry_by_token,
            |stmt, db| stmt.bind(&db, &expires_at, &updated_at, &token).opt().await
        )?
        .map(Into::into),
        UpdateOne::SessionByToken(token, v) => {
            let (ex, tk, c, u, ip, ua, uid) = session_sets(&v);
            with_statement!(session, session::update_session_by_token, |stmt, db| stmt
                .bind(
                    &db, &ex.set, &ex.value, &tk.set, &tk.value, &c.set, &c.value, &u.set,
                    &u.value, &ip.set, &ip.value, &ua.set, &ua.value, &uid.set, &uid.value, &token,
                )
                .opt()
                .await?)
            .map(Into::into)
        }
        UpdateOne::AccountById(id, v) => {
            let t = |c| text(&v, c);
            let ts = |c| timestamp(&v, c);
            let (aid, pid, uid, at, rt, it) = (
                t("account_id"),
                t("provider_id"),
                t("user_id"),
                t("access_token"),
                t("refresh_token"),
                t("id_token"),
            );
            let (ate, rte, sc, pw, c, u) = (
                ts("access_token_expires_at"),
                ts("refresh_token_expires_at"),
                t("scope"),
                t("password"),
                ts("created_at"),
                ts("updated_at"),
            );
            with_statement!(session, account::update_account_by_id, |stmt, db| stmt
                .bind(
                    &db, &aid.set, &aid.value, &pid.set, &pid.value, &uid.set, &uid.value, &at.set,
                    &at.value, &rt.set, &rt.value, &it.set, &it.value, &ate.set, &ate.value,
                    &rte.set, &rte.value, &sc.set, &sc.value, &pw.set, &pw.value, &c.set, &c.value,
                    &u.set, &u.value, &id,
                )
                .opt()
                .await?)
            .map(Into::into)
        }
        UpdateOne::VerificationByIdentifierIdValue([identifier, id, value], v) => {
            let (i, va, ex, c, u) = (
                text(&v, "identifier"),
                text(&v, "value"),
                timestamp(&v, "expires_at"),
                timestamp(&v, "created_at"),
                timestamp(&v, "updated_at"),
            );
            with_statement!(
                session,
                verification::update_verification_by_identifier_id_value,
                |stmt, db| stmt
                    .bind(
                        &db,
                        &i.set,
                        &i.value,
                        &va.set,
                        &va.value,
                        &ex.set,
                        &ex.value,
                        &c.set,
                        &c.value,
                        &u.set,
                        &u.value,
                        &identifier,
                        &id,
                        &value,
                    )
                    .opt()
                    .await?
            )
            .map(Into::into)
        }
    })
}

#[allow(clippy::type_complexity)]
fn session_sets<'q>(
    v: &Values<'_, 'q>,
) -> (
    super::shape::Set<time::OffsetDateTime>,
    super::shape::Set<&'q str>,
    super::shape::Set<time::OffsetDateTime>,
    super::shape::Set<time::OffsetDateTime>,
    super::shape::Set<&'q str>,
    super::shape::Set<&'q str>,
    super::shape::Set<&'q str>,
) {
    (
        timestamp(v, "expires_at"),
        text(v, "token"),
        timestamp(v, "created_at"),
        timestamp(v, "updated_at"),
        text(v, "ip_address"),
        text(v, "user_agent"),
        text(v, "user_id"),
    )
}

/// The typed statement for an `update_many` with non-empty data, if its shape has one.
pub(crate) fn plan_update_many<'t, 'q>(
    model: Model,
    table: &'t DbTable,
    query: &'q UpdateMany,
) -> Option<(&'q str, Values<'t, 'q>)> {
    if model != Model::Session {
        return None;
    }
    let values = data_values(table, &query.data, &["id"])?;
    Some((eq_strings(&query.where_clauses, ["user_id"])?[0], values))
}

/// Runs the typed multi-row session update; returns how many rows changed.
pub(crate) async fn update_sessions_of_user(
    session: Session<'_>,
    user_id: &str,
    v: Values<'_, '_>,
) -> Result<u64, tokio_postgres::Error> {
    let (ex, tk, c, u, ip, ua, uid) = session_sets(&v);
    with_statement!(session, session::update_sessions_by_user_id, |stmt, db| {
        stmt.bind(
            &db, &ex.set, &ex.value, &tk.set, &tk.value, &c.set, &c.value, &u.set, &u.value,
            &ip.set, &ip.value, &ua.set, &ua.value, &uid.set, &uid.value, &user_id,
        )
        .await
    })
}

/// A delete core issues, by key; `Delete` shapes remove at most one row.
#[derive(Debug, Clone, Copy)]
pub(crate) enum Removal<'q> {
    UserById(&'q str),
    SessionByToken(&'q str),
    SessionsByUserId(&'q str),
    ExpiredSessions(time::OffsetDateTime),
    AccountById(&'q str),
    AccountsByUserId(&'q str),
    OneVerificationByIdentifier(&'q str),
    VerificationsByIdentifier(&'q str),
    VerificationsByIdentifierAndId(&'q str, &'q str),
    ExpiredVerifications(time::OffsetDateTime),
}

/// The typed statement for a single-row `delete`, if its shape has one.
pub(crate) fn plan_delete(model: Model, query: &Delete) -> Option<Removal<'_>> {
    let clauses = query.where_clauses.as_slice();
    Some(match model {
        Model::User => Removal::UserById(eq_strings(clauses, ["id"])?[0]),
        // Tokens and ids are unique, so "all matches" is "at most one".
        Model::Session => Removal::SessionByToken(eq_strings(clauses, ["token"])?[0]),
        Model::Account => Removal::AccountById(eq_strings(clauses, ["id"])?[0]),
        Model::Verification => {
            Removal::OneVerificationByIdentifier(eq_strings(clauses, ["identifier"])?[0])
        }
        Model::RateLimit => return None,
    })
}

/// The typed statement for a `delete_many`, if its shape has one.
pub(crate) fn plan_delete_many(model: Model, query: &DeleteMany) -> Option<Removal<'_>> {
    let clauses = query.where_clauses.as_slice();
    Some(match model {
        Model::Session => match eq_strings(clauses, ["user_id"]) {
            Some([user_id]) => Removal::SessionsByUserId(user_id),
            None => Removal::ExpiredSessions(lt_timestamp(clauses, "expires_at")?),
        },
        Model::Account => Removal::AccountsByUserId(eq_strings(clauses, ["user_id"])?[0]),
        Model::Verification => {
            if let Some([identifier, id]) = eq_strings(clauses, ["identifier", "id"]) {
                Removal::VerificationsByIdentifierAndId(identifier, id)
            } else if let Some([identifier]) = eq_strings(clauses, ["identifier"]) {
                Removal::VerificationsByIdentifier(identifier)
            } else {
                Removal::ExpiredVerifications(lt_timestamp(clauses, "expires_at")?)
            }
        }
        Model::User | Model::RateLimit => return None,
    })
}

/// Runs a planned delete; returns how many rows went.
pub(crate) async fn delete(
    session: Session<'_>,
    removal: Removal<'_>,
) -> Result<u64, tokio_postgres::Error> {
    match removal {
        Removal::UserById(id) => {
            with_statement!(session, user::delete_user_by_id, |stmt, db| stmt
                .bind(&db, &id)
                .await)
        }
        Removal::SessionByToken(token) => {
            with_statement!(session, session::delete_session_by_token, |stmt, db| stmt
                .bind(&db, &token)
                .await)
        }
        Removal::SessionsByUserId(user_id) => {
            with_statement!(session, session::delete_sessions_by_user_id, |stmt, db| {
                stmt.bind(&db, &user_id).await
            })
        }
        Removal::ExpiredSessions(now) => {
            with_statement!(session, session::delete_expired_sessions, |stmt, db| stmt
                .bind(&db, &now)
                .await)
        }
        Removal::AccountById(id) => {
            with_statement!(session, account::delete_account_by_id, |stmt, db| stmt
                .bind(&db, &id)
                .await)
        }
        Removal::AccountsByUserId(user_id) => {
            with_statement!(session, account::delete_accounts_by_user_id, |stmt, db| {
                stmt.bind(&db, &user_id).await
            })
        }
        Removal::OneVerificationByIdentifier(identifier) => {
            with_statement!(
                session,
                verification::delete_verification_by_identifier,
                |stmt, db| stmt.bind(&db, &identifier).await
            )
        }
        Removal::VerificationsByIdentifier(identifier) => {
            with_statement!(
                session,
                verification::delete_verifications_by_identifier,
                |stmt, db| stmt.bind(&db, &identifier).await
            )
        }
        Removal::VerificationsByIdentifierAndId(identifier, id) => {
            with_statement!(
                session,
                verification::delete_verifications_by_identifier_and_id,
                |stmt, db| stmt.bind(&db, &identifier, &id).await
            )
        }
        Removal::ExpiredVerifications(now) => {
            with_statement!(
                session,
                verification::delete_expired_verifications,
                |stmt, db| stmt.bind(&db, &now).await
            )
        }
    }
}
