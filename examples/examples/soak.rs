//! A deterministic soak of the scheduler: N cycles on a fake clock over the testkit's
//! in-memory task service, with random arrivals, claims, crashes and injected faults
//! drawn from a seed, every invariant checked every cycle. Reports cycles per second and
//! memory (VmRSS / VmHWM) at start, periodically, after warm-up and at the end.
//!
//! ```text
//! cargo run --release -p scheduler-examples --example soak -- --cycles 1000000 --seed 1
//! ```

use std::process::ExitCode;

use clap::Parser;
use scheduler_examples::soak::{MemorySample, SoakConfig, run};

/// Soak the scheduler.
#[derive(Debug, Parser)]
#[command(version, about)]
struct Args {
    /// Cycles to run.
    #[arg(long, default_value_t = 1_000_000)]
    cycles: u64,
    /// The seed every random choice is drawn from.
    #[arg(long, default_value_t = 1)]
    seed: u64,
    /// Cycles before memory counts as warmed up.
    #[arg(long, default_value_t = 50_000)]
    warmup: u64,
    /// Memory sample period, in cycles.
    #[arg(long, default_value_t = 100_000)]
    sample_every: u64,
    /// Rotate the task service every this many cycles.
    #[arg(long, default_value_t = 10_000)]
    rotate_every: u64,
    /// Probability that a cycle carries an injected fault.
    #[arg(long, default_value_t = 0.05)]
    fault_rate: f64,
    /// Skip the per-cycle invariant checks (to time the scheduler alone).
    #[arg(long)]
    no_check: bool,
}

fn main() -> ExitCode {
    let args = Args::parse();
    let config = SoakConfig {
        cycles: args.cycles,
        seed: args.seed,
        warmup: args.warmup.min(args.cycles),
        sample_every: args.sample_every,
        rotate_every: args.rotate_every,
        fault_rate: args.fault_rate,
        check: !args.no_check,
        ..SoakConfig::default()
    };
    println!("soak: {} cycles, seed {}, invariants checked: {}", config.cycles, config.seed, config.check);
    let report = run(&config, |m: &MemorySample| {
        println!("  cycle {:>9}: VmRSS {:>7} KiB, VmHWM {:>7} KiB", m.cycle, m.rss_kib, m.hwm_kib);
    });
    let t = &report.tally;
    println!(
        "done: {} cycles in {:.2} s = {:.0} cycles/s",
        report.cycles,
        report.elapsed.as_secs_f64(),
        report.cycles_per_second()
    );
    println!(
        "work: {} enqueued, {} claims, {} completed, {} failed, {} released, {} crashed, {} recovered, {} wakes",
        t.enqueued, t.claims, t.completed, t.failed, t.released, t.crashed, t.recovered, t.wakes
    );
    println!(
        "ladder: {} spawns, {} marked needs_attention; {} faults fired, {} errors returned; \
         {} paused cycles, {} rotations, {} rebuilds, {} sessions replaced",
        t.spawns, t.marked, t.faults, t.errors, t.paused_cycles, t.rotations, t.rebuilds, t.session_churn
    );
    let at = |c: u64| report.memory.iter().find(|m| m.cycle == c);
    if let (Some(start), Some(warm), Some(end)) = (at(0), at(config.warmup), at(config.cycles)) {
        println!(
            "memory: start VmRSS {} KiB / VmHWM {} KiB; after warm-up {} / {}; end {} / {}; growth after warm-up: {} KiB RSS, {} KiB HWM",
            start.rss_kib,
            start.hwm_kib,
            warm.rss_kib,
            warm.hwm_kib,
            end.rss_kib,
            end.hwm_kib,
            end.rss_kib as i64 - warm.rss_kib as i64,
            end.hwm_kib as i64 - warm.hwm_kib as i64
        );
    }
    if report.is_clean() {
        println!("invariants: no violation");
        ExitCode::SUCCESS
    } else {
        println!("invariants: {} violations; first:", report.violation_count);
        for (cycle, v) in &report.violations {
            println!("  cycle {cycle}: {v}");
        }
        ExitCode::FAILURE
    }
}
