//! The fleet simulation, small: the real scheduler (through scheduler-tokio, on tokio's
//! paused clock) over the in-memory task service, with crashes, spawns, uncoverable
//! work and a pause. The example binary exits non-zero exactly when
//! `FleetReport::is_clean` is false, so these tests check what decides its exit
//! status.

use std::time::Duration;

use scheduler_examples::fleet::{FleetConfig, FleetError, FleetReport, run};

const MIN: u64 = 60;

/// Small enough to run in a blink, and (with this seed) sure to see every path: a
/// crash whose lease the sweep recovers (one during the pause), a spawned worker that
/// takes spawn-only work, and uncoverable work that ends as needs-attention.
fn small() -> FleetConfig {
    FleetConfig {
        sessions: 8,
        runs: 40,
        seed: 7,
        duration: Duration::from_secs(40 * MIN),
        workspaces: 2,
        crash_rate: 0.1,
        gpu_rate: 0.05,
        impossible_rate: 0.05,
        max_spawned: 6,
        pause: Some((Duration::from_secs(16 * MIN), Duration::from_secs(2 * MIN))),
        ..FleetConfig::default()
    }
}

fn simulate(config: &FleetConfig) -> FleetReport {
    let mut ticks = 0;
    let report = run(config, |_| ticks += 1).expect("a valid config");
    assert!(ticks > 0, "progress is reported");
    report
}

#[test]
fn the_small_fleet_keeps_every_invariant_and_exercises_every_path() {
    let report = simulate(&small());
    assert!(report.is_clean(), "invariants broken:\n{report}");

    // Every run is accounted for, and the drain let every one of them end.
    let r = &report.runs;
    assert_eq!(r.enqueued, 40);
    assert_eq!(r.completed + r.failed + r.needs_attention, 40, "{report}");
    assert_eq!(r.open, 0, "{report}");
    assert!(r.completed >= 20, "most work completes: {report}");

    // Crashed sessions' leases expired, the sweep recovered them, others finished them.
    assert!(report.stats.recovered_leases >= 1, "{report}");
    assert_eq!(report.activity.leases_recovered, report.stats.recovered_leases);
    assert!(r.reclaimed >= 1, "a recovered run was claimed again: {report}");
    assert!(report.activity.crashes >= 1);

    // The ladder spawned a worker, and spawn-only work got done by one.
    assert!(report.stats.spawns_requested >= 1, "{report}");
    assert_eq!(report.activity.sessions_spawned, report.stats.spawns_requested);
    assert!(r.spawn_only >= 1 && r.spawn_only_done >= 1, "{report}");

    // Work no agent covers ends as needs-attention, every piece of it.
    assert!(r.uncoverable >= 1, "{report}");
    assert_eq!(r.uncoverable_marked, r.uncoverable, "{report}");
    assert!(report.stats.needs_attention_runs >= 1);
    assert_eq!(report.stats.needs_attention_runs as usize, r.needs_attention);
    assert_eq!(report.attention.len(), r.needs_attention);

    // The pause: cycles went on (sweeping, one lease recovered), no wake went out.
    let pause = report.pause.as_ref().expect("a pause was configured");
    assert!(pause.paused_cycles >= 1, "{report}");
    assert_eq!(pause.wakes, 0);
    assert!(pause.recovered >= 1, "the sweep ran while paused: {report}");

    // The summary shows it.
    let summary = report.to_string();
    for line in ["completed", "needs-attention", "wakes sent", "leases recovered", "spawns", "time to claim, p99"] {
        assert!(summary.contains(line), "summary lacks {line:?}:\n{summary}");
    }
    assert!(summary.contains("invariants: OK"), "{summary}");
}

#[test]
fn the_same_seed_replays_the_same_run() {
    let config = FleetConfig { runs: 25, duration: Duration::from_secs(25 * MIN), ..small() };
    let first = simulate(&config);
    assert_eq!(first, simulate(&config));
    assert_eq!(first.to_string(), simulate(&config).to_string());
    let other = simulate(&FleetConfig { seed: config.seed + 1, ..config });
    assert_ne!(first.runs, other.runs, "another seed is another run");
}

#[test]
fn without_a_pause_no_cycle_is_paused() {
    let report = simulate(&FleetConfig { pause: None, ..small() });
    assert!(report.is_clean(), "{report}");
    assert!(report.pause.is_none());
    assert_eq!(report.activity.claims_refused_paused, 0);
}

#[test]
fn invalid_configs_are_refused() {
    for config in [
        FleetConfig { sessions: 0, ..small() },
        FleetConfig { workspaces: 0, ..small() },
        FleetConfig { crash_rate: 1.5, ..small() },
        FleetConfig { gpu_rate: 0.6, impossible_rate: 0.6, ..small() },
        FleetConfig { interval: Duration::ZERO, ..small() },
    ] {
        assert!(matches!(run(&config, |_| {}), Err(FleetError::Config(_))), "{config:?}");
    }
}
