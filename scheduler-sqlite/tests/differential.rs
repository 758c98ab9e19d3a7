//! The store against the in-memory reference (`MemoryTaskService`): seeded random
//! sequences of enqueue / update / claim / start / heartbeat / complete / fail /
//! release / recover / needs-attention / pause / time steps, applied to both; every
//! outcome (which run each claim gets, errors by kind, recovered leases) and the whole
//! state after every step (statuses, records, queued-at, pending and active runs) must
//! be identical. Tokens differ by nature and are only compared for what they fence.

mod common;

use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, SystemTime};

use common::{run, t};
use proptest::prelude::*;
use proptest::test_runner::{Config, RngAlgorithm, TestRng, TestRunner};
use scheduler_core::lease::{
    ClaimRequest, ClaimToken, ErrorKind, LeaseService, PauseControl, RunSpec, ServiceError, TaskSpec,
};
use scheduler_core::model::{OwnerRef, Priority, RunStatus, Scope, TaskStatus};
use scheduler_core::seam::{Recovery, TaskSource};
use scheduler_core::view::{ActiveRunView, RecoveredView};
use scheduler_sqlite::{Store, Tasks};
use scheduler_testkit::service::{ClaimCriteria, LeaseError, MemoryTaskService};
use scheduler_testkit::snapshot::RunSnapshot;

const RUNS: u8 = 10;
const TASKS: u8 = 4;
const CAPS: [&str; 3] = ["rust", "go", "sqlite"];
const CHANNELS: [&str; 3] = ["", "ch-1", "ch-2"];

/// The sessions that claim: (id, agent, workspace, channel, capabilities).
const SESSIONS: [(&str, &str, &str, &str, &[&str]); 4] = [
    ("s0", "agent-a", "", "", &["rust"]),
    ("s1", "agent-b", "ws-1", "ch-1", &["rust", "go"]),
    ("s2", "agent-a", "ws-2", "", &["go", "sqlite"]),
    ("s3", "agent-b", "", "ch-2", &[]),
];

#[derive(Debug, Clone, Copy)]
struct Shape {
    priority: u8,
    status: u8,
    paused: bool,
    scope: u8,
    owner: u8,
}

impl Shape {
    fn priority(self) -> Priority {
        [Priority::Low, Priority::Medium, Priority::High, Priority::Urgent, Priority::Unknown]
            [self.priority as usize % 5]
    }
    fn status(self) -> TaskStatus {
        [TaskStatus::Ready, TaskStatus::Pending, TaskStatus::Draft, TaskStatus::Blocked, TaskStatus::InProgress]
            [self.status as usize % 5]
    }
    fn scope(self) -> (Scope, &'static str) {
        [
            (Scope::Global, ""),
            (Scope::Workspace, "ws-1"),
            (Scope::Workspace, "ws-2"),
            (Scope::Unknown, ""),
            (Scope::Workspace, ""),
        ][self.scope as usize % 5]
    }
    fn owner(self) -> OwnerRef {
        match self.owner % 6 {
            0 | 1 => OwnerRef::None,
            2 => OwnerRef::Pool("agent-a".into()),
            3 => OwnerRef::AgentSession("s1".into()),
            4 => OwnerRef::Unknown,
            _ => OwnerRef::Pool(" ".into()),
        }
    }
    fn task(self, task_id: &str) -> TaskSpec {
        let (scope, ws) = self.scope();
        TaskSpec::new(task_id)
            .status(self.status())
            .paused(self.paused)
            .priority(self.priority())
            .scope(scope, ws)
            .owner(self.owner())
    }
}

#[derive(Debug, Clone)]
enum Op {
    Enqueue { run: u8, task: u8, shape: Shape, channel: u8, caps: Vec<u8> },
    UpdateTask { task: u8, shape: Shape },
    Claim { session: u8, lease: u8 },
    Start { run: u8, stale: bool },
    Heartbeat { run: u8, stale: bool, lease: u8 },
    Complete { run: u8, stale: bool },
    Fail { run: u8, stale: bool },
    Release { run: u8, stale: bool },
    Recover { limit: u8 },
    NeedsAttention { run: u8 },
    Pause(bool),
    Advance { secs: u8 },
}

