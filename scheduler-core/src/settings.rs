//! Settings, their defaults and normalisation (behaviour section 6), and the builder.

use std::time::Duration;

use crate::clock::{Clock, SystemClock};
use crate::cooldown::Cooldown;
use crate::error::BuildError;
use crate::ladder::Thresholds;
use crate::observer::{NoopObserver, Observer};
use crate::scheduler::Scheduler;
use crate::seam::{
    EscalationActor, NoEscalation, NoPauseStore, NoStarvationStore, PauseStore, SessionSource, StarvationStore,
    TaskSource, Waker,
};
use crate::stats::StatsHandle;

/// The normalised settings a scheduler runs with.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Settings {
    pub(crate) interval: Duration,
    pub(crate) wake_cooldown: Duration,
    pub(crate) sweep_limit: u32,
    pub(crate) sweep_reason: String,
    pub(crate) wake_reason: String,
    pub(crate) actor: String,
    pub(crate) thresholds: Thresholds,
    pub(crate) seam_timeout: Duration,
    pub(crate) selection_policy: SelectionPolicy,
}

/// How the non-starved runs of a cycle are given sessions (behaviour step 4).
///
/// Both policies walk the runs in selection order, fan starved runs out exactly as the
/// contract says, and never target a session twice. They differ only in what a
/// non-starved run may take:
///
/// - [`Greedy`](Self::Greedy) (the default, the contract as written): each run takes
///   the first eligible session, in session order, that is free and not in cooldown for
///   it, and keeps it. A run whose only sessions were taken by earlier runs is not
///   woken, even when an earlier run could have taken another session instead.
/// - [`Maximum`](Self::Maximum) (opt-in): a run is accepted when the runs accepted so
///   far *and it* can still be given distinct eligible sessions, none in cooldown for
///   its run; earlier runs may be moved to other sessions to make room (augmenting
///   paths). This wakes as many distinct runs as any assignment can, never leaves a run
///   unwoken to wake a later one instead, and keeps the selection order among equals.
///
/// When the greedy choice already wakes every run the maximum policy wakes, the two
/// decide exactly the same targets, in the same order, with the same counts. What each
/// count means under [`Maximum`](Self::Maximum), and the rule that picks the sessions,
/// are in the [`selection`](crate::selection#the-maximum-matching-policy) module docs.
///
/// ```
/// use scheduler_core::{SelectionPolicy, Settings};
/// assert_eq!(Settings::default().selection_policy(), SelectionPolicy::Greedy);
/// assert_eq!(SelectionPolicy::Maximum.as_str(), "maximum");
/// assert_eq!("greedy".parse::<SelectionPolicy>(), Ok(SelectionPolicy::Greedy));
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub enum SelectionPolicy {
    /// Behaviour step 4 as written: first free, non-cooling eligible session, kept.
    #[default]
    Greedy,
    /// As many runs woken as any assignment allows, earliest runs first.
    Maximum,
}

impl SelectionPolicy {
    /// The policy's name: `greedy` or `maximum`.
    pub const fn as_str(self) -> &'static str {
        match self {
            SelectionPolicy::Greedy => "greedy",
            SelectionPolicy::Maximum => "maximum",
        }
    }
}

impl std::fmt::Display for SelectionPolicy {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// The text was neither `greedy` nor `maximum`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UnknownPolicy(pub String);

impl std::fmt::Display for UnknownPolicy {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "unknown selection policy {:?} (expected `greedy` or `maximum`)", self.0)
    }
}

impl std::error::Error for UnknownPolicy {}

impl std::str::FromStr for SelectionPolicy {
    type Err = UnknownPolicy;

    /// `greedy` or `maximum`, surrounding spaces and case ignored.
    fn from_str(s: &str) -> Result<Self, UnknownPolicy> {
        match s.trim().to_ascii_lowercase().as_str() {
            "greedy" => Ok(SelectionPolicy::Greedy),
            "maximum" => Ok(SelectionPolicy::Maximum),
            _ => Err(UnknownPolicy(s.to_owned())),
        }
    }
}

