#!/bin/sh
# A hostile member: a key the hub vouched for, signing valid entries, out to
# hurt every node of the network (three real nodes on 127.0.0.1).
#   - peer records in slots other than "self" (40 of them, 8 addresses each)
#     are refused on receipt with the slot rule's reason, as publish refuses
#     them;
#   - its own peer record names 0.0.0.0, 127.0.0.1, 127.0.0.5, [::1] and
#     localhost ports where this test listens and counts: with learnt
#     loopback refused (the default) those listeners see no connection from
#     the hub or the member node; a third node that allows learnt loopback
#     (learn_loopback = yes) does dial 127.0.0.1, which proves the listeners
#     would have seen one -- and even it never dials 0.0.0.0;
#   - 300 versions of that record (2400 addresses over time) leave at most
#     one record's addresses in the learnt table, and `twin peers add` keeps
#     working for 20 more manual addresses;
#   - an entry of an unknown kind nested to the depth limit is stored and
#     forwarded, and list, list KIND, show, export, search, stats, gaps,
#     report and bundle export keep answering on two nodes.
# No test dials anything outside 127.0.0.0/8 and ::1: the other addresses
# are names under .invalid, which never resolve.
. tests/integration/lib.sh

F=$TW_ROOT/files
mkdir -p "$F"
PROPGEN=$(tw_tool propgen) || { fail "propgen is built"; tw_done; }
EVIL=$(tw_tool evilpeer) || { fail "evilpeer is built"; tw_done; }
SEED=ba5eba11ba5eba11ba5eba11ba5eba11ba5eba11ba5eba11ba5eba11ba5eba11
K_evil=$("$PROPGEN" key --seed "$SEED")
P_hub=$(tw_free_port); P_mem=$(tw_free_port); P_lb=$(tw_free_port)
L1=$(tw_free_port); L2=$(tw_free_port); L3=$(tw_free_port); L4=$(tw_free_port); L5=$(tw_free_port)
key_of() { tw "$1" --json status | python3 -c 'import json,sys; print(json.load(sys.stdin)["node"])'; }

tw_start hub || { fail "hub starts to make its keys"; tw_done; }
K_hub=$(key_of hub)
tw_stop hub
NETKEY=$(tw_netkey hub)
CONF=$(tw_conf common "network_key = $NETKEY" "root = $K_hub" "sync_interval = 2")
CONF_LB=$(tw_conf loopback "network_key = $NETKEY" "root = $K_hub" "sync_interval = 2" "learn_loopback = yes")
tw_start hub --config "$CONF" --listen "127.0.0.1:$P_hub" || { fail "hub starts as root"; tw_done; }
tw_start mem --config "$CONF" --listen "127.0.0.1:$P_mem" --peer "127.0.0.1:$P_hub" || { fail "mem starts"; tw_done; }
tw_start lb --config "$CONF_LB" --listen "127.0.0.1:$P_lb" --peer "127.0.0.1:$P_hub" || { fail "lb starts"; tw_done; }
K_mem=$(key_of mem); K_lb=$(key_of lb)
check "the hub vouches for the member node" tw hub vouch "$K_mem" --name "Camden Abu Dis Friendship Association"
check "the hub vouches for the loopback-allowing node" tw hub vouch "$K_lb" --name "Test Loopback Group"
check "the hub vouches for the hostile member's key" tw hub vouch "$K_evil" --name "Harrow Twinning Circle"
tw_wait_for 20 tw_has_peers mem 1 && tw_wait_for 20 tw_has_peers lb 1 && pass "mem and lb are connected to the hub" ||
    fail "mem and lb are connected to the hub"

# The listeners that count connections: 0.0.0.0:L1 reaches 127.0.0.1:L1.
CC=$TW_ROOT/bin/conncount.py
cp tests/tools/conncount.py "$CC"
python3 "$CC" --seconds 120 --out "$F/counts.json" "127.0.0.1:$L1" "127.0.0.1:$L2" "[::1]:$L3" "127.0.0.5:$L4" \
    "127.0.0.1:$L5" 2>"$F/cc.err" &
tw_track $!
tw_wait_for 5 test -s "$F/counts.json" || fail "the counting listeners are up"

check "propgen writes the hostile member's entries" "$PROPGEN" hostile --seed "$SEED" \
    --netkey-file "$TW_ROOT/hub/network.key" --out "$F/hostile.bundle" --versions 300 --slots 40 \
    --addrs "0.0.0.0:$L1,127.0.0.1:$L2,[::1]:$L3,127.0.0.5:$L4,localhost:$L5"
"$EVIL" --connect "127.0.0.1:$P_hub" --netkey "$NETKEY" --seed "$SEED" --mode push-bundle \
    --file "$F/hostile.bundle" --wait 3 >"$F/evil.out" 2>&1
grep -q "^pushed 342$" "$F/evil.out" && pass "the member pushed its 342 entries to the hub" ||
    { fail "the member pushed its entries"; cat "$F/evil.out"; }

# evilpeer never reconciles: the hub, accepting its connection, starts its
# own first reconciliation soon after (TW_ACCEPT_SYNC_DELAY_MS), not a whole
# sync_interval later.
grep -q "first reconciliation of the accepting side" "$(tw_log hub)" &&
    pass "the hub, accepting a peer that does not reconcile, starts its own first reconciliation" ||
    fail "the accepting side reconciles"
grep -o "first reconciliation of the accepting side, [0-9]* ms" "$(tw_log hub)" | head -n 2 |
    sed 's/.*side, /    figure: accept to first reconciliation on the accepting side: /'

