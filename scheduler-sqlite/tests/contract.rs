//! The task-service contract, rule by rule, on every kind of store.

mod common;

use std::collections::HashSet;
use std::time::Duration;

use common::{LEASE, run, stores, t};
use scheduler_core::ladder::{Budget, Tier};
use scheduler_core::lease::{
    ClaimRequest, ClaimToken, ErrorKind, LeaseService, PauseControl, RecoveredDetails, RunSpec, ServiceError,
    SessionRegistry, SessionSpec, TaskSpec,
};
use scheduler_core::model::{OwnerRef, Priority, RunStatus, Scope, SessionState, TaskStatus};
use scheduler_core::seam::{PauseStore, Recovery, SessionSource, StarvationStore, TaskSource};
use scheduler_core::view::{ActiveRunView, RecoveredView, RunView, SessionView};
use scheduler_sqlite::Tasks;

fn sweep(now: std::time::SystemTime, limit: u32) -> Recovery<'static> {
    Recovery { now, reason: "scheduler_sweep", limit, actor: "scheduler" }
}

async fn pending_ids(tasks: &Tasks) -> Vec<String> {
    let mut out = Vec::new();
    tasks.pending_runs(&mut out).await.unwrap();
    out.iter().map(|r| r.run_id.clone()).collect()
}

#[test]
fn a_lease_lives_and_ends_by_its_token() {
    for (name, store, _dir) in stores() {
        run(async {
            let tasks = store.tasks();
            tasks.enqueue(&TaskSpec::new("t"), &RunSpec::new(" r ").caps(["rust"]), t(0)).await.unwrap();
            let record = tasks.record("r").await.unwrap().unwrap();
            assert_eq!((record.status, record.queued_at), (RunStatus::Queued, Some(t(0))), "{name}");
            let me = ClaimRequest::session("s").caps(["rust"]);
            let lease = tasks.claim(&me, LEASE, t(1)).await.unwrap().unwrap();
            assert_eq!((lease.run_id.as_str(), lease.lease_until), ("r", t(61)), "{name}");
            let busy = tasks.claim(&me, LEASE, t(1)).await.unwrap_err();
            assert_eq!(busy.kind(), ErrorKind::SessionBusy, "{name}");
            let wrong = ClaimToken::new(lease.token.expose_secret().to_uppercase());
            for err in [
                tasks.start("r", &wrong, t(2)).await.unwrap_err(),
                tasks.complete("r", &ClaimToken::new(""), t(2)).await.unwrap_err(),
            ] {
                assert_eq!(err.kind(), ErrorKind::TokenRejected, "{name}");
                assert!(!err.to_string().contains(lease.token.expose_secret()), "{name}: {err}");
            }
            tasks.start("r", &lease.token, t(2)).await.unwrap();
            assert_eq!(tasks.start("r", &lease.token, t(2)).await.unwrap_err().kind(), ErrorKind::InvalidTransition);
            assert_eq!(tasks.heartbeat("r", &lease.token, LEASE, t(30)).await.unwrap(), t(90), "{name}");
            let record = tasks.record("r").await.unwrap().unwrap();
            assert_eq!(record.status, RunStatus::Running, "{name}");
            assert_eq!((record.session_id.as_deref(), record.lease_until), (Some("s"), Some(t(90))), "{name}");
            tasks.complete("r", &lease.token, t(40)).await.unwrap();
            assert_eq!(tasks.run_status("r").await.unwrap(), Some(RunStatus::Completed), "{name}");
            let stale = tasks.release("r", &lease.token, t(41)).await.unwrap_err();
            assert_eq!(stale.kind(), ErrorKind::TokenRejected, "{name}");
            assert_eq!(tasks.record("r").await.unwrap().unwrap().session_id, None, "{name}");
            // The session is free again.
            assert!(tasks.claim(&me, LEASE, t(42)).await.unwrap().is_none(), "{name}");
        });
    }
}

