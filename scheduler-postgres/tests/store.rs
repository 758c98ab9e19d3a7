//! Every trait method of the store's handles, against the real server.

mod common;

use std::collections::HashSet;
use std::time::Duration;

use common::{TestSchema, t};
use scheduler_core::ladder::{Budget, Tier};
use scheduler_core::lease::{
    ClaimRequest, ClaimToken, ErrorKind, LeaseService, PauseControl, RecoveredDetails, RunSpec, ServiceError,
    SessionRegistry, SessionSpec, TaskSpec,
};
use scheduler_core::model::{Priority, RunStatus, SessionState, TaskStatus};
use scheduler_core::seam::{PauseStore, Recovery, SessionSource, StarvationStore, TaskSource};
use scheduler_core::view::{RecoveredView, RunView, SessionView};
use scheduler_postgres::{Error, Store};

const LEASE: Duration = Duration::from_secs(60);

fn sweep(now: std::time::SystemTime, limit: u32) -> Recovery<'static> {
    Recovery { now, reason: "scheduler_sweep", limit, actor: "scheduler" }
}

async fn enqueue(store: &Store, task: TaskSpec, run: &str, at: u64) {
    store.tasks().enqueue(&task, &RunSpec::new(run), t(at)).await.unwrap();
}

#[tokio::test]
async fn a_lease_lives_from_claim_to_completion() {
    let schema = TestSchema::new();
    let store = schema.store("d1").await;
    let tasks = store.tasks();
    tasks.enqueue(&TaskSpec::new("task-1"), &RunSpec::new("run-1").caps(["rust"]), t(0)).await.unwrap();
    let none = tasks.claim(&ClaimRequest::session("s-go").caps(["go"]), LEASE, t(1)).await.unwrap();
    assert!(none.is_none());
    let lease = tasks.claim(&ClaimRequest::session("s-rust").caps(["rust", "go"]), LEASE, t(1)).await.unwrap().unwrap();
    assert_eq!((lease.run_id.as_str(), lease.lease_until), ("run-1", t(1) + LEASE));
    let record = tasks.record("run-1").await.unwrap().unwrap();
    assert_eq!((record.status, record.session_id.as_deref()), (RunStatus::Claimed, Some("s-rust")));
    assert_eq!((record.lease_until, record.queued_at), (Some(t(1) + LEASE), Some(t(0))), "millisecond precision");
    tasks.start("run-1", &lease.token, t(2)).await.unwrap();
    assert_eq!(tasks.heartbeat("run-1", &lease.token, LEASE, t(3)).await.unwrap(), t(3) + LEASE);
    let mut active = Vec::new();
    tasks.active_runs(&mut active).await.unwrap();
    assert_eq!(active.len(), 1);
    assert_eq!((active[0].session_id.as_str(), active[0].status), ("s-rust", RunStatus::Running));
    tasks.complete("run-1", &lease.token, t(4)).await.unwrap();
    assert_eq!(tasks.run_status("run-1").await.unwrap(), Some(RunStatus::Completed));
    let stale = tasks.release("run-1", &lease.token, t(5)).await.unwrap_err();
    assert_eq!(stale.kind(), ErrorKind::TokenRejected);
    assert!(!stale.to_string().contains(lease.token.expose_secret()));
    assert!(!format!("{stale:?}").contains(lease.token.expose_secret()));
}

