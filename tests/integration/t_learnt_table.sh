#!/bin/sh
# The learnt-address table at its edge (TW_LEARNT_PEERS_MAX = 128): peer
# records of 128 members fill it without evicting anything; two more
# members evict two learnt addresses, never an address the operator gave;
# `twin peers add` works throughout, up to the manual table's own bound.
# Every learnt address is a name under .invalid: nothing is dialled.
. tests/integration/lib.sh

F=$TW_ROOT/files
mkdir -p "$F"
PROPGEN=$(tw_tool propgen) || { fail "propgen is built"; tw_done; }
EVIL=$(tw_tool evilpeer) || { fail "evilpeer is built"; tw_done; }
SEED=1ea51ea51ea51ea51ea51ea51ea51ea51ea51ea51ea51ea51ea51ea51ea51ea5
P=$(tw_free_port)
tw_start h --listen "127.0.0.1:$P" || { fail "h starts"; tw_done; }
NETKEY=$(tw_netkey h)
check "h keeps a manual address" tw h peers add "operator-choice.invalid:7700"

push() {
    "$PROPGEN" authors --seed "$SEED" --netkey-file "$TW_ROOT/h/network.key" --out "$F/a$1.bundle" --cases "$1" &&
    "$EVIL" --connect "127.0.0.1:$P" --netkey "$NETKEY" --mode push-bundle --file "$F/a$1.bundle" --wait 2 >"$F/evil$1.out" 2>&1
}
learnt() { tw h --json peers >"$F/peers.json" 2>/dev/null && tw_json "$F/peers.json" "$1"; }
has() { [ "$(learnt "$1")" = "$2" ]; }

push 128 || fail "128 members' peer records pushed"
tw_wait_for 20 has 'd["learnt"]["count"]' 128 && pass "128 members fill the learnt table: $(learnt 'd["learnt"]')" ||
    fail "128 learnt addresses" "$(learnt 'd["learnt"]')"
[ "$(learnt 'd["learnt"]["evicted"]')" = 0 ] && pass "at the edge nothing is evicted" || fail "nothing evicted at 128"
push 130 || fail "130 members' peer records pushed"
tw_wait_for 20 has 'd["learnt"]["evicted"]' 2 && pass "two more members evict two learnt addresses" ||
    fail "two evictions" "$(learnt 'd["learnt"]')"
[ "$(learnt 'd["learnt"]["count"]')" = 128 ] && pass "the learnt table stays at 128" || fail "learnt table at 128"
[ "$(learnt 'sum(1 for k in d["known"] if k["source"] == "manual")')" = 1 ] &&
    pass "the operator's address is still there" || fail "the manual address survives the flood"
ok=1
for i in $(seq 2 256); do tw h peers add "manual-$i.invalid:7700" >/dev/null 2>&1 || { ok=0; break; }; done
[ "$ok" = 1 ] && pass "twin peers add takes 255 more addresses (256 manual in all) beside 128 learnt ones" ||
    fail "twin peers add up to 256" "stopped at $i"
check_out "the 257th manual address is refused with the bound" 1 "known-peer table is full (256)" \
    tw h peers add "manual-257.invalid:7700"
check "a removed address gives its room back" tw h peers remove "manual-2.invalid:7700"
check "so one more can be added" tw h peers add "manual-257.invalid:7700"
tw_stop h || fail "h stops cleanly"
tw_done
