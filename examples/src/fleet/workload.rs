//! The fleet's agent kinds and the generated work, all drawn from one seed.

use std::time::Duration;

use rand::rngs::SmallRng;
use rand::{Rng, SeedableRng};
use scheduler_core::model::{Priority, TaskStatus};
use scheduler_testkit::snapshot::{OwnerRef, RunSnapshot};

use super::FleetConfig;

/// An agent kind: the agent name its sessions carry (pool owners name it) and the
/// capabilities they have.
#[derive(Debug)]
pub(crate) struct Profile {
    pub(crate) agent: &'static str,
    pub(crate) caps: &'static [&'static str],
    /// Whether the fleet starts with sessions of this kind; the others exist only when
    /// the escalation actor spawns them.
    pub(crate) initial: bool,
}

/// The agent kinds of the default fleet: three broad initial kinds whose capability
/// sets overlap a lot, and a spawn-only trainer. No kind has [`UNCOVERABLE`].
const PROFILES: &[Profile] = &[
    Profile { agent: "coder", caps: &["rust", "go", "sqlite", "docs"], initial: true },
    Profile { agent: "scripter", caps: &["python", "go", "docs"], initial: true },
    Profile { agent: "reviewer", caps: &["rust", "go", "python", "review"], initial: true },
    Profile { agent: "trainer", caps: &["python", "gpu"], initial: false },
];

/// The agent kinds of the specialised fleet: one generalist kind covering the four
/// everyday languages, five specialist kinds covering one or two capabilities each, and
/// the same spawn-only trainer. No kind has [`UNCOVERABLE`].
///
/// Work needing one language is *flexible* (the generalist or a specialist can take
/// it); work needing `sqlite` or `review`, or two of the generalist's languages, is
/// *narrow* (exactly one kind can take it). A generalist given flexible work is a
/// session a later narrow run may have needed.
const SPECIALISED_PROFILES: &[Profile] = &[
    Profile { agent: "generalist", caps: &["rust", "go", "python", "docs"], initial: true },
    Profile { agent: "rustacean", caps: &["rust", "sqlite"], initial: true },
    Profile { agent: "gopher", caps: &["go"], initial: true },
    Profile { agent: "pythonista", caps: &["python"], initial: true },
    Profile { agent: "writer", caps: &["docs"], initial: true },
    Profile { agent: "reviewer", caps: &["rust", "review"], initial: true },
    Profile { agent: "trainer", caps: &["python", "gpu"], initial: false },
];

/// Which agent kinds a fleet has, and the everyday work mix drawn for them.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, clap::ValueEnum)]
pub enum AgentKinds {
    /// Coder, scripter and reviewer (broad, overlapping capability sets) plus a
    /// spawn-only trainer; the mix the fleet was first written with.
    #[default]
    Default,
    /// A generalist and five specialists (one or two capabilities each) plus the
    /// trainer, with a work mix of both flexible runs (several kinds can take them) and
    /// narrow ones (exactly one kind can), so that how the scheduler gives sessions to
    /// runs matters.
    Specialised,
}

impl AgentKinds {
    /// Every agent kind the launcher knows in this fleet.
    pub(crate) fn profiles(self) -> &'static [Profile] {
        match self {
            AgentKinds::Default => PROFILES,
            AgentKinds::Specialised => SPECIALISED_PROFILES,
        }
    }

    /// The everyday (normal) capability sets, with weights; each is covered by an
    /// initial kind.
    fn cap_sets(self) -> &'static [(&'static [&'static str], u32)] {
        match self {
            AgentKinds::Default => CAP_SETS,
            AgentKinds::Specialised => SPECIALISED_CAP_SETS,
        }
    }
}

impl std::fmt::Display for AgentKinds {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            AgentKinds::Default => "default",
            AgentKinds::Specialised => "specialised",
        })
    }
}

/// A capability only spawned sessions have.
pub(crate) const SPAWN_ONLY: &str = "gpu";
/// A capability no agent kind has: such work can only end as needs-attention.
pub(crate) const UNCOVERABLE: &str = "mainframe";

/// The coordination channels.
pub(crate) const CHANNELS: &[&str] = &["ch-release", "ch-infra", "ch-docs"];

/// Everyday capability sets of the default fleet, with weights.
const CAP_SETS: &[(&[&str], u32)] = &[
    (&[], 20),
    (&["rust"], 15),
    (&["rust", "sqlite"], 10),
    (&["go"], 10),
    (&["python"], 15),
    (&["python", "go"], 5),
    (&["docs"], 10),
    (&["review"], 5),
    (&["rust", "review"], 5),
];

