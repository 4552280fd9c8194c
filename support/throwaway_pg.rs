//! A throwaway PostgreSQL cluster for build.rs, tests and examples (std only).
//!
//! Include it with `#[path = "../support/throwaway_pg.rs"] mod throwaway_pg;`. The cluster lives
//! in a fresh temporary directory, listens only on a unix socket in that directory, and is
//! stopped and removed on drop. As root, `initdb` refuses to run, so the directory is handed to
//! the `postgres` user and every tool runs through `runuser -u postgres --`.
// Each includer uses a different subset of this file.
#![allow(dead_code, unreachable_pub)]

use std::fs;
use std::os::unix::fs::PermissionsExt as _;
use std::os::unix::process::CommandExt as _;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::{SystemTime, UNIX_EPOCH};

/// Directory holding `initdb` and `pg_ctl`; overrides every other lookup.
pub const PG_BIN_ENV: &str = "RUSTAUTH_PG_BIN";
/// Port used only to name the socket file; the socket directory is private, so it never clashes.
const SOCKET_PORT: u16 = 5432;
const INSTALL_HINT: &str = "install postgresql (Debian: apt-get install postgresql) \
                            or set RUSTAUTH_PG_BIN=/path/to/bin";

/// A PostgreSQL cluster in a temporary directory, listening only on a unix socket; removed on drop.
#[derive(Debug)]
pub struct ThrowawayPostgres {
    dir: PathBuf,
    pg_ctl: PathBuf,
    as_postgres: bool,
    port: u16,
}

impl ThrowawayPostgres {
    /// Finds the binaries, runs `initdb` and `pg_ctl start` in a fresh temporary directory.
    ///
    /// # Errors
    /// Returns a message naming the fix when no binaries are found, when running as root without
    /// a usable `postgres` user, or when `initdb`/`pg_ctl` fail (with the server log tail).
    pub fn start() -> Result<Self, String> {
        Self::start_inner(false, "", &[])
    }

    /// Like [`ThrowawayPostgres::start`], with `extra_conf` appended to `postgresql.conf` (later
    /// lines win, so `listen_addresses = '127.0.0.1'` and `port = 5433` make it listen on TCP
    /// as well) and `files` written into the data directory before the server starts, readable
    /// only by the server (for example `server.crt` and `server.key` for `ssl = on`).
    ///
    /// # Errors
    /// As for [`ThrowawayPostgres::start`], or when a file cannot be written.
    pub fn start_with_config(extra_conf: &str, files: &[(&str, &[u8])]) -> Result<Self, String> {
        Self::start_inner(false, extra_conf, files)
    }

    /// Like [`ThrowawayPostgres::start`], and also stops and removes the cluster once the
    /// current process exits, even without `Drop` (for clusters kept in a `static`) and even if
    /// the process is killed, during startup included.
    ///
    /// A detached `sh` watchdog, spawned before `initdb`, polls the current pid once a second.
    ///
    /// # Errors
    /// As for [`ThrowawayPostgres::start`], or when the watchdog cannot be spawned.
    pub fn start_until_process_exit() -> Result<Self, String> {
        Self::start_inner(true, "", &[])
    }