#[test]
fn fail_and_release_free_the_session_and_release_keeps_queued_at() {
    for (name, store, _dir) in stores() {
        run(async {
            let tasks = store.tasks();
            tasks.enqueue(&TaskSpec::new("t"), &RunSpec::new("a"), t(0)).await.unwrap();
            tasks.enqueue(&TaskSpec::new("t"), &RunSpec::new("b"), t(5)).await.unwrap();
            let me = ClaimRequest::session("s");
            let first = tasks.claim(&me, LEASE, t(10)).await.unwrap().unwrap();
            assert_eq!(first.run_id, "a", "{name}: oldest first");
            tasks.release("a", &first.token, t(11)).await.unwrap();
            let record = tasks.record("a").await.unwrap().unwrap();
            assert_eq!((record.status, record.queued_at, record.lease_until), (RunStatus::Queued, Some(t(0)), None));
            let again = tasks.claim(&me, LEASE, t(12)).await.unwrap().unwrap();
            assert_eq!(again.run_id, "a", "{name}: released runs keep their place");
            assert_ne!(again.token, first.token);
            tasks.fail("a", &again.token, "boom", t(13)).await.unwrap();
            assert_eq!(tasks.failure_reason("a").await.unwrap().as_deref(), Some("boom"));
            assert_eq!(tasks.claim(&me, LEASE, t(14)).await.unwrap().unwrap().run_id, "b", "{name}");
        });
    }
}

#[test]
fn claims_follow_the_schedulers_eligibility_and_order() {
    for (name, store, _dir) in stores() {
        run(async {
            let tasks = store.tasks();
            let enqueue = |task: TaskSpec, run: RunSpec, at| {
                let tasks = tasks.clone();
                async move { tasks.enqueue(&task, &run, at).await.unwrap() }
            };
            enqueue(TaskSpec::new("low").priority(Priority::Low), RunSpec::new("r-low"), t(0)).await;
            enqueue(TaskSpec::new("unk").priority(Priority::Unknown), RunSpec::new("r-unknown"), t(3)).await;
            enqueue(TaskSpec::new("med").priority(Priority::Medium), RunSpec::new("r-med-b"), t(2)).await;
            enqueue(TaskSpec::new("med"), RunSpec::new("r-med-a"), t(2)).await;
            enqueue(
                TaskSpec::new("urgent-draft").priority(Priority::Urgent).status(TaskStatus::Draft),
                RunSpec::new("r-draft"),
                t(0),
            )
            .await;
            enqueue(
                TaskSpec::new("urgent-paused").priority(Priority::Urgent).paused(true),
                RunSpec::new("r-paused"),
                t(0),
            )
            .await;
            enqueue(TaskSpec::new("ws").priority(Priority::Urgent).workspace("ws-1"), RunSpec::new("r-ws"), t(0)).await;
            enqueue(TaskSpec::new("chan").priority(Priority::Urgent), RunSpec::new("r-chan").channel("ch-1"), t(0))
                .await;
            enqueue(TaskSpec::new("pool").priority(Priority::Urgent).pool_owner("coder"), RunSpec::new("r-pool"), t(0))
                .await;
            enqueue(
                TaskSpec::new("mine").priority(Priority::Urgent).session_owner("s-9"),
                RunSpec::new("r-mine"),
                t(0),
            )
            .await;
            enqueue(
                TaskSpec::new("caps").priority(Priority::Urgent),
                RunSpec::new("r-caps").caps(["go", " sqlite "]),
                t(0),
            )
            .await;
            enqueue(
                TaskSpec::new("odd").priority(Priority::Urgent).owner(OwnerRef::Unknown),
                RunSpec::new("r-odd"),
                t(0),
            )
            .await;
            enqueue(
                TaskSpec::new("nowhere").priority(Priority::Urgent).scope(Scope::Unknown, ""),
                RunSpec::new("r-nowhere"),
                t(0),
            )
            .await;

            let claim = |request: ClaimRequest| {
                let tasks = tasks.clone();
                async move { tasks.claim(&request, LEASE, t(10)).await.unwrap().map(|l| l.run_id) }
            };
            // Specific sessions get the urgent runs made for them.
            assert_eq!(claim(ClaimRequest::session("s-ws").workspace("ws-1")).await.as_deref(), Some("r-ws"), "{name}");
            assert_eq!(claim(ClaimRequest::session("s-ch").channel("ch-1")).await.as_deref(), Some("r-chan"), "{name}");
            assert_eq!(
                claim(ClaimRequest::session("s-pool").agent("coder")).await.as_deref(),
                Some("r-pool"),
                "{name}"
            );
            assert_eq!(claim(ClaimRequest::session("s-9")).await.as_deref(), Some("r-mine"), "{name}");
            assert_eq!(
                claim(ClaimRequest::session("s-go").caps(["sqlite"])).await.as_deref(),
                Some("r-med-a"),
                "{name}"
            );
            assert_eq!(
                claim(ClaimRequest::session("s-caps").caps(["sqlite", "go"])).await.as_deref(),
                Some("r-caps"),
                "{name}"
            );
            // Then medium (unknown counts as medium) by queued-at, then low.
            assert_eq!(claim(ClaimRequest::session("g1")).await.as_deref(), Some("r-med-b"), "{name}");
            assert_eq!(claim(ClaimRequest::session("g2")).await.as_deref(), Some("r-unknown"), "{name}");
            assert_eq!(claim(ClaimRequest::session("g3")).await.as_deref(), Some("r-low"), "{name}");
            assert_eq!(claim(ClaimRequest::session("g4")).await, None, "{name}");
            let left: HashSet<String> = pending_ids(&tasks).await.into_iter().collect();
            let expected: HashSet<String> =
                ["r-draft", "r-paused", "r-odd", "r-nowhere"].into_iter().map(String::from).collect();
            assert_eq!(left, expected, "{name}: unclaimable runs stay pending");
            // Re-describing a task reaches its runs.
            tasks.update_task(&TaskSpec::new("urgent-paused").priority(Priority::Urgent), t(11)).await.unwrap();
            assert_eq!(claim(ClaimRequest::session("g5")).await.as_deref(), Some("r-paused"), "{name}");
            let err = tasks.update_task(&TaskSpec::new("ghost"), t(11)).await.unwrap_err();
            assert_eq!(err.kind(), ErrorKind::UnknownTask);
        });
    }
}

