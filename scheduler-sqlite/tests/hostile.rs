//! Ids, names and capabilities are data, never SQL: quotes, semicolons, SQL keywords,
//! non-ASCII text and a megabyte of text round-trip exactly; NUL bytes are refused as
//! invalid input naming the field, and nothing is stored then.

mod common;

use common::{LEASE, run, t};
use scheduler_core::ladder::Budget;
use scheduler_core::lease::{
    ClaimRequest, ErrorKind, LeaseService, RunSpec, ServiceError, SessionRegistry, SessionSpec, TaskSpec,
};
use scheduler_core::model::RunStatus;
use scheduler_core::seam::{SessionSource, StarvationStore, TaskSource};
use scheduler_core::view::SessionView;
use scheduler_sqlite::Store;

fn hostile() -> Vec<String> {
    let mut megabyte = "'; DROP TABLE runs; -- \"x\" ".repeat(40_000);
    megabyte.truncate(1 << 20);
    vec![
        "o'brien".to_owned(),
        "\"double\" and `back`".to_owned(),
        "a; DELETE FROM runs; --".to_owned(),
        "') OR 1=1 --".to_owned(),
        "json [\"array\", {\"k\": 1}] \\ backslash".to_owned(),
        "ünïcødé ✓ 漢字".to_owned(),
        megabyte,
    ]
}

#[test]
fn hostile_ids_and_capabilities_round_trip_exactly() {
    let store = Store::open_in_memory().unwrap();
    let (tasks, sessions, budgets) = (store.tasks(), store.sessions(), store.budgets());
    run(async {
        for (i, text) in hostile().iter().enumerate() {
            let run_id = format!("{text}#{i}");
            let task = TaskSpec::new(format!("task {text}")).workspace(text.clone()).pool_owner(text.clone());
            let spec = RunSpec::new(&run_id).channel(text.clone()).caps([text.clone(), "plain".to_owned()]);
            tasks.enqueue(&task, &spec, t(i as u64)).await.unwrap();
            let pending = tasks.run(&run_id).await.unwrap().unwrap();
            assert_eq!(pending.run_id, run_id);
            assert_eq!(pending.task_id, format!("task {text}"));
            assert_eq!(pending.required_capabilities, [text.clone(), "plain".to_owned()]);
            assert_eq!((pending.channel.as_str(), pending.workspace_id.as_str()), (text.as_str(), text.as_str()));

            let session_id = format!("sess {text}");
            let session =
                SessionSpec::active(&session_id).agent(text.clone()).workspace(text.clone()).caps([text.clone()]);
            sessions.register(&session, t(0)).await.unwrap();
            let me =
                ClaimRequest::session(&session_id).agent(text.clone()).workspace(text.clone()).channel(text.clone());
            // Without the capability: nothing. With it: this very run.
            assert!(tasks.claim(&me.clone().caps([text.clone()]), LEASE, t(100)).await.unwrap().is_none());
            let lease =
                tasks.claim(&me.caps([text.clone(), "plain".to_owned()]), LEASE, t(100)).await.unwrap().unwrap();
            assert_eq!(lease.run_id, run_id);
            tasks.release(&run_id, &lease.token, t(101)).await.unwrap();
            // Escalation: the ladder's budget and the needs-attention mark.
            budgets.upsert(&run_id, &Budget::fresh(t(5))).await.unwrap();
            assert_eq!(budgets.load(&run_id).await.unwrap(), Some(Budget::fresh(t(5))));
            tasks.mark_needs_attention(&run_id, text, t(102)).await.unwrap();
            assert_eq!(tasks.diagnostic(&run_id).await.unwrap().as_deref(), Some(text.as_str()));
            let mut statuses = Vec::new();
            tasks.run_statuses([run_id.as_str()].into_iter(), &mut statuses).await.unwrap();
            assert_eq!(statuses.pop().unwrap().unwrap(), Some(RunStatus::NeedsAttention));
        }
        let mut listed = Vec::new();
        budgets.list(&mut listed).await.unwrap();
        assert_eq!(listed.len(), hostile().len());
        let mut all = Vec::new();
        sessions.sessions(&mut all).await.unwrap();
        assert_eq!(all.len(), hostile().len());
        assert_eq!(all[0].capabilities().collect::<Vec<_>>(), ["o'brien"]);
    });
}

#[test]
fn nul_bytes_are_refused_naming_the_field_and_nothing_is_stored() {
    let store = Store::open_in_memory().unwrap();
    let (tasks, sessions) = (store.tasks(), store.sessions());
    run(async {
        let cases = [
            (TaskSpec::new("t"), RunSpec::new("r\0un"), "run id"),
            (TaskSpec::new("t\0"), RunSpec::new("r"), "task id"),
            (TaskSpec::new("t"), RunSpec::new("r").caps(["ru\0st"]), "required capability"),
            (TaskSpec::new("t"), RunSpec::new("r").channel("c\0"), "channel"),
            (TaskSpec::new("t").workspace("w\0"), RunSpec::new("r"), "workspace id"),
            (TaskSpec::new("t").pool_owner("a\0"), RunSpec::new("r"), "owner ref"),
        ];
        for (task, spec, field) in cases {
            let err = tasks.enqueue(&task, &spec, t(0)).await.unwrap_err();
            assert_eq!(err.kind(), ErrorKind::InvalidInput);
            assert!(err.to_string().contains(field) && err.to_string().contains("NUL"), "{err}");
        }
        let mut pending = Vec::new();
        tasks.pending_runs(&mut pending).await.unwrap();
        assert!(pending.is_empty());
        let err = tasks.claim(&ClaimRequest::session("s").caps(["x\0"]), LEASE, t(0)).await.unwrap_err();
        assert!(err.to_string().contains("session capability"), "{err}");
        let err = sessions.register(&SessionSpec::active("s\0"), t(0)).await.unwrap_err();
        assert!(err.to_string().contains("session id"), "{err}");
        assert_eq!(tasks.run_status("r\0un").await.unwrap(), None);
    });
}
