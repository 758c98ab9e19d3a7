//! [`Budgets`]: the starvation store. The scheduler uses only the batch methods, and
//! each is one round trip: one query for a batch load (the ids as one JSON array), one
//! transaction for a batch upsert or clear, one query for the list.

use std::collections::HashMap;
use std::fmt;
use std::sync::Arc;

use rusqlite::{Connection, Row, params};
use scheduler_core::ladder::{Budget, Tier};
use scheduler_core::seam::StarvationStore;

use crate::error::Error;
use crate::store::{Inner, snapshot};
use crate::value::{json_array, nanos, text, time};

/// The starvation budgets over the store (a cheap, cloneable handle; get one with
/// [`Store::budgets`](crate::Store::budgets)). Rows are keyed by the run id exactly as
/// given.
#[derive(Clone)]
pub struct Budgets {
    inner: Arc<Inner>,
}

impl fmt::Debug for Budgets {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Budgets").field("path", &self.inner.path).finish()
    }
}

const COLUMNS: &str =
    "run_id, wake_count, tier, first_starved_at, last_wake_at, updated_at, spawn_requested_at, starved_event_at";

fn budget_of(row: &Row<'_>) -> Result<(String, Budget), Error> {
    let tier: u8 = row.get(2)?;
    let tier =
        Tier::from_u8(tier).ok_or_else(|| Error::Corrupt { table: "budgets", problem: format!("tier {tier}") })?;
    let budget = Budget {
        wake_count: row.get(1)?,
        tier,
        first_starved_at: time(row.get(3)?),
        last_wake_at: time(row.get(4)?),
        updated_at: time(row.get(5)?),
        spawn_requested_at: row.get::<_, Option<i64>>(6)?.map(time),
        starved_event_at: row.get::<_, Option<i64>>(7)?.map(time),
    };
    Ok((row.get(0)?, budget))
}

/// A budget as stored (times in nanoseconds).
type BudgetRow = (String, u32, u8, i64, i64, i64, Option<i64>, Option<i64>);

fn row_of(run_id: &str, b: &Budget) -> Result<BudgetRow, Error> {
    let opt = |t: Option<std::time::SystemTime>| t.map(|t| nanos(t, "budget time")).transpose();
    Ok((
        text(run_id, "budget run id")?.to_owned(),
        b.wake_count,
        b.tier.as_u8(),
        nanos(b.first_starved_at, "first-starved-at")?,
        nanos(b.last_wake_at, "last-wake-at")?,
        nanos(b.updated_at, "budget updated-at")?,
        opt(b.spawn_requested_at)?,
        opt(b.starved_event_at)?,
    ))
}

fn upsert_row(tx: &Connection, r: &BudgetRow) -> Result<(), Error> {
    tx.prepare_cached(&format!("INSERT OR REPLACE INTO budgets ({COLUMNS}) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)"))?
        .execute(params![r.0, r.1, r.2, r.3, r.4, r.5, r.6, r.7])?;
    Ok(())
}

fn load_rows(tx: &Connection, run_ids: &[String]) -> Result<HashMap<String, Budget>, Error> {
    let mut stmt =
        tx.prepare_cached(&format!("SELECT {COLUMNS} FROM budgets WHERE run_id IN (SELECT value FROM json_each(?1))"))?;
    let mut rows = stmt.query([json_array(run_ids)])?;
    let mut out = HashMap::new();
    while let Some(row) = rows.next()? {
        let (run_id, budget) = budget_of(row)?;
        out.insert(run_id, budget);
    }
    Ok(out)
}

impl Budgets {
    pub(crate) fn new(inner: Arc<Inner>) -> Self {
        Budgets { inner }
    }

    async fn write<T, F>(&self, job: F) -> Result<T, Error>
    where
        T: Send + 'static,
        F: FnOnce(&Connection) -> Result<T, Error> + Send + 'static,
    {
        self.inner.workers.write(job).await
    }

    async fn read<T, F>(&self, job: F) -> Result<T, Error>
    where
        T: Send + 'static,
        F: FnOnce(&Connection) -> Result<T, Error> + Send + 'static,
    {
        self.inner.workers.read(move |conn| snapshot(conn, job)).await
    }

    async fn load_all(&self, run_ids: Vec<String>) -> Result<Vec<Option<Budget>>, Error> {
        let wanted: Vec<String> = run_ids.iter().filter(|r| !r.contains('\0')).cloned().collect();
        let mut found = self.read(move |tx| load_rows(tx, &wanted)).await?;
        Ok(run_ids.iter().map(|r| found.remove(r.as_str())).collect())
    }