#[test]
fn enqueue_refuses_duplicates_and_empty_ids_and_redescribes_tasks() {
    for (name, store, _dir) in stores() {
        run(async {
            let tasks = store.tasks();
            tasks.enqueue(&TaskSpec::new("t"), &RunSpec::new("r1"), t(0)).await.unwrap();
            let dup = tasks.enqueue(&TaskSpec::new("t").paused(true), &RunSpec::new(" r1"), t(1)).await.unwrap_err();
            assert_eq!(dup.kind(), ErrorKind::DuplicateRun, "{name}");
            let run = tasks.run("r1").await.unwrap().unwrap();
            assert!(!run.task_paused, "{name}: a refused enqueue changes nothing, the task included");
            for (task, spec) in [(TaskSpec::new(" "), RunSpec::new("x")), (TaskSpec::new("t"), RunSpec::new(""))] {
                assert_eq!(tasks.enqueue(&task, &spec, t(0)).await.unwrap_err().kind(), ErrorKind::InvalidInput);
            }
            tasks.enqueue(&TaskSpec::new("t").priority(Priority::High), &RunSpec::new("r2"), t(2)).await.unwrap();
            assert_eq!(tasks.run("r1").await.unwrap().unwrap().priority, Priority::High, "{name}");
            let empty = tasks.claim(&ClaimRequest::session(" "), LEASE, t(3)).await.unwrap_err();
            assert_eq!(empty.kind(), ErrorKind::InvalidInput, "{name}");
            let overflow = tasks.claim(&ClaimRequest::session("s"), Duration::MAX, t(3)).await.unwrap_err();
            assert_eq!(overflow.kind(), ErrorKind::InvalidInput, "{name}");
            assert_eq!(pending_ids(&tasks).await, ["r1", "r2"], "{name}");
        });
    }
}

