#!/bin/sh
# inbound_max at its edge, and what a dialer does when a full node refuses
# it.  h accepts one inbound connection (inbound_max = 1); a and b each dial
# only h.  a gets in; b completes its handshake and is refused with "too
# many inbound connections", and backs off as after a failure instead of
# redialling within 300 ms for as long as h stays full (a full handshake
# each time).  h keeps serving a meanwhile.  Once a's connection is
# TW_INBOUND_EVICT_AGE_MS (30 s) old, b gets in and a's connection makes
# room (else a node whose seed is full would never learn another address).
. tests/integration/lib.sh

P=$(tw_free_port)
tw_start h --listen "127.0.0.1:$P" || { fail "h starts"; tw_done; }
NETKEY=$(tw_netkey h)
tw_stop h
HC=$(tw_conf h "network_key = $NETKEY" "inbound_max = 1")
DC=$(tw_conf d "network_key = $NETKEY" "outbound_target = 1")
tw_start h --config "$HC" --listen "127.0.0.1:$P" || { fail "h starts with inbound_max = 1"; tw_done; }
tw_start a --config "$DC" --peer "127.0.0.1:$P" || { fail "a starts"; tw_done; }
tw_wait_for 20 tw_has_peers h 1 && pass "h accepts a (1 of inbound_max = 1)" || fail "a connects to h"

F=$TW_ROOT/peers.json
bpeer() { tw b --json peers >"$F" 2>/dev/null && tw_json "$F" "$1"; }
tw_start b --config "$DC" --peer "127.0.0.1:$P" || { fail "b starts"; tw_done; }
refused() { [ "$(bpeer 'd["known"][0]["failures"] >= 1 and "too many inbound" in d["known"][0]["last_error"]')" = true ]; }
tw_wait_for 20 refused && pass "b is refused by the full node: $(bpeer 'd["known"][0]["last_error"]')" ||
    fail "b refused with too many inbound connections" "$(bpeer 'd["known"]')"
# Backoff after each refusal (0.5-1 s, 1-2 s, 2-4 s, 4-8 s...): in the next
# 6 s b dials h at most 4 more times; redialling as after a working link
# (100-300 ms) it would dial about 30 times.
d0=$(bpeer 'd["totals"]["dials"]')
sleep 6
d1=$(bpeer 'd["totals"]["dials"]')
f1=$(bpeer 'd["known"][0]["failures"]')
if [ -n "$d0" ] && [ -n "$d1" ] && [ $((d1 - d0)) -le 4 ] && [ "$f1" -ge 3 ]; then
    pass "b backs off while h is full: $((d1 - d0)) dials in 6 s, $f1 consecutive failures"
else
    fail "b backs off while h is full" "dials $d0 -> $d1, failures $f1"
fi
[ "$(tw_established h)" = 1 ] && pass "h still has exactly one inbound connection" || fail "h at inbound_max" "$(tw_established h)"
grep -q "too many inbound connections" "$(tw_log h)" && pass "h logs why it refused b" || fail "h logs the refusal"

check "a publishes" tw a publish place v1 name_en=Degree place_kind=village country=PS subdivision=PS-NBS area=west_bank
tw_wait_converged 20 a h && pass "h keeps serving a while it refuses b" || fail "a and h converge" "$TW_CONV_DETAIL"

# a's connection reaches 30 s; b's next attempt is then at most 32 s away.
tw_wait_for 90 tw_has_peers b 1 && pass "b gets in once a's connection is 30 s old" ||
    fail "b connects after a's connection ages" "$(bpeer 'd["known"]')"
grep -q "inbound connections full (inbound_max 1): closing the one from" "$(tw_log h)" &&
    pass "h closed a's connection to make room, and says so" || fail "h logs the room it made"
[ "$(tw_established h)" = 1 ] && pass "h still has one inbound connection" || fail "h at inbound_max after making room"
tw_wait_converged 20 a b h && pass "a, b and h converge (a's entry reached b through h)" || fail "a, b and h converge" "$TW_CONV_DETAIL"
tw_stop a || fail "a stops cleanly"

tw_stop b || fail "b stops cleanly"
tw_stop h || fail "h stops cleanly"
tw_done
