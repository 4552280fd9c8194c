//! Auth hot paths: this adapter typed (`RoutePolicy::Auto`) and dynamic-only
//! (`RoutePolicy::DynamicOnly`), the raw floor (plain tokio-postgres, statements prepared once,
//! the same `DbRecord` decoding) and upstream `rustauth-tokio-postgres` 0.3.2, side by side;
//! with the `deadpool` feature also this adapter over its pool (`connect_pool`, 8 connections,
//! `RoutePolicy::Auto`) against upstream `rustauth-deadpool-postgres` 0.3.2 (8 connections).
//!
//! Run (one command, about 3 minutes on 2 cores):
//!
//! ```text
//! cargo bench --bench hot_paths                      # single client
//! cargo bench --features deadpool --bench hot_paths  # adds the pools (about 4 minutes)
//! ```
//!
//! Read single-client rows from a run without the pools: on 2 cores the 16 extra backends of
//! the pooled implementations roughly halve the single-client typed throughput of that run.
//!
//! Uses `RUSTAUTH_PG_BENCH_URL` when set, else a throwaway cluster (needs the PostgreSQL
//! binaries, see `support/throwaway_pg.rs`). `HOT_PATHS_OPS` (default 800: ops per c=1 slice,
//! c=8 runs twice as many) and `HOT_PATHS_ROUNDS` (default 6) size the run; `HOT_PATHS_ONLY=a,b`
//! keeps only the named ops (for profiling). Prints one table and the targets of issue 6; writes
//! `target/bench-results/hot_paths.json`.
//!
//! Method, chosen to be fair when client and server share 2 cores:
//! - every implementation gets its own database, a copy of one seeded template (10,000 users,
//!   50,000 sessions, 10,000 accounts, 1,000 rate-limit keys), and its own single connection
//!   (the pooled ones: their own pool of 8, every connection warmed before timing);
//! - the client runs on a current-thread runtime, so it uses one core and the server backend
//!   the other; c=8 is 8 concurrent futures sharing that one client (or that one pool);
//! - each (op, c) runs a short warmup per implementation (statements get prepared), then
//!   `ROUNDS` slices of a fixed op count per implementation, interleaved round-robin with a
//!   rotating start, so drift and background noise hit every implementation alike; every
//!   implementation sees the same key sequence; ops/s is the median slice throughput, latency
//!   percentiles pool every timed op;
//! - autovacuum is off on the benchmark tables and the server checkpoints before timing.
//! - round trips (Sync + simple Query messages, less the Close+Sync pairs tokio-postgres sends
//!   without waiting when a statement is dropped) and Parse messages per op are counted in a
//!   separate short pass through a counting proxy, never while timing.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::cast_precision_loss,
    missing_docs,
    unreachable_pub
)]

#[path = "hot_paths/floor.rs"]
mod floor;
#[path = "hot_paths/floor_ops.rs"]
mod floor_ops;
#[path = "hot_paths/kind.rs"]
mod kind;
#[path = "hot_paths/ops.rs"]
mod ops;
#[cfg(feature = "deadpool")]
#[path = "hot_paths/pool.rs"]
mod pool;
#[path = "../tests/it/support/wire.rs"]
#[allow(dead_code)]
mod proxy;
#[path = "hot_paths/report.rs"]
mod report;
#[path = "hot_paths/setup.rs"]
mod setup;
#[path = "../support/throwaway_pg.rs"]
mod throwaway_pg;

use std::process::ExitCode;
use std::time::Instant;

use futures::future::try_join_all;
use serde_json::json;

use crate::ops::{Impl, Kind, Op, Rng};
use crate::proxy::CountingProxy;
use crate::report::{Cell, Report};

const CONCURRENCY: [usize; 2] = [1, 8];
const WARMUP_OPS: usize = 64;
const COUNTED_OPS: usize = 20;

fn env_usize(name: &str, default: usize) -> usize {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .filter(|v| *v > 0)
        .unwrap_or(default)
}

fn main() -> ExitCode {
    // Cargo passes `--bench`; there is nothing to filter.
    let runtime = match tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
    {
        Ok(runtime) => runtime,
        Err(error) => {
            eprintln!("runtime: {error}");
            return ExitCode::FAILURE;
        }
    };
    match runtime.block_on(run()) {
        Ok(()) => ExitCode::SUCCESS,
        Err(error) => {
            eprintln!("hot_paths failed: {error}");
            ExitCode::FAILURE
        }
    }
}

fn db_name(kind: Kind) -> String {
    format!("rustauth_bench_{}", kind.name().replace('-', "_"))
}

async fn run() -> Result<(), String> {
    let started = Instant::now();
    let base_ops = env_usize("HOT_PATHS_OPS", 800);
    let rounds = env_usize("HOT_PATHS_ROUNDS", 6);
    let (url, _cluster) = setup::server()?;
    let names: Vec<String> = Kind::ALL.iter().copied().map(db_name).collect();
    eprintln!("seeding {} databases…", names.len());
    setup::databases(&url, &names).await?;
    let result = measure(&url, base_ops, rounds).await;
    setup::drop_databases(&url, &names).await;
    let mut report = result?;
    report.finish();
    println!("\n{}", report.table());
    let targets = report.targets();
    println!("targets (issue 6):");
    for (name, value, goal, met) in &targets {
        let verdict = if *met { "met" } else { "MISSED" };
        println!("  {name:<44} {value:>6.2} (goal {goal}) {verdict}");
    }
    let version = server_version(&url).await;
    let meta = json!({
        "base_ops_c1": base_ops,
        "base_ops_c8": base_ops * 2,
        "rounds": rounds,
        "warmup_ops": WARMUP_OPS,
        "counted_ops": COUNTED_OPS,
        "cpus": std::thread::available_parallelism().map(usize::from).unwrap_or(0),
        "server": version,
        "client": "tokio current-thread runtime; c=8 = 8 futures on one client (or one pool)",
        "pool_size": if cfg!(feature = "deadpool") { 8 } else { 0 },
        "elapsed_seconds": started.elapsed().as_secs_f64(),
    });
    let path = report.write_json(meta)?;
    println!(
        "\nJSON: {}  ({:.0} s)",
        path.display(),
        started.elapsed().as_secs_f64()
    );
    Ok(())
}

