//! Behaviour step 6: the convergence ladder over a durable starvation budget, and the
//! reconcile of budgets whose runs were not candidates.

mod common;

use std::time::{Duration, SystemTime};

use common::{Expected, LadderSched, Rig, cycle, debug_all, fake, ids, mins, secs, sorted};
use scheduler_core::ladder::{Budget, RECONCILE_PAGE_MIN, Thresholds, Tier};
use scheduler_core::model::{Priority, RunStatus};
use scheduler_core::seam::{MarkOutcome, SpawnOutcome};
use scheduler_core::{BatchStep, BuildError};
use scheduler_testkit::escalation::EscalationCall;
use scheduler_testkit::snapshot::{RunSnapshot, SessionSnapshot};

/// A rig with starved run `r1`, queued 10 minutes before the clock's start.
fn starved_rig() -> (Rig, SystemTime) {
    let rig = Rig::new();
    let queued = rig.ago(mins(10));
    rig.tasks.push_pending(RunSnapshot::queued("r1", "t1").queued_at(queued));
    (rig, queued)
}

/// A stored budget at `count` starved cycles, first starved five minutes ago.
fn budget(rig: &Rig, count: u32, spawned: bool, evented: bool) -> Budget {
    let th = Thresholds::DEFAULT;
    let first = rig.ago(mins(5));
    let mut b = Budget::fresh(first);
    b.wake_count = count;
    b.tier = th.tier_for(count);
    b.last_wake_at = rig.ago(secs(15));
    b.updated_at = b.last_wake_at;
    b.spawn_requested_at = spawned.then(|| rig.ago(mins(2)));
    b.starved_event_at = evented.then(|| rig.ago(mins(1)));
    b
}

fn spawn(run: &str) -> EscalationCall {
    EscalationCall::Spawn { run_id: run.into() }
}

fn starved(run: &str, age: Duration) -> EscalationCall {
    EscalationCall::Starved { run_id: run.into(), age }
}

fn marked(run: &str, diagnostic: String) -> EscalationCall {
    EscalationCall::NeedsAttention { run_id: run.into(), diagnostic }
}

fn diag(age: Duration, count: u32) -> String {
    format!("run queued {}s without a claim after {count} escalation cycles", age.as_secs())
}

fn ladder(rig: &Rig) -> LadderSched {
    rig.build_ladder()
}

#[test]
fn climbs_every_tier_at_default_thresholds() {
    let (rig, queued) = starved_rig();
    let mut s = ladder(&rig);
    let first = rig.now();
    let mut calls = Vec::new();
    let (mut spawned_at, mut evented_at) = (None, None);
    for n in 1..=10u32 {
        if n > 1 {
            rig.clock.advance(secs(15));
        }
        let now = rig.now();
        let c = cycle(&mut s);
        assert!(c.errors.is_empty(), "cycle {n}: {:?}", c.errors);
        assert_eq!(c.result.starved_run_ids, ["r1"]);
        match n {
            4 => {
                calls.push(spawn("r1"));
                spawned_at = Some(now);
                assert_eq!(c.result.spawn_requested_run_ids, ["r1"]);
                assert_eq!(c.result.counts.spawns_requested, 1);
            }
            6 => {
                calls.push(starved("r1", now.duration_since(queued).unwrap()));
                evented_at = Some(now);
            }
            10 => {
                calls.push(marked("r1", diag(now.duration_since(queued).unwrap(), 10)));
                assert_eq!(c.result.needs_attention_run_ids, ["r1"]);
                assert_eq!(c.result.counts.needs_attention_runs, 1);
            }
            _ => {}
        }
        if n != 4 {
            assert!(c.result.spawn_requested_run_ids.is_empty(), "cycle {n}");
            assert_eq!(c.result.counts.spawns_requested, 0, "cycle {n}");
        }
        if n != 10 {
            assert_eq!(c.result.counts.needs_attention_runs, 0, "cycle {n}");
        }
        assert_eq!(rig.actor.calls(), calls, "cycle {n}");

        let stored = rig.store.get("r1");
        if n == 10 {
            assert_eq!(stored, None, "needs-attention clears the budget");
            continue;
        }
        let b = stored.unwrap_or_else(|| panic!("cycle {n}: budget stored"));
        let tier = match n {
            1 => Tier::None,
            2 | 3 => Tier::FanOut,
            4 | 5 => Tier::Spawn,
            _ => Tier::Event,
        };
        assert_eq!(b.wake_count, n, "cycle {n}");
        assert_eq!(b.tier, tier, "cycle {n}");
        assert_eq!(b.first_starved_at, first, "cycle {n}: first starved kept");
        assert_eq!(b.last_wake_at, now, "cycle {n}");
        assert_eq!(b.updated_at, now, "cycle {n}");
        assert_eq!(b.spawn_requested_at, spawned_at, "cycle {n}");
        assert_eq!(b.starved_event_at, evented_at, "cycle {n}");
    }
    let stats = s.stats();
    assert_eq!((stats.spawns_requested, stats.needs_attention_runs, stats.starved_runs), (1, 1, 10));
}

