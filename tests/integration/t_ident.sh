#!/bin/sh
# Several nodes per association, key succession and recovery, with real
# daemons on 127.0.0.1 (proto/PROTOCOL.md "Associations and their keys"):
#   - a hub (root) vouches for association A (node a1) and association B
#     (node b); a new machine a2 becomes a device of A through a one-time
#     code (device add / join / accept);
#   - a1 and a2 publish the same slot alternately, a2 once while offline:
#     every node converges on the newest, reports count one group for A;
#   - A revokes a2 while a2 is offline; what a2 writes later is refused on
#     every node, what it wrote before stays, a1 is unaffected;
#   - A rotates to a planned key while b is offline; b catches up by
#     bundle: one identity everywhere, history kept, the old key (a thief
#     holding it) refused;
#   - A's key is lost: the hub (its voucher) recovers it to a new node a3
#     while b is offline again; b catches up by bundle; entries the lost key
#     signs from then on are refused everywhere, earlier ones stay.
. tests/integration/lib.sh
. tests/integration/lib_trust.sh

F=$TW_ROOT/files
mkdir -p "$F"
CONV_S=40
NODES="hub a1 a2 b"

for n in hub a1 a2 b a3 thief x y; do eval "P_$n=$(tw_free_port)"; done
converge() {
    _d=$1; shift
    if tw_wait_converged "$CONV_S" "$@"; then pass "$_d (${TW_CONV_S} s)"; else
        fail "$_d" "digests/entries:$TW_CONV_DETAIL"; fi
}
# name_is NODE SLOT NAME: the node shows group SLOT with this name, once.
name_is() { tw "$1" --json list group 2>/dev/null | python3 -c 'import json,sys
d = [r for r in json.load(sys.stdin) if r["slot"] == sys.argv[1]]
sys.exit(0 if len(d) == 1 and d[0]["body"].get("name") == sys.argv[2] else 1)' "$2" "$3"; }
has() { tw "$1" --json list "$2" 2>/dev/null | python3 -c 'import json,sys
d = json.load(sys.stdin); sys.exit(0 if any(r["slot"] == sys.argv[1] for r in d) else 1)' "$3"; }
lacks() { ! has "$@"; }
# every DESC NODES COND ARGS...: COND ARGS holds on each node (bounded wait).
every() {
    _d=$1; _ns=$2; _c=$3; shift 3
    _bad=""
    for _n in $_ns; do tw_wait_for "$CONV_S" "$_c" "$_n" "$@" || _bad="$_bad $_n"; done
    if [ -z "$_bad" ]; then pass "$_d"; else fail "$_d" "not on:$_bad"; fi
}
# groups NODE: the number of groups a report counts.
groups() { tw "$1" --json stats 2>/dev/null | python3 -c 'import json,sys
d = json.load(sys.stdin); print(sum(d["groups_by_kind"].values()))'; }

# ------------------------------------------------------------- keys and config

tw_rooted_keys hub a1 b a3 || tw_done
# Offline: no listener, no dialling.
OFFCONF=$(tw_conf off "network_key = $NETKEY" "root = $K_hub" "outbound_target = 0" "log_level = debug")
args_of() {
    case $1 in
        hub) echo "--config $CONF --listen 127.0.0.1:$P_hub" ;;
        a1) echo "--config $CONF --listen 127.0.0.1:$P_a1 --peer 127.0.0.1:$P_hub" ;;
        b) echo "--config $CONF --listen 127.0.0.1:$P_b --peer 127.0.0.1:$P_hub" ;;
        a3) echo "--config $CONF --listen 127.0.0.1:$P_a3 --peer 127.0.0.1:$P_hub" ;;
        # a2 is a fresh machine: no config, it joins by the device code.
        a2) echo "--listen 127.0.0.1:$P_a2" ;;
        a2off) echo "--config $OFFCONF" ;;
    esac
}
for n in hub a1 b; do
    # shellcheck disable=SC2046
    tw_start "$n" $(args_of "$n") || { fail "$n starts"; tw_done; }
