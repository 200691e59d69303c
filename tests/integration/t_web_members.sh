#!/bin/sh
# Members and invitations through the web interface, in a real browser
# (tests/web/members.js; Debian's chromium driven by puppeteer-core, pinned
# in tests/web/package-lock.json): a hub and a new node, each with its
# interface on 127.0.0.1.  On the hub's page an invitation is made and its
# code copied with the page's button; on the new node's page it is joined
# with; on the hub's page the key the new node's page shows is vouched for;
# a group published on the new node's page arrives in the hub's registry;
# revoked from the hub's page, member and group are gone.  Arabic pages
# right-to-left (screenshot in tests/out/t_web_members/), axe-core and the
# keyboard on each new page.  Then twin agrees with what the pages showed,
# and the code is in neither node's log.  Prints SKIP (not PASS) when no
# browser or no npm can be had.
cd "$(dirname "$0")/../.." || exit 1
. tests/integration/lib.sh

OUT=tests/out/t_web_members
mkdir -p "$OUT"
tw_web_setup

key_of() { tw "$1" --json status | python3 -c 'import json,sys; print(json.load(sys.stdin)[sys.argv[1]])' "${2:-node}"; }
PH=$(tw_free_port); AH=127.0.0.1:$(tw_free_port); AN=127.0.0.1:$(tw_free_port)
check "the hub starts, listening on 127.0.0.1:$PH, its interface on $AH" tw_start hub --listen "127.0.0.1:$PH" --http "$AH"
check "the new node starts, its interface on $AN" tw_start new --http "$AN"
size=$(sed -n 's/.*web interface at .* (\([0-9]*\) bytes of pages).*/\1/p' "$(tw_log hub)" | head -n 1)
echo "figure: interface size $size bytes (every page, script, style and translation compiled in)"
[ -n "$size" ] && [ "$size" -lt 204800 ] && pass "the whole interface is under 200 KB ($size bytes)" || fail "interface size: ${size:-unknown}"
NET_NEW0=$(key_of new network)
tw_run tw hub ui --no-open; UH=$(cat "$TW_OUT")
tw_run tw new ui --no-open; UN=$(cat "$TW_OUT")
case "$UH$UN" in *"/login#"*"/login#"*) pass "twin ui prints both login URLs" ;; *) fail "twin ui prints both login URLs" "$UH $UN" ;; esac

CODE=$TW_ROOT/code.txt
CHROMIUM=$CHROMIUM timeout 400 node "$NM/members.js" "$UH" "http://$AH" "$UN" "http://$AN" "$(pwd)/$OUT" "$CODE" \
    >"$TW_ROOT/browser.out" 2>&1
rc=$?
cat "$TW_ROOT/browser.out"
TW_NPASS=$((TW_NPASS + $(grep -c '^PASS:' "$TW_ROOT/browser.out")))
TW_NFAIL=$((TW_NFAIL + $(grep -c '^FAIL:' "$TW_ROOT/browser.out")))
[ "$rc" = 0 ] || fail "the browser script exited $rc"
[ -s "$OUT/web_members_ar.png" ] && pass "the Arabic members screenshot is kept ($OUT/web_members_ar.png)" || fail "no Arabic members screenshot"

# What twin says agrees with the pages.
NET_HUB=$(key_of hub network); NET_NEW=$(key_of new network)
[ -n "$NET_HUB" ] && [ "$NET_NEW" = "$NET_HUB" ] && [ "$NET_NEW" != "$NET_NEW0" ] &&
    pass "twin: the new node is in the hub's network ($NET_HUB), no longer in its own" ||
    fail "twin: the new node is in the hub's network" "hub $NET_HUB new $NET_NEW (was $NET_NEW0)"
tw_run tw hub --json members
KEY_NEW=$(key_of new)
python3 - "$TW_OUT" "$KEY_NEW" <<'PY' && pass "twin members on the hub: the hub is root, the revoked node is not listed" || fail "twin members on the hub" "$(cat "$TW_OUT")"
import json, sys
m = json.load(open(sys.argv[1]))
keys = [x["key"] for x in m["members"]]
sys.exit(0 if [x["role"] for x in m["members"]] == ["root"] and sys.argv[2] not in keys and not m["open"] else 1)
PY
tw_run tw hub list group
grep -q "Camden Abu Dis Friendship Group" "$TW_OUT" && fail "twin list on the hub still shows the revoked node's group" ||
    pass "twin list on the hub does not show the revoked node's group"
# Revoked, the new node's own group stays on its disk (hidden, not deleted).
tw_run tw new --json status
python3 -c 'import json,sys; d=json.load(open(sys.argv[1])); sys.exit(0 if d["hidden"] >= 1 else 1)' "$TW_OUT" &&
    pass "the new node keeps its group on its disk, hidden while it is not admitted" ||
    fail "the new node keeps its group on its disk" "$(cat "$TW_OUT")"

# The code holds the network key: in neither log, whole or in part.
if [ -s "$CODE" ]; then
    c=$(head -n 1 "$CODE"); mid=$(echo "$c" | cut -c 20-60)
    [ -s "$(tw_log hub)" ] && [ -s "$(tw_log new)" ] && ! grep -qF -e "$c" -e "$mid" "$(tw_log hub)" "$(tw_log new)" &&
        pass "the invitation code is in neither node's log (${#c} characters looked for, and characters 20 to 60 alone)" ||
        fail "the invitation code is in a node log"
    grep -q "invitation" "$(tw_log hub)" && pass "... though the hub logs that it made an invitation" ||
        fail "the hub does not log that it made an invitation"
else
    fail "the browser wrote no code to look for in the logs"
fi
leaks=""
for s in "${UH#*#}" "${UN#*#}"; do grep -qF -- "$s" "$(tw_log hub)" "$(tw_log new)" && leaks="$leaks token"; done
[ -z "$leaks" ] && pass "no login token in the logs" || fail "a login token is in a log"
tw_stop hub || fail "twind hub did not stop cleanly"
tw_stop new || fail "twind new did not stop cleanly"
tw_done
