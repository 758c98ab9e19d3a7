//! Arbitrary snapshots through `Selection::select`: no panic, every invariant of
//! `scheduler_testkit::invariants` holds, the result matches the reference selection,
//! and a reused `Selection` decides exactly like a fresh one.
#![no_main]

use libfuzzer_sys::fuzz_target;
use scheduler_core::cooldown::Cooldown;
use scheduler_core::selection::{Selection, SelectionInput};
use scheduler_core::view::{RunView, SessionView};
use scheduler_testkit::invariants::{CycleInput, CycleOutput, check_cycle};
use scheduler_testkit::reference::reference_select;

include!("common_inc.rs");

fn select(
    selection: &mut Selection,
    runs: &[RunSnapshot],
    active: &[ActiveRun],
    sessions: &[SessionSnapshot],
    now: SystemTime,
    min_age: Duration,
    cooldown: &Cooldown,
) {
    selection.select(SelectionInput { runs, active, sessions, now, min_queued_age: min_age }, |r, s| {
        cooldown.is_cooling(r.run_id().trim(), s.session_id().trim(), now)
    });
}

fuzz_target!(|input: FCycle| {
    let mut runs: Vec<RunSnapshot> = input.runs.iter().take(24).map(FRun::snapshot).collect();
    let sessions: Vec<SessionSnapshot> = input.sessions.iter().take(24).map(FSession::snapshot).collect();
    let (band, band_cooled) = input.band.as_ref().map(|b| b.snapshots(&sessions)).unwrap_or_default();
    runs.extend(band);
    let active: Vec<ActiveRun> = input.active.iter().take(8).map(FActive::snapshot).collect();
    let now = t(input.now);
    let min_age = Duration::from_secs(u64::from(input.min_age % 400));
    let mut cooldown = Cooldown::new(Duration::from_secs(u64::from(input.cooldown_secs)));
    for c in input.cooled.iter().take(16) {
        cooldown.record(c.run_id.get(IDS).trim(), c.session_id.get(IDS).trim(), t(c.at));
    }
    for (run_id, session_id) in &band_cooled {
        cooldown.record(run_id, session_id, now);
    }

    let mut fresh = Selection::new();
    select(&mut fresh, &runs, &active, &sessions, now, min_age, &cooldown);

    // Every invariant holds.
    let cycle_input = CycleInput {
        runs: &runs,
        active: &active,
        sessions: &sessions,
        now,
        min_queued_age: min_age,
        wake_cooldown: cooldown.period(),
        cooldown_before: &cooldown,
    };
    let output = CycleOutput::from_selection(&fresh, runs.len());
    let violations = check_cycle(cycle_input, &output);
    assert!(violations.is_empty(), "invariants broken: {violations:#?}");

    // Same decisions as the plain reference selection (no-match order is unspecified),
    // when no two runs or two sessions tie exactly in their ordering keys: the order
    // of exact ties is left open by the contract, and the core sorts unstably.
    let run_key = |r: &RunSnapshot| (r.priority.rank(), r.queued_at, r.run_id.trim().to_owned());
    let session_key = |s: &SessionSnapshot| (s.created_at, s.session_id.trim().to_owned());
    let mut rk: Vec<_> = runs.iter().map(run_key).collect();
    let mut sk: Vec<_> = sessions.iter().map(session_key).collect();
    rk.sort();
    sk.sort();
    // SCHEDULER_FUZZ_STRICT_TIES=1 compares even then (the reference keeps input order).
    static STRICT: std::sync::OnceLock<bool> = std::sync::OnceLock::new();
    let strict = *STRICT.get_or_init(|| std::env::var_os("SCHEDULER_FUZZ_STRICT_TIES").is_some());
    let ties = !strict && (rk.windows(2).any(|w| w[0] == w[1]) || sk.windows(2).any(|w| w[0] == w[1]));
    let reference = reference_select(&runs, &active, &sessions, now, min_age, |r, s| {
        cooldown.is_cooling(r.run_id().trim(), s.session_id().trim(), now)
    });
    let sorted = |x: &[u32]| {
        let mut v = x.to_vec();
        v.sort_unstable();
        v
    };
    if !ties {
        assert_eq!(fresh.targets(), &reference.targets[..], "targets differ from the reference");
        assert_eq!(sorted(fresh.no_match()), sorted(&reference.no_match), "no-match differs from the reference");
        assert_eq!(sorted(fresh.starved()), sorted(&reference.starved), "starved differs from the reference");
        assert_eq!(fresh.counts().recently_notified_runs, reference.recently_notified);
    }
    assert_eq!(fresh.counts().unclaimable_runs, reference.unclaimable);

    // A reused selection (dirty buffers from another input) decides the same.
    let mut reused = Selection::new();
    let mut other_runs = runs.clone();
    other_runs.reverse();
    other_runs.truncate(runs.len() / 2);
    select(&mut reused, &other_runs, &[], &sessions[..sessions.len() / 2], now, min_age, &cooldown);
    select(&mut reused, &runs, &active, &sessions, now, min_age, &cooldown);
    assert_eq!(reused.targets(), fresh.targets());
    assert_eq!(sorted(reused.no_match()), sorted(fresh.no_match()));
    assert_eq!(reused.starved(), fresh.starved());
    assert_eq!(reused.counts(), fresh.counts());
});