#[test]
fn existing_budget_keeps_its_first_starved_at() {
    let (rig, _) = starved_rig();
    let stored = budget(&rig, 1, false, false);
    rig.store.insert("r1", stored);
    let mut s = ladder(&rig);
    cycle(&mut s);
    let b = rig.store.get("r1").unwrap();
    assert_eq!(b.wake_count, 2);
    assert_eq!(b.tier, Tier::FanOut);
    assert_eq!(b.first_starved_at, stored.first_starved_at);
    assert_eq!(b.last_wake_at, rig.now());
    assert_eq!(b.updated_at, rig.now());
}

#[test]
fn normalised_custom_thresholds_drive_the_tiers() {
    let (rig, queued) = starved_rig();
    // fan-out 3, spawn 1 -> 3, event 0 -> 6, needs-attention 5 -> 6.
    let th = Thresholds {
        fan_out_after: 3,
        spawn_after: 1,
        event_after: 0,
        needs_attention_after: 5,
        min_queued_age: secs(60),
    };
    let builder =
        rig.builder().starvation_thresholds(th).starvation_store(rig.store.clone()).escalation_actor(rig.actor.clone());
    let t = builder.settings().thresholds();
    assert_eq!((t.fan_out_after, t.spawn_after, t.event_after, t.needs_attention_after), (3, 3, 6, 6));
    let mut s = builder.build().unwrap();
    for n in 1..=6 {
        if n > 1 {
            rig.clock.advance(secs(10));
        }
        cycle(&mut s);
        let want = match n {
            1 | 2 => vec![],
            3..=5 => vec![spawn("r1")],
            _ => vec![
                spawn("r1"),
                starved("r1", rig.now().duration_since(queued).unwrap()),
                marked("r1", diag(rig.now().duration_since(queued).unwrap(), 6)),
            ],
        };
        assert_eq!(rig.actor.calls(), want, "cycle {n}");
    }
    assert_eq!(rig.store.get("r1"), None);
}

#[test]
fn all_tiers_can_fire_in_one_cycle_in_order() {
    let (rig, queued) = starved_rig();
    let mut s = rig
        .builder()
        .starvation_thresholds(
            Thresholds::default()
                .fan_out_after(1)
                .spawn_after(1)
                .event_after(1)
                .needs_attention_after(1)
                .min_queued_age(secs(60))
                .normalized(),
        )
        .starvation_store(rig.store.clone())
        .escalation_actor(rig.actor.clone())
        .build()
        .unwrap();
    let c = cycle(&mut s);
    let age = rig.now().duration_since(queued).unwrap();
    assert_eq!(rig.actor.calls(), [spawn("r1"), starved("r1", age), marked("r1", diag(age, 1))]);
    assert_eq!(c.result.spawn_requested_run_ids, ["r1"]);
    assert_eq!(c.result.needs_attention_run_ids, ["r1"]);
    assert_eq!(rig.store.get("r1"), None);
}

#[test]
fn spawn_is_requested_once() {
    let (rig, _) = starved_rig();
    rig.store.insert("r1", budget(&rig, 3, false, false));
    let mut s = ladder(&rig);
    cycle(&mut s);
    assert_eq!(rig.actor.calls(), [spawn("r1")]);
    assert_eq!(rig.store.get("r1").unwrap().spawn_requested_at, Some(rig.now()));
    rig.clock.advance(secs(15));
    let c = cycle(&mut s);
    assert_eq!(rig.actor.calls(), [spawn("r1")]);
    assert!(c.result.spawn_requested_run_ids.is_empty());
}

#[test]
fn unresolvable_spawn_records_nothing_and_is_retried() {
    let (rig, queued) = starved_rig();
    rig.store.insert("r1", budget(&rig, 3, false, false));
    rig.actor.set_spawn_outcome(SpawnOutcome::Unresolvable);
    let mut s = ladder(&rig);
    let c = cycle(&mut s);
    assert!(c.errors.is_empty(), "unresolvable is not an error: {:?}", c.errors);
    assert_eq!(c.result.counts.spawns_requested, 0);
    assert!(c.result.spawn_requested_run_ids.is_empty());
    let b = rig.store.get("r1").unwrap();
    assert_eq!((b.wake_count, b.spawn_requested_at), (4, None));

    rig.clock.advance(secs(15));
    cycle(&mut s);
    assert_eq!(rig.actor.calls(), [spawn("r1"), spawn("r1")], "retried next cycle");

    rig.actor.set_spawn_outcome(SpawnOutcome::Requested);
    rig.clock.advance(secs(15));
    let c = cycle(&mut s);
    let age = rig.now().duration_since(queued).unwrap();
    assert_eq!(rig.actor.calls(), [spawn("r1"), spawn("r1"), spawn("r1"), starved("r1", age)]);
    assert_eq!(c.result.spawn_requested_run_ids, ["r1"]);
    assert_eq!(rig.store.get("r1").unwrap().spawn_requested_at, Some(rig.now()));
    assert_eq!(s.stats().spawns_requested, 1);
}

