//! The conformance suite bites: a tiny table-based database (`conformance_broken/db.rs`)
//! implements the whole contract the way a SQL backend would, and each variant below
//! breaks it in one way a backend author plausibly would. Every variant fails exactly
//! the `(check, rule)` pairs listed for it, and no other check; the correct database
//! passes everything, durability checks included (it can reopen).
//!
//! Atomicity mistakes (check-then-act across an `.await`) are only visible when calls
//! interleave, so they are caught only over independent handles: the same database
//! handed out as one serialised connection passes those checks, which is why the suite
//! skips them unless the backend says its handles are independent.

#[path = "conformance_broken/db.rs"]
mod db;

use std::collections::BTreeSet;

use db::{Defect, TinyBackend};
use scheduler_testkit::conformance::{self, Area, Fixture, Skip, checks};

/// One broken backend: its defect, the mistake in a backend author's words, and the
/// `(check, rule)` pairs it must fail.
struct Variant {
    defect: Defect,
    mistake: &'static str,
    fails: &'static [(&'static str, &'static str)],
}

macro_rules! variants {
    ($($defect:ident: $mistake:literal => [$(($check:literal, $rule:literal)),+ $(,)?]),+ $(,)?) => {
        &[$(Variant { defect: Defect::$defect, mistake: $mistake, fails: &[$(($check, $rule)),+] }),+]
    };
}

