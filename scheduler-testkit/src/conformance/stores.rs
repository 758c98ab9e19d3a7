//! Pause-store and starvation-store checks.
//!
//! | check | rules |
//! | --- | --- |
//! | [`pause_round_trip`] | `pause.initially_off`, `pause.round_trip`, `pause.replace`, `pause.resume` |
//! | [`budget_round_trip`] | `starvation.missing`, `starvation.round_trip`, `starvation.replace` |
//! | [`budget_clear`] | `starvation.clear`, `starvation.clear_missing` |
//! | [`budget_list`] | `starvation.list` |
//! | [`budget_batches`] | `starvation.batches` |

use scheduler_core::ladder::{Budget, Tier};
use scheduler_core::seam::StarvationStore;

use super::{Check, ConformanceFailure, PauseControl, PauseState, at};

type Outcome = Result<(), ConformanceFailure>;

/// A budget with every field set, distinct per `n`.
fn budget(n: u32) -> Budget {
    let base = u64::from(n) * 1_000;
    Budget {
        wake_count: n,
        tier: Tier::from_u8((n % 5) as u8).unwrap_or_default(),
        first_starved_at: at(base),
        last_wake_at: at(base + 120),
        updated_at: at(base + 121),
        spawn_requested_at: if n % 2 == 0 { Some(at(base + 60)) } else { None },
        starved_event_at: if n % 3 == 0 { Some(at(base + 90)) } else { None },
    }
}

async fn load<B: StarvationStore>(
    c: Check,
    store: &B,
    run_id: &str,
    rule: &'static str,
) -> Result<Option<Budget>, ConformanceFailure> {
    c.ok(store.load(run_id).await, rule, format_args!("load({run_id:?})"))
}

async fn upsert<B: StarvationStore>(c: Check, store: &B, run_id: &str, b: &Budget, rule: &'static str) -> Outcome {
    c.ok(store.upsert(run_id, b).await, rule, format_args!("upsert({run_id:?})"))
}

async fn listed<B: StarvationStore>(
    c: Check,
    store: &B,
    rule: &'static str,
) -> Result<Vec<(String, Budget)>, ConformanceFailure> {
    let mut out = Vec::new();
    c.ok(store.list(&mut out).await, rule, "list")?;
    let mut rows: Vec<(String, Budget)> = out.into_iter().map(|(k, b)| (k.as_ref().trim().to_owned(), b)).collect();
    rows.sort_by(|a, b| a.0.cmp(&b.0));
    Ok(rows)
}

/// `pause.initially_off`, `pause.round_trip`, `pause.replace`, `pause.resume`: a fresh
/// store is not paused; a pause is read back with who, when and why; pausing again
/// replaces them; resuming turns it off, and resuming again is fine.
pub async fn pause_round_trip<P: PauseControl>(pause: &P) -> Outcome {
    let c = Check("pause_round_trip");
    let rule = "pause.initially_off";
    c.eq(c.ok(pause.is_paused().await, rule, "is_paused")?, false, rule, "is_paused of a fresh store")?;
    c.eq(c.ok(pause.pause_state().await, rule, "pause_state")?, None, rule, "pause state of a fresh store")?;

    let rule = "pause.round_trip";
    c.ok(pause.pause("operator", at(60), "maintenance window").await, rule, "pause")?;
    c.eq(c.ok(pause.is_paused().await, rule, "is_paused")?, true, rule, "is_paused after pause")?;
    let expected = PauseState { paused_by: "operator".into(), paused_at: at(60), reason: "maintenance window".into() };
    c.eq(c.ok(pause.pause_state().await, rule, "pause_state")?, Some(expected), rule, "pause state after pause")?;

    let rule = "pause.replace";
    c.ok(pause.pause("on-call", at(120), "incident 42").await, rule, "second pause")?;
    let expected = PauseState { paused_by: "on-call".into(), paused_at: at(120), reason: "incident 42".into() };
    c.eq(
        c.ok(pause.pause_state().await, rule, "pause_state")?,
        Some(expected),
        rule,
        "pause state after a second pause",
    )?;

    let rule = "pause.resume";
    c.ok(pause.resume().await, rule, "resume")?;
    c.eq(c.ok(pause.is_paused().await, rule, "is_paused")?, false, rule, "is_paused after resume")?;
    c.eq(c.ok(pause.pause_state().await, rule, "pause_state")?, None, rule, "pause state after resume")?;
    c.ok(pause.resume().await, rule, "resume when not paused")?;
    c.eq(c.ok(pause.is_paused().await, rule, "is_paused")?, false, rule, "is_paused after a second resume")
}