#[test]
fn spawn_error_is_returned_and_later_tiers_still_run() {
    let (rig, queued) = starved_rig();
    rig.store.insert("r1", budget(&rig, 9, false, false));
    rig.actor.faults().fail_next("request_spawn");
    let mut s = ladder(&rig);
    let c = cycle(&mut s);
    assert_eq!(c.errors, debug_all(&[Expected::Spawn { run_id: "r1".into(), source: fake("request_spawn", 1) }]));
    let age = rig.now().duration_since(queued).unwrap();
    assert_eq!(rig.actor.calls(), [spawn("r1"), starved("r1", age), marked("r1", diag(age, 10))]);
    assert_eq!(c.result.counts.spawns_requested, 0);
    assert_eq!(c.result.counts.needs_attention_runs, 1);
    assert_eq!(rig.store.get("r1"), None);
}

#[test]
fn spawn_error_is_retried_next_cycle() {
    let (rig, _) = starved_rig();
    rig.store.insert("r1", budget(&rig, 3, false, false));
    rig.actor.faults().fail_next("request_spawn");
    let mut s = ladder(&rig);
    let c = cycle(&mut s);
    assert_eq!(c.errors.len(), 1);
    let b = rig.store.get("r1").unwrap();
    assert_eq!((b.wake_count, b.spawn_requested_at), (4, None));
    rig.clock.advance(secs(15));
    let c = cycle(&mut s);
    assert!(c.errors.is_empty());
    assert_eq!(c.result.spawn_requested_run_ids, ["r1"]);
    assert_eq!(rig.store.get("r1").unwrap().spawn_requested_at, Some(rig.now()));
}

#[test]
fn emit_error_is_returned_not_recorded_and_retried() {
    let (rig, queued) = starved_rig();
    rig.store.insert("r1", budget(&rig, 5, true, false));
    rig.actor.faults().fail_next("emit_starved");
    let mut s = ladder(&rig);
    let c = cycle(&mut s);
    assert_eq!(c.errors, debug_all(&[Expected::EmitStarved { run_id: "r1".into(), source: fake("emit_starved", 1) }]));
    let b = rig.store.get("r1").unwrap();
    assert_eq!((b.wake_count, b.starved_event_at), (6, None));

    rig.clock.advance(secs(15));
    let c = cycle(&mut s);
    assert!(c.errors.is_empty());
    let age = rig.now().duration_since(queued).unwrap();
    assert_eq!(rig.actor.calls().last(), Some(&starved("r1", age)));
    assert_eq!(rig.store.get("r1").unwrap().starved_event_at, Some(rig.now()));

    rig.clock.advance(secs(15));
    cycle(&mut s);
    assert_eq!(rig.actor.calls().len(), 2, "emitted once only");
}

#[test]
fn needs_attention_diagnostic_is_exact_and_clears_the_budget() {
    let rig = Rig::new();
    rig.tasks.push_pending(RunSnapshot::queued("r1", "t1").queued_at(rig.ago(Duration::from_millis(601_900))));
    rig.store.insert("r1", budget(&rig, 9, true, true));
    let mut s = ladder(&rig);
    let c = cycle(&mut s);
    assert!(c.errors.is_empty());
    assert_eq!(
        rig.actor.calls(),
        [marked("r1", "run queued 601s without a claim after 10 escalation cycles".to_owned())]
    );
    assert_eq!(c.result.needs_attention_run_ids, ["r1"]);
    assert_eq!(c.result.counts.needs_attention_runs, 1);
    assert_eq!(s.stats().needs_attention_runs, 1);
    assert_eq!(rig.store.get("r1"), None);
    assert!(rig.store.rows().is_empty());
}

