//! The testkit's in-memory implementations pass the whole conformance suite, driven
//! every way the suite supports: a multi-threaded tokio runtime (claims race on tokio
//! tasks in parallel), a current-thread tokio runtime, and no runtime at all (claims
//! race on OS threads).

use scheduler_testkit::conformance::{self, MemoryBackend};

/// Every check of the suite, in the order `run_all` runs them.
const ALL_CHECKS: [&str; 23] = [
    "enqueue_and_read",
    "claim_order",
    "claim_eligibility",
    "one_lease_per_session",
    "claims_refused_while_paused",
    "concurrent_claims_have_one_winner",
    "wrong_token_is_refused",
    "stale_token_is_refused",
    "lease_lifecycle",
    "heartbeat_extends_lease",
    "recovery_order_and_limit",
    "recovering_twice",
    "needs_attention_transition",
    "pause_round_trip",
    "budget_round_trip",
    "budget_clear",
    "budget_list",
    "budget_batches",
    "wake_leaves_claim_to_service",
    "expired_lease_recovered_next_cycle",
    "dead_worker_recovered_before_replacement_woken",
    "no_eligible_session_changes_nothing",
    "restart_resumes_ladder",
];

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn memory_backend_passes_every_check_on_a_multi_threaded_runtime() {
    let report = conformance::run_all(&MemoryBackend).await;
    report.assert_ok();
    assert_eq!(report.passed, ALL_CHECKS);
}

#[tokio::test]
async fn memory_backend_passes_every_check_on_a_current_thread_runtime() {
    let report = conformance::run_all(&MemoryBackend).await;
    report.assert_ok();
    assert_eq!(report.passed.len(), ALL_CHECKS.len());
}

#[test]
fn memory_backend_passes_every_check_without_a_runtime() {
    let report = futures::executor::block_on(conformance::run_all(&MemoryBackend));
    report.assert_ok();
    assert_eq!(report.passed, ALL_CHECKS);
}

#[test]
fn groups_partition_the_suite() {
    let backend = MemoryBackend;
    let (tasks, stores, scenarios) = futures::executor::block_on(async {
        (
            conformance::run_task_service(&backend).await,
            conformance::run_stores(&backend).await,
            conformance::run_scenarios(&backend).await,
        )
    });
    assert_eq!((tasks.passed.len(), stores.passed.len(), scenarios.passed.len()), (13, 5, 5));
    let mut all: Vec<&str> = tasks.passed.into_iter().chain(stores.passed).chain(scenarios.passed).collect();
    assert_eq!(all, ALL_CHECKS);
    all.sort_unstable();
    all.dedup();
    assert_eq!(all.len(), ALL_CHECKS.len(), "check names are unique");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn single_checks_run_on_instances_built_by_hand() {
    use scheduler_testkit::conformance::{scenarios, stores, task_service};
    use scheduler_testkit::service::MemoryTaskService;
    use scheduler_testkit::stores::{MemoryPauseStore, MemoryStarvationStore};

    let pause = MemoryPauseStore::new();
    let service = MemoryTaskService::with_pause(pause.clone());
    task_service::claims_refused_while_paused(&service, &pause).await.unwrap();
    task_service::concurrent_claims_have_one_winner(&MemoryTaskService::new()).await.unwrap();
    stores::pause_round_trip(&MemoryPauseStore::new()).await.unwrap();
    stores::budget_batches(&MemoryStarvationStore::new()).await.unwrap();
    scenarios::restart_resumes_ladder(&MemoryTaskService::new(), &MemoryStarvationStore::new()).await.unwrap();
}

#[test]
fn checks_want_fresh_instances() {
    // A service that already holds runs is not what the checks expect; the failure
    // says which rule it tripped instead of passing by accident.
    use scheduler_testkit::conformance::task_service;
    use scheduler_testkit::service::MemoryTaskService;

    let service = MemoryTaskService::new();
    futures::executor::block_on(task_service::claim_order(&service)).unwrap();
    let failure = futures::executor::block_on(task_service::claim_order(&service)).unwrap_err();
    assert_eq!((failure.check, failure.rule), ("claim_order", "claim.order"));
    assert!(failure.to_string().starts_with("claim_order: rule `claim.order` broken: "), "{failure}");
}
