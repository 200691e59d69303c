#!/bin/sh
# Thirty nodes under churn (tests/tools/swarm.py): one root vouching for
# every other key, each node told one seed address and learning the rest
# from peer records (learn_loopback), outbound_target = 4 and
# inbound_max = 6.  For 30 s, 10 % of the nodes are stopped every 10 s (nine
# stops, a third of them with SIGKILL) and started again within 5 s, while an
# entry is published every half second at a random live node.  Then every node must hold
# every acknowledged entry and all must report one digest; and no node may
# have had more connections than outbound_target + inbound_max.  No time is
# asserted: the figures are printed.  SWARM_NODES, SWARM_SEED override.
. tests/integration/lib.sh

N=${SWARM_NODES:-30}
SEED=${SWARM_SEED:-$(od -An -N2 -tu2 /dev/urandom | tr -d ' ')}
SW=$TW_ROOT/sw
mkdir -p "$SW"
OUTB=4
INB=6

# The tool stops its nodes itself, on any exit; should it be killed first,
# the pids it wrote are stopped here, by pid.
swarm_cleanup() {
    [ -f "$SW/pids" ] || return 0
    for p in $(cat "$SW/pids"); do
        tw_alive "$p" && grep -q twind "/proc/$p/cmdline" 2>/dev/null && kill -KILL "$p" 2>/dev/null
    done
    return 0
}
trap 'swarm_cleanup; tw__cleanup' EXIT

python3 tests/tools/swarm.py --bin "$TW_ROOT/bin" --root "$SW" --nodes "$N" --seed "$SEED" \
    --minute 10 --churn 0.10 --kill9 0.34 --down 5 --churn-time 30 --publish-every 0.5 \
    --form 120 --settle 180 --conf "outbound_target = $OUTB" --conf "inbound_max = $INB" \
    >"$TW_ROOT/swarm.out" 2>&1 &
SP=$!
tw_track "$SP"
rc=0
wait "$SP" || rc=$?
sed 's/^/    /' "$TW_ROOT/swarm.out"
out=$TW_ROOT/swarm.out

acked=$(sed -n 's/.*churn: .* \([0-9]*\) entries acknowledged.*/\1/p' "$out")
stops=$(sed -n 's/.*churn: [0-9]* s, \([0-9]*\) stops.*/\1/p' "$out")
kills=$(sed -n 's/.*stops (\([0-9]*\) with SIGKILL).*/\1/p' "$out")
if [ -n "$stops" ] && [ "$stops" -ge 5 ] && [ "${kills:-0}" -ge 1 ]; then
    pass "churn ran: $stops nodes stopped and started again, $kills of them with SIGKILL"
else
    fail "churn ran" "stops '$stops', SIGKILL '$kills'"
fi
[ -n "$acked" ] && [ "$acked" -ge 10 ] && pass "$acked entries published and acknowledged during churn" ||
    fail "entries acknowledged during churn" "'$acked'"
if [ "$rc" = 0 ] && grep -q "after churn: every acknowledged entry ($acked) on all $N nodes and one digest" "$out"; then
    pass "after churn every node holds every acknowledged entry, and all $N report one digest"
else
    fail "convergence after churn (swarm.py exit $rc)" "$(grep -E 'lacks|digest|NOT|did not' "$out" | head -n 12)"
fi
maxdeg() { sed -n "s/.*connections per node $1[^:]*: min [0-9]*, median [0-9]*, max \([0-9]*\).*/\1/p" "$out"; }
for phase in "during churn" "at the end"; do
    m=$(maxdeg "$phase")
    if [ -n "$m" ] && [ "$m" -le $((OUTB + INB)) ]; then
        pass "connections per node $phase at most outbound_target + inbound_max ($m <= $((OUTB + INB)))"
    else
        fail "connections per node $phase bounded by $((OUTB + INB))" "max '$m'"
    fi
done
for s in $(cat "$SW/pids" 2>/dev/null); do
    tw_alive "$s" && grep -q twind "/proc/$s/cmdline" 2>/dev/null && fail "swarm.py left twind $s running"
done
tw_done