#[test]
fn invalid_transition_clears_budget_counts_nothing_no_error() {
    let (rig, _) = starved_rig();
    rig.store.insert("r1", budget(&rig, 9, true, true));
    rig.actor.set_mark_outcome(MarkOutcome::InvalidTransition);
    let mut s = ladder(&rig);
    let c = cycle(&mut s);
    assert!(c.errors.is_empty(), "{:?}", c.errors);
    assert_eq!(rig.actor.calls().len(), 1);
    assert_eq!(c.result.counts.needs_attention_runs, 0);
    assert!(c.result.needs_attention_run_ids.is_empty());
    assert_eq!(s.stats().needs_attention_runs, 0);
    assert_eq!(rig.store.get("r1"), None);
}

#[test]
fn mark_error_keeps_the_budget() {
    let (rig, queued) = starved_rig();
    rig.store.insert("r1", budget(&rig, 9, true, true));
    rig.actor.faults().fail_next("mark_needs_attention");
    let mut s = ladder(&rig);
    let c = cycle(&mut s);
    assert_eq!(
        c.errors,
        debug_all(&[Expected::MarkNeedsAttention { run_id: "r1".into(), source: fake("mark_needs_attention", 1) }])
    );
    assert_eq!(c.result.counts.needs_attention_runs, 0);
    assert!(c.result.needs_attention_run_ids.is_empty());
    let b = rig.store.get("r1").expect("budget kept");
    assert_eq!((b.wake_count, b.tier, b.last_wake_at), (10, Tier::NeedsAttention, rig.now()));

    rig.clock.advance(secs(15));
    let c = cycle(&mut s);
    assert!(c.errors.is_empty());
    let age = rig.now().duration_since(queued).unwrap();
    assert_eq!(rig.actor.calls().last(), Some(&marked("r1", diag(age, 11))));
    assert_eq!(c.result.needs_attention_run_ids, ["r1"]);
    assert_eq!(rig.store.get("r1"), None);
}

// ---- status re-read ----

#[test]
fn needs_attention_status_keeps_budget_and_skips() {
    let (rig, _) = starved_rig();
    let stored = budget(&rig, 9, true, true);
    rig.store.insert("r1", stored);
    rig.tasks.set_status("r1", Some(RunStatus::NeedsAttention));
    let mut s = ladder(&rig);
    let c = cycle(&mut s);
    assert!(c.errors.is_empty());
    assert!(rig.actor.calls().is_empty());
    assert_eq!(rig.store.get("r1"), Some(stored), "budget kept as is, not advanced");
    assert_eq!(c.result.starved_run_ids, ["r1"]);
}

#[test]
fn not_found_or_other_status_clears_budget_and_skips() {
    let statuses = [
        None,
        Some(RunStatus::Claimed),
        Some(RunStatus::Starting),
        Some(RunStatus::Running),
        Some(RunStatus::Completed),
        Some(RunStatus::Failed),
        Some(RunStatus::Canceled),
        Some(RunStatus::Unknown),
    ];
    for status in statuses {
        let (rig, _) = starved_rig();
        rig.store.insert("r1", budget(&rig, 9, true, true));
        rig.tasks.set_status("r1", status);
        let mut s = ladder(&rig);
        let c = cycle(&mut s);
        assert!(c.errors.is_empty(), "{status:?}");
        assert!(rig.actor.calls().is_empty(), "{status:?}");
        assert_eq!(rig.store.get("r1"), None, "{status:?}: budget cleared");
    }
}

#[test]
fn status_read_error_is_returned_and_the_run_skipped() {
    let (rig, _) = starved_rig();
    let stored = budget(&rig, 9, true, true);
    rig.store.insert("r1", stored);
    rig.tasks.faults().fail_next("run_status");
    let mut s = ladder(&rig);
    let c = cycle(&mut s);
    assert_eq!(c.errors, debug_all(&[Expected::RunStatus { run_id: "r1".into(), source: fake("run_status", 1) }]));
    assert!(rig.actor.calls().is_empty());
    assert_eq!(rig.store.get("r1"), Some(stored));
}

#[test]
fn status_batch_error_is_returned_once() {
    let (rig, _) = starved_rig();
    rig.tasks.push_pending(RunSnapshot::queued("r2", "t2").queued_at(rig.ago(mins(9))));
    let stored = budget(&rig, 9, true, true);
    rig.store.insert("r1", stored);
    rig.tasks.faults().fail_next("run_statuses");
    let mut s = ladder(&rig);
    let c = cycle(&mut s);
    assert_eq!(c.errors, debug_all(&[Expected::RunStatusBatch { runs: 2, source: fake("run_statuses", 1) }]));
    assert!(rig.actor.calls().is_empty());
    assert_eq!(rig.store.rows(), [("r1".to_owned(), stored)]);
}

