#!/usr/bin/env bash
# Long runs of the differential test (portdoctor's firewall evaluator against the Linux
# kernel, in a network-namespace lab): RUNS runs of CASES cases each, every run with a fresh
# random base seed, printing each run's summary line and where to find its full log.
# A failing run's log holds the disagreeing scenarios (shrunk), ready for regressions.rs.
#
# usage (root): bench/differential.sh [CASES] [RUNS] [--keep-ties]
set -euo pipefail
cd "$(dirname "$0")/.."
cases=${1:-10000}
runs=${2:-3}
ties=
if [ "${3:-}" = "--keep-ties" ]; then ties=keep; fi
cargo test -q -p portdoctor-firewall --test differential --no-run
logdir=$(mktemp -d /tmp/pd-differential.XXXXXX)
fail=0
for i in $(seq 1 "$runs"); do
    log="$logdir/run$i.log"
    if PORTDOCTOR_DIFF_SEED=random PORTDOCTOR_DIFF_CASES="$cases" PORTDOCTOR_DIFF_TIES="$ties" \
        cargo test -q -p portdoctor-firewall --test differential random_rulesets >"$log" 2>&1; then
        status=ok
    else
        status=FAILED
        fail=1
    fi
    grep -E '^differential:|^  unknown|elapsed=' "$log" | sed 's/^/  /'
    echo "run $i: $status ($log)"
done
exit $fail
