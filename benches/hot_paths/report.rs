//! Aggregates, the printed table, the target checks and the JSON file.

use std::fmt::Write as _;
use std::path::PathBuf;

use serde_json::{Value, json};

use crate::ops::{Kind, Op};

/// Everything measured for one (op, implementation, concurrency).
#[derive(Debug, Clone)]
pub struct Cell {
    pub op: Op,
    pub kind: Kind,
    pub c: usize,
    pub ops: usize,
    pub secs: f64,
    /// Per-operation latencies in nanoseconds, from every round.
    pub latencies: Vec<u64>,
    /// Throughput of each timed slice (ops/s).
    pub slices: Vec<f64>,
    pub round_trips: Option<f64>,
    pub parses: Option<f64>,
}

impl Cell {
    /// The median slice throughput: robust to a slice hit by outside load.
    pub fn ops_per_sec(&self) -> f64 {
        let mut slices = self.slices.clone();
        slices.sort_by(f64::total_cmp);
        match slices.len() {
            0 => f64::NAN,
            n if n % 2 == 1 => slices[n / 2],
            n => (slices[n / 2 - 1] + slices[n / 2]) / 2.0,
        }
    }

    /// The `q` quantile in microseconds (`latencies` sorted by [`finish`](Report::finish)).
    pub fn quantile_us(&self, q: f64) -> f64 {
        if self.latencies.is_empty() {
            return f64::NAN;
        }
        let rank = ((self.latencies.len() - 1) as f64 * q).round() as usize;
        self.latencies[rank] as f64 / 1_000.0
    }
}

#[derive(Debug, Default)]
pub struct Report {
    pub cells: Vec<Cell>,
}

impl Report {
    pub fn cell(&self, op: Op, kind: Kind, c: usize) -> Option<&Cell> {
        self.cells
            .iter()
            .find(|cell| cell.op == op && cell.kind == kind && cell.c == c)
    }

    pub fn finish(&mut self) {
        for cell in &mut self.cells {
            cell.latencies.sort_unstable();
        }
    }

    /// ours ops/s ÷ upstream ops/s (the pool: ÷ upstream's pool), and ours p50 ÷ floor p50
    /// (same op and c).
    fn ratios(&self, cell: &Cell) -> (Option<f64>, Option<f64>) {
        let Some(upstream) = cell.kind.upstream() else {
            return (None, None);
        };
        let up = self
            .cell(cell.op, upstream, cell.c)
            .map(|u| cell.ops_per_sec() / u.ops_per_sec());
        let floor = self
            .cell(cell.op, Kind::Floor, cell.c)
            .map(|f| cell.quantile_us(0.5) / f.quantile_us(0.5));
        (up, floor)
    }

    pub fn table(&self) -> String {
        let mut out = String::new();
        let _ = writeln!(
            out,
            "{:<20} {:<13} {:>2} {:>9} {:>8} {:>8} {:>5} {:>7} {:>8}",
            "op", "impl", "c", "ops/s", "p50 µs", "p99 µs", "RT", "×up", "p50/flr"
        );
        let fmt = |v: Option<f64>, p: usize| v.map_or("-".to_owned(), |v| format!("{v:.p$}"));
        for cell in &self.cells {
            let (up, floor) = self.ratios(cell);
            let _ = writeln!(
                out,
                "{:<20} {:<13} {:>2} {:>9.0} {:>8.1} {:>8.1} {:>5} {:>7} {:>8}",
                cell.op.name(),
                cell.kind.name(),
                cell.c,
                cell.ops_per_sec(),
                cell.quantile_us(0.5),
                cell.quantile_us(0.99),
                fmt(cell.round_trips, 1),
                fmt(up, 2),
                fmt(floor, 2),
            );
        }
        let _ = writeln!(
            out,
            "×up: ops/s ÷ upstream's (pool ÷ upstream-pool); p50/flr: p50 ÷ the floor's p50"
        );
        out
    }

