# Helpers for the runs of tests/tools/swarm.py (sourced after lib.sh):
#   . tests/integration/lib.sh
#   . tests/integration/lib_swarm.sh
#
# Sets SW=$TW_ROOT/sw (made) and, at exit, stops by pid every twind the tool
# wrote to $SW/pids that still runs (the tool stops its nodes itself, on any
# exit; this is for the case it was killed first), then cleans up as lib.sh.
#
#   swarm_run ARGS...     runs swarm.py --bin --root $SW ARGS in the background
#                         (tracked), waits for it and prints its output
#                         indented; sets SWARM_RC (its exit status), out (its
#                         output file), acked, stops and kills (from its
#                         churn line: entries acknowledged, stops, of which by
#                         SIGKILL; empty if absent)
#   swarm_converged N DESC  PASS DESC when the tool exited 0 and said every
#                         acknowledged entry is on all N nodes with one digest
#   swarm_none_left       FAIL for each twind of the swarm still running

SW=$TW_ROOT/sw
mkdir -p "$SW"

swarm_cleanup() {
    [ -f "$SW/pids" ] || return 0
    for p in $(cat "$SW/pids"); do
        tw_alive "$p" && grep -q twind "/proc/$p/cmdline" 2>/dev/null && kill -KILL "$p" 2>/dev/null
    done
    return 0
}
trap 'swarm_cleanup; tw__cleanup' EXIT

swarm_run() {
    python3 tests/tools/swarm.py --bin "$TW_ROOT/bin" --root "$SW" "$@" >"$TW_ROOT/swarm.out" 2>&1 &
    _sp=$!
    tw_track "$_sp"
    SWARM_RC=0
    wait "$_sp" || SWARM_RC=$?
    sed 's/^/    /' "$TW_ROOT/swarm.out"
    out=$TW_ROOT/swarm.out
    acked=$(sed -n 's/.*churn: .* \([0-9]*\) entries acknowledged.*/\1/p' "$out")
    stops=$(sed -n 's/.*churn: [0-9]* s, \([0-9]*\) stops.*/\1/p' "$out")
    kills=$(sed -n 's/.*stops (\([0-9]*\) with SIGKILL).*/\1/p' "$out")
}

swarm_converged() {
    if [ "$SWARM_RC" = 0 ] && grep -q "after churn: every acknowledged entry ($acked) on all $1 nodes and one digest" "$out"; then
        pass "$2"
    else
        fail "$2 (swarm.py exit $SWARM_RC)" "$(grep -E 'lacks|digest|NOT|did not' "$out" | head -n 12)"
    fi
}

swarm_none_left() {
    for _s in $(cat "$SW/pids" 2>/dev/null); do
        tw_alive "$_s" && grep -q twind "/proc/$_s/cmdline" 2>/dev/null && fail "swarm.py left twind $_s running"
    done
    return 0
}
