//! The testkit's in-memory implementations pass the whole conformance suite, driven
//! every way the suite supports: a multi-threaded tokio runtime (racers on tokio tasks
//! in parallel), a current-thread tokio runtime, and no runtime at all (racers on OS
//! threads). Only the checks that reopen a store are skipped: memory cannot.

use scheduler_testkit::conformance::{self, Area, MemoryBackend, Needs, Skip, catalogue};

fn expect_memory_report(report: &conformance::ConformanceReport) {
    report.assert_ok();
    let all: Vec<&str> = catalogue().iter().map(|c| c.check).collect();
    let reopening: Vec<&str> = catalogue().iter().filter(|c| c.needs == Needs::Reopen).map(|c| c.check).collect();
    assert_eq!(reopening.len(), 5);
    let skipped: Vec<(&str, Skip)> = reopening.iter().map(|c| (*c, Skip::NoReopen)).collect();
    assert_eq!(report.skipped(), skipped);
    let passed: Vec<&str> = all.iter().copied().filter(|c| !reopening.contains(c)).collect();
    assert_eq!(report.passed(), passed);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn memory_backend_passes_every_check_on_a_multi_threaded_runtime() {
    expect_memory_report(&conformance::run_all(&MemoryBackend).await);
}

#[tokio::test]
async fn memory_backend_passes_every_check_on_a_current_thread_runtime() {
    expect_memory_report(&conformance::run_all(&MemoryBackend).await);
}

#[test]
fn memory_backend_passes_every_check_without_a_runtime() {
    expect_memory_report(&futures::executor::block_on(conformance::run_all(&MemoryBackend)));
}

#[test]
fn areas_partition_the_suite() {
    let mut by_area = Vec::new();
    for area in Area::ALL {
        let report = futures::executor::block_on(conformance::run_area(&MemoryBackend, area));
        report.assert_ok();
        assert!(!report.checks.is_empty(), "{area:?} has checks");
        assert!(report.checks.iter().all(|c| c.area == area));
        by_area.extend(report.checks.into_iter().map(|c| c.check));
    }
    let all: Vec<&str> = catalogue().iter().map(|c| c.check).collect();
    assert_eq!(by_area, all);
    let mut unique = all.clone();
    unique.sort_unstable();
    unique.dedup();
    assert_eq!(unique.len(), all.len(), "check names are unique");
}

#[test]
fn every_rule_has_a_check_and_the_docs_list_it() {
    let docs = include_str!("../src/conformance/mod.rs");
    let mut rules: Vec<&str> = catalogue().iter().flat_map(|c| c.rules.iter().copied()).collect();
    rules.sort_unstable();
    rules.dedup();
    for rule in &rules {
        assert!(docs.contains(&format!("`{rule}`")), "the rules table lists {rule}");
    }
    for check in catalogue() {
        assert!(docs.contains(&format!("(checks::{})", check.check)), "the rules table links {}", check.check);
    }
}
