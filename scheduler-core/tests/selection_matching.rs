//! The maximum-matching policy ([`SelectionPolicy::Maximum`]) against a brute-force
//! search on small workloads (up to 8 runs and 6 sessions):
//!
//! - the non-starved runs it wakes are a largest set that distinct eligible sessions,
//!   none in cooldown for its run and none taken by a starved fan-out, can serve, and of
//!   all such sets the earliest in selection order (compared position by position);
//! - its targets are valid: eligible, each session once, one per non-starved run, not
//!   in cooldown; a starved run's fan-out covers every eligible session of its own;
//! - its counts are behaviour step 4's read against the final targets, which is what
//!   [`why`](scheduler_core::why) reports: a run not woken is recently notified when
//!   some eligible session was not targeted by an earlier run, a no-match otherwise;
//! - it asks about cooldown only for eligible pairs of non-starved runs;
//! - when greedy wakes every run the maximum policy wakes, both decide the same.
//!
//! The generated workloads mix partitions, channels, owners, capabilities, busy and
//! prompting sessions, cooldown pairs and starved runs. Greedy's own equivalence with
//! the reference is `selection_equivalence.rs`, unchanged.

use std::collections::HashSet;
use std::sync::atomic::{AtomicUsize, Ordering as AtomicOrdering};
use std::time::{Duration, SystemTime};

use proptest::collection::vec;
use proptest::prelude::*;
use proptest::test_runner::{Config, TestRunner};
use scheduler_core::SelectionPolicy;
use scheduler_core::eligibility::{is_potentially_claimable, session_matches};
use scheduler_core::model::{Priority, RunStatus, SessionState};
use scheduler_core::ordering::compare_runs;
use scheduler_core::selection::{Selection, SelectionInput};
use scheduler_core::view::RunView;
use scheduler_testkit::snapshot::{ActiveRun, OwnerRef, RunSnapshot, SessionSnapshot};

fn t(secs: u64) -> SystemTime {
    SystemTime::UNIX_EPOCH + Duration::from_secs(1_700_000_000 + secs)
}

const NOW: u64 = 1000;

#[derive(Debug, Clone)]
struct Case {
    runs: Vec<RunSnapshot>,
    sessions: Vec<SessionSnapshot>,
    active: Vec<ActiveRun>,
    /// `(run index, session index)` pairs in cooldown.
    cooling: HashSet<(usize, usize)>,
    min_age: Duration,
}

fn pick<T: Copy>(items: &[T], b: u8) -> T {
    items[b as usize % items.len()]
}

const CAPS: &[&str] = &["x", "y", "z", "w"];
const PRIORITIES: &[Priority] = &[Priority::High, Priority::High, Priority::Low, Priority::Urgent];

fn caps_of(bits: u8) -> Vec<&'static str> {
    CAPS.iter().enumerate().filter(|(k, _)| bits >> k & 1 == 1).map(|(_, c)| *c).collect()
}

fn run(i: usize, b: [u8; 6]) -> RunSnapshot {
    // Mostly global (one partition, where matching matters), some in workspace w1.
    let mut r = RunSnapshot::queued(format!("r{i}"), format!("t{i}"))
        .priority(pick(PRIORITIES, b[0]))
        .caps(caps_of(if b[1] % 3 == 0 { 0 } else { b[1] >> 2 }));
    if b[2] % 5 == 0 {
        r = r.workspace("w1");
    }
    if b[2] % 7 == 1 {
        r = r.channel("c1");
    }
    r = match b[3] % 12 {
        0 => r.owner(OwnerRef::Pool("ag1".into())),
        1 => r.owner(OwnerRef::AgentSession(format!("s{}", b[3] / 12 % 6))),
        _ => r,
    };
    if b[4] % 13 == 0 {
        r = r.status(RunStatus::Claimed); // unclaimable
    }
    // Queued-at: ties, unknown, and old enough to starve under a minimum age.
    r.queued_at = match b[5] % 6 {
        0 => None,
        k => Some(t([0u64, 500, 900, 900, 950][k as usize - 1])),
    };
    r
}

