//! Starvation budgets: one row per run id; load, list (every row, or a page at a time),
//! upsert (whole row, batch form too), clear (missing rows are fine).

use scheduler_core::ladder::{Budget, Tier};
use scheduler_core::seam::StarvationStore;

use super::support::*;
use super::{Backend, Fixture, Runner, checks};

/// How many budgets [`budget_list_has_no_page_limit`] stores.
pub const MANY_BUDGETS: usize = 250;

pub(super) async fn run<'a, B: Backend + ?Sized>(r: &mut Runner<'a, B>) {
    checks!(r;
        budget_round_trip ["budgets.round_trip"] Fresh,
        budget_clear ["budgets.clear"] Fresh,
        budget_list ["budgets.list"] Fresh,
        budget_list_has_no_page_limit ["budgets.list_unbounded"] Fresh,
        budget_pages ["budgets.pages"] Fresh,
        budget_batches ["budgets.batches"] Fresh,
    );
}

/// A budget with every field set, distinct per `n` (milliseconds included).
pub fn budget(n: u32) -> Budget {
    let base = u64::from(n) * 1_000_000 + 7;
    Budget {
        wake_count: n,
        tier: Tier::from_u8((n % 5) as u8).unwrap_or_default(),
        first_starved_at: at_ms(base),
        last_wake_at: at_ms(base + 120_000),
        updated_at: at_ms(base + 121_000),
        spawn_requested_at: if n % 2 == 0 { Some(at_ms(base + 60_000)) } else { None },
        starved_event_at: if n % 3 == 0 { Some(at_ms(base + 90_000)) } else { None },
    }
}

async fn load<S: StarvationStore>(
    c: Check,
    store: &S,
    run_id: &str,
    rule: &'static str,
) -> Result<Option<Budget>, Failure> {
    c.ok(store.load(run_id).await, rule, format_args!("load({run_id:?})"))
}

async fn upsert<S: StarvationStore>(c: Check, store: &S, run_id: &str, b: &Budget, rule: &'static str) -> Outcome {
    c.ok(store.upsert(run_id, b).await, rule, format_args!("upsert({run_id:?})"))
}

/// Every listed row, by run id.
pub(super) async fn listed<S: StarvationStore>(
    c: Check,
    store: &S,
    rule: &'static str,
) -> Result<Vec<(String, Budget)>, Failure> {
    let mut out = Vec::new();
    c.ok(store.list(&mut out).await, rule, "list")?;
    let mut rows: Vec<(String, Budget)> = out.into_iter().map(|(k, b)| (k.as_ref().trim().to_owned(), b)).collect();
    rows.sort_by(|a, b| a.0.cmp(&b.0));
    Ok(rows)
}

/// `budgets.round_trip`: a run without a budget loads as `None`; an upserted budget
/// loads back field for field; upserting again replaces the whole row and leaves
/// other runs' budgets alone.
pub async fn budget_round_trip<B: Backend + ?Sized>(fx: Fixture<'_, B>) -> Outcome {
    let c = Check("budget_round_trip");
    let rule = "budgets.round_trip";
    let store = fx.budgets();
    c.eq(load(c, store, "run-a", rule).await?, None, rule, "budget of a fresh run")?;
    upsert(c, store, "run-a", &budget(6), rule).await?;
    upsert(c, store, "run-b", &budget(3), rule).await?;
    c.eq(load(c, store, "run-a", rule).await?, Some(budget(6)), rule, "budget of run-a")?;
    c.eq(load(c, store, "run-b", rule).await?, Some(budget(3)), rule, "budget of run-b")?;
    upsert(c, store, "run-a", &budget(7), rule).await?;
    c.eq(load(c, store, "run-a", rule).await?, Some(budget(7)), rule, "budget of run-a after a second upsert")?;
    c.eq(load(c, store, "run-b", rule).await?, Some(budget(3)), rule, "budget of run-b after run-a's upsert")
}

/// `budgets.clear`: a cleared budget is gone (load and list); others stay; clearing a
/// missing row is not an error.
pub async fn budget_clear<B: Backend + ?Sized>(fx: Fixture<'_, B>) -> Outcome {
    let c = Check("budget_clear");
    let rule = "budgets.clear";
    let store = fx.budgets();
    upsert(c, store, "run-a", &budget(2), rule).await?;
    upsert(c, store, "run-b", &budget(4), rule).await?;
    c.ok(store.clear("run-a").await, rule, "clear(run-a)")?;
    c.eq(load(c, store, "run-a", rule).await?, None, rule, "budget of run-a after clear")?;
    c.ok(store.clear("run-a").await, rule, "a second clear(run-a)")?;
    c.ok(store.clear("never-stored").await, rule, "clear of a run that never had a budget")?;
    c.eq(listed(c, store, rule).await?, vec![("run-b".to_owned(), budget(4))], rule, "rows listed after the clears")
}

