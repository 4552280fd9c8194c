//! The adapter handed to a transaction callback: every statement, typed or dynamic, runs on
//! the transaction's client.

use rustauth_core::db::{
    AdapterCapabilities, AdapterFuture, Count, Create, DbAdapter, DbRecord, DbSchema, Delete,
    DeleteMany, FindMany, FindOne, TransactionCallback, Update, UpdateMany,
};
use rustauth_core::plugin::PluginMigration;
use tokio_postgres::Transaction;

use std::time::Duration;

use crate::adapter::{ADAPTER_ID, State, capabilities};
use crate::error::Error;
use crate::migrate;
use crate::router::Router;
use crate::timeout::{Poison, within};
use crate::typed::client::{Conn, Session, Statements};

/// A [`DbAdapter`] bound to one open transaction.
pub(crate) struct TransactionAdapter<'tx> {
    transaction: &'tx Transaction<'tx>,
    session: Session<'tx>,
    router: Router<'tx>,
    /// The statement timeout, and the flag set when one statement ran out of it.
    limit: Duration,
    poison: &'tx Poison,
}

impl<'tx> TransactionAdapter<'tx> {
    pub(crate) fn new(
        transaction: &'tx Transaction<'tx>,
        statements: Statements<'tx>,
        state: &'tx State,
        limit: Duration,
        poison: &'tx Poison,
    ) -> Self {
        Self {
            transaction,
            session: Session {
                conn: Conn::Transaction(transaction),
                statements,
            },
            router: state.router(),
            limit,
            poison,
        }
    }
}

macro_rules! tx_op {
    ($self:ident, $method:ident, $query:ident) => {
        Box::pin(within(
            $self.limit,
            $self.poison,
            stringify!($method),
            $self.router.$method($self.session, $query),
        ))
    };
}

impl DbAdapter for TransactionAdapter<'_> {
    fn id(&self) -> &str {
        ADAPTER_ID
    }

    fn capabilities(&self) -> AdapterCapabilities {
        capabilities()
    }

    fn create<'a>(&'a self, query: Create) -> AdapterFuture<'a, DbRecord> {
        tx_op!(self, create, query)
    }

    fn find_one<'a>(&'a self, query: FindOne) -> AdapterFuture<'a, Option<DbRecord>> {
        tx_op!(self, find_one, query)
    }

    fn find_many<'a>(&'a self, query: FindMany) -> AdapterFuture<'a, Vec<DbRecord>> {
        tx_op!(self, find_many, query)
    }

    fn count<'a>(&'a self, query: Count) -> AdapterFuture<'a, u64> {
        tx_op!(self, count, query)
    }

    fn update<'a>(&'a self, query: Update) -> AdapterFuture<'a, Option<DbRecord>> {
        tx_op!(self, update, query)
    }

    fn update_many<'a>(&'a self, query: UpdateMany) -> AdapterFuture<'a, u64> {
        tx_op!(self, update_many, query)
    }

    fn delete<'a>(&'a self, query: Delete) -> AdapterFuture<'a, ()> {
        tx_op!(self, delete, query)
    }

    fn delete_many<'a>(&'a self, query: DeleteMany) -> AdapterFuture<'a, u64> {
        tx_op!(self, delete_many, query)
    }

    fn transaction<'a>(&'a self, _callback: TransactionCallback<'a>) -> AdapterFuture<'a, ()> {
        Box::pin(async {
            Err(Error::Usage(
                "nested transactions are not supported: run the work on the transaction adapter \
                 you already have"
                    .to_owned(),
            )
            .into())
        })
    }

    fn run_migrations<'a>(&'a self, schema: &'a DbSchema) -> AdapterFuture<'a, ()> {
        Box::pin(async move {
            let result = migrate::apply_in(self.transaction, schema).await;
            if let Statements::Cache(cache) = self.session.statements {
                cache.clear();
            }
            result
        })
    }

    fn run_plugin_migrations<'a>(
        &'a self,
        migrations: &'a [PluginMigration],
    ) -> AdapterFuture<'a, ()> {
        Box::pin(migrate::run_plugin_migrations(self.transaction, migrations))
    }
}
