//! [`Config`]: where the database is, which schema, who this daemon is.

use std::time::Duration;

use crate::error::Error;

/// How a [`Store`](crate::Store) connects.
///
/// ```
/// use scheduler_postgres::Config;
/// let config = Config::new("postgres://postgres@127.0.0.1:5432/test")?
///     .schema("fleet_a")?
///     .daemon_id("host-1")?
///     .pool_size(8);
/// assert_eq!(config.schema_name(), "fleet_a");
/// # Ok::<(), scheduler_postgres::Error>(())
/// ```
#[derive(Debug, Clone)]
pub struct Config {
    pub(crate) pg: tokio_postgres::Config,
    pub(crate) schema: String,
    pub(crate) daemon_id: String,
    pub(crate) pool_size: usize,
    pub(crate) create_schema: bool,
    pub(crate) connect_timeout: Duration,
    pub(crate) wait_timeout: Duration,
}

/// The longest daemon id (it names a notification channel through a hash, and rows).
pub const MAX_DAEMON_ID_BYTES: usize = 200;

impl Config {
    /// A configuration from a connection URL (`postgres://user:password@host:port/db`)
    /// or key-value string (`host=... user=...`); schema `scheduler`, daemon id
    /// `daemon`, a pool of 16 connections, the schema created when missing.
    ///
    /// # Errors
    /// [`Error::Config`] when the URL does not parse (the message says why).
    pub fn new(url: &str) -> Result<Self, Error> {
        let pg: tokio_postgres::Config =
            url.parse().map_err(|e| Error::Config(format!("database URL does not parse: {e}")))?;
        Ok(Self::from_pg(pg))
    }

    /// A configuration from a parsed driver configuration.
    pub fn from_pg(pg: tokio_postgres::Config) -> Self {
        Config {
            pg,
            schema: "scheduler".to_owned(),
            daemon_id: "daemon".to_owned(),
            pool_size: 16,
            create_schema: true,
            connect_timeout: Duration::from_secs(5),
            wait_timeout: Duration::from_secs(10),
        }
    }

    /// The schema every table lives in: 1 to 48 bytes of lowercase ASCII letters,
    /// digits and `_`, not starting with a digit (it is spliced into DDL and the
    /// connection's `search_path`, so it is checked, never quoted blindly).
    ///
    /// # Errors
    /// [`Error::Config`] for any other name.
    pub fn schema(mut self, schema: &str) -> Result<Self, Error> {
        let ok = (1..=48).contains(&schema.len())
            && schema.bytes().all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_')
            && !schema.as_bytes()[0].is_ascii_digit();
        if !ok {
            return Err(Error::Config(format!(
                "schema name {schema:?}: use 1 to 48 bytes of a-z, 0-9 and _, not starting with a digit"
            )));
        }
        self.schema = schema.to_owned();
        Ok(self)
    }

    /// This daemon's id: the sessions it registers carry it, wakes for them are sent
    /// to it, and it is the holder's name in leader elections. Unique per daemon.
    ///
    /// # Errors
    /// [`Error::Config`] for an empty id, a NUL byte or more than
    /// [`MAX_DAEMON_ID_BYTES`] bytes.
    pub fn daemon_id(mut self, id: &str) -> Result<Self, Error> {
        let id = id.trim();
        if id.is_empty() || id.len() > MAX_DAEMON_ID_BYTES || id.contains('\0') {
            return Err(Error::Config(format!(
                "daemon id {id:?}: must be 1 to {MAX_DAEMON_ID_BYTES} bytes without NUL"
            )));
        }
        self.daemon_id = id.to_owned();
        Ok(self)
    }

    /// The most connections the pool opens (at least 1; default 16).
    pub fn pool_size(mut self, size: usize) -> Self {
        self.pool_size = size.max(1);
        self
    }

    /// Whether a missing schema is created (the default) or refused with
    /// [`Error::MissingSchema`] (for deployments where a person owns the DDL).
    pub fn create_schema(mut self, create: bool) -> Self {
        self.create_schema = create;
        self
    }

    /// How long opening one connection may take (default 5 s).
    pub fn connect_timeout(mut self, timeout: Duration) -> Self {
        self.connect_timeout = timeout;
        self
    }

    /// How long a call waits for a free pooled connection (default 10 s).
    pub fn wait_timeout(mut self, timeout: Duration) -> Self {
        self.wait_timeout = timeout;
        self
    }

    /// The schema name.
    pub fn schema_name(&self) -> &str {
        &self.schema
    }

    /// The daemon id.
    pub fn daemon(&self) -> &str {
        &self.daemon_id
    }

    /// The driver configuration of one connection: the URL's, with `search_path` set to
    /// the schema and the connect timeout applied.
    pub(crate) fn connection(&self) -> tokio_postgres::Config {
        let mut pg = self.pg.clone();
        let options = match pg.get_options() {
            Some(existing) if !existing.trim().is_empty() => format!("{existing} -c search_path={}", self.schema),
            _ => format!("-c search_path={}", self.schema),
        };
        pg.options(&options);
        pg.connect_timeout(self.connect_timeout);
        if pg.get_application_name().is_none() {
            pg.application_name(self.application_name(""));
        }
        pg
    }

    /// `sp <schema> <daemon><suffix>`, cut to PostgreSQL's 63 bytes: lets an operator
    /// (and the tests) tell this daemon's connections apart in `pg_stat_activity`.
    pub fn application_name(&self, suffix: &str) -> String {
        let mut name = format!("sp {} {}", self.schema, self.daemon_id);
        let room = 63usize.saturating_sub(suffix.len());
        if name.len() > room {
            let mut cut = room;
            while !name.is_char_boundary(cut) {
                cut -= 1;
            }
            name.truncate(cut);
        }
        name.push_str(suffix);
        name
    }

    /// Where the server is, for error messages (`host:port`, never the password).
    pub(crate) fn describe_server(&self) -> String {
        let host = match self.pg.get_hosts().first() {
            Some(tokio_postgres::config::Host::Tcp(h)) => h.clone(),
            #[cfg(unix)]
            Some(tokio_postgres::config::Host::Unix(p)) => p.display().to_string(),
            None => "localhost".to_owned(),
        };
        let port = self.pg.get_ports().first().copied().unwrap_or(5432);
        let user = self.pg.get_user().unwrap_or("(default user)");
        format!("{host}:{port} as {user}")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn schema_names_are_checked_and_application_names_fit() {
        let config = Config::new("postgres://u:secret@h:5433/db").unwrap();
        for bad in ["", "A", "1abc", "a-b", "a;b", "a b", &"a".repeat(49)] {
            assert!(config.clone().schema(bad).is_err(), "{bad:?}");
        }
        let config = config.schema("ok_1").unwrap().daemon_id(&"ü".repeat(60)).unwrap();
        let name = config.application_name(" listener");
        assert!(name.len() <= 63 && name.starts_with("sp ok_1 ") && name.ends_with(" listener"), "{name}");
        assert_eq!(config.describe_server(), "h:5433 as u", "never the password");
        assert!(config.daemon_id("a\0b").is_err());
    }
}
