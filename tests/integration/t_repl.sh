#!/bin/sh
# Replication between real twind nodes on 127.0.0.1: five listening nodes in
# a line (n2 dials n1, n3 dials n2, ...; the peer records they publish add
# more links), records of every kind published on each (Arabic text
# included) reach every node, updates and deletions too; a node stopped while
# the others publish catches up when it comes back; a sixth node that only
# dials out, syncing 3000 records through a slow link, is killed with
# SIGKILL in the middle and catches up after a restart; twin peers, twin
# peers add/remove and twin sync --wait; nobody is treated as misbehaving.
. tests/integration/lib.sh

F=$TW_ROOT/files
mkdir -p "$F"
CONV_S=20          # seconds allowed for a convergence
NBULK=3000

for i in 1 2 3 4 5; do eval "P$i=$(tw_free_port)"; done
port_of() { eval "echo \$P${1#n}"; }

# node_args NAME: flags of node NAME in the line topology.
node_args() {
    _i=${1#n}
    _a="--config $CONF --listen 127.0.0.1:$(port_of "$1")"
    [ "$_i" -gt 1 ] && _a="$_a --peer 127.0.0.1:$(port_of "n$((_i - 1))")"
    echo "$_a"
}
start() {
    # shellcheck disable=SC2046
    if tw_start "$1" $(node_args "$1"); then pass "$2"; else fail "$2"; fi
}
key_of() { tw "$1" --json status | python3 -c 'import json,sys; print(json.load(sys.stdin)["node"])'; }
# jq_ DESC FILE EXPR: PASS when the Python expression over d (the JSON in FILE) is true.
jq_() {
    if [ "$(tw_json "$2" "$3" 2>"$TW_ERR")" = true ]; then pass "$1"; else
        fail "$1" "false: $3"; head -c 600 "$2" | sed 's/^/      /'; fi
}
converge() {
    # $1 description, then node names
    _d=$1; shift
    if tw_wait_converged "$CONV_S" "$@"; then pass "$_d (${TW_CONV_S} s)"; echo "    figure: $_d in $TW_CONV_S s"; else
        fail "$_d" "digests/entries:$TW_CONV_DETAIL"; fi
}

# ------------------------------------------------------------- start-up

# The first start creates the network key; every node gets it from the
# same configuration file.
tw_start n1 --listen "127.0.0.1:$P1" || { fail "n1 starts"; tw_done; }
NETKEY=$(tw_netkey n1)
tw_stop n1
CONF=$(tw_conf common "network_key = $NETKEY" "sync_interval = 3" "log_level = debug" "learn_loopback = yes")
for n in n1 n2 n3 n4 n5; do start "$n" "$n starts with the shared network key, listening on its own port"; done

ok=1
for n in n1 n2 n3 n4 n5; do tw_wait_for 15 tw_has_peers "$n" 1 || { ok=0; echo "    $n has no connection"; }; done
[ "$ok" = 1 ] && pass "every node has an established connection" || fail "every node has an established connection"

# ------------------------------------------------------------- publish on each node

check "n1 publishes a group" tw n1 publish group camden-abu-dis name="Camden Abu Dis Friendship Association" \
    group_kind=friendship_group nation=england region=E12000007 local_authority=Camden seeking_partner=no \
    "description=Visits, olive harvest, a choir; أهلا وسهلا"
check "n2 publishes a place with an Arabic name" tw n2 publish place aida-camp name_en="Aida camp" \
    name_ar="مخيم عايدة" place_kind=refugee_camp country=PS subdivision=PS-BTH area=west_bank seeking_partner=yes
check "n3 publishes a link" tw n3 publish link oxford-ramallah group=oxford-ramallah-friends place=ramallah \
    formality=friendship_link status=active since=2001 "activities=school exchange;football"
check "n4 publishes a place" tw n4 publish place beit-sahour name_en="Beit Sahour" name_ar="بيت ساحور" \
    place_kind=town country=PS subdivision=PS-BTH area=west_bank
check "n5 publishes a group in Wales" tw n5 publish group cardiff-jenin name="Cardiff Jenin Link" \
    group_kind=twinning_association nation=wales region=W92000004 seeking_partner=yes
converge "five nodes converge on one digest after publishes on each" n1 n2 n3 n4 n5

tw n5 --json show place aida-camp >"$F/aida5.json"
jq_ "n5 holds n2's place with its Arabic name, verified, not its own" "$F/aida5.json" \
    'len(d) == 1 and d[0]["body"]["name_ar"] == "مخيم عايدة" and d[0]["verified"] is True and d[0]["mine"] is False'
check_out "n1 lists n5's group" 0 "Cardiff Jenin Link" tw n1 list group
check_out "n5 lists n4's Arabic place name" 0 "بيت ساحور" tw n5 list place

# ------------------------------------------------------------- updates and deletions

check "n2 updates its place (same slot)" tw n2 publish place aida-camp name_en="Aida refugee camp" \
    name_ar="مخيم عايدة" place_kind=refugee_camp country=PS subdivision=PS-BTH area=west_bank seeking_partner=no
check "n3 deletes its link" tw n3 delete link oxford-ramallah
converge "update and deletion reach every node" n1 n2 n3 n4 n5
tw n4 --json show place aida-camp >"$F/aida4.json"
jq_ "n4 holds the new version of n2's place" "$F/aida4.json" \
    'len(d) == 1 and d[0]["body"]["name_en"] == "Aida refugee camp" and d[0]["body"]["seeking_partner"] is False'
tw n1 --json show link oxford-ramallah >"$F/link1.json"
jq_ "n1 holds n3's link as a tombstone" "$F/link1.json" 'len(d) == 1 and d[0]["body"] is None and d[0]["verified"] is True'
tw_run tw n5 list link
if [ "$TW_RC" = 0 ] && ! grep -q oxford-ramallah "$TW_OUT"; then pass "n5 no longer lists the deleted link"; else
    fail "n5 no longer lists the deleted link"; tw__show_last; fi

# ------------------------------------------------------------- peers, sync

check_out "twin peers shows established connections" 0 "established" tw n3 peers
tw n5 --json peers >"$F/peers5.json"
jq_ "n5 learnt peer addresses from peer records" "$F/peers5.json" \
    'any(k["source"] == "learnt" for k in d["known"]) and all(c["software"].startswith("twind") for c in d["connections"] if c["state"] == "established")'
check_out "twin sync --wait returns 0 when done" 0 "sync done" tw n3 sync --wait --timeout 30

# ------------------------------------------------------------- a node stopped while the others publish

if tw_stop n4; then pass "n4 stops on SIGTERM with status 0"; else fail "n4 stops on SIGTERM with status 0" "status $TW_REAP_RC"; fi
python3 - "$F/batch1.json" <<'EOF'
import json, sys
recs = [{"kind": "place", "slot": "offline-%02d" % i,
         "body": {"name_en": "Village %d" % i, "name_ar": "قرية %d" % i, "place_kind": "village",
                  "country": "PS", "subdivision": "PS-HBN", "area": "west_bank"}} for i in range(20)]
json.dump(recs, open(sys.argv[1], "w", encoding="utf-8"), ensure_ascii=False)
EOF
check "n1 publishes 20 records while n4 is down" tw n1 publish --file "$F/batch1.json"
check "n5 updates its group while n4 is down" tw n5 publish group cardiff-jenin name="Cardiff Jenin Link" \
    group_kind=twinning_association nation=wales region=W92000004 seeking_partner=no
check "n2 deletes its place while n4 is down" tw n2 delete place aida-camp
converge "the four running nodes converge" n1 n2 n3 n5
start n4 "n4 restarts"
converge "n4 catches up after its restart" n1 n2 n3 n4 n5
tw n4 --json show place aida-camp >"$F/aida4b.json"
jq_ "n4 has the deletion made while it was down" "$F/aida4b.json" 'len(d) == 1 and d[0]["body"] is None'

# ------------------------------------------------------------- kill -9 during a sync

# n6 publishes no address and dials out only, through a rate-capped proxy
# to n1, with one outbound connection: the sync of the bulk records takes
# a few seconds, long enough to kill it in the middle.
python3 - "$NBULK" "$F/bulk.json" <<'EOF'
import csv, json, sys
n, out = int(sys.argv[1]), sys.argv[2]
gov = list(csv.DictReader(open("proto/data/ps-governorates.csv")))
reg = list(csv.DictReader(open("proto/data/uk-nations-regions.csv")))
ar = ["أبو ديس", "بيت ساحور", "نابلس", "جنين", "مخيم عايدة", "بيت لحم", "الخليل", "أريحا"]
recs = []
for i in range(n):
    if i % 2 == 0:
        g = gov[i % len(gov)]
        recs.append({"kind": "place", "slot": "bulk-place-%05d" % i,
                     "body": {"name_en": "Bulk Place %d" % i, "name_ar": ar[i % len(ar)], "place_kind": "village",
                              "country": "PS", "subdivision": g["code"], "area": g["area"]}})
    else:
        r = reg[i % len(reg)]
        recs.append({"kind": "group", "slot": "bulk-group-%05d" % i,
                     "body": {"name": "Bulk Friendship Association %d" % i, "group_kind": "friendship_group",
                              "nation": r["nation"], "region": r["code"]}})
json.dump(recs, open(out, "w", encoding="utf-8"), ensure_ascii=False)
EOF
check_out "n3 imports $NBULK records" 0 "$NBULK imported" tw n3 import "$F/bulk.json"
converge "the five nodes converge after the import" n1 n2 n3 n4 n5
TOTAL=$(tw_entries n1)
echo "    figure: $TOTAL entries on every node"

if tw_proxy slow "127.0.0.1:$P1" --rate 150000; then pass "rate-capped proxy starts"; else fail "rate-capped proxy starts"; fi
CONF6=$(tw_conf n6 "network_key = $NETKEY" "sync_interval = 3" "outbound_target = 1" "peer = 127.0.0.1:$(tw_proxy_port slow)")
start6() { tw_start n6 --config "$CONF6"; }
if start6; then pass "n6 (dial-out only) starts"; else fail "n6 (dial-out only) starts"; fi
KILLED_AT=""
i=0
while [ "$i" -lt 600 ]; do        # 600 x >= 0.02 s
    e=$(tw_entries n6)
    if [ -n "$e" ] && [ "$e" -ge $((TOTAL / 5)) ]; then
        tw_kill9 n6
        KILLED_AT=$e
        break
    fi
    sleep 0.02
    i=$((i + 1))
done
if [ -n "$KILLED_AT" ] && [ "$KILLED_AT" -lt "$TOTAL" ]; then
    pass "n6 killed with SIGKILL in the middle of its sync ($KILLED_AT of $TOTAL entries)"
else
    fail "n6 killed with SIGKILL in the middle of its sync" "entries at kill: ${KILLED_AT:-none} of $TOTAL"
    tw_kill9 n6
fi
if start6; then pass "n6 restarts after SIGKILL"; else fail "n6 restarts after SIGKILL"; fi
AFTER=$(tw_entries n6)
[ -n "$AFTER" ] && [ "$AFTER" -ge "${KILLED_AT:-0}" ] && pass "n6 kept what it had stored ($AFTER >= $KILLED_AT entries)" ||
    fail "n6 kept what it had stored" "$AFTER < $KILLED_AT"
converge "n6 catches up after the restart" n1 n2 n3 n4 n5 n6
tw n6 --json show group bulk-group-02999 >"$F/bulk6.json"
jq_ "n6 holds the last bulk record, verified" "$F/bulk6.json" \
    'len(d) == 1 and d[0]["verified"] is True and d[0]["body"]["name"] == "Bulk Friendship Association 2999"'
tw n6 --json status >"$F/status6.json"
jq_ "n6 published no peer record (it does not listen)" "$F/status6.json" 'd["kinds"]["peer"] == 5'

# ------------------------------------------------------------- twin peers add / remove

K2=$(key_of n2)
check "peers remove of a configured peer" tw n3 peers remove "127.0.0.1:$P2"
tw n3 --json peers >"$F/peers3.json"
jq_ "the removed address is no longer known" "$F/peers3.json" \
    'not any(k["address"] == "127.0.0.1:'"$P2"'" for k in d["known"])'
check_rc "peers remove of an unknown address exits 1" 1 tw n3 peers remove 127.0.0.1:9
check_rc "peers add of a malformed address exits 1" 1 tw n3 peers add not-an-address
check "peers add of n2's address" tw n3 peers add "127.0.0.1:$P2"
tw n3 --json peers >"$F/peers3b.json"
jq_ "the added address is known as manual" "$F/peers3b.json" \
    'any(k["address"] == "127.0.0.1:'"$P2"'" and k["source"] == "manual" for k in d["known"])'
connected_to() {
    tw "$1" --json peers | python3 -c 'import json,sys
sys.exit(0 if any(c["key"] == sys.argv[1] and c["state"] == "established" for c in json.load(sys.stdin)["connections"]) else 1)' "$2"
}
if tw_wait_for 15 connected_to n3 "$K2"; then pass "n3 is connected to n2 after peers add"; else fail "n3 is connected to n2 after peers add"; fi
check "n2 publishes after the re-add" tw n2 publish place aida-camp name_en="Aida camp" name_ar="مخيم عايدة" \
    place_kind=refugee_camp country=PS subdivision=PS-BTH area=west_bank seeking_partner=yes
converge "all six nodes converge at the end" n1 n2 n3 n4 n5 n6
tw n6 --json show place aida-camp >"$F/aida6.json"
jq_ "a record republished after its deletion reaches every node" "$F/aida6.json" \
    'len(d) == 1 and d[0]["body"] is not None and d[0]["body"]["name_en"] == "Aida camp"'

# ------------------------------------------------------------- logs

bad=""
for n in n1 n2 n3 n4 n5 n6; do grep -q "misbehaved\|) refused: " "$(tw_log "$n")" && bad="$bad $n"; done
[ -z "$bad" ] && pass "no node is reported misbehaving, no entry refused (logs)" ||
    fail "no node is reported misbehaving, no entry refused (logs)" "in:$bad" "$(cat "$TW_ROOT"/n*.log | grep -m 5 "misbehaved\|) refused: ")"
bad=""
for n in n1 n2 n3 n4 n5 n6; do tw_stop "$n" || bad="$bad $n:$TW_REAP_RC"; done
[ -z "$bad" ] && pass "every node stops with status 0" || fail "every node stops with status 0" "$bad"
tw_stop slow
tw_done
