//! Typed statements prepared once per connection and reused.
//!
//! Through cornucopia's default path a plain `tokio_postgres::Client` re-prepares every call
//! (Parse/Describe, then Bind/Execute: two round trips). Each generated statement is prepared
//! the first time it runs on a connection and kept here, keyed by its static SQL text, so every
//! later call is one Bind/Execute round trip. The keys are the fixed set of generated
//! statements, so the cache is bounded.

use std::collections::HashMap;
use std::future::Future;
use std::sync::RwLock;

use tokio_postgres::{Error, Statement};

use crate::dynamic::statements::DynamicStatements;

/// Prepared typed statements of one connection.
#[derive(Default)]
pub(crate) struct StatementCache {
    prepared: RwLock<HashMap<&'static str, Statement>>,
    /// Named statements for repeating dynamic SQL on the same connection.
    pub(crate) dynamic: DynamicStatements,
}

impl std::fmt::Debug for StatementCache {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("StatementCache")
            .field("prepared", &self.len())
            .finish()
    }
}

impl StatementCache {
    /// Returns the statement for `sql`, preparing it with `prepare` on first use.
    ///
    /// Two tasks racing on first use both prepare; one statement is kept and the other is
    /// closed when dropped.
    pub(crate) async fn get<F, Fut>(
        &self,
        sql: &'static str,
        prepare: F,
    ) -> Result<Statement, Error>
    where
        F: FnOnce() -> Fut,
        Fut: Future<Output = Result<Statement, Error>>,
    {
        if let Some(found) = self
            .prepared
            .read()
            .ok()
            .and_then(|map| map.get(sql).cloned())
        {
            return Ok(found);
        }
        let statement = prepare().await?;
        Ok(match self.prepared.write() {
            Ok(mut map) => map.entry(sql).or_insert(statement).clone(),
            Err(_) => statement,
        })
    }

    /// Forgets every prepared statement, e.g. after a migration changed the tables they read.
    pub(crate) fn clear(&self) {
        if let Ok(mut map) = self.prepared.write() {
            map.clear();
        }
        self.dynamic.clear();
    }

    /// How many statements, typed and dynamic, are prepared on this connection.
    pub(crate) fn len(&self) -> usize {
        self.prepared.read().map(|map| map.len()).unwrap_or(0) + self.dynamic.len()
    }
}
