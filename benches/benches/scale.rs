//! The slow paths of issue 14, each next to the cycle it is compared with, measured in
//! the same run:
//!
//! - **starved episode**: the starved variant of `W(10000, 1000)` run in 10-cycle
//!   episodes from an empty starvation store (spawn at cycle 4, needs-attention and
//!   clearing at cycle 10; the next cycle starts the next episode), against a steady
//!   cycle of `W(10000, 1000)`;
//! - **budgets at scale**: the same episode with 1,000,000 more stored budgets (runs not
//!   pending whose status reads answer `queued`, so every one is kept), against the
//!   episode without them;
//! - **many requirement classes**: a steady cycle of `W_distinct(100000, 1000)` and
//!   `W_distinct(10000, 1000)` (`spec/workloads.md`), against steady `W(100000, 1000)`
//!   and `W(10000, 1000)`.
//!
//! Each case is a criterion benchmark (`scale/<case>`, one iteration = one cycle, or one
//! whole episode for the episode cases). Then, because the machine is shared, the
//! ratios are measured by interleaving the cases round after round, and the table of
//! per-cycle medians (with their spread over the rounds), allocations per cycle (the
//! scheduler's and the starvation store's apart) and ratios is printed on stderr and
//! written to `scale.txt` in criterion's output directory, next to `allocations.txt`.
//!
//! `cargo bench -p scheduler-benches --bench scale` (a criterion filter after `--`
//! narrows the criterion part; the ratio table is always measured; set
//! `SCALE_ROUNDS` to change its number of rounds, 31 by default).

#![allow(missing_docs)] // criterion_group! generates an undocumented function

use std::fmt::Write as _;
use std::hint::black_box;
use std::sync::Arc;
use std::time::{Duration, Instant};

use criterion::{Criterion, SamplingMode, criterion_group, criterion_main};
use scheduler_bench_support::alloc::{AllocStats, CountingAllocator, measure};
use scheduler_bench_support::metered::Metered;
use scheduler_bench_support::workload::{Workload, cycle, t0};
use scheduler_benches::{AllocRow, AllocTable, budget, output_dir};
use scheduler_core::ladder::Budget;
use scheduler_testkit::stores::MemoryStarvationStore;

#[global_allocator]
static ALLOC: CountingAllocator = CountingAllocator::new();

/// The ladder's period with the default thresholds: needs-attention at the 10th
/// starved cycle clears every budget, so the 11th starts a new episode.
const EPISODE: usize = 10;

/// Extra stored budgets of the "budgets at scale" case.
const PARKED: usize = 1_000_000;

/// One measured case: `iterate` runs `cycles` cycles; `store` reads (and resets) the
/// allocations its starvation store made, when it has one.
struct Case {
    name: String,
    cycles: usize,
    iterate: Box<dyn FnMut()>,
    store: Box<dyn Fn() -> AllocStats>,
}

fn no_store() -> Box<dyn Fn() -> AllocStats> {
    Box::new(AllocStats::default)
}

fn steady(name: &str, w: &Workload) -> Case {
    let (mut s, clock) = w.steady_scheduler();
    Case {
        name: name.to_owned(),
        cycles: 1,
        iterate: Box::new(move || {
            black_box(cycle(&mut s, &clock));
        }),
        store: no_store(),
    }
}

/// Whole episodes of the starved `w`, over an in-memory store holding `parked` budgets
/// of other runs to begin with.
fn episode(name: &str, w: &Workload, parked: usize) -> Case {
    let store = MemoryStarvationStore::new();
    let at = t0();
    for i in 0..parked {
        store.insert(&format!("parked-{i}"), Budget::fresh(at));
    }
    let metered = Arc::new(Metered::new(store));
    let (mut s, clock) = w.starved_scheduler_over(metered.clone());
    let mut first = true;
    Case {
        name: name.to_owned(),
        cycles: EPISODE,
        iterate: Box::new(move || {
            for k in 0..EPISODE {
                let counts = cycle(&mut s, &clock);
                if first && k + 1 == EPISODE {
                    assert_eq!(counts.needs_attention_runs, counts.starved_runs, "{k}: the episode ends");
                    first = false;
                }
                black_box(counts);
            }
        }),
        store: Box::new(move || {
            let stats = metered.stats();
            metered.reset();
            stats
        }),
    }
}

/// Per-cycle times of one round for every case, then medians and spread.
#[derive(Default)]
struct Times {
    per_cycle: Vec<Vec<f64>>,
}

fn median_and_spread(xs: &[f64]) -> (f64, f64, f64) {
    let mut v = xs.to_vec();
    v.sort_by(f64::total_cmp);
    let q = |p: f64| v[((v.len() - 1) as f64 * p).round() as usize];
    (q(0.5), q(0.25), q(0.75))
}

