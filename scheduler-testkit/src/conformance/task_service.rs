//! Task-service checks: claims, leases, tokens, recovery and the needs-attention
//! transition (`spec/task-service.md`).
//!
//! Every check takes a fresh, empty service (and, for the pause check, the pause store
//! its claims consult) and returns the first broken rule it found. Rule names:
//!
//! | check | rules |
//! | --- | --- |
//! | [`enqueue_and_read`] | `enqueue.queued`, `enqueue.join`, `status.unknown`, `status.batch` |
//! | [`claim_order`] | `claim.order`, `claim.lease`, `claim.leaves_pending`, `claim.token_fresh`, `claim.none_left` |
//! | [`claim_eligibility`] | `claim.eligibility`, `claim.skips_ineligible` |
//! | [`one_lease_per_session`] | `claim.one_lease_per_session` |
//! | [`claims_refused_while_paused`] | `claim.paused` |
//! | [`concurrent_claims_have_one_winner`] | `claim.exclusive` |
//! | [`wrong_token_is_refused`] | `token.wrong`, `token.secret`, `token.refusal_changes_nothing`, `token.unknown_run` |
//! | [`stale_token_is_refused`] | `token.stale`, `token.secret`, `token.refusal_changes_nothing` |
//! | [`lease_lifecycle`] | `lease.start`, `lease.heartbeat`, `lease.complete`, `lease.fail`, `lease.release` |
//! | [`heartbeat_extends_lease`] | `heartbeat.extends`, `recovery.at_lease_end` |
//! | [`recovery_order_and_limit`] | `recovery.order`, `recovery.limit`, `recovery.details`, `recovery.requeues`, `recovery.skips_live` |
//! | [`recovering_twice`] | `recovery.twice` |
//! | [`needs_attention_transition`] | `needs_attention.from_queued`, `needs_attention.invalid_transition` |

use std::fmt;
use std::time::{Duration, SystemTime};

use scheduler_core::model::{Priority, RunStatus, Scope, TaskStatus};
use scheduler_core::seam::Recovery;
use scheduler_core::view::{ActiveRunView, RecoveredView, RunView};

use super::{Check, ConformanceFailure, ErrorKind, LeaseService, PauseControl, RecoveredDetails, at, since_t0};
use crate::service::{Claim, ClaimCriteria, ClaimToken, RunRecord};
use crate::snapshot::{OwnerRef, RunSnapshot};

type Outcome = Result<(), ConformanceFailure>;

/// The lease every check claims with unless it says otherwise.
pub const LEASE: Duration = Duration::from_secs(60);

/// How many times [`concurrent_claims_have_one_winner`] races each way.
pub const RACE_REPETITIONS: usize = 32;

/// How many sessions race in each repetition.
pub const RACE_CLAIMANTS: usize = 8;

/// How many runs they race for in each repetition.
pub const RACE_RUNS: usize = 2;

const ACTOR: &str = "conformance";

/// Everything observable about a set of runs, to prove an operation changed nothing.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) struct Observed {
    pub(super) records: Vec<(String, Option<RunRecord>)>,
    pub(super) pending: Vec<String>,
    pub(super) active: Vec<(String, String, RunStatus)>,
}

pub(super) async fn pending_ids<S: LeaseService>(
    c: Check,
    svc: &S,
    rule: &'static str,
) -> Result<Vec<String>, ConformanceFailure> {
    let mut out = Vec::new();
    c.ok(svc.pending_runs(&mut out).await, rule, "pending_runs")?;
    let mut ids: Vec<String> = out.iter().map(|r| r.run_id().trim().to_owned()).collect();
    ids.sort();
    Ok(ids)
}

pub(super) async fn active_leases<S: LeaseService>(
    c: Check,
    svc: &S,
    rule: &'static str,
) -> Result<Vec<(String, String, RunStatus)>, ConformanceFailure> {
    let mut out = Vec::new();
    c.ok(svc.active_runs(&mut out).await, rule, "active_runs")?;
    let mut leases: Vec<_> = out
        .iter()
        .filter(|a| a.status().holds_session())
        .map(|a| (a.run_id().trim().to_owned(), a.session_id().trim().to_owned(), a.status()))
        .collect();
    leases.sort();
    Ok(leases)
}

pub(super) async fn record<S: LeaseService>(
    c: Check,
    svc: &S,
    run_id: &str,
    rule: &'static str,
) -> Result<Option<RunRecord>, ConformanceFailure> {
    c.ok(svc.record(run_id).await, rule, format_args!("record({run_id:?})"))
}

pub(super) async fn status<S: LeaseService>(
    c: Check,
    svc: &S,
    run_id: &str,
    rule: &'static str,
) -> Result<Option<RunStatus>, ConformanceFailure> {
    c.ok(svc.run_status(run_id).await, rule, format_args!("run_status({run_id:?})"))
}

pub(super) async fn observe<S: LeaseService>(
    c: Check,
    svc: &S,
    run_ids: &[&str],
    rule: &'static str,
) -> Result<Observed, ConformanceFailure> {
    let mut records = Vec::with_capacity(run_ids.len());
    for id in run_ids {
        records.push(((*id).to_owned(), record(c, svc, id, rule).await?));
    }
    Ok(Observed { records, pending: pending_ids(c, svc, rule).await?, active: active_leases(c, svc, rule).await? })
}

pub(super) async fn enqueue<S: LeaseService>(
    c: Check,
    svc: &S,
    run: &RunSnapshot,
    now: SystemTime,
    rule: &'static str,
) -> Result<(), ConformanceFailure> {
    c.ok(svc.enqueue(run, now).await, rule, format_args!("enqueue({:?})", run.run_id))
}

pub(super) async fn claim<S: LeaseService>(
    c: Check,
    svc: &S,
    criteria: &ClaimCriteria,
    lease: Duration,
    now: SystemTime,
    rule: &'static str,
) -> Result<Option<Claim>, ConformanceFailure> {
    c.ok(svc.claim(criteria, lease, now).await, rule, format_args!("claim by {:?}", criteria.session_id))
}

/// Claims and insists on winning `run_id`.
async fn claim_run<S: LeaseService>(
    c: Check,
    svc: &S,
    session: &str,
    run_id: &str,
    lease: Duration,
    now: SystemTime,
    rule: &'static str,
) -> Result<Claim, ConformanceFailure> {
    let got = claim(c, svc, &ClaimCriteria::session(session), lease, now, rule).await?;
    match got {
        Some(claim) if claim.run_id.trim() == run_id => Ok(claim),
        Some(claim) => Err(c.fail(rule, format!("{session:?} claimed {:?}, expected {run_id:?}", claim.run_id))),
        None => Err(c.fail(rule, format!("{session:?} claimed nothing, expected {run_id:?}"))),
    }
}

