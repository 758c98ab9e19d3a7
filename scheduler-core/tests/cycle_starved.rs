//! Behaviour step 4: starved runs fan out to every eligible session, ignoring the
//! cooldown; starvation age zero disables it.

mod common;

use common::{Rig, at, cycle, ids, mins, pairs, secs};
use scheduler_core::ladder::Thresholds;
use scheduler_core::model::Priority;
use scheduler_testkit::snapshot::{RunSnapshot, SessionSnapshot};

fn sessions(rig: &Rig, list: &[&str]) {
    rig.sessions
        .set(list.iter().enumerate().map(|(i, id)| SessionSnapshot::active(*id).created_at(at(secs(i as u64)))));
}

#[test]
fn starved_run_fans_out_to_every_eligible_session() {
    let rig = Rig::batch();
    rig.tasks.push_pending(RunSnapshot::queued("r1", "t1").queued_at(rig.ago(mins(10))));
    sessions(&rig, &["s1", "s2", "s3"]);
    rig.sessions.push(SessionSnapshot::active("s-busy-prompting").prompting());
    let mut s = rig.build();
    let c = cycle(&mut s);
    assert_eq!(rig.waker.attempted_pairs(), pairs(&[("r1", "s1"), ("r1", "s2"), ("r1", "s3")]));
    assert_eq!(rig.waker.batches(), [3]);
    assert_eq!(c.result.starved_run_ids, ["r1"]);
    assert_eq!(c.result.counts.starved_runs, 1);
    assert_eq!(c.result.counts.wake_attempts, 3);
    assert_eq!(c.result.counts.wake_succeeded, 3);
    assert_eq!(c.result.selected_run_ids, ["r1", "r1", "r1"]);
    assert!(c.result.no_match_run_ids.is_empty());
    assert_eq!(s.stats().starved_runs, 1);
}

#[test]
fn fan_out_ignores_the_cooldown() {
    let rig = Rig::new();
    // Queued 100 s ago: not starved yet (2 min default).
    rig.tasks.push_pending(RunSnapshot::queued("r1", "t1").queued_at(rig.ago(secs(100))));
    sessions(&rig, &["s1", "s2"]);
    let mut s = rig.builder().wake_cooldown(mins(30)).build().unwrap();
    let c = cycle(&mut s);
    assert!(c.result.starved_run_ids.is_empty());
    assert_eq!(rig.waker.attempted_pairs(), pairs(&[("r1", "s1")]));

    // 20 s later it is starved: both sessions, though (r1, s1) is cooling.
    rig.clock.advance(secs(20));
    let c = cycle(&mut s);
    assert_eq!(c.result.starved_run_ids, ["r1"]);
    assert_eq!(c.result.counts.recently_notified_runs, 0);
    assert_eq!(rig.waker.attempted_pairs()[1..], pairs(&[("r1", "s1"), ("r1", "s2")]));

    // And every cycle after that, still ignoring the cooldown.
    rig.clock.advance(secs(1));
    let c = cycle(&mut s);
    assert_eq!(c.result.counts.wake_attempts, 2);
}

#[test]
fn fanned_out_sessions_count_as_targeted_for_later_runs() {
    let rig = Rig::new();
    rig.tasks.set_pending([
        RunSnapshot::queued("r-new", "t").queued_at(rig.ago(secs(10))),
        RunSnapshot::queued("r-old", "t").queued_at(rig.ago(mins(10))),
    ]);
    sessions(&rig, &["s1", "s2"]);
    let mut s = rig.build();
    let c = cycle(&mut s);
    assert_eq!(rig.waker.attempted_pairs(), pairs(&[("r-old", "s1"), ("r-old", "s2")]));
    assert_eq!(c.result.no_match_run_ids, ["r-new"]);
    assert_eq!(c.result.starved_run_ids, ["r-old"]);
}

#[test]
fn starved_run_fans_out_only_to_sessions_left_by_earlier_runs() {
    let rig = Rig::new();
    rig.tasks.set_pending([
        RunSnapshot::queued("r-urgent", "t").priority(Priority::Urgent).queued_at(rig.ago(secs(5))),
        RunSnapshot::queued("r-starved", "t").queued_at(rig.ago(mins(10))),
    ]);
    sessions(&rig, &["s1", "s2", "s3"]);
    let mut s = rig.build();
    cycle(&mut s);
    assert_eq!(rig.waker.attempted_pairs(), pairs(&[("r-urgent", "s1"), ("r-starved", "s2"), ("r-starved", "s3")]));
}

