//! Sorting many run keys into selection order in linear time: radix sorts on integers
//! that the selection order refines, then a comparison sort of each group of keys that
//! they leave tied (usually none).
//!
//! A long starved episode hands the ladder thousands of starved runs every cycle, in
//! selection order; comparison-sorting them was a quarter of such a cycle's work. The
//! keys are radix-sorted by id prefix and then by a coarse key packing the priority band
//! and the queued-at time (microseconds, saturating far from the epoch); only ids that
//! share their whole sixteen-byte prefix (or times that far from the epoch) are left
//! for the full comparison: the full id, then the input index.

use super::key::RunKey;
use crate::view::RunView;

/// Below this many keys a comparison sort is as fast.
const RADIX_FROM: usize = 256;

/// Reused buffers of [`sort_keys`].
#[derive(Debug, Clone, Default)]
pub(crate) struct SortBuffers {
    pairs: Vec<(u64, u32)>,
    spare: Vec<(u64, u32)>,
    keys: Vec<RunKey>,
}

/// Sorts `keys` into selection order (the order of [`RunKey::cmp`]).
///
/// Three stable radix passes put the keys in (coarse key, id prefix) order; within a
/// group of equal coarse keys that is the selection order whenever the group's
/// queued-at times are all equal (the usual case: a group is one band and one instant),
/// except among keys whose ids share the whole prefix, which are then compared in full.
/// A group mixing queued-at times (times that far from the epoch) is compared in full.
pub(crate) fn sort_keys<R: RunView>(keys: &mut Vec<RunKey>, runs: &[R], buf: &mut SortBuffers) {
    if keys.len() < RADIX_FROM {
        keys.sort_unstable_by(|a, b| a.cmp(b, runs));
        return;
    }
    buf.pairs.clear();
    buf.pairs.extend(keys.iter().enumerate().map(|(i, k)| (k.prefix() as u64, i as u32)));
    radix_sort(&mut buf.pairs, &mut buf.spare);
    for pair in &mut buf.pairs {
        pair.0 = (keys[pair.1 as usize].prefix() >> 64) as u64;
    }
    radix_sort(&mut buf.pairs, &mut buf.spare);
    for pair in &mut buf.pairs {
        pair.0 = keys[pair.1 as usize].coarse();
    }
    radix_sort(&mut buf.pairs, &mut buf.spare);
    buf.keys.clear();
    buf.keys.extend(buf.pairs.iter().map(|&(_, i)| keys[i as usize]));
    let mut start = 0;
    for group in buf.pairs.chunk_by(|a, b| a.0 == b.0) {
        let end = start + group.len();
        finish_group(&mut buf.keys[start..end], runs);
        start = end;
    }
    std::mem::swap(keys, &mut buf.keys);
}

/// Puts a group of keys with equal coarse keys, in id-prefix order, into selection order.
fn finish_group<R: RunView>(group: &mut [RunKey], runs: &[R]) {
    if group.len() < 2 {
        return;
    }
    if group.iter().any(|k| k.queued_at() != group[0].queued_at()) {
        group.sort_unstable_by(|a, b| a.cmp(b, runs));
        return;
    }
    for ties in group.chunk_by_mut(|a, b| a.prefix() == b.prefix()) {
        if ties.len() > 1 {
            ties.sort_unstable_by(|a, b| a.cmp(b, runs));
        }
    }
}

/// Sorts `pairs` by their first field, least significant byte first, with a pass for
/// each byte in which the keys differ: one pass finds those bytes, and a byte that
/// every key shares costs nothing.
fn radix_sort(pairs: &mut Vec<(u64, u32)>, spare: &mut Vec<(u64, u32)>) {
    let Some(&(first, _)) = pairs.first() else { return };
    let differ = pairs.iter().fold(0, |bits, &(k, _)| bits | (k ^ first));
    // Every slot is written before it is read: no need to clear it between passes.
    spare.resize(pairs.len(), (0, 0));
    for shift in (0..64).step_by(8).filter(|shift| (differ >> shift) & 0xff != 0) {
        let mut count = [0u32; 256];
        for &(k, _) in pairs.iter() {
            count[(k >> shift) as usize & 0xff] += 1;
        }
        let mut at = 0;
        for c in &mut count {
            (*c, at) = (at, at + *c);
        }
        for &pair in pairs.iter() {
            let digit = (pair.0 >> shift) as usize & 0xff;
            spare[count[digit] as usize] = pair;
            count[digit] += 1;
        }
        std::mem::swap(pairs, spare);
    }
}

