//! Leader election: one leader at a time, terms that grow, fenced budgets, cycling
//! only while leading.

mod common;

use std::time::Duration;

use common::TestSchema;
use scheduler_core::Scheduler;
use scheduler_postgres::{Elector, Leadership, PgWaker, spawn_as_leader};
use scheduler_testkit::escalation::RecordingActor;
use scheduler_tokio::TokioClock;
use tokio::sync::oneshot;

const LEASE: Duration = Duration::from_millis(600);
/// What a real-time bound in these tests allows beyond the rule itself: the polling
/// below (25 ms) and a task's wake-up on a loaded two-core machine. A leader that did
/// not step down by its own deadline would hold on for at least another renewal period
/// (`LEASE / 3`), past this allowance.
const OBSERVED_WITHIN: Duration = Duration::from_millis(150);

/// Waits (bounded) until `check` holds.
async fn eventually(what: &str, mut check: impl FnMut() -> bool) {
    for _ in 0..400 {
        if check() {
            return;
        }
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
    panic!("timed out waiting for {what}");
}

#[tokio::test]
async fn one_leader_among_candidates_and_terms_grow() {
    let schema = TestSchema::new();
    let mut electors = Vec::new();
    for i in 0..3 {
        electors.push(Elector::new(&schema.store(&format!("d{i}")).await, LEASE));
    }
    let follower = Elector::never_lead(&schema.store("observer").await);
    assert_eq!(follower.try_acquire().await.unwrap(), None);
    let mut stops = Vec::new();
    for e in electors.iter().chain([&follower]) {
        let (stop, stopped) = oneshot::channel::<()>();
        let e = e.clone();
        tokio::spawn(async move {
            e.campaign(async {
                let _ = stopped.await;
            })
            .await
        });
        stops.push(Some(stop));
    }
    let leaders = || electors.iter().filter(|e| e.leadership().is_leader()).count();
    eventually("a leader", || leaders() == 1).await;
    let first = electors.iter().position(|e| e.leadership().is_leader()).unwrap();
    let Leadership::Leader { epoch } = electors[first].leadership() else { unreachable!() };
    for _ in 0..8 {
        tokio::time::sleep(LEASE / 4).await;
        assert_eq!(leaders(), 1, "never two leaders, nor none while the leader is healthy");
        assert!(!follower.leadership().is_leader());
    }
    // The leader steps down (it resigns on shutdown): another takes over with a new term.
    stops[first].take().unwrap().send(()).unwrap();
    eventually("a new leader", || electors.iter().enumerate().any(|(i, e)| i != first && e.leadership().is_leader()))
        .await;
    let row = follower.current().await.unwrap().unwrap();
    assert!(row.epoch > epoch && row.live && row.holder != format!("d{first}"), "{row:?}");
    assert!(!electors[first].leadership().is_leader());
}

#[tokio::test]
async fn the_loop_cycles_only_while_leading() {
    let schema = TestSchema::new();
    let mut daemons = Vec::new();
    for name in ["a", "b"] {
        let store = schema.store(name).await;
        let elector = Elector::new(&store, LEASE);
        let scheduler = Scheduler::builder(store.tasks(), store.sessions(), PgWaker::new(&store))
            .clock(TokioClock::new())
            .interval(Duration::from_millis(50))
            .starvation_store(elector.budgets())
            .escalation_actor(RecordingActor::new())
            .build()
            .unwrap();
        let stats = scheduler.stats_handle();
        let (stop_campaign, campaign_stopped) = oneshot::channel::<()>();
        let e = elector.clone();
        tokio::spawn(async move {
            e.campaign(async {
                let _ = campaign_stopped.await;
            })
            .await
        });
        let lead = spawn_as_leader(scheduler, elector.clone(), std::future::pending());
        daemons.push((elector, stats, Some(stop_campaign), lead));
    }
    eventually("a leader", || daemons.iter().any(|d| d.0.leadership().is_leader())).await;
    let leader = daemons.iter().position(|d| d.0.leadership().is_leader()).unwrap();
    let other = 1 - leader;
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert!(daemons[leader].1.snapshot().cycles > 0);
    assert_eq!(daemons[other].1.snapshot().cycles, 0, "a follower never cycles");
    daemons[leader].2.take().unwrap().send(()).unwrap();
    eventually("the other to lead", || daemons[other].0.leadership().is_leader()).await;
    eventually("the other to cycle", || daemons[other].1.snapshot().cycles > 0).await;
    let stopped_at = daemons[leader].1.snapshot().cycles;
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert_eq!(daemons[leader].1.snapshot().cycles, stopped_at, "the deposed leader stopped cycling");
    for d in &daemons {
        d.3.abort();
    }
}

#[tokio::test]
async fn a_leader_whose_term_is_taken_stops_cycling_within_a_lease() {
    let schema = TestSchema::new();
    let store = schema.store("a").await;
    let elector = Elector::new(&store, LEASE);
    let scheduler = Scheduler::builder(store.tasks(), store.sessions(), PgWaker::new(&store))
        .clock(TokioClock::new())
        .interval(Duration::from_millis(50))
        .build()
        .unwrap();
    let stats = scheduler.stats_handle();
    let campaign = tokio::spawn({
        let e = elector.clone();
        async move { e.campaign(std::future::pending()).await }
    });
    let lead = spawn_as_leader(scheduler, elector.clone(), std::future::pending());
    eventually("cycles", || stats.snapshot().cycles > 0).await;
    // Another daemon takes the term (as after a partition that this one did not notice).
    let (client, connection) = tokio_postgres::connect(&common::url(), tokio_postgres::NoTls).await.unwrap();
    tokio::spawn(connection);
    let sql = format!(
        "UPDATE {}.leader SET holder = 'usurper', epoch = epoch + 1, expires_at = clock_timestamp() + interval '1 hour'",
        schema.name
    );
    client.batch_execute(&sql).await.unwrap();
    let taken = std::time::Instant::now();
    eventually("the leader to step down", || !elector.leadership().is_leader()).await;
    assert!(taken.elapsed() <= LEASE + OBSERVED_WITHIN, "stepped down after {:?}", taken.elapsed());
    tokio::time::sleep(elector.renew_every() + Duration::from_millis(100)).await;
    let stopped_at = stats.snapshot().cycles;
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert_eq!(stats.snapshot().cycles, stopped_at, "no cycle after stepping down");
    let refused = scheduler_core::seam::StarvationStore::load(&elector.budgets(), "x").await.unwrap_err();
    assert!(matches!(refused, scheduler_postgres::Error::Deposed { .. }), "{refused}");
    campaign.abort();
    lead.abort();
}

#[tokio::test]
async fn a_leader_cut_off_from_the_database_steps_down_within_a_lease() {
    let schema = TestSchema::new();
    let store = schema.store("a").await;
    let elector = Elector::new(&store, LEASE);
    let campaign = tokio::spawn({
        let e = elector.clone();
        async move { e.campaign(std::future::pending()).await }
    });
    eventually("leadership", || elector.leadership().is_leader()).await;
    store.close(); // every renewal fails from now on
    let cut = std::time::Instant::now();
    eventually("the leader to step down", || !elector.leadership().is_leader()).await;
    assert!(cut.elapsed() <= LEASE + OBSERVED_WITHIN, "stepped down after {:?}", cut.elapsed());
    assert!(elector.last_error().is_some(), "the failed renewals are reported");
    campaign.abort();
}

#[tokio::test]
async fn a_restarted_daemon_takes_its_own_lease_back_under_a_new_term() {
    let schema = TestSchema::new();
    let before = Elector::new(&schema.store("a").await, Duration::from_secs(60));
    let old = before.try_acquire().await.unwrap().expect("a free lease");
    let other = Elector::new(&schema.store("b").await, Duration::from_secs(60));
    assert_eq!(other.try_acquire().await.unwrap(), None, "another daemon waits for expiry");
    // The same daemon, restarted: no need to wait a whole lease.
    let after = Elector::new(&schema.store("a").await, Duration::from_secs(60));
    let new = after.try_acquire().await.unwrap().expect("its own lease");
    assert!(new > old);
    let stale = scheduler_core::seam::StarvationStore::clear(&before.budgets(), "r").await.unwrap_err();
    assert!(matches!(stale, scheduler_postgres::Error::Deposed { epoch: Some(e), .. } if e == old), "{stale}");
    scheduler_core::seam::StarvationStore::clear(&after.budgets(), "r").await.unwrap();
}
