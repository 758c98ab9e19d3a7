//! The fleet simulation, small: the real scheduler (through scheduler-tokio, on tokio's
//! paused clock) over the in-memory task service and over a SQLite file, with
//! crashes, spawns, uncoverable work and a pause; and a second simulation on the same
//! SQLite file resuming the first. The example binary exits non-zero exactly when
//! `FleetReport::is_clean` is false, so these tests check what decides its exit
//! status.

use std::path::Path;
use std::time::Duration;

use scheduler_core::SelectionPolicy;
use scheduler_core::lease::LeaseService;
use scheduler_core::model::RunStatus;
use scheduler_core::seam::StarvationStore;
use scheduler_examples::fleet::{AgentKinds, FleetConfig, FleetError, FleetReport, StoreKind, run};
use scheduler_sqlite::Store;

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

/// The same simulation on a fresh SQLite file; the report's store line says so.
fn simulate_on_sqlite(config: &FleetConfig) -> FleetReport {
    let dir = tempfile::tempdir().expect("a temporary directory");
    let path = dir.path().join("fleet.db");
    let mut report = simulate(&FleetConfig { store: StoreKind::Sqlite(path.clone()), ..config.clone() });
    assert_eq!(report.store, format!("sqlite {}", path.display()));
    assert!(report.to_string().starts_with(&format!("store: sqlite {}\n", path.display())));
    assert_eq!(report.config.store, StoreKind::Sqlite(path));
    // Comparable with a run on another file or in memory.
    report.store = "memory".to_owned();
    report.config.store = StoreKind::Memory;
    report
}

#[test]
fn the_small_fleet_keeps_every_invariant_and_exercises_every_path() {
    let report = simulate(&small());
    assert_eq!(report.store, "memory");
    assert!(report.to_string().starts_with("store: memory\n"));
    every_path(&report);
}

#[test]
fn the_small_fleet_on_sqlite_keeps_every_invariant_and_exercises_every_path() {
    let report = simulate_on_sqlite(&small());
    every_path(&report);
    // The paused clock stood still during every store call: the same seed is the same
    // simulation as in memory, to the last counter.
    assert_eq!(report, simulate(&small()));
}

fn every_path(report: &FleetReport) {
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
    let other = simulate(&FleetConfig { seed: config.seed + 1, ..config.clone() });
    assert_ne!(first.runs, other.runs, "another seed is another run");

    // On SQLite too: two fresh files, the same summary, line for line.
    let on_sqlite = simulate_on_sqlite(&config);
    assert!(on_sqlite.is_clean(), "{on_sqlite}");
    assert_eq!(on_sqlite.to_string(), simulate_on_sqlite(&config).to_string());
    assert_eq!(on_sqlite, first);
}

/// The specialised fleet (a generalist, five specialists, flexible and narrow work) runs
/// clean under both selection policies, exercising the same paths as the default one;
/// its sessions are of its own kinds; and it is another workload than the default's.
#[test]
fn the_small_specialised_fleet_runs_clean_under_both_policies() {
    let specialised = FleetConfig { agent_kinds: AgentKinds::Specialised, ..small() };
    let mut reports = Vec::new();
    for policy in [SelectionPolicy::Greedy, SelectionPolicy::Maximum] {
        let report = simulate(&FleetConfig { policy, ..specialised.clone() });
        every_path(&report);
        let a = &report.activity;
        assert!(a.wake_claims >= 1 && a.wake_claims <= a.claims_won, "{report}");
        assert!(a.wake_claims <= a.wakes_delivered, "{report}");
        assert!(a.wake_claims_elsewhere <= a.wake_claims, "{report}");
        assert_eq!(report.config.agent_kinds, AgentKinds::Specialised);
        reports.push(report);
    }
    let default = simulate(&small());
    assert_ne!(reports[0].runs, default.runs, "the specialised kinds draw another work mix");
}

#[test]
fn without_a_pause_no_cycle_is_paused_on_either_store() {
    for report in
        [simulate(&FleetConfig { pause: None, ..small() }), simulate_on_sqlite(&FleetConfig { pause: None, ..small() })]
    {
        assert!(report.is_clean(), "{report}");
        assert!(report.pause.is_none());
        assert_eq!(report.activity.claims_refused_paused, 0);
    }
}

