//! Live generation: a scratch database, `migrations/` applied, every query prepared by
//! cornucopia, the generated crate flattened into one deterministic file.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{SystemTime, UNIX_EPOCH};

use super::{BuildResult, URL_VAR, flatten, throwaway_pg::ThrowawayPostgres};

/// What to do with fresh output.
pub(crate) enum Mode {
    Live,
    Check,
    Update,
}

/// Generates the flattened code for `queries/` against `migrations/`.
pub(crate) fn generate(manifest_dir: &Path, url: Option<String>) -> BuildResult<String> {
    require_rustfmt()?;
    let url = url.filter(|url| !url.trim().is_empty());
    // Keep the cluster alive until generation is done; it is removed on drop, even on error.
    let (_cluster, config) = match url {
        Some(url) => (None, parse_url(&url)?),
        None => {
            let cluster = ThrowawayPostgres::start().map_err(|error| {
                format!(
                    "codegen needs a PostgreSQL: set {URL_VAR}=postgres://user:pass@host:port, or \
                     install PostgreSQL so a throwaway cluster can start ({error})"
                )
            })?;
            let config = parse_url(&cluster.url("postgres"))?;
            (Some(cluster), config)
        }
    };
    let out_dir = PathBuf::from(std::env::var("OUT_DIR").map_err(|e| e.to_string())?);
    let crate_dir = out_dir.join("cornucopia_crate");
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .enable_all()
        .build()
        .map_err(|error| format!("cannot start a tokio runtime for codegen: {error}"))?;
    let scratch = format!(
        "rustauth_pg_codegen_{}_{}",
        std::process::id(),
        SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map(|d| d.as_nanos())
            .unwrap_or_default()
    );
    let admin = connect(&runtime, &config)?;
    runtime
        .block_on(admin.batch_execute(&format!("CREATE DATABASE \"{scratch}\"")))
        .map_err(|error| db_error("cannot create the scratch database", &error))?;
    let result = generate_in(&runtime, &config, &scratch, manifest_dir, &crate_dir);
    let dropped = runtime.block_on(admin.batch_execute(&format!(
        "DROP DATABASE IF EXISTS \"{scratch}\" WITH (FORCE)"
    )));
    result?;
    dropped.map_err(|error| db_error("cannot drop the scratch database", &error))?;
    let flat = flatten::flatten_crate(&crate_dir.join("src"))?;
    rustfmt(&out_dir, &flat)
}

fn generate_in(
    runtime: &tokio::runtime::Runtime,
    config: &tokio_postgres::Config,
    scratch: &str,
    manifest_dir: &Path,
    crate_dir: &Path,
) -> BuildResult<()> {
    let mut config = config.clone();
    config.dbname(scratch);
    let client = connect(runtime, &config)?;
    let migrations = sorted_sql_files(&manifest_dir.join("migrations"))?;
    cornucopia::load_schema(&client, &migrations).map_err(|error| {
        format!(
            "a migration in migrations/ failed to apply; fix the SQL:\n{}",
            cornucopia::Error::from(Box::new(error)).report()
        )
    })?;
    let codegen_config = cornucopia::config::Config::builder()
        .queries(manifest_dir.join("queries"))
        .destination(crate_dir)
        .r#async(true)
        .sync(false)
        .add_type_mapping(
            "pg_catalog.timestamptz",
            cornucopia::config::TypeMapping::Simple("time::OffsetDateTime".into()),
        )
        .build();
    // cornucopia blocks on the client from this (non-runtime) thread while the runtime's worker
    // drives the connection; calling it from inside the runtime would deadlock.
    cornucopia::gen_live(&client, codegen_config).map_err(|error| {
        format!(
            "cornucopia rejected a query in queries/; fix the SQL or its annotations:\n{}",
            error.report()
        )
    })
}

fn connect(
    runtime: &tokio::runtime::Runtime,
    config: &tokio_postgres::Config,
) -> BuildResult<tokio_postgres::Client> {
    let (client, connection) = runtime
        .block_on(config.connect(tokio_postgres::NoTls))
        .map_err(|error| {
            db_error(
                &format!("cannot connect to the codegen database (check {URL_VAR})"),
                &error,
            )
        })?;
    // A failing connection surfaces through the client's next call; the scratch database's
    // connection is expected to end abruptly when `DROP DATABASE … WITH (FORCE)` runs.
    runtime.spawn(connection);
    Ok(client)
}

fn parse_url(url: &str) -> BuildResult<tokio_postgres::Config> {
    url.parse::<tokio_postgres::Config>().map_err(|error| {
        format!("{URL_VAR} is not a valid PostgreSQL connection string ({error}); use postgres://user:pass@host:port/db")
    })
}

fn db_error(context: &str, error: &tokio_postgres::Error) -> String {
    match error.as_db_error() {
        Some(db) => format!("{context}: SQLSTATE {}: {}", db.code().code(), db.message()),
        None => format!("{context}: {error}"),
    }
}

fn sorted_sql_files(dir: &Path) -> BuildResult<Vec<PathBuf>> {
    let entries = std::fs::read_dir(dir)
        .map_err(|error| format!("cannot read {} ({error})", dir.display()))?;
    let mut files = entries
        .filter_map(|entry| entry.ok().map(|entry| entry.path()))
        .filter(|path| path.extension().is_some_and(|ext| ext == "sql"))
        .collect::<Vec<_>>();
    files.sort();
    if files.is_empty() {
        return Err(format!("{} holds no .sql migration", dir.display()));
    }
    Ok(files)
}

fn require_rustfmt() -> BuildResult<()> {
    match Command::new("rustfmt").arg("--version").output() {
        Ok(output) if output.status.success() => Ok(()),
        _ => Err("rustfmt is required for deterministic generated code: \
                  run `rustup component add rustfmt` (the toolchain is pinned in rust-toolchain.toml)"
            .to_owned()),
    }
}

/// Formats the flattened file so the snapshot is identical wherever it is generated.
fn rustfmt(out_dir: &Path, code: &str) -> BuildResult<String> {
    let path = out_dir.join("cornucopia.unformatted.rs");
    std::fs::write(&path, code)
        .map_err(|error| format!("cannot write {} ({error})", path.display()))?;
    let status = Command::new("rustfmt")
        .args(["--edition", "2024"])
        .arg(&path)
        .status()
        .map_err(|error| {
            format!("cannot run rustfmt ({error}); run `rustup component add rustfmt`")
        })?;
    if !status.success() {
        return Err("rustfmt failed on the flattened generated code; this is a build.rs bug in build/flatten.rs".to_owned());
    }
    std::fs::read_to_string(&path)
        .map_err(|error| format!("cannot read {} ({error})", path.display()))
}
