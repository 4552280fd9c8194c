//! The server (a URL or a throwaway cluster), one freshly migrated and seeded database per
//! implementation (copies of one seeded template), and cleanup.

use std::path::Path;

use tokio_postgres::{Client, NoTls};

use crate::throwaway_pg::ThrowawayPostgres;
pub use crate::throwaway_pg::with_dbname;

/// Server to benchmark against instead of a throwaway cluster.
pub const BENCH_URL_ENV: &str = "RUSTAUTH_PG_BENCH_URL";
const TEMPLATE: &str = "rustauth_bench_tpl";

pub const USERS: u32 = 10_000;
pub const SESSIONS_PER_USER: u32 = 10;
pub const RATE_LIMIT_KEYS: u32 = 1_000;

/// The server URL and, when we started one, the cluster (stopped on drop).
pub fn server() -> Result<(String, Option<ThrowawayPostgres>), String> {
    if let Some(url) = std::env::var(BENCH_URL_ENV)
        .ok()
        .filter(|v| !v.trim().is_empty())
    {
        return Ok((url, None));
    }
    let cluster = ThrowawayPostgres::start()?;
    Ok((cluster.url("postgres"), Some(cluster)))
}

/// Connects and spawns the driver on the current runtime.
pub async fn connect(url: &str) -> Result<Client, String> {
    let (client, connection) = tokio_postgres::connect(url, NoTls)
        .await
        .map_err(|e| format!("connect: {e}"))?;
    tokio::spawn(async move {
        let _closed = connection.await;
    });
    Ok(client)
}

async fn run(client: &Client, sql: &str) -> Result<(), String> {
    client
        .batch_execute(sql)
        .await
        .map_err(|e| format!("{sql}: {e:?}"))
}

/// Builds the seeded template, then one copy of it per name in `databases`.
pub async fn databases(url: &str, databases: &[String]) -> Result<(), String> {
    let admin = connect(url).await?;
    for name in databases.iter().map(String::as_str).chain([TEMPLATE]) {
        run(
            &admin,
            &format!("DROP DATABASE IF EXISTS \"{name}\" WITH (FORCE)"),
        )
        .await?;
    }
    run(
        &admin,
        &format!("CREATE DATABASE \"{TEMPLATE}\" TEMPLATE template0"),
    )
    .await?;
    {
        let tpl = connect(&with_dbname(url, TEMPLATE)).await?;
        let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("migrations");
        let mut files: Vec<_> = std::fs::read_dir(&dir)
            .map_err(|e| format!("read {}: {e}", dir.display()))?
            .filter_map(|entry| entry.ok().map(|e| e.path()))
            .filter(|path| path.extension().is_some_and(|ext| ext == "sql"))
            .collect();
        files.sort();
        for file in files {
            let sql = std::fs::read_to_string(&file).map_err(|e| e.to_string())?;
            run(&tpl, &sql).await?;
        }
        seed(&tpl).await?;
        run(&tpl, "VACUUM ANALYZE").await?;
        for table in [
            "users",
            "sessions",
            "accounts",
            "verifications",
            "rate_limits",
        ] {
            let sql = format!("ALTER TABLE {table} SET (autovacuum_enabled = false)");
            run(&tpl, &sql).await?;
        }
    }
    for name in databases {
        // The template's backend may still be exiting; CREATE … TEMPLATE refuses meanwhile.
        let sql = format!("CREATE DATABASE \"{name}\" TEMPLATE \"{TEMPLATE}\"");
        let mut attempt = 0;
        while let Err(error) = run(&admin, &sql).await {
            attempt += 1;
            if attempt > 100 {
                return Err(error);
            }
            tokio::time::sleep(std::time::Duration::from_millis(20)).await;
        }
        prewarm(&with_dbname(url, name)).await?;
    }
    // Best effort: needs superuser (or pg_checkpoint) on a URL server.
    let _checkpointed = admin.batch_execute("CHECKPOINT").await;
    Ok(())
}

/// Loads every table and index of a fresh copy into shared buffers, so the implementation
/// that happens to run first does not pay for cold pages (best effort: `pg_prewarm` is a
/// contrib extension; without it the heaps are at least read once).
async fn prewarm(url: &str) -> Result<(), String> {
    let client = connect(url).await?;
    let warmed = client
        .batch_execute(
            "CREATE EXTENSION IF NOT EXISTS pg_prewarm;
             SELECT pg_prewarm(c.oid) FROM pg_class AS c
             WHERE c.relnamespace = 'public'::regnamespace AND c.relkind IN ('r', 'i');",
        )
        .await;
    if warmed.is_err() {
        for table in [
            "users",
            "sessions",
            "accounts",
            "verifications",
            "rate_limits",
        ] {
            run(&client, &format!("SELECT count(*) FROM {table}")).await?;
        }
    }
    Ok(())
}

/// 10,000 users, 50,000 sessions (10 a user), 10,000 accounts and the rate-limit keys, each
/// table in one multi-row `INSERT … SELECT` over `generate_series`.
async fn seed(client: &Client) -> Result<(), String> {
    let users = USERS - 1;
    let sessions = USERS * SESSIONS_PER_USER - 1;
    let keys = RATE_LIMIT_KEYS - 1;
    run(
        client,
        &format!(
            "INSERT INTO users (id, name, email, email_verified, image, created_at, updated_at) \
             SELECT 'u' || i, 'User ' || i, 'user' || i || '@d' || (i % 10) || '.example.com', \
             i % 2 = 0, NULL, now() - make_interval(secs => i), now() \
             FROM generate_series(0, {users}) AS i;
             INSERT INTO sessions (id, expires_at, token, created_at, updated_at, ip_address, \
             user_agent, user_id) \
             SELECT 's' || i, now() + interval '7 days', 'tok' || i, \
             now() - make_interval(secs => i), now(), '10.0.0.1', 'bench/1.0', \
             'u' || (i / {SESSIONS_PER_USER}) FROM generate_series(0, {sessions}) AS i;
             INSERT INTO accounts (id, account_id, provider_id, user_id, access_token, scope, \
             created_at, updated_at) \
             SELECT 'a' || i, 'gh' || i, 'github', 'u' || i, 'at' || i, 'read:user', now(), now() \
             FROM generate_series(0, {users}) AS i;
             INSERT INTO rate_limits (key, count, last_request) \
             SELECT 'rl:' || i, 0, 0 FROM generate_series(0, {keys}) AS i;"
        ),
    )
    .await
}

/// Drops the benchmark databases (best effort).
pub async fn drop_databases(url: &str, databases: &[String]) {
    if let Ok(admin) = connect(url).await {
        for name in databases.iter().map(String::as_str).chain([TEMPLATE]) {
            let sql = format!("DROP DATABASE IF EXISTS \"{name}\" WITH (FORCE)");
            let _best_effort = admin.batch_execute(&sql).await;
        }
    }
}