fn shape() -> impl Strategy<Value = Shape> {
    let mostly_zero = |n: u8| prop_oneof![3 => Just(0u8), 1 => 0u8..n];
    (0u8..5, mostly_zero(5), prop::bool::weighted(0.1), mostly_zero(5), mostly_zero(6))
        .prop_map(|(priority, status, paused, scope, owner)| Shape { priority, status, paused, scope, owner })
}

fn op() -> impl Strategy<Value = Op> {
    let run = 0..RUNS;
    prop_oneof![
        6 => (run.clone(), 0..TASKS, shape(), prop_oneof![2 => Just(0u8), 1 => 0u8..3], prop::collection::vec(0u8..3, 0..2))
            .prop_map(|(run, task, shape, channel, caps)| Op::Enqueue { run, task, shape, channel, caps }),
        1 => (0..TASKS, shape()).prop_map(|(task, shape)| Op::UpdateTask { task, shape }),
        6 => (0u8..4, 1u8..4).prop_map(|(session, lease)| Op::Claim { session, lease }),
        2 => (run.clone(), prop::bool::weighted(0.2)).prop_map(|(run, stale)| Op::Start { run, stale }),
        2 => (run.clone(), prop::bool::weighted(0.2), 1u8..4).prop_map(|(run, stale, lease)| Op::Heartbeat { run, stale, lease }),
        1 => (run.clone(), prop::bool::weighted(0.2)).prop_map(|(run, stale)| Op::Complete { run, stale }),
        1 => (run.clone(), prop::bool::weighted(0.2)).prop_map(|(run, stale)| Op::Fail { run, stale }),
        1 => (run.clone(), prop::bool::weighted(0.2)).prop_map(|(run, stale)| Op::Release { run, stale }),
        4 => (0u8..3).prop_map(|limit| Op::Recover { limit }),
        1 => run.prop_map(|run| Op::NeedsAttention { run }),
        1 => prop::bool::weighted(0.3).prop_map(Op::Pause),
        5 => (1u8..180).prop_map(|secs| Op::Advance { secs }),
    ]
}

/// What one step answered, tokens aside.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Outcome {
    Done,
    Claimed(Option<String>),
    Until(SystemTime),
    Recovered(Vec<(String, RunStatus, String, SystemTime)>),
}

fn mem_kind(e: &LeaseError) -> ErrorKind {
    match e {
        LeaseError::UnknownRun { .. } => ErrorKind::UnknownRun,
        LeaseError::UnknownTask { .. } => ErrorKind::UnknownTask,
        LeaseError::DuplicateRun { .. } => ErrorKind::DuplicateRun,
        LeaseError::EmptyId { .. } | LeaseError::LeaseOverflow { .. } => ErrorKind::InvalidInput,
        LeaseError::WrongToken { .. } | LeaseError::StaleToken { .. } => ErrorKind::TokenRejected,
        LeaseError::InvalidTransition { .. } => ErrorKind::InvalidTransition,
        LeaseError::SessionBusy { .. } => ErrorKind::SessionBusy,
        LeaseError::Paused | LeaseError::PauseUnreadable(_) => ErrorKind::Paused,
        other => panic!("unexpected reference error {other}"),
    }
}

type Answer = Result<Outcome, ErrorKind>;

/// The two services and the tokens each handed out, per run: (current, previous).
struct Pair {
    mem: MemoryTaskService,
    store: Store,
    sql: Tasks,
    tokens: Vec<Option<(ClaimToken, ClaimToken)>>,
    previous: Vec<Option<(ClaimToken, ClaimToken)>>,
    now: SystemTime,
}

fn run_id(i: u8) -> String {
    format!("run-{i}")
}

impl Pair {
    fn new() -> Pair {
        let store = Store::open_in_memory().unwrap();
        let sql = store.tasks();
        let n = RUNS as usize;
        Pair { mem: MemoryTaskService::new(), store, sql, tokens: vec![None; n], previous: vec![None; n], now: t(0) }
    }

