//! The maximum-matching policy ([`SelectionPolicy::Maximum`]): a partition's runs, walked
//! in selection order, are accepted while the accepted ones can all be given distinct
//! eligible sessions not in cooldown for them (Kuhn's augmenting paths).
//!
//! Processing runs in order and accepting a run exactly when the accepted set stays
//! matchable is the greedy algorithm of a transversal matroid: the accepted set is a
//! maximum matchable set, and of all maximum sets the earliest in selection order.
//!
//! The walk is the greedy selection's (`Selection::walk`): partitions, priority bands,
//! lazy ordering, the end of a partition's walk once all its sessions are targeted. Per
//! run, this module decides instead of `Selection::decide`:
//!
//! 1. **Direct.** The first eligible session, in session order, that is free and not in
//!    cooldown for the run: the greedy choice. When every run finds one, the result is
//!    the greedy result.
//! 2. **Augmenting path**, only when no free session fits: a depth-first search from
//!    the run over the sessions it could take that are held by non-starved runs. Each
//!    run on the search (the new one, then each holder reached) first looks for *one
//!    move*: the first session it could take, in session order, whose holder can move
//!    straight to a free session (the holder's direct choice, as above); only when there
//!    is none does it go deeper, through the held sessions it could take, in session
//!    order. The first path found moves every holder on it one step, and the run takes
//!    the first session of the path.
//!
//! Costs are bounded as in Kuhn's algorithm: a session reached by a search that failed
//! stays dead until the next successful augmentation (the matching has not changed, so
//! no path through it exists; a direct acceptance only takes a free session, which no
//! dead session reaches, so it keeps them dead too); a run's class that failed without
//! a cooldown question answered "cooling" fails for every later run of the class until
//! then (their edges are a subset); and a partition whose sessions are all targeted
//! stops its walk. Visit marks are epochs, so forgetting them costs nothing.
//!
//! Starved runs fan out at their place in the walk, to every eligible session free at
//! that moment; those sessions are then fixed (no path moves a fan-out).
//!
//! Runs not accepted are counted when the walk is over, against the final targets:
//! recently notified when some eligible session is free or held by a later run (such a
//! session is always in cooldown for it: otherwise it would have been accepted, or the
//! later run would not be in an earliest maximum set), no-match otherwise. That is
//! behaviour step 4's wording read against the final assignment, and exactly what
//! [`why`](crate::why) reports.
//!
//! Every buffer is owned here and reused: a steady cycle allocates nothing.

use crate::selection::{NONE, RunKey, Selection, SelectionPolicy, TargetRun};
use crate::view::{RunView, SessionView};

/// A target run that never moves: a starved run's fan-out.
const FAN_OUT: u32 = u32::MAX;

/// One run on the search path: `tr` (a target run, or `NONE` for the run being
/// decided), the run's row, its class, the next candidate position to try, the
/// session the path went on through (`via`), and whether the one-move look was made.
#[derive(Debug, Clone, Copy)]
struct Frame {
    tr: u32,
    run: u32,
    class: u32,
    pos: u32,
    via: u32,
    looked: bool,
}

/// A run not accepted: counted once the walk is over. `seq` is the number of target
/// runs before it in the walk (a target run `t` is earlier exactly when `t < seq`).
#[derive(Debug, Clone, Copy)]
struct Rejected {
    idx: u32,
    class: u32,
    seq: u32,
}

/// The maximum policy's reusable buffers.
#[derive(Debug, Clone, Default)]
pub(super) struct Matching {
    /// By grouped session: the target run holding it (`NONE`: free).
    holder: Vec<u32>,
    /// By target run: its class, `FAN_OUT` for a starved run.
    tr_class: Vec<u32>,
    /// By target run (non-starved): the grouped session it holds.
    tr_session: Vec<u32>,
    /// By grouped session: the epoch a search last reached it in.
    visited: Vec<u32>,
    /// By class: the epoch a search of one of its runs failed completely in.
    class_failed: Vec<u32>,
    /// By class: `(epoch, position)`: in that epoch, every candidate before the
    /// position is dead (reached already, or a fan-out's), so scans start there.
    scan: Vec<(u32, u32)>,
    /// Successful augmentations so far this cycle, plus one.
    epoch: u32,
    stack: Vec<Frame>,
    rejected: Vec<Rejected>,
    /// By class, once the walk is over: (a candidate is free, latest holder + 1).
    summary: Vec<(bool, u32)>,
}