impl Settings {
    /// Default loop interval: 15 seconds.
    pub const DEFAULT_INTERVAL: Duration = Duration::from_secs(15);
    /// Default wake cooldown: one minute.
    pub const DEFAULT_WAKE_COOLDOWN: Duration = Duration::from_secs(60);
    /// Default sweep limit: 100 runs per cycle.
    pub const DEFAULT_SWEEP_LIMIT: u32 = 100;
    /// Default sweep reason.
    pub const DEFAULT_SWEEP_REASON: &'static str = "scheduler_sweep";
    /// Default wake reason.
    pub const DEFAULT_WAKE_REASON: &'static str = "pending_task_run";
    /// Default daemon actor name recovery writes are attributed to.
    pub const DEFAULT_ACTOR: &'static str = "scheduler";
    /// Default deadline of every seam call the loop makes: 10 seconds.
    ///
    /// Two thirds of the default 15 s interval: long enough for a slow database or
    /// launcher call under load (seam calls normally answer in milliseconds), short
    /// enough that a hung call costs at most one interval tick, so the loop never falls
    /// more than one grid point behind because of one stuck seam. A cycle makes its
    /// calls one after the other (the three snapshot reads together), so a scheduler
    /// whose interval is shorter than a few deadlines should lower this too.
    pub const DEFAULT_SEAM_TIMEOUT: Duration = Duration::from_secs(10);
    /// Longest accepted reason or actor name, in bytes.
    pub const MAX_TEXT_LEN: usize = 256;

    /// How often the loop runs a cycle.
    pub fn interval(&self) -> Duration {
        self.interval
    }
    /// The per-(run, session) wake cooldown; zero when disabled.
    pub fn wake_cooldown(&self) -> Duration {
        self.wake_cooldown
    }
    /// At most this many leases are recovered per cycle; 0 means no limit.
    pub fn sweep_limit(&self) -> u32 {
        self.sweep_limit
    }
    /// The recovery reason.
    pub fn sweep_reason(&self) -> &str {
        &self.sweep_reason
    }
    /// The wake reason.
    pub fn wake_reason(&self) -> &str {
        &self.wake_reason
    }
    /// The daemon actor recovery writes are attributed to.
    pub fn actor(&self) -> &str {
        &self.actor
    }
    /// The ladder thresholds and the minimum queued age (zero: starvation disabled).
    pub fn thresholds(&self) -> &Thresholds {
        &self.thresholds
    }
    /// The deadline of every seam call the loop makes (section 8; see
    /// [`DEFAULT_SEAM_TIMEOUT`](Self::DEFAULT_SEAM_TIMEOUT)). Applies where the clock is
    /// a [`Timer`](crate::clock::Timer): in the loop and in
    /// [`Scheduler::run_cycle`](crate::Scheduler::run_cycle), not in a bare
    /// [`run_once`](crate::Scheduler::run_once).
    pub fn seam_timeout(&self) -> Duration {
        self.seam_timeout
    }
    /// How non-starved runs are given sessions (default [`SelectionPolicy::Greedy`]).
    pub fn selection_policy(&self) -> SelectionPolicy {
        self.selection_policy
    }
}

impl Default for Settings {
    fn default() -> Self {
        Settings {
            interval: Self::DEFAULT_INTERVAL,
            wake_cooldown: Self::DEFAULT_WAKE_COOLDOWN,
            sweep_limit: Self::DEFAULT_SWEEP_LIMIT,
            sweep_reason: Self::DEFAULT_SWEEP_REASON.to_owned(),
            wake_reason: Self::DEFAULT_WAKE_REASON.to_owned(),
            actor: Self::DEFAULT_ACTOR.to_owned(),
            thresholds: Thresholds::DEFAULT,
            seam_timeout: Self::DEFAULT_SEAM_TIMEOUT,
            selection_policy: SelectionPolicy::Greedy,
        }
    }
}

