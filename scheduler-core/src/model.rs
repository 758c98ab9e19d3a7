//! The scheduler's vocabulary: statuses, priority, scope, owner and session state.
//!
//! Every enum here parses from storage text the way the contract demands: case- and
//! space-insensitively (`" Queued "` is [`RunStatus::Queued`]). Two parsers exist for
//! each type:
//!
//! - [`from_text`](RunStatus::from_text) is total and lenient: text that names no known
//!   value becomes the distinct `Unknown` variant, which never compares equal to a
//!   known value (an unknown run status is never `queued`).
//! - [`FromStr`] is strict: unknown text is an [`UnknownValue`] error that says which
//!   kind of value was expected and what was found.
//!
//! ```
//! use scheduler_core::model::{Priority, RunStatus};
//!
//! assert_eq!(RunStatus::from_text(" Queued "), RunStatus::Queued);
//! assert_eq!(RunStatus::from_text("paused-ish"), RunStatus::Unknown);
//! assert!("paused-ish".parse::<RunStatus>().is_err());
//! // Missing or unknown priorities rank as medium, but stay distinguishable.
//! assert_eq!(Priority::from_text("").rank(), Priority::Medium.rank());
//! assert_ne!(Priority::from_text(""), Priority::Medium);
//! ```

use std::fmt;
use std::str::FromStr;

/// Strict parse failure: the text names no known value of `kind`.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("unknown {kind} {value:?}; expected one of: {expected}")]
pub struct UnknownValue {
    /// What was being parsed, e.g. `"run status"`.
    pub kind: &'static str,
    /// The text as given.
    pub value: String,
    /// The accepted spellings, comma separated.
    pub expected: &'static str,
}

/// Compares `text` to an ASCII lowercase `name`, ignoring case, surrounding white space
/// and `-`/`_`/space differences inside the word (`"In Progress"` is `in_progress`).
fn text_is(text: &str, name: &str) -> bool {
    let mut a = text.trim().bytes().map(|b| match b {
        b'-' | b' ' => b'_',
        b => b.to_ascii_lowercase(),
    });
    let mut b = name.bytes();
    loop {
        match (a.next(), b.next()) {
            (None, None) => return true,
            (Some(x), Some(y)) if x == y => {}
            _ => return false,
        }
    }
}