fn session(j: usize, b: [u8; 4]) -> SessionSnapshot {
    let mut s = SessionSnapshot::active(format!("s{j}"))
        .agent(if b[0] % 2 == 0 { "ag1" } else { "ag2" })
        .caps(caps_of(b[1]))
        .created_at(t(u64::from(b[2] % 3)));
    if b[0] % 9 == 4 {
        s = s.workspace("w1");
    }
    if b[0] % 6 == 1 {
        s = s.channel("c1");
    }
    if b[3] % 11 == 0 {
        s = s.prompting();
    }
    if b[3] % 17 == 1 {
        s = s.state(SessionState::Stopped);
    }
    s
}

/// Half the cases are dense: one partition, no channels or owners, every run needing
/// one capability and every session offering one to three, so that greedy's first
/// choices often block later runs and augmenting paths are long.
fn case() -> impl Strategy<Value = Case> {
    let dense = (vec(any::<[u8; 6]>(), 4..=8), vec(any::<[u8; 4]>(), 3..=6)).prop_map(|(mut runs, mut sessions)| {
        for b in &mut runs {
            (b[1], b[2], b[3]) = (1 + 4 * (1 << (b[1] % 4)), 2, 2);
        }
        for b in &mut sessions {
            b[0] = 2 * (b[0] % 3); // not in w1, not on c1
            b[1] = match b[1] % 4 {
                0 => 1 << (b[1] / 4 % 4),
                k => (1 << (b[1] / 4 % 4)) | (1 << ((b[1] / 4 + k) % 4)),
            };
        }
        (runs, sessions)
    });
    let mixed = (vec(any::<[u8; 6]>(), 0..=8), vec(any::<[u8; 4]>(), 0..=6));
    (prop_oneof![mixed, dense], vec(any::<[u8; 2]>(), 0..3), vec(any::<[u8; 2]>(), 0..6), any::<u8>()).prop_map(
        |((runs, sessions), busy, cooling, age)| {
            let (n, m) = (runs.len(), sessions.len());
            Case {
                runs: runs.into_iter().enumerate().map(|(i, b)| run(i, b)).collect(),
                sessions: sessions.into_iter().enumerate().map(|(j, b)| session(j, b)).collect(),
                active: busy
                    .into_iter()
                    .map(|[s, st]| {
                        let status = if st % 3 == 0 { RunStatus::Completed } else { RunStatus::Running };
                        ActiveRun::new("held", format!("s{}", s % 6), status)
                    })
                    .collect(),
                cooling: if n == 0 || m == 0 {
                    HashSet::new()
                } else {
                    cooling.into_iter().map(|[r, s]| (r as usize % n, s as usize % m)).collect()
                },
                min_age: Duration::from_secs(pick(&[0u64, 0, 200], age)),
            }
        },
    )
}

/// One selection's result, with the cooldown questions it asked.
struct Got {
    sel: Selection,
    asked: Vec<(usize, usize)>,
}

fn select(policy: SelectionPolicy, c: &Case) -> Got {
    let mut sel = Selection::with_policy(policy);
    let mut asked = Vec::new();
    let index = |id: &str, prefix: char| id.trim_start_matches(prefix).parse::<usize>().expect("generated id");
    sel.select(
        SelectionInput {
            runs: &c.runs,
            active: &c.active,
            sessions: &c.sessions,
            now: t(NOW),
            min_queued_age: c.min_age,
        },
        |r: &RunSnapshot, s: &SessionSnapshot| {
            let pair = (index(&r.run_id, 'r'), index(&s.session_id, 's'));
            asked.push(pair);
            c.cooling.contains(&pair)
        },
    );
    Got { sel, asked }
}

/// What the brute force knows about a case, computed from the public rules alone.
struct Model {
    /// Claimable runs in selection order.
    order: Vec<usize>,
    starved: Vec<bool>,
    /// `eligible[r][s]`: static eligibility and not busy.
    eligible: Vec<Vec<bool>>,
}