pub(super) async fn recover<S: LeaseService>(
    c: Check,
    svc: &S,
    now: SystemTime,
    reason: &str,
    limit: u32,
    rule: &'static str,
) -> Result<Vec<S::Recovered>, ConformanceFailure> {
    let mut out = Vec::new();
    let request = Recovery { now, reason, limit, actor: ACTOR };
    c.ok(svc.recover_expired_leases(request, &mut out).await, rule, "recover_expired_leases")?;
    Ok(out)
}

pub(super) fn recovered_ids<R: RecoveredView>(recovered: &[R]) -> Vec<String> {
    recovered.iter().map(|r| r.run_id().trim().to_owned()).collect()
}

/// A token-fenced operation.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Op {
    Start,
    Heartbeat,
    Complete,
    Fail,
    Release,
}

const OPS: [Op; 5] = [Op::Start, Op::Heartbeat, Op::Complete, Op::Fail, Op::Release];

impl fmt::Display for Op {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Op::Start => "start",
            Op::Heartbeat => "heartbeat",
            Op::Complete => "complete",
            Op::Fail => "fail",
            Op::Release => "release",
        })
    }
}

impl Op {
    async fn apply<S: LeaseService>(
        self,
        svc: &S,
        run_id: &str,
        token: &ClaimToken,
        now: SystemTime,
    ) -> Result<(), S::Error> {
        match self {
            Op::Start => svc.start(run_id, token, now).await,
            Op::Heartbeat => svc.heartbeat(run_id, token, LEASE, now).await.map(|_| ()),
            Op::Complete => svc.complete(run_id, token, now).await,
            Op::Fail => svc.fail(run_id, token, "conformance failure", now).await,
            Op::Release => svc.release(run_id, token, now).await,
        }
    }
}

/// One refused call: which operation, on which run, with which (described) token, and
/// what the refusal may be classified as.
struct Refusal<'a> {
    op: Op,
    run_id: &'a str,
    token: &'a ClaimToken,
    label: &'a str,
    accept: &'a [ErrorKind],
    rule: &'static str,
}

/// Calls a fenced operation that must be refused, and checks the refusal: its kind, that
/// nothing observable changed, and that no token leaked into the error.
async fn expect_refused<S: LeaseService>(
    c: Check,
    svc: &S,
    r: Refusal<'_>,
    watch: &[&str],
    secrets: &[&ClaimToken],
    now: SystemTime,
) -> Outcome {
    let before = observe(c, svc, watch, r.rule).await?;
    let (op, run_id, label) = (r.op, r.run_id, r.label);
    match op.apply(svc, run_id, r.token, now).await {
        Ok(()) => {
            return Err(c.fail(r.rule, format!("{op} of run {run_id:?} with {label} succeeded; it must be refused")));
        }
        Err(e) => {
            let kind = S::error_kind(&e);
            c.ensure(r.accept.contains(&kind), r.rule, || {
                format!(
                    "{op} of run {run_id:?} with {label} was refused as {kind:?} ({e}); expected one of {:?}",
                    r.accept
                )
            })?;
            let (display, debug) = (e.to_string(), format!("{e:?}"));
            for secret in secrets.iter().map(|t| t.expose_secret()).filter(|s| s.len() >= 4) {
                c.ensure(!display.contains(secret) && !debug.contains(secret), "token.secret", || {
                    format!("the error refusing {op} of run {run_id:?} with {label} contains a claim token")
                })?;
            }
        }
    }
    let after = observe(c, svc, watch, r.rule).await?;
    c.ensure(before == after, "token.refusal_changes_nothing", || {
        format!("refused {op} of run {run_id:?} with {label} changed the service: before {before:?}, after {after:?}")
    })
}

/// `enqueue.queued`, `enqueue.join`, `status.unknown`, `status.batch`: an enqueued run is
/// `queued` with queued-at = now and no lease, is pending joined with its task fields,
/// and status reads answer per id (`None` for an unknown run).
pub async fn enqueue_and_read<S: LeaseService>(svc: &S) -> Outcome {
    let c = Check("enqueue_and_read");
    let spec = RunSnapshot::queued("run-a", "task-a")
        .workspace("ws-1")
        .priority(Priority::Urgent)
        .channel("ch-1")
        .pool_owner("agent-7")
        .caps(["rust", "sqlite"])
        .task_status(TaskStatus::InProgress);
    enqueue(c, svc, &spec, at(0), "enqueue.queued").await?;
    enqueue(c, svc, &RunSnapshot::queued("run-b", "task-b"), at(1), "enqueue.queued").await?;

    c.eq(
        status(c, svc, "run-a", "enqueue.queued").await?,
        Some(RunStatus::Queued),
        "enqueue.queued",
        "status of run-a",
    )?;
    let expected = RunRecord { status: RunStatus::Queued, session_id: None, lease_until: None };
    c.eq(record(c, svc, "run-a", "enqueue.queued").await?, Some(expected), "enqueue.queued", "record of run-a")?;
    c.eq(
        pending_ids(c, svc, "enqueue.queued").await?,
        vec!["run-a".into(), "run-b".into()],
        "enqueue.queued",
        "pending",
    )?;
    c.eq(active_leases(c, svc, "enqueue.queued").await?, vec![], "enqueue.queued", "active runs")?;

    let mut pending = Vec::new();
    c.ok(svc.pending_runs(&mut pending).await, "enqueue.join", "pending_runs")?;
    let Some(a) = pending.iter().find(|r| r.run_id().trim() == "run-a") else {
        return Err(c.fail("enqueue.join", "run-a is not pending"));
    };
    c.eq(a.queued_at(), Some(at(0)), "enqueue.join", "queued-at of run-a")?;
    c.eq(a.run_status(), RunStatus::Queued, "enqueue.join", "run status of run-a")?;
    c.eq(a.task_id().trim(), "task-a", "enqueue.join", "task id of run-a")?;
    c.eq(a.task_status(), TaskStatus::InProgress, "enqueue.join", "task status of run-a")?;
    c.eq(a.priority(), Priority::Urgent, "enqueue.join", "priority of run-a")?;
    c.eq((a.scope(), a.workspace_id().trim()), (Scope::Workspace, "ws-1"), "enqueue.join", "scope of run-a")?;
    c.eq(a.channel().trim(), "ch-1", "enqueue.join", "channel of run-a")?;
    c.eq(a.owner(), scheduler_core::model::Owner::Pool("agent-7"), "enqueue.join", "owner of run-a")?;
    let mut caps: Vec<&str> = a.required_capabilities().map(str::trim).collect();
    caps.sort_unstable();
    c.eq(caps, vec!["rust", "sqlite"], "enqueue.join", "required capabilities of run-a")?;
    c.eq(a.task_paused(), false, "enqueue.join", "task paused flag of run-a")?;

    c.eq(status(c, svc, "no-such-run", "status.unknown").await?, None, "status.unknown", "status of an unknown run")?;
    c.eq(record(c, svc, "no-such-run", "status.unknown").await?, None, "status.unknown", "record of an unknown run")?;

    let mut statuses = Vec::new();
    let ids = ["run-b", "no-such-run", "run-a"];
    c.ok(svc.run_statuses(ids.into_iter(), &mut statuses).await, "status.batch", "run_statuses")?;
    let statuses: Vec<Option<RunStatus>> = statuses
        .into_iter()
        .map(|s| s.map_err(|e| c.fail("status.batch", format!("one status read failed: {e}"))))
        .collect::<Result<_, _>>()?;
    c.eq(statuses, vec![Some(RunStatus::Queued), None, Some(RunStatus::Queued)], "status.batch", "run_statuses")
}

