#!/bin/sh
# Many-node benchmark: prints figures, asserts nothing (the exit status says
# only whether every node converged).
#
# NODES (200) twind processes on loopback under churn (tests/tools/swarm.py):
# one root vouching for every other key, each node told one seed address and
# learning the others from peer records, outbound_target = OUTBOUND (4),
# inbound_max = INBOUND (6).  For CHURN_TIME seconds (300), 10 % of the
# nodes are stopped per MINUTE seconds (60), a third of them with SIGKILL,
# and started again within DOWN seconds (10), while an entry is published
# every PUBLISH_EVERY seconds (2) at a random live node.  Prints the time
# for an entry to reach every live node (median, p99), copies received and
# bytes per entry per node, connections and dials per node, CPU and VmHWM
# per node, and whether every node converged after churn.
#
# First, for each N of FORM_SIZES ("30 100 200"; empty: none), a network of N
# nodes is formed alone (swarm.py --form-only) and the dials per node it
# took are printed (median, p99): "dials per node while forming".
#
#   sh contrib/bench-swarm.sh [BUILD_DIR]      (make bench-swarm)
B=${1:-${B:-build}}
export B
NODES=${NODES:-200}
SEED=${SEED:-$(od -An -N2 -tu2 /dev/urandom | tr -d ' ')}
. tests/integration/lib.sh
. tests/integration/lib_swarm.sh
echo "== machine: $(nproc) cores, load $(cut -d' ' -f1-3 /proc/loadavg) =="
for n in ${FORM_SIZES-30 100 200}; do
    rm -rf "$SW"; mkdir -p "$SW"
    python3 tests/tools/swarm.py --bin "$TW_ROOT/bin" --root "$SW" --nodes "$n" --seed "$SEED" --form-only \
        --form "${FORM:-300}" --conf "outbound_target = ${OUTBOUND:-4}" --conf "inbound_max = ${INBOUND:-6}" \
        >"$TW_ROOT/form-$n.out" 2>&1 &
    SP=$!
    tw_track "$SP"
    wait "$SP" || echo "   (forming $n nodes: swarm.py exit $?)"
    swarm_cleanup
    sed -n 's/.*FORM_DIALS nodes=\([0-9]*\) median=\([0-9]*\) p99=\([0-9]*\).*/== dials per node while forming \1 nodes: median \2, p99 \3 ==/p; /formed in\|not one digest/p' "$TW_ROOT/form-$n.out"
done
rm -rf "$SW"; mkdir -p "$SW"
python3 tests/tools/swarm.py --bin "$TW_ROOT/bin" --root "$SW" --nodes "$NODES" --seed "$SEED" \
    --minute "${MINUTE:-60}" --churn 0.10 --kill9 0.34 --down "${DOWN:-10}" --churn-time "${CHURN_TIME:-300}" \
    --publish-every "${PUBLISH_EVERY:-2}" --form "${FORM:-300}" --settle "${SETTLE:-300}" \
    --conf "outbound_target = ${OUTBOUND:-4}" --conf "inbound_max = ${INBOUND:-6}" &
SP=$!
tw_track "$SP"
rc=0
wait "$SP" || rc=$?
[ "$rc" = 0 ] && echo "== converged ==" || echo "== NOT converged (swarm.py exit $rc) =="
exit "$rc"
