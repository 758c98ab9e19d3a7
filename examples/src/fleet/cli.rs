//! The `fleet` example's command line: its flags ([`Args`]), the rules between them
//! ([`Args::check`]), and the [`FleetConfig`] they describe ([`Args::config`]).
//!
//! ```
//! use clap::Parser as _;
//! use scheduler_examples::fleet::cli::Args;
//!
//! let args = Args::try_parse_from(["fleet", "--backend", "postgres", "--daemons", "3"]).unwrap();
//! assert_eq!(args.check(), Ok(()));
//! let refused = Args::try_parse_from(["fleet", "--daemons", "3"]).unwrap().check().unwrap_err();
//! assert!(refused.contains("--backend postgres"), "{refused}");
//! ```

use std::path::PathBuf;
use std::time::Duration;

use clap::Parser;
use scheduler_core::SelectionPolicy;
use scheduler_core::ladder::Thresholds;

use super::{AgentKinds, FleetConfig, PgFleet, StoreKind};

/// Simulate an agent fleet under the scheduler.
#[derive(Debug, Clone, Parser)]
#[command(name = "fleet", version, about)]
pub struct Args {
    /// Sessions in the initial fleet.
    #[arg(long, default_value_t = 48, value_parser = clap::value_parser!(u32).range(1..=10_000))]
    pub sessions: u32,
    /// Runs that arrive over the simulated duration.
    #[arg(long, default_value_t = 600)]
    pub runs: usize,
    /// Seed for every random choice; the same seed replays the same run (in memory
    /// and on SQLite; on PostgreSQL the daemons' timing is real).
    #[arg(long, default_value_t = 42)]
    pub seed: u64,
    /// Simulated minutes during which work arrives (the drain comes after).
    #[arg(long, default_value_t = 120, value_parser = clap::value_parser!(u64).range(1..))]
    pub minutes: u64,
    /// The scheduler's interval, in simulated seconds.
    #[arg(long, default_value_t = 15, value_parser = clap::value_parser!(u64).range(1..))]
    pub interval: u64,
    /// Workspaces the fleet and the work are spread over (besides global).
    #[arg(long, default_value_t = 4, value_parser = clap::value_parser!(u32).range(1..=1_000))]
    pub workspaces: u32,
    /// Probability that the first session to claim a run crashes mid-run.
    #[arg(long, default_value_t = 0.03)]
    pub crash_rate: f64,
    /// Share of work only a spawned (gpu) session can take.
    #[arg(long, default_value_t = 0.03)]
    pub gpu_rate: f64,
    /// Share of work no agent can ever take (ends as needs-attention).
    #[arg(long, default_value_t = 0.01)]
    pub impossible_rate: f64,
    /// At most this many spawned sessions alive at once.
    #[arg(long, default_value_t = 16)]
    pub max_spawned: usize,
    /// Length of the pause at 40 % of the duration, in simulated minutes (0: no pause).
    #[arg(long, default_value_t = 3)]
    pub pause_minutes: u64,
    /// Starved cycles before a run is marked needs-attention (the ladder's last rung).
    #[arg(long, default_value_t = 10, value_parser = clap::value_parser!(u32).range(1..))]
    pub needs_attention_after: u32,
    /// List every run that ended needs-attention, with why it was last not woken and the
    /// scheduler's diagnostic.
    #[arg(long)]
    pub list_attention: bool,
    /// The task service: `sqlite` (durable, `scheduler-sqlite`), `memory` (the
    /// testkit's) or `postgres` (`scheduler-postgres`, one or more daemons).
    #[arg(long, value_enum, default_value_t = BackendArg::Sqlite)]
    pub backend: BackendArg,
    /// The SQLite database file (default: a fresh temporary file, removed at exit). A
    /// file an earlier run wrote is resumed: its open runs are taken over, leases held
    /// by its sessions are recovered, its ladder budgets are kept.
    #[arg(long, value_name = "PATH")]
    pub db: Option<PathBuf>,
    /// The PostgreSQL server (default: env `DATABASE_URL`, else
    /// `postgres://postgres@127.0.0.1:5432/test`). The password is never printed.
    #[arg(long, value_name = "URL")]
    pub database_url: Option<String>,
    /// The PostgreSQL schema (default: a fresh one with a random name, dropped at exit).
    /// A named schema is kept, and a second run on it resumes the first, like `--db`.
    #[arg(long, value_name = "NAME")]
    pub schema: Option<String>,
    /// Daemons sharing the PostgreSQL schema, each with its own pool, leader elector,
    /// scheduler loop (cycling only while it leads) and listener; the sessions are
    /// spread over them. More than one only with `--backend postgres`.
    #[arg(long, default_value_t = 1, value_parser = clap::value_parser!(u32).range(1..=64))]
    pub daemons: u32,
    /// When to kill the leader daemon, in simulated minutes from the start (0: never;
    /// default: half the arrivals' duration when there are two daemons or more).
    #[arg(long, value_name = "M")]
    pub kill_leader_at_minute: Option<u64>,
    /// The leader lease, in real milliseconds (the database times it, so it cannot
    /// follow the simulated clock).
    #[arg(long, default_value_t = 1000, value_parser = clap::value_parser!(u64).range(100..))]
    pub leader_lease_ms: u64,
    /// On PostgreSQL, the simulation runs at most this many simulated seconds per real
    /// second, so that a real lease period is a known simulated time.
    #[arg(long, default_value_t = 240, value_parser = clap::value_parser!(u32).range(1..))]
    pub pace: u32,
    /// Simulated minutes to wait after arrivals end for every run to end (0: stop
    /// at once, leaving runs open, e.g. for a later run on the same `--db` to resume).
    #[arg(long, default_value_t = 60)]
    pub drain_minutes: u64,
    /// How the scheduler gives sessions to runs: `greedy` (the contract as written) or
    /// `maximum` (moves earlier runs to other sessions so that more runs are woken).
    #[arg(long, default_value_t = SelectionPolicy::Greedy, value_parser = parse_policy)]
    pub policy: SelectionPolicy,
    /// The agent kinds: `default` (coder, scripter, reviewer: broad, overlapping
    /// capability sets) or `specialised` (a generalist and five specialists of one or
    /// two capabilities, with work only one kind can take next to work several can).
    /// Both have the spawn-only trainer.
    #[arg(long, value_enum, default_value_t = AgentKinds::Default)]
    pub agent_kinds: AgentKinds,
    /// No progress bar.
    #[arg(long, short)]
    pub quiet: bool,
}