const VARIANTS: &[Variant] = variants![
    QueuedAtWholeSeconds: "queued-at stored as INTEGER unix seconds" => [("times_keep_milliseconds", "time.millis")],
    DuplicateOverwritesTask: "enqueue upserts the task row before inserting the run, outside a transaction" => [("duplicate_enqueue_changes_nothing", "enqueue.duplicate")],
    DuplicateReplacesRun: "enqueue uses INSERT OR REPLACE for the run" => [("duplicate_enqueue_changes_nothing", "enqueue.duplicate")],
    TaskCopiedOntoRun: "task columns denormalised onto the run row at enqueue and never updated" => [("task_redescription_reaches_every_run", "enqueue.task_shared")],
    BlankIdsStored: "no CHECK constraint on blank run and task ids" => [("enqueue_refuses_empty_ids", "enqueue.invalid_input")],
    IdsNotTrimmed: "ids stored and compared as given, untrimmed" => [("ids_are_trimmed", "ids.trimmed")],
    TieBreakByIdDesc: "claim ORDER BY priority, queued_at, id DESC" => [("claim_takes_the_best_run", "claim.order")],
    UnknownPriorityLowest: "priority CASE has ELSE -1: unknown ranks below low" => [("claim_ranks_unknown_priority_as_medium", "claim.unknown_priority")],
    BlockedTaskClaimable: "claim filter lists draft and canceled but forgets blocked" => [("claim_skips_unclaimable_runs", "claim.claimable")],
    TaskStatusCaseSensitive: "task status compared case-sensitively ('Draft' in the query, 'draft' in the rows)" => [("claim_skips_unclaimable_runs", "claim.claimable")],
    UnknownScopeAsGlobal: "scope CASE treats anything but 'workspace' as global" => [("claim_matches_scope", "claim.scope")],
    GlobalTaskAnyWorkspace: "global tasks match sessions of any workspace" => [("claim_matches_scope", "claim.scope")],
    ChannelIgnored: "the claim query has no channel condition" => [("claim_matches_channel", "claim.channel")],
    OwnerRefNotTrimmed: "owner ref compared untrimmed" => [("claim_matches_owner", "claim.owner")],
    UnknownOwnerMatchesAnyone: "owner CASE falls through to 'anyone' for unknown kinds" => [("claim_matches_owner", "claim.owner")],
    CapabilitiesAnyOf: "capabilities matched with && (overlap) instead of <@ (contained)" => [("claim_matches_capabilities", "claim.capabilities")],
    BlankCapabilitiesRequired: "blank capability names stored and required" => [("claim_matches_capabilities", "claim.capabilities")],
    PauseCachedAtOpen: "the pause flag is read once when the connection opens" => [("claims_refused_while_paused", "claim.paused"), ("handles_share_one_store", "durable.shared")],
    BlankSessionClaims: "claim does not validate the session id" => [("claim_refuses_invalid_input", "claim.invalid_input")],
    BusyOnlyRunning: "the busy check only looks at 'running'" => [("busy_session_cannot_claim", "busy.one_lease"), ("one_session_wins_one_claim_at_a_time", "busy.atomic")],
    ExpiredNotBusy: "the busy check adds AND lease_until > now: an expired, unswept lease is not counted" => [("expired_unswept_lease_keeps_session_busy", "busy.expired_unswept")],
    ExpiredClaimable: "claim also takes runs whose lease ended, without waiting for a sweep" => [("expired_unswept_lease_is_not_claimable", "claim.queued_only")],
    FinishKeepsSessionBusy: "complete and fail forget to delete the session's lease row" => [("ending_a_lease_frees_the_session", "busy.freed")],
    HeartbeatIgnoresToken: "heartbeat's UPDATE checks the status but not the token" => [("wrong_token_is_refused", "token.fenced"), ("stale_token_is_refused", "token.stale")],
    TokenCaseInsensitive: "token compared with COLLATE NOCASE" => [("token_is_compared_exactly", "token.exact")],
    TokenTrimmed: "token compared after trim()" => [("token_is_compared_exactly", "token.exact")],
    TokenPrefix: "token compared with LIKE ? || '%'" => [("token_is_compared_exactly", "token.exact")],
    TokenTruncated8: "token column VARCHAR(8): stored truncated, compared with the presented token's first 8 characters" => [("token_is_compared_exactly", "token.exact")],
    TokenFromCounter: "token = run id and a claim counter" => [("tokens_are_fresh_and_long", "token.fresh")],
    TokenReusedAcrossClaims: "token generated once at enqueue and reused by every claim" => [("tokens_are_fresh_and_long", "token.fresh"), ("stale_token_is_refused", "token.stale")],
    ErrorQuotesPresentedToken: "the refusal message quotes the presented token" => [("tokens_stay_secret", "token.secret")],
    ErrorQuotesStoredToken: "the refusal message says which token was expected" => [("tokens_stay_secret", "token.secret")],
    ExpiredLeaseRefusesToken: "fenced statements add AND lease_until > now" => [("expired_unswept_lease_answers_to_its_token", "token.expired_unswept")],
    HeartbeatWritesBeforeCheck: "heartbeat updates lease_until, then checks the token, outside a transaction" => [("wrong_token_is_refused", "token.changes_nothing"), ("stale_token_is_refused", "token.stale")],
    HeartbeatFromOldEnd: "heartbeat sets lease_until = lease_until + lease" => [("heartbeat_extends_the_lease", "lifecycle.heartbeat")],
    CompleteOnlyFromRunning: "complete's UPDATE has WHERE status = 'running'" => [("complete_ends_the_run", "lifecycle.complete")],
    FailOnlyFromRunning: "fail's UPDATE has WHERE status = 'running'" => [("fail_ends_the_run", "lifecycle.fail")],
    ReleaseResetsQueuedAt: "release sets queued_at = now" => [("release_requeues_keeping_queued_at", "lifecycle.release")],
    ReleaseKeepsToken: "release forgets to clear the token column" => [("stale_token_is_refused", "token.stale")],
    RecoveryStrictLess: "the sweep selects lease_until < now instead of <=" => [("sweep_recovers_ended_leases", "recovery.expired")],
    RecoveryResetsQueuedAt: "recovery sets queued_at = now" => [("recovery_requeues_keeping_queued_at", "recovery.requeues")],
    RecoveryKeepsToken: "recovery forgets to clear the token" => [("recovery_clears_the_token", "recovery.clears_token"), ("heartbeat_racing_a_sweep_wins_or_loses_cleanly", "recovery.atomic_heartbeat")],
    RecoveryIgnoresLimit: "the sweep has no LIMIT" => [("recovery_takes_oldest_first_within_limit", "recovery.order_limit")],
    RecoveryOrderById: "the sweep orders by run id, not lease end" => [("recovery_takes_oldest_first_within_limit", "recovery.order_limit")],
    RecoveryPreviousStatusAfterUpdate: "the sweep reports RETURNING status, read after the update" => [("recovery_reports_details", "recovery.details")],
    RecoveryActorDefault: "the recovery's actor column keeps its default 'system'" => [("recovery_reports_details", "recovery.details")],
    RecoveryNotAtomic: "recovery reads the expired rows, awaits, then updates them without re-checking" => [("concurrent_sweeps_recover_each_run_once", "recovery.atomic_sweeps"), ("heartbeat_racing_a_sweep_wins_or_loses_cleanly", "recovery.atomic_heartbeat")],
    ClaimNotAtomic: "claim selects the best run, awaits, then updates it without re-checking its status" => [("claim_is_atomic", "claim.atomic")],
    BusyCheckNotAtomic: "claim checks the session is idle, awaits, then claims" => [("one_session_wins_one_claim_at_a_time", "busy.atomic")],
    PendingOnlyClaimable: "the pending read reuses the claim's WHERE clause" => [("pending_lists_every_queued_run", "reads.pending")],
    PendingPageLimit1000: "the pending read is LIMIT 1000" => [("pending_has_no_page_limit", "reads.pending_unbounded")],
    ActiveOnlyRunning: "the active read selects status = 'running'" => [("active_lists_every_live_lease", "reads.active")],
    StatusNoneForFinished: "run_status reads the live-runs view, so finished runs are not found" => [("status_answers_for_every_run", "reads.status")],
    BatchSortedById: "the batch status read answers in id order (WHERE id IN ... ORDER BY id)" => [("batch_status_keeps_the_order_asked", "reads.status_batch")],
    BatchDropsUnknown: "the batch status read answers only the rows found" => [("batch_status_keeps_the_order_asked", "reads.status_batch")],
    NeedsAttentionFromClaimed: "needs-attention allowed from claimed (WHERE status IN ('queued', 'claimed'))" => [("needs_attention_only_from_queued", "needs_attention.only_queued")],
    NeedsAttentionTwice: "marking a needs_attention run again succeeds" => [("needs_attention_only_from_queued", "needs_attention.only_queued")],
    NeedsAttentionUnknownIsInvalid: "0 rows updated answers invalid transition, also for unknown runs" => [("needs_attention_from_queued", "needs_attention.from_queued")],
    BudgetListPaginated100: "the budget list is paginated at 100 rows" => [("budget_list_has_no_page_limit", "budgets.list_unbounded")],
    BudgetPageAfterInclusive: "the page query says run_id >= $after" => [("budget_pages", "budgets.pages")],
    BudgetPageShortByOne: "the page query's LIMIT is one less than asked" => [("budget_pages", "budgets.pages")],
    BudgetPageClearsOut: "list_page replaces what the caller's buffer held" => [("budget_pages", "budgets.pages")],
    BudgetUpsertCoalesce: "budget upsert does ON CONFLICT SET spawn_requested_at = COALESCE(new, old)" => [("budget_round_trip", "budgets.round_trip")],
    BudgetClearMissingErrors: "clearing a missing budget fails on 0 rows affected" => [("budget_clear", "budgets.clear")],
    BudgetLoadManySorted: "load_many answers in id order" => [("budget_batches", "budgets.batches")],
    PauseAgainKeepsFirst: "pause is INSERT ... ON CONFLICT DO NOTHING" => [("pausing_again_replaces", "pause.replace")],
    ResumeNoop: "resume deletes by a key the pause row does not have" => [("resume_turns_it_off", "pause.resume")],
    DuplicateSessionOverwrites: "register is INSERT OR REPLACE" => [("register_lists_the_session", "sessions.register")],
    SetCapabilitiesAppends: "set_capabilities inserts into the join table without deleting the old rows" => [("updates_change_one_field", "sessions.update")],
    UpdateUnknownSessionOk: "session updates ignore 0 rows affected" => [("updates_change_one_field", "sessions.update")],
    RemoveUnknownOk: "remove ignores 0 rows affected" => [("remove_forgets_the_session", "sessions.remove")],
    MarkStaleLessOrEqual: "mark_stale uses last_seen <= ? instead of <" => [("mark_stale_stops_unseen_sessions", "sessions.mark_stale")],
    TouchNotRecorded: "touch is a no-op" => [("mark_stale_stops_unseen_sessions", "sessions.mark_stale")],
    TokensOnlyInMemory: "tokens kept only in a process-local map, not in the table" => [("leases_survive_a_reopen", "durable.leases")],
    BudgetsNotDurable: "budgets in a TEMP table" => [("budgets_survive_a_reopen", "durable.budgets")],
    PauseNotDurable: "the pause flag is a process-global variable" => [("pause_survives_a_reopen", "durable.pause")],
    SessionsNotDurable: "sessions in an UNLOGGED table emptied on restart" => [("sessions_survive_a_reopen", "durable.sessions")],
    LeaseEndsOnlyInMemory: "lease ends kept in memory; after a restart leases have none" => [("leases_survive_a_reopen", "durable.leases"), ("expired_lease_recovered_after_reopen", "durable.recovery")],
];

