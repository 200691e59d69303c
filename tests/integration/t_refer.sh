#!/bin/sh
# A full node's refusal says where else to go (REFER, PROTOCOL.md "Refusals
# that refer"), and the setting bind that makes tests/tools/swarm.py's
# nodes dial from their own addresses.  Real nodes on 127.0.0.1:
#   - y (bind = 127.0.0.7) is seen by its peer at 127.0.0.7, x (unset) at
#     127.0.0.1; an address the machine lacks, or one with a port, is
#     refused at start with the setting named;
#   - in a network whose root is a: a (inbound_max = 1) holds one inbound
#     connection, from b; d, new, told only a's address and knowing only
#     the root, is refused as full and dials b, an address it can only have
#     learnt from a's REFER (b's peer record and a's vouch for b: it never
#     synced with a); a vouch in a REFER by a key d does not admit (a
#     fresh key vouching for another) makes nothing usable;
#   - a peer that does not offer TW_WIRE_FEAT_REFER (evilpeer, hello only)
#     is refused without one: older nodes are not sent a message they do
#     not know;
#   - hostile refusals (evilpeer --accept, dialled by node v, in an open
#     network, where no record is refused for its author): a REFER of
#     TW_REFER_MAX + 1 records and one with a forged record are refused as
#     misbehaviour and nothing of them is learnt; records naming addresses
#     of classes v never dials, 9 addresses, a place record or another slot
#     are not used and logged; v keeps serving and an honest node still
#     syncs with it.
# Every address in it is in 127.0.0.0/8 or of a class never dialled.
. tests/integration/lib.sh

F=$TW_ROOT/files
mkdir -p "$F"
EVIL=$(tw_tool evilpeer) || { fail "evilpeer is built"; tw_done; }
P_a=$(tw_free_port); P_b=$(tw_free_port); P_d=$(tw_free_port)

key_of() { tw "$1" --json status | python3 -c 'import json,sys; print(json.load(sys.stdin)["node"])'; }
tw_start a || { fail "a starts to make its network key"; tw_done; }
K_a=$(key_of a)
tw_stop a
NETKEY=$(tw_netkey a)
CONF=$(tw_conf common "network_key = $NETKEY" "learn_loopback = yes" "sync_interval = 2")
CONF_R=$(tw_conf rooted "network_key = $NETKEY" "root = $K_a" "learn_loopback = yes" "sync_interval = 2")
CONF_A=$(tw_conf full "network_key = $NETKEY" "root = $K_a" "learn_loopback = yes" "sync_interval = 2" "inbound_max = 1")

