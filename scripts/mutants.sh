#!/usr/bin/env bash
# Mutation testing (cargo-mutants) of the scheduler's decision logic and of the testkit's
# in-memory task service. Too slow for CI: run it by hand before and after changing the
# selection, the ladder or the service. See MUTATION.md for what it reports and how to
# read it.
#
#   scripts/mutants.sh [--quick] [GROUP...] [-- EXTRA_CARGO_MUTANTS_ARGS...]
#
# GROUP is one of: selection ladder cooldown eligibility ordering scheduler settings model
# service conformance (default: every group but conformance). Each group's results land in
# target/mutants/GROUP/mutants.out/ (missed.txt lists the survivors).
#
# --quick runs every mutant against the tests closest to its file first, then runs the
# survivors of that pass again against the whole test package (cargo-mutants --iterate):
# the same verdicts, several times faster than the whole package for every mutant.
#
# Environment: MUTANTS_JOBS (default 1), MUTANTS_TIMEOUT (seconds per test run, default
# 300), MUTANTS_OUT (default target/mutants).
set -euo pipefail
cd "$(dirname "$0")/.."

quick=0
groups=()
while [ $# -gt 0 ]; do
    case "$1" in
        --quick) quick=1 ;;
        --) shift; break ;;
        *) groups+=("$1") ;;
    esac
    shift
done
extra=("$@")
[ ${#groups[@]} -gt 0 ] || groups=(selection ladder cooldown eligibility ordering scheduler settings model service)

jobs=${MUTANTS_JOBS:-1}
timeout=${MUTANTS_TIMEOUT:-300}
out=${MUTANTS_OUT:-target/mutants}

for group in "${groups[@]}"; do
    # files: the files mutated; package: the test package that must kill them; near: the
    # test targets of that package closest to the files (the --quick first pass).
    case "$group" in
        selection)
            files=(scheduler-core/src/selection.rs 'scheduler-core/src/selection/*.rs')
            package=scheduler-core near=(--lib --test=selection_equivalence --test=selection_matching) ;;
        ladder)
            files=(scheduler-core/src/ladder.rs) package=scheduler-core
            near=(--lib --test=cycle_ladder --test=cycle_starved --test=settings_normalisation) ;;
        cooldown)
            files=(scheduler-core/src/cooldown.rs) package=scheduler-core near=(--lib --test=cycle_cooldown) ;;
        eligibility)
            files=(scheduler-core/src/eligibility.rs) package=scheduler-core near=(--lib --test=cycle_eligibility) ;;
        ordering)
            files=(scheduler-core/src/ordering.rs) package=scheduler-core near=(--lib --test=cycle_ordering) ;;
        scheduler)
            files=(scheduler-core/src/scheduler.rs) package=scheduler-core
            near=(--lib --test=cycle_dispatch --test=cycle_ladder --test=cycle_cooldown --test=cycle_starved
                --test=cycle_budget_keys --test=cycle_sweep_snapshots_pause --test=why_not_woken) ;;
        settings)
            files=(scheduler-core/src/settings.rs) package=scheduler-core near=(--lib --test=settings_normalisation) ;;
        model)
            files=(scheduler-core/src/model.rs) package=scheduler-core near=(--lib --test=cycle_eligibility) ;;
        service)
            files=(scheduler-testkit/src/service/mod.rs) package=scheduler-testkit
            near=(--lib --test=service --test=service_ids --test=service_reads --test=conformance_memory) ;;
        conformance)
            files=('scheduler-testkit/src/conformance/*.rs') package=scheduler-testkit
            near=(--lib --test=conformance_memory --test=conformance_broken) ;;
        *) echo "unknown group: $group" >&2; exit 2 ;;
    esac
    args=(--test-package "$package" -j "$jobs" --timeout "$timeout" --build-timeout 900 -o "$out/$group")
    for f in "${files[@]}"; do args+=(-f "$f"); done
    echo "== $group: ${files[*]}"
    mkdir -p "$out/$group" # cargo-mutants creates mutants.out/ but not its parents
    if [ "$quick" = 1 ]; then
        cargs=()
        for a in "${near[@]}"; do cargs+=(-C "$a"); done
        nice -n 19 cargo mutants "${args[@]}" "${cargs[@]}" "${extra[@]}" || true
        nice -n 19 cargo mutants "${args[@]}" --iterate "${extra[@]}" || true
    else
        nice -n 19 cargo mutants "${args[@]}" "${extra[@]}" || true
    fi
    echo "== $group survivors:"
    cat "$out/$group/mutants.out/missed.txt" "$out/$group/mutants.out/timeout.txt" 2>/dev/null || true
done
