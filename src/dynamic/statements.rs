//! A bounded cache of named statements for planner SQL that repeats.
//!
//! Unnamed statements cost the server a parse, analysis and plan on every call, about a third
//! of a lookup's server time. Most dynamic traffic repeats a few shapes (plugin-extended users,
//! renamed tables), so a statement seen twice on a connection is prepared under a name and
//! reused. One-off SQL (IN lists of a new length, a new literal OFFSET) stays unnamed: the
//! first sighting only records a hash, so it never pays the extra prepare round trip. At most
//! [`CAPACITY`] statements are kept per connection; evicting one drops it, which closes it on
//! the server, so server-side prepared statements never grow past that bound.

use std::collections::hash_map::DefaultHasher;
use std::collections::{HashMap, HashSet};
use std::hash::{Hash, Hasher};
use std::sync::Mutex;

use tokio_postgres::Statement;
use tokio_postgres::types::Type;

/// Most named dynamic statements kept per connection.
pub(crate) const CAPACITY: usize = 128;
/// Most first sightings remembered before the record starts over.
const SEEN_CAPACITY: usize = 4096;

/// Named statements for repeating planner SQL on one connection.
#[derive(Default)]
pub(crate) struct DynamicStatements {
    state: Mutex<State>,
}

#[derive(Default)]
struct State {
    prepared: HashMap<(String, Vec<Type>), (Statement, u64)>,
    seen: HashSet<u64>,
    clock: u64,
}

impl std::fmt::Debug for DynamicStatements {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("DynamicStatements")
            .field("prepared", &self.len())
            .finish()
    }
}

/// What to do with one statement.
pub(crate) enum Plan {
    /// Run this named statement.
    Cached(Statement),
    /// Seen before but not prepared: prepare it, then [`DynamicStatements::keep`] it.
    Prepare,
    /// First sighting: run it unnamed.
    Unnamed,
}

impl DynamicStatements {
    /// Decides how to run `sql` with these parameter types.
    pub(crate) fn plan(&self, sql: &str, types: &[Type]) -> Plan {
        let Ok(mut state) = self.state.lock() else {
            return Plan::Unnamed;
        };
        state.clock += 1;
        let clock = state.clock;
        if let Some((statement, used)) = state.prepared.get_mut(&(sql.to_owned(), types.to_vec())) {
            *used = clock;
            return Plan::Cached(statement.clone());
        }
        let mut hasher = DefaultHasher::new();
        (sql, types).hash(&mut hasher);
        if state.seen.len() >= SEEN_CAPACITY {
            state.seen.clear();
        }
        if state.seen.insert(hasher.finish()) {
            Plan::Unnamed
        } else {
            Plan::Prepare
        }
    }

    /// Keeps a statement prepared for `sql`, evicting the least recently used one when full.
    pub(crate) fn keep(&self, sql: &str, types: &[Type], statement: Statement) {
        let Ok(mut state) = self.state.lock() else {
            return;
        };
        if state.prepared.len() >= CAPACITY {
            let oldest = state
                .prepared
                .iter()
                .min_by_key(|(_, (_, used))| *used)
                .map(|(key, _)| key.clone());
            if let Some(oldest) = oldest {
                // Dropping the statement closes it on the server.
                state.prepared.remove(&oldest);
            }
        }
        let clock = state.clock;
        state
            .prepared
            .insert((sql.to_owned(), types.to_vec()), (statement, clock));
    }

    /// Forgets every statement, e.g. after a migration changed the tables.
    pub(crate) fn clear(&self) {
        if let Ok(mut state) = self.state.lock() {
            state.prepared.clear();
            state.seen.clear();
        }
    }

    /// How many named dynamic statements are kept.
    pub(crate) fn len(&self) -> usize {
        self.state
            .lock()
            .map(|state| state.prepared.len())
            .unwrap_or(0)
    }
}