impl Model {
    fn new(c: &Case) -> Self {
        let mut order: Vec<usize> = (0..c.runs.len()).filter(|&i| is_potentially_claimable(&c.runs[i])).collect();
        order.sort_by(|&a, &b| compare_runs(&c.runs[a], &c.runs[b]).then(a.cmp(&b)));
        let busy = |s: &SessionSnapshot| {
            c.active.iter().any(|a| a.status.holds_session() && a.session_id.trim() == s.session_id.trim())
        };
        let eligible =
            c.runs.iter().map(|r| c.sessions.iter().map(|s| session_matches(r, s) && !busy(s)).collect()).collect();
        let starved = c
            .runs
            .iter()
            .map(|r| {
                !c.min_age.is_zero() && r.queued_at().is_some_and(|at| t(NOW).duration_since(at).unwrap() >= c.min_age)
            })
            .collect();
        Model { order, starved, eligible }
    }

    /// Whether `runs` can be given distinct sessions through `edge`.
    fn matchable(runs: &[usize], used: &mut Vec<bool>, edge: &dyn Fn(usize, usize) -> bool) -> bool {
        let Some((&r, rest)) = runs.split_first() else { return true };
        for s in 0..used.len() {
            if !used[s] && edge(r, s) {
                used[s] = true;
                let ok = Self::matchable(rest, used, edge);
                used[s] = false;
                if ok {
                    return true;
                }
            }
        }
        false
    }

    /// The largest matchable set of `candidates` (given in selection order), earliest
    /// in selection order among the largest: every subset is tried.
    fn best(candidates: &[usize], sessions: usize, edge: &dyn Fn(usize, usize) -> bool) -> Vec<usize> {
        let mut best: Vec<usize> = Vec::new();
        for mask in 0u32..1 << candidates.len() {
            let set: Vec<usize> = (0..candidates.len()).filter(|k| mask >> k & 1 == 1).collect();
            // Positions in selection order: lexicographically smaller is earlier.
            let better = set.len() > best.len() || (set.len() == best.len() && set < best);
            if better {
                let runs: Vec<usize> = set.iter().map(|&k| candidates[k]).collect();
                if Self::matchable(&runs, &mut vec![false; sessions], edge) {
                    best = set;
                }
            }
        }
        best.into_iter().map(|k| candidates[k]).collect()
    }
}

static GREEDY_EQUAL: AtomicUsize = AtomicUsize::new(0);
static MAXIMUM_MORE: AtomicUsize = AtomicUsize::new(0);