/// Builds a [`Scheduler`]. The three required seams are the arguments of
/// [`Scheduler::builder`], so a missing one is a compile error; every other seam and
/// setting is optional.
///
/// Settings are normalised as behaviour section 6 says. Rust's unsigned types make the
/// "negative" rows of that table unrepresentable, so what remains is:
///
/// | setting | default | rule |
/// | --- | --- | --- |
/// | [`interval`](Self::interval) | 15 s | zero: default |
/// | [`wake_cooldown`](Self::wake_cooldown) | 1 min | zero disables it (no keys kept) |
/// | [`sweep_limit`](Self::sweep_limit) | 100 | zero: no limit |
/// | [`sweep_reason`](Self::sweep_reason), [`wake_reason`](Self::wake_reason) | `scheduler_sweep`, `pending_task_run` | blank: default; control characters or over 256 bytes: rejected by [`build`](Self::build) |
/// | [`actor`](Self::actor) | `scheduler` | blank, control characters or over 256 bytes: rejected by [`build`](Self::build) |
/// | [`seam_timeout`](Self::seam_timeout) | 10 s | zero: default |
/// | [`starvation_age`](Self::starvation_age) | 2 min | taken as is; zero disables starvation |
/// | [`starvation_thresholds`](Self::starvation_thresholds) | 2, 4, 6, 10 | zero: default, then clamped monotonic; also sets the minimum queued age (zero: default) |
/// | [`selection_policy`](Self::selection_policy) | greedy | taken as is |
///
/// Later calls override earlier ones, so `starvation_thresholds` then `starvation_age`
/// ends with the age given last.
///
/// The convergence ladder needs two seams, a starvation store and an escalation actor:
/// give both with [`ladder`](Self::ladder). Giving only one (through
/// [`starvation_store`](Self::starvation_store) or
/// [`escalation_actor`](Self::escalation_actor) alone) is a build error
/// ([`BuildError::HalfLadder`]), never a silently disabled ladder.
#[derive(Debug)]
#[must_use = "a builder does nothing until `build` is called"]
pub struct Builder<
    T,
    S,
    W,
    C = SystemClock,
    P = NoPauseStore,
    B = NoStarvationStore,
    A = NoEscalation,
    O = NoopObserver,
> {
    tasks: T,
    sessions: S,
    waker: W,
    clock: C,
    pause: Option<P>,
    store: Option<B>,
    actor: Option<A>,
    observer: O,
    settings: Settings,
}

impl<T, S, W> Builder<T, S, W> {
    pub(crate) fn new(tasks: T, sessions: S, waker: W) -> Self {
        Builder {
            tasks,
            sessions,
            waker,
            clock: SystemClock,
            pause: None,
            store: None,
            actor: None,
            observer: NoopObserver,
            settings: Settings::default(),
        }
    }
}

impl<T, S, W, C, P, B, A, O> Builder<T, S, W, C, P, B, A, O> {
    /// How often the loop runs a cycle (default 15 s; zero: default).
    pub fn interval(mut self, interval: Duration) -> Self {
        self.settings.interval = if interval.is_zero() { Settings::DEFAULT_INTERVAL } else { interval };
        self
    }

    /// How long a woken (run, session) pair is not woken again (default 1 min; zero
    /// disables the cooldown).
    pub fn wake_cooldown(mut self, cooldown: Duration) -> Self {
        self.settings.wake_cooldown = cooldown;
        self
    }

    /// At most this many expired leases are recovered per cycle (default 100; zero:
    /// no limit).
    pub fn sweep_limit(mut self, limit: u32) -> Self {
        self.settings.sweep_limit = limit;
        self
    }

    /// The reason recorded on recovered runs (default `scheduler_sweep`; blank:
    /// default).
    pub fn sweep_reason(mut self, reason: impl Into<String>) -> Self {
        self.settings.sweep_reason = text_or(reason.into(), Settings::DEFAULT_SWEEP_REASON);
        self
    }

    /// The reason every wake carries (default `pending_task_run`; blank: default).
    pub fn wake_reason(mut self, reason: impl Into<String>) -> Self {
        self.settings.wake_reason = text_or(reason.into(), Settings::DEFAULT_WAKE_REASON);
        self
    }