fn independent(defect: Defect) -> TinyBackend {
    TinyBackend { defect, independent: true }
}

#[test]
fn there_are_at_least_45_distinct_variants() {
    let defects: BTreeSet<String> = VARIANTS.iter().map(|v| format!("{:?}", v.defect)).collect();
    assert_eq!(defects.len(), VARIANTS.len(), "each defect once");
    assert!(VARIANTS.len() >= 45, "{} variants", VARIANTS.len());
    assert!(VARIANTS.iter().all(|v| !v.mistake.is_empty() && !v.fails.is_empty()));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_correct_database_passes_every_check_durability_included() {
    let report = conformance::run_all(&independent(Defect::None)).await;
    report.assert_all_passed();
    assert_eq!(report.checks.len(), conformance::catalogue().len());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_variant_fails_exactly_the_checks_of_the_rules_it_breaks() {
    let mut wrong = Vec::new();
    for v in VARIANTS {
        let report = conformance::run_all(&independent(v.defect)).await;
        let got: BTreeSet<(&str, &str)> = report.failed_pairs().into_iter().collect();
        let want: BTreeSet<(&str, &str)> = v.fails.iter().copied().collect();
        if got != want || !report.skipped().is_empty() {
            wrong.push(format!("{:?} ({}): expected {want:?}\n{report}", v.defect, v.mistake));
        }
    }
    assert!(wrong.is_empty(), "{} variants failed other checks than expected:\n{}", wrong.len(), wrong.join("\n\n"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn failures_name_the_rule_and_what_was_expected_and_observed_in_relative_time() {
    let report = conformance::run_area(&independent(Defect::ReleaseResetsQueuedAt), Area::Lifecycle).await;
    let failure = report.failures().next().expect("a failure");
    assert_eq!((failure.check, failure.rule), ("release_requeues_keeping_queued_at", "lifecycle.release"));
    assert_eq!(
        failure.expected,
        "Some(RunRecord { status: Queued, session_id: None, lease_until: None, queued_at: Some(T0+0s) })"
    );
    assert_eq!(
        failure.observed,
        "Some(RunRecord { status: Queued, session_id: None, lease_until: None, queued_at: Some(T0+20s) })"
    );
    let text = report.to_string();
    assert!(text.contains("FAILED release_requeues_keeping_queued_at [lifecycle.release]: record of run-b"), "{text}");
    assert!(!text.contains("SystemTime"), "{text}");
}

/// The atomicity point, both sides: a check-then-act claim is correct when one
/// serialised connection runs every call, so the race check passes there (and
/// `run_all` skips it rather than count it as passed); over independent connections the
/// same check catches it.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn non_atomic_variants_are_caught_only_over_independent_handles() {
    for (defect, check) in [
        (Defect::ClaimNotAtomic, "claim_is_atomic"),
        (Defect::BusyCheckNotAtomic, "one_session_wins_one_claim_at_a_time"),
        (Defect::RecoveryNotAtomic, "concurrent_sweeps_recover_each_run_once"),
    ] {
        let serialised = TinyBackend { defect, independent: false };
        let direct = match check {
            "claim_is_atomic" => checks::claim_is_atomic(Fixture::new(&serialised).await).await,
            "one_session_wins_one_claim_at_a_time" => {
                checks::one_session_wins_one_claim_at_a_time(Fixture::new(&serialised).await).await
            }
            _ => checks::concurrent_sweeps_recover_each_run_once(Fixture::new(&serialised).await).await,
        };
        assert_eq!(direct, Ok(()), "{defect:?} over one serialised connection passes {check}: it proves nothing");
        let report = conformance::run_all(&serialised).await;
        report.assert_ok();
        assert!(report.skipped().contains(&(check, Skip::NoIndependentHandles)), "{report}");

        let report = conformance::run_all(&independent(defect)).await;
        assert!(
            report.failed_pairs().iter().any(|(c, _)| *c == check),
            "{defect:?} over independent handles:\n{report}"
        );
    }
}

#[test]
fn the_suite_runs_without_a_runtime_too() {
    let report =
        futures::executor::block_on(conformance::run_area(&independent(Defect::ClaimNotAtomic), Area::Concurrency));
    assert_eq!(report.failed_pairs(), [("claim_is_atomic", "claim.atomic")]);
}
