//! [`Store`]: the connection pool, the migrations, and the handles for each seam.

use std::sync::Arc;

use deadpool_postgres::{Manager, ManagerConfig, Object, Pool, RecyclingMethod, Runtime};
use tokio_postgres::NoTls;

use crate::budgets::Budgets;
use crate::config::Config;
use crate::error::Error;
use crate::pause::Pause;
use crate::sessions::Sessions;
use crate::tasks::Tasks;

/// The embedded migrations, in order: `(version, SQL)`. Each runs once per schema, in a
/// transaction, with the schema on the `search_path`.
const MIGRATIONS: &[(i32, &str)] = &[(1, include_str!("migrations/0001_init.sql"))];

/// The newest schema version this crate knows.
pub const SCHEMA_VERSION: i32 = MIGRATIONS[MIGRATIONS.len() - 1].0;

/// One PostgreSQL database (one schema of it) as the scheduler's backend: a pool of
/// connections, and cheap, cloneable handles for every seam.
///
/// [`connect`](Self::connect) migrates the schema; then
/// [`tasks`](Self::tasks), [`sessions`](Self::sessions), [`pause`](Self::pause) and
/// [`budgets`](Self::budgets) share the pool. Clones share everything.
#[derive(Debug, Clone)]
pub struct Store {
    inner: Arc<Inner>,
}

#[derive(Debug)]
struct Inner {
    pool: Pool,
    config: Config,
}

impl Store {
    /// Opens a pool and brings the schema to [`SCHEMA_VERSION`]: a missing schema is
    /// created (unless [`Config::create_schema`] is `false`), missing migrations run in
    /// one transaction under an advisory lock (so daemons starting together migrate
    /// once), and a schema migrated by a newer crate is refused.
    ///
    /// # Errors
    /// [`Error::Pool`] when the server cannot be reached or refuses the credentials,
    /// [`Error::MissingSchema`], [`Error::SchemaTooNew`], [`Error::Database`].
    pub async fn connect(config: Config) -> Result<Store, Error> {
        let manager =
            Manager::from_config(config.connection(), NoTls, ManagerConfig { recycling_method: RecyclingMethod::Fast });
        let pool = Pool::builder(manager)
            .max_size(config.pool_size)
            .runtime(Runtime::Tokio1)
            .create_timeout(Some(config.connect_timeout))
            .wait_timeout(Some(config.wait_timeout))
            .build()
            .map_err(|e| Error::Config(format!("connection pool: {e}")))?;
        let store = Store { inner: Arc::new(Inner { pool, config }) };
        store.migrate().await?;
        Ok(store)
    }

    /// The task service: the scheduler's `TaskSource` and the sessions' `LeaseService`.
    pub fn tasks(&self) -> Tasks {
        Tasks::new(self.clone())
    }

    /// The session registry (`SessionSource` and `SessionRegistry`); sessions it
    /// registers are hosted by this store's daemon.
    pub fn sessions(&self) -> Sessions {
        Sessions::new(self.clone())
    }

    /// The scheduler-wide pause (`PauseStore` and `PauseControl`).
    pub fn pause(&self) -> Pause {
        Pause::new(self.clone())
    }

    /// The starvation budgets, unfenced (`StarvationStore`). A daemon that may lose
    /// leadership gives its scheduler [`Elector::budgets`](crate::Elector::budgets)
    /// instead, whose writes are fenced by the leader's term.
    pub fn budgets(&self) -> Budgets {
        Budgets::unfenced(self.clone())
    }

    /// The configuration this store was opened with.
    pub fn config(&self) -> &Config {
        &self.inner.config
    }

    /// This daemon's id.
    pub fn daemon_id(&self) -> &str {
        &self.inner.config.daemon_id
    }

    /// The schema's name.
    pub fn schema(&self) -> &str {
        &self.inner.config.schema
    }

    /// Closes the pool: later calls fail with [`Error::Pool`]; connections in use close
    /// when handed back.
    pub fn close(&self) {
        self.inner.pool.close();
    }

    /// Refreshes the planner's statistics of the schema's tables (`ANALYZE`).
    /// Autovacuum does this by itself as tables change; call it after a bulk load (a
    /// backlog imported at once), so the first claims already walk the claim-order
    /// index instead of sorting the whole queue.
    ///
    /// # Errors
    /// [`Error::Database`], [`Error::Pool`].
    pub async fn analyze(&self) -> Result<(), Error> {
        const STEP: &str = "analyzing the schema's tables";
        let client = self.client(STEP).await?;
        client.batch_execute("ANALYZE tasks, runs, sessions, budgets, wakes").await.map_err(Error::db(STEP))
    }

    /// A pooled connection, for `step`.
    pub(crate) async fn client(&self, step: &'static str) -> Result<Object, Error> {
        self.inner.pool.get().await.map_err(|source| Error::Pool {
            step,
            server: self.inner.config.describe_server(),
            source,
        })
    }

    async fn migrate(&self) -> Result<(), Error> {
        const STEP: &str = "migrating the schema";
        let schema = self.schema();
        let mut client = self.client(STEP).await?;
        if !self.inner.config.create_schema {
            let exists = client
                .query_opt("SELECT 1 FROM pg_namespace WHERE nspname = $1", &[&schema])
                .await
                .map_err(Error::db(STEP))?;
            if exists.is_none() {
                return Err(Error::MissingSchema { schema: schema.to_owned() });
            }
        }
        let tx = client.transaction().await.map_err(Error::db(STEP))?;
        let lock = format!("scheduler-postgres migrations {schema}");
        tx.execute("SELECT pg_advisory_xact_lock(hashtext($1))", &[&lock]).await.map_err(Error::db(STEP))?;
        // The schema name was checked (lowercase letters, digits, `_`) by `Config::schema`.
        tx.batch_execute(&format!(
            "CREATE SCHEMA IF NOT EXISTS {schema};
             CREATE TABLE IF NOT EXISTS {schema}.schema_version (
                 version integer PRIMARY KEY, applied_at timestamptz NOT NULL DEFAULT now())"
        ))
        .await
        .map_err(Error::db(STEP))?;
        let found: Option<i32> = tx
            .query_one(&format!("SELECT max(version) FROM {schema}.schema_version"), &[])
            .await
            .map_err(Error::db(STEP))?
            .get(0);
        let found = found.unwrap_or(0);
        if found > SCHEMA_VERSION {
            return Err(Error::SchemaTooNew { schema: schema.to_owned(), found, known: SCHEMA_VERSION });
        }
        for &(version, sql) in MIGRATIONS.iter().filter(|(v, _)| *v > found) {
            tx.batch_execute(sql).await.map_err(Error::db(STEP))?;
            tx.execute(&format!("INSERT INTO {schema}.schema_version (version) VALUES ($1)"), &[&version])
                .await
                .map_err(Error::db(STEP))?;
        }
        tx.commit().await.map_err(Error::db(STEP))
    }
}