/// The gen-1 run ids (`run-0001` ...) of `config` found in the store at `path`, with
/// their statuses, and the run ids the store holds ladder budgets for.
fn first_generation(path: &Path, runs: usize) -> (Vec<(String, RunStatus)>, Vec<String>) {
    let store = Store::open(path).expect("the database opens");
    futures::executor::block_on(async {
        let mut statuses = Vec::new();
        for n in 1..=runs {
            let id = format!("run-{n:04}");
            let record = store.tasks().record(&id).await.expect("readable").expect("the run is in the store");
            statuses.push((id, record.status));
        }
        let mut budgets = Vec::new();
        store.budgets().list(&mut budgets).await.expect("readable");
        (statuses, budgets.into_iter().map(|(id, _)| AsRef::<str>::as_ref(&id).to_owned()).collect())
    })
}

#[test]
fn a_second_run_on_the_same_database_resumes_the_first() {
    let dir = tempfile::tempdir().expect("a temporary directory");
    let path = dir.path().join("fleet.db");
    let config = FleetConfig {
        runs: 60,
        duration: Duration::from_secs(20 * MIN),
        impossible_rate: 0.1,
        pause: None,
        store: StoreKind::Sqlite(path.clone()),
        ..small()
    };

    // The first run stops as arrivals end (no drain): runs are left queued, leased to
    // its sessions (which are gone with it), and climbing the ladder.
    let first = simulate(&FleetConfig { drain: Duration::ZERO, ..config.clone() });
    assert!(first.is_clean(), "{first}");
    assert!(first.resumed.is_none());
    assert!(first.runs.open > 0, "{first}");
    let (statuses, budgets) = first_generation(&path, config.runs);
    let open =
        |s: RunStatus| matches!(s, RunStatus::Queued | RunStatus::Claimed | RunStatus::Starting | RunStatus::Running);
    let leased: Vec<&String> =
        statuses.iter().filter(|(_, s)| open(*s) && *s != RunStatus::Queued).map(|(id, _)| id).collect();
    assert!(!leased.is_empty(), "the first run left leases open: {first}");
    assert!(!budgets.is_empty(), "the first run left ladder budgets: {first}");

    // The second run on the same file takes all of that over and drains it.
    let second = simulate(&config);
    assert!(second.is_clean(), "{second}");
    let resumed = second.resumed.clone().expect("the second run resumed the first");
    assert_eq!(resumed.generation, 2);
    assert_eq!(resumed.leased, leased.len(), "{second}");
    assert_eq!(resumed.queued + resumed.leased, first.runs.open, "{second}");
    assert_eq!(resumed.budgets, budgets.len(), "the budgets were found: {second}");
    assert!(resumed.stale_sessions > 0, "{second}");
    assert_eq!(second.runs.taken_over, first.runs.open);
    // The leases the first run's sessions held were recovered by the sweep (besides
    // those of the second run's own crashes), and every run of both ended.
    assert!(second.stats.recovered_leases as usize >= leased.len(), "{second}");
    assert_eq!(second.runs.open, 0, "{second}");
    let (after, _) = first_generation(&path, config.runs);
    for (id, status) in &after {
        assert!(!open(*status), "{id} is still {status:?} after the second run");
    }
    assert!(second.to_string().contains("resumed (generation 2)"), "{second}");
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
        let config = FleetConfig { store: StoreKind::Sqlite("/nonexistent/dir/fleet.db".into()), ..config };
        assert!(matches!(run(&config, |_| {}), Err(FleetError::Config(_))), "{config:?}");
    }
    // A database that cannot be opened is a store error naming the path.
    let config = FleetConfig { store: StoreKind::Sqlite("/nonexistent/dir/fleet.db".into()), ..small() };
    match run(&config, |_| {}) {
        Err(e @ FleetError::Store(_)) => assert!(e.to_string().contains("/nonexistent/dir"), "{e}"),
        other => panic!("expected a store error, got {other:?}"),
    }
}