/// How many iterations make a sample of about 20 ms.
fn calibrate(case: &mut Case) -> usize {
    let started = Instant::now();
    (case.iterate)();
    let once = started.elapsed().max(Duration::from_micros(1));
    (Duration::from_millis(20).as_nanos() / once.as_nanos()).clamp(1, 1000) as usize
}

/// Allocations of `n` iterations, one by one: (total, store) per cycle, mean and max.
fn allocations(case: &mut Case, n: usize) -> (AllocRow, AllocRow) {
    (case.store)();
    let mut sched = AllocRow {
        bench: format!("scale/{} (scheduler)", case.name),
        cycles: 0,
        min: u64::MAX,
        max: 0,
        total: 0,
        bytes: 0,
    };
    let mut store = AllocRow { bench: format!("scale/{} (store)", case.name), ..sched.clone() };
    for _ in 0..n {
        let ((), all) = measure(&mut case.iterate);
        let own = (case.store)();
        // Per cycle: an episode's cycles are measured as one; its max is per episode / cycles.
        let (all_n, own_n) = (all.allocations(), own.allocations());
        for (row, count, bytes) in [
            (&mut sched, all_n - own_n, all.bytes_allocated - own.bytes_allocated),
            (&mut store, own_n, own.bytes_allocated),
        ] {
            row.cycles += case.cycles as u64;
            row.total += count;
            row.bytes += bytes;
            row.min = row.min.min(count);
            row.max = row.max.max(count);
        }
    }
    (sched, store)
}

fn scale(c: &mut Criterion) {
    let w10 = Workload::steady(10_000, 1_000);
    let w100 = Workload::steady(100_000, 1_000);
    let starved = Workload::starved(10_000, 1_000);
    let d100 = Workload::distinct(100_000, 1_000);
    let d10 = Workload::distinct(10_000, 1_000);
    let mut cases = vec![
        steady("steady/W(10000,1000)", &w10),
        episode("episode/W(10000,1000)", &starved, 0),
        episode("episode+1M-budgets/W(10000,1000)", &starved, PARKED),
        steady("steady/W(100000,1000)", &w100),
        steady("distinct/W(100000,1000)", &d100),
        steady("distinct/W(10000,1000)", &d10),
    ];

    // Warm-up (one whole episode: buffers and store rows grown), allocations, then
    // criterion.
    let mut table = AllocTable::new();
    let mut alloc_rows = Vec::new();
    for case in &mut cases {
        (case.iterate)();
        let (sched, store) = allocations(case, 2);
        alloc_rows.push((sched.clone(), store.clone()));
        table.push(sched);
        table.push(store);
    }
    table.finish();
    for case in &mut cases {
        let per_iter = {
            let started = Instant::now();
            (case.iterate)();
            started.elapsed()
        };
        let (samples, time, flat) = budget(per_iter);
        let mut group = c.benchmark_group("scale");
        group.sample_size(samples).measurement_time(time).warm_up_time(Duration::from_secs(1));
        if flat {
            group.sampling_mode(SamplingMode::Flat);
        }
        group.bench_function(&case.name, |b| b.iter(&mut case.iterate));
        group.finish();
    }

    // Interleaved rounds for the ratios.
    let rounds: usize = std::env::var("SCALE_ROUNDS").ok().and_then(|r| r.parse().ok()).unwrap_or(31).max(1);
    let reps: Vec<usize> = cases.iter_mut().map(calibrate).collect();
    let mut times = Times { per_cycle: vec![Vec::new(); cases.len()] };
    for _ in 0..rounds {
        for (k, case) in cases.iter_mut().enumerate() {
            let started = Instant::now();
            for _ in 0..reps[k] {
                (case.iterate)();
            }
            let per_cycle = started.elapsed().as_secs_f64() * 1e3 / (reps[k] * case.cycles) as f64;
            times.per_cycle[k].push(per_cycle);
        }
    }
    let medians: Vec<(f64, f64, f64)> = times.per_cycle.iter().map(|t| median_and_spread(t)).collect();
    // Ratios round by round (the two cases measured a few milliseconds apart), then
    // their median and spread: a slow stretch of the shared machine slows both.
    let ratio = |a: usize, b: usize| {
        let per_round: Vec<f64> = times.per_cycle[a].iter().zip(&times.per_cycle[b]).map(|(x, y)| x / y).collect();
        median_and_spread(&per_round)
    };
    let ratios = [ratio(1, 0), ratio(2, 1), ratio(4, 3), ratio(5, 0)];
    drop(cases);
    let per_cycle = episode_cycles(&starved, rounds.min(15));
    report(&cases_names(), &medians, &ratios, &alloc_rows, rounds, &per_cycle);
}