/// `claim.order`, `claim.lease`, `claim.leaves_pending`, `claim.token_fresh`,
/// `claim.none_left`: claims take the highest priority first, then the oldest queued-at,
/// then the smallest run id; a claim leases the run to the session until
/// `now + lease` (status `claimed`, out of the pending runs, in the active runs) under a
/// fresh token; with nothing left, a claim answers `None`.
pub async fn claim_order<S: LeaseService>(svc: &S) -> Outcome {
    let c = Check("claim_order");
    let runs = [
        ("low-old", Priority::Low, 0),
        ("med-b", Priority::Medium, 20),
        ("med-a", Priority::Medium, 20),
        ("med-old", Priority::Medium, 10),
        ("urgent-new", Priority::Urgent, 30),
        ("high", Priority::High, 5),
    ];
    for (id, priority, queued) in runs {
        enqueue(c, svc, &RunSnapshot::queued(id, format!("task-{id}")).priority(priority), at(queued), "claim.order")
            .await?;
    }
    let expected = ["urgent-new", "high", "med-old", "med-a", "med-b", "low-old"];
    let now = at(40);
    let mut tokens: Vec<ClaimToken> = Vec::new();
    for (i, want) in expected.iter().enumerate() {
        let session = format!("sess-{i}");
        let Some(got) = claim(c, svc, &ClaimCriteria::session(&session), LEASE, now, "claim.order").await? else {
            return Err(c.fail("claim.order", format!("claim {} by {session:?} got nothing, expected {want:?}", i + 1)));
        };
        c.eq(got.run_id.trim(), *want, "claim.order", format_args!("run won by claim {}", i + 1))?;
        c.eq(got.session_id.trim(), session.as_str(), "claim.lease", "session of the claim")?;
        c.eq(got.lease_until, now + LEASE, "claim.lease", "lease end of the claim")?;
        let expected_record =
            RunRecord { status: RunStatus::Claimed, session_id: Some(session.clone()), lease_until: Some(now + LEASE) };
        c.eq(record(c, svc, want, "claim.lease").await?, Some(expected_record), "claim.lease", "record after claim")?;
        c.eq(
            status(c, svc, want, "claim.lease").await?,
            Some(RunStatus::Claimed),
            "claim.lease",
            "status after claim",
        )?;
        let pending = pending_ids(c, svc, "claim.leaves_pending").await?;
        c.ensure(!pending.iter().any(|p| p == want), "claim.leaves_pending", || {
            format!("claimed run {want:?} is still pending: {pending:?}")
        })?;
        let active = active_leases(c, svc, "claim.lease").await?;
        c.ensure(active.contains(&((*want).to_owned(), session.clone(), RunStatus::Claimed)), "claim.lease", || {
            format!("claimed run {want:?} is not an active run of {session:?}: {active:?}")
        })?;
        c.ensure(!got.token.expose_secret().is_empty(), "claim.token_fresh", || "the claim token is empty".into())?;
        c.ensure(!tokens.contains(&got.token), "claim.token_fresh", || format!("claim {} reused a token", i + 1))?;
        tokens.push(got.token);
    }
    let last = claim(c, svc, &ClaimCriteria::session("sess-last"), LEASE, now, "claim.none_left").await?;
    c.ensure(last.is_none(), "claim.none_left", || format!("a claim with nothing queued won {last:?}"))
}

struct Case {
    name: &'static str,
    run: RunSnapshot,
    criteria: ClaimCriteria,
    eligible: bool,
}

/// One claim per case; each case's run and session share a capability no other case
/// has, so cases cannot interfere.
fn eligibility_cases() -> Vec<Case> {
    type Edit = fn(RunSnapshot, ClaimCriteria, &str) -> (RunSnapshot, ClaimCriteria);
    let table: Vec<(&'static str, bool, Edit)> = vec![
        ("global run, global session", true, |r, s, _| (r, s)),
        ("paused task", false, |r, s, _| (r.paused(), s)),
        ("draft task", false, |r, s, _| (r.task_status(TaskStatus::Draft), s)),
        ("blocked task", false, |r, s, _| (r.task_status(TaskStatus::Blocked), s)),
        ("canceled task", false, |r, s, _| (r.task_status(TaskStatus::Canceled), s)),
        ("pending task", true, |r, s, _| (r.task_status(TaskStatus::Pending), s)),
        ("in-progress task", true, |r, s, _| (r.task_status(TaskStatus::InProgress), s)),
        ("workspace task, same workspace", true, |r, s, _| (r.workspace("ws-1"), s.workspace("ws-1"))),
        ("workspace task, other workspace", false, |r, s, _| (r.workspace("ws-1"), s.workspace("ws-2"))),
        ("workspace task, global session", false, |r, s, _| (r.workspace("ws-1"), s)),
        ("global task, workspace session", false, |r, s, _| (r, s.workspace("ws-1"))),
        ("workspace task without a workspace id", false, |r, s, _| (r.scope(Scope::Workspace, ""), s)),
        ("channel run, same channel", true, |r, s, _| (r.channel("ch-1"), s.channel("ch-1"))),
        ("channel run, other channel", false, |r, s, _| (r.channel("ch-1"), s.channel("ch-2"))),
        ("channel run, session on no channel", false, |r, s, _| (r.channel("ch-1"), s)),
        ("run without channel, session on a channel", true, |r, s, _| (r, s.channel("ch-9"))),
        ("pool owner, same agent", true, |r, s, _| (r.pool_owner("agent-x"), s.agent("agent-x"))),
        ("pool owner, other agent", false, |r, s, _| (r.pool_owner("agent-x"), s.agent("agent-y"))),
        ("pool owner with an empty ref", false, |r, s, _| (r.pool_owner(" "), s.agent(""))),
        ("session owner, this session", true, |r, s, _| {
            let id = s.session_id.clone();
            (r.session_owner(id), s)
        }),
        ("session owner, other session", false, |r, s, _| (r.session_owner("someone-else"), s)),
        ("unknown owner kind", false, |r, s, _| (r.owner(OwnerRef::Unknown), s)),
        ("missing capability", false, |r, s, cap| (r.caps([cap, "gpu"]), s)),
        ("capabilities covered", true, |r, s, cap| (r.caps([cap, "gpu"]), s.caps([cap, "gpu", "extra"]))),
        ("capability names trimmed", true, |r, s, cap| (r.caps([cap, " gpu "]), s.caps([cap, "gpu"]))),
        ("empty capability names ignored", true, |r, s, cap| (r.caps([cap, "", " "]), s)),
    ];
    table
        .into_iter()
        .enumerate()
        .map(|(n, (name, eligible, edit))| {
            let cap = format!("case-{n}");
            let run = RunSnapshot::queued(format!("elig-{n}"), format!("task-elig-{n}")).caps([cap.as_str()]);
            let criteria = ClaimCriteria::session(format!("sess-elig-{n}")).caps([cap.as_str()]);
            let (run, criteria) = edit(run, criteria, &cap);
            Case { name, run, criteria, eligible }
        })
        .collect()
}