done
check "the hub vouches for association A" tw hub vouch "$K_a1" --name "Exampleton Twinning Association"
check "the hub vouches for association B" tw hub vouch "$K_b" --name "Sampleford Friendship Group"

# ------------------------------------------------------------- a device joins

tw_start a2 $(args_of a2) || { fail "a2 starts"; tw_done; }
K_a2=$(key_of a2)
check_out "b makes a device code of its own" 0 "twd_" \
    tw b device add --label "spare laptop" --address "127.0.0.1:$P_b"
tw a1 device add --label "office laptop" --address "127.0.0.1:$P_a1" >"$F/code" 2>"$F/code.err"
CODE=$(cat "$F/code")
case $CODE in twd_*) pass "a1 makes a device code" ;; *) fail "a1 makes a device code" "$(cat "$F/code.err")" ;; esac
check_out "a1 refuses to answer its own code" 1 "made by this node" tw a1 device join "$CODE"
tw a2 device join "$CODE" >"$F/answer" 2>"$F/answer.err"
ANSWER=$(cat "$F/answer")
case $ANSWER in twa_*) pass "a2 joins the network by the code and answers" ;; *) fail "a2 answers" "$(cat "$F/answer.err")" ;; esac
check_out "b cannot accept an answer to a1's code" 1 "another node" tw b device accept "$ANSWER"
check_out "a1 accepts the answer: a2 is its device" 0 "office laptop" tw a1 device accept "$ANSWER"
check_out "the same answer is refused a second time (one use)" 1 "no device code of this node matches" \
    tw a1 device accept "$ANSWER"
tw a1 --json device list >"$F/list1.json"
jq_ "a1 lists a2 as a device of A" "$F/list1.json" \
    'any(k["key"] == "'"$K_a2"'" and k["role"] == "device" and k["label"] == "office laptop" for k in d["keys"])'
st_says() { tw "$1" status 2>/dev/null | grep -qF "$2"; }
if tw_wait_for "$CONV_S" st_says a2 "admitted as device office laptop of Exampleton Twinning Association"; then
    pass "a2's status says whose device it is"
else
    fail "a2's status says whose device it is" "$(tw a2 status 2>&1 | grep -i admi)"
fi
check_out "a device cannot make device codes" 1 "device of its association" \
    tw a2 device add --label "another" --address "127.0.0.1:$P_a2"

# Wrong uses, each with its reason.
check_out "a cut code is refused as mistyped" 1 "mistyped or incomplete" tw a2 device join twd_aaaaaaaa
check_out "a node key is not a device code" 1 "not a device code" tw a2 device join "$K_b"
check_out "a cut answer is refused as mistyped" 1 "mistyped or incomplete" tw a1 device accept twa_aaaaaaaa
LONG=$(python3 -c 'print("twa_" + "a" * 16380)')
check_out "an answer of TW_INVITE_INPUT_MAX bytes is read (and refused as mistyped)" 1 "mistyped or incomplete" tw a1 device accept "$LONG"
check_out "one byte more is refused for its length, not cut" 2 "longer than 16384 bytes" tw a1 device accept "${LONG}a"
check_out "... and a code too" 2 "longer than 16384 bytes" tw a1 device join "${LONG}a"
check_out "revoking a key that is not a device of A is refused" 1 "not a device of this association" \
    tw a1 device revoke "$K_b"
check_out "revoking by something that is not a key is refused" 1 "neither a node key" tw a1 device revoke zzzz
check_out "a device add without a label is a usage error" 2 "--label" tw a1 device add

# ------------------------------------------------------------- one slot, two nodes

check "a1 publishes A's group" tw a1 publish group exampleton name="Exampleton Twinning Association" \
    group_kind=twinning_association nation=england
every "A's group reaches every node" "$NODES" name_is exampleton "Exampleton Twinning Association"
check "a2 publishes the same slot" tw a2 publish group exampleton name="Exampleton Twinning Assoc. (a2)" \
    group_kind=twinning_association nation=england
