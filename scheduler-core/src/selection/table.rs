//! A reusable open-addressing hash table of small integer entries, and the seeded
//! string hash it is used with.
//!
//! The table never stores keys: it stores each entry's hash, and a lookup asks the
//! caller whether entry `e` holds the key (the caller knows where entry `e`'s string
//! lives: in this cycle's snapshots). That lets the table outlive the borrowed snapshots
//! it indexes and keep its capacity from cycle to cycle, so a steady workload interns
//! without allocating.

use std::hash::{BuildHasher, RandomState};

const MUL: u64 = 0x9E37_79B9_7F4A_7C15;
const MUL2: u64 = 0xD6E8_FEB8_6659_FD93;

#[inline]
fn word(b: &[u8], at: usize) -> u64 {
    u64::from_le_bytes(b[at..at + 8].try_into().expect("8 bytes"))
}

#[inline]
fn fold(a: u64, b: u64) -> u64 {
    let m = u128::from(a) * u128::from(b);
    (m as u64) ^ ((m >> 64) as u64)
}

/// A fast seeded hash: a per-process random seed (so crafted ids cannot be made to
/// collide in advance) and one folded multiply per 8 bytes.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Seed(u64);

impl Default for Seed {
    fn default() -> Self {
        // `RandomState` draws per-process random keys; it allocates nothing.
        Seed(RandomState::new().hash_one(0x5eed_u64) | 1)
    }
}

impl Seed {
    /// Hashes a string's bytes.
    #[inline]
    pub(crate) fn str(self, s: &str) -> u64 {
        let bytes = s.as_bytes();
        let n = bytes.len();
        let mut h = self.0 ^ (n as u64).wrapping_mul(MUL);
        if n <= 8 {
            return fold(h ^ super::key::short_be(bytes), MUL2);
        }
        let mut at = 0;
        while at + 8 < n {
            h = fold(h ^ word(bytes, at), MUL);
            at += 8;
        }
        // The last eight bytes, overlapping the previous word (the length is mixed in).
        fold(h ^ word(bytes, n - 8), MUL2)
    }

    /// Hashes a string given its head (`(id_prefix(s), s.len())`): a string of up to
    /// sixteen bytes is its head, so it is hashed from the head without reading its bytes
    /// again; a longer one is hashed as [`str`](Self::str) does. Equal strings get equal
    /// hashes; the hashes differ from [`str`](Self::str)'s.
    #[inline]
    pub(crate) fn head(self, s: &str, (prefix, n): (u128, usize)) -> u64 {
        if n > 16 {
            return self.str(s);
        }
        let h = self.0 ^ (n as u64).wrapping_mul(MUL) ^ (prefix >> 64) as u64;
        if n <= 8 {
            return fold(h, MUL2);
        }
        fold(fold(h, MUL) ^ prefix as u64, MUL2)
    }

    /// Hashes a sequence of integers.
    #[inline]
    pub(crate) fn words(self, words: impl IntoIterator<Item = u64>) -> u64 {
        let mut h = self.0;
        for w in words {
            h = fold(h ^ w, MUL);
        }
        fold(h, MUL2)
    }
}

/// Entries `0..len()` found by hash; see the module docs.
#[derive(Debug, Clone, Default)]
pub(crate) struct Table {
    /// 0: empty; otherwise entry + 1.
    slots: Vec<u32>,
    hashes: Vec<u64>,
}

impl Table {
    /// Forgets every entry and makes room for `expected` entries without growing (slots
    /// and entry list alike). Never shrinks, so a steady workload reuses the same
    /// capacity.
    pub(crate) fn reset(&mut self, expected: usize) {
        let want = (expected.max(4) * 2).next_power_of_two().max(self.slots.len());
        self.slots.clear();
        self.slots.resize(want, 0);
        self.hashes.clear();
        self.hashes.reserve(expected);
    }

    /// How many entries the table holds.
    pub(crate) fn len(&self) -> usize {
        self.hashes.len()
    }

    #[inline]
    fn mask(&self) -> usize {
        self.slots.len() - 1
    }

    /// The entry with `hash` for which `is(entry)` holds.
    #[inline]
    pub(crate) fn find(&self, hash: u64, mut is: impl FnMut(u32) -> bool) -> Option<u32> {
        let mask = self.mask();
        let mut i = hash as usize & mask;
        loop {
            let slot = self.slots[i];
            if slot == 0 {
                return None;
            }
            let e = slot - 1;
            if self.hashes[e as usize] == hash && is(e) {
                return Some(e);
            }
            i = (i + 1) & mask;
        }
    }

