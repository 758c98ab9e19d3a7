//! The flagship example: a simulated agent fleet driven by the real scheduler.
//!
//! The scheduler runs through `scheduler-tokio` over a SQLite store (a fresh temporary
//! file unless `--db` names one; a file an earlier run wrote is resumed) or, with
//! `--backend memory`, the testkit's in-memory task service; agent sessions in several
//! workspaces claim, heartbeat, complete, fail and crash; starved work climbs the ladder and gets spawned workers or ends as
//! needs-attention; the scheduler is paused for a while. Time is tokio's paused clock,
//! so hours of simulated time take seconds. Exits 1 if an invariant broke.
//!
//! ```text
//! cargo run --release -p scheduler-examples --example fleet
//! cargo run --release -p scheduler-examples --example fleet -- --sessions 64 --runs 2000 --minutes 240 --seed 7
//! cargo run --release -p scheduler-examples --example fleet -- --backend memory
//! cargo run --release -p scheduler-examples --example fleet -- --db /tmp/fleet.db --drain-minutes 0
//! cargo run --release -p scheduler-examples --example fleet -- --db /tmp/fleet.db
//! ```

use std::io::IsTerminal as _;
use std::process::ExitCode;
use std::time::{Duration, Instant};

use clap::Parser;
use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};
use scheduler_core::SelectionPolicy;
use scheduler_core::ladder::Thresholds;
use scheduler_examples::fleet::{FleetConfig, Progress, StoreKind, run};

/// Simulate an agent fleet under the scheduler.
#[derive(Debug, Parser)]
#[command(version, about)]
struct Args {
    /// Sessions in the initial fleet.
    #[arg(long, default_value_t = 48, value_parser = clap::value_parser!(u32).range(1..=10_000))]
    sessions: u32,
    /// Runs that arrive over the simulated duration.
    #[arg(long, default_value_t = 600)]
    runs: usize,
    /// Seed for every random choice; the same seed replays the same run.
    #[arg(long, default_value_t = 42)]
    seed: u64,
    /// Simulated minutes during which work arrives (the drain comes after).
    #[arg(long, default_value_t = 120, value_parser = clap::value_parser!(u64).range(1..))]
    minutes: u64,
    /// The scheduler's interval, in simulated seconds.
    #[arg(long, default_value_t = 15, value_parser = clap::value_parser!(u64).range(1..))]
    interval: u64,
    /// Workspaces the fleet and the work are spread over (besides global).
    #[arg(long, default_value_t = 4, value_parser = clap::value_parser!(u32).range(1..=1_000))]
    workspaces: u32,
    /// Probability that the first session to claim a run crashes mid-run.
    #[arg(long, default_value_t = 0.03)]
    crash_rate: f64,
    /// Share of work only a spawned (gpu) session can take.
    #[arg(long, default_value_t = 0.03)]
    gpu_rate: f64,
    /// Share of work no agent can ever take (ends as needs-attention).
    #[arg(long, default_value_t = 0.01)]
    impossible_rate: f64,
    /// At most this many spawned sessions alive at once.
    #[arg(long, default_value_t = 16)]
    max_spawned: usize,
    /// Length of the pause at 40 % of the duration, in simulated minutes (0: no pause).
    #[arg(long, default_value_t = 3)]
    pause_minutes: u64,
    /// Starved cycles before a run is marked needs-attention (the ladder's last rung).
    #[arg(long, default_value_t = 10, value_parser = clap::value_parser!(u32).range(1..))]
    needs_attention_after: u32,
    /// List every run that ended needs-attention, with why it was last not woken and the
    /// scheduler's diagnostic.
    #[arg(long)]
    list_attention: bool,
    /// The task service: `sqlite` (durable, `scheduler-sqlite`) or `memory` (the testkit's).
    #[arg(long, value_enum, default_value_t = BackendArg::Sqlite)]
    backend: BackendArg,
    /// The SQLite database file (default: a fresh temporary file, removed at exit). A
    /// file an earlier run wrote is resumed: its open runs are taken over, leases held
    /// by its sessions are recovered, its ladder budgets are kept.
    #[arg(long, value_name = "PATH")]
    db: Option<std::path::PathBuf>,
    /// Simulated minutes to wait after arrivals end for every run to end (0: stop
    /// at once, leaving runs open, e.g. for a later run on the same `--db` to resume).
    #[arg(long, default_value_t = 60)]
    drain_minutes: u64,
    /// How the scheduler gives sessions to runs: `greedy` (the contract as written) or
    /// `maximum` (moves earlier runs to other sessions so that more runs are woken).
    #[arg(long, default_value_t = SelectionPolicy::Greedy, value_parser = parse_policy)]
    policy: SelectionPolicy,
    /// No progress bar.
    #[arg(long, short)]
    quiet: bool,
}

