#!/bin/sh
# TW_INGEST_JOBS_MAX (256) at its edge, through a real daemon.  A peer
# floods a node with N entries, each in an ENTRIES message of its own and
# without pausing, faster than two cores verify them: every message is one
# verification job.  The node must stop reading from its peers once more
# than 256 jobs wait (said in its log with the reason, counted in
# `twin status`), go on answering its control socket meanwhile, read again
# at 128, and lose nothing: every entry ends stored, and the peer is neither
# closed nor banned.  The exact thresholds (256 read on, 257 stops, 129
# still stopped, 128 reads again) are checked by tests/unit/test_ingest.c
# (tw_net_ingest_gate); here, that the daemon acts on them.  Bundle imports
# and the control socket's writes are not verification jobs of the peers'
# pipeline: an import made while reading is stopped is stored at once.
#
# What it cannot tell: whether the node reached 257 jobs depends on the
# flood outrunning verification (one read of 64 KiB brings about 250 of
# these messages, verified at about 40 us an entry), so the peak is asserted
# and printed rather than assumed; where the flood did not outrun it, the
# test fails and says so.
. tests/integration/lib.sh

N=${INGEST_JOBS_ENTRIES:-3000}
F=$TW_ROOT/files
mkdir -p "$F"
EVIL=$(tw_tool evilpeer) || { fail "evilpeer is built"; tw_done; }
P=$(tw_free_port)

# The entries: N places published on s (a node of the same network that
# never connects to h), in one bundle.
tw_start h --listen "127.0.0.1:$P" || { fail "h starts"; tw_done; }
NETKEY=$(tw_netkey h)
CONF=$(tw_conf common "network_key = $NETKEY")
tw_start s --config "$CONF" || { fail "s starts"; tw_done; }
python3 - "$N" >"$F/places.json" <<'EOF'
import json, sys
n = int(sys.argv[1])
print(json.dumps([{"kind": "place", "slot": "flood-%05d" % i,
                   "body": {"name_en": "Flood Village %d" % i, "place_kind": "village", "country": "PS"}}
                  for i in range(n)]))
EOF
check "s imports $N places" tw s import "$F/places.json"
check "s exports them as a bundle" tw s bundle export "$F/all.bundle"
S_KEY=$(tw s --json status | python3 -c 'import json,sys; print(json.load(sys.stdin)["node"])')

tw h --json status >"$F/st0.json"
[ "$(tw_json "$F/st0.json" 'd["verification"]')" = '{"jobs": 0, "jobs_peak": 0, "paused": 0, "reading": true}' ] &&
    pass "twin status shows no verification job before any peer sent entries" ||
    fail "verification at rest" "$(tw_json "$F/st0.json" 'd.get("verification")')"

"$EVIL" --connect "127.0.0.1:$P" --netkey "$NETKEY" --mode flood-bundle --file "$F/all.bundle" \
    --wait 3 >"$F/evil.out" 2>&1 &
EVPID=$!
tw_track "$EVPID"

# While the flood runs, the control socket answers (the loop never waits
# for the verifiers) and a place imported by the control socket is stored
# at once, whatever the peers' pipeline holds.
echo '[{"kind": "place", "slot": "during-flood", "body": {"name_en": "Jifna", "place_kind": "village", "country": "PS"}}]' \
    >"$F/one.json"
check "h imports a place by the control socket during the flood" tw h import "$F/one.json"
check_out "h shows it at once" 0 "Jifna" tw h show place during-flood

stored() {
    tw h --json list place --all >"$F/h.list" 2>/dev/null &&
        [ "$(tw_json "$F/h.list" "sum(1 for r in d if r['author'] == '$S_KEY')")" = "$N" ]
}
tw_wait_for 120 stored && pass "h stored all $N flooded entries: nothing lost while it did not read" ||
    fail "h stored all $N entries" "stored $(tw_json "$F/h.list" "sum(1 for r in d if r['author'] == '$S_KEY')" 2>&1)"
tw_reap_rc=0
wait "$EVPID" || tw_reap_rc=$?
grep -q "^pushed $N\$" "$F/evil.out" && [ "$tw_reap_rc" = 0 ] && pass "the peer sent all $N messages" ||
    { fail "the peer sent all $N messages (exit $tw_reap_rc)"; sed 's/^/      /' "$F/evil.out"; }
grep -q "^closed_by_node no" "$F/evil.out" && pass "h did not close the connection of a peer that is only fast" ||
    { fail "h kept the connection"; sed 's/^/      /' "$F/evil.out"; }

tw h --json status >"$F/st1.json"
peak=$(tw_json "$F/st1.json" 'd["verification"]["jobs_peak"]')
paused=$(tw_json "$F/st1.json" 'd["verification"]["paused"]')
echo "    verification jobs at most $peak at once; reading stopped $paused times"
[ "$paused" -ge 1 ] 2>/dev/null && pass "h stopped reading from its peers (status: paused $paused)" ||
    fail "h stopped reading past 256 jobs" "$(tw_json "$F/st1.json" 'd["verification"]')"
# The messages already read when the 257th job was made stay in the
# session, unprocessed, until the jobs fall to 128: none makes a 258th.
[ "$peak" = 257 ] && pass "at most 257 jobs waited: the 257th stopped the reading, and nothing past it was taken" ||
    fail "257 jobs at most" "peak $peak"
[ "$(tw_json "$F/st1.json" '[d["verification"]["jobs"], d["verification"]["reading"]]')" = "[0, true]" ] &&
    pass "once verified, no job waits and h reads from its peers again" ||
    fail "h reads again" "$(tw_json "$F/st1.json" 'd["verification"]')"
LOG=$(tw_log h)
grep -q "entry messages from peers waiting to be verified (more than TW_INGEST_JOBS_MAX, 256): not reading from peers until 128 or fewer wait" "$LOG" &&
    pass "h logged why it stopped reading, with the limit" || fail "h logged the stop" "$(grep -i verif "$LOG" | tail -n 3)"
grep -q "verification caught up .*; reading from peers again" "$LOG" &&
    pass "h logged that it reads again" || fail "h logged the restart"
grep -q "banned\|misbehav" "$LOG" && fail "h banned nobody" "$(grep "banned\|misbehav" "$LOG" | head -n 3)" ||
    pass "h banned nobody"
tw_stop h || fail "h stops cleanly"
tw_stop s || fail "s stops cleanly"
tw_done
