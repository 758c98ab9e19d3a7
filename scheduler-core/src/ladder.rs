//! The convergence ladder: pure arithmetic over a run's durable starvation budget.
//!
//! A starved run climbs one rung per *interval* cycle in which it is still queued (an
//! on-demand cycle climbs nothing): its wake count grows by one, and the tier is the
//! highest whose threshold the count reached. The scheduler performs the side effects
//! (spawn, event, needs-attention) that these functions say are due; nothing here does
//! I/O.
//!
//! The decisions, each a pure function of what the cycle read:
//!
//! - [`candidate_action`]: what to do with a convergence candidate given its re-read
//!   status (climb, keep its budget, or clear it);
//! - [`Step::plan`]: given its loaded budget, the advanced budget and which tiers are
//!   due; [`Step::spawn_requested`] and [`Step::event_emitted`] record what succeeded;
//! - [`after_mark`]: whether the budget is saved or cleared after the needs-attention
//!   tier;
//! - [`listed_action`]: what to do with a stored budget of a run that was not a
//!   candidate, given that run's status (reconcile);
//! - [`reconcile_page`]: how many stored budgets a cycle lists and reconciles (one
//!   page of the store per cycle, so a cycle costs the same with a million budgets).
//!
//! Time may step back: nothing here subtracts times that could underflow (a queued-at
//! or budget time later than `now` reads as an age of zero).
//!
//! ```
//! use std::time::{Duration, SystemTime};
//! use scheduler_core::ladder::{Budget, Thresholds, Tier};
//!
//! let th = Thresholds::default();
//! let t0 = SystemTime::UNIX_EPOCH;
//! let mut budget = Budget::advance(None, t0, &th);
//! for _ in 1..4 {
//!     budget = Budget::advance(Some(&budget), t0 + Duration::from_secs(60), &th);
//! }
//! assert_eq!(budget.wake_count, 4);
//! assert_eq!(budget.tier, Tier::Spawn);
//! assert!(budget.spawn_due(&th));
//! assert_eq!(budget.first_starved_at, t0);
//! ```

use std::fmt::Write as _;
use std::time::{Duration, SystemTime};

use crate::model::RunStatus;
use crate::seam::MarkOutcome;

/// A rung of the ladder.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Default)]
pub enum Tier {
    /// Starved, below every threshold.
    #[default]
    None = 0,
    /// Fan the wake out to every eligible session.
    FanOut = 1,
    /// Ask for a capability-matched worker.
    Spawn = 2,
    /// Emit a starved event.
    Event = 3,
    /// Mark the run `needs_attention`.
    NeedsAttention = 4,
}

impl Tier {
    /// The tier's number, 0 to 4.
    pub const fn as_u8(self) -> u8 {
        self as u8
    }

    /// The tier with number `n`, if any.
    pub const fn from_u8(n: u8) -> Option<Tier> {
        Some(match n {
            0 => Tier::None,
            1 => Tier::FanOut,
            2 => Tier::Spawn,
            3 => Tier::Event,
            4 => Tier::NeedsAttention,
            _ => return None,
        })
    }
}

/// The ladder's thresholds: how many starved cycles each tier waits for, and how long
/// a run must sit queued before it counts as starved.
///
/// Start from [`Thresholds::default`] and set what differs with the named setters; the
/// values are normalised when the scheduler is built
/// ([`Builder::starvation_thresholds`](crate::Builder::starvation_thresholds)), or by
/// [`normalized`](Thresholds::normalized): a zero count takes its default, then the
/// counts are clamped to be monotonic (spawn >= fan-out, event >= spawn,
/// needs-attention >= event); a zero minimum queued age takes its default.
///
/// ```
/// use std::time::Duration;
/// use scheduler_core::ladder::Thresholds;
/// let th = Thresholds::default().fan_out_after(5).spawn_after(3).event_after(0).needs_attention_after(4);
/// let th = th.min_queued_age(Duration::ZERO).normalized();
/// assert_eq!((th.fan_out_after, th.spawn_after, th.event_after, th.needs_attention_after), (5, 5, 6, 6));
/// assert_eq!(th.min_queued_age, Duration::from_secs(120));
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Thresholds {
    /// Starved cycles before the fan-out tier (default 2).
    pub fan_out_after: u32,
    /// Starved cycles before a worker spawn is requested (default 4).
    pub spawn_after: u32,
    /// Starved cycles before a starved event is emitted (default 6).
    pub event_after: u32,
    /// Starved cycles before the run is marked `needs_attention` (default 10).
    pub needs_attention_after: u32,
    /// How long a run must sit queued to count as starved (default 2 minutes). Zero
    /// disables starvation (only reachable through
    /// [`Builder::starvation_age`](crate::Builder::starvation_age)).
    pub min_queued_age: Duration,
}

