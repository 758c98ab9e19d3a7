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
//! cargo run --release -p scheduler-examples --example fleet -- --backend postgres --daemons 3
//! ```
//!
//! With `--backend postgres` (`--database-url`, default `DATABASE_URL`, else
//! `postgres://postgres@127.0.0.1:5432/test`) the fleet runs in a fresh schema dropped
//! at exit (or `--schema NAME`, kept), over `--daemons N` daemons that elect a leader;
//! with two or more, the leader is killed half-way (`--kill-leader-at-minute M`) and
//! the summary reports the failover. Exits 2 on a usage error or an unreachable store.

use std::io::IsTerminal as _;
use std::process::ExitCode;
use std::time::{Duration, Instant};

use clap::Parser;
use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};
use scheduler_examples::fleet::cli::{Args, BackendArg};
use scheduler_examples::fleet::{Progress, run};

fn main() -> ExitCode {
    let args = Args::parse();
    if let Err(usage) = args.check() {
        eprintln!("fleet: {usage}");
        return ExitCode::from(2);
    }
    // A fresh temporary SQLite database unless --db names one; removed when `_scratch` drops.
    let mut _scratch = None;
    let mut sqlite_file = None;
    if args.backend == BackendArg::Sqlite && args.db.is_none() {
        match tempfile::tempdir() {
            Ok(dir) => {
                sqlite_file = Some(dir.path().join("fleet.db"));
                _scratch = Some(dir);
            }
            Err(e) => {
                eprintln!("fleet: cannot create a temporary directory for the database: {e}");
                return ExitCode::from(2);
            }
        }
    }
    let config = args.config(args.store(sqlite_file));
    let duration: Duration = config.duration;

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
    println!("agent kinds: {}", args.agent_kinds);
    if args.list_attention {
        println!("runs that need attention:");
        for line in &report.attention {
            println!("  {line}");
        }
    }
    println!("real time: {:.2} s", real.as_secs_f64());
    if report.is_clean() { ExitCode::SUCCESS } else { ExitCode::FAILURE }
}
