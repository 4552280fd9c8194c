//! Compiles `queries/*.sql` into typed async Rust for the fixed RustAuth tables.
//!
//! Inputs:  `queries/*.sql` (cornucopia annotations) and `migrations/*.sql` (the schema).
//! Output:  `$OUT_DIR/cornucopia.rs`, included by `src/typed/generated.rs`.
//!
//! Without the `codegen` feature (the default, and for every downstream user and docs.rs) the
//! committed snapshot `src/typed/snapshot/cornucopia.rs` is copied: no database, no cornucopia.
//! With `--features codegen`, `RUSTAUTH_PG_CODEGEN` picks the mode:
//!
//! | mode            | what happens                                                          |
//! |-----------------|-----------------------------------------------------------------------|
//! | `live` (default)| generate against a live database and compile the fresh code; warn if |
//! |                 | the snapshot is stale                                                  |
//! | `check`         | generate and fail the build if the snapshot differs                   |
//! | `update`        | generate and rewrite the snapshot (only when its content changed)     |
//! | `off`           | use the snapshot                                                       |
//!
//! The database is `RUSTAUTH_PG_CODEGEN_URL` (any libpq URL or key=value string; a scratch
//! database is created and dropped on it), or else a throwaway cluster started from the system
//! PostgreSQL binaries. Every failure names its fix.

#[cfg(feature = "codegen")]
#[path = "build/codegen.rs"]
mod codegen;
#[cfg(feature = "codegen")]
#[path = "build/flatten.rs"]
mod flatten;
#[cfg(feature = "codegen")]
#[path = "support/throwaway_pg.rs"]
mod throwaway_pg;

use std::path::{Path, PathBuf};

const SNAPSHOT: &str = "src/typed/snapshot/cornucopia.rs";
const MODE_VAR: &str = "RUSTAUTH_PG_CODEGEN";
const URL_VAR: &str = "RUSTAUTH_PG_CODEGEN_URL";
const BIN_VAR: &str = "RUSTAUTH_PG_BIN";

type BuildResult<T> = Result<T, String>;

fn main() {
    if let Err(message) = run() {
        // A failing build script prints its message; the fix is always part of it.
        eprintln!("\nerror: {message}\n");
        std::process::exit(1);
    }
}

fn run() -> BuildResult<()> {
    println!("cargo::rerun-if-changed=build.rs");
    println!("cargo::rerun-if-changed=build");
    println!("cargo::rerun-if-changed=queries");
    println!("cargo::rerun-if-changed=migrations");
    println!("cargo::rerun-if-changed={SNAPSHOT}");
    for var in [MODE_VAR, URL_VAR, BIN_VAR] {
        println!("cargo::rerun-if-env-changed={var}");
    }
    let manifest_dir = PathBuf::from(env("CARGO_MANIFEST_DIR")?);
    let out = PathBuf::from(env("OUT_DIR")?).join("cornucopia.rs");
    let snapshot_path = manifest_dir.join(SNAPSHOT);
    let code = generated_code(&manifest_dir, &snapshot_path)?;
    write_if_changed(&out, &code)
}

#[cfg(not(feature = "codegen"))]
fn generated_code(_manifest_dir: &Path, snapshot: &Path) -> BuildResult<String> {
    read_snapshot(snapshot)
}

#[cfg(feature = "codegen")]
fn generated_code(manifest_dir: &Path, snapshot: &Path) -> BuildResult<String> {
    let mode = std::env::var(MODE_VAR).unwrap_or_default();
    let mode = match mode.as_str() {
        "" | "live" => codegen::Mode::Live,
        "check" => codegen::Mode::Check,
        "update" => codegen::Mode::Update,
        "off" => return read_snapshot(snapshot),
        other => {
            return Err(format!(
                "{MODE_VAR}={other:?} is not a codegen mode; use live, check, update or off"
            ));
        }
    };
    let fresh = codegen::generate(manifest_dir, std::env::var(URL_VAR).ok())?;
    let committed = std::fs::read_to_string(snapshot).unwrap_or_default();
    if committed == fresh {
        return Ok(fresh);
    }
    match mode {
        codegen::Mode::Update => write_if_changed(snapshot, &fresh)?,
        codegen::Mode::Check => {
            return Err(format!(
                "{SNAPSHOT} is out of date with queries/ and migrations/ ({}).\n\
                 Regenerate it with: {MODE_VAR}=update cargo build --features codegen",
                first_difference(&committed, &fresh)
            ));
        }
        codegen::Mode::Live => println!(
            "cargo::warning={SNAPSHOT} is stale ({}); refresh it with {MODE_VAR}=update cargo build --features codegen",
            first_difference(&committed, &fresh)
        ),
    }
    Ok(fresh)
}

fn read_snapshot(snapshot: &Path) -> BuildResult<String> {
    std::fs::read_to_string(snapshot).map_err(|error| {
        format!(
            "cannot read the committed snapshot {} ({error}); restore it from git, or regenerate it \
             with {MODE_VAR}=update cargo build --features codegen",
            snapshot.display()
        )
    })
}

fn write_if_changed(path: &Path, content: &str) -> BuildResult<()> {
    if std::fs::read_to_string(path).is_ok_and(|old| old == content) {
        return Ok(());
    }
    std::fs::write(path, content).map_err(|error| {
        format!(
            "cannot write {} ({error}); check permissions",
            path.display()
        )
    })
}

fn env(name: &str) -> BuildResult<String> {
    std::env::var(name).map_err(|_| format!("{name} is not set; run the build through cargo"))
}

#[cfg(feature = "codegen")]
fn first_difference(old: &str, new: &str) -> String {
    let mut old_lines = old.lines();
    let mut new_lines = new.lines();
    let mut line = 1;
    loop {
        match (old_lines.next(), new_lines.next()) {
            (Some(a), Some(b)) if a == b => line += 1,
            (None, None) => return "line endings differ".to_owned(),
            (a, b) => {
                return format!(
                    "first difference at line {line}: snapshot {:?} vs fresh {:?}",
                    a.unwrap_or("<end of file>"),
                    b.unwrap_or("<end of file>")
                );
            }
        }
    }
}