impl Thresholds {
    /// The default minimum queued age: two minutes.
    pub const DEFAULT_MIN_QUEUED_AGE: Duration = Duration::from_secs(120);

    /// The defaults: 2, 4, 6, 10 cycles and two minutes.
    pub const DEFAULT: Thresholds = Thresholds {
        fan_out_after: 2,
        spawn_after: 4,
        event_after: 6,
        needs_attention_after: 10,
        min_queued_age: Self::DEFAULT_MIN_QUEUED_AGE,
    };

    /// Starved cycles before the fan-out tier (0: the default).
    pub const fn fan_out_after(mut self, cycles: u32) -> Self {
        self.fan_out_after = cycles;
        self
    }

    /// Starved cycles before a worker spawn is requested (0: the default).
    pub const fn spawn_after(mut self, cycles: u32) -> Self {
        self.spawn_after = cycles;
        self
    }

    /// Starved cycles before a starved event is emitted (0: the default).
    pub const fn event_after(mut self, cycles: u32) -> Self {
        self.event_after = cycles;
        self
    }

    /// Starved cycles before the run is marked `needs_attention` (0: the default).
    pub const fn needs_attention_after(mut self, cycles: u32) -> Self {
        self.needs_attention_after = cycles;
        self
    }

    /// How long a run must sit queued to count as starved (zero: the default).
    pub const fn min_queued_age(mut self, age: Duration) -> Self {
        self.min_queued_age = age;
        self
    }

    /// Applies the normalisation rules to possibly raw values.
    pub fn normalized(self) -> Self {
        let d = Self::DEFAULT;
        let or = |v: u32, default: u32| if v == 0 { default } else { v };
        let fan_out_after = or(self.fan_out_after, d.fan_out_after);
        let spawn_after = or(self.spawn_after, d.spawn_after).max(fan_out_after);
        let event_after = or(self.event_after, d.event_after).max(spawn_after);
        let needs_attention_after = or(self.needs_attention_after, d.needs_attention_after).max(event_after);
        let min_queued_age = if self.min_queued_age.is_zero() { d.min_queued_age } else { self.min_queued_age };
        Thresholds { fan_out_after, spawn_after, event_after, needs_attention_after, min_queued_age }
    }

    /// The highest tier whose threshold `wake_count` reached.
    pub fn tier_for(&self, wake_count: u32) -> Tier {
        if wake_count >= self.needs_attention_after {
            Tier::NeedsAttention
        } else if wake_count >= self.event_after {
            Tier::Event
        } else if wake_count >= self.spawn_after {
            Tier::Spawn
        } else if wake_count >= self.fan_out_after {
            Tier::FanOut
        } else {
            Tier::None
        }
    }
}

impl Default for Thresholds {
    fn default() -> Self {
        Self::DEFAULT
    }
}

/// A run's durable escalation budget, as kept by a
/// [`StarvationStore`](crate::seam::StarvationStore) under the run's id.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Budget {
    /// Starved cycles counted so far.
    pub wake_count: u32,
    /// The highest tier reached.
    pub tier: Tier,
    /// When the run was first seen starved.
    pub first_starved_at: SystemTime,
    /// The last cycle that advanced the budget.
    pub last_wake_at: SystemTime,
    /// When the row was last written.
    pub updated_at: SystemTime,
    /// When a worker spawn was requested, if one was.
    pub spawn_requested_at: Option<SystemTime>,
    /// When the starved event was emitted, if it was.
    pub starved_event_at: Option<SystemTime>,
}

impl Budget {
    /// A fresh budget: nothing counted yet, first seen at `now`.
    pub fn fresh(now: SystemTime) -> Budget {
        Budget {
            wake_count: 0,
            tier: Tier::None,
            first_starved_at: now,
            last_wake_at: now,
            updated_at: now,
            spawn_requested_at: None,
            starved_event_at: None,
        }
    }