every "a2's version wins on every node" "$NODES" name_is exampleton "Exampleton Twinning Assoc. (a2)"
check "b publishes its group" tw b publish group sampleford name="Sampleford Friendship Group" \
    group_kind=friendship_group nation=wales
# a2 offline: a1 writes, then a2 (later, without having seen it) writes.
tw_stop a2 || fail "a2 stops"
check "a1 publishes the slot while a2 is offline" tw a1 publish group exampleton name="Exampleton TA (a1 again)" \
    group_kind=twinning_association nation=england
tw_start a2 $(args_of a2off) || fail "a2 starts offline"
sleep 0.05
check "a2, offline, publishes the slot (newer)" tw a2 publish group exampleton name="Exampleton TA (a2 offline)" \
    group_kind=twinning_association nation=england
tw_stop a2
tw_start a2 --config "$CONF" --listen "127.0.0.1:$P_a2" --peer "127.0.0.1:$P_hub" || fail "a2 comes back"
every "every node converges on the newest version (a2's, written offline)" "$NODES" \
    name_is exampleton "Exampleton TA (a2 offline)"
converge "the four nodes converge on one digest" $NODES
for n in $NODES; do
    g=$(groups "$n")
    if [ "$g" = 2 ]; then pass "$n's report counts two groups (A once, B once)"; else fail "$n's report counts two groups" "got $g"; fi
done
tw hub --json show group exampleton >"$F/show.json" 2>/dev/null
jq_ "a record signed by the device names its association" "$F/show.json" \
    'd[0]["association"] == "'"$K_a1"'" and "device office laptop" in d[0]["signed_by"]'
tw hub --json list --author "$K_a2" group >"$F/byauthor.json"
jq_ "listing by the device's key lists the association's records" "$F/byauthor.json" \
    'len(d) == 1 and d[0]["slot"] == "exampleton"'

# ------------------------------------------------------------- revoking a device

check "a2 publishes a place while still certified" tw a2 publish place before-revoke name_en="Battir" \
    place_kind=village country=PS
every "a2's earlier place reaches every node" "$NODES" has place before-revoke
tw_stop a2
check_out "a1 revokes the device" 0 "revoked device office laptop" tw a1 device revoke "$K_a2"
tw_start a2 $(args_of a2off) || fail "a2 starts offline"
check "a2, offline and unaware, publishes a place" tw a2 publish place after-revoke name_en="Husan" \
    place_kind=village country=PS
check "a2, unaware, exports a bundle holding it" tw a2 bundle export "$F/a2.bundle"
check "a1 exports a bundle holding the revocation" tw a1 bundle export "$F/a1.bundle"
tw_stop a2
tw_start a2 --config "$CONF" --listen "127.0.0.1:$P_a2" --peer "127.0.0.1:$P_hub" || fail "a2 comes back"
sleep 3
every "the revoked device's later entry is not shown on any node" "$NODES" lacks place after-revoke
every "its earlier entries stay on every node" "$NODES" has place before-revoke
# Whether a2 pushed its entry before it learnt of the revocation depends on
# timing: a peer that got it refused it with the reason, else a2 hid it.
hidden_a2=$(tw a2 --json status | python3 -c 'import json,sys; print(json.load(sys.stdin)["hidden"])')
if grep -aqF "key revoked as a device" "$(tw_log hub)" "$(tw_log a1)" "$(tw_log b)" || [ "${hidden_a2:-0}" -ge 1 ]; then
    pass "the entry is refused with its reason where it arrived, or hidden by a2 itself"
else
    fail "the entry is refused with its reason where it arrived, or hidden by a2 itself" "hidden on a2: $hidden_a2"
