//! [`Budgets`]: the starvation store over PostgreSQL, optionally fenced by the
//! leader's term.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::SystemTime;

use scheduler_core::ladder::{Budget, Tier};
use scheduler_core::seam::StarvationStore;
use tokio_postgres::{Row, Transaction};

use crate::error::Error;
use crate::leader::Term;
use crate::store::Store;
use crate::text;

/// The durable escalation budgets: the scheduler's [`StarvationStore`].
///
/// From [`Store::budgets`] it is unfenced. From
/// [`Elector::budgets`](crate::Elector::budgets) every call first checks, in the same
/// transaction and under a share lock on the leader row, that this daemon still holds
/// the leader term it was elected with and that the term has not expired; otherwise
/// the call fails with [`Error::Deposed`] and nothing is read or written. Loads are
/// fenced too, so a deposed leader cannot even advance a budget: only a cycle that
/// loaded before it was deposed can repeat an escalation (the one cycle in flight).
#[derive(Debug, Clone)]
pub struct Budgets {
    store: Store,
    fence: Option<Arc<Term>>,
}

const LOAD_SQL: &str = "\
SELECT b.wake_count, b.tier, b.first_starved_at, b.last_wake_at, b.updated_at, b.spawn_requested_at,
       b.starved_event_at, b.run_id IS NOT NULL
FROM unnest($1::text[]) WITH ORDINALITY AS u(id, ord) LEFT JOIN budgets b ON b.run_id = u.id ORDER BY u.ord";

const UPSERT_SQL: &str = "\
INSERT INTO budgets (run_id, wake_count, tier, first_starved_at, last_wake_at, updated_at,
    spawn_requested_at, starved_event_at)
SELECT * FROM unnest($1::text[], $2::int8[], $3::int2[], $4::timestamptz[], $5::timestamptz[],
    $6::timestamptz[], $7::timestamptz[], $8::timestamptz[])
ON CONFLICT (run_id) DO UPDATE SET wake_count = EXCLUDED.wake_count, tier = EXCLUDED.tier,
    first_starved_at = EXCLUDED.first_starved_at, last_wake_at = EXCLUDED.last_wake_at,
    updated_at = EXCLUDED.updated_at, spawn_requested_at = EXCLUDED.spawn_requested_at,
    starved_event_at = EXCLUDED.starved_event_at";

const FENCE_SQL: &str = "\
SELECT 1 FROM leader WHERE id = 1 AND holder = $1 AND epoch = $2 AND expires_at > clock_timestamp() FOR SHARE";

fn budget_of(row: &Row) -> Option<Budget> {
    if !row.get::<_, bool>(7) {
        return None;
    }
    let count: i64 = row.get(0);
    let tier: i16 = row.get(1);
    Some(Budget {
        wake_count: u32::try_from(count).unwrap_or(u32::MAX),
        tier: u8::try_from(tier).ok().and_then(Tier::from_u8).unwrap_or(Tier::NeedsAttention),
        first_starved_at: row.get(2),
        last_wake_at: row.get(3),
        updated_at: row.get(4),
        spawn_requested_at: row.get(5),
        starved_event_at: row.get(6),
    })
}

/// The columns of an upsert batch, one array per column.
#[derive(Default)]
struct Columns<'a> {
    ids: Vec<&'a str>,
    counts: Vec<i64>,
    tiers: Vec<i16>,
    first: Vec<SystemTime>,
    last: Vec<SystemTime>,
    updated: Vec<SystemTime>,
    spawn: Vec<Option<SystemTime>>,
    event: Vec<Option<SystemTime>>,
}

impl<'a> Columns<'a> {
    /// The rows, the last one winning for a run id given twice.
    fn of(rows: impl Iterator<Item = (&'a str, &'a Budget)>) -> Result<Self, Error> {
        let mut latest: Vec<(&'a str, &'a Budget)> = Vec::new();
        let mut at: HashMap<&'a str, usize> = HashMap::new();
        for (id, budget) in rows {
            let id = text::id("run_id", id)?;
            match at.get(id) {
                Some(&i) => latest[i].1 = budget,
                None => {
                    at.insert(id, latest.len());
                    latest.push((id, budget));
                }
            }
        }
        let mut c = Columns::default();
        for (id, b) in latest {
            c.ids.push(id);
            c.counts.push(i64::from(b.wake_count));
            c.tiers.push(i16::from(b.tier.as_u8()));
            c.first.push(text::time("first_starved_at", b.first_starved_at)?);
            c.last.push(text::time("last_wake_at", b.last_wake_at)?);
            c.updated.push(text::time("updated_at", b.updated_at)?);
            c.spawn.push(b.spawn_requested_at);
            c.event.push(b.starved_event_at);
        }
        Ok(c)
    }
}

impl Budgets {
    pub(crate) fn unfenced(store: Store) -> Self {
        Budgets { store, fence: None }
    }

    pub(crate) fn fenced(store: Store, term: Arc<Term>) -> Self {
        Budgets { store, fence: Some(term) }
    }

    /// Whether calls are fenced by a leader term.
    pub fn is_fenced(&self) -> bool {
        self.fence.is_some()
    }

    /// Checks the fence inside `tx`: the row lock makes a takeover wait for this
    /// transaction, and this transaction see a takeover that committed first.
    async fn check_fence(&self, tx: &Transaction<'_>, step: &'static str) -> Result<(), Error> {
        let Some(term) = &self.fence else { return Ok(()) };
        let deposed = |epoch| Error::Deposed { step, daemon_id: term.holder.clone(), epoch };
        let Some(epoch) = term.epoch() else { return Err(deposed(None)) };
        let epoch_param = i64::try_from(epoch).unwrap_or(i64::MAX);
        let held = tx.query_opt(FENCE_SQL, &[&term.holder, &epoch_param]).await.map_err(Error::db(step))?;
        if held.is_none() {
            return Err(deposed(Some(epoch)));
        }
        Ok(())
    }