#[cfg(test)]
mod tests {
    use std::time::{Duration, SystemTime};

    use std::cmp::Ordering;

    use super::*;
    use crate::model::Priority;

    /// Whether `a` orders before `b` by coarse key alone, when it decides: the property
    /// the sort relies on (a smaller coarse key is an earlier key).
    fn coarse_agrees<R: RunView>(a: &RunKey, b: &RunKey, runs: &[R]) -> bool {
        match a.coarse().cmp(&b.coarse()) {
            Ordering::Equal => true,
            coarse => coarse == a.cmp(b, runs),
        }
    }

    type Run = crate::selection::test_run::TestRun;

    /// Deterministic pseudo-random runs: few distinct times (so groups of equal coarse
    /// keys are common), times before, at and far after the epoch, every priority, ids
    /// short and long (sharing their sixteen-byte prefix), repeated ids.
    fn runs(n: usize, seed: u64) -> Vec<Run> {
        let epoch = SystemTime::UNIX_EPOCH;
        let times = [
            None,
            epoch.checked_sub(Duration::from_secs(1 << 40)),
            epoch.checked_sub(Duration::from_nanos(1)),
            Some(epoch),
            Some(epoch + Duration::from_nanos(1)),
            // Across a carry from the microseconds into the seconds' low bits.
            Some(epoch + Duration::from_secs((1 << 20) - 1) + Duration::from_micros(999_999)),
            Some(epoch + Duration::from_secs(1 << 20)),
            Some(epoch + Duration::from_secs(1_700_000_000)),
            Some(epoch + Duration::from_secs(1_700_000_000) + Duration::from_nanos(999_999_999)),
            Some(epoch + Duration::from_secs(1_700_000_000) + Duration::from_nanos(999)),
            // The same microsecond as the one above, a fraction earlier.
            Some(epoch + Duration::from_secs(1_700_000_000) + Duration::from_nanos(500)),
            Some(epoch + Duration::from_secs(1 << 42)),
            Some(epoch + Duration::from_secs(1 << 43)),
        ];
        let priorities = [Priority::Urgent, Priority::High, Priority::Medium, Priority::Low, Priority::Unknown];
        let mut x = seed | 1;
        let mut next = move || {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            x
        };
        (0..n)
            .map(|_| Run {
                id: match next() % 3 {
                    // Long ids sharing their sixteen-byte prefix; short ones; repeats.
                    0 => format!("workspace-7f3a/run-{:04}", next() % 300),
                    1 => format!("r{}", next() % 5000),
                    _ => format!("run-{:02}", next() % 40),
                },
                priority: priorities[next() as usize % priorities.len()],
                caps: Vec::new(),
                queued_at: times[next() as usize % times.len()],
            })
            .collect()
    }

    #[test]
    fn sorts_like_the_comparison_sort() {
        let mut buf = SortBuffers::default();
        for (n, seed) in [(0, 1), (1, 2), (255, 3), (256, 4), (257, 5), (1000, 6), (5000, 7), (300, 8)] {
            let runs = runs(n, seed);
            let keys: Vec<RunKey> = runs.iter().enumerate().map(|(i, r)| RunKey::new(r, i as u32, 0)).collect();
            let mut expected = keys.clone();
            expected.sort_unstable_by(|a, b| a.cmp(b, &runs));
            let mut got = keys.clone();
            sort_keys(&mut got, &runs, &mut buf);
            assert_eq!(got, expected, "{n} keys, seed {seed}");
            for a in keys.iter().take(60) {
                for b in &keys {
                    assert!(coarse_agrees(a, b, &runs), "{n} keys, seed {seed}");
                }
            }
        }
    }