fn check(c: &Case) -> Result<(), TestCaseError> {
    let model = Model::new(c);
    let Got { sel, asked } = select(SelectionPolicy::Maximum, c);
    let targets = sel.targets();
    let m = c.sessions.len();

    // Valid targets: eligible, each session once; runs in selection order.
    let mut seen = HashSet::new();
    for &(r, s) in targets {
        let (r, s) = (r as usize, s as usize);
        prop_assert!(model.eligible[r][s], "target ({}, {}) is eligible", r, s);
        prop_assert!(seen.insert(s), "session {} targeted once", s);
    }
    let pos = |r: usize| model.order.iter().position(|&x| x == r).expect("claimable");
    let run_seq: Vec<usize> = targets.iter().map(|&(r, _)| pos(r as usize)).collect();
    prop_assert!(run_seq.windows(2).all(|w| w[0] <= w[1]), "targets in selection order: {:?}", targets);

    let holder = |s: usize| targets.iter().find(|&&(_, ts)| ts as usize == s).map(|&(r, _)| r as usize);
    let woken = |r: usize| targets.iter().filter(|&&(tr, _)| tr as usize == r).count();

    // Starved runs: in selection order; a fan-out covers every eligible session.
    let starved: Vec<usize> = model.order.iter().copied().filter(|&r| model.starved[r]).collect();
    prop_assert_eq!(sel.starved().iter().map(|&r| r as usize).collect::<Vec<_>>(), starved.clone());
    for &r in &starved {
        if woken(r) > 0 {
            for s in (0..m).filter(|&s| model.eligible[r][s]) {
                prop_assert!(holder(s).is_some(), "starved run {}'s session {} is targeted", r, s);
            }
        }
    }
    let frozen: HashSet<usize> =
        targets.iter().filter(|&&(r, _)| model.starved[r as usize]).map(|&(_, s)| s as usize).collect();

    // The woken non-starved runs: the earliest largest matchable set.
    let fresh: Vec<usize> = model.order.iter().copied().filter(|&r| !model.starved[r]).collect();
    let edge = |r: usize, s: usize| model.eligible[r][s] && !frozen.contains(&s) && !c.cooling.contains(&(r, s));
    let expected = Model::best(&fresh, m, &edge);
    let got: Vec<usize> = fresh.iter().copied().filter(|&r| woken(r) > 0).collect();
    prop_assert_eq!(&got, &expected, "woken runs, selection order");
    for &r in &got {
        prop_assert_eq!(woken(r), 1, "one session per non-starved run");
        let (_, s) = *targets.iter().find(|&&(tr, _)| tr as usize == r).expect("target");
        prop_assert!(!c.cooling.contains(&(r, s as usize)), "not in cooldown");
    }

    // Counts against the final targets, as `why` reports them.
    let claimable = model.order.len();
    prop_assert_eq!(sel.counts().unclaimable_runs, c.runs.len() - claimable);
    let not_woken: Vec<usize> = model.order.iter().copied().filter(|&r| woken(r) == 0).collect();
    let recently: Vec<usize> = not_woken
        .iter()
        .copied()
        .filter(|&r| {
            !model.starved[r] && (0..m).any(|s| model.eligible[r][s] && holder(s).is_none_or(|h| pos(h) > pos(r)))
        })
        .collect();
    for &r in &recently {
        let free: Vec<usize> =
            (0..m).filter(|&s| model.eligible[r][s] && holder(s).is_none_or(|h| pos(h) > pos(r))).collect();
        prop_assert!(free.iter().all(|&s| c.cooling.contains(&(r, s))), "run {}'s untaken sessions all cool", r);
    }
    prop_assert_eq!(sel.counts().recently_notified_runs, recently.len(), "recently notified");
    let mut no_match: Vec<usize> = sel.no_match().iter().map(|&r| r as usize).collect();
    no_match.sort_unstable();
    let mut want: Vec<usize> = not_woken.into_iter().filter(|r| !recently.contains(r)).collect();
    want.sort_unstable();
    prop_assert_eq!(no_match, want, "no-match runs");

    // Cooldown questions: eligible pairs of non-starved runs only.
    for &(r, s) in &asked {
        prop_assert!(model.eligible[r][s] && !model.starved[r], "asked about ({}, {})", r, s);
    }

    // Where greedy already wakes every run the maximum policy wakes, nothing differs.
    let greedy = select(SelectionPolicy::Greedy, c).sel;
    let greedy_woken: HashSet<u32> = greedy.targets().iter().map(|&(r, _)| r).collect();
    if targets.iter().all(|(r, _)| greedy_woken.contains(r)) {
        GREEDY_EQUAL.fetch_add(1, AtomicOrdering::Relaxed);
        prop_assert_eq!(targets, greedy.targets());
        prop_assert_eq!(sel.counts(), greedy.counts());
        prop_assert_eq!(sel.starved(), greedy.starved());
        let (mut a, mut b) = (sel.no_match().to_vec(), greedy.no_match().to_vec());
        a.sort_unstable();
        b.sort_unstable();
        prop_assert_eq!(a, b);
    } else {
        let fresh_woken = |s: &Selection| {
            s.targets().iter().filter(|&&(r, _)| !model.starved[r as usize]).map(|&(r, _)| r).collect::<HashSet<_>>()
        };
        prop_assert!(fresh_woken(&sel).len() >= fresh_woken(&greedy).len(), "never fewer than greedy");
        MAXIMUM_MORE.fetch_add(1, AtomicOrdering::Relaxed);
    }
    Ok(())
}