    async fn load_batch(&self, ids: &[Option<&str>]) -> Result<Vec<Option<Budget>>, Error> {
        const STEP: &str = "loading starvation budgets";
        let mut client = self.store.client(STEP).await?;
        let tx = client.transaction().await.map_err(Error::db(STEP))?;
        self.check_fence(&tx, STEP).await?;
        let rows = tx.query(LOAD_SQL, &[&ids]).await.map_err(Error::db(STEP))?;
        tx.commit().await.map_err(Error::db(STEP))?;
        Ok(rows.iter().map(budget_of).collect())
    }

    async fn upsert_batch(&self, c: &Columns<'_>) -> Result<(), Error> {
        const STEP: &str = "writing starvation budgets";
        let mut client = self.store.client(STEP).await?;
        let tx = client.transaction().await.map_err(Error::db(STEP))?;
        self.check_fence(&tx, STEP).await?;
        let params: [&(dyn tokio_postgres::types::ToSql + Sync); 8] =
            [&c.ids, &c.counts, &c.tiers, &c.first, &c.last, &c.updated, &c.spawn, &c.event];
        tx.execute(UPSERT_SQL, &params).await.map_err(Error::db(STEP))?;
        tx.commit().await.map_err(Error::db(STEP))
    }

    async fn clear_batch(&self, ids: &[Option<&str>]) -> Result<(), Error> {
        const STEP: &str = "clearing starvation budgets";
        let mut client = self.store.client(STEP).await?;
        let tx = client.transaction().await.map_err(Error::db(STEP))?;
        self.check_fence(&tx, STEP).await?;
        tx.execute("DELETE FROM budgets WHERE run_id = ANY($1::text[])", &[&ids]).await.map_err(Error::db(STEP))?;
        tx.commit().await.map_err(Error::db(STEP))
    }
}

impl StarvationStore for Budgets {
    type Key = String;
    type Error = Error;

    async fn load(&self, run_id: &str) -> Result<Option<Budget>, Error> {
        Ok(self.load_batch(&[text::lookup(run_id)]).await?.pop().flatten())
    }

    async fn upsert(&self, run_id: &str, budget: &Budget) -> Result<(), Error> {
        self.upsert_batch(&Columns::of(std::iter::once((run_id, budget)))?).await
    }

    async fn clear(&self, run_id: &str) -> Result<(), Error> {
        self.clear_batch(&[text::lookup(run_id)]).await
    }

    async fn list(&self, out: &mut Vec<(String, Budget)>) -> Result<(), Error> {
        const STEP: &str = "listing starvation budgets";
        let client = self.store.client(STEP).await?;
        let sql = "SELECT wake_count, tier, first_starved_at, last_wake_at, updated_at, spawn_requested_at,
                          starved_event_at, true, run_id FROM budgets ORDER BY run_id";
        let rows = client.query(sql, &[]).await.map_err(Error::db(STEP))?;
        out.extend(rows.iter().filter_map(|r| budget_of(r).map(|b| (r.get(8), b))));
        Ok(())
    }

    /// One indexed query: `WHERE run_id > $1 ORDER BY run_id LIMIT $2`.
    async fn list_page<'a>(
        &'a self,
        after: Option<&'a str>,
        limit: usize,
        out: &'a mut Vec<(String, Budget)>,
    ) -> Result<(), Error> {
        const STEP: &str = "listing a page of starvation budgets";
        let client = self.store.client(STEP).await?;
        let sql = "SELECT wake_count, tier, first_starved_at, last_wake_at, updated_at, spawn_requested_at,
                          starved_event_at, true, run_id FROM budgets
                   WHERE $1::text IS NULL OR run_id > $1 ORDER BY run_id LIMIT $2";
        let limit = i64::try_from(limit).unwrap_or(i64::MAX);
        let rows = client.query(sql, &[&after, &limit]).await.map_err(Error::db(STEP))?;
        out.extend(rows.iter().filter_map(|r| budget_of(r).map(|b| (r.get(8), b))));
        Ok(())
    }

    async fn load_many<'a, I>(
        &'a self,
        run_ids: I,
        out: &'a mut Vec<Result<Option<Budget>, Error>>,
    ) -> Result<(), Error>
    where
        I: Iterator<Item = &'a str> + Send + 'a,
    {
        let ids: Vec<Option<&str>> = run_ids.map(text::lookup).collect();
        out.extend(self.load_batch(&ids).await?.into_iter().map(Ok));
        Ok(())
    }

    async fn upsert_many<'a, I>(&'a self, rows: I, out: &'a mut Vec<Result<(), Error>>) -> Result<(), Error>
    where
        I: Iterator<Item = (&'a str, &'a Budget)> + Send + 'a,
    {
        let rows: Vec<(&str, &Budget)> = rows.collect();
        self.upsert_batch(&Columns::of(rows.iter().copied())?).await?;
        out.extend(rows.iter().map(|_| Ok(())));
        Ok(())
    }

    async fn clear_many<'a, I>(&'a self, run_ids: I, out: &'a mut Vec<Result<(), Error>>) -> Result<(), Error>
    where
        I: Iterator<Item = &'a str> + Send + 'a,
    {
        let ids: Vec<Option<&str>> = run_ids.map(text::lookup).collect();
        self.clear_batch(&ids).await?;
        out.extend(ids.iter().map(|_| Ok(())));
        Ok(())
    }
}