#[test]
fn recovery_requeues_expired_leases_oldest_first_and_fences_old_tokens() {
    for (name, store, _dir) in stores() {
        run(async {
            let tasks = store.tasks();
            for i in 0..3 {
                tasks.enqueue(&TaskSpec::new("t"), &RunSpec::new(format!("r{i}")), t(i)).await.unwrap();
            }
            let a = tasks.claim(&ClaimRequest::session("a"), Duration::from_secs(30), t(10)).await.unwrap().unwrap();
            let b = tasks.claim(&ClaimRequest::session("b"), Duration::from_secs(20), t(10)).await.unwrap().unwrap();
            let c = tasks.claim(&ClaimRequest::session("c"), Duration::from_secs(90), t(10)).await.unwrap().unwrap();
            tasks.start(&a.run_id, &a.token, t(11)).await.unwrap();
            let mut out = Vec::new();
            tasks.recover_expired_leases(sweep(t(29), 0), &mut out).await.unwrap();
            assert!(out.is_empty(), "{name}");
            // A lease that ended but was not recovered still answers to its token.
            assert_eq!(
                tasks.claim(&ClaimRequest::session("b"), LEASE, t(31)).await.unwrap_err().kind(),
                ErrorKind::SessionBusy
            );
            tasks.recover_expired_leases(sweep(t(40), 1), &mut out).await.unwrap();
            assert_eq!(out.len(), 1, "{name}: the limit holds");
            assert_eq!((out[0].run_id(), out[0].previous_session_id()), ("r1", "b"), "{name}: oldest lease first");
            assert_eq!(out[0].previous_lease_until(), t(30));
            assert_eq!((out[0].status(), out[0].previous_status()), (RunStatus::Queued, RunStatus::Claimed));
            assert_eq!((out[0].reason(), out[0].actor()), ("scheduler_sweep", "scheduler"));
            out.clear();
            tasks.recover_expired_leases(sweep(t(40), 0), &mut out).await.unwrap();
            assert_eq!(out.iter().map(|r| r.run_id()).collect::<Vec<_>>(), ["r0"], "{name}");
            assert_eq!(out[0].previous_status(), RunStatus::Running);
            assert_eq!(
                tasks.heartbeat(&a.run_id, &a.token, LEASE, t(41)).await.unwrap_err().kind(),
                ErrorKind::TokenRejected
            );
            assert_eq!(tasks.record("r0").await.unwrap().unwrap().queued_at, Some(t(0)), "{name}");
            out.clear();
            tasks.recover_expired_leases(sweep(t(40), 0), &mut out).await.unwrap();
            assert!(out.is_empty(), "{name}: recovering twice recovers once");
            tasks.complete(&c.run_id, &c.token, t(50)).await.unwrap();
            drop(b);
        });
    }
}

#[test]
fn reads_statuses_needs_attention_and_active_runs() {
    for (name, store, _dir) in stores() {
        run(async {
            let tasks = store.tasks();
            for i in 0..3 {
                tasks.enqueue(&TaskSpec::new("t"), &RunSpec::new(format!("r{i}")), t(i)).await.unwrap();
            }
            let lease = tasks.claim(&ClaimRequest::session("s"), LEASE, t(5)).await.unwrap().unwrap();
            let mut active = Vec::new();
            tasks.active_runs(&mut active).await.unwrap();
            assert_eq!(active.len(), 1, "{name}");
            assert_eq!(
                (active[0].run_id(), active[0].session_id(), active[0].status()),
                ("r0", "s", RunStatus::Claimed)
            );
            let err = tasks.mark_needs_attention("r0", "d", t(6)).await.unwrap_err();
            assert_eq!(err.kind(), ErrorKind::InvalidTransition, "{name}");
            tasks.mark_needs_attention("r1", "run queued 2 s", t(6)).await.unwrap();
            assert_eq!(
                tasks.mark_needs_attention("r1", "d", t(6)).await.unwrap_err().kind(),
                ErrorKind::InvalidTransition
            );
            assert_eq!(tasks.mark_needs_attention("nope", "d", t(6)).await.unwrap_err().kind(), ErrorKind::UnknownRun);
            assert_eq!(tasks.diagnostic("r1").await.unwrap().as_deref(), Some("run queued 2 s"));
            tasks.complete("r0", &lease.token, t(7)).await.unwrap();
            let mut statuses = Vec::new();
            tasks.run_statuses(["r2", " r0 ", "nope", "r1", "r2"].into_iter(), &mut statuses).await.unwrap();
            let statuses: Vec<_> = statuses.into_iter().map(Result::unwrap).collect();
            assert_eq!(
                statuses,
                [
                    Some(RunStatus::Queued),
                    Some(RunStatus::Completed),
                    None,
                    Some(RunStatus::NeedsAttention),
                    Some(RunStatus::Queued)
                ],
                "{name}"
            );
            assert_eq!(pending_ids(&tasks).await, ["r2"], "{name}");
            let mut pending = Vec::new();
            tasks.pending_runs(&mut pending).await.unwrap();
            assert_eq!((pending[0].task_id(), pending[0].queued_at()), ("t", Some(t(2))));
        });
    }
}