fi
check_out "a2 is told it no longer writes" 1 "no longer writes" tw a2 publish place x name_en=X place_kind=village country=PS
check "a1 is unaffected" tw a1 publish place after-revoke-a1 name_en="Nahalin" place_kind=village country=PS
every "a1's new entry reaches every node" "$NODES" has place after-revoke-a1
converge "the four nodes converge after the revocation" $NODES
# Order of arrival does not matter: x takes the device's late entry first
# and the revocation after, y the other way round.
for n in x y; do tw_start "$n" --config "$OFFCONF" || fail "$n starts offline"; done
tw x bundle import "$F/a2.bundle" >/dev/null 2>&1
tw x bundle import "$F/a1.bundle" >/dev/null 2>&1
tw y bundle import "$F/a1.bundle" >/dev/null 2>&1
check_out "y, knowing the revocation, refuses the late entry from the bundle with the reason" 1 \
    "key revoked as a device" tw y bundle import "$F/a2.bundle"
check_rc "x, which stored it first, hides it once the revocation arrives" 1 has x place after-revoke
check_rc "y does not show it either" 1 has y place after-revoke
check "x shows the device's earlier entry" has x place before-revoke
check "y shows the device's earlier entry" has y place before-revoke
if [ -n "$(tw_digest x)" ] && [ "$(tw_digest x)" = "$(tw_digest y)" ]; then pass "x and y have the same digest"; else
    fail "x and y have the same digest" "x $(tw_digest x) y $(tw_digest y)"; fi
tw x --json status >"$F/x-status.json"
jq_ "x counts the late entry as hidden" "$F/x-status.json" 'd["hidden"] >= 1'
tw_stop x; tw_stop y

# ------------------------------------------------------------- planned rotation

tw_stop b
printf 'correct horse battery staple\n' >"$F/pass"
chmod 600 "$F/pass"
check_out "a1 plans the next key (kept in a file)" 0 "committed" \
    tw a1 key plan "$F/next.key" --passphrase-file "$F/pass"
tw a1 --json device list >"$F/list2.json"
jq_ "A's next key is committed" "$F/list2.json" 'd["commitment"] == "planned"'
check_out "a second, different commitment is refused (and its file named for removal)" 1 "cannot be changed" \
    tw a1 key plan "$F/other.key" --passphrase-file "$F/pass"
check_out "rotating to a key other than the committed one is refused" 1 "commitment mismatch" \
    tw a1 key rotate --to "$F/other.key" --passphrase-file "$F/pass"
check_out "a device cannot plan the association's key" 1 "device of its association" \
    tw a2 key plan "$F/dev.key" --passphrase-file "$F/pass"
check_out "rotating without the planned key is refused" 1 "committed to its next key" tw a1 key rotate
check_out "a1 rotates to the planned key" 0 "signs with from now on" \
    tw a1 key rotate --to "$F/next.key" --passphrase-file "$F/pass"
K_a1new=$(key_of a1)
[ "$K_a1new" != "$K_a1" ] && pass "a1 signs with a new key" || fail "a1 signs with a new key"
check "a1 publishes under the new key" tw a1 publish group exampleton name="Exampleton TA (new key)" \
    group_kind=twinning_association nation=england
every "the new key's version reaches the online nodes" "hub a1 a2" name_is exampleton "Exampleton TA (new key)"
# b was offline: it catches up by a bundle from the hub.
check "the hub exports a bundle" tw hub bundle export "$F/rot.bundle"
tw_start b --config "$CONF" || fail "b starts offline"
check "b imports it" tw b bundle import "$F/rot.bundle"
check "b, caught up, shows the new key's version" name_is b exampleton "Exampleton TA (new key)"
g=$(groups b)
[ "$g" = 2 ] && pass "b's report still counts two groups" || fail "b's report counts two groups" "got $g"
check "b shows A's earlier records still (history kept)" has b place before-revoke
tw b --json device list >/dev/null 2>&1
tw hub --json members >"$F/members.json"
jq_ "members lists A once" "$F/members.json" \
    'sum(1 for m in d["members"] if m["name"] == "Exampleton Twinning Association") == 1'
jq_ "members names A's new key as its current key (what a recovery names)" "$F/members.json" \
    '[k["key"] for m in d["members"] if m["name"] == "Exampleton Twinning Association" for k in m["keys"] if k["current"]] == ["'"$K_a1new"'"]'
tw_stop b
tw_start b $(args_of b) || fail "b comes back online"

