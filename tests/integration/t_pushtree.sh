#!/bin/sh
# The push tree, through real daemons: seven nodes in a ring with three
# chords (12 links; n4 has only two, both through faultproxy), reconciling
# once an hour so that only live push moves entries.
#   (a) every entry published reaches every node;
#   (b) after warm-up duplicates drop: the full copies received for K new
#       entries stay under 2 x 6 x K (a flood of this graph receives about
#       14 per entry, the tree 6), and links were pruned;
#   (c) n4's eager link is cut (faultproxy partition) while entries are
#       being published: n4 gets every one of them, by announcement and
#       graft over its other link, without a reconciliation;
#   (d) a hostile peer's PRUNE/GRAFT flood is refused with its reason past
#       2 x TW_PUSH_CTRL_MAX (and not at that edge), a PRUNE without the
#       feature is refused, and IHAVE of 5000 unknown ids fills at most
#       TW_PUSH_MISSING_MAX places, logged; the node keeps serving;
#   (e) a peer that does not offer the push tree gets every entry in full.
. tests/integration/lib.sh

F=$TW_ROOT/files
mkdir -p "$F"
N=7
PORTS=""
i=0
while [ "$i" -lt "$N" ]; do PORTS="$PORTS $(tw_free_port)"; i=$((i + 1)); done
port() { echo $PORTS | cut -d' ' -f$(($1 + 1)); }
NAMES="n0 n1 n2 n3 n4 n5 n6"

tw_start n0 --listen "127.0.0.1:$(port 0)" || { fail "n0 starts"; tw_done; }
NETKEY=$(tw_netkey n0)
tw_stop n0
CONF=$(tw_conf common "network_key = $NETKEY" "sync_interval = 3600" "outbound_target = 8")
for i in 0 1 2 3 4 5 6; do
    tw_start "n$i" --config "$CONF" --listen "127.0.0.1:$(port "$i")" || { fail "n$i starts"; tw_done; }
done
# n4's two links (to n3 and n5) go through proxies, so that either can be cut.
tw_proxy p43 "127.0.0.1:$(port 3)" || { fail "proxy p43 starts"; tw_done; }
tw_proxy p45 "127.0.0.1:$(port 5)" || { fail "proxy p45 starts"; tw_done; }
# Ring 0-1-2-3-4-5-6-0, chords 0-3, 1-5, 2-6.
for ab in "0 1" "1 2" "2 3" "5 6" "6 0" "0 3" "1 5" "2 6"; do
    set -- $ab
    tw "n$1" peers add "127.0.0.1:$(port "$2")" >/dev/null || fail "n$1 adds n$2"
done
tw n4 peers add "127.0.0.1:$(tw_proxy_port p43)" >/dev/null || fail "n4 adds n3 through p43"
tw n4 peers add "127.0.0.1:$(tw_proxy_port p45)" >/dev/null || fail "n4 adds n5 through p45"

all_linked() {
    for _d in "0 3" "1 3" "2 3" "3 3" "4 2" "5 3" "6 3"; do
        set -- $_d
        tw_has_peers "n$1" "$2" || return 1
    done
}
if tw_wait_for 30 all_linked; then pass "the 12 links are established"; else fail "the 12 links are established"; fi

# totals NAME...: received, pushes received, duplicates, prunes sent,
# grafts sent, ids announced, over the established connections of the
# nodes; then announced ids the nodes asked for (push_tree.asked).
totals() {
    _tf=""
    for _t in "$@"; do tw "$_t" --json peers >"$F/peers-$_t" 2>/dev/null; _tf="$_tf $F/peers-$_t"; done
    # shellcheck disable=SC2086
    python3 -c '
import json, sys
r = [0] * 7
for f in sys.argv[1:]:
    d = json.load(open(f))
    r[6] += d["push_tree"]["asked"]
    for c in d["connections"]:
        if c["state"] != "established":
            continue
        p = c["push"]
        for k, v in enumerate((c["received"], p["pushes_received"], p["duplicates"], p["prunes_sent"],
                               p["grafts_sent"], p["announced"])):
            r[k] += v
print(" ".join(map(str, r)))' $_tf
}

# publish NODE TAG: a new place entry on NODE.
publish() {
    tw "$1" publish place "pt-$2" name_en="Push Tree Village $2" place_kind=village country=PS \
        subdivision=PS-NBS area=west_bank >/dev/null
}

# ------------------------------------------------------------- warm-up
k=0
for i in 0 1 2 3 4 5 6 0 3 5; do publish "n$i" "warm-$k" || fail "warm-up publish $k on n$i"; k=$((k + 1)); done
# shellcheck disable=SC2086
if tw_wait_converged 30 $NAMES; then pass "warm-up: 10 entries on every node"; else fail "warm-up: 10 entries on every node" "$TW_CONV_DETAIL"; fi
sleep 1