/// `claim.eligibility`, `claim.skips_ineligible`: a session claims exactly the runs the
/// scheduler's eligibility rules allow it (task status and pause, scope, channel,
/// owner, capabilities), and a better run it may not take does not hide a worse one it
/// may.
pub async fn claim_eligibility<S: LeaseService>(svc: &S) -> Outcome {
    let c = Check("claim_eligibility");
    let rule = "claim.eligibility";
    for case in eligibility_cases() {
        let run_id = case.run.run_id.clone();
        enqueue(c, svc, &case.run, at(0), rule).await?;
        let got = claim(c, svc, &case.criteria, LEASE, at(1), rule).await?;
        match (case.eligible, got) {
            (true, Some(claim)) => {
                c.eq(claim.run_id.trim(), run_id.as_str(), rule, format_args!("case {:?}", case.name))?
            }
            (true, None) => {
                return Err(c.fail(
                    rule,
                    format!("case {:?}: the session could not claim a run it is eligible for", case.name),
                ));
            }
            (false, Some(claim)) => {
                return Err(c.fail(
                    rule,
                    format!(
                        "case {:?}: the session claimed {:?}, which it is not eligible for",
                        case.name, claim.run_id
                    ),
                ));
            }
            (false, None) => {
                let st = status(c, svc, &run_id, rule).await?;
                c.eq(
                    st,
                    Some(RunStatus::Queued),
                    rule,
                    format_args!("case {:?}: status after a refused claim", case.name),
                )?;
            }
        }
    }

    let rule = "claim.skips_ineligible";
    let urgent =
        RunSnapshot::queued("skip-urgent", "task-skip-urgent").priority(Priority::Urgent).caps(["skip", "gpu"]);
    let low = RunSnapshot::queued("skip-low", "task-skip-low").priority(Priority::Low).caps(["skip"]);
    enqueue(c, svc, &urgent, at(0), rule).await?;
    enqueue(c, svc, &low, at(0), rule).await?;
    let got = claim(c, svc, &ClaimCriteria::session("sess-skip").caps(["skip"]), LEASE, at(1), rule).await?;
    c.eq(
        got.map(|g| g.run_id.trim().to_owned()),
        Some("skip-low".to_owned()),
        rule,
        "run claimed past an ineligible one",
    )
}

/// `claim.one_lease_per_session`: a session that holds a live lease cannot claim a
/// second run (refused as [`ErrorKind::SessionBusy`], nothing changed); once its run
/// ends it can claim again.
pub async fn one_lease_per_session<S: LeaseService>(svc: &S) -> Outcome {
    let c = Check("one_lease_per_session");
    let rule = "claim.one_lease_per_session";
    for (id, p) in [("run-a", Priority::High), ("run-b", Priority::Medium), ("run-c", Priority::Low)] {
        enqueue(c, svc, &RunSnapshot::queued(id, format!("task-{id}")).priority(p), at(0), rule).await?;
    }
    let a = claim_run(c, svc, "sess-1", "run-a", LEASE, at(1), rule).await?;
    let before = observe(c, svc, &["run-a", "run-b", "run-c"], rule).await?;
    match svc.claim(&ClaimCriteria::session("sess-1"), LEASE, at(2)).await {
        Ok(Some(second)) => {
            return Err(c.fail(rule, format!("sess-1 holds run-a and still claimed {:?}", second.run_id)));
        }
        Ok(None) => return Err(c.fail(rule, "sess-1 holds run-a; its second claim must be refused, not answer None")),
        Err(e) => {
            let kind = S::error_kind(&e);
            c.eq(kind, ErrorKind::SessionBusy, rule, format_args!("kind of the refusal ({e})"))?;
        }
    }
    let after = observe(c, svc, &["run-a", "run-b", "run-c"], rule).await?;
    c.ensure(before == after, rule, || format!("the refused claim changed the service: {before:?} -> {after:?}"))?;
    claim_run(c, svc, "sess-2", "run-b", LEASE, at(3), rule).await?;
    c.ok(svc.complete("run-a", &a.token, at(4)).await, rule, "complete run-a")?;
    claim_run(c, svc, "sess-1", "run-c", LEASE, at(5), rule).await?;
    Ok(())
}

/// `claim.paused`: while the scheduler-wide pause is on, claims are refused (as
/// [`ErrorKind::Paused`]) and change nothing; after resuming they succeed.
pub async fn claims_refused_while_paused<S: LeaseService, P: PauseControl>(svc: &S, pause: &P) -> Outcome {
    let c = Check("claims_refused_while_paused");
    let rule = "claim.paused";
    enqueue(c, svc, &RunSnapshot::queued("run-a", "task-a"), at(0), rule).await?;
    c.ok(pause.pause("operator", at(1), "maintenance").await, rule, "pause")?;
    let before = observe(c, svc, &["run-a"], rule).await?;
    match svc.claim(&ClaimCriteria::session("sess-1"), LEASE, at(2)).await {
        Ok(Some(got)) => return Err(c.fail(rule, format!("a claim while paused won {:?}", got.run_id))),
        Ok(None) => return Err(c.fail(rule, "a claim while paused answered None; it must be refused as paused")),
        Err(e) => c.eq(S::error_kind(&e), ErrorKind::Paused, rule, format_args!("kind of the refusal ({e})"))?,
    }
    let after = observe(c, svc, &["run-a"], rule).await?;
    c.ensure(before == after, rule, || format!("the refused claim changed the service: {before:?} -> {after:?}"))?;
    c.ok(pause.resume().await, rule, "resume")?;
    claim_run(c, svc, "sess-1", "run-a", LEASE, at(3), rule).await?;
    Ok(())
}

