#!/bin/sh
# A network partition and its healing.  Five nodes: side A = {n1, n2},
# side B = {n3, n4, n5}.  Links inside a side are direct; the three links
# across the cut go through faultproxy instances, so SIGUSR1 to those
# proxies partitions the network and SIGUSR2 heals it.  Each node deletes
# the peer record it published at start-up, so no node learns another's
# direct address and every link is one this script laid out.
#
# During the partition each side writes: an author on A updates its record
# while B holds the older version, an author on A deletes a record B holds,
# and the same the other way round, plus new records on both sides.  After
# healing (anti-entropy every 2 s, and one `twin sync`) every node must
# converge on one digest in which the newest version of each slot won.
. tests/integration/lib.sh

F=$TW_ROOT/files
mkdir -p "$F"
CONV_S=30
ALL="n1 n2 n3 n4 n5"

for i in 1 2 3 4 5; do eval "P$i=$(tw_free_port)"; done
port_of() { eval "echo \$P${1#n}"; }
jq_() {
    if [ "$(tw_json "$2" "$3" 2>"$TW_ERR")" = true ]; then pass "$1"; else
        fail "$1" "false: $3"; head -c 600 "$2" | sed 's/^/      /'; fi
}
converge() {
    _d=$1; shift
    if tw_wait_converged "$CONV_S" "$@"; then pass "$_d (${TW_CONV_S} s)"; echo "    figure: $_d in $TW_CONV_S s"; else
        fail "$_d" "digests/entries:$TW_CONV_DETAIL"; fi
}
key_of() { tw "$1" --json status | python3 -c 'import json,sys; print(json.load(sys.stdin)["node"])'; }
# connected NODE KEY: NODE has an established connection to the node of KEY.
connected() {
    tw "$1" --json peers 2>/dev/null | python3 -c 'import json,sys
sys.exit(0 if any(c["key"] == sys.argv[1] and c["state"] == "established" for c in json.load(sys.stdin)["connections"]) else 1)' "$2"
}
# cross_links: established connections between the sides, seen from side A.
cross_links() {
    _k=0
    for a in n1 n2; do for b in $KEYS_B; do connected "$a" "$b" && _k=$((_k + 1)); done; done
    echo "$_k"
}
no_cross() { [ "$(cross_links)" = 0 ]; }
all_cross() { [ "$(cross_links)" -ge 3 ]; }
show() { tw "$1" --json show "$2" "$3" >"$F/$1-$2-$3.json" 2>"$F/err"; echo "$F/$1-$2-$3.json"; }

# ------------------------------------------------------------- start-up

tw_start n1 || { fail "n1 starts"; tw_done; }
NETKEY=$(tw_netkey n1)
tw_stop n1
CONF=$(tw_conf common "network_key = $NETKEY" "sync_interval = 2" "log_level = debug")
ok=1
for n in $ALL; do
    tw_start "$n" --config "$CONF" --listen "127.0.0.1:$(port_of "$n")" || ok=0
    tw "$n" delete peer self >/dev/null 2>&1 || ok=0
done
[ "$ok" = 1 ] && pass "five nodes start and withdraw their peer records" || fail "five nodes start and withdraw their peer records"

# Proxies for the links across the cut: n2 -> n3, n1 -> n5, n4 -> n1.
ok=1
tw_proxy x23 "127.0.0.1:$P3" || ok=0
tw_proxy x15 "127.0.0.1:$P5" || ok=0
tw_proxy x41 "127.0.0.1:$P1" || ok=0
[ "$ok" = 1 ] && pass "three proxies start for the links across the cut" || fail "three proxies start for the links across the cut"
PROXIES="$(tw_pid x23) $(tw_pid x15) $(tw_pid x41)"

ok=1
tw n2 peers add "127.0.0.1:$P1" >/dev/null || ok=0
tw n4 peers add "127.0.0.1:$P3" >/dev/null || ok=0
tw n5 peers add "127.0.0.1:$P4" >/dev/null || ok=0
tw n2 peers add "127.0.0.1:$(tw_proxy_port x23)" >/dev/null || ok=0
tw n1 peers add "127.0.0.1:$(tw_proxy_port x15)" >/dev/null || ok=0
tw n4 peers add "127.0.0.1:$(tw_proxy_port x41)" >/dev/null || ok=0
[ "$ok" = 1 ] && pass "links laid out with twin peers add" || fail "links laid out with twin peers add"

KEYS_B="$(key_of n3) $(key_of n4) $(key_of n5)"
if tw_wait_for 20 all_cross; then pass "the three links across the cut are up"; else fail "the three links across the cut are up" "$(cross_links) up"; fi

check "n1 publishes group leeds-nablus" tw n1 publish group leeds-nablus name="Leeds Nablus Friendship" \
    group_kind=friendship_group nation=england region=E12000003 "description=version 1"
check "n2 publishes place tubas" tw n2 publish place tubas name_en=Tubas name_ar="طوباس" place_kind=town \
    country=PS subdivision=PS-TBS area=west_bank
check "n3 publishes place jericho" tw n3 publish place jericho name_en=Jericho name_ar="أريحا" place_kind=city \
    country=PS subdivision=PS-JRH area=west_bank "description=version 1"
check "n5 publishes group dundee-nablus" tw n5 publish group dundee-nablus name="Dundee Nablus Twinning" \
    group_kind=twinning_association nation=scotland region=S92000003