#[tokio::test]
async fn fenced_calls_refuse_wrong_tokens_and_change_nothing() {
    let schema = TestSchema::new();
    let tasks = schema.store("d1").await.tasks();
    tasks.enqueue(&TaskSpec::new("t"), &RunSpec::new("r"), t(0)).await.unwrap();
    let lease = tasks.claim(&ClaimRequest::session("s"), LEASE, t(0)).await.unwrap().unwrap();
    let secret = lease.token.expose_secret();
    for wrong in [secret.to_uppercase(), format!("{secret} "), secret[..secret.len() - 1].to_owned(), "x\0y".into()] {
        let wrong = ClaimToken::new(wrong);
        assert_eq!(tasks.start("r", &wrong, t(1)).await.unwrap_err().kind(), ErrorKind::TokenRejected);
        assert_eq!(tasks.heartbeat("r", &wrong, LEASE, t(1)).await.unwrap_err().kind(), ErrorKind::TokenRejected);
        assert_eq!(tasks.complete("r", &wrong, t(1)).await.unwrap_err().kind(), ErrorKind::TokenRejected);
        assert_eq!(tasks.fail("r", &wrong, "no", t(1)).await.unwrap_err().kind(), ErrorKind::TokenRejected);
        assert_eq!(tasks.release("r", &wrong, t(1)).await.unwrap_err().kind(), ErrorKind::TokenRejected);
    }
    let record = tasks.record("r").await.unwrap().unwrap();
    assert_eq!((record.status, record.lease_until), (RunStatus::Claimed, Some(t(0) + LEASE)));
    assert_eq!(tasks.start("nope", &lease.token, t(1)).await.unwrap_err().kind(), ErrorKind::UnknownRun);
    tasks.start("r", &lease.token, t(1)).await.unwrap();
    let again = tasks.start("r", &lease.token, t(1)).await.unwrap_err();
    assert_eq!(again.kind(), ErrorKind::InvalidTransition, "{again}");
    tasks.fail("r", &lease.token, "boom", t(2)).await.unwrap();
    assert_eq!(tasks.failure_reason("r").await.unwrap().as_deref(), Some("boom"));
    let record = tasks.record("r").await.unwrap().unwrap();
    assert_eq!((record.status, record.session_id, record.lease_until), (RunStatus::Failed, None, None));
}

#[tokio::test]
async fn release_keeps_the_place_in_line() {
    let schema = TestSchema::new();
    let store = schema.store("d1").await;
    let tasks = store.tasks();
    enqueue(&store, TaskSpec::new("t"), "r-old", 0).await;
    enqueue(&store, TaskSpec::new("t"), "r-new", 10).await;
    let lease = tasks.claim(&ClaimRequest::session("s"), LEASE, t(20)).await.unwrap().unwrap();
    assert_eq!(lease.run_id, "r-old");
    tasks.release("r-old", &lease.token, t(21)).await.unwrap();
    assert_eq!(tasks.record("r-old").await.unwrap().unwrap().queued_at, Some(t(0)));
    let again = tasks.claim(&ClaimRequest::session("s2"), LEASE, t(22)).await.unwrap().unwrap();
    assert_eq!(again.run_id, "r-old");
}

#[tokio::test]
async fn claims_follow_the_schedulers_eligibility_and_order() {
    let schema = TestSchema::new();
    let store = schema.store("d1").await;
    let tasks = store.tasks();
    let high = TaskSpec::new("t-high").priority(Priority::High);
    tasks.enqueue(&TaskSpec::new("t-low").priority(Priority::Low), &RunSpec::new("low"), t(0)).await.unwrap();
    tasks.enqueue(&TaskSpec::new("t-unk").priority(Priority::Unknown), &RunSpec::new("unknown-b"), t(5)).await.unwrap();
    tasks.enqueue(&TaskSpec::new("t-med"), &RunSpec::new("medium-a"), t(5)).await.unwrap();
    tasks.enqueue(&high, &RunSpec::new("high-late"), t(9)).await.unwrap();
    tasks.enqueue(&high, &RunSpec::new("high-early"), t(8)).await.unwrap();
    tasks
        .enqueue(&TaskSpec::new("t-urgent").priority(Priority::Urgent).paused(true), &RunSpec::new("paused"), t(0))
        .await
        .unwrap();
    tasks
        .enqueue(
            &TaskSpec::new("t-draft").priority(Priority::Urgent).status(TaskStatus::Draft),
            &RunSpec::new("draft"),
            t(0),
        )
        .await
        .unwrap();
    let mut order = Vec::new();
    for i in 0..6 {
        let lease = tasks.claim(&ClaimRequest::session(format!("s{i}")), LEASE, t(10)).await.unwrap();
        order.push(lease.map(|l| l.run_id));
    }
    let order: Vec<_> = order.iter().map(|r| r.as_deref()).collect();
    assert_eq!(order, [Some("high-early"), Some("high-late"), Some("medium-a"), Some("unknown-b"), Some("low"), None]);
}

