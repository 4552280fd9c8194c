//! The harness itself: migrated, isolated databases and a cluster that cleans up after itself.

use std::path::Path;

use crate::support::throwaway_pg::ThrowawayPostgres;
use crate::support::{TestDb, connect, server_url};

const TABLES: [&str; 5] = [
    "accounts",
    "rate_limits",
    "sessions",
    "users",
    "verifications",
];

async fn public_tables(db: &TestDb) -> Vec<String> {
    let client = db.client().await;
    let rows = client
        .query(
            "SELECT table_name::text FROM information_schema.tables \
             WHERE table_schema = 'public' ORDER BY 1",
            &[],
        )
        .await
        .unwrap();
    rows.iter().map(|r| r.get(0)).collect()
}

async fn database_exists(name: &str) -> bool {
    let admin = connect(&server_url()).await;
    let row = admin
        .query_opt("SELECT 1 FROM pg_database WHERE datname = $1", &[&name])
        .await
        .unwrap();
    row.is_some()
}

/// Gone, or a zombie nobody reaped yet (containers often lack an init that reaps).
fn process_gone(pid: u32) -> bool {
    std::fs::read_to_string(format!("/proc/{pid}/stat")).map_or(true, |stat| {
        stat.rsplit(')')
            .next()
            .is_some_and(|rest| rest.trim_start().starts_with('Z'))
    })
}

#[tokio::test]
async fn new_database_has_the_five_migrated_tables() {
    let db = TestDb::new().await;
    assert_eq!(public_tables(&db).await, TABLES);
}

#[tokio::test]
async fn empty_database_has_no_tables() {
    let db = TestDb::empty().await;
    assert!(public_tables(&db).await.is_empty());
}

#[tokio::test]
async fn two_databases_are_isolated() {
    let (a, b) = (TestDb::new().await, TestDb::new().await);
    assert_ne!(a.name, b.name);
    let (ca, cb) = (a.client().await, b.client().await);
    ca.batch_execute("INSERT INTO rate_limits (key, count, last_request) VALUES ('k', 1, 0)")
        .await
        .unwrap();
    let count = |c: tokio_postgres::Client| async move {
        c.query_one("SELECT count(*) FROM rate_limits", &[])
            .await
            .unwrap()
            .get::<_, i64>(0)
    };
    assert_eq!(count(ca).await, 1);
    assert_eq!(count(cb).await, 0);
}

#[tokio::test]
async fn dropping_a_test_db_drops_its_database() {
    let db = TestDb::new().await;
    let name = db.name.clone();
    let _open = db.client().await; // a live connection must not block the drop
    assert!(database_exists(&name).await);
    drop(db);
    assert!(!database_exists(&name).await);
}

#[tokio::test]
async fn throwaway_cluster_leaves_no_directory_and_no_process() {
    let cluster = ThrowawayPostgres::start().unwrap();
    let dir = cluster.socket_dir().to_path_buf();
    let pid = cluster.pid().expect("postmaster.pid");
    assert!(dir.join(format!(".s.PGSQL.{}", cluster.port())).exists());
    let client = connect(&cluster.url("postgres")).await;
    let one: i32 = client.query_one("SELECT 1", &[]).await.unwrap().get(0);
    assert_eq!(one, 1);
    drop(client);
    drop(cluster);
    assert!(!Path::new(&dir).exists(), "{} left behind", dir.display());
    assert!(process_gone(pid), "postmaster {pid} still running");
}
