//! The fleet's own seams: the waker that notifies agent sessions (and checks every
//! wake against the task service), the escalation actor that launches workers, and the
//! observer that keeps the books in step with the sweep.

use std::fmt;
use std::sync::Arc;
use std::time::{Duration, SystemTime};

use scheduler_core::CycleCounts;
use scheduler_core::lease::{ErrorKind, LeaseService, PauseControl, ServiceError, SessionRegistry};
use scheduler_core::model::{Owner, RunStatus, Scope};
use scheduler_core::observer::Observer;
use scheduler_core::seam::{EscalationActor, MarkOutcome, SpawnOutcome, TaskSource, WakeTarget, Waker};
use scheduler_core::view::{ActiveRunView, RunView, SessionView};
use scheduler_core::why::WhyNotWoken;
use scheduler_testkit::snapshot::SessionSnapshot;

use super::agent::{Fleet, Role, launch, pick_host};
use super::backend::Backend;
use super::workload::covers;
use super::world::ViolationKind;

/// A wake could not be delivered: the session's process is gone.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Unreachable {
    /// The session.
    pub(crate) session_id: String,
}

impl fmt::Display for Unreachable {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "session {:?} is unreachable (its process is gone)", self.session_id)
    }
}

impl std::error::Error for Unreachable {}

/// Delivers wakes to the agents' inboxes, after checking that the session is idle by
/// the task service's own active runs, not prompting, the scheduler not paused, and the
/// run still queued.
#[derive(Debug)]
pub(crate) struct FleetWaker<B: Backend>(pub(crate) Arc<Fleet<B>>);

impl<B: Backend, R: RunView + Sync, S: SessionView + Sync> Waker<R, S> for FleetWaker<B> {
    type Error = Unreachable;

    async fn wake(&self, target: WakeTarget<'_, R, S>) -> Result<(), Unreachable> {
        let (run_id, session_id) = (target.run.run_id(), target.session.session_id());
        inspect_wake(&self.0, run_id, session_id).await;
        let mut books = self.0.world.books();
        let delivered =
            books.agents.get(session_id).is_some_and(|s| s.alive && s.inbox.send(run_id.to_owned()).is_ok());
        if delivered {
            books.counters.wakes_delivered += 1;
            Ok(())
        } else {
            books.counters.wakes_unreachable += 1;
            Err(Unreachable { session_id: session_id.to_owned() })
        }
    }
}

/// Checks a wake the scheduler decided on against the task service's active runs (a
/// busy session), the registry (prompting), the pause store, the run's status and the
/// session's own account of its work, recording every broken rule.
pub(crate) async fn inspect_wake<B: Backend>(fleet: &Fleet<B>, run_id: &str, session_id: &str) {
    let world = &fleet.world;
    let mut active = Vec::new();
    let _ = fleet.service.active_runs(&mut active).await;
    if let Some(held) = active.iter().find(|a| a.session_id() == session_id) {
        let detail = format!("{session_id} woken for {run_id} while it holds {} ({})", held.run_id(), held.status());
        world.violate(ViolationKind::WakeToBusySession, detail);
    }
    if fleet.registry.session(session_id).await.ok().flatten().is_some_and(|s| s.prompting) {
        world.violate(ViolationKind::WakeToPromptingSession, format!("{session_id} woken for {run_id}"));
    }
    if fleet.pause.pause_state().await.ok().flatten().is_some() {
        world.count(|c| c.wakes_while_paused += 1);
        world.violate(ViolationKind::WakeWhilePaused, format!("{session_id} woken for {run_id}"));
    }
    let status = fleet.service.run_status(run_id).await.ok().flatten();
    if status != Some(RunStatus::Queued) {
        world.violate(ViolationKind::WakeForUnqueuedRun, format!("{session_id} woken for {run_id} ({status:?})"));
    }
    let at = world.elapsed();
    let mut books = world.books();
    let working = books.agents.get(session_id).and_then(|s| s.working.clone());
    if let Some(working) = working {
        let detail = format!("{session_id} woken for {run_id} while working on {working} (by its own account)");
        books.violate(ViolationKind::WakeToBusySession, at, detail);
    }
}