    fn start_inner(
        watchdog: bool,
        extra_conf: &str,
        files: &[(&str, &[u8])],
    ) -> Result<Self, String> {
        let bin = find_bin_dir()?;
        let as_postgres = is_root();
        let dir = make_temp_dir(as_postgres)?;
        // From here on, Drop cleans up whatever was created.
        let cluster = ThrowawayPostgres {
            dir,
            pg_ctl: bin.join("pg_ctl"),
            as_postgres,
            // The server uses the last `port` line, as we do.
            port: extra_conf
                .lines()
                .rev()
                .filter_map(|line| line.trim().strip_prefix("port"))
                .find_map(|rest| rest.trim().strip_prefix('=')?.trim().parse().ok())
                .unwrap_or(SOCKET_PORT),
        };
        if watchdog {
            cluster.spawn_watchdog()?;
        }
        let data = cluster.data_dir();
        let out = cluster.run(
            Command::new(bin.join("initdb"))
                .arg("-D")
                .arg(&data)
                .args(["-U", "postgres", "--auth=trust", "--no-sync", "-E", "UTF8"])
                // Unicode-aware LOWER/ILIKE (RustAuth's insensitive mode), byte-order sorting.
                .arg("--locale=C.UTF-8"),
        )?;
        if !out.status.success() {
            return Err(format!(
                "initdb failed ({}): {}",
                out.status,
                output_text(&out)
            ));
        }
        // Settings go into postgresql.conf rather than `pg_ctl -o`, which is re-parsed by a shell.
        let settings = format!(
            "\nlisten_addresses = ''\nunix_socket_directories = '{}'\nport = {SOCKET_PORT}\n\
             fsync = off\nsynchronous_commit = off\nfull_page_writes = off\nmax_connections = 200\n",
            cluster.dir.display().to_string().replace('\'', "''"),
        );
        let conf = data.join("postgresql.conf");
        let mut text =
            fs::read_to_string(&conf).map_err(|e| format!("read {}: {e}", conf.display()))?;
        text.push_str(&settings);
        text.push_str(extra_conf);
        text.push('\n');
        fs::write(&conf, text).map_err(|e| format!("write {}: {e}", conf.display()))?;
        for (name, contents) in files {
            cluster.install_file(name, contents)?;
        }
        let out = cluster.run(
            Command::new(&cluster.pg_ctl)
                .arg("-D")
                .arg(&data)
                .arg("-l")
                .arg(cluster.log_file())
                .args(["-w", "-t", "60", "-s", "start"]),
        )?;
        if !out.status.success() {
            return Err(format!(
                "pg_ctl start failed ({}): {}\nserver log tail:\n{}",
                out.status,
                output_text(&out),
                cluster.log_tail(20),
            ));
        }
        Ok(cluster)
    }

    /// A libpq-style connection string usable by `tokio_postgres::Config`.
    pub fn url(&self, dbname: &str) -> String {
        format!(
            "host={} port={} user=postgres dbname={}",
            quote_value(&self.dir.display().to_string()),
            self.port,
            quote_value(dbname),
        )
    }

    /// Writes `contents` to `name` in the data directory, mode 0600, owned by the server's user.
    fn install_file(&self, name: &str, contents: &[u8]) -> Result<(), String> {
        let path = self.data_dir().join(name);
        fs::write(&path, contents).map_err(|e| format!("write {}: {e}", path.display()))?;
        fs::set_permissions(&path, fs::Permissions::from_mode(0o600))
            .map_err(|e| format!("chmod {}: {e}", path.display()))?;
        if self.as_postgres {
            let chown = Command::new("chown")
                .arg("postgres:postgres")
                .arg(&path)
                .output();
            if !chown.as_ref().is_ok_and(|o| o.status.success()) {
                return Err(format!(
                    "chown postgres {} failed: {chown:?}",
                    path.display()
                ));
            }
        }
        Ok(())
    }

    /// The directory holding the socket file (and the cluster).
    pub fn socket_dir(&self) -> &Path {
        &self.dir
    }

    /// The port that names the socket file (`.s.PGSQL.<port>`).
    pub fn port(&self) -> u16 {
        self.port
    }

    /// Restarts the server (`pg_ctl restart -m fast`): every connection is ended, the data is
    /// kept. Only for clusters the caller started itself.
    ///
    /// # Errors
    /// A message with the server log tail when `pg_ctl` fails.
    pub fn restart(&self) -> Result<(), String> {
        let out = self.run(
            Command::new(&self.pg_ctl)
                .arg("-D")
                .arg(self.data_dir())
                .arg("-l")
                .arg(self.log_file())
                .args(["-m", "fast", "-w", "-t", "60", "-s", "restart"]),
        )?;
        if !out.status.success() {
            return Err(format!(
                "pg_ctl restart failed ({}): {}\nserver log tail:\n{}",
                out.status,
                output_text(&out),
                self.log_tail(20),
            ));
        }
        Ok(())
    }

