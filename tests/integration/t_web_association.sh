#!/bin/sh
# An association with several nodes, its next key and a recovery, through
# the web interface in a real browser (tests/web/association.js): the hub
# (the network's root, association A's voucher), a1 (A's node) and a2 (a
# fresh machine), each with its interface on 127.0.0.1; a3 (A's new machine
# after the loss) has none.  The browser adds a2 to A by the code a1's page
# shows, removes it from a date, plans A's next key and moves to it, and
# recovers A's lost key on the hub's page.  Then twin agrees with what the
# pages showed, the code and the passphrase are in no log, and the next
# key's file is where the page said.  Prints SKIP (not PASS) when no
# browser or no npm can be had.
cd "$(dirname "$0")/../.." || exit 1
. tests/integration/lib.sh

OUT=tests/out/t_web_association
mkdir -p "$OUT"
tw_web_setup

key_of() { tw "$1" --json status | python3 -c 'import json,sys; print(json.load(sys.stdin)["node"])'; }
st() { sed -n "s/^$1 //p" "$STATE" | tail -n 1; }
jq_() {
    if [ "$(tw_json "$2" "($3)" 2>"$TW_ERR")" = true ]; then pass "$1"; else
        fail "$1" "false: $3"; head -c 2000 "$2" | sed 's/^/      /'; echo; fi
}

PH=$(tw_free_port); P1=$(tw_free_port); P2=$(tw_free_port); P3=$(tw_free_port)
AH=127.0.0.1:$(tw_free_port); A1=127.0.0.1:$(tw_free_port); A2=127.0.0.1:$(tw_free_port)
tw_start hub || { fail "the hub starts to make its keys"; tw_done; }
K_hub=$(key_of hub)
tw_stop hub
CONF=$(tw_conf common "network_key = $(tw_netkey hub)" "root = $K_hub" "sync_interval = 2")
check "the hub (root) starts, its interface on $AH" tw_start hub --config "$CONF" --listen "127.0.0.1:$PH" --http "$AH"
check "a1 starts, its interface on $A1" tw_start a1 --config "$CONF" --listen "127.0.0.1:$P1" --peer "127.0.0.1:$PH" --http "$A1"
check "a2, a fresh machine, starts, its interface on $A2" tw_start a2 --listen "127.0.0.1:$P2" --http "$A2"
check "a3, A's machine after the loss, starts" tw_start a3 --config "$CONF" --listen "127.0.0.1:$P3" --peer "127.0.0.1:$PH"
K_a1=$(key_of a1); K_a2=$(key_of a2); K_a3=$(key_of a3)
check "the hub vouches for association A (a1)" tw hub vouch "$K_a1" --name "Exampleton Twinning Association"
tw_run tw hub ui --no-open; UH=$(cat "$TW_OUT")
tw_run tw a1 ui --no-open; U1=$(cat "$TW_OUT")
tw_run tw a2 ui --no-open; U2=$(cat "$TW_OUT")

STATE=$TW_ROOT/state.txt
CHROMIUM=$CHROMIUM timeout 500 node "$NM/association.js" "$UH" "http://$AH" "$U1" "http://$A1" "$U2" "http://$A2" \
    "$(pwd)/$OUT" "$STATE" "$K_a3" >"$TW_ROOT/browser.out" 2>&1
rc=$?
cat "$TW_ROOT/browser.out"
TW_NPASS=$((TW_NPASS + $(grep -c '^PASS:' "$TW_ROOT/browser.out")))
TW_NFAIL=$((TW_NFAIL + $(grep -c '^FAIL:' "$TW_ROOT/browser.out")))
[ "$rc" = 0 ] || fail "the browser script exited $rc"
[ -s "$OUT/web_association_ar.png" ] && pass "the Arabic screenshot is kept ($OUT/web_association_ar.png)" || fail "no Arabic screenshot"

# What twin says agrees with the pages.
[ "$(st a1key)" = "$K_a1" ] && [ "$(st a2key)" = "$K_a2" ] && pass "the pages listed a1's and a2's keys as twin status gives them" ||
    fail "the pages' keys" "a1 $(st a1key) / $K_a1, a2 $(st a2key) / $K_a2"
NEW=$(st a1new)
[ -n "$NEW" ] && [ "$(key_of a1)" = "$NEW" ] && pass "twin status on a1: it signs with the key the page showed after the move" ||
    fail "twin status on a1 after the move" "$(key_of a1) / page $NEW"
tw a1 --json device list >"$TW_ROOT/list.json"
jq_ "twin device list on a1: a2 is 'office laptop', revoked, refused from the date the page was given" "$TW_ROOT/list.json" \
    'any(k["key"] == "'"$K_a2"'" and k["label"] == "office laptop" and k["revoked"] and k["cutoff"] == '"$(st revokefrom)"' for k in d["keys"])'
jq_ "... the first key is A's identity, followed by the planned key" "$TW_ROOT/list.json" \
    'd["association"] == "'"$K_a1"'" and any(k["key"] == "'"$NEW"'" and k["role"] == "successor" for k in d["keys"])'
F=$(st planfile)
case $F in "$TW_ROOT/a1/next-key-"*.twinkey) [ -f "$F" ] && [ "$(stat -c %a "$F")" = 600 ] && [ "$(stat -c %s "$F")" = 138 ] &&
    pass "the next key's file is in a1's data directory, as the page said, 138 bytes, mode 600" || fail "the next key's file" "$(ls -l "$F")" ;;
    *) fail "the page said the next key's file is at $F, not in a1's data directory" ;; esac
# A3: the recovery reaches it; it is now A's current key.
if tw_wait_for 40 sh -c "'$TWIN' --data-dir '$TW_ROOT/a3' --json device list | python3 -c 'import json,sys; d=json.load(sys.stdin); sys.exit(0 if d[\"current\"] == sys.argv[1] and d[\"association\"] == sys.argv[2] else 1)' '$K_a3' '$K_a1'"; then
    pass "twin device list on a3: it is association A's key now (the hub's recovery reached it)"
else fail "a3 is not A's current key" "$(tw a3 --json device list)"; fi
tw hub --json members >"$TW_ROOT/members.json"
jq_ "twin members on the hub: A is listed once, under its first key" "$TW_ROOT/members.json" \
    '[x["key"] for x in d["members"] if x["name"] == "Exampleton Twinning Association"] == ["'"$K_a1"'"]'

# Secrets: the code, the answer and the passphrase are in no log.
c=$(st code)
[ -n "$c" ] && ! grep -qF -e "$c" -e "$(echo "$c" | cut -c 20-60)" -e "twelve quiet olive" "$(tw_log hub)" "$(tw_log a1)" "$(tw_log a2)" &&
    pass "the device code (whole or characters 20 to 60) and the passphrase are in no log" || fail "a secret is in a log"
grep -q "planned the next key of this association; its file is $F" "$(tw_log a1)" && pass "a1 logs where the next key's file went" ||
    fail "a1 does not log where the next key's file went"
for n in hub a1 a2 a3; do tw_stop "$n" || fail "twind $n did not stop cleanly"; done
tw_done
