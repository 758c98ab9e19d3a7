//! Posting lists: for every interned capability, the grouped positions of the available
//! sessions that hold it, in ascending order. Sessions are grouped by partition, each
//! partition a contiguous range of positions, so the holders of a capability inside one
//! partition are a sub-slice found by two binary searches.
//!
//! A new requirement class then looks only at the holders of its rarest required
//! capability in its partition, instead of at every session of the partition: with
//! many distinct capability sets (every run its own class) that is the difference
//! between O(classes x partition) and O(classes x rarest holders). The candidates found
//! are the same, in the same order (ascending position, i.e. session order).

/// Holders of each capability, by grouped session position.
#[derive(Debug, Clone, Default)]
pub(crate) struct Postings {
    /// `start[c]..start[c + 1]` is capability `c`'s range of `holders`.
    start: Vec<u32>,
    holders: Vec<u32>,
}

impl Postings {
    /// Rebuilds the lists from the sessions' capability bit sets (`masks`, `words` words
    /// per session, session `g` at `masks[g * words..]`) over `caps` capabilities.
    pub(crate) fn build(&mut self, masks: &[u64], words: usize, caps: usize) {
        self.start.clear();
        self.start.resize(caps + 2, 0);
        let sessions = masks.len() / words.max(1);
        // Count (shifted by two, so the prefix sums leave each list's start at c + 1,
        // to be used as its fill cursor).
        for g in 0..sessions {
            for_each_bit(&masks[g * words..][..words], |c| self.start[c + 2] += 1);
        }
        for c in 2..self.start.len() {
            self.start[c] += self.start[c - 1];
        }
        self.holders.clear();
        self.holders.resize(self.start[caps + 1] as usize, 0);
        for g in 0..sessions {
            for_each_bit(&masks[g * words..][..words], |c| {
                let at = &mut self.start[c + 1];
                self.holders[*at as usize] = g as u32;
                *at += 1;
            });
        }
        self.start.truncate(caps + 1);
    }

    /// The holders of capability `c` with a position in `lo..hi`, ascending.
    pub(crate) fn holders_in(&self, c: usize, lo: usize, hi: usize) -> &[u32] {
        let all = &self.holders[self.start[c] as usize..self.start[c + 1] as usize];
        let from = all.partition_point(|&g| (g as usize) < lo);
        let to = from + all[from..].partition_point(|&g| (g as usize) < hi);
        &all[from..to]
    }

    /// Of the capabilities `need` (ascending, distinct), the holders in `lo..hi` of the
    /// one with the fewest (the lowest-numbered of those tied); `None` when `need` is
    /// empty. Any required capability's holders would do (each is a superset of the
    /// sessions that meet every requirement): the fewest is the least to scan.
    pub(crate) fn rarest_in(&self, need: &[u64], lo: usize, hi: usize) -> Option<&[u32]> {
        let mut best: Option<&[u32]> = None;
        for &c in need {
            let holders = self.holders_in(c as usize, lo, hi);
            if best.is_none_or(|b| holders.len() < b.len()) {
                best = Some(holders);
            }
        }
        best
    }
}

/// Calls `f` with the index of every set bit of `words`, ascending.
fn for_each_bit(words: &[u64], mut f: impl FnMut(usize)) {
    for (w, &word) in words.iter().enumerate() {
        let mut bits = word;
        while bits != 0 {
            f(w * 64 + bits.trailing_zeros() as usize);
            bits &= bits - 1;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn holders_by_capability_and_range() {
        // Four sessions, one word each: caps {0, 2}, {2}, {0, 1, 2}, {} ; caps = 3.
        let masks = [0b101, 0b100, 0b111, 0];
        let mut p = Postings::default();
        p.build(&masks, 1, 3);
        assert_eq!(p.holders_in(0, 0, 4), [0, 2]);
        assert_eq!(p.holders_in(1, 0, 4), [2]);
        assert_eq!(p.holders_in(2, 0, 4), [0, 1, 2]);
        assert_eq!(p.holders_in(2, 1, 2), [1]);
        assert_eq!(p.holders_in(0, 1, 2), [] as [u32; 0]);
        assert_eq!(p.rarest_in(&[0, 2], 0, 4), Some(&[0, 2][..]));
        assert_eq!(p.rarest_in(&[1, 2], 0, 4), Some(&[2][..]));
        assert_eq!(p.rarest_in(&[0, 1], 0, 4), Some(&[2][..]), "the rarer capability numbered later");
        assert_eq!(p.rarest_in(&[], 0, 4), None);
        // A tie keeps the first capability.
        let mut q = Postings::default();
        // Sessions with caps {0, 1, 2}, {0, 2}, {1}: holders 0 -> [0, 1], 1 -> [0, 2], 2 -> [0, 1].
        q.build(&[0b111, 0b101, 0b010], 1, 3);
        assert_eq!(q.rarest_in(&[0, 1], 0, 3), Some(&[0, 1][..]), "tie: capability 0");
        assert_eq!(q.rarest_in(&[1, 2], 0, 3), Some(&[0, 2][..]), "tie: capability 1");
        // Rebuilt over other rows: nothing left from before.
        p.build(&[0b10, 0b10], 1, 2);
        assert_eq!(p.holders_in(1, 0, 2), [0, 1]);
        assert_eq!(p.holders_in(0, 0, 2), [] as [u32; 0]);
    }

    #[test]
    fn many_words() {
        // Capability 70 lives in the second word.
        let mut masks = vec![0u64; 6];
        masks[1] = 1 << 6; // session 0 holds 70
        masks[5] = 1 << 6 | 1 << 7; // session 2 holds 70 and 71
        masks[4] = 1; // session 2 holds 0
        let mut p = Postings::default();
        p.build(&masks, 2, 72);
        assert_eq!(p.holders_in(70, 0, 3), [0, 2]);
        assert_eq!(p.holders_in(71, 0, 3), [2]);
        assert_eq!(p.holders_in(0, 0, 3), [2]);
        assert_eq!(p.rarest_in(&[0, 70, 71], 0, 3), Some(&[2][..]));
    }
}