/// Checks one race: exactly `min(runs, claimants)` winners, on distinct runs, each
/// recorded as leased to its winner.
async fn check_race<S: LeaseService>(
    c: Check,
    svc: &S,
    how: &str,
    rep: usize,
    results: Vec<Result<Option<Claim>, String>>,
) -> Outcome {
    let rule = "claim.exclusive";
    let mut winners = Vec::new();
    for result in results {
        match result {
            Ok(Some(claim)) => winners.push(claim),
            Ok(None) => {}
            Err(e) => return Err(c.fail(rule, format!("{how}, repetition {rep}: a claim failed: {e}"))),
        }
    }
    let mut runs: Vec<&str> = winners.iter().map(|w| w.run_id.trim()).collect();
    runs.sort_unstable();
    runs.dedup();
    c.ensure(runs.len() == winners.len(), rule, || {
        let pairs: Vec<_> = winners.iter().map(|w| (w.run_id.as_str(), w.session_id.as_str())).collect();
        format!("{how}, repetition {rep}: one run was won by more than one session: {pairs:?}")
    })?;
    c.ensure(winners.len() == RACE_RUNS.min(RACE_CLAIMANTS), rule, || {
        format!(
            "{how}, repetition {rep}: {} of {RACE_CLAIMANTS} racing sessions won, for {RACE_RUNS} runs",
            winners.len()
        )
    })?;
    for w in &winners {
        let rec = record(c, svc, &w.run_id, rule).await?;
        let holder = rec.as_ref().and_then(|r| r.session_id.clone());
        c.ensure(holder.as_deref() == Some(w.session_id.trim()), rule, || {
            format!("{how}, repetition {rep}: {:?} won {:?} but the run is recorded as {rec:?}", w.session_id, w.run_id)
        })?;
    }
    Ok(())
}

/// Enqueues the runs of one race and returns the racing sessions' criteria.
async fn prepare_race<S: LeaseService>(c: Check, svc: &S, tag: &str) -> Result<Vec<ClaimCriteria>, ConformanceFailure> {
    let cap = format!("race-{tag}");
    for r in 0..RACE_RUNS {
        let run = RunSnapshot::queued(format!("{cap}-run-{r}"), format!("{cap}-task-{r}")).caps([cap.as_str()]);
        enqueue(c, svc, &run, at(0), "claim.exclusive").await?;
    }
    Ok((0..RACE_CLAIMANTS).map(|k| ClaimCriteria::session(format!("{cap}-sess-{k}")).caps([cap.as_str()])).collect())
}