    /// The keys' order is the selection order written out plainly: priority band, the
    /// exact queued-at time (unknown first), the trimmed id, the input index.
    #[test]
    fn key_order_is_the_selection_order() {
        let runs = runs(400, 11);
        let plain = |i: usize| {
            let r = &runs[i];
            (3 - r.priority.rank().min(3), r.queued_at, r.id.trim(), i)
        };
        let keys: Vec<RunKey> = runs.iter().enumerate().map(|(i, r)| RunKey::new(r, i as u32, 0)).collect();
        for a in &keys {
            for b in &keys {
                let (i, j) = (a.idx as usize, b.idx as usize);
                assert_eq!(a.cmp(b, &runs), plain(i).cmp(&plain(j)), "{:?} {:?}", plain(i), plain(j));
                assert_eq!(a.lt(b, &runs), plain(i) < plain(j));
            }
        }
    }

    /// Groups of exactly two left tied by the radix passes, among many single keys: two
    /// long ids with the same sixteen-byte prefix at the same instant (listed in reverse),
    /// and two times past the saturation point whose order is the reverse of their ids'.
    #[test]
    fn pairs_left_tied_are_compared_in_full() {
        let epoch = SystemTime::UNIX_EPOCH;
        let at = |s: u64| Some(epoch + Duration::from_secs(s));
        let mut runs: Vec<Run> = (0..300)
            .map(|i| Run {
                id: format!("r{i:03}"),
                priority: Priority::Medium,
                caps: Vec::new(),
                queued_at: at(1000 + i),
            })
            .collect();
        let same = at(5000);
        runs.push(Run {
            id: "workspace-7f3a/run-2".into(),
            priority: Priority::Medium,
            caps: Vec::new(),
            queued_at: same,
        });
        runs.push(Run {
            id: "workspace-7f3a/run-1".into(),
            priority: Priority::Medium,
            caps: Vec::new(),
            queued_at: same,
        });
        runs.push(Run { id: "a".into(), priority: Priority::Medium, caps: Vec::new(), queued_at: at(1 << 43) });
        runs.push(Run { id: "b".into(), priority: Priority::Medium, caps: Vec::new(), queued_at: at(1 << 42) });
        let keys: Vec<RunKey> = runs.iter().enumerate().map(|(i, r)| RunKey::new(r, i as u32, 0)).collect();
        let mut got = keys.clone();
        sort_keys(&mut got, &runs, &mut SortBuffers::default());
        let ids: Vec<&str> = got.iter().map(|k| runs[k.idx as usize].id.as_str()).collect();
        assert_eq!(ids[300..], ["workspace-7f3a/run-1", "workspace-7f3a/run-2", "b", "a"]);
        let mut expected = keys;
        expected.sort_unstable_by(|a, b| a.cmp(b, &runs));
        assert_eq!(got, expected);
    }

    #[test]
    fn radix_sorts_by_the_whole_key_and_is_stable() {
        let mut spare = Vec::new();
        let mut pairs: Vec<(u64, u32)> = [u64::MAX, 0, 1 << 56, 1 << 8, 1 << 8, 255, 1 << 63, 7, 0]
            .iter()
            .enumerate()
            .map(|(i, &k)| (k, i as u32))
            .collect();
        radix_sort(&mut pairs, &mut spare);
        let keys: Vec<u64> = pairs.iter().map(|p| p.0).collect();
        assert_eq!(keys, [0, 0, 7, 255, 1 << 8, 1 << 8, 1 << 56, 1 << 63, u64::MAX]);
        // Equal keys keep their input order.
        assert_eq!((pairs[0].1, pairs[1].1), (1, 8));
        assert_eq!((pairs[4].1, pairs[5].1), (3, 4));
    }

    #[test]
    fn radix_sort_agrees_with_a_stable_sort_whichever_bytes_differ() {
        let mut spare = Vec::new();
        let mut x = 0x9e37_79b9_7f4a_7c15_u64;
        for mask in [0, 0xff, 0xff00_0000_00ff_0000, 0x0101_0101_0101_0101, u64::MAX] {
            let mut pairs: Vec<(u64, u32)> = (0..300)
                .map(|i| {
                    x ^= x << 13;
                    x ^= x >> 7;
                    x ^= x << 17;
                    (0x5a5a_5a5a_5a5a_5a5a ^ (x & mask), i)
                })
                .collect();
            let mut expected = pairs.clone();
            expected.sort_by_key(|p| p.0);
            radix_sort(&mut pairs, &mut spare);
            assert_eq!(pairs, expected, "mask {mask:#x}");
        }
    }
}