/// Answers the ladder: spawns a capability-matched session for a starved run when an
/// agent kind covers it (up to a cap of live spawned sessions), says `Unresolvable`
/// when none does, and marks runs `needs_attention` through the task service.
#[derive(Debug)]
pub(crate) struct FleetActor<B: Backend>(pub(crate) Arc<Fleet<B>>);

type ServiceErrorOf<B> = <<B as Backend>::Tasks as TaskSource>::Error;

impl<B: Backend, R: RunView + Sync> EscalationActor<R> for FleetActor<B> {
    type Error = ServiceErrorOf<B>;

    async fn request_spawn(&self, run: &R, _now: SystemTime) -> Result<SpawnOutcome, Self::Error> {
        let fleet = &self.0;
        let caps: Vec<String> = run.required_capabilities().map(str::to_owned).collect();
        let caps = &caps;
        let profiles = fleet.config.agent_kinds.profiles();
        let profile = match run.owner() {
            Owner::None => profiles.iter().filter(|p| covers(p, caps)).min_by_key(|p| p.caps.len()),
            Owner::Pool(agent) => profiles.iter().find(|p| p.agent == agent && covers(p, caps)),
            // A particular session cannot be spawned; an unknown owner matches nobody.
            Owner::AgentSession(_) | Owner::Unknown => None,
        };
        let session = {
            let mut books = fleet.world.books();
            books.counters.spawn_requests += 1;
            let Some(profile) = profile else {
                books.counters.spawns_unresolvable += 1;
                return Ok(SpawnOutcome::Unresolvable);
            };
            let live = books.agents.values().filter(|a| a.spawned && a.alive).count();
            if live >= fleet.max_spawned {
                // No capacity now: "no capable agent"; the ladder asks again next cycle.
                books.counters.spawns_deferred += 1;
                return Ok(SpawnOutcome::Unresolvable);
            }
            books.counters.sessions_spawned += 1;
            let id = format!("x{:03}-{}", books.counters.sessions_spawned, profile.agent);
            let workspace = if run.scope() == Scope::Workspace { run.workspace_id() } else { "" };
            SessionSnapshot::active(format!("{}{id}", fleet.prefix))
                .agent(profile.agent)
                .caps(profile.caps.iter().copied())
                .workspace(workspace)
                .channel(run.channel())
        };
        let host = pick_host(fleet, None);
        launch(fleet, session, Role::Spawned, host);
        Ok(SpawnOutcome::Requested)
    }

    async fn emit_starved(&self, _run: &R, _age: Duration, _now: SystemTime) -> Result<(), Self::Error> {
        self.0.world.count(|c| c.starved_events += 1);
        Ok(())
    }

    async fn mark_needs_attention(
        &self,
        run: &R,
        diagnostic: &str,
        now: SystemTime,
    ) -> Result<MarkOutcome, Self::Error> {
        let fleet = &self.0;
        match fleet.service.mark_needs_attention(run.run_id(), diagnostic, now).await {
            Ok(()) => {
                let mut books = fleet.world.books();
                books.counters.marked += 1;
                if let Some(entry) = books.runs.get_mut(run.run_id()) {
                    entry.marked = true;
                    entry.diagnostic = diagnostic.to_owned();
                }
                Ok(MarkOutcome::Marked)
            }
            Err(e) if e.kind() == ErrorKind::InvalidTransition => Ok(MarkOutcome::InvalidTransition),
            Err(e) => Err(e),
        }
    }
}

/// Keeps the books in step with what the scheduler of daemon `.1` did: recovered
/// leases, paused cycles, errors, why each run was last not woken, and which daemon
/// ran the cycles.
#[derive(Debug)]
pub(crate) struct FleetObserver<B: Backend>(pub(crate) Arc<Fleet<B>>, pub(crate) usize);

impl<B: Backend> Observer for FleetObserver<B> {
    fn lease_recovered(&self, run_id: &str, previous_session_id: &str) {
        self.0.world.books().on_recovered(run_id, previous_session_id);
    }

    fn cycle_error<E: std::error::Error>(&self, error: &E) {
        let mut books = self.0.world.books();
        books.counters.cycle_errors += 1;
        books.last_cycle_error = Some(error.to_string());
    }

    fn explains_not_woken(&self) -> bool {
        true
    }