    /// The postmaster's process id, while it runs.
    pub fn pid(&self) -> Option<u32> {
        let text = fs::read_to_string(self.data_dir().join("postmaster.pid")).ok()?;
        text.lines().next()?.trim().parse().ok()
    }

    fn spawn_watchdog(&self) -> Result<(), String> {
        // Retries: initdb or pg_ctl orphaned mid-startup may still be writing into the directory.
        let script = "pid=$1 dir=$2; shift 2; trap '' INT HUP; \
                      while kill -0 \"$pid\" 2>/dev/null; do sleep 1; done; n=0; \
                      while [ -e \"$dir\" ] && [ $n -lt 30 ]; do n=$((n+1)); sleep 1; \
                      \"$@\" >/dev/null 2>&1; rm -rf \"$dir\" 2>/dev/null; done";
        let mut cmd = Command::new("sh");
        cmd.args(["-c", script, "rustauth-pg-reaper"])
            .arg(std::process::id().to_string())
            .arg(&self.dir);
        if self.as_postgres {
            cmd.args(["runuser", "-u", "postgres", "--"]);
        }
        cmd.arg(&self.pg_ctl).arg("-D").arg(self.data_dir()).args([
            "-m",
            "immediate",
            "-w",
            "stop",
        ]);
        // Own process group and no inherited pipes: Ctrl-C and output capture never wait on it.
        cmd.stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .process_group(0);
        cmd.spawn()
            .map(drop)
            .map_err(|e| format!("could not spawn the cleanup watchdog: {e}"))
    }

    fn data_dir(&self) -> PathBuf {
        self.dir.join("data")
    }

    fn log_file(&self) -> PathBuf {
        self.dir.join("server.log")
    }

    fn log_tail(&self, lines: usize) -> String {
        let text = fs::read_to_string(self.log_file()).unwrap_or_default();
        let all: Vec<&str> = text.lines().collect();
        all[all.len().saturating_sub(lines)..].join("\n")
    }

    /// Runs a PostgreSQL tool, as `postgres` when we are root, from inside the cluster directory.
    fn run(&self, cmd: &mut Command) -> Result<Output, String> {
        let mut actual = if self.as_postgres {
            let mut wrapped = Command::new("runuser");
            wrapped
                .args(["-u", "postgres", "--"])
                .arg(cmd.get_program())
                .args(cmd.get_args());
            wrapped
        } else {
            std::mem::replace(cmd, Command::new("true"))
        };
        actual.current_dir(&self.dir).stdin(Stdio::null());
        actual
            .output()
            .map_err(|e| format!("could not run {:?}: {e}", actual.get_program()))
    }
}

impl Drop for ThrowawayPostgres {
    fn drop(&mut self) {
        if self.data_dir().join("postmaster.pid").exists() {
            let _ignored = self.run(
                Command::new(&self.pg_ctl)
                    .arg("-D")
                    .arg(self.data_dir())
                    .args(["-m", "immediate", "-w", "-s", "stop"]),
            );
        }
        let _ignored = fs::remove_dir_all(&self.dir);
    }
}

/// `$RUSTAUTH_PG_BIN`, then `PATH`, then the newest `/usr/lib/postgresql/*/bin`.
fn find_bin_dir() -> Result<PathBuf, String> {
    let has_tools = |dir: &Path| dir.join("initdb").is_file() && dir.join("pg_ctl").is_file();
    if let Some(dir) = std::env::var_os(PG_BIN_ENV).filter(|v| !v.is_empty()) {
        let dir = PathBuf::from(dir);
        return if has_tools(&dir) {
            Ok(dir)
        } else {
            Err(format!(
                "{PG_BIN_ENV}={} has no initdb/pg_ctl: point it at PostgreSQL's bin directory",
                dir.display()
            ))
        };
    }
    if let Some(dir) =
        std::env::var_os("PATH").and_then(|p| std::env::split_paths(&p).find(|d| has_tools(d)))
    {
        return Ok(dir);
    }
    let newest = fs::read_dir("/usr/lib/postgresql")
        .into_iter()
        .flatten()
        .flatten()
        .filter_map(|e| {
            let version: Vec<u32> = e
                .file_name()
                .to_str()?
                .split('.')
                .map(str::parse)
                .collect::<Result<_, _>>()
                .ok()?;
            let bin = e.path().join("bin");
            has_tools(&bin).then_some((version, bin))
        })
        .max();
    newest
        .map(|(_, bin)| bin)
        .ok_or_else(|| format!("no PostgreSQL binaries found: {INSTALL_HINT}"))
}

