//! The model's small rules, each pinned on its own (mutation testing found them unpinned;
//! see `MUTATION.md`).

use scheduler_core::model::{Owner, OwnerRef, id};

/// An owner stored as its two columns (kind and ref) reads back as the same owner, for
/// every kind of owner.
#[test]
fn an_owner_reads_back_from_its_stored_columns() {
    let owners = [
        OwnerRef::None,
        OwnerRef::Pool("agent-kind/reviewer-01".into()),
        OwnerRef::AgentSession("workspace-7f3a/session-000123".into()),
        OwnerRef::Unknown,
    ];
    let columns =
        [("none", ""), ("pool", "agent-kind/reviewer-01"), ("agent_session", "workspace-7f3a/session-000123")];
    for (owner, (kind, reference)) in owners.iter().zip(columns) {
        assert_eq!((owner.kind(), owner.reference()), (kind, reference), "{owner:?}");
    }
    assert_eq!((OwnerRef::Unknown.kind(), OwnerRef::Unknown.reference()), ("unknown", ""));
    for owner in owners {
        assert_eq!(OwnerRef::from_parts(owner.kind(), owner.reference()), owner);
    }
}

/// The stored kind is read leniently: no kind (empty or blank) and `none` mean no owner;
/// `agent_session` and `session` both name one session; `pool` a pool; case, spaces
/// around the kind, and `-` or a space for `_` do not matter; any other kind is unknown
/// and matches no session.
#[test]
fn owner_kinds_are_read_leniently() {
    for kind in ["", "  ", "none", " NONE "] {
        assert_eq!(Owner::from_parts(kind, "x"), Owner::None, "{kind:?}");
    }
    for kind in ["agent_session", "session", " Session ", "AGENT_SESSION", "agent-session", "agent session"] {
        assert_eq!(Owner::from_parts(kind, "s-1"), Owner::AgentSession("s-1"), "{kind:?}");
    }
    for kind in ["pool", " Pool "] {
        assert_eq!(Owner::from_parts(kind, "coder"), Owner::Pool("coder"), "{kind:?}");
    }
    for kind in ["team", "agentsession", "sessions", "nonee", "pools"] {
        assert_eq!(Owner::from_parts(kind, "x"), Owner::Unknown, "{kind:?}");
    }
}

/// An id is its text without surrounding whitespace (so padded copies of an id are the
/// same id), and a blank id is empty: no id.
#[test]
fn ids_are_trimmed_and_blank_means_none() {
    assert_eq!(id("  workspace-7f3a/session-000123\t"), "workspace-7f3a/session-000123");
    assert_eq!(id("run-1"), "run-1");
    assert_eq!(id(" \n "), "");
}
