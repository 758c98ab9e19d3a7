//! The schema: embedded, versioned migrations, and the checks that refuse a file
//! before anything in it is changed.
//!
//! The version lives in SQLite's `user_version` header field and the file is marked as
//! ours with `application_id`. Opening reads both first (a read changes nothing):
//! a file that is not a database, belongs to another application, or was written by a
//! newer schema is refused then. Missing migrations run in one `BEGIN IMMEDIATE`
//! transaction, so two processes opening a new file at once migrate it once.

use rusqlite::{Connection, TransactionBehavior};

use crate::error::OpenProblem;

/// `application_id` of a scheduler store: "SchD".
pub(crate) const APPLICATION_ID: i64 = 0x5363_6844;

/// The migrations, in order; migration `i` brings the schema to version `i + 1`.
const MIGRATIONS: &[&str] = &[include_str!("migrations/0001_initial.sql")];

/// The newest schema version this build knows.
pub const SCHEMA_VERSION: i64 = MIGRATIONS.len() as i64;

/// What the header of a database says.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Header {
    pub(crate) application_id: i64,
    pub(crate) version: i64,
    pub(crate) objects: i64,
}

/// Reads the header (a read: nothing changes).
pub(crate) fn read_header(conn: &Connection) -> Result<Header, OpenProblem> {
    let read = || -> rusqlite::Result<Header> {
        Ok(Header {
            application_id: conn.query_row("PRAGMA application_id", [], |r| r.get(0))?,
            version: conn.query_row("PRAGMA user_version", [], |r| r.get(0))?,
            objects: conn.query_row("SELECT count(*) FROM sqlite_schema", [], |r| r.get(0))?,
        })
    };
    read().map_err(|e| match e.sqlite_error_code() {
        Some(rusqlite::ErrorCode::NotADatabase) => OpenProblem::NotADatabase,
        _ => OpenProblem::Sqlite(e),
    })
}

/// Whether a database with this header may be opened (and migrated) by this build.
pub(crate) fn check(header: Header) -> Result<(), OpenProblem> {
    if header.version > SCHEMA_VERSION {
        return Err(OpenProblem::NewerSchema { found: header.version, supported: SCHEMA_VERSION });
    }
    match header.application_id {
        APPLICATION_ID => Ok(()),
        0 if header.objects == 0 => Ok(()),
        0 => Err(OpenProblem::Foreign(format!("it holds {} schema objects but no scheduler schema", header.objects))),
        other => Err(OpenProblem::Foreign(format!("application id {other:#x}"))),
    }
}

/// Brings the schema to [`SCHEMA_VERSION`], in one immediate transaction that re-reads
/// the version first (another process may have migrated meanwhile).
pub(crate) fn migrate(conn: &mut Connection) -> Result<(), OpenProblem> {
    let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate).map_err(OpenProblem::Sqlite)?;
    let header = read_header(&tx)?;
    check(header)?;
    for (i, sql) in MIGRATIONS.iter().enumerate().skip(usize::try_from(header.version).unwrap_or(0)) {
        tx.execute_batch(sql).map_err(OpenProblem::Sqlite)?;
        tx.pragma_update(None, "user_version", i as i64 + 1).map_err(OpenProblem::Sqlite)?;
    }
    if header.application_id != APPLICATION_ID {
        tx.pragma_update(None, "application_id", APPLICATION_ID).map_err(OpenProblem::Sqlite)?;
    }
    tx.commit().map_err(OpenProblem::Sqlite)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn migrates_once_and_refuses_newer_and_foreign_databases() {
        let mut conn = Connection::open_in_memory().unwrap();
        migrate(&mut conn).unwrap();
        let header = read_header(&conn).unwrap();
        assert_eq!((header.application_id, header.version), (APPLICATION_ID, SCHEMA_VERSION));
        migrate(&mut conn).unwrap();
        let newer = Header { version: SCHEMA_VERSION + 1, ..header };
        assert!(matches!(check(newer), Err(OpenProblem::NewerSchema { .. })));
        let foreign = Header { application_id: 7, ..header };
        assert!(check(foreign).unwrap_err().to_string().contains("another application"));
        let untagged = Header { application_id: 0, version: 0, objects: 3 };
        assert!(check(untagged).is_err());
    }
}