    /// The run a fenced step acts on: `pick` chooses among the runs that were
    /// claimed (so most steps present a token that once was right), else any run.
    fn target(&self, pick: u8) -> u8 {
        let claimed: Vec<u8> = (0..RUNS).filter(|&i| self.tokens[i as usize].is_some()).collect();
        if claimed.is_empty() { pick % RUNS } else { claimed[pick as usize % claimed.len()] }
    }

    fn token_pair(&self, run: u8, stale: bool) -> (ClaimToken, ClaimToken) {
        let slot = if stale { &self.previous[run as usize] } else { &self.tokens[run as usize] };
        slot.clone().unwrap_or_else(|| (ClaimToken::new("ct_bogus"), ClaimToken::new("ct_bogus")))
    }

    async fn apply(&mut self, op: &Op) -> (Answer, Answer) {
        let (mem, sql, now) = (&self.mem, &self.sql, self.now);
        let m = |r: Result<(), LeaseError>| r.map(|()| Outcome::Done).map_err(|e| mem_kind(&e));
        let s = |r: Result<(), scheduler_sqlite::Error>| r.map(|()| Outcome::Done).map_err(|e| e.kind());
        match op {
            Op::Enqueue { run, task, shape, channel, caps } => {
                let caps: Vec<&str> = caps.iter().map(|c| CAPS[*c as usize]).collect();
                let task_id = format!("task-{task}");
                let spec = shape.task(&task_id);
                let (scope, ws) = shape.scope();
                let mut snap = RunSnapshot::queued(run_id(*run), &task_id)
                    .priority(spec.priority)
                    .scope(scope, ws)
                    .owner(spec.owner.clone())
                    .channel(CHANNELS[*channel as usize])
                    .caps(caps.iter().copied())
                    .task_status(spec.status);
                snap.task_paused = spec.paused;
                let run_spec = RunSpec::new(run_id(*run)).channel(CHANNELS[*channel as usize]).caps(caps);
                (m(mem.enqueue(&snap, now)), s(sql.enqueue(&spec, &run_spec, now).await))
            }
            Op::UpdateTask { task, shape } => {
                let spec = shape.task(&format!("task-{task}"));
                let edit = |t: &mut scheduler_testkit::service::TaskSpec| {
                    t.status = spec.status;
                    t.paused = spec.paused;
                    t.priority = spec.priority;
                    t.scope = spec.scope;
                    t.workspace_id = spec.workspace_id.clone();
                    t.owner = spec.owner.clone();
                };
                (m(mem.update_task(&spec.task_id, edit)), s(sql.update_task(&spec, now).await))
            }
            Op::Claim { session, lease } => {
                let (id, agent, ws, ch, caps) = SESSIONS[*session as usize];
                let lease = Duration::from_secs(u64::from(*lease) * 30);
                let criteria =
                    ClaimCriteria::session(id).agent(agent).workspace(ws).channel(ch).caps(caps.iter().copied());
                let request =
                    ClaimRequest::session(id).agent(agent).workspace(ws).channel(ch).caps(caps.iter().copied());
                let a = mem.claim(&criteria, lease, now).map_err(|e| mem_kind(&e));
                let b = sql.claim(&request, lease, now).await.map_err(|e| e.kind());
                if let (Ok(Some(a)), Ok(Some(b))) = (&a, &b) {
                    if a.run_id == b.run_id {
                        let i: usize = a.run_id["run-".len()..].parse().unwrap();
                        self.previous[i] = self.tokens[i].take();
                        self.tokens[i] = Some((a.token.clone(), b.token.clone()));
                    }
                }
                let a = a.map(|c| Outcome::Claimed(c.map(|c| c.run_id)));
                let b = b.map(|c| Outcome::Claimed(c.map(|c| c.run_id)));
                (a, b)
            }
            Op::Start { run, stale } => {
                let run = &self.target(*run);
                let (tm, ts) = self.token_pair(*run, *stale);
                (m(mem.start(&run_id(*run), &tm, now)), s(sql.start(&run_id(*run), &ts, now).await))
            }
            Op::Heartbeat { run, stale, lease } => {
                let run = &self.target(*run);
                let (tm, ts) = self.token_pair(*run, *stale);
                let lease = Duration::from_secs(u64::from(*lease) * 30);
                let a = mem.heartbeat(&run_id(*run), &tm, lease, now).map(Outcome::Until).map_err(|e| mem_kind(&e));
                let b = sql.heartbeat(&run_id(*run), &ts, lease, now).await.map(Outcome::Until).map_err(|e| e.kind());
                (a, b)
            }
            Op::Complete { run, stale } => {
                let run = &self.target(*run);
                let (tm, ts) = self.token_pair(*run, *stale);
                (m(mem.complete(&run_id(*run), &tm, now)), s(sql.complete(&run_id(*run), &ts, now).await))
            }
            Op::Fail { run, stale } => {
                let run = &self.target(*run);
                let (tm, ts) = self.token_pair(*run, *stale);
                (m(mem.fail(&run_id(*run), &tm, "boom", now)), s(sql.fail(&run_id(*run), &ts, "boom", now).await))
            }
            Op::Release { run, stale } => {
                let run = &self.target(*run);
                let (tm, ts) = self.token_pair(*run, *stale);
                (m(mem.release(&run_id(*run), &tm, now)), s(sql.release(&run_id(*run), &ts, now).await))
            }
            Op::Recover { limit } => {
                let a = mem
                    .recover_expired(now, "sweep", u32::from(*limit))
                    .into_iter()
                    .map(|r| (r.run.run_id.clone(), r.previous_status, r.previous_session_id, r.previous_lease_until))
                    .collect();
                let mut out = Vec::new();
                let request = Recovery { now, reason: "sweep", limit: u32::from(*limit), actor: "scheduler" };
                let b = sql.recover_expired_leases(request, &mut out).await.map_err(|e| e.kind()).map(|()| {
                    use scheduler_core::lease::RecoveredDetails;
                    let rows = out.iter().map(|r| {
                        (
                            r.run_id().to_owned(),
                            r.previous_status(),
                            r.previous_session_id().to_owned(),
                            r.previous_lease_until(),
                        )
                    });
                    Outcome::Recovered(rows.collect())
                });
                (Ok(Outcome::Recovered(a)), b)
            }
            Op::NeedsAttention { run } => (
                m(mem.mark_needs_attention(&run_id(*run), "stuck", now)),
                s(sql.mark_needs_attention(&run_id(*run), "stuck", now).await),
            ),
            Op::Pause(on) => {
                let pause = self.store.pause();
                if *on {
                    mem.pause_store().pause("ops", now, "why");
                    pause.pause("ops", now, "why").await.unwrap();
                } else {
                    mem.pause_store().resume();
                    pause.resume().await.unwrap();
                }
                (Ok(Outcome::Done), Ok(Outcome::Done))
            }
            Op::Advance { secs } => {
                self.now += Duration::from_secs(u64::from(*secs));
                (Ok(Outcome::Done), Ok(Outcome::Done))
            }
        }
    }

