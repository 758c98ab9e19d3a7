//! The needs-attention transition: only from `queued`.

use scheduler_core::lease::{ErrorKind, LeaseService};
use scheduler_core::model::RunStatus;

use super::reads::every_status;
use super::support::*;
use super::{Backend, Fixture, Runner, checks};

pub(super) async fn run<'a, B: Backend + ?Sized>(r: &mut Runner<'a, B>) {
    checks!(r;
        needs_attention_from_queued ["needs_attention.from_queued"] Fresh,
        needs_attention_only_from_queued ["needs_attention.only_queued"] Fresh,
    );
}

/// `needs_attention.from_queued`: a `queued` run moves to `needs_attention` and leaves
/// the pending read; an unknown run is `UnknownRun`.
pub async fn needs_attention_from_queued<B: Backend + ?Sized>(fx: Fixture<'_, B>) -> Outcome {
    let c = Check("needs_attention_from_queued");
    let rule = "needs_attention.from_queued";
    let svc = fx.tasks();
    put_plain(c, svc, "run-1", at(0)).await?;
    c.ok(svc.mark_needs_attention("run-1", "starved for an hour", at(5)).await, rule, "mark run-1")?;
    c.eq(
        record(c, svc, "run-1", rule).await?,
        Some(unleased(RunStatus::NeedsAttention, at(0))),
        rule,
        "record of run-1",
    )?;
    c.eq(pending_ids(c, svc, rule).await?, vec![], rule, "pending runs")?;
    let unknown = svc.mark_needs_attention("no-such-run", "x", at(6)).await;
    c.err(unknown, ErrorKind::UnknownRun, rule, "mark an unknown run").map(drop)
}

/// `needs_attention.only_queued`: from any other status (claimed, running, completed,
/// failed, needs_attention) the mark is `InvalidTransition` and changes nothing.
pub async fn needs_attention_only_from_queued<B: Backend + ?Sized>(fx: Fixture<'_, B>) -> Outcome {
    let c = Check("needs_attention_only_from_queued");
    let rule = "needs_attention.only_queued";
    let svc = fx.tasks();
    let runs = every_status(c, svc).await?;
    let ids: Vec<&str> = runs.iter().map(|(id, _)| *id).collect();
    let before = observe(c, svc, &ids, rule).await?;
    for (id, st) in &runs[1..] {
        let result = svc.mark_needs_attention(id, "again", at(20)).await;
        c.err(result, ErrorKind::InvalidTransition, rule, format_args!("mark {id} ({st})"))?;
    }
    c.eq(observe(c, svc, &ids, rule).await?, before, rule, "the service after the refused marks")
}