/// `starvation.missing`, `starvation.round_trip`, `starvation.replace`: a run without a
/// budget loads as `None`; an upserted budget loads back field for field; upserting
/// again replaces it, and leaves other runs' budgets alone.
pub async fn budget_round_trip<B: StarvationStore>(store: &B) -> Outcome {
    let c = Check("budget_round_trip");
    c.eq(load(c, store, "run-a", "starvation.missing").await?, None, "starvation.missing", "budget of a fresh run")?;
    let rule = "starvation.round_trip";
    for (run, n) in [("run-a", 6), ("run-b", 3)] {
        upsert(c, store, run, &budget(n), rule).await?;
    }
    c.eq(load(c, store, "run-a", rule).await?, Some(budget(6)), rule, "budget of run-a")?;
    c.eq(load(c, store, "run-b", rule).await?, Some(budget(3)), rule, "budget of run-b")?;
    let rule = "starvation.replace";
    upsert(c, store, "run-a", &budget(7), rule).await?;
    c.eq(load(c, store, "run-a", rule).await?, Some(budget(7)), rule, "budget of run-a after a second upsert")?;
    c.eq(load(c, store, "run-b", rule).await?, Some(budget(3)), rule, "budget of run-b after run-a's upsert")
}

/// `starvation.clear`, `starvation.clear_missing`: a cleared budget is gone (load and
/// list); other budgets stay; clearing a missing row is not an error.
pub async fn budget_clear<B: StarvationStore>(store: &B) -> Outcome {
    let c = Check("budget_clear");
    let rule = "starvation.clear";
    upsert(c, store, "run-a", &budget(2), rule).await?;
    upsert(c, store, "run-b", &budget(4), rule).await?;
    c.ok(store.clear("run-a").await, rule, "clear(run-a)")?;
    c.eq(load(c, store, "run-a", rule).await?, None, rule, "budget of run-a after clear")?;
    c.eq(load(c, store, "run-b", rule).await?, Some(budget(4)), rule, "budget of run-b after run-a's clear")?;
    c.eq(listed(c, store, rule).await?, vec![("run-b".to_owned(), budget(4))], rule, "rows listed after clear")?;
    let rule = "starvation.clear_missing";
    c.ok(store.clear("run-a").await, rule, "a second clear(run-a)")?;
    c.ok(store.clear("never-stored").await, rule, "clear of a run that never had a budget")?;
    c.eq(
        listed(c, store, rule).await?,
        vec![("run-b".to_owned(), budget(4))],
        rule,
        "rows listed after clearing missing rows",
    )
}

/// `starvation.list`: listing returns every stored budget exactly once, under its run
/// id, and follows upserts and clears.
pub async fn budget_list<B: StarvationStore>(store: &B) -> Outcome {
    let c = Check("budget_list");
    let rule = "starvation.list";
    c.eq(listed(c, store, rule).await?, vec![], rule, "rows listed by a fresh store")?;
    for (run, n) in [("run-c", 1), ("run-a", 5), ("run-b", 9)] {
        upsert(c, store, run, &budget(n), rule).await?;
    }
    let expected =
        vec![("run-a".to_owned(), budget(5)), ("run-b".to_owned(), budget(9)), ("run-c".to_owned(), budget(1))];
    c.eq(listed(c, store, rule).await?, expected, rule, "rows listed after three upserts")?;
    upsert(c, store, "run-a", &budget(8), rule).await?;
    c.ok(store.clear("run-c").await, rule, "clear(run-c)")?;
    let expected = vec![("run-a".to_owned(), budget(8)), ("run-b".to_owned(), budget(9))];
    c.eq(listed(c, store, rule).await?, expected, rule, "rows listed after an upsert and a clear")
}

/// `starvation.batches`: `load_many`, `upsert_many` and `clear_many` answer one result
/// per input, in input order, with the same effect as the single-row calls.
pub async fn budget_batches<B: StarvationStore>(store: &B) -> Outcome {
    let c = Check("budget_batches");
    let rule = "starvation.batches";
    let rows = [("run-a", budget(1)), ("run-b", budget(2)), ("run-c", budget(3))];
    let mut written = Vec::new();
    c.ok(store.upsert_many(rows.iter().map(|(id, b)| (*id, b)), &mut written).await, rule, "upsert_many")?;
    c.eq(written.len(), 3, rule, "results of upsert_many for 3 rows")?;
    for (i, w) in written.iter().enumerate() {
        c.ensure(w.is_ok(), rule, || format!("upsert_many result {i} is an error"))?;
    }
    let mut loaded = Vec::new();
    let ids = ["run-c", "missing", "run-a"];
    c.ok(store.load_many(ids.into_iter(), &mut loaded).await, rule, "load_many")?;
    let loaded: Vec<Option<Budget>> = loaded
        .into_iter()
        .map(|r| r.map_err(|e| c.fail(rule, format!("one load of load_many failed: {e}"))))
        .collect::<Result<_, _>>()?;
    c.eq(loaded, vec![Some(budget(3)), None, Some(budget(1))], rule, "load_many of [run-c, missing, run-a]")?;
    let mut cleared = Vec::new();
    c.ok(store.clear_many(["run-a", "missing", "run-b"].into_iter(), &mut cleared).await, rule, "clear_many")?;
    c.eq(cleared.len(), 3, rule, "results of clear_many for 3 ids")?;
    for (i, r) in cleared.iter().enumerate() {
        c.ensure(r.is_ok(), rule, || format!("clear_many result {i} is an error"))?;
    }
    c.eq(listed(c, store, rule).await?, vec![("run-c".to_owned(), budget(3))], rule, "rows listed after clear_many")
}