#[tokio::test]
async fn scope_channel_owner_and_capabilities_are_matched_in_sql() {
    let schema = TestSchema::new();
    let tasks = schema.store("d1").await.tasks();
    let run = |id: &str| RunSpec::new(id);
    tasks.enqueue(&TaskSpec::new("t1").workspace("ws-1"), &run("in-ws1"), t(0)).await.unwrap();
    tasks.enqueue(&TaskSpec::new("t2"), &run("on-ch").channel("ch-1"), t(0)).await.unwrap();
    tasks.enqueue(&TaskSpec::new("t3").pool_owner("coder"), &run("coders"), t(0)).await.unwrap();
    tasks.enqueue(&TaskSpec::new("t4").session_owner("s-me"), &run("mine"), t(0)).await.unwrap();
    tasks.enqueue(&TaskSpec::new("t5").pool_owner(" "), &run("empty-owner"), t(0)).await.unwrap();
    tasks.enqueue(&TaskSpec::new("t6"), &run("caps").caps(["rust", " ", "go"]), t(0)).await.unwrap();
    let claim = |r: ClaimRequest| {
        let tasks = tasks.clone();
        async move { tasks.claim(&r, LEASE, t(1)).await.unwrap().map(|l| l.run_id) }
    };
    assert_eq!(claim(ClaimRequest::session("a").workspace("ws-2").channel("ch-1").caps(["rust", "go"])).await, None);
    assert_eq!(claim(ClaimRequest::session("b").workspace("ws-1")).await.as_deref(), Some("in-ws1"));
    assert_eq!(claim(ClaimRequest::session("c").caps(["rust"])).await, None);
    assert_eq!(claim(ClaimRequest::session("c").channel("ch-1")).await.as_deref(), Some("on-ch"));
    assert_eq!(claim(ClaimRequest::session("d").agent("coder")).await.as_deref(), Some("coders"));
    assert_eq!(claim(ClaimRequest::session("s-me")).await.as_deref(), Some("mine"));
    assert_eq!(claim(ClaimRequest::session("e").caps([" rust ", "go"])).await.as_deref(), Some("caps"));
    assert_eq!(claim(ClaimRequest::session("f").agent(" ")).await, None, "an empty owner ref matches nothing");
}

#[tokio::test]
async fn one_lease_per_session_even_across_independent_pools() {
    let schema = TestSchema::new();
    let (a, b) = (schema.store("d1").await, schema.store("d2").await);
    for i in 0..40 {
        enqueue(&a, TaskSpec::new("t"), &format!("r{i:02}"), i).await;
    }
    let first = a.tasks().claim(&ClaimRequest::session("s"), LEASE, t(100)).await.unwrap().unwrap();
    let busy = b.tasks().claim(&ClaimRequest::session("s"), LEASE, t(100)).await.unwrap_err();
    assert_eq!(busy.kind(), ErrorKind::SessionBusy);
    a.tasks().complete(&first.run_id, &first.token, t(101)).await.unwrap();
    // Many concurrent claims by one session on two pools: exactly one wins.
    let mut joins = Vec::new();
    for i in 0..16 {
        let tasks = if i % 2 == 0 { a.tasks() } else { b.tasks() };
        joins.push(tokio::spawn(async move { tasks.claim(&ClaimRequest::session("s2"), LEASE, t(102)).await }));
    }
    let mut won = 0;
    for j in joins {
        match j.await.unwrap() {
            Ok(Some(_)) => won += 1,
            Ok(None) => panic!("runs were claimable"),
            Err(e) => assert_eq!(e.kind(), ErrorKind::SessionBusy, "{e}"),
        }
    }
    assert_eq!(won, 1);
}

#[tokio::test]
async fn concurrent_claimers_never_win_one_run_twice() {
    let schema = TestSchema::new();
    let (a, b) = (schema.store("d1").await, schema.store("d2").await);
    for i in 0..30 {
        enqueue(&a, TaskSpec::new("t"), &format!("r{i:02}"), i).await;
    }
    let mut joins = Vec::new();
    for i in 0..40 {
        let tasks = if i % 2 == 0 { a.tasks() } else { b.tasks() };
        joins.push(tokio::spawn(
            async move { tasks.claim(&ClaimRequest::session(format!("s{i}")), LEASE, t(50)).await },
        ));
    }
    let mut runs = HashSet::new();
    for j in joins {
        if let Some(lease) = j.await.unwrap().unwrap() {
            assert!(runs.insert(lease.run_id.clone()), "{} won twice", lease.run_id);
        }
    }
    assert_eq!(runs.len(), 30);
}