async fn server_version(url: &str) -> String {
    match setup::connect(url).await {
        Ok(client) => match client.query_one("SHOW server_version", &[]).await {
            Ok(row) => row.try_get(0).unwrap_or_default(),
            Err(_) => String::new(),
        },
        Err(_) => String::new(),
    }
}

async fn measure(url: &str, base_ops: usize, rounds: usize) -> Result<Report, String> {
    let mut impls = Vec::new();
    for &kind in Kind::ALL {
        let db_url = setup::with_dbname(url, &db_name(kind));
        impls.push(Impl::open(kind, &db_url).await?);
    }
    // One untimed pass of every op on every implementation: statements get prepared, caches
    // and the server settle before the first timed op. A pool runs it with 8 tasks, so every
    // connection is open and has prepared its statements (deadpool hands them out FIFO).
    for op in Op::ALL {
        for imp in &impls {
            let c = if imp.kind.pooled() { 8 } else { 1 };
            slice(imp, op, c, WARMUP_OPS / op.ops_divisor(), 1).await?;
        }
    }
    let mut report = Report::default();
    let only = std::env::var("HOT_PATHS_ONLY").unwrap_or_default();
    let selected = |op: Op| only.is_empty() || only.split(',').any(|name| name == op.name());
    for (op_index, op) in Op::ALL.into_iter().enumerate() {
        // Deletes need the sessions the creates left.
        if !selected(op) && (op != Op::SessionCreate || !selected(Op::SessionDelete)) {
            continue;
        }
        for c in CONCURRENCY {
            let n = base_ops * if c == 1 { 1 } else { 2 } / op.ops_divisor();
            let seed = (op_index * 100 + c) as u64;
            for imp in &impls {
                slice(imp, op, c, WARMUP_OPS, seed).await?;
            }
            let mut cells: Vec<Cell> = impls
                .iter()
                .map(|imp| Cell {
                    op,
                    kind: imp.kind,
                    c,
                    ops: 0,
                    secs: 0.0,
                    latencies: Vec::with_capacity(n * rounds),
                    slices: Vec::with_capacity(rounds),
                    round_trips: None,
                    parses: None,
                })
                .collect();
            for round in 0..rounds {
                for i in 0..impls.len() {
                    let at = (i + round) % impls.len();
                    let seed = seed * 1_000 + round as u64 + 1;
                    let (secs, latencies) = slice(&impls[at], op, c, n, seed).await?;
                    cells[at].slices.push(latencies.len() as f64 / secs);
                    cells[at].ops += latencies.len();
                    cells[at].secs += secs;
                    cells[at].latencies.extend(latencies);
                }
            }
            let summary: Vec<String> = cells
                .iter()
                .map(|cell| format!("{} {:.0}/s", cell.kind.name(), cell.ops_per_sec()))
                .collect();
            eprintln!("{:<20} c={c}: {}", op.name(), summary.join(", "));
            report.cells.extend(cells);
        }
    }
    drop(impls);
    count_round_trips(url, &mut report).await?;
    Ok(report)
}

/// Runs `n` ops of `op` as `c` concurrent streams on `imp`: wall seconds and latencies (ns).
async fn slice(
    imp: &Impl,
    op: Op,
    c: usize,
    n: usize,
    seed: u64,
) -> Result<(f64, Vec<u64>), String> {
    let per_task = n.div_ceil(c);
    let started = Instant::now();
    let streams = try_join_all((0..c).map(|task| async move {
        let mut rng = Rng::new(seed * 64 + task as u64);
        let mut latencies = Vec::with_capacity(per_task);
        for _ in 0..per_task {
            let t0 = Instant::now();
            imp.run(op, &mut rng).await?;
            latencies.push(u64::try_from(t0.elapsed().as_nanos()).unwrap_or(u64::MAX));
        }
        Ok::<_, String>(latencies)
    }))
    .await?;
    let secs = started.elapsed().as_secs_f64();
    Ok((secs, streams.into_iter().flatten().collect()))
}

/// A separate sequential pass through the counting proxy: round trips and parses per op.
async fn count_round_trips(url: &str, report: &mut Report) -> Result<(), String> {
    for &kind in Kind::ALL {
        let proxy = CountingProxy::start(&setup::with_dbname(url, &db_name(kind))).await;
        let imp = Impl::open(kind, &proxy.url).await?;
        let mut rng = Rng::new(7);
        for op in Op::ALL {
            for _ in 0..3 {
                imp.run(op, &mut rng).await?;
            }
            let counts = &proxy.counts;
            let (rt0, p0, c0) = (counts.round_trips(), counts.parses(), counts.closes());
            for _ in 0..COUNTED_OPS {
                imp.run(op, &mut rng).await?;
            }
            let per_op = |v: u64| v as f64 / COUNTED_OPS as f64;
            // A statement close is a Sync the client never waits for: not a round trip.
            let closes = counts.closes() - c0;
            let rt = per_op(counts.round_trips() - rt0 - closes);
            let parses = per_op(counts.parses() - p0);
            for cell in report
                .cells
                .iter_mut()
                .filter(|cell| cell.op == op && cell.kind == kind)
            {
                cell.round_trips = Some(rt);
                cell.parses = Some(parses);
            }
        }
    }
    Ok(())
}
