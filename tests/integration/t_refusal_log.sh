#!/bin/sh
# Refused entries are logged once per author and reason in each batch a peer
# sends, at most TW_REFUSAL_LOG_MAX (16) lines, the rest as one count: the
# limit at its edge.  A member pushes, in one ENTRIES message each, 16 and
# then 17 peer records in slots other than "self" (each refusal names its
# slot, so each is a reason of its own).
. tests/integration/lib.sh

F=$TW_ROOT/files
mkdir -p "$F"
PROPGEN=$(tw_tool propgen) || { fail "propgen is built"; tw_done; }
EVIL=$(tw_tool evilpeer) || { fail "evilpeer is built"; tw_done; }
SEED=0ddba110ddba110ddba110ddba110ddba110ddba110ddba110ddba110ddba110
P=$(tw_free_port)
tw_start h --listen "127.0.0.1:$P" || { fail "h starts"; tw_done; }
NETKEY=$(tw_netkey h)
LOG=$(tw_log h)

push() {   # push K: K refused records in one batch
    "$PROPGEN" hostile --seed "$SEED" --netkey-file "$TW_ROOT/h/network.key" --out "$F/h$1.bundle" \
        --versions 1 --slots "$1" --addrs "edge-$1.invalid:7700" >/dev/null &&
    "$EVIL" --connect "127.0.0.1:$P" --netkey "$NETKEY" --seed "$SEED" --mode push-bundle \
        --file "$F/h$1.bundle" --wait 2 >"$F/evil$1.out" 2>&1
}
lines() { grep -c 'not stored: peer: slot key "home-[0-9]*" must be "self"' "$LOG"; }
more() { grep -c "more entries from .* not stored for other reasons" "$LOG"; }

push 16 || fail "16 refused records pushed"
tw_wait_for 10 sh -c "[ \$(grep -c 'must be \"self\"' '$LOG') -ge 16 ]"
[ "$(lines)" = 16 ] && [ "$(more)" = 0 ] && pass "16 reasons in one batch: 16 lines, no count line" ||
    fail "16 reasons: 16 lines" "lines $(lines), count lines $(more)"
push 17 || fail "17 refused records pushed"
tw_wait_for 10 sh -c "grep -q 'more entries from .* not stored for other reasons' '$LOG'"
[ "$(lines)" = 32 ] && grep -q "1 more entries from .* not stored for other reasons" "$LOG" &&
    pass "17 reasons in one batch: 16 more lines and one line counting the 17th" ||
    fail "17 reasons: 16 lines and a count" "lines $(lines), count lines $(more)"
tw h --json status >"$F/status.json"
[ "$(tw_json "$F/status.json" 'd["refused_from_peers"]')" = 33 ] && pass "twin status counts all 33 refusals" ||
    fail "twin status counts 33 refusals" "$(tw_json "$F/status.json" 'd["refused_from_peers"]')"
tw_stop h || fail "h stops cleanly"
tw_done