#[tokio::test]
async fn the_sweep_recovers_each_expired_lease_once() {
    let schema = TestSchema::new();
    let (a, b) = (schema.store("d1").await, schema.store("d2").await);
    let tasks = a.tasks();
    let mut leases = Vec::new();
    for i in 0..5u64 {
        enqueue(&a, TaskSpec::new("t"), &format!("r{i}"), i).await;
        let lease = Duration::from_secs(10 + i);
        leases.push(tasks.claim(&ClaimRequest::session(format!("s{i}")), lease, t(100)).await.unwrap().unwrap());
    }
    tasks.start("r4", &leases[4].token, t(101)).await.unwrap();
    let mut out = Vec::new();
    tasks.recover_expired_leases(sweep(t(100) + Duration::from_secs(9), 0), &mut out).await.unwrap();
    assert!(out.is_empty());
    tasks.recover_expired_leases(sweep(t(100) + Duration::from_secs(11), 1), &mut out).await.unwrap();
    assert_eq!(out.iter().map(|r| r.run_id()).collect::<Vec<_>>(), ["r0"], "oldest lease first, limit 1");
    let r0 = &out[0];
    assert_eq!(
        (r0.previous_session_id(), r0.previous_status(), r0.status()),
        ("s0", RunStatus::Claimed, RunStatus::Queued)
    );
    assert_eq!(
        (r0.previous_lease_until(), r0.reason(), r0.actor()),
        (t(100) + Duration::from_secs(10), "scheduler_sweep", "scheduler")
    );
    assert_eq!(tasks.complete("r0", &leases[0].token, t(200)).await.unwrap_err().kind(), ErrorKind::TokenRejected);
    // Two sweeps at once on two pools recover the rest exactly once.
    let late = t(100) + Duration::from_secs(60);
    let (ta, tb) = (a.tasks(), b.tasks());
    let (x, y) = tokio::join!(
        async move {
            let mut v = Vec::new();
            ta.recover_expired_leases(sweep(late, 0), &mut v).await.map(|()| v)
        },
        async move {
            let mut v = Vec::new();
            tb.recover_expired_leases(sweep(late, 0), &mut v).await.map(|()| v)
        }
    );
    let mut ids: Vec<String> = x.unwrap().into_iter().chain(y.unwrap()).map(|r| r.run_id).collect();
    ids.sort();
    assert_eq!(ids, ["r1", "r2", "r3", "r4"]);
    assert_eq!(tasks.record("r4").await.unwrap().unwrap().queued_at, Some(t(4)));
    let mut pending = Vec::new();
    tasks.pending_runs(&mut pending).await.unwrap();
    assert_eq!(pending.len(), 5);
}

#[tokio::test]
async fn needs_attention_only_from_queued() {
    let schema = TestSchema::new();
    let tasks = schema.store("d1").await.tasks();
    tasks.enqueue(&TaskSpec::new("t"), &RunSpec::new("q"), t(0)).await.unwrap();
    tasks.enqueue(&TaskSpec::new("t"), &RunSpec::new("c"), t(1)).await.unwrap();
    tasks.mark_needs_attention("q", "queued too long", t(2)).await.unwrap();
    assert_eq!(tasks.diagnostic("q").await.unwrap().as_deref(), Some("queued too long"));
    let err = tasks.mark_needs_attention("q", "again", t(3)).await.unwrap_err();
    assert_eq!(err.kind(), ErrorKind::InvalidTransition);
    tasks.claim(&ClaimRequest::session("s"), LEASE, t(3)).await.unwrap().unwrap();
    assert_eq!(tasks.mark_needs_attention("c", "x", t(4)).await.unwrap_err().kind(), ErrorKind::InvalidTransition);
    assert_eq!(tasks.mark_needs_attention("zz", "x", t(4)).await.unwrap_err().kind(), ErrorKind::UnknownRun);
    let mut out = Vec::new();
    tasks.run_statuses(["c", "nope", "q", " c "].into_iter(), &mut out).await.unwrap();
    let statuses: Vec<_> = out.into_iter().map(Result::unwrap).collect();
    assert_eq!(statuses, [Some(RunStatus::Claimed), None, Some(RunStatus::NeedsAttention), Some(RunStatus::Claimed)]);
}