    async fn clear_all(&self, run_ids: Vec<String>) -> Result<(), Error> {
        self.write(move |tx| {
            let mut stmt = tx.prepare_cached("DELETE FROM budgets WHERE run_id = ?1")?;
            for run_id in &run_ids {
                stmt.execute([run_id])?;
            }
            Ok(())
        })
        .await
    }
}

impl StarvationStore for Budgets {
    type Key = String;
    type Error = Error;

    async fn load(&self, run_id: &str) -> Result<Option<Budget>, Error> {
        Ok(self.load_all(vec![run_id.to_owned()]).await?.pop().flatten())
    }

    async fn upsert(&self, run_id: &str, budget: &Budget) -> Result<(), Error> {
        let row = row_of(run_id, budget)?;
        self.write(move |tx| upsert_row(tx, &row)).await
    }

    async fn clear(&self, run_id: &str) -> Result<(), Error> {
        self.clear_all(vec![run_id.to_owned()]).await
    }

    async fn list(&self, out: &mut Vec<(String, Budget)>) -> Result<(), Error> {
        let rows = self
            .read(|tx| {
                let mut stmt = tx.prepare_cached(&format!("SELECT {COLUMNS} FROM budgets ORDER BY run_id"))?;
                let mut rows = stmt.query([])?;
                let mut out = Vec::new();
                while let Some(row) = rows.next()? {
                    out.push(budget_of(row)?);
                }
                Ok(out)
            })
            .await?;
        out.extend(rows);
        Ok(())
    }

    /// One indexed query: `WHERE run_id > ?1 ORDER BY run_id LIMIT ?2`.
    async fn list_page<'a>(
        &'a self,
        after: Option<&'a str>,
        limit: usize,
        out: &'a mut Vec<(String, Budget)>,
    ) -> Result<(), Error> {
        let after = after.map(str::to_owned);
        let limit = i64::try_from(limit).unwrap_or(i64::MAX);
        let rows = self
            .read(move |tx| {
                let mut stmt = match after {
                    Some(_) => tx.prepare_cached(&format!(
                        "SELECT {COLUMNS} FROM budgets WHERE run_id > ?1 ORDER BY run_id LIMIT ?2"
                    ))?,
                    None => tx.prepare_cached(&format!("SELECT {COLUMNS} FROM budgets ORDER BY run_id LIMIT ?2"))?,
                };
                let mut rows = stmt.query(params![after, limit])?;
                let mut out = Vec::new();
                while let Some(row) = rows.next()? {
                    out.push(budget_of(row)?);
                }
                Ok(out)
            })
            .await?;
        out.extend(rows);
        Ok(())
    }

    fn load_many<'a, I>(
        &'a self,
        run_ids: I,
        out: &'a mut Vec<Result<Option<Budget>, Error>>,
    ) -> impl Future<Output = Result<(), Error>> + Send + 'a
    where
        I: Iterator<Item = &'a str> + Send + 'a,
    {
        let run_ids: Vec<String> = run_ids.map(str::to_owned).collect();
        async move {
            out.extend(self.load_all(run_ids).await?.into_iter().map(Ok));
            Ok(())
        }
    }

    fn upsert_many<'a, I>(
        &'a self,
        rows: I,
        out: &'a mut Vec<Result<(), Error>>,
    ) -> impl Future<Output = Result<(), Error>> + Send + 'a
    where
        I: Iterator<Item = (&'a str, &'a Budget)> + Send + 'a,
    {
        // Rows the store cannot hold fail alone; the others are written in one
        // transaction.
        let checked: Vec<Result<BudgetRow, Error>> = rows.map(|(run_id, b)| row_of(run_id, b)).collect();
        async move {
            let valid: Vec<BudgetRow> = checked.iter().filter_map(|r| r.as_ref().ok().cloned()).collect();
            if !valid.is_empty() {
                self.write(move |tx| valid.iter().try_for_each(|row| upsert_row(tx, row))).await?;
            }
            out.extend(checked.into_iter().map(|r| r.map(drop)));
            Ok(())
        }
    }

    fn clear_many<'a, I>(
        &'a self,
        run_ids: I,
        out: &'a mut Vec<Result<(), Error>>,
    ) -> impl Future<Output = Result<(), Error>> + Send + 'a
    where
        I: Iterator<Item = &'a str> + Send + 'a,
    {
        let run_ids: Vec<String> = run_ids.map(str::to_owned).collect();
        async move {
            let n = run_ids.len();
            self.clear_all(run_ids).await?;
            out.extend((0..n).map(|_| Ok(())));
            Ok(())
        }
    }
}