    /// Forgets the tokens of leases that ended (they become the stale ones).
    fn retire(&mut self, op: &Op, answer: &Answer) {
        let ended: Vec<u8> = match (op, answer) {
            (Op::Complete { .. } | Op::Fail { .. } | Op::Release { .. }, Ok(_)) => {
                let claimed: Vec<u8> = (0..RUNS).filter(|&i| self.tokens[i as usize].is_some()).collect();
                let run = match op {
                    Op::Complete { run, .. } | Op::Fail { run, .. } | Op::Release { run, .. } => *run,
                    _ => unreachable!(),
                };
                claimed.get(run as usize % claimed.len().max(1)).copied().into_iter().collect()
            }
            (Op::Recover { .. }, Ok(Outcome::Recovered(rows))) => {
                rows.iter().map(|(id, ..)| id["run-".len()..].parse().unwrap()).collect()
            }
            _ => Vec::new(),
        };
        for i in ended {
            let i = i as usize;
            if let Some(t) = self.tokens[i].take() {
                self.previous[i] = Some(t);
            }
        }
    }

    /// Every observable of both sides, in one comparable value.
    async fn state(&self) -> (String, String) {
        let mut mem = String::new();
        let mut sql = String::new();
        for i in 0..RUNS {
            let id = run_id(i);
            let a = self.mem.record(&id).map(|r| (r.status, r.session_id, r.lease_until));
            let a_queued = self.mem.snapshot(&id).and_then(|s| s.queued_at);
            let b = self.sql.record(&id).await.unwrap();
            let b_queued = b.as_ref().and_then(|r| r.queued_at);
            let b = b.map(|r| (r.status, r.session_id, r.lease_until));
            mem.push_str(&format!("{id}: {a:?} queued {a_queued:?}\n"));
            sql.push_str(&format!("{id}: {b:?} queued {b_queued:?}\n"));
        }
        let mut pending: Vec<String> = self.mem.pending().iter().map(|r| r.run_id.clone()).collect();
        pending.sort();
        let mut active: Vec<_> =
            self.mem.active().iter().map(|a| (a.run_id.clone(), a.session_id.clone(), a.status)).collect();
        active.sort();
        mem.push_str(&format!("pending {pending:?}\nactive {active:?}\n"));
        let mut rows = Vec::new();
        self.sql.pending_runs(&mut rows).await.unwrap();
        let mut pending: Vec<String> = rows.iter().map(|r| r.run_id.clone()).collect();
        pending.sort();
        let mut rows = Vec::new();
        self.sql.active_runs(&mut rows).await.unwrap();
        let mut active: Vec<_> =
            rows.iter().map(|a| (a.run_id().to_owned(), a.session_id().to_owned(), a.status())).collect();
        active.sort();
        sql.push_str(&format!("pending {pending:?}\nactive {active:?}\n"));
        (mem, sql)
    }
}