#[tokio::test]
async fn duplicate_runs_change_nothing_and_task_updates_reach_every_run() {
    let schema = TestSchema::new();
    let tasks = schema.store("d1").await.tasks();
    tasks.enqueue(&TaskSpec::new("t"), &RunSpec::new("r1"), t(0)).await.unwrap();
    let dup =
        tasks.enqueue(&TaskSpec::new("t").priority(Priority::Urgent), &RunSpec::new("r1"), t(1)).await.unwrap_err();
    assert_eq!(dup.kind(), ErrorKind::DuplicateRun);
    assert_eq!(tasks.snapshot("r1").await.unwrap().unwrap().priority, Priority::Medium, "the task is unchanged");
    tasks
        .enqueue(&TaskSpec::new("t").priority(Priority::High).workspace("ws"), &RunSpec::new("r2"), t(2))
        .await
        .unwrap();
    let r1 = tasks.snapshot("r1").await.unwrap().unwrap();
    assert_eq!((r1.priority, r1.workspace_id.as_str()), (Priority::High, "ws"));
    let global = tasks.claim(&ClaimRequest::session("global"), LEASE, t(2)).await.unwrap();
    assert!(global.is_none(), "the re-described scope reaches the claim of an older run");
    tasks.update_task(&TaskSpec::new("t").paused(true), t(3)).await.unwrap();
    let mut pending = Vec::new();
    tasks.pending_runs(&mut pending).await.unwrap();
    assert!(pending.iter().all(|r| r.task_paused() && r.workspace_id().is_empty()));
    let unknown = tasks.update_task(&TaskSpec::new("nope"), t(3)).await.unwrap_err();
    assert_eq!(unknown.kind(), ErrorKind::UnknownTask);
    for bad in [TaskSpec::new(" "), TaskSpec::new("t")] {
        let run = if bad.task_id == "t" { RunSpec::new("") } else { RunSpec::new("r9") };
        assert_eq!(tasks.enqueue(&bad, &run, t(4)).await.unwrap_err().kind(), ErrorKind::InvalidInput);
    }
}

#[tokio::test]
async fn the_pause_refuses_claims_and_keeps_who_when_why() {
    let schema = TestSchema::new();
    let store = schema.store("d1").await;
    let (pause, tasks) = (store.pause(), store.tasks());
    tasks.enqueue(&TaskSpec::new("t"), &RunSpec::new("r"), t(0)).await.unwrap();
    assert!(!pause.is_paused().await.unwrap());
    pause.pause("ops", t(1), "deploy").await.unwrap();
    pause.pause("ops-2", t(2), "deploy; again 'quoted'").await.unwrap();
    assert!(pause.is_paused().await.unwrap());
    let state = pause.pause_state().await.unwrap().unwrap();
    assert_eq!(
        (state.paused_by.as_str(), state.paused_at, state.reason.as_str()),
        ("ops-2", t(2), "deploy; again 'quoted'")
    );
    assert_eq!(tasks.claim(&ClaimRequest::session("s"), LEASE, t(3)).await.unwrap_err().kind(), ErrorKind::Paused);
    pause.resume().await.unwrap();
    pause.resume().await.unwrap();
    assert!(pause.pause_state().await.unwrap().is_none());
    assert!(tasks.claim(&ClaimRequest::session("s"), LEASE, t(3)).await.unwrap().is_some());
}

