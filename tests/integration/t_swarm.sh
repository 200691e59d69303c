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
. tests/integration/lib_swarm.sh

N=${SWARM_NODES:-30}
SEED=${SWARM_SEED:-$(od -An -N2 -tu2 /dev/urandom | tr -d ' ')}
OUTB=4
INB=6

swarm_run --nodes "$N" --seed "$SEED" \
    --minute 10 --churn 0.10 --kill9 0.34 --down 5 --churn-time 30 --publish-every 0.5 \
    --form 120 --settle 180 --conf "outbound_target = $OUTB" --conf "inbound_max = $INB"
if [ -n "$stops" ] && [ "$stops" -ge 5 ] && [ "${kills:-0}" -ge 1 ]; then
    pass "churn ran: $stops nodes stopped and started again, $kills of them with SIGKILL"
else
    fail "churn ran" "stops '$stops', SIGKILL '$kills'"
fi
[ -n "$acked" ] && [ "$acked" -ge 10 ] && pass "$acked entries published and acknowledged during churn" ||
    fail "entries acknowledged during churn" "'$acked'"
swarm_converged "$N" "after churn every node holds every acknowledged entry, and all $N report one digest"
maxdeg() { sed -n "s/.*connections per node $1[^:]*: min [0-9]*, median [0-9]*, max \([0-9]*\).*/\1/p" "$out"; }
for phase in "during churn" "at the end"; do
    m=$(maxdeg "$phase")
    if [ -n "$m" ] && [ "$m" -le $((OUTB + INB)) ]; then
        pass "connections per node $phase at most outbound_target + inbound_max ($m <= $((OUTB + INB)))"
    else
        fail "connections per node $phase bounded by $((OUTB + INB))" "max '$m'"
    fi
done
swarm_none_left
tw_done