/// Everyday capability sets of the specialised fleet, with weights: 60 % flexible (the
/// generalist or a specialist), 40 % narrow (one kind only).
const SPECIALISED_CAP_SETS: &[(&[&str], u32)] = &[
    (&[], 10),
    (&["rust"], 15),
    (&["go"], 10),
    (&["python"], 15),
    (&["docs"], 10),
    (&["rust", "sqlite"], 5),
    (&["sqlite"], 5),
    (&["review"], 5),
    (&["rust", "review"], 5),
    (&["rust", "python"], 10),
    (&["go", "python"], 5),
    (&["rust", "docs"], 5),
];

/// What kind of work a run is, for the summary.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub(crate) enum WorkKind {
    /// Some initial agent kind covers it (it may still need a spawn for its workspace,
    /// channel or pool).
    Normal,
    /// Needs [`SPAWN_ONLY`]: only a spawned session can take it.
    SpawnOnly,
    /// Needs [`UNCOVERABLE`]: no agent can ever take it.
    Uncoverable,
}

/// How the session that claims a run will get on with it.
#[derive(Debug, Clone, Copy, PartialEq)]
pub(crate) struct Plan {
    /// How long the work takes.
    pub(crate) work: Duration,
    /// Whether it ends with `fail` instead of `complete`.
    pub(crate) fails: bool,
    /// If set, the first session to claim the run crashes this far into the work
    /// (a fraction of it).
    pub(crate) crash_at: Option<f64>,
}

/// One run to enqueue.
#[derive(Debug, Clone)]
pub(crate) struct Job {
    /// When it arrives, from the start of the simulation.
    pub(crate) at: Duration,
    /// The run and its task.
    pub(crate) spec: RunSnapshot,
    pub(crate) kind: WorkKind,
    pub(crate) plan: Plan,
    /// If set, the task arrives `blocked` and is unblocked this long after arrival.
    pub(crate) blocked_for: Option<Duration>,
}

/// A session of the initial fleet.
#[derive(Debug, Clone)]
pub(crate) struct Seat {
    pub(crate) id: String,
    pub(crate) profile: usize,
    pub(crate) workspace: String,
    pub(crate) channel: String,
}

/// The workspace name `ws-i`.
pub(crate) fn workspace_name(i: usize) -> String {
    format!("ws-{i}")
}

/// The initial fleet: sessions spread over the workspaces and global, each workspace
/// with a mix of the initial agent kinds; every fourth session also listens on a
/// channel.
pub(crate) fn seats(config: &FleetConfig) -> Vec<Seat> {
    let profiles = config.agent_kinds.profiles();
    let initial: Vec<usize> = (0..profiles.len()).filter(|&p| profiles[p].initial).collect();
    let slots = config.workspaces + 1;
    (0..config.sessions)
        .map(|i| {
            let profile = initial[(i / slots + i % slots) % initial.len()];
            let slot = i % slots;
            let workspace = if slot == config.workspaces { String::new() } else { workspace_name(slot) };
            let channel = if i % 4 == 1 { CHANNELS[(i / 4) % CHANNELS.len()].to_owned() } else { String::new() };
            Seat { id: format!("s{i:02}-{}", profiles[profile].agent), profile, workspace, channel }
        })
        .collect()
}

fn pick<'a, T>(rng: &mut SmallRng, items: &'a [(T, u32)]) -> &'a T {
    let total: u32 = items.iter().map(|(_, w)| w).sum();
    let mut x = rng.random_range(0..total);
    for (item, w) in items {
        if x < *w {
            return item;
        }
        x -= w;
    }
    &items[items.len() - 1].0
}

/// Whether the agent kind covers every capability.
pub(crate) fn covers(profile: &Profile, caps: &[String]) -> bool {
    caps.iter().all(|c| profile.caps.contains(&c.as_str()))
}