#[tokio::test]
async fn the_registry_tags_sessions_with_their_daemon() {
    let schema = TestSchema::new();
    let (a, b) = (schema.store("daemon-a").await, schema.store("daemon-b").await);
    let spec = SessionSpec::active("s1").agent("coder").workspace("ws").channel("ch").caps(["rust"]).created_at(t(5));
    a.sessions().register(&spec, t(10)).await.unwrap();
    b.sessions().register(&SessionSpec::active("s2"), t(10)).await.unwrap();
    assert_eq!(b.sessions().register(&spec, t(11)).await.unwrap_err().kind(), ErrorKind::DuplicateSession);
    let sessions = b.sessions();
    assert_eq!(sessions.session("s1").await.unwrap().unwrap(), spec);
    sessions.set_state("s1", SessionState::Inactive, t(20)).await.unwrap();
    sessions.set_prompting("s1", true, t(20)).await.unwrap();
    sessions.set_capabilities("s1", &["go".into(), " ".into()], t(20)).await.unwrap();
    sessions.touch("s2", t(30)).await.unwrap();
    let mut all = Vec::new();
    sessions.sessions(&mut all).await.unwrap();
    all.sort_by(|x, y| x.session_id().cmp(y.session_id()));
    assert_eq!((all[0].daemon_id.as_str(), all[1].daemon_id.as_str()), ("daemon-a", "daemon-b"));
    assert_eq!((all[0].state(), all[0].prompting()), (SessionState::Inactive, true));
    assert_eq!(all[0].capabilities().collect::<Vec<_>>(), ["go"]);
    assert_eq!(sessions.hosted_by("daemon-a").await.unwrap().len(), 1);
    assert_eq!(sessions.mark_stale(t(25), t(40)).await.unwrap(), 1, "s1 was last seen at 20");
    assert_eq!(sessions.session("s1").await.unwrap().unwrap().state, SessionState::Stopped);
    sessions.remove("s1").await.unwrap();
    assert_eq!(sessions.remove("s1").await.unwrap_err().kind(), ErrorKind::UnknownSession);
    assert_eq!(sessions.touch("s1", t(50)).await.unwrap_err().kind(), ErrorKind::UnknownSession);
    assert_eq!(
        sessions.set_state("zz", SessionState::Active, t(50)).await.unwrap_err().kind(),
        ErrorKind::UnknownSession
    );
    assert!(sessions.session("s1").await.unwrap().is_none());
}

fn budget(count: u32, at: u64) -> Budget {
    Budget {
        wake_count: count,
        tier: Tier::Spawn,
        first_starved_at: t(0),
        last_wake_at: t(at),
        updated_at: t(at),
        spawn_requested_at: Some(t(at)),
        starved_event_at: None,
    }
}

#[tokio::test]
async fn budgets_list_in_pages_by_run_id() {
    let schema = TestSchema::new();
    let budgets = schema.store("d1").await.budgets();
    let b = budget(3, 5);
    let mut done = Vec::new();
    let rows = [("r3", &b), ("r1", &b), ("r5", &b), ("r2", &b), ("r4", &b)];
    budgets.upsert_many(rows.into_iter(), &mut done).await.unwrap();
    let (mut walked, mut after) = (Vec::new(), None::<String>);
    loop {
        let mut page = Vec::new();
        budgets.list_page(after.as_deref(), 2, &mut page).await.unwrap();
        assert!(page.len() <= 2);
        walked.extend(page.iter().map(|(k, _)| k.clone()));
        if page.len() < 2 {
            break;
        }
        after = page.pop().map(|(k, _)| k);
    }
    assert_eq!(walked, ["r1", "r2", "r3", "r4", "r5"]);
    let mut page = Vec::new();
    budgets.list_page(Some("r4"), 10, &mut page).await.unwrap();
    assert_eq!(page, [("r5".to_owned(), b)]);
}

#[tokio::test]
async fn budgets_round_trip_one_by_one_and_in_batches() {
    let schema = TestSchema::new();
    let budgets = schema.store("d1").await.budgets();
    assert!(!budgets.is_fenced());
    assert_eq!(budgets.load("r1").await.unwrap(), None);
    budgets.upsert("r1", &budget(4, 7)).await.unwrap();
    assert_eq!(budgets.load("r1").await.unwrap(), Some(budget(4, 7)));
    let (b5, b6, b9) = (budget(5, 8), budget(6, 9), budget(9, 9));
    let mut written = Vec::new();
    budgets.upsert_many([("r1", &b5), ("r2", &b6), ("r2", &b9)].into_iter(), &mut written).await.unwrap();
    assert_eq!(written.len(), 3);
    let mut loaded = Vec::new();
    budgets.load_many(["r2", "nope", "r1"].into_iter(), &mut loaded).await.unwrap();
    let loaded: Vec<_> = loaded.into_iter().map(Result::unwrap).collect();
    assert_eq!(loaded, [Some(b9), None, Some(b5)], "the last row of a run id wins");
    let mut listed = Vec::new();
    budgets.list(&mut listed).await.unwrap();
    assert_eq!(listed, [("r1".to_owned(), b5), ("r2".to_owned(), b9)]);
    budgets.clear("nope").await.unwrap();
    let mut cleared = Vec::new();
    budgets.clear_many(["r1", "r2"].into_iter(), &mut cleared).await.unwrap();
    assert_eq!(cleared.len(), 2);
    listed.clear();
    budgets.list(&mut listed).await.unwrap();
    assert!(listed.is_empty());
}

