//! Typed statements prepared once per connection and reused.
//!
//! Through cornucopia's default path a plain `tokio_postgres::Client` re-prepares every call
//! (Parse/Describe, then Bind/Execute: two round trips). Each generated `…Stmt` type is prepared
//! the first time it is used on a connection and kept here, keyed by its Rust type, so every
//! later call is one Bind/Execute round trip. The set of keys is the fixed set of generated
//! statements, so the cache is bounded.

use std::any::{Any, TypeId};
use std::collections::HashMap;
use std::future::Future;
use std::sync::{Arc, RwLock};

type Entry = Arc<dyn Any + Send + Sync>;

/// Prepared typed statements of one connection.
#[derive(Default)]
pub(crate) struct StatementCache {
    prepared: RwLock<HashMap<TypeId, Entry>>,
}

impl std::fmt::Debug for StatementCache {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("StatementCache")
            .field("prepared", &self.len())
            .finish()
    }
}

impl StatementCache {
    /// Returns the prepared `S`, preparing it with `prepare` on first use.
    ///
    /// Two tasks racing on first use both prepare; one result is kept and the other statement
    /// is closed when dropped.
    pub(crate) async fn get<S, F, Fut>(
        &self,
        make: fn() -> S,
        prepare: F,
    ) -> Result<Arc<S>, tokio_postgres::Error>
    where
        S: Any + Send + Sync,
        F: FnOnce(S) -> Fut,
        Fut: Future<Output = Result<S, tokio_postgres::Error>>,
    {
        let key = TypeId::of::<S>();
        if let Some(found) = self.lookup::<S>(key) {
            return Ok(found);
        }
        let prepared = Arc::new(prepare(make()).await?);
        if let Ok(mut map) = self.prepared.write() {
            let entry = map.entry(key).or_insert_with(|| prepared.clone());
            if let Ok(existing) = Arc::clone(entry).downcast::<S>() {
                return Ok(existing);
            }
        }
        Ok(prepared)
    }

    fn lookup<S: Any + Send + Sync>(&self, key: TypeId) -> Option<Arc<S>> {
        let map = self.prepared.read().ok()?;
        map.get(&key).cloned()?.downcast::<S>().ok()
    }

    /// Forgets every prepared statement, e.g. after a migration changed the tables they read.
    pub(crate) fn clear(&self) {
        if let Ok(mut map) = self.prepared.write() {
            map.clear();
        }
    }

    /// How many statements are prepared on this connection.
    pub(crate) fn len(&self) -> usize {
        self.prepared.read().map(|map| map.len()).unwrap_or(0)
    }
}