    /// The targets, each with the measured value and whether it is met.
    pub fn targets(&self) -> Vec<(String, f64, f64, bool)> {
        let mut out = Vec::new();
        let mut push = |name: String, value: Option<f64>, goal: f64, higher: bool| {
            if let Some(v) = value {
                out.push((name, v, goal, if higher { v >= goal } else { v <= goal }));
            }
        };
        for op in Op::ALL {
            let typed1 = self.cell(op, Kind::Typed, 1);
            let ratio = |kind: Kind, other: Kind, c: usize| {
                Some(self.cell(op, kind, c)?.ops_per_sec() / self.cell(op, other, c)?.ops_per_sec())
            };
            if op.is_lookup() || op.is_single_row_write() {
                let name = format!("{} typed c=1 ×upstream", op.name());
                push(name, ratio(Kind::Typed, Kind::Upstream, 1), 2.0, true);
            }
            if op == Op::RateLimit {
                let name = format!("{} typed c=1 ×upstream", op.name());
                push(name, ratio(Kind::Typed, Kind::Upstream, 1), 4.0, true);
            }
            if op != Op::CountEmailSuffix {
                let floor = typed1.and_then(|t| {
                    Some(t.quantile_us(0.5) / self.cell(op, Kind::Floor, 1)?.quantile_us(0.5))
                });
                push(
                    format!("{} typed c=1 p50/floor", op.name()),
                    floor,
                    1.15,
                    false,
                );
            }
            let name = format!("{} dynamic c=1 ×upstream", op.name());
            push(name, ratio(Kind::Dynamic, Kind::Upstream, 1), 1.7, true);
            if op.is_lookup() {
                let scale = typed1.and_then(|t| {
                    Some(self.cell(op, Kind::Typed, 8)?.ops_per_sec() / t.ops_per_sec())
                });
                push(format!("{} typed c=8 ÷ c=1", op.name()), scale, 3.0, true);
            }
            // The pools against each other, with the single-client typed thresholds.
            #[cfg(feature = "deadpool")]
            if op.is_lookup() || op.is_single_row_write() || op == Op::RateLimit {
                let goal = if op == Op::RateLimit { 4.0 } else { 2.0 };
                let name = format!("{} pool c=1 ×upstream-pool", op.name());
                push(name, ratio(Kind::Pool, Kind::UpstreamPool, 1), goal, true);
            }
        }
        out
    }

    pub fn write_json(&self, meta: Value) -> Result<PathBuf, String> {
        let results: Vec<Value> = self
            .cells
            .iter()
            .map(|cell| {
                let (up, floor) = self.ratios(cell);
                json!({
                    "op": cell.op.name(),
                    "impl": cell.kind.name(),
                    "c": cell.c,
                    "ops": cell.ops,
                    "seconds": cell.secs,
                    "ops_per_sec": cell.ops_per_sec(),
                    "mean_ops_per_sec": cell.ops as f64 / cell.secs,
                    "slice_ops_per_sec": cell.slices,
                    "p50_us": cell.quantile_us(0.5),
                    "p99_us": cell.quantile_us(0.99),
                    "round_trips_per_op": cell.round_trips,
                    "parses_per_op": cell.parses,
                    "ours_over_upstream_ops_per_sec": up,
                    "ours_over_floor_p50": floor,
                })
            })
            .collect();
        let targets: Vec<Value> = self
            .targets()
            .into_iter()
            .map(|(name, value, goal, met)| {
                json!({"target": name, "value": value, "goal": goal, "met": met})
            })
            .collect();
        let target_dir = std::env::var_os("CARGO_TARGET_DIR")
            .map(PathBuf::from)
            .unwrap_or_else(|| PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("target"));
        let dir = target_dir.join("bench-results");
        std::fs::create_dir_all(&dir).map_err(|e| format!("{}: {e}", dir.display()))?;
        let path = dir.join("hot_paths.json");
        let body = json!({"meta": meta, "results": results, "targets": targets});
        let text = serde_json::to_string_pretty(&body).map_err(|e| e.to_string())?;
        std::fs::write(&path, text).map_err(|e| format!("{}: {e}", path.display()))?;
        Ok(path)
    }
}
