//! Through PgBouncer in transaction pooling mode (no named-statement support before 1.21),
//! `StatementMode::Unnamed` passes the core contract and a concurrent workload.
//!
//! Needs the `pgbouncer` binary (Debian: `apt-get install pgbouncer`); `.ci/run` installs it
//! and sets `RUSTAUTH_PG_REQUIRE_PGBOUNCER=1`, so CI never skips this test.

use std::net::TcpListener;
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use rustauth_core::db::adapter_harness::run_adapter_contract;
use rustauth_core::db::{Count, DbAdapter};
use rustauth_tokio_postgres::{RoutePolicy, TokioPostgresAdapter};
use tokio_postgres::config::Host;

use crate::fixtures::{Backend, connection, create_user, default_schema};
use crate::support::TestDb;

struct PgBouncer {
    child: Child,
    dir: PathBuf,
    port: u16,
}

impl Drop for PgBouncer {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

fn binary() -> Option<PathBuf> {
    ["/usr/sbin/pgbouncer", "/usr/bin/pgbouncer"]
        .iter()
        .map(PathBuf::from)
        .find(|p| p.exists())
}

/// A PgBouncer in front of the test server, passing every database name through.
fn start(db: &TestDb) -> Option<PgBouncer> {
    let Some(binary) = binary() else {
        assert!(
            std::env::var_os("RUSTAUTH_PG_REQUIRE_PGBOUNCER").is_none(),
            "pgbouncer is required but not installed (apt-get install pgbouncer)"
        );
        eprintln!("SKIPPED: pgbouncer is not installed (apt-get install pgbouncer)");
        return None;
    };
    let config: tokio_postgres::Config = db.url.parse().expect("url");
    let host = match config.get_hosts().first().expect("host") {
        Host::Tcp(name) => name.clone(),
        Host::Unix(dir) => dir.display().to_string(),
    };
    let server_port = config.get_ports().first().copied().unwrap_or(5432);
    let password = config
        .get_password()
        .map(|p| format!(" password={}", String::from_utf8_lossy(p)))
        .unwrap_or_default();
    let port = TcpListener::bind("127.0.0.1:0")
        .expect("free port")
        .local_addr()
        .expect("addr")
        .port();
    let dir =
        std::env::temp_dir().join(format!("rustauth-pgbouncer-{}-{port}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("dir");
    std::fs::write(dir.join("users.txt"), "\"postgres\" \"\"\n").expect("userlist");
    std::fs::write(
        dir.join("pgbouncer.ini"),
        format!(
            "[databases]\n* = host={host} port={server_port} user=postgres{password}\n\
             [pgbouncer]\nlisten_addr = 127.0.0.1\nlisten_port = {port}\nunix_socket_dir =\n\
             auth_type = trust\nauth_file = {}\npool_mode = transaction\ndefault_pool_size = 3\n\
             max_client_conn = 200\nlogfile = {}\n",
            dir.join("users.txt").display(),
            dir.join("pgbouncer.log").display()
        ),
    )
    .expect("config");
    let root = Command::new("id")
        .arg("-u")
        .output()
        .map(|o| o.stdout == b"0\n")
        .unwrap_or(false);
    let mut command = if root {
        // PgBouncer refuses to run as root.
        Command::new("chown")
            .args(["-R", "postgres"])
            .arg(&dir)
            .status()
            .expect("chown");
        let mut c = Command::new("runuser");
        c.args(["-u", "postgres", "--"]).arg(&binary);
        c
    } else {
        Command::new(&binary)
    };
    let child = command
        .arg(dir.join("pgbouncer.ini"))
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("spawn pgbouncer");
    let bouncer = PgBouncer { child, dir, port };
    let deadline = Instant::now() + Duration::from_secs(10);
    while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
        assert!(Instant::now() < deadline, "pgbouncer did not start");
        std::thread::sleep(Duration::from_millis(50));
    }
    Some(bouncer)
}

#[tokio::test]
async fn unnamed_mode_works_through_pgbouncer_in_transaction_mode() {
    let first = TestDb::new().await;
    let Some(bouncer) = start(&first) else { return };
    for &backend in &[
        Backend::ClientUnnamed,
        #[cfg(feature = "deadpool")]
        Backend::PoolUnnamed,
    ] {
        let db = TestDb::new().await;
        let url = format!(
            "host=127.0.0.1 port={} user=postgres dbname={}",
            bouncer.port, db.name
        );
        let adapter = TokioPostgresAdapter::with_policy(
            connection(&url, backend).await,
            default_schema(),
            RoutePolicy::Auto,
        );
        run_adapter_contract(&adapter)
            .await
            .unwrap_or_else(|e| panic!("{backend:?}: {e}"));
        let adapter = std::sync::Arc::new(adapter);
        let mut tasks = Vec::new();
        for i in 0..32 {
            let adapter = adapter.clone();
            tasks.push(tokio::spawn(async move {
                create_user(
                    &*adapter,
                    &format!("{backend:?}-{i}"),
                    &format!("{backend:?}-{i}@example.com"),
                    i,
                )
                .await;
                adapter.count(Count::new("user")).await.expect("count")
            }));
        }
        for task in tasks {
            task.await.expect("task");
        }
        assert!(
            adapter.route_counts().0 > 0,
            "typed statements ran through the pooler"
        );
    }
}