#[test]
fn two_starved_runs_the_first_takes_everyone() {
    let rig = Rig::new();
    rig.tasks.set_pending([
        RunSnapshot::queued("r-a", "t").queued_at(rig.ago(mins(20))),
        RunSnapshot::queued("r-b", "t").queued_at(rig.ago(mins(10))),
    ]);
    sessions(&rig, &["s1", "s2"]);
    let mut s = rig.build();
    let c = cycle(&mut s);
    assert_eq!(rig.waker.attempted_pairs(), pairs(&[("r-a", "s1"), ("r-a", "s2")]));
    assert_eq!(c.result.starved_run_ids, ["r-a", "r-b"]);
    assert_eq!(c.result.no_match_run_ids, ["r-b"]);
    assert_eq!(c.result.counts.starved_runs, 2);
}

#[test]
fn starved_without_eligible_session_is_no_match_and_starved() {
    let rig = Rig::batch();
    rig.tasks.push_pending(RunSnapshot::queued("r1", "t1").caps(["gpu"]).queued_at(rig.ago(mins(10))));
    sessions(&rig, &["s1"]);
    let mut s = rig.build();
    let c = cycle(&mut s);
    assert_eq!(c.result.no_match_run_ids, ["r1"]);
    assert_eq!(c.result.starved_run_ids, ["r1"]);
    assert_eq!(c.result.counts.no_match_runs, 1);
    assert_eq!(c.result.counts.starved_runs, 1);
    assert!(rig.waker.attempts().is_empty());
    assert!(rig.waker.batches().is_empty());
}

#[test]
fn starvation_boundary_is_inclusive() {
    let rig = Rig::new();
    rig.tasks.set_pending([
        RunSnapshot::queued("r-at", "t").queued_at(rig.ago(secs(120))),
        RunSnapshot::queued("r-under", "t").queued_at(rig.ago(secs(119))),
        RunSnapshot::queued("r-unknown", "t"),
    ]);
    sessions(&rig, &["s1"]);
    let mut s = rig.build();
    let c = cycle(&mut s);
    assert_eq!(c.result.starved_run_ids, ["r-at"]);
}

#[test]
fn unknown_queued_at_is_never_starved() {
    let rig = Rig::new();
    rig.tasks.push_pending(RunSnapshot::queued("r1", "t1"));
    sessions(&rig, &["s1", "s2"]);
    let mut s = rig.build();
    rig.clock.advance(mins(600));
    let c = cycle(&mut s);
    assert!(c.result.starved_run_ids.is_empty());
    assert_eq!(rig.waker.attempted_pairs(), pairs(&[("r1", "s1")]));
}

#[test]
fn unclaimable_run_is_never_starved() {
    let rig = Rig::new();
    rig.tasks.push_pending(RunSnapshot::queued("r1", "t1").paused().queued_at(rig.ago(mins(10))));
    sessions(&rig, &["s1"]);
    let mut s = rig.build();
    let c = cycle(&mut s);
    assert!(c.result.starved_run_ids.is_empty());
    assert_eq!(c.result.counts.unclaimable_runs, 1);
}

#[test]
fn starvation_age_zero_disables_fan_out() {
    let rig = Rig::new();
    rig.tasks.push_pending(RunSnapshot::queued("r1", "t1").queued_at(rig.ago(mins(600))));
    sessions(&rig, &["s1", "s2"]);
    let mut s = rig.builder().starvation_age(secs(0)).build().unwrap();
    let c = cycle(&mut s);
    assert!(c.result.starved_run_ids.is_empty());
    assert_eq!(c.result.counts.starved_runs, 0);
    assert_eq!(rig.waker.attempted_pairs(), pairs(&[("r1", "s1")]));
    // The cooldown applies again, as for any non-starved run.
    let c = cycle(&mut s);
    assert_eq!(c.result.counts.recently_notified_runs, 0);
    assert_eq!(rig.waker.attempted_pairs()[1..], pairs(&[("r1", "s2")]));
}

#[test]
fn custom_starvation_age_is_used() {
    let rig = Rig::new();
    rig.tasks.set_pending([
        RunSnapshot::queued("r-31", "t").queued_at(rig.ago(secs(31))),
        RunSnapshot::queued("r-29", "t").queued_at(rig.ago(secs(29))),
    ]);
    sessions(&rig, &["s1"]);
    let mut s = rig.builder().starvation_age(secs(30)).build().unwrap();
    assert_eq!(cycle(&mut s).result.starved_run_ids, ids(&["r-31"]));

    let mut s = rig
        .builder()
        .starvation_thresholds(Thresholds { min_queued_age: secs(20), ..Thresholds::DEFAULT })
        .build()
        .unwrap();
    assert_eq!(cycle(&mut s).result.starved_run_ids, ids(&["r-31", "r-29"]));
}