/// Which task service the fleet runs on.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum BackendArg {
    /// A SQLite file (`scheduler-sqlite`).
    Sqlite,
    /// The testkit's in-memory service.
    Memory,
    /// A PostgreSQL schema (`scheduler-postgres`).
    Postgres,
}

impl Args {
    /// Whether the flags fit together; the usage error to print (exit status 2) if not.
    ///
    /// # Errors
    /// `--db` without SQLite; `--database-url`, `--schema`, `--daemons` above 1 or a
    /// leader kill without PostgreSQL; a leader kill with a single daemon.
    pub fn check(&self) -> Result<(), String> {
        let postgres = self.backend == BackendArg::Postgres;
        if self.db.is_some() && self.backend != BackendArg::Sqlite {
            return Err("--db names a SQLite file; it needs --backend sqlite".to_owned());
        }
        if !postgres && self.daemons > 1 {
            return Err(format!(
                "--daemons {} needs --backend postgres: only daemons sharing a PostgreSQL schema can elect a \
                 leader among them",
                self.daemons
            ));
        }
        if !postgres && (self.database_url.is_some() || self.schema.is_some()) {
            return Err("--database-url and --schema need --backend postgres".to_owned());
        }
        if !postgres && self.kill_leader_at_minute.is_some_and(|m| m > 0) {
            return Err("--kill-leader-at-minute needs --backend postgres and --daemons 2 or more".to_owned());
        }
        if self.daemons < 2 && self.kill_leader_at_minute.is_some_and(|m| m > 0) {
            return Err("--kill-leader-at-minute needs --daemons 2 or more (someone must take over)".to_owned());
        }
        Ok(())
    }

    /// When the leader is killed: the flag (0: never), else half the arrivals'
    /// duration with two daemons or more.
    pub fn kill_leader_at(&self) -> Option<Duration> {
        match self.kill_leader_at_minute {
            Some(0) => None,
            Some(m) => Some(Duration::from_secs(m * 60)),
            None if self.daemons > 1 => Some(Duration::from_secs(self.minutes * 60) / 2),
            None => None,
        }
    }