#[test]
fn the_pause_refuses_claims_and_keeps_who_when_why() {
    for (name, store, _dir) in stores() {
        run(async {
            let (tasks, pause) = (store.tasks(), store.pause());
            tasks.enqueue(&TaskSpec::new("t"), &RunSpec::new("r"), t(0)).await.unwrap();
            assert!(!pause.is_paused().await.unwrap());
            pause.pause("ops", t(1), "maintenance").await.unwrap();
            pause.pause("oncall", t(2), "incident").await.unwrap();
            assert!(pause.is_paused().await.unwrap(), "{name}");
            let state = pause.pause_state().await.unwrap().unwrap();
            assert_eq!(
                (state.paused_by.as_str(), state.paused_at, state.reason.as_str()),
                ("oncall", t(2), "incident")
            );
            assert_eq!(
                tasks.claim(&ClaimRequest::session("s"), LEASE, t(3)).await.unwrap_err().kind(),
                ErrorKind::Paused
            );
            pause.resume().await.unwrap();
            pause.resume().await.unwrap();
            assert_eq!(pause.pause_state().await.unwrap(), None, "{name}");
            assert!(tasks.claim(&ClaimRequest::session("s"), LEASE, t(3)).await.unwrap().is_some(), "{name}");
        });
    }
}

#[test]
fn the_session_registry_keeps_live_sessions() {
    for (name, store, _dir) in stores() {
        run(async {
            let sessions = store.sessions();
            let spec = SessionSpec::active(" s1 ").agent("coder").workspace("ws").channel("ch").caps(["rust", "go"]);
            sessions.register(&spec.clone().created_at(t(1)), t(1)).await.unwrap();
            sessions.register(&SessionSpec::active("s2"), t(2)).await.unwrap();
            assert_eq!(
                sessions.register(&SessionSpec::active("s1"), t(3)).await.unwrap_err().kind(),
                ErrorKind::DuplicateSession
            );
            let mut all = Vec::new();
            sessions.sessions(&mut all).await.unwrap();
            assert_eq!(all.iter().map(|s| s.session_id()).collect::<Vec<_>>(), ["s1", "s2"], "{name}");
            assert_eq!(all[0].capabilities().collect::<Vec<_>>(), ["rust", "go"]);
            assert_eq!((all[0].workspace_id(), all[0].channel(), all[0].created_at()), ("ws", "ch", t(1)));
            sessions.set_state("s1", SessionState::Inactive, t(4)).await.unwrap();
            sessions.set_prompting("s1", true, t(4)).await.unwrap();
            sessions.set_capabilities("s1", &["sqlite".to_owned()], t(4)).await.unwrap();
            let s1 = sessions.session("s1").await.unwrap().unwrap();
            assert_eq!(
                (s1.state, s1.prompting, s1.capabilities.clone()),
                (SessionState::Inactive, true, vec!["sqlite".to_owned()])
            );
            sessions.touch("s2", t(10)).await.unwrap();
            assert_eq!(sessions.mark_stale(t(5), t(10)).await.unwrap(), 1, "{name}: s1 was last seen at 4");
            assert_eq!(sessions.session("s1").await.unwrap().unwrap().state, SessionState::Stopped);
            assert_eq!(sessions.mark_stale(t(5), t(10)).await.unwrap(), 0, "{name}");
            sessions.remove("s1").await.unwrap();
            assert_eq!(sessions.remove("s1").await.unwrap_err().kind(), ErrorKind::UnknownSession);
            assert_eq!(sessions.touch("s1", t(11)).await.unwrap_err().kind(), ErrorKind::UnknownSession);
            all.clear();
            sessions.sessions(&mut all).await.unwrap();
            assert_eq!(all.len(), 1, "{name}");
        });
    }
}

fn budget(count: u32) -> Budget {
    Budget {
        wake_count: count,
        tier: Tier::Spawn,
        first_starved_at: t(1),
        last_wake_at: t(2),
        updated_at: t(3),
        spawn_requested_at: Some(t(4)),
        starved_event_at: None,
    }
}

