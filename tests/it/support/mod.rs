//! Shared test harness: a migrated database per test, cloned from a template on one server.
//!
//! The server is `RUSTAUTH_PG_TEST_URL` when set (CI), else one throwaway cluster per test
//! process (`support/throwaway_pg.rs`), stopped by a watchdog when the process exits.

pub mod faults;
mod server;
#[path = "../../../support/throwaway_pg.rs"]
pub mod throwaway_pg;
pub mod wire;

use tokio_postgres::{Client, NoTls};

pub use server::server_url;

/// A fresh database, migrated from `migrations/`, cloned from a template on a shared server.
///
/// Dropping it drops the database (best effort, `WITH (FORCE)`); leftovers from killed runs are
/// removed by the next test process.
#[derive(Debug)]
pub struct TestDb {
    /// Connection string for this database.
    pub url: String,
    /// Database name, `t_<pid>_<seq>_<nanos>`.
    pub name: String,
}

impl TestDb {
    /// Creates a database from the migrated template.
    pub async fn new() -> TestDb {
        let admin = connect(&server_url()).await;
        let template = server::ensure_template(&admin).await;
        Self::create(&admin, &format!("TEMPLATE \"{template}\"")).await
    }

    /// Creates a database without any migrations (for migration tests).
    pub async fn empty() -> TestDb {
        let admin = connect(&server_url()).await;
        server::prepare_server(&admin).await;
        Self::create(&admin, "TEMPLATE template0").await
    }

    /// Connects to this database; the connection task runs on the caller's runtime.
    pub async fn client(&self) -> Client {
        connect(&self.url).await
    }

    async fn create(admin: &Client, template: &str) -> TestDb {
        let name = server::next_db_name();
        admin
            .batch_execute(&format!("CREATE DATABASE \"{name}\" {template}"))
            .await
            .unwrap_or_else(|e| panic!("CREATE DATABASE {name} {template}: {e:?}"));
        TestDb {
            url: server::with_dbname(&server_url(), &name),
            name,
        }
    }
}

impl Drop for TestDb {
    fn drop(&mut self) {
        // A helper thread with its own runtime: Drop may run inside (or outside) a test's runtime,
        // and a runtime cannot block on itself. FORCE ends the test's own lingering connections.
        let sql = format!("DROP DATABASE IF EXISTS \"{}\" WITH (FORCE)", self.name);
        let _ignored = std::thread::spawn(move || {
            let rt = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .ok()?;
            rt.block_on(async {
                let (client, conn) = tokio_postgres::connect(&server_url(), NoTls).await.ok()?;
                let task = tokio::spawn(conn);
                let dropped = client.batch_execute(&sql).await;
                drop(client);
                let _ignored = task.await;
                dropped.ok()
            })
        })
        .join();
    }
}

/// Connects to `url` and spawns the connection task on the current runtime.
pub async fn connect(url: &str) -> Client {
    let (client, conn) = tokio_postgres::connect(url, NoTls)
        .await
        .unwrap_or_else(|e| panic!("connect to {url}: {e:?}"));
    tokio::spawn(async move {
        if let Err(e) = conn.await {
            eprintln!("test connection task failed: {e}");
        }
    });
    client
}