    /// The daemon actor recovery writes are attributed to (default `scheduler`).
    /// Surrounding spaces are trimmed; a blank actor is a build error
    /// ([`BuildError::BlankActor`]).
    pub fn actor(mut self, actor: impl Into<String>) -> Self {
        self.settings.actor = actor.into().trim().to_owned();
        self
    }

    /// The deadline of every seam call the loop makes (default 10 s, see
    /// [`Settings::DEFAULT_SEAM_TIMEOUT`]; zero: default). A call past it fails with
    /// [`Error::TimedOut`](crate::Error::TimedOut), naming the call and the run or
    /// session, and the cycle goes on as for any other failure of that call.
    pub fn seam_timeout(mut self, timeout: Duration) -> Self {
        self.settings.seam_timeout = if timeout.is_zero() { Settings::DEFAULT_SEAM_TIMEOUT } else { timeout };
        self
    }

    /// How non-starved runs are given sessions (default [`SelectionPolicy::Greedy`],
    /// the contract as written; [`SelectionPolicy::Maximum`] wakes as many runs as any
    /// assignment can).
    ///
    /// ```
    /// # use scheduler_core::{Scheduler, SelectionPolicy, seam::*};
    /// # fn wire<T: TaskSource, S: SessionSource, W: Waker<T::Run, S::Session>>(tasks: T, sessions: S, waker: W) {
    /// let builder = Scheduler::builder(tasks, sessions, waker).selection_policy(SelectionPolicy::Maximum);
    /// assert_eq!(builder.settings().selection_policy(), SelectionPolicy::Maximum);
    /// # }
    /// ```
    pub fn selection_policy(mut self, policy: SelectionPolicy) -> Self {
        self.settings.selection_policy = policy;
        self
    }

    /// How long a run must sit queued to be starved (default 2 min). Taken as is: zero
    /// disables starvation (no fan-out, no ladder).
    pub fn starvation_age(mut self, age: Duration) -> Self {
        self.settings.thresholds.min_queued_age = age;
        self
    }

    /// The ladder thresholds and minimum queued age, normalised (see [`Thresholds`]).
    pub fn starvation_thresholds(mut self, thresholds: Thresholds) -> Self {
        self.settings.thresholds = thresholds.normalized();
        self
    }

    /// The clock cycles read `now` from (and, for the loop, sleep on).
    pub fn clock<C2: Clock>(self, clock: C2) -> Builder<T, S, W, C2, P, B, A, O> {
        Builder {
            tasks: self.tasks,
            sessions: self.sessions,
            waker: self.waker,
            clock,
            pause: self.pause,
            store: self.store,
            actor: self.actor,
            observer: self.observer,
            settings: self.settings,
        }
    }

    /// The persisted pause flag. Without one the scheduler is never paused.
    pub fn pause_store<P2: PauseStore>(self, store: P2) -> Builder<T, S, W, C, P2, B, A, O> {
        Builder {
            tasks: self.tasks,
            sessions: self.sessions,
            waker: self.waker,
            clock: self.clock,
            pause: Some(store),
            store: self.store,
            actor: self.actor,
            observer: self.observer,
            settings: self.settings,
        }
    }

    /// The convergence ladder's two seams: the durable starvation budgets and the
    /// escalation actor. Without them the ladder is off (starved runs still fan out).
    ///
    /// ```
    /// # use scheduler_core::{Scheduler, seam::*};
    /// # fn wire<T: TaskSource, S: SessionSource, W: Waker<T::Run, S::Session>,
    /// #          B: StarvationStore, A: EscalationActor<T::Run>>(tasks: T, sessions: S, waker: W, store: B, actor: A) {
    /// let scheduler = Scheduler::builder(tasks, sessions, waker).ladder(store, actor).build().expect("valid");
    /// # }
    /// ```
    pub fn ladder<B2: StarvationStore, A2>(self, store: B2, actor: A2) -> Builder<T, S, W, C, P, B2, A2, O> {
        self.starvation_store(store).escalation_actor(actor)
    }

