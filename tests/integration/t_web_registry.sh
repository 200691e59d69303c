#!/bin/sh
# The registry and a link's record in the web interface, in a real browser
# (tests/web/registry.js; chromium driven by puppeteer-core, pinned in
# tests/web/package-lock.json).  A group node whose store holds 1200
# records of 1000 authors (tests/tools/bench_ingest) and a committee node:
# the group states its link to the committee's place and the committee
# states it back (confirmed); another group's link to the same place is
# stated by one side only; the group node also lists the committee's place
# itself (a listing the committee's own record supersedes).  In the
# browser: each filter (governorate, nation, status, confirmed yes/no, and
# a kind alone) pages through its rows 100 at a time and finds as many
# rows as twin list with the same filter; each page view asks the node for
# one page only; the link's page shows both statements with their authors'
# names and says confirmed; the one-sided link's page says not confirmed;
# the superseded listing names its committee's record; axe-core and the
# keyboard on each new state, in English and Arabic.  Prints SKIP (not
# PASS) when no browser or no npm can be had.
cd "$(dirname "$0")/../.." || exit 1
. tests/integration/lib.sh

OUT=tests/out/t_web_registry
mkdir -p "$OUT"
tw_web_setup

check "a store of 1200 records of 1000 authors is made" "$B/tools/bench_ingest" "$TW_ROOT/grp" 1200
P=$(tw_free_port); A=127.0.0.1:$(tw_free_port)
check "the group node starts on that store, listening on 127.0.0.1:$P, its interface on $A" \
    tw_start grp --listen "127.0.0.1:$P" --http "$A"
CONF=$(tw_conf comm "network_key = $(tw_netkey grp)" "sync_interval = 2")
check "the committee node starts in the same network" tw_start comm --config "$CONF" --peer "127.0.0.1:$P"
key_of() { tw "$1" --json status | python3 -c 'import json,sys; print(json.load(sys.stdin)["node"])'; }
GK=$(key_of grp); CK=$(key_of comm)
check "the committee publishes its place" tw comm publish place bittir name_en=Bittir "name_ar=بتير" \
    place_kind=village country=PS subdivision=PS-BTH area=west_bank
check "the group publishes its group" tw grp publish group camden "name=Camden Bittir Link" \
    group_kind=twinning_association nation=england
check "the group publishes another group" tw grp publish group leeds "name=Leeds Bittir Friends" \
    group_kind=friendship_group nation=england
check "the group lists the committee's place too (superseded by the committee's own)" tw grp publish place battir \
    name_en=Battir place_kind=village country=PS subdivision=PS-BTH area=west_bank "committee=$CK"
check "the group states its link to the committee's place" tw grp publish link camden-bittir group=camden \
    "place=$CK/bittir" formality=formal_twinning status=active since=2007
check "the committee states the link back" tw comm publish link camden-back "group=$GK/camden" \
    place=bittir formality=formal_twinning status=active since=2008
check "the other group states a link nobody states back" tw grp publish link leeds-bittir group=leeds \
    "place=$CK/bittir" formality=exploring status=exploring
if tw_wait_converged 30 grp comm; then pass "both nodes hold every record ($TW_CONV_S s)"; else
    fail "both nodes hold every record" "$TW_CONV_DETAIL"; fi

# What twin says, for the browser to find: rows per filter, and ids.
E=$TW_ROOT/expect.json
cnt() { tw grp --json list "$@" --limit 10000 | python3 -c 'import json,sys; print(len(json.load(sys.stdin)))'; }
conf() { tw grp --json list link --limit 10000 | python3 -c 'import json,sys; print(sum(1 for r in json.load(sys.stdin) if r.get("confirmed") is (sys.argv[1] == "yes")))' "$1"; }
id_of() { tw grp --json list "$1" --all --author "$2" --limit 10000 | python3 -c 'import json,sys; print([r["id"] for r in json.load(sys.stdin) if r["slot"] == sys.argv[1]][0])' "$3"; }
cat >"$E" <<J
{"counts": {
  "kind=place&gov=PS-BTH": $(cnt place subdivision=PS-BTH),
  "kind=place&gov=PS-HBN": $(cnt place subdivision=PS-HBN),
  "kind=group&nation=england": $(cnt group nation=england),
  "kind=link&status=active": $(cnt link status=active),
  "kind=link&confirmed=yes": $(conf yes),
  "kind=link&confirmed=no": $(conf no),
  "kind=place": $(cnt place)},
 "link": "$(id_of link "$GK" camden-bittir)",
 "back": "$(id_of link "$CK" camden-back)",
 "onesided": "$(id_of link "$GK" leeds-bittir)",
 "listing": "$(id_of place "$GK" battir)"}