#[test]
fn upsert_error_is_returned() {
    let (rig, _) = starved_rig();
    rig.store.faults().fail_next("upsert");
    let mut s = ladder(&rig);
    let c = cycle(&mut s);
    assert_eq!(c.errors, debug_all(&[Expected::UpsertBudget { run_id: "r1".into(), source: fake("upsert", 1) }]));
    assert_eq!(rig.store.get("r1"), None);
    // Next cycle starts from a fresh budget again.
    rig.clock.advance(secs(15));
    let c = cycle(&mut s);
    assert!(c.errors.is_empty());
    assert_eq!(rig.store.get("r1").unwrap().wake_count, 1);
}

#[test]
fn whole_upsert_batch_error_is_returned_once() {
    let (rig, _) = starved_rig();
    rig.tasks.push_pending(RunSnapshot::queued("r2", "t2").queued_at(rig.ago(mins(9))));
    rig.store.faults().fail_next("upsert_many");
    let mut s = ladder(&rig);
    let c = cycle(&mut s);
    assert_eq!(
        c.errors,
        debug_all(&[Expected::StoreBatch { step: BatchStep::UpsertBudgets, runs: 2, source: fake("upsert_many", 1) }])
    );
    assert!(rig.store.rows().is_empty());
}

/// Three starved runs, r1 to r3, of which only r2 has a stored budget (at three starved
/// cycles): r1 and r3 have no row on the page, so they are loaded.
fn three_runs_r2_stored() -> Rig {
    let (rig, _) = starved_rig();
    rig.tasks.push_pending(RunSnapshot::queued("r2", "t2").queued_at(rig.ago(mins(9))));
    rig.tasks.push_pending(RunSnapshot::queued("r3", "t3").queued_at(rig.ago(mins(9))));
    rig.store.insert("r2", budget(&rig, 3, false, false));
    rig
}

#[test]
fn load_error_skips_only_that_run() {
    let rig = three_runs_r2_stored();
    rig.store.faults().fail_next("load");
    let mut s = ladder(&rig);
    let c = cycle(&mut s);
    assert_eq!(c.errors, debug_all(&[Expected::LoadBudget { run_id: "r1".into(), source: fake("load", 1) }]));
    assert_eq!(rig.store.get("r1"), None);
    assert_eq!(rig.store.get("r2").unwrap().wake_count, 4);
    assert_eq!(rig.store.get("r3").unwrap().wake_count, 1);
    assert_eq!(rig.actor.calls(), [spawn("r2")]);
}

#[test]
fn a_budget_on_the_page_is_not_loaded_again() {
    let (rig, _) = starved_rig();
    let stored = budget(&rig, 3, false, false);
    rig.store.insert("r1", stored);
    let mut s = ladder(&rig);
    let c = cycle(&mut s);
    assert!(c.errors.is_empty(), "{:?}", c.errors);
    assert_eq!((rig.store.faults().calls("load_many"), rig.store.faults().calls("load")), (0, 0));
    let advanced = rig.store.get("r1").unwrap();
    assert_eq!((advanced.wake_count, advanced.first_starved_at), (4, stored.first_starved_at));
    assert_eq!(rig.actor.calls(), [spawn("r1")]);
}

#[test]
fn a_failed_load_batch_fails_only_the_runs_it_was_loading() {
    let rig = three_runs_r2_stored();
    rig.store.faults().fail_next("load_many");
    let mut s = ladder(&rig);
    let c = cycle(&mut s);
    let failed = fake("load_many", 1);
    assert_eq!(c.errors, debug_all(&[Expected::StoreBatch { step: BatchStep::LoadBudgets, runs: 2, source: failed }]));
    assert_eq!((rig.store.get("r1"), rig.store.get("r3")), (None, None));
    assert_eq!(rig.store.get("r2").unwrap().wake_count, 4, "r2's budget came from the page");
}

#[test]
fn escalations_go_in_selection_order_whatever_the_order_of_the_page() {
    let rig = Rig::new();
    let queued = rig.ago(mins(10));
    // Key order a, b, c; selection order (priority) b, c, a.
    for (id, priority) in [("a-low", Priority::Low), ("b-urgent", Priority::Urgent), ("c-high", Priority::High)] {
        rig.tasks.push_pending(RunSnapshot::queued(id, "t").priority(priority).queued_at(queued));
        rig.store.insert(id, budget(&rig, 3, false, false));
    }
    let mut s = ladder(&rig);
    let c = cycle(&mut s);
    assert!(c.errors.is_empty(), "{:?}", c.errors);
    assert_eq!(rig.actor.calls(), [spawn("b-urgent"), spawn("c-high"), spawn("a-low")]);
    for id in ["a-low", "b-urgent", "c-high"] {
        assert_eq!(rig.store.get(id).unwrap().wake_count, 4, "{id} climbed from its listed row");
    }
}

// ---- reconcile's walk over the store, a page per cycle ----