impl Selection {
    /// Resets the matching buffers for this cycle's sessions.
    pub(super) fn matching_start(&mut self) {
        let m = &mut self.matching;
        let available = self.g_session.len();
        m.holder.clear();
        m.holder.resize(available, NONE);
        m.visited.clear();
        m.visited.resize(available, 0);
        m.tr_class.clear();
        m.tr_session.clear();
        m.class_failed.clear();
        m.scan.clear();
        m.rejected.clear();
        m.epoch = 1;
    }

    /// Decides one run under the maximum policy (walked in selection order within its
    /// partition).
    pub(super) fn decide_maximum<R: RunView, S: SessionView>(
        &mut self,
        key: RunKey,
        runs: &[R],
        starved: bool,
        sessions: &[S],
        in_cooldown: &mut impl FnMut(&R, &S) -> bool,
    ) {
        debug_assert_eq!(self.policy, SelectionPolicy::Maximum);
        let run = &runs[key.idx as usize];
        let Some(c) = self.class_for(key, run, sessions) else {
            self.no_match.push(key.idx);
            return;
        };
        if self.matching.class_failed.len() < self.classes.len() {
            self.matching.class_failed.resize(self.classes.len(), 0);
            self.matching.scan.resize(self.classes.len(), (0, 0));
        }
        if starved {
            self.fan_out(key, c);
            return;
        }
        let (free, cooled) = self.first_free(c, run, sessions, in_cooldown);
        if let Some(g) = free {
            self.hold(key, c, g);
            return;
        }
        let failed_before = self.matching.class_failed[c as usize] == self.matching.epoch;
        if failed_before || !self.augment(key, c, cooled, runs, sessions, in_cooldown) {
            let seq = self.target_runs.len() as u32;
            self.matching.rejected.push(Rejected { idx: key.idx, class: c, seq });
        }
    }

    /// Where class `c`'s candidates start (classes' candidates are stored one after
    /// the other).
    fn class_start(&self, c: u32) -> usize {
        if c == 0 { 0 } else { self.classes[c as usize - 1].end as usize }
    }

    /// The first free candidate of class `c`, in session order, not in cooldown for
    /// `run`; and whether a free candidate was skipped as cooling.
    fn first_free<R: RunView, S: SessionView>(
        &mut self,
        c: u32,
        run: &R,
        sessions: &[S],
        in_cooldown: &mut impl FnMut(&R, &S) -> bool,
    ) -> (Option<u32>, bool) {
        let class = &mut self.classes[c as usize];
        let (end, mut cursor) = (class.end as usize, class.cursor as usize);
        while cursor < end && self.targeted[self.candidates[cursor] as usize] {
            cursor += 1;
        }
        class.cursor = cursor as u32;
        let mut cooled = false;
        for &g in &self.candidates[cursor..end] {
            if self.targeted[g as usize] {
                continue;
            }
            if !in_cooldown(run, &sessions[self.g_session[g as usize] as usize]) {
                return (Some(g), cooled);
            }
            cooled = true;
        }
        (None, cooled)
    }

    /// Run `key` (class `c`) takes the free session `g`.
    fn hold(&mut self, key: RunKey, c: u32, g: u32) {
        let t = self.target_runs.len() as u32;
        self.targeted[g as usize] = true;
        self.matching.holder[g as usize] = t;
        self.matching.tr_class.push(c);
        self.matching.tr_session.push(g);
        self.target_runs.push(TargetRun { key, start: self.target_sessions.len() as u32, len: 1 });
        self.target_sessions.push(self.g_session[g as usize]);
        self.part_left[key.part as usize] -= 1;
    }