/// The jobs of a run, in arrival order (run ids follow it). Most arrive spread over the
/// simulated duration, a twelfth in a five-minute burst at 30 % of it. When a rate is above zero, at
/// least one job of that sort is guaranteed (spawn-only, uncoverable, crashing).
pub(crate) fn jobs(config: &FleetConfig) -> Vec<Job> {
    let mut rng = SmallRng::seed_from_u64(config.seed);
    let (profiles, cap_sets) = (config.agent_kinds.profiles(), config.agent_kinds.cap_sets());
    let span = config.duration.as_millis().max(1) as u64;
    let burst_at = span * 3 / 10;
    let mut times: Vec<u64> = (0..config.runs)
        .map(|_| {
            if rng.random_bool(1.0 / 12.0) {
                burst_at + rng.random_range(0..300_000u64.min(span))
            } else {
                rng.random_range(0..span)
            }
        })
        .collect();
    times.sort_unstable();

    let mut jobs: Vec<Job> = times
        .into_iter()
        .enumerate()
        .map(|(i, at)| {
            let n = i + 1;
            let mut spec = RunSnapshot::queued(format!("run-{n:04}"), format!("task-{n:04}"));
            spec.priority = *pick(
                &mut rng,
                &[(Priority::Low, 20), (Priority::Medium, 45), (Priority::High, 25), (Priority::Urgent, 10)],
            );
            let roll: f64 = rng.random();
            let (kind, caps): (WorkKind, Vec<&str>) = if roll < config.impossible_rate {
                (
                    WorkKind::Uncoverable,
                    if rng.random_bool(0.5) { vec![UNCOVERABLE] } else { vec!["rust", UNCOVERABLE] },
                )
            } else if roll < config.impossible_rate + config.gpu_rate {
                (WorkKind::SpawnOnly, if rng.random_bool(0.5) { vec![SPAWN_ONLY] } else { vec!["python", SPAWN_ONLY] })
            } else {
                (WorkKind::Normal, pick(&mut rng, cap_sets).to_vec())
            };
            spec = spec.caps(caps);
            if rng.random_bool(0.75) {
                spec = spec.workspace(workspace_name(rng.random_range(0..config.workspaces)));
            }
            if rng.random_bool(0.15) {
                spec = spec.channel(CHANNELS[rng.random_range(0..CHANNELS.len())]);
            }
            if kind == WorkKind::Normal && rng.random_bool(0.08) {
                let pools: Vec<&Profile> =
                    profiles.iter().filter(|p| p.initial && covers(p, &spec.required_capabilities)).collect();
                if !pools.is_empty() {
                    spec.owner = OwnerRef::Pool(pools[rng.random_range(0..pools.len())].agent.to_owned());
                }
            }
            let blocked_for = rng.random_bool(0.05).then(|| Duration::from_secs(rng.random_range(120..600)));
            if blocked_for.is_some() {
                spec.task_status = TaskStatus::Blocked;
            }
            let plan = Plan {
                work: Duration::from_secs(rng.random_range(60..540)),
                fails: rng.random_bool(0.06),
                crash_at: rng.random_bool(config.crash_rate).then(|| rng.random_range(0.1..0.9)),
            };
            Job { at: Duration::from_millis(at), spec, kind, plan, blocked_for }
        })
        .collect();

    let n = jobs.len();
    let ensure = |jobs: &mut Vec<Job>, index: usize, kind: WorkKind, caps: &[&str]| {
        if jobs.iter().all(|j| j.kind != kind) && index < jobs.len() {
            let job = &mut jobs[index];
            job.kind = kind;
            job.spec.required_capabilities = caps.iter().map(|c| (*c).to_owned()).collect();
            job.spec.owner = OwnerRef::None;
        }
    };
    if config.gpu_rate > 0.0 {
        ensure(&mut jobs, n / 3, WorkKind::SpawnOnly, &[SPAWN_ONLY]);
    }
    if config.impossible_rate > 0.0 {
        ensure(&mut jobs, n / 2, WorkKind::Uncoverable, &[UNCOVERABLE]);
    }
    let plain = |j: &Job| j.kind == WorkKind::Normal && j.blocked_for.is_none();
    if config.crash_rate > 0.0
        && !jobs.iter().any(|j| plain(j) && j.plan.crash_at.is_some())
        && let Some(job) = jobs.iter_mut().skip(n / 4).find(|j| plain(j))
    {
        job.plan.crash_at = Some(0.5);
    }
    jobs
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn generation_is_a_function_of_the_seed() {
        let config = FleetConfig { runs: 50, ..FleetConfig::default() };
        let (a, b) = (jobs(&config), jobs(&config));
        let key = |j: &Job| (j.at, j.spec.clone(), j.kind, j.blocked_for);
        assert_eq!(a.iter().map(key).collect::<Vec<_>>(), b.iter().map(key).collect::<Vec<_>>());
        let other = jobs(&FleetConfig { seed: config.seed + 1, ..config });
        assert_ne!(a.iter().map(key).collect::<Vec<_>>(), other.iter().map(key).collect::<Vec<_>>());
    }

    #[test]
    fn rare_kinds_are_guaranteed_when_their_rate_is_positive() {
        let config =
            FleetConfig { runs: 12, gpu_rate: 1e-9, impossible_rate: 1e-9, crash_rate: 1e-9, ..FleetConfig::default() };
        let jobs = jobs(&config);
        assert!(jobs.iter().any(|j| j.kind == WorkKind::SpawnOnly));
        assert!(jobs.iter().any(|j| j.kind == WorkKind::Uncoverable));
        assert!(jobs.iter().any(|j| j.kind == WorkKind::Normal && j.plan.crash_at.is_some()));
        let none = super::jobs(&FleetConfig { gpu_rate: 0.0, impossible_rate: 0.0, crash_rate: 0.0, ..config });
        assert!(none.iter().all(|j| j.kind == WorkKind::Normal && j.plan.crash_at.is_none()));
    }

    #[test]
    fn normal_work_is_covered_by_an_initial_kind_and_uncoverable_work_by_none() {
        for agent_kinds in [AgentKinds::Default, AgentKinds::Specialised] {
            let config =
                FleetConfig { runs: 400, gpu_rate: 0.1, impossible_rate: 0.1, agent_kinds, ..FleetConfig::default() };
            let profiles = agent_kinds.profiles();
            for job in jobs(&config) {
                let caps = &job.spec.required_capabilities;
                let initial = profiles.iter().any(|p| p.initial && covers(p, caps));
                let any = profiles.iter().any(|p| covers(p, caps));
                match job.kind {
                    WorkKind::Normal => assert!(initial, "{agent_kinds}: {caps:?}"),
                    WorkKind::SpawnOnly => assert!(!initial && any, "{agent_kinds}: {caps:?}"),
                    WorkKind::Uncoverable => assert!(!any, "{agent_kinds}: {caps:?}"),
                }
                if let OwnerRef::Pool(agent) = &job.spec.owner {
                    assert!(profiles.iter().any(|p| p.agent == agent && p.initial && covers(p, caps)), "{agent}");
                }
            }
        }
    }

    /// How many initial kinds of the fleet can take work needing `caps`.
    fn takers(agent_kinds: AgentKinds, caps: &[String]) -> usize {
        agent_kinds.profiles().iter().filter(|p| p.initial && covers(p, caps)).count()
    }

    #[test]
    fn the_specialised_fleet_draws_both_flexible_and_narrow_work() {
        let config = FleetConfig { runs: 400, agent_kinds: AgentKinds::Specialised, ..FleetConfig::default() };
        let normal: Vec<Job> = jobs(&config).into_iter().filter(|j| j.kind == WorkKind::Normal).collect();
        let narrow = normal.iter().filter(|j| takers(config.agent_kinds, &j.spec.required_capabilities) == 1).count();
        let flexible = normal.iter().filter(|j| takers(config.agent_kinds, &j.spec.required_capabilities) >= 2).count();
        assert_eq!(narrow + flexible, normal.len());
        // About 40 % narrow by the weights; well away from none and from all.
        assert!(narrow > normal.len() / 4 && flexible > normal.len() / 2, "{narrow} narrow, {flexible} flexible");
        // Narrow work of the generalist too, not only of specialists: greedy can waste it.
        let generalist_only = |j: &&Job| {
            let caps = &j.spec.required_capabilities;
            takers(config.agent_kinds, caps) == 1 && covers(&SPECIALISED_PROFILES[0], caps)
        };
        assert!(normal.iter().any(|j| generalist_only(&j)));
        // The default fleet's broad kinds leave little narrow work.
        let default = FleetConfig { agent_kinds: AgentKinds::Default, ..config };
        let default_normal: Vec<Job> = jobs(&default).into_iter().filter(|j| j.kind == WorkKind::Normal).collect();
        let default_narrow =
            default_normal.iter().filter(|j| takers(default.agent_kinds, &j.spec.required_capabilities) == 1).count();
        assert!(default_narrow < narrow, "{default_narrow} narrow in the default fleet, {narrow} in the specialised");
    }

    #[test]
    fn the_specialised_fleet_seats_every_initial_kind() {
        let config = FleetConfig { agent_kinds: AgentKinds::Specialised, ..FleetConfig::default() };
        let seats = seats(&config);
        for (i, profile) in SPECIALISED_PROFILES.iter().enumerate() {
            assert_eq!(seats.iter().any(|s| s.profile == i), profile.initial, "{}", profile.agent);
        }
    }
}