    /// The durable starvation budgets alone. Prefer [`ladder`](Self::ladder): building
    /// with a store but no escalation actor fails with [`BuildError::HalfLadder`].
    pub fn starvation_store<B2: StarvationStore>(self, store: B2) -> Builder<T, S, W, C, P, B2, A, O> {
        Builder {
            tasks: self.tasks,
            sessions: self.sessions,
            waker: self.waker,
            clock: self.clock,
            pause: self.pause,
            store: Some(store),
            actor: self.actor,
            observer: self.observer,
            settings: self.settings,
        }
    }

    /// The escalation actor alone. Prefer [`ladder`](Self::ladder): building with an
    /// actor but no starvation store fails with [`BuildError::HalfLadder`].
    pub fn escalation_actor<A2>(self, actor: A2) -> Builder<T, S, W, C, P, B, A2, O> {
        Builder {
            tasks: self.tasks,
            sessions: self.sessions,
            waker: self.waker,
            clock: self.clock,
            pause: self.pause,
            store: self.store,
            actor: Some(actor),
            observer: self.observer,
            settings: self.settings,
        }
    }

    /// The observer events go to.
    pub fn observer<O2: Observer>(self, observer: O2) -> Builder<T, S, W, C, P, B, A, O2> {
        Builder {
            tasks: self.tasks,
            sessions: self.sessions,
            waker: self.waker,
            clock: self.clock,
            pause: self.pause,
            store: self.store,
            actor: self.actor,
            observer,
            settings: self.settings,
        }
    }

    /// The settings as normalised so far.
    pub fn settings(&self) -> &Settings {
        &self.settings
    }
}

impl<T, S, W, C, P, B, A, O> Builder<T, S, W, C, P, B, A, O>
where
    T: TaskSource,
    S: SessionSource,
    W: Waker<T::Run, S::Session>,
    C: Clock,
    P: PauseStore,
    B: StarvationStore,
    A: EscalationActor<T::Run>,
    O: Observer,
{
    /// Validates the settings and builds the scheduler.
    ///
    /// # Errors
    /// [`BuildError::InvalidText`] when a reason or the actor name holds a control
    /// character or is longer than [`Settings::MAX_TEXT_LEN`] bytes;
    /// [`BuildError::BlankActor`] when the actor name is blank;
    /// [`BuildError::HalfLadder`] when only one of the starvation store and the
    /// escalation actor was given.
    pub fn build(self) -> Result<Scheduler<T, S, W, C, P, B, A, O>, BuildError> {
        let s = &self.settings;
        check_text("sweep_reason", &s.sweep_reason)?;
        check_text("wake_reason", &s.wake_reason)?;
        check_text("actor", &s.actor)?;
        if s.actor.is_empty() {
            return Err(BuildError::BlankActor);
        }
        match (&self.store, &self.actor) {
            (Some(_), None) => return Err(BuildError::HalfLadder { given: "starvation store" }),
            (None, Some(_)) => return Err(BuildError::HalfLadder { given: "escalation actor" }),
            _ => {}
        }
        Ok(Scheduler::from_parts(
            self.tasks,
            self.sessions,
            self.waker,
            self.clock,
            self.pause,
            self.store,
            self.actor,
            self.observer,
            Cooldown::new(self.settings.wake_cooldown),
            self.settings,
            StatsHandle::default(),
        ))
    }
}

fn text_or(text: String, default: &str) -> String {
    if text.trim().is_empty() { default.to_owned() } else { text.trim().to_owned() }
}

fn check_text(setting: &'static str, value: &str) -> Result<(), BuildError> {
    let problem = if value.chars().any(char::is_control) {
        "contains a control character"
    } else if value.len() > Settings::MAX_TEXT_LEN {
        "is longer than 256 bytes"
    } else {
        return Ok(());
    };
    Err(BuildError::InvalidText { setting, problem, value: value.to_owned() })
}