#[test]
fn budgets_load_upsert_clear_and_list_in_batches() {
    for (name, store, _dir) in stores() {
        run(async {
            let budgets = store.budgets();
            let (b1, b2) = (budget(1), budget(2));
            let mut done = Vec::new();
            budgets.upsert_many([("r1", &b1), ("r2", &b2), ("r\0x", &b1)].into_iter(), &mut done).await.unwrap();
            assert!(done[0].is_ok() && done[1].is_ok(), "{name}");
            assert_eq!(done[2].as_ref().unwrap_err().kind(), ErrorKind::InvalidInput);
            let mut loaded = Vec::new();
            budgets.load_many(["r2", "nope", "r1"].into_iter(), &mut loaded).await.unwrap();
            let loaded: Vec<_> = loaded.into_iter().map(Result::unwrap).collect();
            assert_eq!(loaded, [Some(b2), None, Some(b1)], "{name}");
            budgets.upsert("r1", &b2).await.unwrap();
            assert_eq!(budgets.load("r1").await.unwrap(), Some(b2));
            let mut cleared = Vec::new();
            budgets.clear_many(["r1", "missing"].into_iter(), &mut cleared).await.unwrap();
            assert_eq!(cleared.len(), 2);
            let mut listed = Vec::new();
            budgets.list(&mut listed).await.unwrap();
            assert_eq!(listed, [("r2".to_owned(), b2)], "{name}");
        });
    }
}

#[test]
fn budgets_list_in_pages_by_run_id() {
    for (name, store, _dir) in stores() {
        run(async {
            let budgets = store.budgets();
            let mut done = Vec::new();
            let b = budget(1);
            let rows = [("r3", &b), ("r1", &b), ("r5", &b), ("r2", &b), ("r4", &b)];
            budgets.upsert_many(rows.into_iter(), &mut done).await.unwrap();
            let mut walked = Vec::new();
            let mut after: Option<String> = None;
            loop {
                let mut page = Vec::new();
                budgets.list_page(after.as_deref(), 2, &mut page).await.unwrap();
                assert!(page.len() <= 2, "{name}");
                walked.extend(page.iter().map(|(k, _)| k.clone()));
                if page.len() < 2 {
                    break;
                }
                after = page.pop().map(|(k, _)| k);
            }
            assert_eq!(walked, ["r1", "r2", "r3", "r4", "r5"], "{name}");
            let mut page = Vec::new();
            budgets.list_page(Some("r4"), 10, &mut page).await.unwrap();
            assert_eq!(page, [("r5".to_owned(), b)], "{name}");
        });
    }
}

#[test]
fn everything_survives_a_reopen_and_an_expired_lease_is_recovered_after_it() {
    let (_dir, path) = common::temp_db();
    let token = run(async {
        let store = scheduler_sqlite::Store::open(&path).unwrap();
        let tasks = store.tasks();
        tasks.enqueue(&TaskSpec::new("t"), &RunSpec::new("r"), t(0)).await.unwrap();
        let lease = tasks.claim(&ClaimRequest::session("s"), LEASE, t(1)).await.unwrap().unwrap();
        store.sessions().register(&SessionSpec::active("s"), t(1)).await.unwrap();
        store.budgets().upsert("r", &budget(3)).await.unwrap();
        store.pause().pause("ops", t(2), "why").await.unwrap();
        lease.token
    });
    run(async {
        let store = scheduler_sqlite::Store::open(&path).unwrap();
        let tasks = store.tasks();
        let record = tasks.record("r").await.unwrap().unwrap();
        assert_eq!((record.status, record.lease_until), (RunStatus::Claimed, Some(t(61))));
        tasks.heartbeat("r", &token, LEASE, t(30)).await.unwrap();
        assert_eq!(store.budgets().load("r").await.unwrap(), Some(budget(3)));
        assert!(store.pause().is_paused().await.unwrap());
        assert!(store.sessions().session("s").await.unwrap().is_some());
        let mut out = Vec::new();
        tasks.recover_expired_leases(sweep(t(500), 0), &mut out).await.unwrap();
        assert_eq!(out.len(), 1);
        assert_eq!(tasks.start("r", &token, t(501)).await.unwrap_err().kind(), ErrorKind::TokenRejected);
    });
}

#[test]
fn handles_work_on_tokio_runtimes_too() {
    let store = scheduler_sqlite::Store::open_in_memory().unwrap();
    for rt in [
        tokio::runtime::Builder::new_current_thread().build().unwrap(),
        tokio::runtime::Builder::new_multi_thread().worker_threads(2).build().unwrap(),
    ] {
        let tasks = store.tasks();
        rt.block_on(async move {
            let id = format!("r{}", tasks.record("r0").await.unwrap().map_or(0, |_| 1));
            tasks.enqueue(&TaskSpec::new("t"), &RunSpec::new(&id), t(0)).await.unwrap();
            let spawned = tokio::spawn(async move { tasks.run_status(&id).await.unwrap() });
            assert_eq!(spawned.await.unwrap(), Some(RunStatus::Queued));
        });
    }
}