converge "the network converges before the partition" $ALL
D_BEFORE=$(tw_digest n1)

# ------------------------------------------------------------- partition

# shellcheck disable=SC2086
kill -USR1 $PROXIES
if tw_wait_for 15 no_cross; then pass "SIGUSR1 to the proxies cuts every link across"; else fail "SIGUSR1 to the proxies cuts every link across" "$(cross_links) still up"; fi

check "A: n1 updates leeds-nablus (B holds version 1)" tw n1 publish group leeds-nablus name="Leeds Nablus Friendship" \
    group_kind=friendship_group nation=england region=E12000003 "description=version 2, written on side A"
check "A: n2 deletes tubas (B holds it)" tw n2 delete place tubas
check "A: n1 publishes a new place" tw n1 publish place qalqilya name_en=Qalqilya name_ar="قلقيلية" \
    place_kind=city country=PS subdivision=PS-QQA area=west_bank
check "B: n3 updates jericho (A holds version 1)" tw n3 publish place jericho name_en=Jericho name_ar="أريحا" \
    place_kind=city country=PS subdivision=PS-JRH area=west_bank "description=version 2, written on side B"
check "B: n5 deletes dundee-nablus (A holds it)" tw n5 delete group dundee-nablus
check "B: n4 publishes a new group" tw n4 publish group york-hebron name="York Hebron Link" \
    group_kind=church nation=england region=E12000003
check "B: n3 updates jericho again" tw n3 publish place jericho name_en=Jericho name_ar="أريحا" \
    place_kind=city country=PS subdivision=PS-JRH area=west_bank "description=version 3, written on side B"

converge "side A converges on its own" n1 n2
converge "side B converges on its own" n3 n4 n5
# Two anti-entropy intervals and more: nothing may leak across the cut.
sleep 5
DA=$(tw_digest n1); DB=$(tw_digest n3)
if [ -n "$DA" ] && [ "$DA" != "$DB" ] && [ "$DA" != "$D_BEFORE" ] && [ "$DB" != "$D_BEFORE" ]; then
    pass "the sides differ during the partition"
else
    fail "the sides differ during the partition" "A $DA B $DB before $D_BEFORE"
fi
jq_ "side B still holds version 1 of leeds-nablus" "$(show n4 group leeds-nablus)" 'd[0]["body"]["description"] == "version 1"'
jq_ "side B still holds tubas (deleted on A)" "$(show n5 place tubas)" 'd[0]["body"] is not None'
jq_ "side A still holds dundee-nablus" "$(show n2 group dundee-nablus)" 'd[0]["body"] is not None'
REFUSED=$(( $(tw_proxy_stat x23 refused) + $(tw_proxy_stat x15 refused) + $(tw_proxy_stat x41 refused) ))
echo "    figure: connections refused by the partitioned proxies: $REFUSED"

# ------------------------------------------------------------- heal

# shellcheck disable=SC2086
kill -USR2 $PROXIES
HEAL0=$(date +%s%N)
if tw_wait_for 30 all_cross; then pass "SIGUSR2 heals: the links across come back"; else fail "SIGUSR2 heals: the links across come back" "$(cross_links) up"; fi
check "twin sync on n3" tw n3 sync
converge "every node converges after healing" $ALL
echo "    figure: from SIGUSR2 to one digest everywhere: $(awk -v a="$HEAL0" -v b="$(date +%s%N)" 'BEGIN { printf "%.1f", (b - a) / 1e9 }') s (redial backoff included)"

for n in $ALL; do
    jq_ "$n: newest leeds-nablus won (written on A)" "$(show "$n" group leeds-nablus)" \
        'len(d) == 1 and d[0]["body"]["description"] == "version 2, written on side A"'
    jq_ "$n: newest jericho won (written twice on B)" "$(show "$n" place jericho)" \
        'len(d) == 1 and d[0]["body"]["description"] == "version 3, written on side B"'
    jq_ "$n: tubas is deleted (deleted on A)" "$(show "$n" place tubas)" 'len(d) == 1 and d[0]["body"] is None'
    jq_ "$n: dundee-nablus is deleted (deleted on B)" "$(show "$n" group dundee-nablus)" 'len(d) == 1 and d[0]["body"] is None'
    jq_ "$n: has both sides' new records" "$(show "$n" place qalqilya)" 'len(d) == 1 and d[0]["verified"] is True'
    jq_ "$n: has york-hebron" "$(show "$n" group york-hebron)" 'len(d) == 1 and d[0]["verified"] is True'
done
tw n1 --json status >"$F/st1.json"
jq_ "superseded versions are not kept: 6 records, 2 tombstones" "$F/st1.json" \
    'd["entries"] == 6 + 5 and d["tombstones"] == 2 + 5'

bad=""
for n in $ALL; do grep -q "misbehaved\|) refused: " "$(tw_log "$n")" && bad="$bad $n"; done
[ -z "$bad" ] && pass "no node is reported misbehaving (logs)" || fail "no node is reported misbehaving (logs)" "in:$bad"
bad=""
for n in $ALL; do tw_stop "$n" || bad="$bad $n:$TW_REAP_RC"; done
[ -z "$bad" ] && pass "every node stops with status 0" || fail "every node stops with status 0" "$bad"
bad=""
for p in x23 x15 x41; do tw_stop "$p" || bad="$bad $p:$TW_REAP_RC"; done
[ -z "$bad" ] && pass "every proxy exits 0" || fail "every proxy exits 0" "$bad"
tw_done
