//! The shared server, the migrated template, and database naming and cleanup.

use std::path::Path;
use std::sync::OnceLock;
use std::sync::atomic::{AtomicBool, AtomicU32, Ordering};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use tokio_postgres::Client;

use super::throwaway_pg::ThrowawayPostgres;
pub use super::throwaway_pg::with_dbname;

/// Server to use instead of a throwaway cluster (CI sets it).
pub const TEST_URL_ENV: &str = "RUSTAUTH_PG_TEST_URL";
/// Serializes template creation across test processes sharing a server.
const TEMPLATE_LOCK: i64 = 0x7275_7374_6175_7468; // "rustauth"
/// Databases older than this are dropped even if their process id looks alive (pid reuse).
const STALE_AFTER: Duration = Duration::from_secs(3600);

static SERVER_URL: OnceLock<String> = OnceLock::new();
static CLUSTER: OnceLock<ThrowawayPostgres> = OnceLock::new();
static RUN_START_NANOS: OnceLock<u128> = OnceLock::new();
static CLEANED: AtomicBool = AtomicBool::new(false);
static TEMPLATE_READY: AtomicBool = AtomicBool::new(false);
static SEQ: AtomicU32 = AtomicU32::new(0);

/// Base URL of the shared server: `RUSTAUTH_PG_TEST_URL`, else a throwaway cluster that lives
/// as long as this test process.
pub fn server_url() -> String {
    SERVER_URL
        .get_or_init(|| {
            RUN_START_NANOS.get_or_init(now_nanos);
            if let Some(url) = std::env::var(TEST_URL_ENV)
                .ok()
                .filter(|v| !v.trim().is_empty())
            {
                return url;
            }
            // Statics are never dropped: a watchdog stops the cluster when the process exits.
            let cluster = CLUSTER.get_or_init(|| {
                ThrowawayPostgres::start_until_process_exit()
                    .unwrap_or_else(|e| panic!("no test server: set {TEST_URL_ENV}, or fix: {e}"))
            });
            cluster.url("postgres")
        })
        .clone()
}

/// A unique database name, `t_<pid>_<seq>_<nanos>`; the parts drive stale cleanup.
pub fn next_db_name() -> String {
    let seq = SEQ.fetch_add(1, Ordering::Relaxed);
    format!("t_{}_{seq}_{}", std::process::id(), now_nanos())
}

/// Once per process: drops test databases left behind by earlier (finished or killed) runs.
pub async fn prepare_server(admin: &Client) {
    if CLEANED.swap(true, Ordering::SeqCst) {
        return;
    }
    let start = *RUN_START_NANOS.get_or_init(now_nanos);
    let rows = admin
        .query(
            "SELECT datname FROM pg_database WHERE datname LIKE 't\\_%\\_%\\_%'",
            &[],
        )
        .await
        .unwrap_or_default();
    for row in rows {
        let name: String = row.get(0);
        if is_stale(&name, start) {
            let sql = format!("DROP DATABASE IF EXISTS \"{name}\" WITH (FORCE)");
            let _best_effort = admin.batch_execute(&sql).await;
        }
    }
}

fn is_stale(name: &str, run_start: u128) -> bool {
    let parts: Vec<&str> = name.split('_').collect();
    let [_, pid, _, nanos] = parts.as_slice() else {
        return false;
    };
    let (Ok(pid), Ok(nanos)) = (pid.parse::<u32>(), nanos.parse::<u128>()) else {
        return false;
    };
    if pid == std::process::id() || nanos >= run_start {
        return false;
    }
    let very_old = nanos + STALE_AFTER.as_nanos() < run_start;
    very_old || !Path::new(&format!("/proc/{pid}")).exists()
}

/// Creates `rustauth_tpl_<hash of migrations/>` once per server and returns its name.
pub async fn ensure_template(admin: &Client) -> String {
    let (template, migrations) = migrations();
    if TEMPLATE_READY.load(Ordering::SeqCst) {
        return template;
    }
    prepare_server(admin).await;
    admin
        .execute("SELECT pg_advisory_lock($1)", &[&TEMPLATE_LOCK])
        .await
        .unwrap();
    let exists = admin
        .query_opt("SELECT 1 FROM pg_database WHERE datname = $1", &[&template])
        .await
        .unwrap()
        .is_some();
    if !exists {
        build_template(admin, &template, &migrations).await;
    }
    admin
        .execute("SELECT pg_advisory_unlock($1)", &[&TEMPLATE_LOCK])
        .await
        .unwrap();
    TEMPLATE_READY.store(true, Ordering::SeqCst);
    template
}

/// Migrates a scratch database, then renames it: the template never exists half-migrated.
async fn build_template(admin: &Client, template: &str, migrations: &[(String, String)]) {
    let scratch = format!("{template}_building");
    // Separate statements: a multi-statement string is one implicit transaction.
    for sql in [
        format!("DROP DATABASE IF EXISTS \"{scratch}\" WITH (FORCE)"),
        format!("CREATE DATABASE \"{scratch}\" TEMPLATE template0"),
    ] {
        admin
            .batch_execute(&sql)
            .await
            .unwrap_or_else(|e| panic!("{sql}: {e:?}"));
    }
    let (client, conn) =
        tokio_postgres::connect(&with_dbname(&server_url(), &scratch), tokio_postgres::NoTls)
            .await
            .unwrap();
    let task = tokio::spawn(conn);
    for (file, sql) in migrations {
        client
            .batch_execute(sql)
            .await
            .unwrap_or_else(|e| panic!("migration {file}: {e:?}"));
    }
    drop(client);
    let _closed = task.await;
    // The backend may still be exiting; RENAME refuses while anyone is connected.
    let rename = format!("ALTER DATABASE \"{scratch}\" RENAME TO \"{template}\"");
    for attempt in 0.. {
        match admin.batch_execute(&rename).await {
            Ok(()) => return,
            Err(e) if attempt < 50 => {
                let _retry = e;
                tokio::time::sleep(Duration::from_millis(20)).await;
            }
            Err(e) => panic!("{rename}: {e:?}"),
        }
    }
}

/// The template name and the migration files (name, SQL) in name order.
fn migrations() -> (String, Vec<(String, String)>) {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("migrations");
    let mut files: Vec<(String, String)> = std::fs::read_dir(&dir)
        .unwrap_or_else(|e| panic!("read {}: {e}", dir.display()))
        .map(|entry| entry.unwrap().path())
        .filter(|path| path.extension().is_some_and(|ext| ext == "sql"))
        .map(|path| {
            let name = path.file_name().unwrap().to_string_lossy().into_owned();
            (name, std::fs::read_to_string(&path).unwrap())
        })
        .collect();
    files.sort();
    // FNV-1a: stable across processes and toolchains, unlike DefaultHasher.
    let mut hash: u64 = 0xcbf2_9ce4_8422_2325;
    for (name, sql) in &files {
        for byte in name.bytes().chain([0]).chain(sql.bytes()).chain([0]) {
            hash = (hash ^ u64::from(byte)).wrapping_mul(0x0100_0000_01b3);
        }
    }
    (format!("rustauth_tpl_{hash:016x}"), files)
}

fn now_nanos() -> u128 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_nanos())
}