# A thief holding the old key: a node started with it.
mkdir -p "$(tw_dir thief)"
cp "$(ls "$(tw_dir a1)"/identity.key.replaced-* | head -n 1)" "$(tw_dir thief)/identity.key"
chmod 600 "$(tw_dir thief)/identity.key"
tw_start thief --config "$CONF" --listen "127.0.0.1:$P_thief" --peer "127.0.0.1:$P_hub" || fail "the thief's node starts"
K_thief=$(key_of thief)
[ "$K_thief" = "$K_a1" ] && pass "the thief holds the old key" || fail "the thief holds the old key"
sleep 3
tw thief publish place stolen-old name_en="Stolen" place_kind=village country=PS >/dev/null 2>&1
sleep 4
every "the old key's later entry is refused on every node" "hub a1 a2 b" lacks place stolen-old
# A thief's own software would not refuse: evilpeer signs with the old key
# and pushes straight to the hub (the thief's node stops first: one
# connection per key).
tw_stop thief
EVIL=$(tw_tool evilpeer) || { fail "evilpeer is built"; tw_done; }
field() { awk -v k="$1" '$1 == k { $1 = ""; sub(/^ /, ""); print; exit }' "$F/$2"; }
seed_of() { grep -v '^#' "$1" | grep . | head -n 1; }
OLDSEED=$(seed_of "$(ls "$(tw_dir a1)"/identity.key.replaced-* | head -n 1)")
timeout 60 "$EVIL" --connect "127.0.0.1:$P_hub" --netkey "$NETKEY" --seed "$OLDSEED" --mode good --wait 2 \
    >"$F/evil-old" 2>&1
SLOT=$(field slot evil-old)
if [ "$(field handshake evil-old)" = ok ] && [ -n "$SLOT" ] && ! tw hub show place "$SLOT" >/dev/null 2>&1; then
    pass "an entry the old key signs now, pushed by hand, is not stored"
else
    fail "an entry the old key signs now, pushed by hand, is not stored" "$(cat "$F/evil-old")"
fi
check_file "the hub logs why" "key succeeded by its association's next key" "$(tw_log hub)"

# ------------------------------------------------------------- recovery through the voucher

# A's laptop (a1, holding A's current key) is lost: whoever has it now is
# the thief.  A's new machine is a3; b is offline during the change.
tw_start a3 $(args_of a3) || fail "a3 starts"
check "the laptop, still A's, publishes before it is lost" tw a1 publish place before-loss name_en="Wadi Fukin" \
    place_kind=village country=PS
every "that entry reaches the online nodes" "hub a2 a3 b" has place before-loss
check_out "b is not A's voucher: its recovery is refused" 1 "not the voucher" tw b key recover "$K_a1new" --to "$K_a3"
tw_stop b
sleep 1
FROM=$(python3 -c 'import time; print(int(time.time() * 1000))')
check_out "the hub (A's voucher) recovers A to a3's key" 0 "recovered" \
    tw hub key recover "$K_a1new" --to "$K_a3" --from "$FROM"
tw_wait_for "$CONV_S" sh -c "'$TWIN' --data-dir '$(tw_dir a3)' --json device list | grep -q '$K_a1'"
check_out "a3, now A's, cannot recover its own association" 1 "its voucher" tw a3 key recover "$K_a1new" --to "$K_b"
check "a3, now A's key, publishes A's group" tw a3 publish group exampleton name="Exampleton TA (recovered)" \
    group_kind=twinning_association nation=england
every "a3's version is A's on the online nodes" "hub a2 a3" name_is exampleton "Exampleton TA (recovered)"
# The thief, holding the lost key, writes after the recovery.
sleep 1
tw a1 publish place after-loss name_en="Battir" place_kind=village country=PS >"$F/thief.out" 2>&1
tw a1 publish group exampleton name="Exampleton (thief)" group_kind=twinning_association nation=england \
    >>"$F/thief.out" 2>&1
sleep 4
every "the lost key's later entries are refused on every online node" "hub a2 a3" lacks place after-loss
every "the thief's version of A's group is not shown anywhere" "hub a2 a3" \
    name_is exampleton "Exampleton TA (recovered)"
