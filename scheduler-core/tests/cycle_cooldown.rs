//! Behaviour steps 4 and 5: the per-(run, session) wake cooldown.

mod common;

use common::{Rig, at, cycle, ids, pairs, secs};
use scheduler_testkit::snapshot::{RunSnapshot, SessionSnapshot};

fn rig_one_run(sessions: &[&str]) -> Rig {
    let rig = Rig::new();
    rig.tasks.push_pending(RunSnapshot::queued("r1", "t1"));
    rig.sessions
        .set(sessions.iter().enumerate().map(|(i, id)| SessionSnapshot::active(*id).created_at(at(secs(i as u64)))));
    rig
}

#[test]
fn woken_pair_is_not_rewoken_within_the_cooldown_and_is_after_it() {
    let rig = rig_one_run(&["s1"]);
    let mut s = rig.builder().wake_cooldown(secs(30)).build().unwrap();

    let c = cycle(&mut s);
    assert_eq!(c.result.selected_run_ids, ["r1"]);
    assert_eq!(s.cooldown().len(), 1);

    rig.clock.advance(secs(29));
    let c = cycle(&mut s);
    assert_eq!(c.result.counts.wake_attempts, 0);
    assert_eq!(c.result.counts.recently_notified_runs, 1);
    assert_eq!(c.result.counts.no_match_runs, 0, "in cooldown is not a no-match");
    assert!(c.result.selected_run_ids.is_empty());

    // Exactly one cooldown after the wake, the pair is due again.
    rig.clock.advance(secs(1));
    let c = cycle(&mut s);
    assert_eq!(c.result.selected_run_ids, ["r1"]);
    assert_eq!(c.result.counts.recently_notified_runs, 0);
    assert_eq!(rig.waker.attempted_pairs(), pairs(&[("r1", "s1"), ("r1", "s1")]));
}

#[test]
fn default_cooldown_is_one_minute() {
    let rig = rig_one_run(&["s1"]);
    let mut s = rig.build();
    cycle(&mut s);
    rig.clock.advance(secs(59));
    assert_eq!(cycle(&mut s).result.counts.recently_notified_runs, 1);
    rig.clock.advance(secs(1));
    assert_eq!(cycle(&mut s).result.counts.wake_succeeded, 1);
}

#[test]
fn next_eligible_session_not_in_cooldown_is_chosen() {
    let rig = rig_one_run(&["s1", "s2", "s3"]);
    let mut s = rig.build();
    cycle(&mut s);
    rig.clock.advance(secs(5));
    cycle(&mut s);
    rig.clock.advance(secs(5));
    cycle(&mut s);
    assert_eq!(rig.waker.attempted_pairs(), pairs(&[("r1", "s1"), ("r1", "s2"), ("r1", "s3")]));

    // Every eligible session is now cooling for r1.
    rig.clock.advance(secs(5));
    let c = cycle(&mut s);
    assert_eq!(c.result.counts.recently_notified_runs, 1);
    assert_eq!(c.result.counts.wake_attempts, 0);
    assert_eq!(rig.waker.attempted_pairs().len(), 3);

    // s1's cooldown (woken at +0) ends at +60 while s2's (woken at +5) still runs.
    rig.clock.set(at(secs(60)));
    cycle(&mut s);
    assert_eq!(rig.waker.attempted_pairs().last().unwrap(), &("r1".to_owned(), "s1".to_owned()));
}

#[test]
fn cooldown_is_per_run_and_session_pair() {
    let rig = rig_one_run(&["s1"]);
    let mut s = rig.build();
    cycle(&mut s);
    // Another run may wake the same session straight away.
    rig.tasks.set_pending([RunSnapshot::queued("r2", "t2")]);
    let c = cycle(&mut s);
    assert_eq!(c.result.selected_run_ids, ["r2"]);
    assert_eq!(rig.waker.attempted_pairs(), pairs(&[("r1", "s1"), ("r2", "s1")]));
    assert_eq!(s.cooldown().len(), 2);
}

#[test]
fn cooling_session_is_not_targeted_so_a_later_run_may_take_it() {
    let rig = rig_one_run(&["s1"]);
    let mut s = rig.build();
    cycle(&mut s);
    // r1 (first in order) finds its only session cooling; r2 then takes it.
    rig.tasks.push_pending(RunSnapshot::queued("r2", "t2"));
    let c = cycle(&mut s);
    assert_eq!(c.result.counts.recently_notified_runs, 1);
    assert_eq!(c.result.selected_run_ids, ["r2"]);
    assert!(c.result.no_match_run_ids.is_empty());
}

#[test]
fn cooldown_keys_compare_trimmed_ids() {
    let rig = Rig::new();
    rig.tasks.set_pending([RunSnapshot::queued(" r1 ", "t1")]);
    rig.sessions.set([SessionSnapshot::active("s1 ")]);
    let mut s = rig.build();
    cycle(&mut s);
    rig.tasks.set_pending([RunSnapshot::queued("r1", "t1")]);
    rig.sessions.set([SessionSnapshot::active(" s1")]);
    let c = cycle(&mut s);
    assert_eq!(c.result.counts.recently_notified_runs, 1);
    assert_eq!(rig.waker.attempted_pairs(), pairs(&[("r1", "s1")]));
}

#[test]
fn zero_cooldown_keeps_no_keys_and_rewakes_every_cycle() {
    let rig = rig_one_run(&["s1", "s2"]);
    let mut s = rig.builder().wake_cooldown(secs(0)).build().unwrap();
    assert!(!s.cooldown().is_enabled());
    for _ in 0..3 {
        let c = cycle(&mut s);
        assert_eq!(c.result.selected_run_ids, ["r1"]);
        assert_eq!(c.result.counts.recently_notified_runs, 0);
        assert_eq!(s.cooldown().len(), 0);
    }
    // Always the first session in order: nothing remembers the previous wake.
    assert_eq!(rig.waker.attempted_pairs(), pairs(&[("r1", "s1"), ("r1", "s1"), ("r1", "s1")]));
}

#[test]
fn failed_wake_records_no_cooldown() {
    let rig = rig_one_run(&["s1"]);
    let mut s = rig.build();
    rig.waker.faults().fail_next("wake");
    let c = cycle(&mut s);
    assert_eq!(c.result.counts.wake_failed, 1);
    assert_eq!(s.cooldown().len(), 0);
    // Retried at once, same session.
    let c = cycle(&mut s);
    assert_eq!(c.result.selected_run_ids, ids(&["r1"]));
    assert_eq!(rig.waker.attempted_pairs(), pairs(&[("r1", "s1"), ("r1", "s1")]));
    assert_eq!(s.cooldown().len(), 1);
}

#[test]
fn expired_keys_are_pruned() {
    let rig = rig_one_run(&["s1"]);
    let mut s = rig.build();
    cycle(&mut s);
    assert_eq!(s.cooldown().len(), 1);
    rig.tasks.set_pending([]);
    rig.clock.advance(secs(61));
    cycle(&mut s);
    assert_eq!(s.cooldown().len(), 0);
}