macro_rules! text_enum {
    (
        $(#[$meta:meta])*
        $name:ident, $kind:literal {
            $( $(#[$vmeta:meta])* $variant:ident = $text:literal, )+
        }
    ) => {
        $(#[$meta])*
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
        pub enum $name {
            $( $(#[$vmeta])* $variant, )+
            /// Text that names no known value. Kept distinct from every known value.
            Unknown,
        }

        impl $name {
            /// Every known value, in declaration order (not including `Unknown`).
            pub const KNOWN: &'static [$name] = &[ $( $name::$variant, )+ ];

            /// Parses storage text leniently: case- and space-insensitive, and any
            /// text that names no known value becomes `Unknown`.
            pub fn from_text(text: &str) -> Self {
                $( if text_is(text, $text) { return $name::$variant; } )+
                $name::Unknown
            }

            /// The canonical spelling (`"unknown"` for `Unknown`).
            pub const fn as_str(self) -> &'static str {
                match self {
                    $( $name::$variant => $text, )+
                    $name::Unknown => "unknown",
                }
            }
        }

        impl FromStr for $name {
            type Err = UnknownValue;

            /// Strict parse: unknown text is an error naming what was expected.
            fn from_str(text: &str) -> Result<Self, Self::Err> {
                match Self::from_text(text) {
                    $name::Unknown => Err(UnknownValue {
                        kind: $kind,
                        value: text.to_owned(),
                        expected: concat!($( $text, ", " ),+ ),
                    }),
                    known => Ok(known),
                }
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(self.as_str())
            }
        }
    };
}

text_enum! {
    /// The status of a run: one execution attempt of a task.
    RunStatus, "run status" {
        /// Waiting for a session to claim it. The only status the scheduler wakes for.
        Queued = "queued",
        /// Leased to a session that has not started it yet.
        Claimed = "claimed",
        /// The session is starting it.
        Starting = "starting",
        /// The session is working on it.
        Running = "running",
        /// Finished successfully.
        Completed = "completed",
        /// Finished unsuccessfully.
        Failed = "failed",
        /// Withdrawn.
        Canceled = "canceled",
        /// The scheduler gave up waking for it; a person should look.
        NeedsAttention = "needs_attention",
    }
}

impl RunStatus {
    /// Whether a run in this status makes its session busy (`claimed`, `starting`,
    /// `running`).
    pub const fn holds_session(self) -> bool {
        matches!(self, RunStatus::Claimed | RunStatus::Starting | RunStatus::Running)
    }
}

text_enum! {
    /// The status of a task, the unit of work a run executes.
    TaskStatus, "task status" {
        /// Not ready to be worked on.
        Draft = "draft",
        /// Waiting to be picked up.
        Pending = "pending",
        /// Waiting on something else.
        Blocked = "blocked",
        /// Ready to be worked on.
        Ready = "ready",
        /// Being worked on.
        InProgress = "in_progress",
        /// Done.
        Completed = "completed",
        /// Given up.
        Failed = "failed",
        /// Withdrawn.
        Canceled = "canceled",
    }
}

impl TaskStatus {
    /// Whether a run of a task in this status may be claimed: every status but
    /// `draft`, `blocked` and `canceled` (an unknown status included).
    pub const fn allows_claim(self) -> bool {
        !matches!(self, TaskStatus::Draft | TaskStatus::Blocked | TaskStatus::Canceled)
    }
}

text_enum! {
    /// How urgent a task is. Order runs with [`Priority::rank`]: a missing or unknown
    /// priority ranks as `medium`.
    Priority, "priority" {
        /// Lowest.
        Low = "low",
        /// The default.
        Medium = "medium",
        /// Above medium.
        High = "high",
        /// Highest.
        Urgent = "urgent",
    }
}

impl Priority {
    /// The ordering rank: low 0, medium 1, high 2, urgent 3; unknown ranks as medium.
    pub const fn rank(self) -> u8 {
        match self {
            Priority::Low => 0,
            Priority::Medium | Priority::Unknown => 1,
            Priority::High => 2,
            Priority::Urgent => 3,
        }
    }
}

text_enum! {
    /// Where a task may be worked on.
    Scope, "scope" {
        /// Any session without a workspace may take it.
        Global = "global",
        /// Only sessions in the task's workspace may take it.
        Workspace = "workspace",
    }
}

text_enum! {
    /// The lifecycle state of an agent session. Only `active` sessions are woken.
    SessionState, "session state" {
        /// Live and able to take work.
        Active = "active",
        /// Live but not taking work.
        Inactive = "inactive",
        /// Gone.
        Stopped = "stopped",
    }
}

/// Who may take a task.
///
/// Borrowed from the snapshot so that a view hands it over without copying. Refs are
/// compared after trimming surrounding spaces; an owner whose ref is empty (after
/// trimming) or whose kind is unknown matches no session.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Owner<'a> {
    /// Anyone may take it.
    None,
    /// Sessions whose agent name equals the ref.
    Pool(&'a str),
    /// The session whose id equals the ref.
    AgentSession(&'a str),
    /// An owner kind this crate does not know; matches no session.
    Unknown,
}

impl<'a> Owner<'a> {
    /// Builds an owner from its stored kind and ref. The kind parses case- and
    /// space-insensitively: empty or `none` is [`Owner::None`], `pool` is a pool,
    /// `agent_session` (or `session`) is one session; anything else is unknown.
    ///
    /// ```
    /// use scheduler_core::model::Owner;
    /// assert_eq!(Owner::from_parts(" Pool ", "agent-1"), Owner::Pool("agent-1"));
    /// assert_eq!(Owner::from_parts("", ""), Owner::None);
    /// assert_eq!(Owner::from_parts("team", "x"), Owner::Unknown);
    /// ```
    pub fn from_parts(kind: &str, reference: &'a str) -> Self {
        if kind.trim().is_empty() || text_is(kind, "none") {
            Owner::None
        } else if text_is(kind, "pool") {
            Owner::Pool(reference)
        } else if text_is(kind, "agent_session") || text_is(kind, "session") {
            Owner::AgentSession(reference)
        } else {
            Owner::Unknown
        }
    }
}

/// Who may take a task, owned: what a task service stores and a
/// [`TaskSpec`](crate::lease::TaskSpec) carries. [`as_owner`](Self::as_owner) lends it
/// as the scheduler's [`Owner`].
///
/// For storage, [`kind`](Self::kind) and [`reference`](Self::reference) give the two
/// columns, and [`from_parts`](Self::from_parts) reads them back (leniently, like
/// [`Owner::from_parts`]).
///
/// ```
/// use scheduler_core::model::{Owner, OwnerRef};
/// let owner = OwnerRef::Pool("coder".into());
/// assert_eq!(owner.as_owner(), Owner::Pool("coder"));
/// assert_eq!((owner.kind(), owner.reference()), ("pool", "coder"));
/// assert_eq!(OwnerRef::from_parts(" Pool ", "coder"), owner);
/// assert_eq!(OwnerRef::from_parts("team", "x"), OwnerRef::Unknown);
/// ```
#[derive(Debug, Clone, PartialEq, Eq, Hash, Default)]
pub enum OwnerRef {
    /// Anyone may take it.
    #[default]
    None,
    /// Sessions whose agent name equals the ref.
    Pool(String),
    /// The session whose id equals the ref.
    AgentSession(String),
    /// An owner kind this crate does not know; matches no session.
    Unknown,
}

impl OwnerRef {
    /// Borrowed as the scheduler's [`Owner`].
    pub fn as_owner(&self) -> Owner<'_> {
        match self {
            OwnerRef::None => Owner::None,
            OwnerRef::Pool(r) => Owner::Pool(r),
            OwnerRef::AgentSession(r) => Owner::AgentSession(r),
            OwnerRef::Unknown => Owner::Unknown,
        }
    }

    /// The owner kind as stored: `none`, `pool`, `agent_session` or `unknown`.
    pub fn kind(&self) -> &'static str {
        match self {
            OwnerRef::None => "none",
            OwnerRef::Pool(_) => "pool",
            OwnerRef::AgentSession(_) => "agent_session",
            OwnerRef::Unknown => "unknown",
        }
    }

    /// The owner ref as stored (empty for `none` and `unknown`).
    pub fn reference(&self) -> &str {
        match self {
            OwnerRef::Pool(r) | OwnerRef::AgentSession(r) => r,
            OwnerRef::None | OwnerRef::Unknown => "",
        }
    }

    /// Reads an owner back from its stored kind and ref (see [`Owner::from_parts`]).
    pub fn from_parts(kind: &str, reference: &str) -> Self {
        match Owner::from_parts(kind, reference) {
            Owner::None => OwnerRef::None,
            Owner::Pool(r) => OwnerRef::Pool(r.to_owned()),
            Owner::AgentSession(r) => OwnerRef::AgentSession(r.to_owned()),
            Owner::Unknown => OwnerRef::Unknown,
        }
    }
}

/// Trims an id; the empty string afterwards means "no id".
#[inline]
pub fn id(raw: &str) -> &str {
    raw.trim()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_case_and_space_insensitively() {
        assert_eq!(RunStatus::from_text(" Queued "), RunStatus::Queued);
        assert_eq!(RunStatus::from_text("NEEDS_ATTENTION"), RunStatus::NeedsAttention);
        assert_eq!(RunStatus::from_text("needs attention"), RunStatus::NeedsAttention);
        assert_eq!(TaskStatus::from_text("In-Progress"), TaskStatus::InProgress);
        assert_eq!(Priority::from_text("\tURGENT\n"), Priority::Urgent);
        assert_eq!(Scope::from_text("Workspace"), Scope::Workspace);
        assert_eq!(SessionState::from_text(" ACTIVE"), SessionState::Active);
    }

    #[test]
    fn unknown_is_distinct_and_never_queued() {
        for text in ["", "queue", "queued!", "q ueued", "claimed2"] {
            let s = RunStatus::from_text(text);
            assert_eq!(s, RunStatus::Unknown, "{text:?}");
            assert_ne!(s, RunStatus::Queued);
            assert!(!s.holds_session());
        }
        assert!(TaskStatus::Unknown.allows_claim());
    }

    #[test]
    fn strict_parse_names_the_problem() {
        let err = "sleepy".parse::<SessionState>().unwrap_err();
        let msg = err.to_string();
        assert!(msg.contains("session state") && msg.contains("sleepy"), "{msg}");
        assert!(msg.contains("active"), "{msg}");
        assert_eq!("Stopped".parse::<SessionState>(), Ok(SessionState::Stopped));
    }

    #[test]
    fn round_trips_every_known_value() {
        for s in RunStatus::KNOWN {
            assert_eq!(RunStatus::from_text(s.as_str()), *s);
        }
        for s in TaskStatus::KNOWN {
            assert_eq!(TaskStatus::from_text(&s.to_string().to_uppercase()), *s);
        }
        for s in Priority::KNOWN {
            assert_eq!(s.as_str().parse::<Priority>(), Ok(*s));
        }
    }

    #[test]
    fn priority_ranks() {
        assert!(Priority::Low.rank() < Priority::Medium.rank());
        assert!(Priority::Medium.rank() < Priority::High.rank());
        assert!(Priority::High.rank() < Priority::Urgent.rank());
        assert_eq!(Priority::Unknown.rank(), Priority::Medium.rank());
    }

    #[test]
    fn busy_statuses() {
        let busy: Vec<_> = RunStatus::KNOWN.iter().filter(|s| s.holds_session()).collect();
        assert_eq!(busy, [&RunStatus::Claimed, &RunStatus::Starting, &RunStatus::Running]);
    }

    #[test]
    fn claimable_task_statuses() {
        let blocked: Vec<_> = TaskStatus::KNOWN.iter().filter(|s| !s.allows_claim()).collect();
        assert_eq!(blocked, [&TaskStatus::Draft, &TaskStatus::Blocked, &TaskStatus::Canceled]);
    }
}