# ------------------------------------------------------------- (a), (b)
K=30
# shellcheck disable=SC2086
set -- $(totals $NAMES)
R0=$1; D0=$3; PR0=$4
k=0
while [ "$k" -lt "$K" ]; do
    publish "n$((k % N))" "b-$k" || fail "publish b-$k"
    k=$((k + 1))
done
# shellcheck disable=SC2086
if tw_wait_converged 30 $NAMES; then pass "(a) $K entries published on all seven nodes reach every node"
else fail "(a) $K entries published on all seven nodes reach every node" "$TW_CONV_DETAIL"; fi
missing=0
for i in 0 1 2 3 4 5 6; do
    for k in 0 $((K / 2)) $((K - 1)); do tw "n$i" show place "pt-b-$k" >/dev/null 2>&1 || missing=$((missing + 1)); done
done
if [ "$missing" = 0 ]; then pass "(a) each node shows the first, middle and last of them"; else fail "(a) each node shows the first, middle and last of them" "$missing missing"; fi
sleep 0.5
# shellcheck disable=SC2086
set -- $(totals $NAMES)
R1=$1; D1=$3; PR1=$4; ANN=$6
RECV=$((R1 - R0))
LIMIT=$((2 * (N - 1) * K))
echo "    full copies received for $K entries: $RECV (limit $LIMIT, one per node is $(((N - 1) * K))); duplicates $((D1 - D0)); prunes sent in all $PR1; ids announced in all $ANN"
if [ "$RECV" -ge $(((N - 1) * K)) ] && [ "$RECV" -lt "$LIMIT" ]; then
    pass "(b) after warm-up, full copies received < 2 x nodes x entries"
else
    fail "(b) after warm-up, full copies received < 2 x nodes x entries" "received $RECV, limit $LIMIT"
fi
if [ "$PR1" -ge 1 ] && [ "$ANN" -ge 1 ]; then pass "(b) links were pruned and entries announced by id on them"
else fail "(b) links were pruned and entries announced by id on them" "prunes $PR1, announced $ANN"; fi

# ------------------------------------------------------------- (c)
# The proxy that carries n4's eager link (n4 dials both, so its connection
# addresses name the proxies' ports).
eager_proxy() {
    tw n4 --json peers 2>/dev/null | python3 -c '
import json, sys
ports = {sys.argv[1]: "p43", sys.argv[2]: "p45"}
for c in json.load(sys.stdin)["connections"]:
    port = c["address"].rsplit(":", 1)[1]
    if c["state"] == "established" and c["push"]["eager"] and port in ports:
        print(ports[port])
        sys.exit(0)
sys.exit(1)' "$(tw_proxy_port p43)" "$(tw_proxy_port p45)" >"$F/eager"
}
# A node of two links may be cut off the tree for a moment (both pruned)
# until its next repair grafts one back.
if tw_wait_for 10 eager_proxy; then EAGER=$(cat "$F/eager"); pass "(c) n4 has an eager link ($EAGER)"
else fail "(c) n4 has an eager link"; EAGER=p43; fi
OTHER=p45
[ "$EAGER" = p45 ] && OTHER=p43
# shellcheck disable=SC2086
set -- $(totals $NAMES)
ASKED0=$7
C=40
k=0
while [ "$k" -lt "$C" ]; do
    [ "$k" = 5 ] && kill -USR1 "$(tw_pid "$EAGER")"     # partition: the link is cut, redials refused
    publish "n$((k % 3))" "c-$k" || fail "publish c-$k"
    k=$((k + 1))
done
# shellcheck disable=SC2086
if tw_wait_converged 30 $NAMES; then pass "(c) with n4's eager link cut mid-push, all $C entries reach every node ($TW_CONV_S s)"
else fail "(c) with n4's eager link cut mid-push, all $C entries reach every node" "$TW_CONV_DETAIL"; fi
if [ "$(tw_proxy_stat "$EAGER" cuts)" -ge 1 ] 2>/dev/null; then pass "(c) the link was cut"; else fail "(c) the link was cut"; fi
# Cutting a tree link splits the tree: the side without the origins gets
# the later entries by announcement, asking for them (and grafting).
# shellcheck disable=SC2086
set -- $(totals $NAMES)
if [ "$7" -gt "$ASKED0" ]; then
    pass "(c) the tree was repaired by announcement ($(($7 - ASKED0)) announced entries asked for)"
else
    fail "(c) the tree was repaired by announcement" "asked before $ASKED0, after $7"
fi
kill -USR2 "$(tw_pid "$EAGER")"

# ------------------------------------------------------------- (d)
EVIL=$(tw_tool evilpeer) || { fail "evilpeer is built"; tw_done; }
LOG6=$(tw_log n6)
evil() {
    _o=$1; shift
    timeout 60 "$EVIL" --connect "127.0.0.1:$(port 6)" --netkey "$NETKEY" "$@" >"$F/$_o" 2>&1
}
field() { awk -v k="$1" '$1 == k { $1 = ""; sub(/^ /, ""); print; exit }' "$F/$2"; }