has_kind() { tw "$1" --json list "$2" 2>/dev/null | grep -q "\"$3\""; }
tw_wait_for 20 has_kind mem event depth-bomb && pass "the unknown kind at the depth limit reached the member node" ||
    fail "the unknown kind reached mem"
tw_wait_for 20 has_kind lb group main && pass "the member's group reached the loopback-allowing node" ||
    fail "the member's group reached lb"

check_out "peer records in other slots are refused on receipt with the slot rule" 0 \
    'peer: slot key "home-' grep -h "not stored" "$(tw_log hub)"
lines=$(grep -c 'must be "self"' "$(tw_log hub)")
grep -q "more entries from .* not stored for other reasons" "$(tw_log hub)" && [ "$lines" -ge 1 ] && [ "$lines" -le 32 ] &&
    pass "40 refusals with 40 reasons make $lines log lines and a count of the rest (at most 16 reasons a batch)" ||
    fail "refusals are logged once per reason and batch, bounded" "lines: $lines"

# Learnt addresses: lb dials 127.0.0.1, the others dial nothing.
tw_wait_for 15 python3 -c 'import json,sys; sys.exit(0 if json.load(open(sys.argv[1]))["127.0.0.1:'"$L2"'"] > 0 else 1)' "$F/counts.json" &&
    pass "a node with learn_loopback = yes dials the learnt 127.0.0.1 (the listeners count)" ||
    fail "lb dials the learnt loopback address" "$(cat "$F/counts.json")"
# Give the others the same time to misbehave, then count: lb alone may
# have reached the loopback listeners; 0.0.0.0 is never dialled.
sleep 3
tw_stop lb || fail "lb stops cleanly"
cp "$F/counts.json" "$F/counts-lb.json"
tw mem peers >"$F/mem-peers.txt" 2>&1
tw hub peers >"$F/hub-peers.txt" 2>&1
python3 - "$F/counts-lb.json" "$L1" <<'EOF' && pass "nobody dialled 0.0.0.0" || fail "nobody dialled 0.0.0.0" "$(cat "$F/counts-lb.json")"
import json, sys
c = json.load(open(sys.argv[1]))
sys.exit(0 if c["127.0.0.1:" + sys.argv[2]] == 0 else 1)
EOF
before=$(python3 -c 'import json,sys; d=json.load(open(sys.argv[1])); print(sum(v for k, v in d.items() if k != "unbound"))' "$F/counts.json")
sleep 4
after=$(python3 -c 'import json,sys; d=json.load(open(sys.argv[1])); print(sum(v for k, v in d.items() if k != "unbound"))' "$F/counts.json")
[ "$before" = "$after" ] && pass "with learnt loopback refused (the default), hub and mem make no connection to the listeners ($after in all, from lb)" ||
    fail "hub and mem dial no learnt loopback address" "before $before after $after"
for n in hub mem; do
    tw "$n" --json peers >"$F/$n-peers.json"
    [ "$(tw_json "$F/$n-peers.json" 'd["learnt"]["count"] <= 8 and not any(k["source"] == "learnt" and (k["address"].startswith("127.") or k["address"].startswith("0.") or "[::1]" in k["address"] or "localhost" in k["address"]) for k in d["known"])')" = true ] &&
        pass "$n: at most one record's addresses learnt, none of them loopback or unspecified ($(tw_json "$F/$n-peers.json" 'd["learnt"]'))" ||
        fail "$n: learnt table bounded" "$(head -c 600 "$F/$n-peers.json")"
    grep -q "not learnt (loopback" "$(tw_log "$n")" && pass "$n logs why the addresses were not learnt" ||
        fail "$n logs the refused addresses"
done
ok=1
for i in $(seq 1 20); do tw hub peers add "manual-$i.invalid:7700" >/dev/null 2>&1 || ok=0; done
[ "$ok" = 1 ] && pass "twin peers add still takes 20 more addresses on the hub" || fail "twin peers add works after the flood"
tw hub --json peers >"$F/hub-peers2.json"
[ "$(tw_json "$F/hub-peers2.json" 'sum(1 for k in d["known"] if k["source"] == "manual")')" = 20 ] &&
    pass "the 20 manual addresses are listed as manual" || fail "manual addresses listed"

# Every query keeps working on two nodes, with the depth bomb stored.
ID=$(tw hub --json list event | python3 -c 'import json,sys; print([r["id"] for r in json.load(sys.stdin) if r["slot"] == "depth-bomb"][0])')
for n in hub mem; do
    check "$n: list" tw "$n" list
    check "$n: list event (the depth bomb)" tw "$n" list event
    check "$n: show the depth bomb" tw "$n" show --id "$ID"
    check "$n: list peer" tw "$n" list peer
    check "$n: export" tw "$n" export -o "$F/$n.json"
    check "$n: search" tw "$n" search harrow
    check "$n: stats" tw "$n" stats
    check "$n: gaps" tw "$n" gaps
    check "$n: report --html" tw "$n" report --html "$F/$n.html"
    check "$n: bundle export" tw "$n" bundle export "$F/$n.bundle"
    check "$n: members" tw "$n" members
done
python3 -c 'import json,sys; d=json.load(open(sys.argv[1])); r=[x for x in d if x.get("slot") == "depth-bomb"]; sys.exit(0 if r else 1)' "$F/mem.json" 2>/dev/null ||
    grep -q "depth-bomb" "$F/mem.json" && pass "the export carries the depth bomb" || fail "the export carries the depth bomb"

for n in hub mem; do tw_stop "$n" || fail "$n stops cleanly"; done
tw_done