/// `budgets.list`: listing returns every stored budget exactly once under its run id,
/// and follows upserts and clears.
pub async fn budget_list<B: Backend + ?Sized>(fx: Fixture<'_, B>) -> Outcome {
    let c = Check("budget_list");
    let rule = "budgets.list";
    let store = fx.budgets();
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

/// `budgets.list_unbounded`: listing has no implicit page limit: all [`MANY_BUDGETS`]
/// rows come back.
pub async fn budget_list_has_no_page_limit<B: Backend + ?Sized>(fx: Fixture<'_, B>) -> Outcome {
    let c = Check("budget_list_has_no_page_limit");
    let rule = "budgets.list_unbounded";
    let store = fx.budgets();
    let rows: Vec<(String, Budget)> = (0..MANY_BUDGETS).map(|i| (format!("run-{i:04}"), budget(i as u32))).collect();
    let mut written = Vec::new();
    c.setup(store.upsert_many(rows.iter().map(|(id, b)| (id.as_str(), b)), &mut written).await, "upsert_many")?;
    c.eq(listed(c, store, rule).await?.len(), MANY_BUDGETS, rule, "rows listed")
}

/// How many budgets [`budget_pages`] stores, and its page size.
pub const PAGED_BUDGETS: (usize, usize) = (23, 5);

/// `budgets.pages`: walking `list_page` from the start, each call after the last key
/// the previous one listed, lists every stored budget exactly once, under its run id; a
/// page holds `limit` rows unless it is the last (the scheduler takes a short page for
/// the end of the walk); each page is pushed after what `out` already holds.
pub async fn budget_pages<B: Backend + ?Sized>(fx: Fixture<'_, B>) -> Outcome {
    let c = Check("budget_pages");
    let rule = "budgets.pages";
    let store = fx.budgets();
    let (rows, limit) = PAGED_BUDGETS;
    // Stored out of key order.
    let mut expected: Vec<(String, Budget)> =
        (0..rows).map(|i| (format!("run-{:02}", i * 7 % rows), budget(i as u32))).collect();
    let mut written = Vec::new();
    c.setup(store.upsert_many(expected.iter().map(|(id, b)| (id.as_str(), b)), &mut written).await, "upsert_many")?;
    let mut out = Vec::new();
    let mut after: Option<String> = None;
    for _ in 0..=rows {
        let before = out.len();
        let what = format_args!("list_page(after {after:?}, limit {limit}) with {before} rows in out");
        c.ok(store.list_page(after.as_deref(), limit, &mut out).await, rule, what)?;
        let page = out.len().checked_sub(before);
        let shown = |n: Option<usize>| n.map_or("fewer rows in out than before".to_owned(), |n| format!("{n} rows"));
        c.ensure(page.is_some_and(|n| n <= limit), rule, what, "at most `limit` rows pushed", || shown(page))?;
        if page < Some(limit) {
            break;
        }
        after = out.last().map(|(k, _): &(_, Budget)| k.as_ref().to_owned());
    }
    let mut listed: Vec<(String, Budget)> = out.into_iter().map(|(k, b)| (k.as_ref().trim().to_owned(), b)).collect();
    listed.sort_by(|a, b| a.0.cmp(&b.0));
    expected.sort_by(|a, b| a.0.cmp(&b.0));
    c.eq(listed, expected, rule, format_args!("rows listed by a walk of pages of {limit}"))
}

/// `budgets.batches`: `load_many`, `upsert_many` and `clear_many` answer one result per
/// input, in input order, with the same effect as the single-row calls.
pub async fn budget_batches<B: Backend + ?Sized>(fx: Fixture<'_, B>) -> Outcome {
    let c = Check("budget_batches");
    let rule = "budgets.batches";
    let store = fx.budgets();
    let rows = [("run-a", budget(1)), ("run-b", budget(2)), ("run-c", budget(3))];
    let mut written = Vec::new();
    c.ok(store.upsert_many(rows.iter().map(|(id, b)| (*id, b)), &mut written).await, rule, "upsert_many")?;
    let written: Vec<bool> = written.iter().map(Result::is_ok).collect();
    c.eq(written, vec![true; 3], rule, "results of upsert_many (ok?)")?;
    let mut loaded = Vec::new();
    c.ok(store.load_many(["run-c", "missing", "run-a"].into_iter(), &mut loaded).await, rule, "load_many")?;
    let loaded: Vec<Option<Budget>> = loaded.into_iter().map(|r| r.ok().flatten()).collect();
    c.eq(loaded, vec![Some(budget(3)), None, Some(budget(1))], rule, "load_many of [run-c, missing, run-a]")?;
    let mut cleared = Vec::new();
    c.ok(store.clear_many(["run-a", "missing", "run-b"].into_iter(), &mut cleared).await, rule, "clear_many")?;
    let cleared: Vec<bool> = cleared.iter().map(Result::is_ok).collect();
    c.eq(cleared, vec![true; 3], rule, "results of clear_many (ok?)")?;
    c.eq(listed(c, store, rule).await?, vec![("run-c".to_owned(), budget(3))], rule, "rows listed after clear_many")
}