/// How often the interesting outcomes happened over all cases: won claims, recovered
/// leases, rejected tokens, busy sessions.
static SEEN: [AtomicUsize; 4] = [AtomicUsize::new(0), AtomicUsize::new(0), AtomicUsize::new(0), AtomicUsize::new(0)];

fn tally(answer: &Answer) {
    let slot = match answer {
        Ok(Outcome::Claimed(Some(_))) => 0,
        Ok(Outcome::Recovered(r)) if !r.is_empty() => 1,
        Err(ErrorKind::TokenRejected) => 2,
        Err(ErrorKind::SessionBusy) => 3,
        _ => return,
    };
    SEEN[slot].fetch_add(1, Ordering::Relaxed);
}

fn check(ops: &[Op]) -> Result<(), TestCaseError> {
    run(async {
        let mut pair = Pair::new();
        for (step, op) in ops.iter().enumerate() {
            let (a, b) = pair.apply(op).await;
            tally(&a);
            pair.retire(op, &a);
            prop_assert_eq!(&a, &b, "step {} {:?}: outcomes differ", step, op);
            let (ma, sb) = pair.state().await;
            prop_assert_eq!(ma, sb, "step {} {:?}: states differ", step, op);
        }
        Ok(())
    })
}

#[test]
fn the_store_matches_the_in_memory_reference() {
    let config = Config { cases: 128, failure_persistence: None, ..Config::default() };
    let rng = TestRng::from_seed(RngAlgorithm::ChaCha, &[12; 32]);
    let mut runner = TestRunner::new_with_rng(config, rng);
    runner.run(&prop::collection::vec(op(), 10..80), |ops| check(&ops)).unwrap();
    let seen: Vec<usize> = SEEN.iter().map(|n| n.load(Ordering::Relaxed)).collect();
    // The sequences exercise what they claim to: claims won, leases recovered, tokens
    // refused, busy sessions refused.
    assert!(seen.iter().all(|&n| n >= 10), "claims, recoveries, rejected tokens, busy sessions: {seen:?}");
}

/// The differential test bites: a run claimed in the store but not in the reference
/// (an out-of-band change) is found as a difference.
#[test]
fn a_divergence_is_caught() {
    run(async {
        let mut pair = Pair::new();
        let enqueue = Op::Enqueue {
            run: 0,
            task: 0,
            shape: Shape { priority: 1, status: 0, paused: false, scope: 0, owner: 0 },
            channel: 0,
            caps: vec![],
        };
        let (a, b) = pair.apply(&enqueue).await;
        assert_eq!(a, b);
        pair.sql.claim(&ClaimRequest::session("s9"), Duration::from_secs(60), pair.now).await.unwrap().unwrap();
        let (mem, sql) = pair.state().await;
        assert_ne!(mem, sql);
    });
}