/// `n` stored budgets (ids `p00000` and up, in key order) of runs that are not pending
/// and still queued: reconcile keeps them.
fn parked(rig: &Rig, n: usize) -> Vec<String> {
    let stored = budget(rig, 3, false, false);
    let ids: Vec<String> = (0..n).map(|i| format!("p{i:05}")).collect();
    for id in &ids {
        rig.tasks.set_status(id, Some(RunStatus::Queued));
        rig.store.insert(id, stored);
    }
    ids
}

#[test]
fn a_store_of_exactly_one_page_is_reconciled_whole_every_cycle() {
    let rig = Rig::new();
    let ids = parked(&rig, RECONCILE_PAGE_MIN);
    let mut s = ladder(&rig);
    assert!(cycle(&mut s).errors.is_empty());
    assert_eq!(rig.store.len(), RECONCILE_PAGE_MIN, "every run is still queued");
    rig.tasks.set_status(&ids[0], Some(RunStatus::Completed));
    assert!(cycle(&mut s).errors.is_empty());
    assert_eq!(rig.store.get(&ids[0]), None, "the whole store was this cycle's page");
    assert_eq!(rig.store.len(), RECONCILE_PAGE_MIN - 1);
}

#[test]
fn a_larger_store_is_reconciled_a_page_per_cycle_and_the_walk_starts_over() {
    let rig = Rig::new();
    let ids = parked(&rig, RECONCILE_PAGE_MIN + 10);
    let (first_page, second_page) = (&ids[7], &ids[RECONCILE_PAGE_MIN + 3]);
    for id in [first_page, second_page] {
        rig.tasks.set_status(id, Some(RunStatus::Completed));
    }
    let mut s = ladder(&rig);
    assert!(cycle(&mut s).errors.is_empty());
    assert_eq!((rig.store.get(first_page).is_some(), rig.store.get(second_page).is_some()), (false, true));
    assert!(cycle(&mut s).errors.is_empty());
    assert_eq!(rig.store.get(second_page), None, "the second page came round");
    rig.tasks.set_status(&ids[0], Some(RunStatus::Completed));
    assert!(cycle(&mut s).errors.is_empty());
    assert_eq!(rig.store.get(&ids[0]), None, "the walk started over");
    assert_eq!(rig.store.len(), RECONCILE_PAGE_MIN + 7);
}

// ---- ladder off ----

#[test]
fn ladder_off_without_its_seams_but_fan_out_still_happens() {
    let (rig, _) = starved_rig();
    rig.sessions.set([SessionSnapshot::active("s1"), SessionSnapshot::active("s2")]);
    let mut s = rig.builder().build().unwrap();
    for _ in 0..12 {
        let c = cycle(&mut s);
        assert_eq!(c.result.counts.wake_attempts, 2, "fan-out");
        assert_eq!(c.result.starved_run_ids, ["r1"]);
        rig.clock.advance(secs(15));
    }
    assert!(rig.actor.calls().is_empty());
    assert_eq!(rig.store.round_trips(), 0);
}

/// Section 8: a half-configured ladder is a build error, never a silently disabled
/// ladder.
#[test]
fn a_ladder_with_only_one_of_its_seams_is_a_build_error() {
    let (rig, _) = starved_rig();
    let only_actor = rig.builder().escalation_actor(rig.actor.clone()).build().map(|_| ());
    assert_eq!(only_actor, Err(BuildError::HalfLadder { given: "escalation actor" }));
    let only_store = rig.builder().starvation_store(rig.store.clone()).build().map(|_| ());
    assert_eq!(only_store, Err(BuildError::HalfLadder { given: "starvation store" }));
    let err = only_store.unwrap_err().to_string();
    assert!(err.contains("starvation store") && err.contains("escalation actor"), "{err}");
    assert!(rig.builder().ladder(rig.store.clone(), rig.actor.clone()).build().is_ok());
}

#[test]
fn starvation_age_zero_disables_the_ladder() {
    let (rig, _) = starved_rig();
    let mut s = rig
        .builder()
        .starvation_age(secs(0))
        .starvation_store(rig.store.clone())
        .escalation_actor(rig.actor.clone())
        .build()
        .unwrap();
    for _ in 0..12 {
        cycle(&mut s);
        rig.clock.advance(secs(15));
    }
    assert!(rig.actor.calls().is_empty());
    assert!(rig.store.rows().is_empty());
}

// ---- reconcile ----