#[test]
fn cached_reads_see_writes_made_through_other_stores_on_the_file() {
    let (_dir, path) = common::temp_db();
    let (a, b) = (scheduler_sqlite::Store::open(&path).unwrap(), scheduler_sqlite::Store::open(&path).unwrap());
    run(async {
        a.tasks().enqueue(&TaskSpec::new("t"), &RunSpec::new("r1"), t(0)).await.unwrap();
        assert_eq!(pending_ids(&a.tasks()).await, ["r1"]);
        assert_eq!(pending_ids(&a.tasks()).await, ["r1"], "unchanged: served from the cache");
        b.tasks().enqueue(&TaskSpec::new("t"), &RunSpec::new("r2"), t(1)).await.unwrap();
        assert_eq!(pending_ids(&a.tasks()).await, ["r1", "r2"]);
        b.tasks().update_task(&TaskSpec::new("t").priority(Priority::Urgent), t(2)).await.unwrap();
        let mut rows = Vec::new();
        a.tasks().pending_runs(&mut rows).await.unwrap();
        assert!(rows.iter().all(|r| r.priority() == Priority::Urgent), "task changes invalidate too");
        let lease = b.tasks().claim(&ClaimRequest::session("s"), LEASE, t(3)).await.unwrap().unwrap();
        assert_eq!(pending_ids(&a.tasks()).await, ["r2"]);
        let mut active = Vec::new();
        a.tasks().active_runs(&mut active).await.unwrap();
        assert_eq!(active.len(), 1);
        b.tasks().heartbeat(&lease.run_id, &lease.token, LEASE, t(4)).await.unwrap();
        b.sessions().register(&SessionSpec::active("s"), t(4)).await.unwrap();
        let mut all = Vec::new();
        a.sessions().sessions(&mut all).await.unwrap();
        assert_eq!(all.len(), 1);
        b.sessions().set_prompting("s", true, t(5)).await.unwrap();
        all.clear();
        a.sessions().sessions(&mut all).await.unwrap();
        assert!(all[0].prompting());
    });
}

#[test]
fn a_run_deleted_from_outside_the_store_leaves_the_cached_reads() {
    let (_dir, path) = common::temp_db();
    let store = scheduler_sqlite::Store::open(&path).unwrap();
    run(async {
        for id in ["r1", "r2"] {
            store.tasks().enqueue(&TaskSpec::new("t"), &RunSpec::new(id), t(0)).await.unwrap();
        }
        assert_eq!(pending_ids(&store.tasks()).await, ["r1", "r2"]);
        let conn = rusqlite::Connection::open(&path).unwrap();
        conn.execute_batch("DELETE FROM run_caps WHERE run_id = 'r1'; DELETE FROM runs WHERE run_id = 'r1';").unwrap();
        assert_eq!(pending_ids(&store.tasks()).await, ["r2"]);
    });
}

#[test]
fn writes_that_share_a_commit_fail_alone() {
    let (_dir, path) = common::temp_db();
    let store = scheduler_sqlite::Store::open(&path).unwrap();
    let tasks = store.tasks();
    run(async {
        tasks.enqueue(&TaskSpec::new("t"), &RunSpec::new("dup"), t(0)).await.unwrap();
        // Sent together, these queue up at the writer and share transactions.
        let writes = (0..40).map(|i| {
            let tasks = tasks.clone();
            async move {
                let id = if i % 2 == 0 { "dup".to_owned() } else { format!("r{i:02}") };
                tasks.enqueue(&TaskSpec::new("t").paused(i % 2 == 0), &RunSpec::new(id), t(1)).await
            }
        });
        let results = futures::future::join_all(writes).await;
        for (i, result) in results.iter().enumerate() {
            match result {
                Err(e) => assert!(i % 2 == 0 && e.kind() == ErrorKind::DuplicateRun, "{i}: {e}"),
                Ok(()) => assert!(i % 2 == 1, "{i}"),
            }
        }
        let pending = pending_ids(&tasks).await;
        assert_eq!(pending.len(), 21);
        let mut rows = Vec::new();
        tasks.pending_runs(&mut rows).await.unwrap();
        assert!(rows.iter().all(|r| !r.task_paused()), "the refused enqueues changed nothing, the task included");
    });
}