/// The property, with both kinds of outcome reached often: cases where the maximum
/// policy wakes a run greedy does not, and cases where both decide the same.
#[test]
fn maximum_policy_wakes_the_earliest_largest_set() {
    let mut runner = TestRunner::new(Config { cases: 20_000, max_shrink_iters: 4_000, ..Config::default() });
    runner.run(&case(), |c| check(&c)).unwrap();
    let (equal, more) = (GREEDY_EQUAL.load(AtomicOrdering::Relaxed), MAXIMUM_MORE.load(AtomicOrdering::Relaxed));
    eprintln!("maximum woke a run greedy did not: {more} cases; both decided the same: {equal} cases");
    assert!(more > 500, "the generator reaches cases greedy leaves runs out of: {more}");
    assert!(equal > 5_000, "and cases where greedy is already maximal: {equal}");
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 2_000, ..ProptestConfig::default() })]

    /// The same selection reused across workloads of every shape decides as a fresh one.
    #[test]
    fn a_reused_selection_decides_as_a_fresh_one(cases in vec(case(), 1..6)) {
        let mut reused = Selection::with_policy(SelectionPolicy::Maximum);
        for c in &cases {
            reused.select(
                SelectionInput { runs: &c.runs, active: &c.active, sessions: &c.sessions, now: t(NOW), min_queued_age: c.min_age },
                |r, s| {
                    let (r, s) = (r.run_id[1..].parse::<usize>().unwrap(), s.session_id[1..].parse::<usize>().unwrap());
                    c.cooling.contains(&(r, s))
                },
            );
            let fresh = select(SelectionPolicy::Maximum, c).sel;
            prop_assert_eq!(reused.targets(), fresh.targets());
            prop_assert_eq!(reused.counts(), fresh.counts());
            let (mut a, mut b) = (reused.no_match().to_vec(), fresh.no_match().to_vec());
            a.sort_unstable();
            b.sort_unstable();
            prop_assert_eq!(a, b);
        }
    }
}

/// Sessions s0 (holding "rare") and s1 (nothing); runs in selection order r0 (needs
/// nothing), `blockers` runs needing what no session has, then one needing "rare".
fn rare_behind_blockers(blockers: usize) -> Case {
    let sessions = vec![
        SessionSnapshot::active("s0").caps(["rare"]).created_at(t(0)),
        SessionSnapshot::active("s1").created_at(t(1)),
    ];
    let mut runs = vec![RunSnapshot::queued("r0", "t")];
    runs.extend((1..=blockers).map(|i| RunSnapshot::queued(format!("r{i}"), "t").caps(["nobody-has-it"])));
    runs.push(RunSnapshot::queued(format!("r{}", blockers + 1), "t").caps(["rare"]));
    for r in &mut runs {
        r.queued_at = Some(t(r.run_id[1..].parse().unwrap())); // selection order = index
    }
    Case { runs, sessions, active: Vec::new(), cooling: HashSet::new(), min_age: Duration::ZERO }
}

/// A run far down a big band (past the walk's first sorted chunk, where runs are
/// taken from a heap) still moves an early run: a flexible run takes the rare session
/// first, 199 runs nobody can serve follow, and the last run, which needs the rare
/// session, gets it while the flexible run moves to the other session.
#[test]
fn a_run_past_the_first_chunk_still_moves_an_early_one() {
    let c = rare_behind_blockers(199);
    let greedy = select(SelectionPolicy::Greedy, &c).sel;
    assert_eq!(greedy.targets(), [(0, 0)]);
    let max = select(SelectionPolicy::Maximum, &c).sel;
    assert_eq!(max.targets(), [(0, 1), (200, 0)]);
    assert_eq!(max.no_match().len(), 199);
}

/// The maximum policy never sets aside a run whose candidates are all taken, even behind
/// a first chunk that matched nothing: an earlier band's run may still move. r0 (urgent,
/// any session) takes s0; 40 low runs need what nobody has; r41 (low) needs "rare", which
/// only s0 has: r0 moves to s1 and r41 takes s0. Greedy leaves r41 unmatched.
#[test]
fn a_run_behind_an_unmatched_first_chunk_still_moves_an_earlier_band() {
    let mut c = rare_behind_blockers(40);
    c.runs[0].priority = Priority::Urgent;
    for r in &mut c.runs[1..] {
        r.priority = Priority::Low;
    }
    let greedy = select(SelectionPolicy::Greedy, &c).sel;
    assert_eq!(greedy.targets(), [(0, 0)]);
    let max = select(SelectionPolicy::Maximum, &c).sel;
    assert_eq!(max.targets(), [(0, 1), (41, 0)]);
    assert_eq!(max.no_match().len(), 40);
}