J
cat "$E"
python3 -c 'import json,sys; d=json.load(open(sys.argv[1])); sys.exit(0 if d["counts"]["kind=place"] > 200 and d["counts"]["kind=link&confirmed=yes"] == 2 and all(len(d[k]) == 64 for k in ("link","back","onesided","listing")) else 1)' "$E" &&
    pass "twin: more than two pages of places, one confirmed link (two statements), the ids" || fail "twin: the expected records" "$(cat "$E")"

# The list arguments the page uses: bad ones are refused with their reason,
# and the node goes on serving; a cursor as hex text pages as the binary one.
SOCK=$(tw_dir grp)/twind.sock
poke() { timeout 30 python3 tests/tools/ctlpoke.py "$SOCK" json "{\"v\":1,\"op\":\"list\",\"args\":$1}" recv; }
for bad in '{"kind":"link","confirmed":"yes"}|"confirmed\" must be true or false' \
           '{"kind":"place","confirmed":true}|confirmed: only with kind link' \
           '{"pair_of":"abc"}|pair_of: not 64 hex digits' \
           '{"kind":"group","pair_of":"'"$(printf '%064d' 0)"'"}|pair_of: only with kind link' \
           '{"kind":"link","after":"zz"}|"after\" must be a cursor' \
           '{"kind":"link","after":"'"$(printf '%0400d' 0)"'"}|"after\" must be a cursor'; do
    a=${bad%%|*}; want=${bad#*|}
    r=$(poke "$a")
    case $r in *'"code": -2'*"$want"*|*"$want"*'"code": -2'*) pass "list $a is refused: $want" ;; *) fail "list $a is refused: $want" "$r" ;; esac
done
r=$(poke '{"pair_of":"'"$(printf '%064d' 0)"'"}')
case $r in *'"records": []'*) pass "pair_of an id that is no link statement here: no records" ;; *) fail "pair_of an unknown id" "$r" ;; esac
python3 - "$SOCK" <<'PY' && pass "a list cursor as hex text gives the same next page as the binary cursor" || fail "list cursor as hex text"
import json, subprocess, sys
def page(after):
    a = {"kind": "place", "limit": 100}
    if after is not None: a["after"] = after
    out = subprocess.run(["python3", "tests/tools/ctlpoke.py", sys.argv[1], "json", json.dumps({"v": 1, "op": "list", "args": a}), "recv"],
                         capture_output=True, text=True, timeout=30).stdout
    return json.loads(out.split(" ", 1)[1])["result"]
p1 = page(None)
cur = p1["next"]["$bin"]
b, h = page({"$bin": cur}), page(cur)
ids = lambda p: [r["id"] for r in p["records"]]
sys.exit(0 if len(ids(b)) == 100 and ids(b) == ids(h) and not set(ids(b)) & set(ids(p1)) else 1)
PY
check "the node still serves after the refused arguments" tw grp status

tw_run tw grp ui --no-open; URL=$(cat "$TW_OUT")
CHROMIUM=$CHROMIUM timeout 400 node "$NM/registry.js" "$URL" "http://$A" "$(pwd)/$OUT" "$E" >"$TW_ROOT/browser.out" 2>&1
rc=$?
cat "$TW_ROOT/browser.out"
TW_NPASS=$((TW_NPASS + $(grep -c '^PASS:' "$TW_ROOT/browser.out")))
TW_NFAIL=$((TW_NFAIL + $(grep -c '^FAIL:' "$TW_ROOT/browser.out")))
[ "$rc" = 0 ] || fail "the browser script exited $rc"
grep -q '^PASS: ' "$TW_ROOT/browser.out" || fail "the browser script passed nothing"
tw_stop grp || fail "twind grp did not stop cleanly"
tw_stop comm || fail "twind comm did not stop cleanly"
tw_done