    /// Advances a budget by one starved cycle at `now` (`None` is a fresh budget):
    /// count + 1, first-starved-at kept, last-wake-at and updated-at = `now`, tier
    /// recomputed.
    pub fn advance(previous: Option<&Budget>, now: SystemTime, thresholds: &Thresholds) -> Budget {
        let mut next = previous.copied().unwrap_or_else(|| Budget::fresh(now));
        next.wake_count = next.wake_count.saturating_add(1);
        next.last_wake_at = now;
        next.updated_at = now;
        next.tier = thresholds.tier_for(next.wake_count);
        next
    }

    /// Whether the spawn tier is due: the count reached it and no spawn was requested.
    pub fn spawn_due(&self, thresholds: &Thresholds) -> bool {
        self.wake_count >= thresholds.spawn_after && self.spawn_requested_at.is_none()
    }

    /// Whether the event tier is due: the count reached it and no event was emitted.
    pub fn event_due(&self, thresholds: &Thresholds) -> bool {
        self.wake_count >= thresholds.event_after && self.starved_event_at.is_none()
    }

    /// Whether the needs-attention tier is due.
    pub fn needs_attention_due(&self, thresholds: &Thresholds) -> bool {
        self.wake_count >= thresholds.needs_attention_after
    }
}

/// What the ladder does with a run's budget, given the run's re-read status.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum StatusAction {
    /// Still `queued`: advance the budget and escalate (candidates only).
    Climb,
    /// Keep the budget as it is.
    Keep,
    /// Clear the budget.
    Clear,
}

/// A convergence candidate's fate given its re-read status (`None`: not found): still
/// `queued` climbs; `needs_attention` keeps its budget; anything else clears it.
///
/// ```
/// use scheduler_core::ladder::{StatusAction, candidate_action};
/// use scheduler_core::model::RunStatus;
/// assert_eq!(candidate_action(Some(RunStatus::Queued)), StatusAction::Climb);
/// assert_eq!(candidate_action(Some(RunStatus::NeedsAttention)), StatusAction::Keep);
/// assert_eq!(candidate_action(Some(RunStatus::Running)), StatusAction::Clear);
/// assert_eq!(candidate_action(None), StatusAction::Clear);
/// ```
pub fn candidate_action(status: Option<RunStatus>) -> StatusAction {
    match status {
        Some(RunStatus::Queued) => StatusAction::Climb,
        Some(RunStatus::NeedsAttention) => StatusAction::Keep,
        _ => StatusAction::Clear,
    }
}

/// A stored budget's fate when its run was not a candidate this cycle (reconcile):
/// `queued` (a paused run holds its clock) or `needs_attention` keeps it; anything else,
/// or a run not found, clears it.
///
/// ```
/// use scheduler_core::ladder::{StatusAction, listed_action};
/// use scheduler_core::model::RunStatus;
/// assert_eq!(listed_action(Some(RunStatus::Queued)), StatusAction::Keep);
/// assert_eq!(listed_action(Some(RunStatus::Completed)), StatusAction::Clear);
/// ```
pub fn listed_action(status: Option<RunStatus>) -> StatusAction {
    match status {
        Some(RunStatus::Queued | RunStatus::NeedsAttention) => StatusAction::Keep,
        _ => StatusAction::Clear,
    }
}

/// One candidate's rung this cycle: its advanced budget and the escalations due.
///
/// ```
/// use std::time::{Duration, SystemTime};
/// use scheduler_core::ladder::{Budget, Step, Thresholds};
/// let th = Thresholds::default();
/// let t = SystemTime::UNIX_EPOCH + Duration::from_secs(600);
/// let mut budget = Budget::fresh(t);
/// budget.wake_count = 5;
/// let mut step = Step::plan(Some(&budget), t, &th);
/// assert_eq!(step.budget.wake_count, 6);
/// assert!(step.spawn && step.event && !step.mark);
/// step.spawn_requested(t);
/// assert_eq!(step.budget.spawn_requested_at, Some(t));
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Step {
    /// The budget advanced by this cycle.
    pub budget: Budget,
    /// The spawn tier is due (ask for a worker).
    pub spawn: bool,
    /// The event tier is due (emit the starved event).
    pub event: bool,
    /// The needs-attention tier is due (mark the run).
    pub mark: bool,
}

