//! The session registry: register, update, remove, mark stale.

use scheduler_core::lease::{ErrorKind, SessionRegistry, SessionSpec};
use scheduler_core::model::SessionState;
use scheduler_core::view::SessionView;

use super::support::*;
use super::{Backend, Fixture, Runner, checks};

pub(super) async fn run<'a, B: Backend + ?Sized>(r: &mut Runner<'a, B>) {
    checks!(r;
        register_lists_the_session ["sessions.register"] Fresh,
        updates_change_one_field ["sessions.update"] Fresh,
        remove_forgets_the_session ["sessions.remove"] Fresh,
        mark_stale_stops_unseen_sessions ["sessions.mark_stale"] Fresh,
    );
}

/// A session with every field set.
pub fn full_session(id: &str) -> SessionSpec {
    SessionSpec::active(id)
        .agent("coder")
        .workspace("ws-1")
        .channel("ch-1")
        .session_type("claude")
        .caps(["rust", "sqlite"])
        .created_at(at_ms(1_500))
}

/// Every live session as the scheduler reads it, by id.
pub(super) async fn listed<R: SessionRegistry>(
    c: Check,
    reg: &R,
    rule: &'static str,
) -> Result<Vec<SessionSpec>, Failure> {
    let mut out = Vec::new();
    c.ok(reg.sessions(&mut out).await, rule, "sessions")?;
    let mut specs: Vec<SessionSpec> = out
        .iter()
        .map(|s| SessionSpec {
            session_id: s.session_id().trim().to_owned(),
            agent_name: s.agent_name().to_owned(),
            workspace_id: s.workspace_id().to_owned(),
            channel: s.channel().to_owned(),
            session_type: String::new(),
            state: s.state(),
            prompting: s.prompting(),
            capabilities: s.capabilities().map(str::to_owned).collect(),
            created_at: s.created_at(),
        })
        .collect();
    specs.sort_by(|a, b| a.session_id.cmp(&b.session_id));
    Ok(specs)
}

/// As the scheduler's read shows `spec` (no session type).
pub(super) fn as_read(spec: &SessionSpec) -> SessionSpec {
    SessionSpec { session_type: String::new(), ..spec.clone() }
}

/// `sessions.register`: a registered session is listed with every field and read back
/// by id; a duplicate id is `DuplicateSession` and changes nothing; a blank id is
/// `InvalidInput`.
pub async fn register_lists_the_session<B: Backend + ?Sized>(fx: Fixture<'_, B>) -> Outcome {
    let c = Check("register_lists_the_session");
    let rule = "sessions.register";
    let reg = fx.sessions();
    let spec = full_session("sess-1");
    c.ok(reg.register(&spec, at(2)).await, rule, "register sess-1")?;
    c.eq(listed(c, reg, rule).await?, vec![as_read(&spec)], rule, "sessions listed")?;
    c.eq(c.ok(reg.session("sess-1").await, rule, "session(sess-1)")?, Some(spec.clone()), rule, "session(sess-1)")?;
    let dup = reg.register(&SessionSpec::active("sess-1").agent("other"), at(3)).await;
    c.err(dup, ErrorKind::DuplicateSession, rule, "a second register of sess-1")?;
    c.eq(
        c.ok(reg.session("sess-1").await, rule, "session(sess-1)")?,
        Some(spec),
        rule,
        "session(sess-1) after the duplicate",
    )?;
    let blank = reg.register(&SessionSpec::active(" "), at(3)).await;
    c.err(blank, ErrorKind::InvalidInput, rule, "register with a blank id").map(drop)
}

