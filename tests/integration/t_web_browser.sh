#!/bin/sh
# The web interface in a real browser: Debian's chromium, headless, driven
# by puppeteer-core (tests/web/browser.js; versions pinned in
# tests/web/package-lock.json, installed with `npm ci` into $B/web-node).
# Logs in through the URL twin ui prints, publishes a group with a wrong
# field and sees the node's reason beside it, fixes it and sees it listed,
# switches to Arabic (right-to-left; screenshots in tests/out/t_web_browser/),
# runs axe-core on each page and tabs through every control.  Prints SKIP
# (not PASS) when no browser or no npm can be had.
cd "$(dirname "$0")/../.." || exit 1
. tests/integration/lib.sh

OUT=tests/out/t_web_browser
mkdir -p "$OUT"
tw_web_setup

P=$(tw_free_port)
A=127.0.0.1:$P
check "node starts with its web interface on $A" tw_start n1 --http "$A"
# A second node of the same network, whose bundle the browser imports.
check "n2 (same network, no interface) starts" tw_start n2 -c "$(tw_conf n2 "network_key = $(tw_netkey n1)")"
check "n2 publishes its group" tw n2 publish group bradford name="Bradford Nablus Twinning Association" \
    group_kind=twinning_association nation=england
check "n2's bundle is written" tw n2 bundle export "$TW_ROOT/n2.twinbundle"
size=$(sed -n 's/.*web interface at .* (\([0-9]*\) bytes of pages).*/\1/p' "$(tw_log n1)" | head -n 1)
echo "figure: interface size $size bytes (every page, script, style and translation compiled in)"
[ -n "$size" ] && [ "$size" -lt 204800 ] && pass "the whole interface is under 200 KB ($size bytes)" || fail "interface size: ${size:-unknown}"
tw_run tw n1 ui --no-open
URL=$(cat "$TW_OUT")
check_out "twin ui prints the login URL" 0 "http://$A/login#" tw n1 ui --no-open
URL2=$(cat "$TW_OUT")
echo "figure: twind RSS before the browser $(tw_vm "$(tw_pid n1)" VmRSS) KiB"
# The older of the two URLs: a newer token does not spoil an older one.
CHROMIUM=$CHROMIUM timeout 300 node "$NM/browser.js" "$URL" "http://$A" "$(pwd)/$OUT" "$(tw_pid n1)" "$TW_ROOT/n2.twinbundle" >"$TW_ROOT/browser.out" 2>&1
rc=$?
cat "$TW_ROOT/browser.out"
TW_NPASS=$((TW_NPASS + $(grep -c '^PASS:' "$TW_ROOT/browser.out")))
TW_NFAIL=$((TW_NFAIL + $(grep -c '^FAIL:' "$TW_ROOT/browser.out")))
[ "$rc" = 0 ] || fail "the browser script exited $rc"
[ -s "$OUT/web_ar.png" ] && pass "the Arabic screenshot is kept ($OUT/web_ar.png)" || fail "no Arabic screenshot"
check_out "the group published in the browser is in twin list" 0 "Camden Abu Dis" tw n1 list group
check_out "the group of n2's bundle, imported in the browser, is in twin list" 0 "Bradford Nablus" tw n1 list group
leaks=""
for s in "${URL#*#}" "${URL2#*#}"; do grep -qF -- "$s" "$(tw_log n1)" && leaks="$leaks token"; done
[ -z "$leaks" ] && pass "no login token in the node's log" || fail "a login token is in the log"
tw_stop n1 || fail "twind did not stop cleanly"
tw_stop n2 || fail "twind n2 did not stop cleanly"
tw_done