    /// The entry with `hash` for which `is(entry)` holds, or a new entry (numbered
    /// `len()` before the call). Returns the entry and whether it is new.
    #[inline]
    pub(crate) fn intern(&mut self, hash: u64, mut is: impl FnMut(u32) -> bool) -> (u32, bool) {
        if (self.hashes.len() + 1) * 2 > self.slots.len() {
            self.grow();
        }
        let mask = self.mask();
        let mut i = hash as usize & mask;
        loop {
            let slot = self.slots[i];
            if slot == 0 {
                let e = self.hashes.len() as u32;
                self.hashes.push(hash);
                self.slots[i] = e + 1;
                return (e, true);
            }
            let e = slot - 1;
            if self.hashes[e as usize] == hash && is(e) {
                return (e, false);
            }
            i = (i + 1) & mask;
        }
    }

    fn grow(&mut self) {
        let cap = (self.slots.len() * 2).max(8);
        self.slots.clear();
        self.slots.resize(cap, 0);
        let mask = cap - 1;
        for (e, &h) in self.hashes.iter().enumerate() {
            let mut i = h as usize & mask;
            while self.slots[i] != 0 {
                i = (i + 1) & mask;
            }
            self.slots[i] = e as u32 + 1;
        }
    }
}

/// A set of non-zero hashes, for asking whether a list of them may have a repeat. A
/// slot holds the high half of a hash (with its lowest bit set, so 0 marks an empty
/// slot), and the low bits choose where: an insertion is one probe sequence in one
/// array of half the size of the hashes, with no entry numbering.
#[derive(Debug, Clone, Default)]
pub(crate) struct Distinct {
    slots: Vec<u32>,
}

impl Distinct {
    /// Empties the set and makes room for `expected` hashes. Never shrinks.
    pub(crate) fn reset(&mut self, expected: usize) {
        let want = (expected + expected / 2).max(8).next_power_of_two().max(self.slots.len());
        self.slots.clear();
        self.slots.resize(want, 0);
    }

    /// Adds `hash` (not 0); returns whether it was new. `true` is certain; `false` means
    /// it was likely there already (a distinct hash whose probe sequence meets one with
    /// the same high half also gives `false`, about once in 2^32 meetings).
    #[inline]
    pub(crate) fn insert(&mut self, hash: u64) -> bool {
        debug_assert!(hash != 0);
        let mask = self.slots.len() - 1;
        let high = (hash >> 32) as u32 | 1;
        let mut i = hash as usize & mask;
        loop {
            match self.slots[i] {
                0 => break,
                held if held == high => return false,
                _ => i = (i + 1) & mask,
            }
        }
        self.slots[i] = high;
        true
    }
}

/// A [`Table`] of strings: each entry also keeps its string's length and first sixteen
/// bytes, so strings of up to sixteen bytes are compared without reading them back, and
/// longer ones only when length and head agree.
#[derive(Debug, Clone, Default)]
pub(crate) struct StrTable {
    table: Table,
    heads: Vec<(u128, usize)>,
}

/// A string's head: its first sixteen bytes ([`id_prefix`](super::key::id_prefix)) and
/// its length. A string of up to sixteen bytes is known by its head alone.
#[inline]
pub(crate) fn head(s: &str) -> (u128, usize) {
    (super::key::id_prefix(s), s.len())
}

impl StrTable {
    /// See [`Table::reset`].
    pub(crate) fn reset(&mut self, expected: usize) {
        self.table.reset(expected);
        self.heads.clear();
        self.heads.reserve(expected);
    }

    /// How many strings the table holds.
    pub(crate) fn len(&self) -> usize {
        self.table.len()
    }

    /// The entry holding `s`; `long_is(e)` says whether entry `e`, whose string is
    /// longer than sixteen bytes, holds `s`.
    #[inline]
    pub(crate) fn find(&self, seed: Seed, s: &str, mut long_is: impl FnMut(u32) -> bool) -> Option<u32> {
        let h = head(s);
        let heads = &self.heads;
        self.table.find(seed.head(s, h), |e| heads[e as usize] == h && (h.1 <= 16 || long_is(e)))
    }

    /// The entry holding `s`, or a new one; returns it and whether it is new.
    #[inline]
    pub(crate) fn intern(&mut self, seed: Seed, s: &str, mut long_is: impl FnMut(u32) -> bool) -> (u32, bool) {
        let h = head(s);
        let heads = &self.heads;
        let (e, new) = self.table.intern(seed.head(s, h), |e| heads[e as usize] == h && (h.1 <= 16 || long_is(e)));
        if new {
            self.heads.push(h);
        }
        (e, new)
    }
}

/// Strings copied back to back into one reused buffer, each named by its span: a
/// cycle's ids read once from their scattered rows, then from one place.
#[derive(Debug, Clone, Default)]
pub(crate) struct Texts {
    text: String,
}

/// Where a string lies in [`Texts`]: its start and length.
pub(crate) type Span = (u32, u32);

impl Texts {
    /// Empties the buffer, keeping its capacity.
    pub(crate) fn clear(&mut self) {
        self.text.clear();
    }