/// `sessions.update`: `set_state`, `set_prompting` and `set_capabilities` change that
/// field and nothing else; an unknown session is `UnknownSession`.
pub async fn updates_change_one_field<B: Backend + ?Sized>(fx: Fixture<'_, B>) -> Outcome {
    let c = Check("updates_change_one_field");
    let rule = "sessions.update";
    let reg = fx.sessions();
    let spec = full_session("sess-1");
    c.setup(reg.register(&spec, at(0)).await, "register sess-1")?;
    c.setup(reg.register(&full_session("sess-2"), at(0)).await, "register sess-2")?;
    c.ok(reg.set_state("sess-1", SessionState::Stopped, at(1)).await, rule, "set_state")?;
    c.ok(reg.set_prompting("sess-1", true, at(2)).await, rule, "set_prompting")?;
    let caps = vec!["go".to_owned()];
    c.ok(reg.set_capabilities("sess-1", &caps, at(3)).await, rule, "set_capabilities")?;
    let expected = SessionSpec { state: SessionState::Stopped, prompting: true, capabilities: caps, ..spec };
    let got = c.ok(reg.session("sess-1").await, rule, "session(sess-1)")?;
    c.eq(got, Some(expected), rule, "sess-1 after the updates")?;
    let other = c.ok(reg.session("sess-2").await, rule, "session(sess-2)")?;
    c.eq(other, Some(full_session("sess-2")), rule, "sess-2 after sess-1's updates")?;
    let unknown = reg.set_prompting("nobody", true, at(4)).await;
    c.err(unknown, ErrorKind::UnknownSession, rule, "set_prompting of an unknown session").map(drop)
}

/// `sessions.remove`: a removed session is no longer listed or read; removing it again
/// is `UnknownSession`.
pub async fn remove_forgets_the_session<B: Backend + ?Sized>(fx: Fixture<'_, B>) -> Outcome {
    let c = Check("remove_forgets_the_session");
    let rule = "sessions.remove";
    let reg = fx.sessions();
    c.setup(reg.register(&full_session("sess-1"), at(0)).await, "register sess-1")?;
    c.setup(reg.register(&full_session("sess-2"), at(0)).await, "register sess-2")?;
    c.ok(reg.remove("sess-1").await, rule, "remove sess-1")?;
    c.eq(listed(c, reg, rule).await?, vec![as_read(&full_session("sess-2"))], rule, "sessions listed")?;
    c.eq(c.ok(reg.session("sess-1").await, rule, "session(sess-1)")?, None, rule, "session(sess-1)")?;
    let again = reg.remove("sess-1").await;
    c.err(again, ErrorKind::UnknownSession, rule, "a second remove of sess-1").map(drop)
}

/// `sessions.mark_stale`: every session not seen since the given time (strictly before
/// it) becomes `stopped`, and the count says how many; any write (register, touch,
/// an update) counts as seen at its `now`.
pub async fn mark_stale_stops_unseen_sessions<B: Backend + ?Sized>(fx: Fixture<'_, B>) -> Outcome {
    let c = Check("mark_stale_stops_unseen_sessions");
    let rule = "sessions.mark_stale";
    let reg = fx.sessions();
    for id in ["sess-gone", "sess-touched", "sess-edge", "sess-updated"] {
        c.setup(reg.register(&SessionSpec::active(id), at(0)).await, format_args!("register {id}"))?;
    }
    c.ok(reg.touch("sess-touched", at(80)).await, rule, "touch sess-touched")?;
    c.ok(reg.touch("sess-edge", at(50)).await, rule, "touch sess-edge")?;
    c.ok(reg.set_prompting("sess-updated", true, at(70)).await, rule, "set_prompting sess-updated")?;
    let changed = c.ok(reg.mark_stale(at(50), at(200)).await, rule, "mark_stale(not seen since T0+50s)")?;
    c.eq(changed, 1, rule, "sessions marked stale")?;
    let states: Vec<(String, SessionState)> =
        listed(c, reg, rule).await?.into_iter().map(|s| (s.session_id, s.state)).collect();
    let expected = vec![
        ("sess-edge".to_owned(), SessionState::Active),
        ("sess-gone".to_owned(), SessionState::Stopped),
        ("sess-touched".to_owned(), SessionState::Active),
        ("sess-updated".to_owned(), SessionState::Active),
    ];
    c.eq(states, expected, rule, "states after mark_stale")
}
