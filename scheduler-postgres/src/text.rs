//! Checks on text before it is bound as a parameter: PostgreSQL `text` cannot hold a
//! NUL byte, and indexed ids have a length limit. Every refusal names the field.

use std::time::{Duration, SystemTime};

use crate::error::Error;

/// The longest run, task or session id, in bytes: they are primary keys and unique
/// index entries, which PostgreSQL's B-tree limits to about 2.7 kB per entry.
pub const MAX_ID_BYTES: usize = 1024;

/// Refuses a NUL byte (PostgreSQL text cannot store it).
pub(crate) fn text<'a>(field: &'static str, value: &'a str) -> Result<&'a str, Error> {
    if value.contains('\0') {
        return Err(Error::invalid(field, "contains a NUL byte, which PostgreSQL text cannot store"));
    }
    Ok(value)
}

/// A required id: trimmed, non-empty, no NUL, at most [`MAX_ID_BYTES`].
pub(crate) fn id<'a>(field: &'static str, value: &'a str) -> Result<&'a str, Error> {
    let value = optional_id(field, value)?;
    if value.is_empty() {
        return Err(Error::invalid(field, "is empty"));
    }
    Ok(value)
}

/// An id that may be empty (a workspace, a channel, an owner ref): trimmed, no NUL,
/// at most [`MAX_ID_BYTES`].
pub(crate) fn optional_id<'a>(field: &'static str, value: &'a str) -> Result<&'a str, Error> {
    let value = text(field, value.trim())?;
    if value.len() > MAX_ID_BYTES {
        return Err(Error::invalid(
            field,
            format!("is {} bytes long; at most {MAX_ID_BYTES} are allowed", value.len()),
        ));
    }
    Ok(value)
}

/// Free text (a name, a reason, a capability): trimmed only where `trim`, no NUL, any
/// length.
pub(crate) fn free(field: &'static str, value: &str) -> Result<String, Error> {
    text(field, value).map(str::to_owned)
}

/// Capability names: trimmed, empty names dropped, no NUL, any length.
pub(crate) fn caps<'a, I: IntoIterator<Item = &'a str>>(field: &'static str, names: I) -> Result<Vec<&'a str>, Error> {
    let mut out = Vec::new();
    for name in names {
        let name = text(field, name.trim())?;
        if !name.is_empty() {
            out.push(name);
        }
    }
    Ok(out)
}

/// An id as looked up: `None` when no stored row can have it (empty, NUL, too long).
pub(crate) fn lookup(value: &str) -> Option<&str> {
    let value = value.trim();
    (!value.is_empty() && value.len() <= MAX_ID_BYTES && !value.contains('\0')).then_some(value)
}

/// The latest time PostgreSQL's `timestamptz` holds comfortably (about year 287,000).
const MAX_SECS: u64 = 9_000_000_000_000;

/// A time that fits `timestamptz`.
pub(crate) fn time(field: &'static str, t: SystemTime) -> Result<SystemTime, Error> {
    match t.duration_since(SystemTime::UNIX_EPOCH) {
        Ok(d) if d.as_secs() > MAX_SECS => Err(Error::invalid(field, "is past the range of PostgreSQL timestamps")),
        _ => Ok(t),
    }
}

/// `now + lease`, refused when it overflows the clock or PostgreSQL's range.
pub(crate) fn lease_end(now: SystemTime, lease: Duration) -> Result<SystemTime, Error> {
    let until = now
        .checked_add(lease)
        .ok_or_else(|| Error::invalid("lease", format!("a lease of {lease:?} overflows the clock")))?;
    time("lease", until)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_are_trimmed_bounded_and_nul_free() {
        assert_eq!(id("run_id", " r ").unwrap(), "r");
        assert!(id("run_id", " ").unwrap_err().to_string().contains("run_id"));
        assert!(id("run_id", &"x".repeat(MAX_ID_BYTES + 1)).is_err());
        assert!(optional_id("channel", "a\0").unwrap_err().to_string().contains("NUL"));
        assert_eq!(caps("caps", [" a ", "", " "]).unwrap(), ["a"]);
        assert_eq!(lookup("a\0"), None);
        assert!(lease_end(SystemTime::UNIX_EPOCH, Duration::MAX).is_err());
        assert!(time("t", SystemTime::UNIX_EPOCH + Duration::from_secs(MAX_SECS + 1)).is_err());
    }
}