fn parse_policy(s: &str) -> Result<SelectionPolicy, String> {
    s.parse().map_err(|e: scheduler_core::UnknownPolicy| e.to_string())
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
enum BackendArg {
    Sqlite,
    Memory,
}

fn main() -> ExitCode {
    let args = Args::parse();
    if args.backend == BackendArg::Memory && args.db.is_some() {
        eprintln!("fleet: --db names a SQLite file; it cannot be used with --backend memory");
        return ExitCode::from(2);
    }
    // A fresh temporary database unless --db names one; removed when `_scratch` drops.
    let mut _scratch = None;
    let store = match (args.backend, args.db.clone()) {
        (BackendArg::Memory, _) => StoreKind::Memory,
        (BackendArg::Sqlite, Some(path)) => StoreKind::Sqlite(path),
        (BackendArg::Sqlite, None) => match tempfile::tempdir() {
            Ok(dir) => {
                let path = dir.path().join("fleet.db");
                _scratch = Some(dir);
                StoreKind::Sqlite(path)
            }
            Err(e) => {
                eprintln!("fleet: cannot create a temporary directory for the database: {e}");
                return ExitCode::from(2);
            }
        },
    };
    let duration = Duration::from_secs(args.minutes * 60);
    let config = FleetConfig {
        sessions: args.sessions as usize,
        runs: args.runs,
        seed: args.seed,
        interval: Duration::from_secs(args.interval),
        workspaces: args.workspaces as usize,
        crash_rate: args.crash_rate,
        gpu_rate: args.gpu_rate,
        impossible_rate: args.impossible_rate,
        max_spawned: args.max_spawned,
        pause: (args.pause_minutes > 0).then(|| (duration.mul_f64(0.4), Duration::from_secs(args.pause_minutes * 60))),
        thresholds: Thresholds { needs_attention_after: args.needs_attention_after, ..Thresholds::DEFAULT }
            .normalized(),
        drain: Duration::from_secs(args.drain_minutes * 60),
        store,
        policy: args.policy,
        ..FleetConfig::default()
    }
    .with_duration(duration);

    let bar = if args.quiet || !std::io::stdout().is_terminal() {
        ProgressBar::hidden()
    } else {
        let bar = ProgressBar::with_draw_target(Some(duration.as_secs()), ProgressDrawTarget::stdout());
        bar.set_style(
            ProgressStyle::with_template("{prefix} [{wide_bar}] {msg}")
                .unwrap_or_else(|_| ProgressStyle::default_bar())
                .progress_chars("=> "),
        );
        bar
    };
    let on_progress = |p: &Progress| {
        let minutes = p.elapsed.as_secs() / 60;
        bar.set_prefix(if p.draining { format!("drain {minutes:>4}m") } else { format!("sim {minutes:>6}m") });
        bar.set_position(p.elapsed.as_secs().min(p.duration.as_secs()));
        bar.set_message(format!(
            "runs: {} in, {} done, {} failed, {} attention; {} sessions",
            p.enqueued, p.completed, p.failed, p.needs_attention, p.sessions
        ));
    };

    let started = Instant::now();
    let report = match run(&config, on_progress) {
        Ok(report) => report,
        Err(e) => {
            bar.finish_and_clear();
            eprintln!("fleet: {e}");
            return ExitCode::from(2);
        }
    };
    let real = started.elapsed();
    bar.finish_and_clear();

    print!("{report}");
    println!("selection policy: {}", args.policy);
    if args.list_attention {
        println!("runs that need attention:");
        for line in &report.attention {
            println!("  {line}");
        }
    }
    println!("real time: {:.2} s", real.as_secs_f64());
    if report.is_clean() { ExitCode::SUCCESS } else { ExitCode::FAILURE }
}