impl Step {
    /// Advances `previous` (`None`: a fresh budget) by one starved cycle at `now` and
    /// says which tiers are due.
    pub fn plan(previous: Option<&Budget>, now: SystemTime, thresholds: &Thresholds) -> Step {
        let budget = Budget::advance(previous, now, thresholds);
        Step {
            budget,
            spawn: budget.spawn_due(thresholds),
            event: budget.event_due(thresholds),
            mark: budget.needs_attention_due(thresholds),
        }
    }

    /// Records a requested spawn, so that no later cycle requests it again.
    pub fn spawn_requested(&mut self, now: SystemTime) {
        self.budget.spawn_requested_at = Some(now);
    }

    /// Records an emitted starved event, so that no later cycle emits it again.
    pub fn event_emitted(&mut self, now: SystemTime) {
        self.budget.starved_event_at = Some(now);
    }
}

/// What becomes of a climbing candidate's budget after its escalations.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum BudgetFate {
    /// Save the advanced budget.
    Save,
    /// Clear it: the run was marked, or had left `queued` meanwhile.
    Clear,
}

/// The budget's fate given the needs-attention tier's outcome (`None`: not due, or the
/// mark failed; the budget is then saved and the mark retried next cycle).
///
/// ```
/// use scheduler_core::ladder::{BudgetFate, after_mark};
/// use scheduler_core::seam::MarkOutcome;
/// assert_eq!(after_mark(None), BudgetFate::Save);
/// assert_eq!(after_mark(Some(MarkOutcome::Marked)), BudgetFate::Clear);
/// assert_eq!(after_mark(Some(MarkOutcome::InvalidTransition)), BudgetFate::Clear);
/// ```
pub fn after_mark(mark: Option<MarkOutcome>) -> BudgetFate {
    match mark {
        None => BudgetFate::Save,
        Some(MarkOutcome::Marked | MarkOutcome::InvalidTransition) => BudgetFate::Clear,
    }
}

/// The fewest stored budgets one cycle lists and reconciles: see [`reconcile_page`].
pub const RECONCILE_PAGE_MIN: usize = 4096;

/// How many stored budgets a cycle with `pending_runs` pending runs lists: as many as
/// it has pending runs, at least [`RECONCILE_PAGE_MIN`].
///
/// Reconcile walks the store one page per cycle, in the store's key order, carrying
/// the last key listed to the next cycle and starting over at the end, so a cycle's
/// cost follows its own size (its pending runs), not the number of stored budgets.
/// The store is asked for one row more than the page: that row says whether the walk
/// goes on (it is not part of the page), so a store that fits in one page is listed
/// whole every cycle, exactly as "list every stored budget" says. A larger one is
/// covered once every `stored / page` cycles:
///
/// - the budget of a run that left `queued` while not a candidate is cleared when its
///   page comes round, so it may linger that many cycles (a candidate's budget is
///   still cleared in the cycle its run leaves `queued`);
/// - the rules that match rows by trimmed key (a stored key that differs from the run
///   id only by surrounding spaces, a stray second row of a run) apply to the rows of
///   the page: a candidate whose budget is stored under such a key outside this
///   cycle's page reads and writes it under its run id.
///
/// The page is listed before the candidates climb, and it is their load: a candidate
/// whose budget is on it climbs from the listed row, and only the others are read with
/// `load_many`, so no budget is read twice in a cycle. The budgets on the page are
/// written back (and cleared) in page order, the store's key order.
///
/// The ladder's outcomes (what climbs, when each tier fires, what is cleared after
/// needs-attention) do not depend on the page.
///
/// ```
/// use scheduler_core::ladder::{RECONCILE_PAGE_MIN, reconcile_page};
/// assert_eq!(reconcile_page(10), RECONCILE_PAGE_MIN);
/// assert_eq!(reconcile_page(100_000), 100_000);
/// ```
pub fn reconcile_page(pending_runs: usize) -> usize {
    pending_runs.max(RECONCILE_PAGE_MIN)
}

/// Writes the needs-attention diagnostic into `out` (cleared first):
/// `run queued <age, whole seconds> without a claim after <count> escalation cycles`.
///
/// ```
/// use std::time::Duration;
/// let mut s = String::new();
/// scheduler_core::ladder::write_diagnostic(&mut s, Duration::from_millis(601_900), 10);
/// assert_eq!(s, "run queued 601s without a claim after 10 escalation cycles");
/// ```
pub fn write_diagnostic(out: &mut String, age: Duration, wake_count: u32) {
    out.clear();
    // Writing to a String cannot fail.
    let _ = write!(out, "run queued {}s without a claim after {wake_count} escalation cycles", age.as_secs());
}