/// Starts every claim at once from tokio tasks (inside a tokio runtime) or OS threads.
async fn race_in_parallel<S>(
    svc: &S,
    claimants: Vec<ClaimCriteria>,
) -> (&'static str, Vec<Result<Option<Claim>, String>>)
where
    S: LeaseService + Clone + 'static,
{
    #[cfg(feature = "tokio")]
    if let Ok(handle) = tokio::runtime::Handle::try_current() {
        let barrier = std::sync::Arc::new(tokio::sync::Barrier::new(claimants.len()));
        let tasks: Vec<_> = claimants
            .into_iter()
            .map(|criteria| {
                let (svc, barrier) = (svc.clone(), barrier.clone());
                handle.spawn(async move {
                    barrier.wait().await;
                    svc.claim(&criteria, LEASE, at(1)).await.map_err(|e| e.to_string())
                })
            })
            .collect();
        let mut results = Vec::with_capacity(tasks.len());
        for task in tasks {
            results.push(task.await.unwrap_or_else(|e| Err(format!("claim task failed: {e}"))));
        }
        return ("tokio tasks", results);
    }
    let barrier = std::sync::Barrier::new(claimants.len());
    let results = std::thread::scope(|scope| {
        let threads: Vec<_> = claimants
            .iter()
            .map(|criteria| {
                let barrier = &barrier;
                scope.spawn(move || {
                    barrier.wait();
                    futures::executor::block_on(svc.claim(criteria, LEASE, at(1))).map_err(|e| e.to_string())
                })
            })
            .collect();
        threads.into_iter().map(|t| t.join().unwrap_or_else(|_| Err("claim thread panicked".to_owned()))).collect()
    });
    ("threads", results)
}

/// `claim.exclusive`: two concurrent claims never both win the same run. Over
/// [`RACE_REPETITIONS`] repetitions each way, [`RACE_CLAIMANTS`] sessions claim at once
/// for [`RACE_RUNS`] runs; exactly that many win, on distinct runs, each recorded as
/// its winner's. First the claims are polled together in this task (`join_all`), then
/// started at once from tokio tasks (inside a tokio runtime with the `tokio` feature)
/// or OS threads.
pub async fn concurrent_claims_have_one_winner<S>(svc: &S) -> Outcome
where
    S: LeaseService + Clone + 'static,
{
    let c = Check("concurrent_claims_have_one_winner");
    for rep in 0..RACE_REPETITIONS {
        let claimants = prepare_race(c, svc, &format!("joined-{rep}")).await?;
        let claims = claimants.iter().map(|criteria| svc.claim(criteria, LEASE, at(1)));
        let results =
            futures::future::join_all(claims).await.into_iter().map(|r| r.map_err(|e| e.to_string())).collect();
        check_race(c, svc, "claims polled together", rep, results).await?;
    }
    for rep in 0..RACE_REPETITIONS {
        let claimants = prepare_race(c, svc, &format!("parallel-{rep}")).await?;
        let (how, results) = race_in_parallel(svc, claimants).await;
        check_race(c, svc, how, rep, results).await?;
    }
    Ok(())
}

/// `token.wrong`, `token.secret`, `token.refusal_changes_nothing`, `token.unknown_run`:
/// every fenced operation refuses a token that is not the run's current one (another
/// run's valid token, a forged one, an empty one, the real one with a byte added) as
/// [`ErrorKind::TokenRejected`], changes nothing, and keeps tokens out of the error; an
/// unknown run is [`ErrorKind::UnknownRun`]; the right token works.
pub async fn wrong_token_is_refused<S: LeaseService>(svc: &S) -> Outcome {
    let c = Check("wrong_token_is_refused");
    let rule = "token.wrong";
    enqueue(c, svc, &RunSnapshot::queued("run-a", "task-a").priority(Priority::High), at(0), rule).await?;
    enqueue(c, svc, &RunSnapshot::queued("run-b", "task-b").priority(Priority::Low), at(0), rule).await?;
    let a = claim_run(c, svc, "sess-a", "run-a", LEASE, at(1), rule).await?;
    let b = claim_run(c, svc, "sess-b", "run-b", LEASE, at(1), rule).await?;
    let extended = ClaimToken::new(format!("{}x", a.token.expose_secret()));
    let forged = ClaimToken::new("ct_00000000000000000000000000000000");
    let empty = ClaimToken::new("");
    let bad: [(&ClaimToken, &str); 4] = [
        (&b.token, "another run's token"),
        (&forged, "a forged token"),
        (&empty, "an empty token"),
        (&extended, "the right token with a byte added"),
    ];
    let secrets = [&a.token, &b.token, &extended];
    for op in OPS {
        for (token, label) in bad {
            let refusal = Refusal { op, run_id: "run-a", token, label, accept: &[ErrorKind::TokenRejected], rule };
            expect_refused(c, svc, refusal, &["run-a", "run-b"], &secrets, at(2)).await?;
        }
    }
    for op in OPS {
        match op.apply(svc, "no-such-run", &a.token, at(2)).await {
            Ok(()) => return Err(c.fail("token.unknown_run", format!("{op} of an unknown run succeeded"))),
            Err(e) => {
                c.eq(S::error_kind(&e), ErrorKind::UnknownRun, "token.unknown_run", format_args!("{op} ({e})"))?
            }
        }
    }
    c.ok(svc.start("run-a", &a.token, at(3)).await, rule, "start of run-a with its own token")?;
    c.ok(svc.complete("run-b", &b.token, at(3)).await, rule, "complete of run-b with its own token")?;
    Ok(())
}

/// `token.stale`, `token.secret`, `token.refusal_changes_nothing`: a token goes stale
/// when its lease ends: after a release, after recovery of the expired lease, and after
/// the run completes. A stale token is refused and changes nothing, whether the run was
/// claimed again meanwhile (then as [`ErrorKind::TokenRejected`]) or not (then as
/// [`ErrorKind::TokenRejected`] or [`ErrorKind::InvalidTransition`]).
pub async fn stale_token_is_refused<S: LeaseService>(svc: &S) -> Outcome {
    let c = Check("stale_token_is_refused");
    let rule = "token.stale";
    let rejected_or_invalid = [ErrorKind::TokenRejected, ErrorKind::InvalidTransition];
    let rejected = [ErrorKind::TokenRejected];
    enqueue(c, svc, &RunSnapshot::queued("run-a", "task-a"), at(0), rule).await?;

    // Released: the run is queued again and the old token is stale.
    let first = claim_run(c, svc, "sess-1", "run-a", LEASE, at(1), rule).await?;
    c.ok(svc.release("run-a", &first.token, at(2)).await, rule, "release")?;
    for op in OPS {
        let refusal = Refusal {
            op,
            run_id: "run-a",
            token: &first.token,
            label: "the token of a released lease",
            accept: &rejected_or_invalid,
            rule,
        };
        expect_refused(c, svc, refusal, &["run-a"], &[&first.token], at(3)).await?;
    }

    // Claimed again: the old token is not the new lease's.
    let second = claim_run(c, svc, "sess-2", "run-a", LEASE, at(4), rule).await?;
    for op in OPS {
        let refusal = Refusal {
            op,
            run_id: "run-a",
            token: &first.token,
            label: "the token of an earlier lease",
            accept: &rejected,
            rule,
        };
        expect_refused(c, svc, refusal, &["run-a"], &[&first.token, &second.token], at(5)).await?;
    }

    // Recovered after expiry, then claimed again.
    let recovered = recover(c, svc, at(4) + LEASE, "conformance_sweep", 0, rule).await?;
    c.eq(recovered_ids(&recovered), vec!["run-a".to_owned()], rule, "runs recovered after the lease ended")?;
    let third = claim_run(c, svc, "sess-3", "run-a", LEASE, at(70), rule).await?;
    for op in OPS {
        let refusal = Refusal {
            op,
            run_id: "run-a",
            token: &second.token,
            label: "the token of a recovered lease",
            accept: &rejected,
            rule,
        };
        expect_refused(c, svc, refusal, &["run-a"], &[&second.token, &third.token], at(71)).await?;
    }

    // Completed: the run's last token is stale too.
    c.ok(svc.complete("run-a", &third.token, at(72)).await, rule, "complete")?;
    for op in OPS {
        let refusal = Refusal {
            op,
            run_id: "run-a",
            token: &third.token,
            label: "the token of a completed run",
            accept: &rejected_or_invalid,
            rule,
        };
        expect_refused(c, svc, refusal, &["run-a"], &[&third.token], at(73)).await?;
    }
    Ok(())
}

/// `lease.start`, `lease.heartbeat`, `lease.complete`, `lease.fail`, `lease.release`:
/// `start` moves `claimed` to `running`; `heartbeat` extends the lease to `now + lease`;
/// `complete` and `fail` end the run and free the session; `release` returns the run
/// to the queue, claimable again.
pub async fn lease_lifecycle<S: LeaseService>(svc: &S) -> Outcome {
    let c = Check("lease_lifecycle");
    for (id, p) in [("run-a", Priority::Urgent), ("run-b", Priority::High), ("run-c", Priority::Medium)] {
        enqueue(c, svc, &RunSnapshot::queued(id, format!("task-{id}")).priority(p), at(0), "lease.start").await?;
    }
    enqueue(c, svc, &RunSnapshot::queued("run-d", "task-d").priority(Priority::Low), at(0), "lease.start").await?;

    let rule = "lease.start";
    let a = claim_run(c, svc, "sess-a", "run-a", LEASE, at(1), rule).await?;
    c.ok(svc.start("run-a", &a.token, at(2)).await, rule, "start")?;
    let running =
        RunRecord { status: RunStatus::Running, session_id: Some("sess-a".into()), lease_until: Some(at(1) + LEASE) };
    c.eq(record(c, svc, "run-a", rule).await?, Some(running), rule, "record after start")?;
    let active = active_leases(c, svc, rule).await?;
    c.ensure(active.contains(&("run-a".into(), "sess-a".into(), RunStatus::Running)), rule, || {
        format!("a started run is not an active running run of its session: {active:?}")
    })?;

    let rule = "lease.heartbeat";
    let until = c.ok(svc.heartbeat("run-a", &a.token, Duration::from_secs(90), at(30)).await, rule, "heartbeat")?;
    c.eq(until, at(120), rule, "lease end returned by the heartbeat")?;
    let rec = record(c, svc, "run-a", rule).await?;
    c.eq(rec.and_then(|r| r.lease_until), Some(at(120)), rule, "lease end recorded after the heartbeat")?;

    let rule = "lease.complete";
    c.ok(svc.complete("run-a", &a.token, at(40)).await, rule, "complete")?;
    let done = RunRecord { status: RunStatus::Completed, session_id: None, lease_until: None };
    c.eq(record(c, svc, "run-a", rule).await?, Some(done), rule, "record after complete")?;
    c.ensure(!pending_ids(c, svc, rule).await?.contains(&"run-a".into()), rule, || {
        "a completed run is pending".into()
    })?;
    c.ensure(!active_leases(c, svc, rule).await?.iter().any(|l| l.0 == "run-a"), rule, || {
        "a completed run still holds its session".into()
    })?;
    claim_run(c, svc, "sess-a", "run-b", LEASE, at(41), rule).await.map_err(|mut f| {
        f.detail = format!("the session of a completed run cannot claim again: {}", f.detail);
        f
    })?;

    let rule = "lease.fail";
    let c_claim = claim_run(c, svc, "sess-c", "run-c", LEASE, at(42), rule).await?;
    c.ok(svc.start("run-c", &c_claim.token, at(43)).await, rule, "start")?;
    c.ok(svc.fail("run-c", &c_claim.token, "it broke", at(44)).await, rule, "fail")?;
    let failed = RunRecord { status: RunStatus::Failed, session_id: None, lease_until: None };
    c.eq(record(c, svc, "run-c", rule).await?, Some(failed), rule, "record after fail")?;
    c.ensure(!pending_ids(c, svc, rule).await?.contains(&"run-c".into()), rule, || "a failed run is pending".into())?;

    let rule = "lease.release";
    let d = claim_run(c, svc, "sess-c", "run-d", LEASE, at(45), rule).await?;
    c.ok(svc.release("run-d", &d.token, at(46)).await, rule, "release")?;
    let queued = RunRecord { status: RunStatus::Queued, session_id: None, lease_until: None };
    c.eq(record(c, svc, "run-d", rule).await?, Some(queued), rule, "record after release")?;
    c.ensure(pending_ids(c, svc, rule).await?.contains(&"run-d".into()), rule, || {
        "a released run is not pending".into()
    })?;
    claim_run(c, svc, "sess-d", "run-d", LEASE, at(47), rule).await?;
    Ok(())
}

/// `heartbeat.extends`, `recovery.at_lease_end`: a heartbeat after the claim moves the
/// lease end, so a sweep between the old and the new end leaves the run leased; a sweep
/// at exactly the new end recovers it (`lease_until <= now` is expired).
pub async fn heartbeat_extends_lease<S: LeaseService>(svc: &S) -> Outcome {
    let c = Check("heartbeat_extends_lease");
    let rule = "heartbeat.extends";
    enqueue(c, svc, &RunSnapshot::queued("run-a", "task-a"), at(0), rule).await?;
    let a = claim_run(c, svc, "sess-a", "run-a", LEASE, at(0), rule).await?;
    c.ok(svc.start("run-a", &a.token, at(1)).await, rule, "start")?;
    let until = c.ok(svc.heartbeat("run-a", &a.token, LEASE, at(50)).await, rule, "heartbeat")?;
    c.eq(until, at(110), rule, "lease end after the heartbeat")?;
    let recovered = recover(c, svc, at(70), "conformance_sweep", 0, rule).await?;
    c.ensure(recovered.is_empty(), rule, || {
        format!("a sweep at T0+70s recovered {:?}, whose lease was extended to T0+110s", recovered_ids(&recovered))
    })?;
    let rec = record(c, svc, "run-a", rule).await?;
    let expected =
        RunRecord { status: RunStatus::Running, session_id: Some("sess-a".into()), lease_until: Some(at(110)) };
    c.eq(rec, Some(expected), rule, "record after the sweep")?;
    let rule = "recovery.at_lease_end";
    let recovered = recover(c, svc, at(110), "conformance_sweep", 0, rule).await?;
    c.eq(recovered_ids(&recovered), vec!["run-a".to_owned()], rule, "runs recovered at exactly the lease end")
}

/// `recovery.order`, `recovery.limit`, `recovery.details`, `recovery.requeues`,
/// `recovery.skips_live`: the sweep recovers the expired leases oldest lease end first,
/// at most `limit` (0: no limit), reports each run's previous status, session, lease
/// end and the reason, returns the runs to the queue without a session (claimable
/// again), and leaves unexpired leases alone.
pub async fn recovery_order_and_limit<S: LeaseService>(svc: &S) -> Outcome {
    let c = Check("recovery_order_and_limit");
    let rule = "recovery.order";
    // Claimed in id order (same priority and queued-at), with leases ending out of order.
    let leases = [("run-1", 40), ("run-2", 10), ("run-3", 30), ("run-4", 20), ("run-5", 500)];
    for (id, _) in leases {
        enqueue(c, svc, &RunSnapshot::queued(id, format!("task-{id}")), at(0), rule).await?;
    }
    let mut claims = Vec::new();
    for (n, (id, secs)) in leases.into_iter().enumerate() {
        let session = format!("sess-{}", n + 1);
        claims.push(claim_run(c, svc, &session, id, Duration::from_secs(secs), at(0), rule).await?);
    }
    c.ok(svc.start("run-3", &claims[2].token, at(1)).await, rule, "start run-3")?;

    let first = recover(c, svc, at(100), "conformance_sweep", 2, rule).await?;
    c.eq(
        recovered_ids(&first),
        vec!["run-2".to_owned(), "run-4".to_owned()],
        "recovery.limit",
        "first sweep (limit 2)",
    )?;
    let r2 = &first[0];
    let rule = "recovery.details";
    c.eq(r2.previous_session_id().trim(), "sess-2", rule, "previous session of run-2")?;
    c.eq(r2.previous_status(), RunStatus::Claimed, rule, "previous status of run-2")?;
    c.eq(r2.reason(), "conformance_sweep", rule, "reason of run-2")?;
    if let Some(until) = r2.previous_lease_until() {
        c.ensure(until == at(10), rule, || {
            format!("previous lease end of run-2: expected T0+10s, got {}", since_t0(until))
        })?;
    }
    let rule = "recovery.requeues";
    let queued = RunRecord { status: RunStatus::Queued, session_id: None, lease_until: None };
    c.eq(record(c, svc, "run-2", rule).await?, Some(queued.clone()), rule, "record of recovered run-2")?;
    c.eq(status(c, svc, "run-2", rule).await?, Some(RunStatus::Queued), rule, "status of recovered run-2")?;
    c.ensure(pending_ids(c, svc, rule).await?.contains(&"run-2".into()), rule, || "run-2 is not pending".into())?;
    c.ensure(!active_leases(c, svc, rule).await?.iter().any(|l| l.0 == "run-2"), rule, || {
        "recovered run-2 still holds its session".into()
    })?;

    let second = recover(c, svc, at(100), "conformance_sweep", 0, "recovery.order").await?;
    c.eq(
        recovered_ids(&second),
        vec!["run-3".to_owned(), "run-1".to_owned()],
        "recovery.order",
        "second sweep (no limit)",
    )?;
    c.eq(second[0].previous_status(), RunStatus::Running, "recovery.details", "previous status of started run-3")?;
    let rule = "recovery.skips_live";
    let live = RunRecord { status: RunStatus::Claimed, session_id: Some("sess-5".into()), lease_until: Some(at(500)) };
    c.eq(record(c, svc, "run-5", rule).await?, Some(live), rule, "record of run-5, whose lease has not ended")?;

    let rule = "recovery.requeues";
    claim_run(c, svc, "sess-new", "run-1", LEASE, at(101), rule).await.map_err(|mut f| {
        f.detail = format!("recovered runs must be claimable again: {}", f.detail);
        f
    })?;
    Ok(())
}

/// `recovery.twice`: a second sweep at the same time recovers nothing and changes
/// nothing.
pub async fn recovering_twice<S: LeaseService>(svc: &S) -> Outcome {
    let c = Check("recovering_twice");
    let rule = "recovery.twice";
    for id in ["run-a", "run-b"] {
        enqueue(c, svc, &RunSnapshot::queued(id, format!("task-{id}")), at(0), rule).await?;
    }
    claim_run(c, svc, "sess-a", "run-a", Duration::from_secs(10), at(0), rule).await?;
    claim_run(c, svc, "sess-b", "run-b", Duration::from_secs(10), at(0), rule).await?;
    let first = recover(c, svc, at(10), "conformance_sweep", 0, rule).await?;
    c.eq(first.len(), 2, rule, "runs recovered by the first sweep")?;
    let before = observe(c, svc, &["run-a", "run-b"], rule).await?;
    let second = recover(c, svc, at(10), "conformance_sweep", 0, rule).await?;
    c.ensure(second.is_empty(), rule, || format!("the second sweep recovered {:?}", recovered_ids(&second)))?;
    let third = recover(c, svc, at(1_000), "conformance_sweep", 0, rule).await?;
    c.ensure(third.is_empty(), rule, || format!("a later sweep recovered {:?}", recovered_ids(&third)))?;
    let after = observe(c, svc, &["run-a", "run-b"], rule).await?;
    c.ensure(before == after, rule, || {
        format!("a sweep with nothing to recover changed the service: {before:?} -> {after:?}")
    })
}

/// `needs_attention.from_queued`, `needs_attention.invalid_transition`: only a `queued`
/// run may move to `needs_attention` (it then leaves the pending runs and cannot be
/// claimed); a claimed, completed or already marked run answers
/// [`ErrorKind::InvalidTransition`] and is unchanged; an unknown run is refused.
pub async fn needs_attention_transition<S: LeaseService>(svc: &S) -> Outcome {
    let c = Check("needs_attention_transition");
    let rule = "needs_attention.from_queued";
    enqueue(c, svc, &RunSnapshot::queued("run-q", "task-q").caps(["attention"]), at(0), rule).await?;
    enqueue(c, svc, &RunSnapshot::queued("run-c", "task-c").priority(Priority::High), at(0), rule).await?;
    enqueue(c, svc, &RunSnapshot::queued("run-d", "task-d"), at(0), rule).await?;
    let claimed = claim_run(c, svc, "sess-c", "run-c", LEASE, at(1), rule).await?;
    let done = claim_run(c, svc, "sess-d", "run-d", LEASE, at(1), rule).await?;
    c.ok(svc.complete("run-d", &done.token, at(2)).await, rule, "complete run-d")?;

    c.ok(svc.mark_needs_attention("run-q", "run queued 600s without a claim", at(3)).await, rule, "mark run-q")?;
    c.eq(status(c, svc, "run-q", rule).await?, Some(RunStatus::NeedsAttention), rule, "status of marked run-q")?;
    c.ensure(!pending_ids(c, svc, rule).await?.contains(&"run-q".into()), rule, || {
        "a needs-attention run is pending".into()
    })?;
    let got = claim(c, svc, &ClaimCriteria::session("sess-q").caps(["attention"]), LEASE, at(4), rule).await?;
    c.ensure(got.is_none(), rule, || format!("a needs-attention run was claimed: {got:?}"))?;

    let rule = "needs_attention.invalid_transition";
    for (run_id, what) in [("run-q", "an already marked run"), ("run-c", "a claimed run"), ("run-d", "a completed run")]
    {
        let before = observe(c, svc, &[run_id], rule).await?;
        match svc.mark_needs_attention(run_id, "again", at(5)).await {
            Ok(()) => return Err(c.fail(rule, format!("marking {what} succeeded"))),
            Err(e) => {
                c.eq(S::error_kind(&e), ErrorKind::InvalidTransition, rule, format_args!("marking {what} ({e})"))?
            }
        }
        let after = observe(c, svc, &[run_id], rule).await?;
        c.ensure(before == after, rule, || format!("the refused mark of {what} changed it: {before:?} -> {after:?}"))?;
    }
    c.ok(svc.heartbeat("run-c", &claimed.token, LEASE, at(6)).await, rule, "heartbeat of the claimed run")?;
    match svc.mark_needs_attention("no-such-run", "x", at(7)).await {
        Ok(()) => Err(c.fail(rule, "marking an unknown run succeeded")),
        Err(e) => {
            let kind = S::error_kind(&e);
            c.ensure(matches!(kind, ErrorKind::UnknownRun | ErrorKind::InvalidTransition), rule, || {
                format!(
                    "marking an unknown run was refused as {kind:?} ({e}); expected UnknownRun or InvalidTransition"
                )
            })
        }
    }
}