peers_json() { tw "$1" --json peers >"$F/$1-peers.json" 2>/dev/null; }
# pj NODE EXPR: EXPR over NODE's `peers` (fetched now).
pj() { peers_json "$1" && tw_json "$F/$1-peers.json" "$2"; }
knows() { [ "$(pj "$1" "any(k[\"address\"] == \"$2\" and k[\"source\"] == \"$3\" for k in d[\"known\"])")" = true ]; }
connected_to() {
    [ "$(pj "$1" "any(c[\"state\"] == \"established\" and c[\"address\"] == \"$2\" for c in d[\"connections\"])")" = true ]
}

# evil NODE MODE [ARGS]: evilpeer waits for NODE's dial at a fresh port, NODE is told it.
evil() {
    _en=$1; _m=$2; shift 2
    _p=$(tw_free_port)
    "$EVIL" --accept --connect "127.0.0.1:$_p" --netkey "$NETKEY" --mode "$_m" --hold 20 --wait 3 "$@" \
        >"$F/$_m.out" 2>&1 &
    _ep=$!
    tw_track "$_ep"
    tw_wait_for 5 grep -q "^listening" "$F/$_m.out"
    tw "$_en" peers add "127.0.0.1:$_p" >/dev/null
    tw_wait_for 30 sh -c "! kill -0 $_ep 2>/dev/null"
    wait "$_ep" 2>/dev/null
    grep -q "^referred" "$F/$_m.out"
}

# ---- setting bind: the source address of the connections a node dials
P_s=$(tw_free_port)
tw_start s --config "$CONF" --listen "127.0.0.1:$P_s" || { fail "s starts"; tw_done; }
tw_start x --config "$CONF" --peer "127.0.0.1:$P_s" || { fail "x starts"; tw_done; }
BC=$(tw_conf bound "network_key = $NETKEY" "bind = 127.0.0.7")
tw_start y --config "$BC" --peer "127.0.0.1:$P_s" || { fail "y starts with bind = 127.0.0.7"; tw_done; }
from_ip() { [ "$(pj s "sorted(set(c[\"address\"].rsplit(\":\", 1)[0] for c in d[\"connections\"] if c[\"state\"] == \"established\"))")" = "$1" ]; }
tw_wait_for 20 from_ip '["127.0.0.1", "127.0.0.7"]' &&
    pass "s sees y's connection from 127.0.0.7 (bind) and x's from 127.0.0.1 (the system's choice)" ||
    fail "bind sets the source address" "$(cat "$F/s-peers.json")"
tw_stop y; tw_stop x; tw_stop s
BC2=$(tw_conf notmine "network_key = $NETKEY" "bind = 192.0.2.1")
tw_run "$TWIND" --data-dir "$TW_ROOT/z" --config "$BC2" --http off
[ "$TW_RC" = 1 ] && grep -q "bind: cannot use 192.0.2.1 as the source address of outgoing connections" "$TW_ERR" &&
    pass "bind = an address this machine does not have: twind refuses to start, saying so" ||
    { fail "bind = 192.0.2.1 refused at start"; tw__show_last; }
BC3=$(tw_conf badbind "network_key = $NETKEY" "bind = 127.0.0.1:7700")
tw_run "$TWIND" --data-dir "$TW_ROOT/z" --config "$BC3" --http off
[ "$TW_RC" != 0 ] && grep -q 'bind: "127.0.0.1:7700" is not an IP address' "$TW_ERR" &&
    pass "bind with a port: a config error naming the setting" || { fail "bind = 127.0.0.1:7700 refused"; tw__show_last; }

# ---- the honest referral
tw_start a --config "$CONF_A" --listen "127.0.0.1:$P_a" || { fail "a starts (inbound_max 1)"; tw_done; }
tw_start b --config "$CONF_R" --listen "127.0.0.1:$P_b" --peer "127.0.0.1:$P_a" || { fail "b starts"; tw_done; }
check "the root a vouches for b" tw a vouch "$(key_of b)" --name "Refer Test Association B"
tw_wait_for 20 knows a "127.0.0.1:$P_b" learnt && pass "a holds b's peer record (b connected to a)" ||
    fail "a learns b's address" "$(cat "$F/a-peers.json")"

"$EVIL" --connect "127.0.0.1:$P_a" --netkey "$NETKEY" --mode hello --wait 3 >"$F/old.out" 2>&1
grep -q "^node_error .*too many inbound connections" "$F/old.out" && [ "$(pj a 'd["learnt"]["refer_sent"]')" = 0 ] &&
    pass "a peer without the refer feature is refused as full with no REFER (refer_sent 0)" ||
    fail "no REFER to a peer without the feature" "$(cat "$F/old.out")" "$(pj a 'd["learnt"]')"

tw_start d --config "$CONF_R" --listen "127.0.0.1:$P_d" --peer "127.0.0.1:$P_a" || { fail "d starts"; tw_done; }
tw_wait_for 20 grep -q "127.0.0.1:$P_a.*peer closed: too many inbound connections" "$(tw_log d)" &&
    pass "d is refused by a as full" || fail "d is refused by a as full"
! grep -q "127.0.0.1:$P_a.*the link broke during a reconciliation" "$(tw_log d)" &&
    pass "a refusal is not taken for a link broken during a reconciliation (NEG_PART stays offered to a)" ||
    fail "refusal taken for a cut link" "$(grep "link broke" "$(tw_log d)")"
tw_wait_for 20 knows d "127.0.0.1:$P_b" learnt && grep -q "REFER of 2 records: 1 peers to dial .* 1 vouches used" "$(tw_log d)" &&
    pass "d learnt b's address from a's refusal, with a's vouch for b (it never synced with a)" ||
    fail "d learns b's address from the REFER" "$(cat "$F/d-peers.json")"
tw_wait_for 20 connected_to d "127.0.0.1:$P_b" && pass "d dialled b and is connected to it" ||
    fail "d connects to b" "$(cat "$F/d-peers.json")"
[ "$(pj a 'd["learnt"]["refer_sent"] >= 1')" = true ] && [ "$(pj d 'd["learnt"]["refer_used"] >= 1')" = true ] &&
    pass "counted: a sent $(pj a 'd["learnt"]["refer_sent"]') referral record(s), d used $(pj d 'd["learnt"]["refer_used"]')" ||
    fail "refer counters" "$(pj a 'd["learnt"]')" "$(pj d 'd["learnt"]')"

# A vouch in a REFER counts only if this node admits its author: a fresh
# key vouching for another admits nobody here, so that one's record is not used.
evil d refer-selfvouch
tw_wait_for 10 grep -q "REFER of 2 records: 0 peers to dial .* 0 vouches used, 1 of authors not admitted here" "$(tw_log d)" &&
    ! knows d "127.0.0.1:22" learnt &&
    pass "a vouch by a key d does not admit does not make its protege's record usable (127.0.0.1:22 not learnt)" ||
    fail "self-vouched record refused" "$(cat "$F/refer-selfvouch.out")" "$(grep "REFER" "$(tw_log d)" | tail -n 3)"
tw_stop d; tw_stop b; tw_stop a

# ---- hostile referrals, against v (learn_loopback, as in a test network)
P_v=$(tw_free_port)
tw_start v --config "$CONF" --listen "127.0.0.1:$P_v" || { fail "v starts"; tw_done; }
P_none=$(tw_free_port)
evil v refer-good --via "127.0.0.1:$P_none" && tw_wait_for 10 knows v "127.0.0.1:$P_none" learnt &&
    pass "control: a REFER of one signed peer record is learnt by v" ||
    fail "control REFER learnt" "$(cat "$F/refer-good.out")" "$(cat "$F/v-peers.json")"
u0=$(pj v 'd["learnt"]["refer_unused"]')

evil v refer-outside
nothing_learnt() {
    [ "$(pj v 'not any(k["address"].split(":")[0] in ("10.0.0.1", "169.254.169.254", "0.0.0.0", "224.0.0.1") or
        k["address"] in ["127.0.0.1:%d" % p for p in range(1, 22)] for k in d["known"])')" = true ]
}
tw_wait_for 10 grep -q "4 addresses not learnt" "$(tw_log v)" &&
    [ "$(pj v "d[\"learnt\"][\"refer_unused\"] - $u0")" = 4 ] && nothing_learnt &&
    ! grep -q "misbehaved: REFER" "$(tw_log v)" &&
    pass "records naming addresses v never dials, 9 addresses, a place record and another slot: none used (4 counted), logged, not misbehaviour" ||
    fail "outside addresses not learnt" "$(cat "$F/refer-outside.out")" "$(pj v 'd["learnt"]')" "$(grep REFER "$(tw_log v)")"

evil v refer-many
tw_wait_for 10 grep -q "misbehaved: REFER: more records in REFER than TW_REFER_MAX" "$(tw_log v)" && nothing_learnt &&
    pass "a REFER of TW_REFER_MAX + 1 records is misbehaviour; none of its addresses learnt" ||
    fail "too many records refused" "$(cat "$F/refer-many.out")" "$(grep -i refer "$(tw_log v)" | tail -n 5)"

evil v refer-forged
tw_wait_for 10 grep -q "misbehaved: REFER: 1 of its 1 records forged or malformed (signature does not verify)" "$(tw_log v)" &&
    nothing_learnt && pass "a REFER with a forged record is misbehaviour; its address not learnt" ||
    fail "forged record refused" "$(cat "$F/refer-forged.out")" "$(grep -i refer "$(tw_log v)" | tail -n 5)"

# v still serves: its own record reaches an honest node that dials it.
check "v still answers status" tw v status
check "v publishes" tw v publish group refer-test-group name="Refer Test Group" \
    group_kind=twinning_association nation=england region=E12000003 seeking_partner=no
P_w=$(tw_free_port)
tw_start w --config "$CONF" --listen "127.0.0.1:$P_w" --peer "127.0.0.1:$P_v" || fail "w starts"
tw_wait_converged 20 v w && pass "an honest node syncs with v after the hostile refusals (${TW_CONV_S} s)" ||
    fail "w converges with v" "$TW_CONV_DETAIL"
tw_stop w; tw_stop v || fail "v exits cleanly"
tw_done