/// How long a run has been queued at `now`: zero when `queued_at` is unknown or in the
/// future.
pub fn queued_age(now: SystemTime, queued_at: Option<SystemTime>) -> Duration {
    queued_at.and_then(|q| now.duration_since(q).ok()).unwrap_or_default()
}

/// Whether a run queued at `queued_at` is starved at `now`: starvation is enabled
/// (`min_age > 0`), the queued-at is known and `now - queued_at >= min_age`.
pub fn is_starved(now: SystemTime, queued_at: Option<SystemTime>, min_age: Duration) -> bool {
    if min_age.is_zero() {
        return false;
    }
    match queued_at {
        Some(q) => match now.duration_since(q) {
            Ok(age) => age >= min_age,
            Err(_) => false,
        },
        None => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn t(secs: u64) -> SystemTime {
        SystemTime::UNIX_EPOCH + Duration::from_secs(secs)
    }

    #[test]
    fn tiers_follow_thresholds() {
        let th = Thresholds::default();
        let tiers: Vec<_> = (0..=11).map(|n| th.tier_for(n)).collect();
        use Tier::*;
        assert_eq!(
            tiers,
            [None, None, FanOut, FanOut, Spawn, Spawn, Event, Event, Event, Event, NeedsAttention, NeedsAttention]
        );
    }

    #[test]
    fn normalisation_defaults_zeroes_and_clamps() {
        let th = Thresholds::default()
            .fan_out_after(0)
            .spawn_after(0)
            .event_after(0)
            .needs_attention_after(0)
            .min_queued_age(Duration::ZERO)
            .normalized();
        assert_eq!(th, Thresholds::DEFAULT);
        let th = Thresholds::default()
            .fan_out_after(3)
            .spawn_after(1)
            .event_after(2)
            .needs_attention_after(9)
            .min_queued_age(Duration::from_secs(5))
            .normalized();
        assert_eq!((th.fan_out_after, th.spawn_after, th.event_after, th.needs_attention_after), (3, 3, 3, 9));
        assert_eq!(th.min_queued_age, Duration::from_secs(5));
        let th = Thresholds::default()
            .fan_out_after(1)
            .spawn_after(2)
            .event_after(3)
            .needs_attention_after(1)
            .min_queued_age(Duration::from_secs(1))
            .normalized();
        assert_eq!(th.needs_attention_after, 3);
    }

    #[test]
    fn advance_keeps_first_starved_and_counts() {
        let th = Thresholds::default();
        let b = Budget::advance(None, t(10), &th);
        assert_eq!((b.wake_count, b.first_starved_at, b.last_wake_at, b.updated_at), (1, t(10), t(10), t(10)));
        let b = Budget::advance(Some(&b), t(20), &th);
        assert_eq!((b.wake_count, b.first_starved_at, b.last_wake_at, b.updated_at), (2, t(10), t(20), t(20)));
        assert_eq!(b.tier, Tier::FanOut);
    }

    #[test]
    fn due_flags_respect_records() {
        let th = Thresholds::default();
        let mut b = Budget::fresh(t(0));
        b.wake_count = 6;
        assert!(b.spawn_due(&th) && b.event_due(&th) && !b.needs_attention_due(&th));
        b.spawn_requested_at = Some(t(1));
        b.starved_event_at = Some(t(1));
        assert!(!b.spawn_due(&th) && !b.event_due(&th));
        b.wake_count = 3;
        b.spawn_requested_at = None;
        assert!(!b.spawn_due(&th));
    }

    #[test]
    fn starvation_needs_known_old_enough_queued_at() {
        let min = Duration::from_secs(120);
        assert!(is_starved(t(200), Some(t(80)), min));
        assert!(!is_starved(t(199), Some(t(80)), min));
        assert!(!is_starved(t(1000), None, min));
        assert!(!is_starved(t(1000), Some(t(0)), Duration::ZERO));
        assert!(!is_starved(t(0), Some(t(1000)), min));
        assert_eq!(queued_age(t(5), Some(t(10))), Duration::ZERO);
    }
}