/// A session on a path just applied is not dead: the next search may go through it.
/// h takes s0, g takes s1 (direct); r (s0 or s1) moves h to s2 and takes s0; q (only
/// s0) then moves r to s1 and g to s3. All four are woken.
#[test]
fn a_session_on_an_applied_path_is_searched_again() {
    let sessions = vec![
        SessionSnapshot::active("s0").caps(["h", "r", "q"]).created_at(t(1)),
        SessionSnapshot::active("s1").caps(["g", "r"]).created_at(t(2)),
        SessionSnapshot::active("s2").caps(["h"]).created_at(t(3)),
        SessionSnapshot::active("s3").caps(["g"]).created_at(t(4)),
    ];
    let runs: Vec<RunSnapshot> = ["h", "g", "r", "q"]
        .iter()
        .enumerate()
        .map(|(i, cap)| RunSnapshot::queued(format!("r{i}"), "t").caps([*cap]).queued_at(t(i as u64)))
        .collect();
    let c = Case { runs, sessions, active: Vec::new(), cooling: HashSet::new(), min_age: Duration::ZERO };
    let max = select(SelectionPolicy::Maximum, &c).sel;
    assert_eq!(max.targets(), [(0, 2), (1, 3), (2, 1), (3, 0)]);
    check(&c).unwrap();
}

/// Through the scheduler: the builder's policy reaches the selection, and the cycle's
/// counts agree with why each run was not woken.
#[test]
fn the_builder_policy_reaches_the_cycle() {
    use scheduler_core::Scheduler;
    use scheduler_core::why::WhyNotWoken;
    use scheduler_testkit::scripted::{ScriptedSessions, ScriptedTasks};
    use scheduler_testkit::waker::RecordingWaker;

    let cycle = |policy: SelectionPolicy| {
        let (tasks, sessions, waker) = (ScriptedTasks::new(), ScriptedSessions::new(), RecordingWaker::single());
        tasks.push_pending(RunSnapshot::queued("a-any", "t1").queued_at(t(1)));
        tasks.push_pending(RunSnapshot::queued("b-rust", "t2").caps(["rust"]).queued_at(t(2)));
        tasks.push_pending(RunSnapshot::queued("c-rust", "t3").caps(["rust"]).queued_at(t(3)));
        sessions.push(SessionSnapshot::active("s-rust").caps(["rust"]).created_at(t(0)));
        sessions.push(SessionSnapshot::active("s-plain").created_at(t(1)));
        let mut scheduler = Scheduler::builder(tasks, sessions, waker)
            .starvation_age(std::time::Duration::ZERO)
            .selection_policy(policy)
            .build()
            .unwrap();
        let report = futures::executor::block_on(scheduler.run_once());
        let woken: Vec<String> = report.selected_run_ids().map(str::to_owned).collect();
        let why = report.why_not_woken("c-rust");
        (woken, why, *report.counts())
    };
    let (woken, why, counts) = cycle(SelectionPolicy::Greedy);
    assert_eq!(woken, ["a-any"]);
    assert_eq!(why, Some(WhyNotWoken::CandidatesTaken));
    assert_eq!(counts.no_match_runs, 2);
    let (woken, why, counts) = cycle(SelectionPolicy::Maximum);
    assert_eq!(woken, ["a-any", "b-rust"]);
    assert_eq!(why, Some(WhyNotWoken::CandidatesTaken));
    assert_eq!((counts.no_match_runs, counts.recently_notified_runs), (1, 0));
}