fn cases_names() -> Vec<String> {
    [
        "steady/W(10000,1000)",
        "episode/W(10000,1000)",
        "episode+1M-budgets/W(10000,1000)",
        "steady/W(100000,1000)",
        "distinct/W(100000,1000)",
        "distinct/W(10000,1000)",
    ]
    .map(str::to_owned)
    .to_vec()
}

/// The starved episode cycle by cycle: for each of its 10 cycles, the time (median
/// over `rounds` episodes, after one warm-up episode) and the most allocations of the
/// scheduler and of the store in that cycle.
fn episode_cycles(w: &Workload, rounds: usize) -> String {
    let metered = Arc::new(Metered::new(MemoryStarvationStore::new()));
    let (mut s, clock) = w.starved_scheduler_over(metered.clone());
    for _ in 0..EPISODE {
        cycle(&mut s, &clock);
    }
    let mut times = vec![Vec::new(); EPISODE];
    let mut allocs = [(0u64, 0u64); EPISODE];
    let mut counts = Vec::new();
    for _ in 0..rounds {
        for k in 0..EPISODE {
            metered.reset();
            let started = Instant::now();
            let (c, all) = measure(|| cycle(&mut s, &clock));
            times[k].push(started.elapsed().as_secs_f64() * 1e3);
            let own = metered.stats().allocations();
            allocs[k].0 = allocs[k].0.max(all.allocations() - own);
            allocs[k].1 = allocs[k].1.max(own);
            if counts.len() < EPISODE {
                counts.push((c.starved_runs, c.spawns_requested, c.needs_attention_runs));
            }
        }
    }
    let mut text = String::new();
    let _ = writeln!(
        text,
        "# episode/W(10000,1000) cycle by cycle ({rounds} episodes): ms median [p25, p75]; max allocations (scheduler, store); starved, spawns, needs-attention"
    );
    for k in 0..EPISODE {
        let (m, lo, hi) = median_and_spread(&times[k]);
        let (st, sp, na) = counts[k];
        let _ = writeln!(
            text,
            "cycle {:>2}: {m:>8.3} [{lo:.3}, {hi:.3}]  allocs ({}, {})  starved {st} spawns {sp} needs-attention {na}",
            k + 1,
            allocs[k].0,
            allocs[k].1
        );
    }
    text
}

fn report(
    names: &[String],
    medians: &[(f64, f64, f64)],
    ratios: &[(f64, f64, f64); 4],
    allocs: &[(AllocRow, AllocRow)],
    rounds: usize,
    per_cycle: &str,
) {
    let mut text = String::new();
    let _ = writeln!(
        text,
        "# scale: per-cycle time, median of {rounds} interleaved rounds [p25, p75]; allocations per cycle"
    );
    let _ = writeln!(
        text,
        "{:<36} {:>10} {:>22} {:>16} {:>16}",
        "# case", "ms/cycle", "[p25, p75]", "sched allocs", "store allocs"
    );
    for (k, name) in names.iter().enumerate() {
        let (m, lo, hi) = medians[k];
        let (s, st) = &allocs[k];
        let _ = writeln!(
            text,
            "{:<36} {:>10.3} {:>22} {:>16} {:>16}",
            name,
            m,
            format!("[{lo:.3}, {hi:.3}]"),
            format!("{:.1} (max {})", s.mean(), s.max),
            format!("{:.1} (max {})", st.mean(), st.max),
        );
    }
    let _ = writeln!(text, "# ratios: median of the per-round ratios [p25, p75]; (ratio of the medians)");
    let of_medians = |a: usize, b: usize| medians[a].0 / medians[b].0;
    let lines = [
        ("episode / steady W(10000,1000)", 1, 0, " (target <= 3)"),
        ("episode with 1M budgets / without", 2, 1, " (target <= 3)"),
        ("W_distinct(100000,1000) / W(100000,1000)", 4, 3, " (target <= 5)"),
        ("W_distinct(10000,1000) / W(10000,1000)", 5, 0, ""),
    ];
    for (k, (what, a, b, target)) in lines.into_iter().enumerate() {
        let (m, lo, hi) = ratios[k];
        let _ = writeln!(text, "ratio {what:<42} {m:>6.2} [{lo:.2}, {hi:.2}] ({:.2}){target}", of_medians(a, b));
    }
    text.push_str(per_cycle);
    eprintln!("\n{text}");
    let path = output_dir().join("scale.txt");
    if let Err(e) = std::fs::create_dir_all(output_dir()).and_then(|()| std::fs::write(&path, &text)) {
        eprintln!("could not write {}: {e}", path.display());
    }
}

criterion_group!(benches, scale);
criterion_main!(benches);