    /// Room for `bytes` more bytes.
    pub(crate) fn reserve(&mut self, bytes: usize) {
        self.text.reserve(bytes);
    }

    /// Copies `s` in and names it.
    pub(crate) fn push(&mut self, s: &str) -> Span {
        let at = self.text.len() as u32;
        self.text.push_str(s);
        (at, s.len() as u32)
    }

    /// The string at `span`.
    pub(crate) fn get(&self, (at, len): Span) -> &str {
        &self.text[at as usize..(at + len) as usize]
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn interns_and_finds() {
        let seed = Seed::default();
        let words = ["a", "b", "a", "", "ccccccccccccc", "b"];
        let mut t = Table::default();
        t.reset(2); // grows past this
        let mut ids = Vec::new();
        for w in words {
            let (e, _) = t.intern(seed.str(w), |e| words[ids_rep(&ids, e)] == w);
            if e as usize == ids.len() {
                ids.push(words.iter().position(|x| *x == w).unwrap());
            }
        }
        assert_eq!(t.len(), 4);
        assert_eq!(t.find(seed.str("b"), |e| words[ids[e as usize]] == "b"), Some(1));
        assert_eq!(t.find(seed.str("zz"), |_| true), None);
        t.reset(2);
        assert_eq!(t.len(), 0);
        assert_eq!(t.find(seed.str("a"), |_| true), None);
    }

    fn ids_rep(ids: &[usize], e: u32) -> usize {
        ids[e as usize]
    }

    #[test]
    fn str_table_compares_long_strings_in_full() {
        let seed = Seed::default();
        let words = ["short", "0123456789abcdef-one", "0123456789abcdef-two", "short"];
        let mut t = StrTable::default();
        t.reset(4);
        let mut rep: Vec<usize> = Vec::new();
        let mut got = Vec::new();
        for (i, w) in words.iter().enumerate() {
            let (e, new) = t.intern(seed, w, |e| words[rep[e as usize]] == *w);
            if new {
                rep.push(i);
            }
            got.push(e);
        }
        assert_eq!(got, [0, 1, 2, 0]);
        assert_eq!(t.find(seed, "0123456789abcdef-two", |e| words[rep[e as usize]] == "0123456789abcdef-two"), Some(2));
        assert_eq!(t.find(seed, "0123456789abcdef-xxx", |e| words[rep[e as usize]] == "0123456789abcdef-xxx"), None);
        assert_eq!(t.len(), 3);
    }

    #[test]
    fn distinct_finds_a_repeat_anywhere() {
        let mut d = Distinct::default();
        // Whether no hash of `hashes` repeats, as `key_runs` asks it.
        let mut all_new = |hashes: &[u64]| {
            d.reset(hashes.len());
            hashes.iter().all(|&h| d.insert(h))
        };
        assert!(all_new(&[]));
        assert!(all_new(&(1..=1000).collect::<Vec<u64>>()));
        // Colliding slots (same low bits) are probed past, not taken for repeats.
        assert!(all_new(&[1 << 40, 2 << 40, 3 << 40]));
        for at in [0, 1, 499, 999] {
            let mut hashes: Vec<u64> = (1..=1000).map(|h| h << 32).collect();
            hashes.push(hashes[at]);
            assert!(!all_new(&hashes), "repeat of {at}");
        }
        // The set is emptied by a reset.
        assert!(all_new(&[7, 8]));
        assert!(all_new(&[7, 8]));
        // Two hashes whose probes meet with the same high half are taken for a repeat
        // (the caller then compares the ids themselves). A new set has 8 slots: the
        // probes of 5 and 13 meet.
        let mut fresh = Distinct::default();
        fresh.reset(2);
        assert!(fresh.insert(5));
        assert!(!fresh.insert(5 + 8));
        assert!(fresh.insert(5 + 8 + (1 << 33)));
    }

    #[test]
    fn hash_depends_on_every_byte_and_length() {
        let seed = Seed::default();
        assert_ne!(seed.str("run-1"), seed.str("run-2"));
        assert_ne!(seed.str("abcdefgh1"), seed.str("abcdefgh2"));
        assert_ne!(seed.str("a"), seed.str("a\0"));
        assert_ne!(seed.words([1, 2]), seed.words([2, 1]));
        // From the head: equal strings hash alike, and every byte and the length count.
        let by_head = |s: &str| seed.head(s, head(s));
        assert_eq!(by_head("run-1"), by_head("run-1"));
        for (a, b) in [("run-1", "run-2"), ("abcdefgh1", "abcdefgh2"), ("a", "a\0"), ("", "\0")] {
            assert_ne!(by_head(a), by_head(b), "{a:?} {b:?}");
        }
        let long = "abcdefghijklmnop-1";
        assert_eq!(by_head(long), seed.str(long), "longer than sixteen bytes: the bytes");
    }
}
