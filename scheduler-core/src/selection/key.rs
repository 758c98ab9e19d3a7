//! Compact sort keys, so ordering compares plain values held in the key and touches a
//! row's strings only on exact ties.
//!
//! A key copies what the order compares first (priority band and queued-at for runs,
//! created-at for sessions) and the first sixteen bytes of the trimmed id as a `u128`
//! (big-endian, zero-padded: comparing those compares the ids' prefixes in byte order).
//! Only when all are equal does the comparison read the full ids (ids longer than
//! sixteen bytes sharing their first sixteen), and only when those are equal too does it
//! fall back to the input index, which makes the order total: exact ties keep the input
//! order.

use std::cmp::Ordering;
use std::time::SystemTime;

use crate::view::{RunView, SessionView};

/// The first sixteen bytes of `id`, big-endian, zero-padded.
#[inline]
pub(crate) fn id_prefix(id: &str) -> u128 {
    let b = id.as_bytes();
    if b.len() >= 16 {
        return u128::from_be_bytes(b[..16].try_into().expect("16 bytes"));
    }
    if b.len() > 8 {
        let hi = be8(b, 0);
        // Bytes 8.. of the id, moved to the top of the low half (the overlap with the
        // high half is shifted out).
        let lo = be8(b, b.len() - 8) << ((16 - b.len()) * 8);
        return (u128::from(hi) << 64) | u128::from(lo);
    }
    u128::from(short_be(b)) << 64
}

/// Eight bytes of `b` from `at`, big-endian.
#[inline]
fn be8(b: &[u8], at: usize) -> u64 {
    u64::from_be_bytes(b[at..at + 8].try_into().expect("8 bytes"))
}

/// Up to eight bytes, big-endian, zero-padded on the right; no byte-wise copy through
/// memory (overlapping word loads instead).
#[inline]
pub(crate) fn short_be(b: &[u8]) -> u64 {
    let n = b.len();
    debug_assert!(n <= 8);
    if n == 8 {
        be8(b, 0)
    } else if n >= 4 {
        let first = u64::from(u32::from_be_bytes(b[..4].try_into().expect("4 bytes"))) << 32;
        let last = u64::from(u32::from_be_bytes(b[n - 4..].try_into().expect("4 bytes"))) << ((8 - n) * 8);
        first | last
    } else {
        let mut v = 0u64;
        for (k, &c) in b.iter().enumerate() {
            v |= u64::from(c) << (56 - 8 * k);
        }
        v
    }
}

/// Whether `b` is a whole character that [`char::is_whitespace`] rejects: an ASCII byte
/// other than tab, line feed, vertical tab, form feed, carriage return and space.
#[inline]
fn solid_ascii(b: u8) -> bool {
    b.is_ascii() && !matches!(b, b'\t' | b'\n' | 0x0B | 0x0C | b'\r' | b' ')
}

/// [`str::trim`], with a fast path for the usual id that starts and ends with a visible
/// ASCII character.
#[inline]
pub(crate) fn trim(s: &str) -> &str {
    match s.as_bytes() {
        [first, .., last] if solid_ascii(*first) && solid_ascii(*last) => s,
        [only] if solid_ascii(*only) => s,
        _ => s.trim(),
    }
}

/// A run's place in the selection order: priority descending, queued-at ascending
/// (unknown first), run id ascending, input index ascending. `part` rides along: the
/// scope partition the run belongs to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct RunKey {
    queued_at: Option<SystemTime>,
    prefix: u128,
    pub(crate) idx: u32,
    pub(crate) part: u32,
    band: u8,
}

impl RunKey {
    #[inline(always)]
    pub(crate) fn new<R: RunView + ?Sized>(run: &R, idx: u32, part: u32) -> Self {
        Self::with_prefix(run, idx, part, id_prefix(trim(run.run_id())))
    }

    /// [`new`](Self::new), given the run's `prefix` (the [`id_prefix`] of its trimmed
    /// id) already taken.
    #[inline(always)]
    pub(crate) fn with_prefix<R: RunView + ?Sized>(run: &R, idx: u32, part: u32, prefix: u128) -> Self {
        RunKey {
            // `None < Some(_)`: an unknown queued-at sorts as the earliest time.
            queued_at: run.queued_at(),
            prefix,
            idx,
            part,
            band: 3 - run.priority().rank().min(3),
        }
    }

    /// The priority band, 0 (urgent) to 3 (low): keys of a lower band always order
    /// before keys of a higher one.
    #[inline]
    pub(crate) fn band(&self) -> usize {
        usize::from(self.band)
    }

    /// The first sixteen bytes of the trimmed run id (see [`id_prefix`]).
    #[inline]
    pub(crate) fn prefix(&self) -> u128 {
        self.prefix
    }

