//! The pause control: one scheduler-wide flag with who, when and why.

use scheduler_core::lease::{PauseControl, PauseState};
use scheduler_core::seam::PauseStore;

use super::support::*;
use super::{Backend, Fixture, Runner, checks};

pub(super) async fn run<'a, B: Backend + ?Sized>(r: &mut Runner<'a, B>) {
    checks!(r;
        pause_starts_off ["pause.initially_off"] Fresh,
        pause_round_trip ["pause.round_trip"] Fresh,
        pausing_again_replaces ["pause.replace"] Fresh,
        resume_turns_it_off ["pause.resume"] Fresh,
        pause_is_shared_by_handles ["pause.shared"] Fresh,
    );
}

fn state(by: &str, secs: u64, why: &str) -> PauseState {
    PauseState { paused_by: by.to_owned(), paused_at: at(secs), reason: why.to_owned() }
}

/// `pause.initially_off`: a fresh store is not paused.
pub async fn pause_starts_off<B: Backend + ?Sized>(fx: Fixture<'_, B>) -> Outcome {
    let c = Check("pause_starts_off");
    let rule = "pause.initially_off";
    let p = fx.pause();
    c.eq(c.ok(p.is_paused().await, rule, "is_paused")?, false, rule, "is_paused of a fresh store")?;
    c.eq(c.ok(p.pause_state().await, rule, "pause_state")?, None, rule, "pause state of a fresh store")
}

/// `pause.round_trip`: a pause reads back with who, when (to the second) and why.
pub async fn pause_round_trip<B: Backend + ?Sized>(fx: Fixture<'_, B>) -> Outcome {
    let c = Check("pause_round_trip");
    let rule = "pause.round_trip";
    let p = fx.pause();
    c.ok(p.pause("operator", at(60), "maintenance window").await, rule, "pause")?;
    c.eq(c.ok(p.is_paused().await, rule, "is_paused")?, true, rule, "is_paused after pause")?;
    let expected = Some(state("operator", 60, "maintenance window"));
    c.eq(c.ok(p.pause_state().await, rule, "pause_state")?, expected, rule, "pause state after pause")
}

/// `pause.replace`: pausing again replaces who, when and why.
pub async fn pausing_again_replaces<B: Backend + ?Sized>(fx: Fixture<'_, B>) -> Outcome {
    let c = Check("pausing_again_replaces");
    let rule = "pause.replace";
    let p = fx.pause();
    c.setup(p.pause("operator", at(60), "maintenance window").await, "pause")?;
    c.ok(p.pause("on-call", at(120), "incident 42").await, rule, "a second pause")?;
    let expected = Some(state("on-call", 120, "incident 42"));
    c.eq(c.ok(p.pause_state().await, rule, "pause_state")?, expected, rule, "pause state after a second pause")
}

/// `pause.resume`: resuming turns the pause off; resuming when off is fine.
pub async fn resume_turns_it_off<B: Backend + ?Sized>(fx: Fixture<'_, B>) -> Outcome {
    let c = Check("resume_turns_it_off");
    let rule = "pause.resume";
    let p = fx.pause();
    c.setup(p.pause("operator", at(60), "maintenance window").await, "pause")?;
    c.ok(p.resume().await, rule, "resume")?;
    c.eq(c.ok(p.is_paused().await, rule, "is_paused")?, false, rule, "is_paused after resume")?;
    c.eq(c.ok(p.pause_state().await, rule, "pause_state")?, None, rule, "pause state after resume")?;
    c.ok(p.resume().await, rule, "resume when not paused")?;
    c.eq(c.ok(p.is_paused().await, rule, "is_paused")?, false, rule, "is_paused after a second resume")
}

/// `pause.shared`: the flag is the store's: a pause through one set of handles is read
/// by another set opened before it.
pub async fn pause_is_shared_by_handles<B: Backend + ?Sized>(fx: Fixture<'_, B>) -> Outcome {
    let c = Check("pause_is_shared_by_handles");
    let rule = "pause.shared";
    let other = fx.connect().await;
    c.eq(c.ok(other.pause.is_paused().await, rule, "is_paused")?, false, rule, "the other handle before the pause")?;
    c.setup(fx.pause().pause("operator", at(5), "deploy").await, "pause")?;
    c.eq(c.ok(other.pause.is_paused().await, rule, "is_paused")?, true, rule, "the other handle after the pause")?;
    let expected = Some(state("operator", 5, "deploy"));
    c.eq(c.ok(other.pause.pause_state().await, rule, "pause_state")?, expected, rule, "the other handle's pause state")
}