/// The same through a path of length two: r's search goes x1 -> h1 -> x2 -> h2 -> f1
/// (no holder of r's sessions can move at once); q, which can only take x1, then needs
/// x1 -> r -> z -> k -> w -> l -> f3. Sessions x1, x2, f1, z, w, f3 are s0..s5; runs
/// h1, h2, k, l, r, q are r0..r5 in selection order. All six are woken.
#[test]
fn a_session_on_an_applied_long_path_is_searched_again() {
    let offers: [&[&str]; 6] = [&["h1", "r", "q"], &["h1", "h2"], &["h2"], &["k", "r"], &["k", "l"], &["l"]];
    let sessions: Vec<SessionSnapshot> = offers
        .iter()
        .enumerate()
        .map(|(j, caps)| SessionSnapshot::active(format!("s{j}")).caps(caps.iter().copied()).created_at(t(j as u64)))
        .collect();
    let runs: Vec<RunSnapshot> = ["h1", "h2", "k", "l", "r", "q"]
        .iter()
        .enumerate()
        .map(|(i, cap)| RunSnapshot::queued(format!("r{i}"), "t").caps([*cap]).queued_at(t(i as u64)))
        .collect();
    let c = Case { runs, sessions, active: Vec::new(), cooling: HashSet::new(), min_age: Duration::ZERO };
    let max = select(SelectionPolicy::Maximum, &c).sel;
    assert_eq!(max.targets(), [(0, 1), (1, 2), (2, 4), (3, 5), (4, 3), (5, 0)]);
    check(&c).unwrap();
}

/// The size of a maximum matching of runs to sessions over `edge` (Kuhn's augmenting
/// paths): a check of the count alone, cheap enough for cases too big to brute-force.
fn maximum_matching(runs: usize, sessions: usize, edge: &dyn Fn(usize, usize) -> bool) -> usize {
    fn try_run(r: usize, edge: &dyn Fn(usize, usize) -> bool, seen: &mut [bool], owner: &mut [Option<usize>]) -> bool {
        for s in 0..seen.len() {
            if edge(r, s) && !seen[s] {
                seen[s] = true;
                if owner[s].is_none_or(|o| try_run(o, edge, seen, owner)) {
                    owner[s] = Some(r);
                    return true;
                }
            }
        }
        false
    }
    let mut owner = vec![None; sessions];
    (0..runs).filter(|&r| try_run(r, edge, &mut vec![false; sessions], &mut owner)).count()
}

/// Dense cases bigger than the brute force reaches (up to 24 runs, 16 sessions, some
/// pairs in cooldown; long augmenting paths through the same classes again and again,
/// several paths applied per selection): the maximum policy wakes as many runs as a
/// maximum matching of the pairs not in cooldown has.
#[test]
fn maximum_policy_matches_a_maximum_matching_on_bigger_cases() {
    let caps = ["a", "b", "c", "d", "e", "f"];
    let strategy = (vec(any::<[u8; 2]>(), 10..=24), vec(any::<[u8; 3]>(), 8..=16), vec(any::<[u8; 2]>(), 0..40));
    let mut runner = TestRunner::new(Config { cases: 4_000, max_shrink_iters: 4_000, ..Config::default() });
    runner
        .run(&strategy, |(rb, sb, cool)| {
            let runs: Vec<RunSnapshot> = rb
                .iter()
                .enumerate()
                .map(|(i, b)| {
                    let mut r = RunSnapshot::queued(format!("r{i}"), "t").caps([caps[b[0] as usize % caps.len()]]);
                    r.priority = PRIORITIES[b[1] as usize % PRIORITIES.len()];
                    r.queued_at = Some(t(u64::from(b[1] / 4 % 8)));
                    r
                })
                .collect();
            let sessions: Vec<SessionSnapshot> = sb
                .iter()
                .enumerate()
                .map(|(j, b)| {
                    let mut held = vec![caps[b[0] as usize % caps.len()]];
                    for extra in [b[1], b[2]] {
                        if extra % 3 == 0 {
                            held.push(caps[extra as usize / 3 % caps.len()]);
                        }
                    }
                    SessionSnapshot::active(format!("s{j}")).caps(held).created_at(t(j as u64))
                })
                .collect();
            let cooling = cool.iter().map(|&[r, s]| (r as usize % runs.len(), s as usize % sessions.len())).collect();
            let c = Case { runs, sessions, active: Vec::new(), cooling, min_age: Duration::ZERO };
            let edge = |r: usize, s: usize| session_matches(&c.runs[r], &c.sessions[s]) && !c.cooling.contains(&(r, s));
            let best = maximum_matching(c.runs.len(), c.sessions.len(), &edge);
            let sel = select(SelectionPolicy::Maximum, &c).sel;
            prop_assert_eq!(sel.targets().len(), best, "runs woken: {:?}", sel.targets());
            Ok(())
        })
        .unwrap();
}