    fn run_not_woken(&self, run_id: &str, why: WhyNotWoken) {
        self.0.world.books().not_woken.insert(run_id.to_owned(), why);
    }

    fn cycle_finished(&self, counts: &CycleCounts) {
        let at = self.0.world.elapsed();
        let mut books = self.0.world.books();
        books.leaders.on_cycle(self.1, at, std::time::Instant::now());
        books.counters.cycles += 1;
        if counts.paused {
            books.counters.paused_cycles += 1;
        }
    }
}

#[cfg(test)]
mod tests {
    use std::time::{Duration, SystemTime};

    use scheduler_core::seam::{EscalationActor, MarkOutcome, SpawnOutcome, WakeTarget, Waker};
    use scheduler_testkit::registry::MemorySessions;
    use scheduler_testkit::service::{ClaimRequest, MemoryTaskService};
    use scheduler_testkit::snapshot::{RunSnapshot, SessionSnapshot};
    use scheduler_testkit::stores::MemoryPauseStore;
    use scheduler_tokio::TokioClock;
    use tokio::sync::mpsc;

    use super::*;
    use crate::fleet::agent::{Host, Timing};
    use crate::fleet::backend::Memory;
    use crate::fleet::world::{AgentSlot, World};

    fn fleet() -> Arc<Fleet<Memory>> {
        let pause = MemoryPauseStore::new();
        let (service, registry) = (MemoryTaskService::with_pause(pause.clone()), MemorySessions::new());
        Arc::new(Fleet {
            world: World::new(TokioClock::anchored_at(SystemTime::UNIX_EPOCH + Duration::from_secs(1_000))),
            service: service.clone(),
            registry: registry.clone(),
            pause,
            hosts: vec![Host::new(service, registry, None)],
            config: crate::fleet::FleetConfig::default(),
            timing: Timing::default(),
            seed: 1,
            max_spawned: 1,
            prefix: String::new(),
        })
    }

    /// Registers `id` and books a live slot for it; returns its inbox.
    fn session(fleet: &Fleet<Memory>, id: &str) -> (Arc<SessionSnapshot>, mpsc::UnboundedReceiver<String>) {
        fleet.registry.register(SessionSnapshot::active(id)).unwrap();
        let (tx, rx) = mpsc::unbounded_channel();
        let slot = AgentSlot { inbox: tx, alive: true, working: None, spawned: false, abort: None, host: 0 };
        fleet.world.books().agents.insert(id.to_owned(), slot);
        (fleet.registry.get(id).unwrap(), rx)
    }

    fn queued(fleet: &Fleet<Memory>, id: &str) -> Arc<RunSnapshot> {
        fleet.service.enqueue_snapshot(&RunSnapshot::queued(id, format!("task-{id}")), fleet.world.now()).unwrap();
        fleet.service.snapshot(id).unwrap()
    }

    fn wake(
        fleet: &Arc<Fleet<Memory>>,
        run: &Arc<RunSnapshot>,
        session: &Arc<SessionSnapshot>,
    ) -> Result<(), Unreachable> {
        let waker = FleetWaker(Arc::clone(fleet));
        futures::executor::block_on(waker.wake(WakeTarget { run, session, reason: "pending_task_run" }))
    }

    fn violations(fleet: &Fleet<Memory>) -> Vec<ViolationKind> {
        fleet.world.books().violations.iter().map(|v| v.kind).collect()
    }

    #[test]
    fn a_wake_to_an_idle_session_is_delivered_and_clean() {
        let fleet = fleet();
        let run = queued(&fleet, "r1");
        let (s1, mut inbox) = session(&fleet, "s1");
        assert_eq!(wake(&fleet, &run, &s1), Ok(()));
        assert_eq!(inbox.try_recv().as_deref(), Ok("r1"));
        assert!(violations(&fleet).is_empty());
        assert_eq!(fleet.world.books().counters.wakes_delivered, 1);
    }

    #[test]
    fn a_wake_to_a_session_holding_a_lease_is_a_violation() {
        let fleet = fleet();
        queued(&fleet, "r1");
        let run2 = queued(&fleet, "r2");
        let (s1, _inbox) = session(&fleet, "s1");
        let now = fleet.world.now();
        fleet.service.claim(&ClaimRequest::session("s1"), Duration::from_secs(60), now).unwrap().unwrap();
        let _ = wake(&fleet, &run2, &s1);
        assert_eq!(violations(&fleet), [ViolationKind::WakeToBusySession]);
    }

