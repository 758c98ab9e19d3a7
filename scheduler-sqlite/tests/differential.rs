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
use scheduler_core::lease::RecoveredDetails;
use scheduler_core::lease::{
    ClaimRequest, ClaimToken, ErrorKind, LeaseService, PauseControl, RunSpec, ServiceError, TaskSpec,
};
use scheduler_core::model::{OwnerRef, Priority, RunStatus, Scope, TaskStatus};
use scheduler_core::seam::Recovery;
use scheduler_core::view::{ActiveRunView, RecoveredView, RunView};
use scheduler_sqlite::{Pause, Store, Tasks};
use scheduler_testkit::service::MemoryTaskService;
use scheduler_testkit::stores::MemoryPauseStore;

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

type Answer = Result<Outcome, ErrorKind>;

fn run_id(i: u8) -> String {
    format!("run-{i}")
}

/// One service under test, with the tokens it handed out per run: (current, previous).
struct Side<S, P> {
    svc: S,
    pause: P,
    tokens: Vec<Option<ClaimToken>>,
    previous: Vec<Option<ClaimToken>>,
}

impl<S, P> Side<S, P>
where
    S: LeaseService,
    P: PauseControl,
{
    fn new(svc: S, pause: P) -> Self {
        let n = RUNS as usize;
        Side { svc, pause, tokens: vec![None; n], previous: vec![None; n] }
    }

    /// The run a fenced step acts on: `pick` chooses among the runs this side holds a
    /// token for (so most steps present a token that once was right), else any run.
    fn target(&self, pick: u8) -> u8 {
        let claimed: Vec<u8> = (0..RUNS).filter(|&i| self.tokens[i as usize].is_some()).collect();
        if claimed.is_empty() { pick % RUNS } else { claimed[pick as usize % claimed.len()] }
    }

    fn token(&self, run: u8, stale: bool) -> ClaimToken {
        let slot = if stale { &self.previous[run as usize] } else { &self.tokens[run as usize] };
        slot.clone().unwrap_or_else(|| ClaimToken::new("ct_bogus"))
    }

    fn retire(&mut self, run: usize) {
        if let Some(t) = self.tokens[run].take() {
            self.previous[run] = Some(t);
        }
    }

    async fn apply(&mut self, op: &Op, now: SystemTime) -> Answer {
        let done = |r: Result<(), S::Error>| r.map(|()| Outcome::Done).map_err(|e| e.kind());
        match op {
            Op::Enqueue { run, task, shape, channel, caps } => {
                let caps: Vec<&str> = caps.iter().map(|c| CAPS[*c as usize]).collect();
                let spec = RunSpec::new(run_id(*run)).channel(CHANNELS[*channel as usize]).caps(caps);
                done(self.svc.enqueue(&shape.task(&format!("task-{task}")), &spec, now).await)
            }
            Op::UpdateTask { task, shape } => {
                done(self.svc.update_task(&shape.task(&format!("task-{task}")), now).await)
            }
            Op::Claim { session, lease } => {
                let (id, agent, ws, ch, caps) = SESSIONS[*session as usize];
                let request =
                    ClaimRequest::session(id).agent(agent).workspace(ws).channel(ch).caps(caps.iter().copied());
                let lease = self.svc.claim(&request, Duration::from_secs(u64::from(*lease) * 30), now).await;
                let lease = lease.map_err(|e| e.kind())?;
                if let Some(lease) = &lease {
                    let i: usize = lease.run_id["run-".len()..].parse().unwrap();
                    self.retire(i);
                    self.tokens[i] = Some(lease.token.clone());
                }
                Ok(Outcome::Claimed(lease.map(|l| l.run_id)))
            }
            Op::Start { run, stale } => {
                let run = self.target(*run);
                done(self.svc.start(&run_id(run), &self.token(run, *stale), now).await)
            }
            Op::Heartbeat { run, stale, lease } => {
                let run = self.target(*run);
                let lease = Duration::from_secs(u64::from(*lease) * 30);
                let until = self.svc.heartbeat(&run_id(run), &self.token(run, *stale), lease, now).await;
                until.map(Outcome::Until).map_err(|e| e.kind())
            }
            Op::Complete { run, stale } | Op::Fail { run, stale } | Op::Release { run, stale } => {
                let run = self.target(*run);
                let (id, token) = (run_id(run), self.token(run, *stale));
                let answer = match op {
                    Op::Complete { .. } => done(self.svc.complete(&id, &token, now).await),
                    Op::Fail { .. } => done(self.svc.fail(&id, &token, "boom", now).await),
                    _ => done(self.svc.release(&id, &token, now).await),
                };
                if answer.is_ok() {
                    self.retire(run as usize);
                }
                answer
            }
            Op::Recover { limit } => {
                let mut out = Vec::new();
                let request = Recovery { now, reason: "sweep", limit: u32::from(*limit), actor: "scheduler" };
                self.svc.recover_expired_leases(request, &mut out).await.map_err(|e| e.kind())?;
                let rows: Vec<_> = out
                    .iter()
                    .map(|r| {
                        (
                            r.run_id().to_owned(),
                            r.previous_status(),
                            r.previous_session_id().to_owned(),
                            r.previous_lease_until(),
                        )
                    })
                    .collect();
                for (id, ..) in &rows {
                    self.retire(id["run-".len()..].parse().unwrap());
                }
                Ok(Outcome::Recovered(rows))
            }
            Op::NeedsAttention { run } => done(self.svc.mark_needs_attention(&run_id(*run), "stuck", now).await),
            Op::Pause(on) => {
                let paused = if *on { self.pause.pause("ops", now, "why").await } else { self.pause.resume().await };
                paused.expect("the pause control answers");
                Ok(Outcome::Done)
            }
            Op::Advance { .. } => Ok(Outcome::Done),
        }
    }

    /// Every observable: records (status, session, lease end, queued-at) of every run,
    /// the pending and the active runs.
    async fn state(&self) -> String {
        let mut out = String::new();
        for i in 0..RUNS {
            let record = self.svc.record(&run_id(i)).await.unwrap();
            out.push_str(&format!("{}: {record:?}\n", run_id(i)));
        }
        let mut rows = Vec::new();
        self.svc.pending_runs(&mut rows).await.unwrap();
        let mut pending: Vec<String> = rows.iter().map(|r| r.run_id().to_owned()).collect();
        pending.sort();
        let mut rows = Vec::new();
        self.svc.active_runs(&mut rows).await.unwrap();
        let mut active: Vec<_> =
            rows.iter().map(|a| (a.run_id().to_owned(), a.session_id().to_owned(), a.status())).collect();
        active.sort();
        out.push_str(&format!("pending {pending:?}\nactive {active:?}\n"));
        out
    }
}

/// The reference and the store, side by side, at one time.
struct Pair {
    mem: Side<MemoryTaskService, MemoryPauseStore>,
    sql: Side<Tasks, Pause>,
    now: SystemTime,
}

impl Pair {
    fn new() -> Pair {
        let mem = MemoryTaskService::new();
        let pause = mem.pause_store().clone();
        let store = Store::open_in_memory().unwrap();
        Pair { mem: Side::new(mem, pause), sql: Side::new(store.tasks(), store.pause()), now: t(0) }
    }

    async fn apply(&mut self, op: &Op) -> (Answer, Answer) {
        if let Op::Advance { secs } = op {
            self.now += Duration::from_secs(u64::from(*secs));
        }
        (self.mem.apply(op, self.now).await, self.sql.apply(op, self.now).await)
    }

    async fn state(&self) -> (String, String) {
        (self.mem.state().await, self.sql.state().await)
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
        pair.sql.svc.claim(&ClaimRequest::session("s9"), Duration::from_secs(60), pair.now).await.unwrap().unwrap();
        let (mem, sql) = pair.state().await;
        assert_ne!(mem, sql);
    });
}