    /// Target run `t` moves to session `g` (its old one is taken by the next run down
    /// the path, or was the one the path started from).
    fn move_to(&mut self, t: u32, g: u32) {
        self.matching.holder[g as usize] = t;
        self.matching.tr_session[t as usize] = g;
        let start = self.target_runs[t as usize].start as usize;
        self.target_sessions[start] = self.g_session[g as usize];
    }

    /// A starved run fans out to every candidate free now; they never move.
    fn fan_out(&mut self, key: RunKey, c: u32) {
        let t = self.target_runs.len() as u32;
        let class = &mut self.classes[c as usize];
        let (start, end) = (self.target_sessions.len() as u32, class.end as usize);
        for &g in &self.candidates[class.cursor as usize..end] {
            if !self.targeted[g as usize] {
                self.targeted[g as usize] = true;
                self.matching.holder[g as usize] = t;
                self.target_sessions.push(self.g_session[g as usize]);
            }
        }
        class.cursor = end as u32;
        let len = self.target_sessions.len() as u32 - start;
        if len == 0 {
            self.no_match.push(key.idx);
            return;
        }
        self.part_left[key.part as usize] -= len;
        self.matching.tr_class.push(FAN_OUT);
        self.matching.tr_session.push(NONE);
        self.target_runs.push(TargetRun { key, start, len });
    }

    /// Searches an augmenting path for run `key` of class `c` (which has no free
    /// session it could take); applies it and returns `true` when found. `cooled`: the
    /// direct look already met a free session in cooldown for it.
    fn augment<R: RunView, S: SessionView>(
        &mut self,
        key: RunKey,
        c: u32,
        mut cooled: bool,
        runs: &[R],
        sessions: &[S],
        in_cooldown: &mut impl FnMut(&R, &S) -> bool,
    ) -> bool {
        let epoch = self.matching.epoch;
        let mut stack = std::mem::take(&mut self.matching.stack);
        stack.clear();
        let pos = self.class_start(c) as u32;
        stack.push(Frame { tr: NONE, run: key.idx, class: c, pos, via: NONE, looked: false });
        let found = loop {
            let Some(top) = stack.last().copied() else { break false };
            if !top.looked {
                stack.last_mut().expect("a frame").looked = true;
                if let Some((g, h, free)) = self.one_move(top, runs, sessions, in_cooldown) {
                    stack.last_mut().expect("a frame").via = g;
                    self.apply_path(key, c, h, free, &stack);
                    break true;
                }
            }
            let (next, pos, skipped) = self.next_held(top, runs, sessions, in_cooldown);
            cooled |= skipped && stack.len() == 1;
            stack.last_mut().expect("a frame").pos = pos;
            let Some(g) = next else {
                stack.pop();
                continue;
            };
            self.matching.visited[g as usize] = epoch;
            stack.last_mut().expect("a frame").via = g;
            // The holder has no free session to move to (the one-move look saw to that):
            // go deeper.
            let h = self.matching.holder[g as usize];
            let (h_class, h_run) = (self.matching.tr_class[h as usize], self.target_runs[h as usize].key.idx);
            let pos = self.class_start(h_class) as u32;
            stack.push(Frame { tr: h, run: h_run, class: h_class, pos, via: NONE, looked: false });
        };
        if found {
            self.matching.epoch += 1;
        } else if !cooled {
            self.matching.class_failed[c as usize] = epoch;
        }
        self.matching.stack = stack;
        found
    }

