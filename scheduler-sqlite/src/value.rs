//! Values as stored: times as integer nanoseconds since the Unix epoch (UTC), ids
//! trimmed and free of NUL bytes, capability lists as JSON arrays.

use std::time::{Duration, SystemTime};

use crate::error::Error;

/// `t` as nanoseconds since the Unix epoch (negative before it).
///
/// # Errors
/// `InvalidInput` naming `field` when `t` is outside what 64-bit nanoseconds hold
/// (about the years 1678 to 2262).
pub(crate) fn nanos(t: SystemTime, field: &'static str) -> Result<i64, Error> {
    let out_of_range = || Error::invalid(field, "the time is outside what the store holds (years 1678 to 2262)");
    match t.duration_since(SystemTime::UNIX_EPOCH) {
        Ok(d) => i64::try_from(d.as_nanos()).map_err(|_| out_of_range()),
        Err(before) => i64::try_from(before.duration().as_nanos()).map(|n| -n).map_err(|_| out_of_range()),
    }
}

/// The time `n` nanoseconds after the Unix epoch.
pub(crate) fn time(n: i64) -> SystemTime {
    let d = Duration::from_nanos(n.unsigned_abs());
    if n >= 0 { SystemTime::UNIX_EPOCH + d } else { SystemTime::UNIX_EPOCH - d }
}

/// The end of a lease of `lease` from `now`, as stored.
///
/// # Errors
/// `InvalidInput` when it overflows the clock or the store's range.
pub(crate) fn lease_end(now: SystemTime, lease: std::time::Duration) -> Result<(SystemTime, i64), Error> {
    let until = now
        .checked_add(lease)
        .ok_or_else(|| Error::invalid("lease duration", format!("a lease of {lease:?} overflows the clock")))?;
    Ok((until, nanos(until, "lease end")?))
}

/// Text the store keeps: any text without NUL bytes (SQLite's text functions stop at
/// them, so the store refuses rather than truncate).
pub(crate) fn text<'a>(raw: &'a str, field: &'static str) -> Result<&'a str, Error> {
    if raw.contains('\0') {
        return Err(Error::invalid(field, "contains a NUL byte"));
    }
    Ok(raw)
}

/// An id: trimmed, non-empty, without NUL bytes.
pub(crate) fn id<'a>(raw: &'a str, field: &'static str) -> Result<&'a str, Error> {
    let id = text(raw, field)?.trim();
    if id.is_empty() {
        return Err(Error::invalid(field, "is empty"));
    }
    Ok(id)
}

/// An optional id or name: trimmed (may be empty), without NUL bytes.
pub(crate) fn name<'a>(raw: &'a str, field: &'static str) -> Result<&'a str, Error> {
    Ok(text(raw, field)?.trim())
}

/// Capability names: trimmed, empty names dropped, duplicates dropped, order kept.
pub(crate) fn caps<'a, I: IntoIterator<Item = &'a str>>(raw: I, field: &'static str) -> Result<Vec<String>, Error> {
    let mut out: Vec<String> = Vec::new();
    for cap in raw {
        let cap = name(cap, field)?;
        if !cap.is_empty() && !out.iter().any(|c| c == cap) {
            out.push(cap.to_owned());
        }
    }
    Ok(out)
}

/// A JSON array of strings.
pub(crate) fn json_array<S: AsRef<str>>(items: &[S]) -> String {
    let items: Vec<&str> = items.iter().map(AsRef::as_ref).collect();
    serde_json::to_string(&items).unwrap_or_else(|_| "[]".to_owned())
}

/// Parses a stored JSON array of strings.
pub(crate) fn parse_array(json: &str, table: &'static str) -> Result<Vec<String>, Error> {
    serde_json::from_str(json)
        .map_err(|e| Error::Corrupt { table, problem: format!("capabilities are not a JSON array of strings: {e}") })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn times_round_trip_to_the_nanosecond() {
        for t in [
            SystemTime::UNIX_EPOCH,
            SystemTime::UNIX_EPOCH + Duration::new(1_767_225_600, 123_456_789),
            SystemTime::UNIX_EPOCH - Duration::new(5, 1),
        ] {
            assert_eq!(time(nanos(t, "t").unwrap()), t);
        }
        let far = SystemTime::UNIX_EPOCH + Duration::from_secs(400 * 365 * 86_400);
        assert!(nanos(far, "queued-at").unwrap_err().to_string().contains("queued-at"));
    }

    #[test]
    fn ids_are_trimmed_and_checked() {
        assert_eq!(id(" r ", "run id").unwrap(), "r");
        assert!(id("  ", "run id").unwrap_err().to_string().contains("run id: is empty"));
        assert!(id("a\0b", "run id").unwrap_err().to_string().contains("NUL"));
        assert_eq!(caps([" rust", "", "go", "rust "], "capability").unwrap(), ["rust", "go"]);
        assert_eq!(parse_array(&json_array(&["a\"b", "c;d"]), "runs").unwrap(), ["a\"b", "c;d"]);
    }
}
