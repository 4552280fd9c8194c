//! Every generated statement, listed once, for [`crate::verify`].

use super::Model;
use super::generated::queries::{account, rate_limit, session, user, verification};

/// One statement cornucopia generated from `queries/`.
#[derive(Debug, Clone, Copy)]
pub(crate) struct CompiledStatement {
    /// The query's name in `queries/<model>.sql`.
    pub(crate) name: &'static str,
    /// The fixed table it reads or writes.
    pub(crate) model: Model,
    /// Its SQL text, exactly as it is prepared.
    pub(crate) sql: fn() -> &'static str,
}

macro_rules! statement {
    ($module:ident, $name:ident, $model:ident) => {
        CompiledStatement {
            name: stringify!($name),
            model: Model::$model,
            sql: || $module::$name().sql(),
        }
    };
}

/// Every generated statement (a unit test checks none is missing).
pub(crate) const STATEMENTS: [CompiledStatement; 39] = [
    statement!(account, insert_account, Account),
    statement!(account, find_account_by_id, Account),
    statement!(account, find_account_by_user_id_and_provider_id, Account),
    statement!(account, find_account_by_account_id_and_provider_id, Account),
    statement!(account, find_accounts_by_user_id, Account),
    statement!(account, update_account_by_id, Account),
    statement!(account, delete_account_by_id, Account),
    statement!(account, delete_accounts_by_user_id, Account),
    statement!(rate_limit, consume_rate_limit, RateLimit),
    statement!(rate_limit, find_rate_limit, RateLimit),
    statement!(session, insert_session, Session),
    statement!(session, find_session_by_token, Session),
    statement!(session, find_session_by_id, Session),
    statement!(session, find_sessions_by_tokens, Session),
    statement!(session, find_sessions_by_user_id, Session),
    statement!(
        session,
        find_sessions_by_user_id_by_created_at_desc,
        Session
    ),
    statement!(session, update_session_by_token, Session),
    statement!(session, update_session_expiry_by_token, Session),
    statement!(session, update_sessions_by_user_id, Session),
    statement!(session, delete_session_by_token, Session),
    statement!(session, delete_sessions_by_user_id, Session),
    statement!(session, delete_expired_sessions, Session),
    statement!(user, insert_user, User),
    statement!(user, find_user_by_id, User),
    statement!(user, find_user_by_email, User),
    statement!(user, list_users, User),
    statement!(user, list_users_by_created_at_desc, User),
    statement!(user, list_users_by_created_at_asc, User),
    statement!(user, count_users, User),
    statement!(user, update_user_by_id, User),
    statement!(user, delete_user_by_id, User),
    statement!(verification, insert_verification, Verification),
    statement!(verification, find_verification_by_identifier, Verification),
    statement!(
        verification,
        find_verifications_by_identifier_by_created_at_desc,
        Verification
    ),
    statement!(
        verification,
        update_verification_by_identifier_id_value,
        Verification
    ),
    statement!(
        verification,
        delete_verification_by_identifier,
        Verification
    ),
    statement!(
        verification,
        delete_verifications_by_identifier_and_id,
        Verification
    ),
    statement!(
        verification,
        delete_verifications_by_identifier,
        Verification
    ),
    statement!(verification, delete_expired_verifications, Verification),
];

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_generated_statement_is_listed_once() {
        let generated = include_str!(concat!(env!("OUT_DIR"), "/cornucopia.rs"));
        let structs = generated
            .lines()
            .filter(|line| line.trim_start().starts_with("pub struct ") && line.contains("Stmt("))
            .count();
        assert_eq!(
            structs,
            STATEMENTS.len(),
            "a generated statement is not listed"
        );
        let mut names: Vec<_> = STATEMENTS.iter().map(|s| s.name).collect();
        names.sort_unstable();
        names.dedup();
        assert_eq!(names.len(), STATEMENTS.len(), "a statement is listed twice");
        for statement in &STATEMENTS {
            assert!(
                generated.contains(&format!("pub fn {}()", statement.name)),
                "{} is not generated",
                statement.name
            );
        }
    }
}