    /// The run's queued-at time.
    #[inline]
    pub(crate) fn queued_at(&self) -> Option<SystemTime> {
        self.queued_at
    }

    /// An integer the selection order refines: a smaller one is an earlier key. The
    /// band in the top two bits, then the queued-at time: unknown (0), before the epoch
    /// (1, all alike), or from the epoch in microseconds, the seconds saturating at 2^41
    /// (some 70,000 years). Keys it leaves equal are compared in full.
    pub(crate) fn coarse(&self) -> u64 {
        const SECS: u64 = (1 << 41) - 1;
        let time = match self.queued_at.map(|at| at.duration_since(SystemTime::UNIX_EPOCH)) {
            None => 0,
            Some(Err(_)) => 1,
            Some(Ok(d)) => (1 << 61) | (d.as_secs().min(SECS) << 20) | u64::from(d.subsec_micros()),
        };
        (u64::from(self.band) << 62) | time
    }

    /// The total selection order.
    #[inline]
    pub(crate) fn cmp<R: RunView>(&self, other: &Self, runs: &[R]) -> Ordering {
        match (self.band, self.queued_at, self.prefix).cmp(&(other.band, other.queued_at, other.prefix)) {
            Ordering::Equal => self.tie(other, runs),
            unequal => unequal,
        }
    }

    /// Whether `self` orders before `other`.
    #[inline(always)]
    pub(crate) fn lt<R: RunView>(&self, other: &Self, runs: &[R]) -> bool {
        if self.band != other.band {
            return self.band < other.band;
        }
        if self.queued_at != other.queued_at {
            return self.queued_at < other.queued_at;
        }
        if self.prefix != other.prefix {
            return self.prefix < other.prefix;
        }
        self.tie(other, runs).is_lt()
    }

    /// Equal priority, queued-at and id prefix: the full ids, then the input order.
    #[cold]
    #[inline(never)]
    fn tie<R: RunView>(&self, other: &Self, runs: &[R]) -> Ordering {
        let (a, b) = (&runs[self.idx as usize], &runs[other.idx as usize]);
        trim(a.run_id()).cmp(trim(b.run_id())).then(self.idx.cmp(&other.idx))
    }
}

/// A session's place in the session order: created-at ascending, session id ascending,
/// input index ascending.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct SessionKey {
    created_at: SystemTime,
    prefix: u128,
    pub(crate) idx: u32,
}

impl SessionKey {
    #[inline]
    pub(crate) fn new<S: SessionView + ?Sized>(session: &S, idx: u32) -> Self {
        SessionKey { created_at: session.created_at(), prefix: id_prefix(trim(session.session_id())), idx }
    }

    /// The total session order.
    #[inline]
    pub(crate) fn cmp<S: SessionView>(&self, other: &Self, sessions: &[S]) -> Ordering {
        match (self.created_at, self.prefix).cmp(&(other.created_at, other.prefix)) {
            Ordering::Equal => self.tie(other, sessions),
            unequal => unequal,
        }
    }

    /// Equal created-at and id prefix: the full ids, then the input order.
    #[cold]
    #[inline(never)]
    fn tie<S: SessionView>(&self, other: &Self, sessions: &[S]) -> Ordering {
        let (a, b) = (&sessions[self.idx as usize], &sessions[other.idx as usize]);
        trim(a.session_id()).cmp(trim(b.session_id())).then(self.idx.cmp(&other.idx))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn prefixes_order_like_strings() {
        let ids = ["", "\0", "a", "a\0", "ab", "run-1", "run-10", "run-2", "zzzzzzzzzzzzzzzzzz"];
        for w in ids.windows(2) {
            assert!(w[0] < w[1]);
            assert!(id_prefix(w[0]) <= id_prefix(w[1]), "{w:?}");
        }
        assert_eq!(id_prefix("abcdefghijklmnop1"), id_prefix("abcdefghijklmnop2"));
        assert_ne!(id_prefix("abcdefgh1"), id_prefix("abcdefgh2"));
        // The fast loads agree with the obvious zero-padded copy, at every length.
        let text = "0123456789abcdefghij";
        for n in 0..=text.len() {
            let mut w = [0u8; 16];
            let m = n.min(16);
            w[..m].copy_from_slice(&text.as_bytes()[..m]);
            assert_eq!(id_prefix(&text[..n]), u128::from_be_bytes(w), "length {n}");
        }
    }

    #[test]
    fn trim_is_str_trim() {
        for s in ["", " ", "a", " a", "a ", "\ta\n", "\u{a0}a", "a\u{3000}", "\u{85}", "\x0b", "\x1c", "é", " é ", "ab"]
        {
            assert_eq!(trim(s), s.trim(), "{s:?}");
        }
    }
}