    /// The one-move look of frame `f`: the first candidate of its class, in session
    /// order, held by a non-starved run not reached yet in this epoch, whose holder has
    /// a free session to move to (its first, in session order, not in cooldown for it),
    /// and not in cooldown for `f`'s run. Returns the session, its holder and the
    /// holder's free session.
    fn one_move<R: RunView, S: SessionView>(
        &mut self,
        f: Frame,
        runs: &[R],
        sessions: &[S],
        in_cooldown: &mut impl FnMut(&R, &S) -> bool,
    ) -> Option<(u32, u32, u32)> {
        let scan = match self.matching.scan[f.class as usize] {
            (epoch, pos) if epoch == self.matching.epoch => pos,
            _ => 0,
        };
        let end = self.classes[f.class as usize].end;
        for pos in f.pos.max(scan)..end {
            let g = self.candidates[pos as usize];
            let m = &self.matching;
            let h = m.holder[g as usize];
            if h == NONE || m.visited[g as usize] == m.epoch || m.tr_class[h as usize] == FAN_OUT {
                continue;
            }
            let (h_class, h_run) = (m.tr_class[h as usize], self.target_runs[h as usize].key.idx);
            let (Some(free), _) = self.first_free(h_class, &runs[h_run as usize], sessions, in_cooldown) else {
                continue;
            };
            if !in_cooldown(&runs[f.run as usize], &sessions[self.g_session[g as usize] as usize]) {
                return Some((g, h, free));
            }
        }
        None
    }

    /// The next candidate of `f`'s class, from `f.pos` in session order, that is held by
    /// a non-starved run, not reached yet in this epoch, and not in cooldown for `f`'s
    /// run. Returns it, the position after it, and whether a cooling one was skipped.
    /// Dead candidates at the start of the class are skipped once per epoch, not once
    /// per frame (long paths through one class would otherwise scan them again and
    /// again).
    fn next_held<R: RunView, S: SessionView>(
        &mut self,
        f: Frame,
        runs: &[R],
        sessions: &[S],
        in_cooldown: &mut impl FnMut(&R, &S) -> bool,
    ) -> (Option<u32>, u32, bool) {
        let c = f.class as usize;
        let class_start = self.class_start(f.class) as u32;
        let (m, end) = (&mut self.matching, self.classes[c].end);
        let scan = match m.scan[c] {
            (epoch, pos) if epoch == m.epoch => pos,
            _ => class_start,
        };
        let start = f.pos.max(scan);
        let (mut prefix, mut dead_to) = (start == scan, scan);
        let mut found = (None, end, false);
        for pos in start..end {
            let g = self.candidates[pos as usize];
            let h = m.holder[g as usize];
            if h != NONE && (m.visited[g as usize] == m.epoch || m.tr_class[h as usize] == FAN_OUT) {
                if prefix {
                    dead_to = pos + 1;
                }
                continue;
            }
            prefix = false;
            if h == NONE {
                continue;
            }
            if in_cooldown(&runs[f.run as usize], &sessions[self.g_session[g as usize] as usize]) {
                found.2 = true;
                continue;
            }
            found = (Some(g), pos + 1, found.2);
            break;
        }
        m.scan[c] = (m.epoch, dead_to);
        found
    }

    /// Applies the path on `stack`: `h` (holder of the top frame's `via`) takes the
    /// free session `free`, every run on the path takes its frame's `via`, and the new
    /// run `key` (the bottom frame) becomes a target.
    fn apply_path(&mut self, key: RunKey, c: u32, h: u32, free: u32, stack: &[Frame]) {
        self.targeted[free as usize] = true;
        self.part_left[key.part as usize] -= 1;
        self.move_to(h, free);
        for f in stack[1..].iter().rev() {
            self.move_to(f.tr, f.via);
        }
        let t = self.target_runs.len() as u32;
        let g = stack[0].via;
        self.matching.tr_class.push(c);
        self.matching.tr_session.push(g);
        self.target_runs.push(TargetRun { key, start: self.target_sessions.len() as u32, len: 1 });
        self.target_sessions.push(self.g_session[g as usize]);
        self.matching.holder[g as usize] = t;
    }