#[test]
fn reconcile_keeps_queued_and_needs_attention_clears_the_rest() {
    let (rig, _) = starved_rig();
    // A queued run of a paused task: not a candidate, still queued: holds its clock.
    rig.tasks.push_pending(RunSnapshot::queued("e-paused", "t").paused().queued_at(rig.ago(mins(30))));
    rig.tasks.set_status("a-queued", Some(RunStatus::Queued));
    rig.tasks.set_status("b-na", Some(RunStatus::NeedsAttention));
    rig.tasks.set_status("c-done", Some(RunStatus::Completed));
    rig.tasks.set_status("f-running", Some(RunStatus::Running));
    let stored = budget(&rig, 3, false, false);
    for id in ["a-queued", "b-na", "c-done", "d-gone", "e-paused", "f-running"] {
        rig.store.insert(id, stored);
    }
    let mut s = ladder(&rig);
    let c = cycle(&mut s);
    assert!(c.errors.is_empty(), "{:?}", c.errors);
    let rows = rig.store.rows();
    let kept: Vec<&str> = rows.iter().map(|(id, _)| id.as_str()).collect();
    assert_eq!(kept, ["a-queued", "b-na", "e-paused", "r1"]);
    for (id, b) in &rows {
        if id != "r1" {
            assert_eq!(b, &stored, "{id} kept untouched");
        }
    }
    // Candidates are re-read once, then only the non-candidates.
    assert_eq!(
        rig.tasks.status_batches(),
        [ids(&["r1"]), ids(&["a-queued", "b-na", "c-done", "d-gone", "e-paused", "f-running"])]
    );
}

#[test]
fn reconcile_runs_without_candidates() {
    let rig = Rig::new();
    rig.tasks.set_status("c-done", Some(RunStatus::Completed));
    rig.store.insert("c-done", budget(&rig, 3, false, false));
    let mut s = ladder(&rig);
    let c = cycle(&mut s);
    assert!(c.errors.is_empty());
    assert!(rig.store.rows().is_empty());
}

#[test]
fn reconcile_read_error_is_returned_and_other_rows_still_reconciled() {
    let rig = Rig::new();
    let stored = budget(&rig, 3, false, false);
    for id in ["a-done", "b-done", "c-done"] {
        rig.tasks.set_status(id, Some(RunStatus::Completed));
        rig.store.insert(id, stored);
    }
    rig.tasks.faults().fail_next("run_status");
    let mut s = ladder(&rig);
    let c = cycle(&mut s);
    assert_eq!(c.errors, debug_all(&[Expected::RunStatus { run_id: "a-done".into(), source: fake("run_status", 1) }]));
    assert_eq!(rig.store.rows(), [("a-done".to_owned(), stored)]);
}

#[test]
fn reconcile_clear_error_is_returned_and_other_rows_still_cleared() {
    let rig = Rig::new();
    let stored = budget(&rig, 3, false, false);
    for id in ["a-done", "b-done", "c-done"] {
        rig.tasks.set_status(id, Some(RunStatus::Completed));
        rig.store.insert(id, stored);
    }
    rig.store.faults().fail_next("clear");
    let mut s = ladder(&rig);
    let c = cycle(&mut s);
    assert_eq!(c.errors, debug_all(&[Expected::ClearBudget { run_id: "a-done".into(), source: fake("clear", 1) }]));
    assert_eq!(rig.store.rows(), [("a-done".to_owned(), stored)]);
    // Retried next cycle.
    let c = cycle(&mut s);
    assert!(c.errors.is_empty());
    assert!(rig.store.rows().is_empty());
}

#[test]
fn reconcile_list_error_is_returned_and_candidates_still_advance() {
    let (rig, _) = starved_rig();
    rig.tasks.set_status("c-done", Some(RunStatus::Completed));
    rig.store.insert("c-done", budget(&rig, 3, false, false));
    rig.store.faults().fail_next("list");
    let mut s = ladder(&rig);
    let c = cycle(&mut s);
    assert_eq!(c.errors, debug_all(&[Expected::ListBudgets(fake("list", 1))]));
    assert_eq!(rig.store.get("r1").unwrap().wake_count, 1);
    assert!(rig.store.get("c-done").is_some());
}

// ---- one candidate's failure never stops the others ----

fn two_candidates(rig: &Rig, count: u32, spawned: bool, evented: bool) {
    rig.tasks.push_pending(RunSnapshot::queued("r2", "t2").queued_at(rig.ago(mins(9))));
    rig.store.insert("r1", budget(rig, count, spawned, evented));
    rig.store.insert("r2", budget(rig, count, spawned, evented));
}

#[test]
fn failing_mark_of_one_run_does_not_stop_the_next() {
    let (rig, _) = starved_rig();
    two_candidates(&rig, 9, true, true);
    rig.actor.faults().fail_next("mark_needs_attention");
    let mut s = ladder(&rig);
    let c = cycle(&mut s);
    assert_eq!(
        c.errors,
        debug_all(&[Expected::MarkNeedsAttention { run_id: "r1".into(), source: fake("mark_needs_attention", 1) }])
    );
    assert_eq!(c.result.needs_attention_run_ids, ["r2"]);
    assert_eq!(rig.store.get("r1").unwrap().wake_count, 10);
    assert_eq!(rig.store.get("r2"), None);
}