fn is_root() -> bool {
    Command::new("id")
        .arg("-u")
        .output()
        .is_ok_and(|o| o.status.success() && String::from_utf8_lossy(&o.stdout).trim() == "0")
}

/// Creates a fresh 0755 directory; as root under `/tmp`, owned by `postgres`.
fn make_temp_dir(as_postgres: bool) -> Result<PathBuf, String> {
    static SEQ: AtomicU32 = AtomicU32::new(0);
    let nanos = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.subsec_nanos())
        .unwrap_or(0);
    let name = format!(
        "rustauth-pg-{}-{}-{nanos}",
        std::process::id(),
        SEQ.fetch_add(1, Ordering::Relaxed)
    );
    // $TMPDIR may not be traversable by `postgres`; /tmp always is.
    let base = if as_postgres {
        PathBuf::from("/tmp")
    } else {
        std::env::temp_dir()
    };
    let dir = base.join(name);
    fs::create_dir(&dir).map_err(|e| format!("could not create {}: {e}", dir.display()))?;
    let result = prepare_dir(&dir, as_postgres);
    if result.is_err() {
        let _ignored = fs::remove_dir_all(&dir);
    }
    result.map(|()| dir)
}

fn prepare_dir(dir: &Path, as_postgres: bool) -> Result<(), String> {
    fs::set_permissions(dir, fs::Permissions::from_mode(0o755))
        .map_err(|e| format!("chmod {}: {e}", dir.display()))?;
    if !as_postgres {
        return Ok(());
    }
    let hint = "running as root, so initdb must run as the `postgres` user via runuser \
                (install postgresql, which creates that user, or use a server URL instead)";
    let chown = Command::new("chown")
        .arg("postgres:postgres")
        .arg(dir)
        .output();
    if !chown.as_ref().is_ok_and(|o| o.status.success()) {
        return Err(format!(
            "chown postgres {} failed: {chown:?}; {hint}",
            dir.display()
        ));
    }
    let probe = Command::new("runuser")
        .args(["-u", "postgres", "--", "test", "-w"])
        .arg(dir)
        .output();
    if !probe.as_ref().is_ok_and(|o| o.status.success()) {
        return Err(format!(
            "`postgres` cannot write {}: {probe:?}; {hint}",
            dir.display()
        ));
    }
    Ok(())
}

fn output_text(out: &Output) -> String {
    format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    )
    .trim()
    .to_owned()
}

/// Quotes a libpq key/value value when it contains spaces, quotes or backslashes.
fn quote_value(value: &str) -> String {
    if !value.is_empty() && !value.contains([' ', '\'', '\\']) {
        return value.to_owned();
    }
    format!("'{}'", value.replace('\\', "\\\\").replace('\'', "\\'"))
}

/// Replaces the database of a `postgres://` URL or a `key=value` connection string.
pub fn with_dbname(url: &str, dbname: &str) -> String {
    if let Some(scheme_end) = url.find("://").filter(|_| url.starts_with("postgres")) {
        let rest = &url[scheme_end + 3..];
        let authority_end = rest.find(['/', '?']).unwrap_or(rest.len());
        let query = rest[authority_end..]
            .find('?')
            .map_or("", |q| &rest[authority_end + q..]);
        return format!(
            "{}{}/{dbname}{query}",
            &url[..scheme_end + 3],
            &rest[..authority_end]
        );
    }
    let kept: Vec<&str> = url
        .split_whitespace()
        .filter(|kv| !kv.starts_with("dbname="))
        .collect();
    format!("{} dbname={dbname}", kept.join(" "))
}