every "the lost key's earlier entries stay" "hub a2 a3" has place before-loss
check_out "the thief cannot rotate the lost key" 1 "no longer" tw a1 key rotate
LOSTSEED=$(seed_of "$(tw_dir a1)/identity.key")
tw_stop a1      # one connection per key: the laptop's node steps aside for evilpeer
timeout 60 "$EVIL" --connect "127.0.0.1:$P_a3" --netkey "$NETKEY" --seed "$LOSTSEED" --mode good --wait 2 \
    >"$F/evil-lost" 2>&1
SLOT=$(field slot evil-lost)
if [ "$(field handshake evil-lost)" = ok ] && [ -n "$SLOT" ] && ! tw a3 show place "$SLOT" >/dev/null 2>&1; then
    pass "an entry the lost key signs after the recovery, pushed by hand, is not stored"
else
    fail "an entry the lost key signs after the recovery, pushed by hand, is not stored" "$(cat "$F/evil-lost")"
fi
check_file "a3 logs why" "key lost: its association was recovered" "$(tw_log a3)"
tw_start a1 $(args_of a1) || fail "the laptop's node starts again"
tw a3 --json device list >"$F/list3.json"
jq_ "a3 is A's current key; the lost key is marked recovered" "$F/list3.json" \
    'd["current"] == "'"$K_a3"'" and d["association"] == "'"$K_a1"'" and any(k["key"] == "'"$K_a1new"'" and k["revoked"] for k in d["keys"])'
# b comes back by bundle only.
check "the hub exports a bundle" tw hub bundle export "$F/rec.bundle"
tw_start b --config "$OFFCONF" || fail "b starts offline"
check "b imports it" tw b bundle import "$F/rec.bundle"
check "b shows a3's version of A's group" name_is b exampleton "Exampleton TA (recovered)"
check "b keeps the lost key's earlier entry" has b place before-loss
check_rc "b does not show the lost key's later entry" 1 has b place after-loss
# The bundle door applies the same rule: entries the lost key signs now,
# brought by a bundle, are refused with the reason.
PROPGEN=$(tw_tool propgen) || { fail "propgen is built"; tw_done; }
NOW=$(python3 -c 'import time; print(int(time.time() * 1000))')
"$PROPGEN" hostile --seed "$LOSTSEED" --netkey-file "$(tw_dir hub)/network.key" --out "$F/lost.bundle" \
    --addrs 127.0.0.1:9 --versions 1 --slots 0 --at "$NOW" >/dev/null 2>&1 ||
    fail "propgen makes a bundle signed by the lost key"
check_out "b refuses by bundle what the lost key signs now, naming the reason" 1 "key lost" \
    tw b bundle import "$F/lost.bundle"
for n in hub a2 a3 b; do
    g=$(groups "$n")
    if [ "$g" = 2 ]; then pass "$n's report counts A once after the recovery"; else fail "$n's report counts A once" "got $g"; fi
done
tw b --json members >"$F/members2.json"
jq_ "b's members list A's device and its moved key" "$F/members2.json" \
    'any(m["key"] == "'"$K_a1"'" and any(k["key"] == "'"$K_a2"'" and k["role"] == "device" and k["revoked"] for k in m["keys"]) and any(k["key"] == "'"$K_a3"'" and k["role"] == "successor" for k in m["keys"]) for m in d["members"])'
check_out "twin members shows A's devices column" 0 "key moved" tw b members
jq_ "b's members list A once" "$F/members2.json" \
    'sum(1 for m in d["members"] if m["name"] == "Exampleton Twinning Association") == 1'
# The thief's entries reach b directly: still refused.
tw_stop b
tw_start b $(args_of b) --peer "127.0.0.1:$P_a1" || fail "b comes back online"
sleep 5
check_rc "b, meeting the thief, still does not show its later entry" 1 has b place after-loss
check "b still shows a3's version" name_is b exampleton "Exampleton TA (recovered)"
converge "hub, a2, a3 and b converge" hub a2 a3 b

tw_done