    #[test]
    fn wakes_while_paused_or_to_prompting_sessions_or_for_unqueued_runs_are_violations() {
        let fleet = fleet();
        let run = queued(&fleet, "r1");
        let (_, _inbox) = session(&fleet, "s1");
        fleet.registry.set_prompting("s1", true).unwrap();
        let s1 = fleet.registry.get("s1").unwrap();
        fleet.pause.pause("test", fleet.world.now(), "test");
        fleet.service.mark_needs_attention("r1", "test", fleet.world.now()).unwrap();
        let _ = wake(&fleet, &run, &s1);
        assert_eq!(
            violations(&fleet),
            [ViolationKind::WakeToPromptingSession, ViolationKind::WakeWhilePaused, ViolationKind::WakeForUnqueuedRun]
        );
    }

    #[test]
    fn a_wake_to_a_crashed_session_fails() {
        let fleet = fleet();
        let run = queued(&fleet, "r1");
        let (s1, inbox) = session(&fleet, "s1");
        drop(inbox);
        assert_eq!(wake(&fleet, &run, &s1), Err(Unreachable { session_id: "s1".into() }));
        assert_eq!(fleet.world.books().counters.wakes_unreachable, 1);
    }

    #[test]
    fn spawns_need_a_covering_kind_and_capacity() {
        let runtime = tokio::runtime::Builder::new_current_thread().enable_time().start_paused(true).build().unwrap();
        runtime.block_on(async {
            let fleet = fleet();
            let actor = FleetActor(Arc::clone(&fleet));
            let impossible = Arc::new(RunSnapshot::queued("r1", "t1").caps(["mainframe"]));
            assert_eq!(actor.request_spawn(&impossible, fleet.world.now()).await, Ok(SpawnOutcome::Unresolvable));
            let pinned = Arc::new(RunSnapshot::queued("r2", "t2").session_owner("s9"));
            assert_eq!(actor.request_spawn(&pinned, fleet.world.now()).await, Ok(SpawnOutcome::Unresolvable));
            let gpu = Arc::new(RunSnapshot::queued("r3", "t3").workspace("ws-1").channel("ch-infra").caps(["gpu"]));
            assert_eq!(actor.request_spawn(&gpu, fleet.world.now()).await, Ok(SpawnOutcome::Requested));
            // At the cap of one live spawned session: "no capable agent" for now.
            assert_eq!(actor.request_spawn(&gpu, fleet.world.now()).await, Ok(SpawnOutcome::Unresolvable));
            tokio::time::sleep(Duration::from_secs(60)).await; // the worker boots and registers
            let spawned = fleet.registry.all();
            assert_eq!(spawned.len(), 1);
            let worker = &spawned[0];
            assert_eq!((worker.agent_name.as_str(), worker.workspace_id.as_str()), ("trainer", "ws-1"));
            assert_eq!(worker.channel, "ch-infra");
            assert!(worker.capabilities.iter().any(|c| c == "gpu"));
            let c = fleet.world.books().counters.clone();
            assert_eq!((c.spawn_requests, c.sessions_spawned, c.spawns_unresolvable, c.spawns_deferred), (4, 1, 2, 1));
        });
    }

    #[test]
    fn marking_goes_through_the_service_and_a_claimed_run_is_an_invalid_transition() {
        let fleet = fleet();
        let actor = FleetActor(Arc::clone(&fleet));
        let r1 = queued(&fleet, "r1");
        let now = fleet.world.now();
        assert_eq!(futures::executor::block_on(actor.mark_needs_attention(&r1, "why", now)), Ok(MarkOutcome::Marked));
        assert_eq!(fleet.service.status("r1"), Some(RunStatus::NeedsAttention));
        let r2 = queued(&fleet, "r2");
        fleet.service.claim(&ClaimRequest::session("s1"), Duration::from_secs(60), now).unwrap().unwrap();
        assert_eq!(
            futures::executor::block_on(actor.mark_needs_attention(&r2, "why", now)),
            Ok(MarkOutcome::InvalidTransition)
        );
        assert_eq!(fleet.world.books().counters.marked, 1);
    }
}