#[tokio::test]
async fn hostile_text_round_trips_or_is_refused_clearly() {
    let schema = TestSchema::new();
    let store = schema.store("d1").await;
    let tasks = store.tasks();
    let megabyte: String = format!("{}end", "ab'\";--\\ ".repeat(1 << 17));
    let nasty_id = "r'); DROP TABLE runs; --\"\u{1F600}";
    let caps = vec!["cap'; DELETE FROM runs; --".to_owned(), megabyte.clone()];
    let task = TaskSpec::new("t'\"").workspace("ws'; --");
    let run = RunSpec::new(nasty_id).channel("ch\"'").caps(caps.clone());
    tasks.enqueue(&task, &run, t(0)).await.unwrap();
    let snapshot = tasks.snapshot(nasty_id).await.unwrap().unwrap();
    assert_eq!((snapshot.run_id.as_str(), snapshot.task_id.as_str()), (nasty_id, "t'\""));
    assert!(snapshot.required_capabilities == caps, "capabilities round-trip exactly");
    let request = ClaimRequest::session("s'\"").workspace("ws'; --").channel("ch\"'").caps(caps.clone());
    let lease = tasks.claim(&request, LEASE, t(1)).await.unwrap().unwrap();
    assert_eq!(lease.run_id, nasty_id);
    tasks.fail(nasty_id, &lease.token, &megabyte, t(2)).await.unwrap();
    assert!(tasks.failure_reason(nasty_id).await.unwrap().as_deref() == Some(megabyte.as_str()), "reason round-trips");
    let spec = SessionSpec::active("s;'").caps([megabyte.clone()]).session_type(megabyte.clone());
    store.sessions().register(&spec, t(3)).await.unwrap();
    assert!(store.sessions().session("s;'").await.unwrap().unwrap() == spec, "session round-trips");
    store.budgets().upsert(nasty_id, &budget(2, 2)).await.unwrap();
    assert_eq!(store.budgets().load(nasty_id).await.unwrap(), Some(budget(2, 2)));
    // Refused, naming the field: NUL bytes anywhere, over-long ids.
    let refusals: Vec<(Error, &str)> = vec![
        (tasks.enqueue(&TaskSpec::new("t"), &RunSpec::new("a\0b"), t(4)).await.unwrap_err(), "run_id"),
        (
            tasks.enqueue(&TaskSpec::new("t"), &RunSpec::new("ok").caps(["x\0"]), t(4)).await.unwrap_err(),
            "required_capabilities",
        ),
        (
            tasks.enqueue(&TaskSpec::new("t").workspace("w\0"), &RunSpec::new("ok"), t(4)).await.unwrap_err(),
            "workspace_id",
        ),
        (tasks.enqueue(&TaskSpec::new("t"), &RunSpec::new(megabyte.clone()), t(4)).await.unwrap_err(), "run_id"),
        (tasks.claim(&ClaimRequest::session("s\0"), LEASE, t(4)).await.unwrap_err(), "session_id"),
        (tasks.mark_needs_attention(nasty_id, "d\0", t(4)).await.unwrap_err(), "diagnostic"),
        (store.sessions().register(&SessionSpec::active("x").agent("a\0"), t(4)).await.unwrap_err(), "agent_name"),
        (store.pause().pause("ops\0", t(4), "r").await.unwrap_err(), "paused_by"),
    ];
    for (error, field) in refusals {
        assert_eq!(error.kind(), ErrorKind::InvalidInput, "{error}");
        assert!(error.to_string().contains(field), "{error} should name {field}");
    }
    assert_eq!(tasks.run_status("a\0b").await.unwrap(), None);
    assert!(tasks.snapshot("ok").await.unwrap().is_none(), "nothing of a refused enqueue was stored");
}