evil edge --mode tree --count 64 --wait 2
if [ "$(field handshake edge)" = ok ] && [ "$(field tree_sent edge)" = 64 ] && [ "$(field closed_by_node edge)" = no ]; then
    pass "(d) 64 PRUNE/GRAFT in a window (2 x TW_PUSH_CTRL_MAX) are accepted"
else
    fail "(d) 64 PRUNE/GRAFT in a window (2 x TW_PUSH_CTRL_MAX) are accepted" "$(cat "$F/edge")"
fi
evil flood --mode tree --count 5000 --wait 3
if [ "$(field closed_by_node flood)" = yes ] && field node_error flood | grep -q "more than 64 PRUNE and GRAFT"; then
    pass "(d) a PRUNE/GRAFT flood is refused with its reason at the 65th"
else
    fail "(d) a PRUNE/GRAFT flood is refused with its reason at the 65th" "$(cat "$F/flood")"
fi
check_file "(d) the flood is logged with its reason" "more than 64 PRUNE and GRAFT" "$LOG6"
evil nofeat --mode tree-nofeat --wait 3
if [ "$(field closed_by_node nofeat)" = yes ] && field node_error nofeat | grep -q "without the push-tree feature"; then
    pass "(d) a PRUNE from a peer that did not offer the push tree is refused"
else
    fail "(d) a PRUNE from a peer that did not offer the push tree is refused" "$(cat "$F/nofeat")"
fi
evil ihave --mode ihave --count 5000 --wait 3
W=$(field wanted_ids ihave)
if [ "$(field announced ihave)" = 5000 ] && [ "${W:-0}" -ge 1 ] && [ "${W:-0}" -le 4096 ]; then
    pass "(d) 5000 unknown ids announced: the node asks for some ($W), never more than TW_PUSH_MISSING_MAX"
else
    fail "(d) 5000 unknown ids announced: the node asks for some, never more than TW_PUSH_MISSING_MAX" "$(cat "$F/ihave")"
fi
check_file "(d) the announced ids it could not track are logged" "announced entries not tracked" "$LOG6"
DROPPED=$(tw n6 --json peers 2>/dev/null | python3 -c 'import json,sys; print(json.load(sys.stdin)["push_tree"]["dropped"])')
if [ "${DROPPED:-0}" -ge 904 ]; then pass "(d) n6 counts the $DROPPED ids it did not track"; else fail "(d) n6 counts the ids it did not track" "dropped ${DROPPED:-?}"; fi

# (e) A peer that does not offer the push tree (evilpeer's hello has only
# the zstd bit) gets new entries in full, and never an IHAVE.
evil plain --mode hello --wait 6 &
EP=$!
tw_track "$EP"
plain_on() {
    tw n6 --json peers >"$F/peers-plain" 2>/dev/null && python3 -c '
import json, sys
for c in json.load(open(sys.argv[1]))["connections"]:
    if c["software"].startswith("evilpeer") and c["state"] == "established":
        sys.exit(0)
sys.exit(1)' "$F/peers-plain"
}
tw_wait_for 5 plain_on || fail "(e) the plain peer connects"
for k in 0 1 2; do publish "n$k" "e-$k" || fail "publish e-$k"; done
tw_wait_for 10 sh -c "'$TWIN' --data-dir '$(tw_dir n6)' show place pt-e-2" || fail "(e) n6 has the entries"
sleep 0.5
tw n6 --json peers >"$F/peers-plain" 2>/dev/null
PLAIN=$(python3 -c '
import json, sys
for c in json.load(open(sys.argv[1]))["connections"]:
    if c["software"].startswith("evilpeer") and c["state"] == "established":
        p = c["push"]
        print(p["tree"], p["eager"], p["pushed"], p["announced"])' "$F/peers-plain")
if [ "$PLAIN" = "False True 3 0" ]; then pass "(e) a peer without the push tree gets every new entry in full, no IHAVE"
else fail "(e) a peer without the push tree gets every new entry in full, no IHAVE" "tree eager pushed announced: $PLAIN"; fi
wait "$EP" 2>/dev/null

# The node still serves its honest peers.
publish n6 after-evil || fail "publish after the hostile peers"
# shellcheck disable=SC2086
if tw_wait_converged 30 $NAMES; then pass "(d) after the hostile peers, an entry of n6 still reaches every node"
else fail "(d) after the hostile peers, an entry of n6 still reaches every node" "$TW_CONV_DETAIL"; fi

for n in $NAMES; do tw_stop "$n" || fail "$n exits cleanly (status $TW_REAP_RC)"; done
tw_stop p43
tw_stop p45
tw_done
