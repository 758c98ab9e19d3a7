//! What a run of the suite found.

use std::fmt;

use super::{Area, Failure};

/// Why a check did not run.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Skip {
    /// It races calls across independent handles, and the backend said its handles
    /// are not independent ([`Backend::independent_handles`](super::Backend::independent_handles)).
    NoIndependentHandles,
    /// It reopens a store, and the backend cannot ([`Backend::reopen`](super::Backend::reopen)
    /// answered `None`).
    NoReopen,
}

impl fmt::Display for Skip {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Skip::NoIndependentHandles => "the backend hands out no independent handles",
            Skip::NoReopen => "the backend cannot reopen a store",
        })
    }
}

/// How one check ended.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Verdict {
    /// Every rule held.
    Passed,
    /// A rule was broken.
    Failed(Failure),
    /// The check did not run (never counted as passed).
    Skipped(Skip),
}

/// One check of a run: its name, area, the rules it covers, and how it ended.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CheckResult {
    /// The check function's name.
    pub check: &'static str,
    /// Its area.
    pub area: Area,
    /// The rules of `task-service.md` it checks.
    pub rules: &'static [&'static str],
    /// How it ended.
    pub verdict: Verdict,
}

/// Every check of a run, in the order run.
///
/// [`assert_ok`](Self::assert_ok) panics listing every failure (with its rule, what was
/// expected and what was observed) and every skipped check.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ConformanceReport {
    /// One entry per check.
    pub checks: Vec<CheckResult>,
}

impl ConformanceReport {
    /// Whether no check failed (skipped checks are listed, not failed).
    pub fn is_ok(&self) -> bool {
        self.failures().next().is_none()
    }

    /// The checks that passed.
    pub fn passed(&self) -> Vec<&'static str> {
        self.checks.iter().filter(|c| c.verdict == Verdict::Passed).map(|c| c.check).collect()
    }

    /// Every failure, in the order run.
    pub fn failures(&self) -> impl Iterator<Item = &Failure> {
        self.checks.iter().filter_map(|c| match &c.verdict {
            Verdict::Failed(f) => Some(f),
            _ => None,
        })
    }

    /// `(check, rule)` of every failure, in the order run.
    pub fn failed_pairs(&self) -> Vec<(&'static str, &'static str)> {
        self.failures().map(|f| (f.check, f.rule)).collect()
    }

    /// The skipped checks and why.
    pub fn skipped(&self) -> Vec<(&'static str, Skip)> {
        self.checks
            .iter()
            .filter_map(|c| match c.verdict {
                Verdict::Skipped(why) => Some((c.check, why)),
                _ => None,
            })
            .collect()
    }

    /// Panics, listing every failure and skipped check, unless no check failed.
    ///
    /// # Panics
    /// When a check failed.
    #[track_caller]
    pub fn assert_ok(&self) {
        assert!(self.is_ok(), "{self}");
    }

    /// Panics unless every check ran and passed (nothing skipped).
    ///
    /// # Panics
    /// When a check failed or was skipped.
    #[track_caller]
    pub fn assert_all_passed(&self) {
        assert!(self.is_ok() && self.skipped().is_empty(), "{self}");
    }

    pub(super) fn push(&mut self, result: CheckResult) {
        self.checks.push(result);
    }
}

impl fmt::Display for ConformanceReport {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let failed = self.failures().count();
        let skipped = self.skipped();
        write!(
            f,
            "conformance: {} checks, {} passed, {failed} failed, {} skipped",
            self.checks.len(),
            self.passed().len(),
            skipped.len()
        )?;
        for failure in self.failures() {
            write!(f, "\n  FAILED {failure}")?;
        }
        for (check, why) in skipped {
            write!(f, "\n  SKIPPED {check}: {why}")?;
        }
        Ok(())
    }
}