    /// Counts the runs not accepted against the final targets: recently notified when
    /// a candidate is free or held by a later run, no-match otherwise.
    pub(super) fn matching_finish(&mut self) {
        let m = &mut self.matching;
        m.summary.clear();
        let mut start = 0;
        for class in &self.classes {
            let mut summary = (false, 0);
            for &g in &self.candidates[start..class.end as usize] {
                match m.holder[g as usize] {
                    NONE => summary.0 = true,
                    t => summary.1 = summary.1.max(t + 1),
                }
            }
            m.summary.push(summary);
            start = class.end as usize;
        }
        for r in &m.rejected {
            let (free, latest) = m.summary[r.class as usize];
            if free || latest > r.seq {
                self.counts.recently_notified_runs += 1;
            } else {
                self.no_match.push(r.idx);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use std::time::{Duration, SystemTime};

    use crate::model::Priority;
    use crate::selection::{Selection, SelectionInput, SelectionPolicy};

    fn t(secs: u64) -> SystemTime {
        SystemTime::UNIX_EPOCH + Duration::from_secs(1_700_000_000 + secs)
    }

    type Run = crate::selection::test_run::TestRun;

    use crate::selection::test_run::{NoActive, TestSession as Sess};

    fn select_into(
        sel: &mut Selection,
        runs: &[Run],
        sessions: &[Sess],
        cooling: &[(&str, &str)],
        min_queued_age: Duration,
    ) {
        sel.select(
            SelectionInput { runs, active: &[] as &[NoActive], sessions, now: t(1000), min_queued_age },
            |r, s| cooling.contains(&(r.id.as_str(), s.id.as_str())),
        );
    }

    fn select(policy: SelectionPolicy, runs: &[Run], sessions: &[Sess], cooling: &[(&str, &str)]) -> Selection {
        let mut sel = Selection::with_policy(policy);
        select_into(&mut sel, runs, sessions, cooling, Duration::ZERO);
        sel
    }

    /// Sessions `s1`, `s2`, ... created one second apart (that is the session order),
    /// with these capabilities.
    fn sessions(caps: &[&[&'static str]]) -> Vec<Sess> {
        caps.iter()
            .enumerate()
            .map(|(i, c)| Sess { id: format!("s{}", i + 1), caps: c.to_vec(), created_at: t(i as u64) })
            .collect()
    }

    /// Runs `a`, `b`, ... queued one second apart (that is the selection order), needing
    /// these capabilities.
    fn runs(caps: &[&[&'static str]]) -> Vec<Run> {
        caps.iter()
            .enumerate()
            .map(|(i, c)| Run {
                id: char::from(b'a' + i as u8).to_string(),
                priority: Priority::High,
                caps: c.to_vec(),
                queued_at: Some(t(100 + i as u64)),
            })
            .collect()
    }

    #[test]
    fn an_earlier_run_moves_so_a_later_one_is_woken() {
        // a can take either session, b only s1: greedy gives s1 to a and leaves b out.
        let (r, s) = (runs(&[&[], &["x"]]), sessions(&[&["x"], &[]]));
        let greedy = select(SelectionPolicy::Greedy, &r, &s, &[]);
        assert_eq!(greedy.targets(), [(0, 0)]);
        assert_eq!(greedy.no_match(), [1]);
        let max = select(SelectionPolicy::Maximum, &r, &s, &[]);
        assert_eq!(max.targets(), [(0, 1), (1, 0)], "a moved to s2, b took s1");
        assert!(max.no_match().is_empty());
    }

    #[test]
    fn a_chain_of_moves_is_followed() {
        // a: s1 or s2; b: s2 or s3; c: s1 only. Greedy: a-s1, b-s2, c none.
        // Maximum: c takes s1, a moves to s2, b moves to s3.
        let r = runs(&[&["p"], &["q"], &["r"]]);
        let s = sessions(&[&["p", "r"], &["p", "q"], &["q"]]);
        let max = select(SelectionPolicy::Maximum, &r, &s, &[]);
        assert_eq!(max.targets(), [(0, 1), (1, 2), (2, 0)]);
        let greedy = select(SelectionPolicy::Greedy, &r, &s, &[]);
        assert_eq!(greedy.targets(), [(0, 0), (1, 1)]);
    }

    #[test]
    fn an_earlier_run_is_never_dropped_for_a_later_one() {
        // a: s1 or s2, b: s1, c: s2. Only two can be woken; the earliest pair is a, b.
        let r = runs(&[&[], &["x"], &["y"]]);
        let s = sessions(&[&["x"], &["y"]]);
        let max = select(SelectionPolicy::Maximum, &r, &s, &[]);
        assert_eq!(max.targets(), [(0, 1), (1, 0)]);
        // c's only session is held by a, an earlier run: a no-match, as `why` says.
        assert_eq!(max.no_match(), [2]);
        assert_eq!(max.counts().recently_notified_runs, 0);
    }

    #[test]
    fn a_move_into_cooldown_is_not_a_move() {
        // As the first test, but a is cooling with s2: it cannot move, b is not woken.
        let (r, s) = (runs(&[&[], &["x"]]), sessions(&[&["x"], &[]]));
        let max = select(SelectionPolicy::Maximum, &r, &s, &[("a", "s2")]);
        assert_eq!(max.targets(), [(0, 0)]);
        assert_eq!(max.no_match(), [1]);
    }

    #[test]
    fn a_run_whose_session_moved_to_a_later_run_is_recently_notified() {
        // a takes s1. b (x) cools with both its sessions: not woken. c (y, only s1):
        // a moves to s2 and c takes s1. At the end b's session s1 is held by a later
        // run, so b was not left out because earlier runs took everything: it counts
        // as recently notified (what `why` reports), not as a no-match.
        let r = runs(&[&[], &["x"], &["y"]]);
        let s = sessions(&[&["x", "y"], &["x"]]);
        let max = select(SelectionPolicy::Maximum, &r, &s, &[("b", "s2"), ("b", "s1")]);
        assert_eq!(max.targets(), [(0, 1), (2, 0)]);
        assert_eq!(max.counts().recently_notified_runs, 1);
        assert!(max.no_match().is_empty());
    }

    #[test]
    fn fan_outs_are_fixed() {
        // a, starved, fans out to both x sessions; b cannot move it and is a no-match.
        let mut r = runs(&[&["x"], &["x"]]);
        r[0].queued_at = Some(t(0));
        let s = sessions(&[&["x"], &["x"], &[]]);
        let mut max = Selection::with_policy(SelectionPolicy::Maximum);
        select_into(&mut max, &r, &s, &[], Duration::from_secs(950));
        assert_eq!(max.targets(), [(0, 0), (0, 1)]);
        assert_eq!(max.starved(), [0]);
        assert_eq!(max.no_match(), [1]);
    }

    #[test]
    fn a_failed_class_fails_its_later_runs_at_once_with_the_same_counts() {
        // b and c (both x) fail; c through the failed-class shortcut. Both no-matches.
        let r = runs(&[&["x"], &["x"], &["x"], &[]]);
        let s = sessions(&[&["x"], &[]]);
        let max = select(SelectionPolicy::Maximum, &r, &s, &[]);
        assert_eq!(max.targets(), [(0, 0), (3, 1)]);
        let mut no_match = max.no_match().to_vec();
        no_match.sort_unstable();
        assert_eq!(no_match, [1, 2]);
    }

    #[test]
    fn buffers_are_reused_cycle_after_cycle() {
        let (r, s) = (runs(&[&[], &["x"]]), sessions(&[&["x"], &[]]));
        let mut sel = Selection::with_policy(SelectionPolicy::Maximum);
        for _ in 0..3 {
            select_into(&mut sel, &r, &s, &[], Duration::ZERO);
            assert_eq!(sel.targets(), [(0, 1), (1, 0)]);
            assert!(sel.no_match().is_empty());
        }
        assert_eq!(sel.policy(), SelectionPolicy::Maximum);
    }
}
