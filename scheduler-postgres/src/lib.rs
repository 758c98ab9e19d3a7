//! A PostgreSQL backend for `scheduler-core`, for many daemons over one database.
#![deny(missing_docs)]
#![forbid(unsafe_code)]

mod budgets;
mod config;
mod error;
mod leader;
mod pause;
mod rows;
mod sessions;
mod store;
mod tasks;
mod text;
mod wake;

pub use budgets::Budgets;
pub use config::{Config, MAX_DAEMON_ID_BYTES};
pub use error::Error;
pub use leader::{Elector, LeaderRow, Leadership, run_as_leader, spawn_as_leader};
pub use pause::Pause;
pub use rows::{PgActiveRun, PgRun, PgSession, RecoveredRun};
pub use sessions::Sessions;
pub use store::{SCHEMA_VERSION, Store};
pub use tasks::Tasks;
pub use text::MAX_ID_BYTES;
pub use wake::{Listener, ListenerConfig, ListenerStats, PgWaker};
