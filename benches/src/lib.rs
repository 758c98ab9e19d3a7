//! Shared helpers of the scheduler's criterion benchmarks (in `benches/`).
//!
//! Every bench binary installs [`CountingAllocator`] as its global allocator and, next
//! to criterion's timings, reports the heap allocations one cycle performs: it prints a
//! table on stderr and merges its rows into `allocations.txt` in criterion's output
//! directory (`target/criterion/allocations.txt` by default).
//!
//! Run them all with `cargo bench -p scheduler-benches`.
//!
//! [`CountingAllocator`]: scheduler_bench_support::alloc::CountingAllocator

use std::fmt::Write as _;
use std::path::PathBuf;
use std::time::Duration;

use scheduler_bench_support::alloc::{AllocStats, measure};
use scheduler_bench_support::workload::Variant;

/// Every `W(N, M)` size of `spec/workloads.md`, in growing order.
pub const SIZES: [(usize, usize); 5] = [(100, 10), (1_000, 100), (10_000, 1_000), (100_000, 1_000), (10_000, 10_000)];

/// Both variants.
pub const VARIANTS: [Variant; 2] = [Variant::Steady, Variant::Starved];

/// The variant's name in bench ids.
pub fn variant_name(variant: Variant) -> &'static str {
    match variant {
        Variant::Steady => "steady",
        Variant::Starved => "starved",
    }
}

/// The bench id of a size: `W(N,M)`.
pub fn size_name(n: usize, m: usize) -> String {
    format!("W({n},{m})")
}

/// Criterion settings that keep one benchmark's run time sane: `(sample size,
/// measurement time, flat sampling)` for a benchmark whose iteration takes about
/// `per_iter`.
pub fn budget(per_iter: Duration) -> (usize, Duration, bool) {
    if per_iter >= Duration::from_millis(20) {
        (10, (per_iter * 12).max(Duration::from_secs(3)), true)
    } else if per_iter >= Duration::from_millis(1) {
        (20, Duration::from_secs(5), false)
    } else {
        (100, Duration::from_secs(4), false)
    }
}

/// Heap allocations of one benchmark's cycles, after warm-up.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AllocRow {
    /// The benchmark id, e.g. `run_once/steady/W(1000,100)`.
    pub bench: String,
    /// How many cycles were measured.
    pub cycles: u64,
    /// Fewest allocations in one cycle.
    pub min: u64,
    /// Most allocations in one cycle.
    pub max: u64,
    /// All allocations over the measured cycles.
    pub total: u64,
    /// All bytes allocated over the measured cycles.
    pub bytes: u64,
}

impl AllocRow {
    /// Measures `cycles` calls of `cycle` (already warmed up), one by one.
    pub fn measure(bench: impl Into<String>, cycles: u64, mut cycle: impl FnMut()) -> Self {
        let mut row = AllocRow { bench: bench.into(), cycles, min: u64::MAX, max: 0, total: 0, bytes: 0 };
        for _ in 0..cycles {
            let ((), stats): ((), AllocStats) = measure(&mut cycle);
            let n = stats.allocations();
            row.min = row.min.min(n);
            row.max = row.max.max(n);
            row.total += n;
            row.bytes += stats.bytes_allocated;
        }
        if cycles == 0 {
            row.min = 0;
        }
        row
    }

    /// Mean allocations per cycle.
    pub fn mean(&self) -> f64 {
        if self.cycles == 0 { 0.0 } else { self.total as f64 / self.cycles as f64 }
    }

    fn line(&self) -> String {
        let bytes = self.bytes.checked_div(self.cycles).unwrap_or(0);
        format!(
            "{:<40} {:>8} {:>12.1} {:>10} {:>10} {:>14}",
            self.bench,
            self.cycles,
            self.mean(),
            self.min,
            self.max,
            bytes
        )
    }
}

const HEADER: &str = "# bench                                  cycles  allocs/cycle  min/cycle  max/cycle  bytes/cycle";

/// The allocation rows of one bench binary.
#[derive(Debug, Default)]
pub struct AllocTable {
    rows: Vec<AllocRow>,
}

impl AllocTable {
    /// An empty table.
    pub fn new() -> Self {
        Self::default()
    }

    /// Adds a row and prints it on stderr right away.
    pub fn push(&mut self, row: AllocRow) {
        eprintln!("allocations: {}", row.line().trim_end());
        self.rows.push(row);
    }

    /// The rows so far.
    pub fn rows(&self) -> &[AllocRow] {
        &self.rows
    }

    /// Prints the table on stderr and merges it into `allocations.txt` in criterion's
    /// output directory: rows of other benchmarks already there are kept, rows with the
    /// same benchmark id are replaced.
    pub fn finish(&self) {
        let mut text = String::new();
        let _ = writeln!(text, "{HEADER}");
        for row in &self.rows {
            let _ = writeln!(text, "{}", row.line());
        }
        eprintln!("\nheap allocations per cycle (after one warm-up cycle):\n{text}");
        let dir = output_dir();
        let path = dir.join("allocations.txt");
        let mut lines: Vec<String> = std::fs::read_to_string(&path)
            .unwrap_or_default()
            .lines()
            .filter(|l| !l.starts_with('#') && !l.trim().is_empty())
            .filter(|l| {
                let id = l.split_whitespace().next().unwrap_or("");
                !self.rows.iter().any(|r| r.bench == id)
            })
            .map(str::to_owned)
            .collect();
        lines.extend(self.rows.iter().map(AllocRow::line));
        lines.sort();
        let mut out = String::from(HEADER);
        out.push('\n');
        for l in lines {
            out.push_str(&l);
            out.push('\n');
        }
        if let Err(e) = std::fs::create_dir_all(&dir).and_then(|()| std::fs::write(&path, out)) {
            eprintln!("could not write {}: {e}", path.display());
        } else {
            eprintln!("allocation table written to {}", path.display());
        }
    }
}

/// Criterion's output directory, found as criterion finds it: `$CRITERION_HOME`, else
/// `$CARGO_TARGET_DIR/criterion`, else `criterion/` in the target directory the bench
/// executable was built into.
pub fn output_dir() -> PathBuf {
    if let Some(home) = std::env::var_os("CRITERION_HOME") {
        return PathBuf::from(home);
    }
    if let Some(target) = std::env::var_os("CARGO_TARGET_DIR") {
        return PathBuf::from(target).join("criterion");
    }
    // <target>/<profile>/deps/<bench-executable>
    std::env::current_exe()
        .ok()
        .and_then(|exe| exe.ancestors().nth(3).map(|t| t.join("criterion")))
        .unwrap_or_else(|| PathBuf::from("target/criterion"))
}