#[test]
fn failing_spawn_of_one_run_does_not_stop_the_next() {
    let (rig, _) = starved_rig();
    two_candidates(&rig, 3, false, false);
    rig.actor.faults().fail_next("request_spawn");
    let mut s = ladder(&rig);
    let c = cycle(&mut s);
    assert_eq!(c.errors, debug_all(&[Expected::Spawn { run_id: "r1".into(), source: fake("request_spawn", 1) }]));
    assert_eq!(c.result.spawn_requested_run_ids, ["r2"]);
    assert_eq!(rig.actor.calls(), [spawn("r1"), spawn("r2")]);
}

#[test]
fn failing_status_read_of_one_run_does_not_stop_the_next() {
    let (rig, _) = starved_rig();
    two_candidates(&rig, 3, false, false);
    rig.tasks.faults().fail_next("run_status");
    let mut s = ladder(&rig);
    let c = cycle(&mut s);
    assert_eq!(c.errors, debug_all(&[Expected::RunStatus { run_id: "r1".into(), source: fake("run_status", 1) }]));
    assert_eq!(rig.store.get("r1").unwrap().wake_count, 3);
    assert_eq!(rig.store.get("r2").unwrap().wake_count, 4);
    assert_eq!(rig.actor.calls(), [spawn("r2")]);
}

#[test]
fn failing_emit_of_one_run_does_not_stop_the_next() {
    let (rig, _) = starved_rig();
    two_candidates(&rig, 5, true, false);
    rig.actor.faults().fail_next("emit_starved");
    let mut s = ladder(&rig);
    let c = cycle(&mut s);
    assert_eq!(c.errors.len(), 1);
    assert_eq!(rig.store.get("r1").unwrap().starved_event_at, None);
    assert_eq!(rig.store.get("r2").unwrap().starved_event_at, Some(rig.now()));
}

// ---- every error exactly once ----

#[test]
fn every_error_of_a_cycle_is_returned_exactly_once() {
    let rig = Rig::new();
    rig.tasks.set_pending([
        RunSnapshot::queued("r1", "t").queued_at(rig.ago(mins(30))),
        RunSnapshot::queued("r2", "t").queued_at(rig.ago(mins(20))),
        RunSnapshot::queued("r3", "t").queued_at(rig.ago(mins(10))),
    ]);
    rig.sessions.set([SessionSnapshot::active("s1")]);
    rig.store.insert("r1", budget(&rig, 3, false, false)); // spawn due
    rig.store.insert("r2", budget(&rig, 5, true, false)); // event due
    // r3 is fresh.
    for id in ["x-done", "y-done"] {
        rig.tasks.set_status(id, Some(RunStatus::Completed));
        rig.store.insert(id, budget(&rig, 3, false, false));
    }
    rig.tasks.faults().fail_next("recover_expired_leases");
    rig.waker.fail_session("s1");
    rig.actor.faults().fail_next("request_spawn");
    rig.actor.faults().fail_next("emit_starved");
    rig.store.faults().fail_call("upsert", 3); // r1, r2, r3 -> r3
    rig.tasks.faults().fail_call("run_status", 4); // r1, r2, r3, x-done -> x-done
    rig.store.faults().fail_next("clear"); // only y-done is cleared
    let mut s = ladder(&rig);
    let c = cycle(&mut s);
    let want = [
        Expected::Sweep(fake("recover_expired_leases", 1)),
        Expected::Wake { run_id: "r1".into(), session_id: "s1".into(), source: fake("wake", 1) },
        Expected::Spawn { run_id: "r1".into(), source: fake("request_spawn", 1) },
        Expected::EmitStarved { run_id: "r2".into(), source: fake("emit_starved", 1) },
        Expected::UpsertBudget { run_id: "r3".into(), source: fake("upsert", 3) },
        Expected::RunStatus { run_id: "x-done".into(), source: fake("run_status", 4) },
        Expected::ClearBudget { run_id: "y-done".into(), source: fake("clear", 1) },
    ];
    assert_eq!(sorted(c.errors.clone()), sorted(debug_all(&want)));
    assert_eq!(c.result.errors.len(), want.len());
    let stats = s.stats();
    assert_eq!((stats.recovery_errors, stats.wake_failed), (1, 1));

    // A clean cycle afterwards reports none of them again.
    rig.sessions.set([]);
    rig.clock.advance(secs(15));
    let c = cycle(&mut s);
    assert!(c.errors.is_empty(), "{:?}", c.errors);
}