    /// The store: `sqlite_file` is the SQLite file to use when `--db` names none.
    pub fn store(&self, sqlite_file: Option<PathBuf>) -> StoreKind {
        match self.backend {
            BackendArg::Memory => StoreKind::Memory,
            BackendArg::Sqlite => StoreKind::Sqlite(self.db.clone().or(sqlite_file).unwrap_or_default()),
            BackendArg::Postgres => StoreKind::Postgres(PgFleet {
                url: self.database_url.clone().unwrap_or_else(|| PgFleet::default().url),
                schema: self.schema.clone(),
                daemons: self.daemons as usize,
                kill_leader_at: self.kill_leader_at(),
                leader_lease: Duration::from_millis(self.leader_lease_ms),
                pace: self.pace,
            }),
        }
    }

    /// The simulation these flags describe, on `store`.
    pub fn config(&self, store: StoreKind) -> FleetConfig {
        let duration = Duration::from_secs(self.minutes * 60);
        let pause =
            (self.pause_minutes > 0).then(|| (duration.mul_f64(0.4), Duration::from_secs(self.pause_minutes * 60)));
        FleetConfig {
            sessions: self.sessions as usize,
            runs: self.runs,
            seed: self.seed,
            interval: Duration::from_secs(self.interval),
            workspaces: self.workspaces as usize,
            crash_rate: self.crash_rate,
            gpu_rate: self.gpu_rate,
            impossible_rate: self.impossible_rate,
            max_spawned: self.max_spawned,
            pause,
            thresholds: Thresholds { needs_attention_after: self.needs_attention_after, ..Thresholds::DEFAULT }
                .normalized(),
            drain: Duration::from_secs(self.drain_minutes * 60),
            store,
            policy: self.policy,
            agent_kinds: self.agent_kinds,
            ..FleetConfig::default()
        }
        .with_duration(duration)
    }
}

fn parse_policy(s: &str) -> Result<SelectionPolicy, String> {
    s.parse().map_err(|e: scheduler_core::UnknownPolicy| e.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn args(flags: &[&str]) -> Args {
        Args::try_parse_from(std::iter::once("fleet").chain(flags.iter().copied())).unwrap()
    }

    #[test]
    fn several_daemons_and_kills_need_postgres() {
        assert_eq!(args(&[]).check(), Ok(()));
        assert_eq!(args(&["--backend", "postgres", "--daemons", "3"]).check(), Ok(()));
        for refused in [
            &["--daemons", "3", "--backend", "sqlite"][..],
            &["--daemons", "2", "--backend", "memory"],
            &["--schema", "x"],
            &["--backend", "memory", "--db", "/tmp/x.db"],
            &["--backend", "postgres", "--kill-leader-at-minute", "5"],
        ] {
            assert!(args(refused).check().is_err(), "{refused:?}");
        }
        // 0 means never, so it fits anywhere.
        assert_eq!(args(&["--kill-leader-at-minute", "0"]).check(), Ok(()));
    }

    #[test]
    fn agent_kinds_default_to_the_default_fleet() {
        assert_eq!(args(&[]).config(StoreKind::Memory).agent_kinds, AgentKinds::Default);
        let specialised = args(&["--agent-kinds", "specialised"]).config(StoreKind::Memory);
        assert_eq!(specialised.agent_kinds, AgentKinds::Specialised);
        assert_eq!(specialised.agent_kinds.to_string(), "specialised");
        assert!(Args::try_parse_from(["fleet", "--agent-kinds", "narrow"]).is_err());
    }

    #[test]
    fn the_leader_dies_half_way_by_default_with_several_daemons() {
        let half = Some(Duration::from_secs(60 * 60));
        assert_eq!(args(&["--backend", "postgres", "--daemons", "3"]).kill_leader_at(), half);
        assert_eq!(args(&["--backend", "postgres"]).kill_leader_at(), None);
        let never = args(&["--backend", "postgres", "--daemons", "3", "--kill-leader-at-minute", "0"]);
        assert_eq!(never.kill_leader_at(), None);
        let StoreKind::Postgres(pg) = args(&["--backend", "postgres", "--daemons", "2", "--minutes", "30"]).store(None)
        else {
            panic!("a postgres store")
        };
        assert_eq!((pg.daemons, pg.kill_leader_at), (2, Some(Duration::from_secs(15 * 60))));
    }
}
