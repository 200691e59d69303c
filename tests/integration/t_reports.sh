#!/bin/sh
# Hub reports over a synthetic registry of a few hundred records written by
# two authors: an association node (groups, their links, places a hub lists)
# and a committee node (places, links stated back), synced over loopback.
# The expected figures are computed by tests/tools/genregistry.py from the
# generated records alone, then compared with twin stats/gaps --json.  Then
# the exports (--csv, --aggregate without contact fields) and the HTML page:
# well-formed, no external URL, and rendered by headless Chromium when it can
# be installed (a screenshot is kept in tests/out/report.png).
. tests/integration/lib.sh

F=$TW_ROOT/files
mkdir -p "$F"
GEN=tests/tools/genregistry.py
PA=$(tw_free_port)

tw_start assoc --listen "127.0.0.1:$PA" || { fail "assoc starts"; tw_done; }
NETKEY=$(tw_netkey assoc)
tw_stop assoc
CONF=$(tw_conf common "network_key = $NETKEY" "sync_interval = 2")
tw_start assoc --config "$CONF" --listen "127.0.0.1:$PA" || { fail "assoc restarts"; tw_done; }
tw_start comm --config "$CONF" --peer "127.0.0.1:$PA" || { fail "comm starts"; tw_done; }
key_of() { tw "$1" --json status | python3 -c 'import json,sys; print(json.load(sys.stdin)["node"])'; }
AK=$(key_of assoc)
CK=$(key_of comm)

python3 "$GEN" gen "$AK" "$CK" "$F" && pass "genregistry writes the registry" || fail "genregistry writes the registry"
check "the association imports its records" tw assoc import "$F/assoc.json"
check "the committee imports its records" tw comm import "$F/committee.json"
if tw_wait_converged 30 assoc comm; then pass "both nodes converge ($TW_CONV_S s)"; else fail "both nodes converge" "$TW_CONV_DETAIL"; fi
N=$(tw_entries assoc)
[ "${N:-0}" -ge 300 ] && pass "registry holds a few hundred records ($N)" || fail "registry holds a few hundred records ($N)"

python3 "$GEN" expect "$AK" "$CK" "$F" >"$F/expect.json"
python3 "$GEN" expect "$AK" "$CK" "$F" --no-update >"$F/expect_old.json"

# compare DESC TWIN_JSON PART [KEYS...]: each table of the expected part equals twin's.
compare() {
    _d=$1; _got=$2; _exp=$3; _part=$4
    if python3 - "$_got" "$_exp" "$_part" >"$F/cmp.txt" 2>&1 <<'EOF'
import json, sys
got = json.load(open(sys.argv[1], encoding="utf-8"))
exp = json.load(open(sys.argv[2], encoding="utf-8"))[sys.argv[3]]
bad = 0
for k, v in sorted(exp.items()):
    g = got.get(k)
    if k == "duplicated":
        g = [x["place"] for x in g]
    elif isinstance(v, list) and v and isinstance(v[0], dict) and isinstance(g, list):
        # Lists of maps: the fields the model computes.
        g = [{kk: x.get(kk) for kk in v[0]} for x in g]
    if g != v:
        bad += 1
        print("%s: twin %s, expected %s" % (k, json.dumps(g)[:300], json.dumps(v)[:300]))
print("%d tables compared" % len(exp))
sys.exit(1 if bad else 0)
EOF
    then pass "$_d ($(tail -n 1 "$F/cmp.txt"))"; else fail "$_d"; sed 's/^/      /' "$F/cmp.txt" | head -n 20; fi
}

tw assoc --json stats >"$F/stats.json" 2>"$TW_ERR" && pass "twin stats --json" || fail "twin stats --json"
compare "twin stats matches the figures computed from the records" "$F/stats.json" "$F/expect.json" stats
tw comm --json stats >"$F/stats_c.json"
python3 -c 'import json,sys; a=json.load(open(sys.argv[1])); b=json.load(open(sys.argv[2])); sys.exit(a!=b)' "$F/stats.json" "$F/stats_c.json" &&
    pass "both nodes compute the same statistics" || fail "both nodes compute the same statistics"
FUT=$(( $(date +%s) * 1000 + 10 * 365 * 86400000 ))
tw assoc --json report --at "$FUT" >"$F/report_old.json"
python3 -c 'import json,sys; json.dump(json.load(open(sys.argv[1]))["stats"], open(sys.argv[2], "w"))' "$F/report_old.json" "$F/stats_old.json"
compare "ten years on, every active or exploring link is dormant" "$F/stats_old.json" "$F/expect_old.json" stats
tw assoc --json gaps >"$F/gaps.json" 2>"$TW_ERR" && pass "twin gaps --json" || fail "twin gaps --json"
compare "twin gaps matches the figures computed from the records" "$F/gaps.json" "$F/expect.json" gaps
jq_() {
    if [ "$(tw_json "$2" "$3" 2>"$TW_ERR")" = true ]; then pass "$1"; else fail "$1" "false: $3"; fi
}
jq_ "Jifna and the hub's Jifnah are one place listed twice" "$F/gaps.json" \
    'any(sorted(r.split("/")[1] for r in x["records"]) == ["hub-jifnah", "jifna"] for x in d["listed_twice"])'
jq_ "the hub's Bayt Sahur, superseded by the committee's Beit Sahour, is not listed twice" "$F/gaps.json" \
    'not any(r.endswith("/hub-bayt-sahur") for x in d["listed_twice"] for r in x["records"])'
jq_ "the hub's listing of the committee's group and the group's own record are one group" "$F/stats.json" \
    'd["totals"]["groups"] == d["totals"]["group_identities"] + 1'
jq_ "dangling references are listed, absent ones too" "$F/gaps.json" \
    'any(x["missing"] == "group" and x["link"].endswith("/c-00") for x in d["dangling"]) and any(x["missing"] == "group and place" and x["link"].endswith("/c-key") for x in d["dangling"])'
jq_ "regions are inferred from local authorities" "$F/stats.json" 'd["groups_region_source"]["inferred"] > 0'
jq_ "places abroad are counted by partner country" "$F/stats.json" \
    'd["places_by_country"]["FR"] == 2 and d["places_by_country"]["(other)"] == 2 and d["places_by_country"]["PS"] > 100'
jq_ "an ended link is counted by its end year" "$F/stats.json" 'sum(d["links_ended_by_year"].values()) > 0 and d["links_by_status"]["ended"] > 0'
jq_ "dormant links are counted" "$F/stats.json" 'd["dormant_links"]["status_dormant"] == d["links_by_status"]["dormant"] > 0'

# What list adds to each record, against the model: "confirmed" on every
# link statement, "superseded_by" on the hub's listings its committee's own
# records supersede, which list leaves out unless asked for all.
tw assoc --json list link >"$F/links.json" 2>"$TW_ERR" || fail "twin list link --json"
tw assoc --json list place --all >"$F/places_all.json" 2>"$TW_ERR" || fail "twin list place --all --json"
tw assoc --json list place >"$F/places.json" 2>"$TW_ERR" || fail "twin list place --json"
if python3 - "$F/links.json" "$F/places_all.json" "$F/places.json" "$F/expect.json" >"$F/marks.txt" 2>&1 <<'EOF'
import json, sys
links, pall, plist, exp = (json.load(open(f, encoding="utf-8")) for f in sys.argv[1:5])
m = exp["marks"]
bad = []
got = {"%s/%s" % (r["author"], r["slot"]): r.get("confirmed") for r in links}
if got != m["confirmed"]:
    bad.append("confirmed differs on %d links" % sum(1 for k in set(got) | set(m["confirmed"]) if got.get(k) != m["confirmed"].get(k)))
sup = {"%s/%s" % (r["author"], r["slot"]): r["superseded_by"] for r in pall if "superseded_by" in r}
if sup != m["superseded"]:
    bad.append("superseded_by: twin %s, expected %s" % (sup, m["superseded"]))
shown = {"%s/%s" % (r["author"], r["slot"]) for r in plist}
if shown & set(m["superseded"]) or len(shown) != len(pall) - len(m["superseded"]) or any("superseded_by" in r for r in plist):
    bad.append("list place without --all shows %d of %d records" % (len(shown), len(pall)))
print("; ".join(bad) or "%d links (%d confirmed), %d superseded listings" % (len(got), sum(1 for v in got.values() if v), len(sup)))
sys.exit(1 if bad else 0)
EOF
then pass "list marks links confirmed and listings superseded as computed from the records ($(cat "$F/marks.txt"))"
else fail "list marks links confirmed and listings superseded as computed from the records" "$(cat "$F/marks.txt")"; fi

jq_ "a link one author (the committee) states on both sides is unconfirmed" "$F/links.json" \
    '[r.get("confirmed") for r in d if r["slot"] in ("b-own", "l-own")] == [False, False]'
tw assoc --json list group --all >"$F/groups_all.json" 2>"$TW_ERR" || fail "twin list group --all --json"
tw assoc --json list group >"$F/groups.json" 2>"$TW_ERR" || fail "twin list group --json"
if python3 - "$F/groups_all.json" "$F/groups.json" "$F/expect.json" >"$F/gmarks.txt" 2>&1 <<'EOF'
import json, sys
gall, glist, exp = (json.load(open(f, encoding="utf-8")) for f in sys.argv[1:4])
want = exp["marks"]["groups_superseded"]
sup = {"%s/%s" % (r["author"], r["slot"]): r["superseded_by"] for r in gall if "superseded_by" in r}
shown = {"%s/%s" % (r["author"], r["slot"]) for r in glist}
ok = sup == want and len(want) == 1 and not (shown & set(want)) and len(shown) == len(gall) - len(want)
print("superseded_by %s, expected %s; list group shows %d of %d" % (sup, want, len(shown), len(gall)))
sys.exit(0 if ok else 1)
EOF
then pass "list group leaves out the hub's listing its group's own record supersedes; --all marks it ($(cat "$F/gmarks.txt"))"
else fail "list group leaves out the superseded group listing" "$(cat "$F/gmarks.txt")"; fi

# Exports.
check_out "twin stats --csv" 0 "active_links_by_governorate,PS-" tw assoc stats --csv
check_out "twin gaps --csv lists the places" 0 "listed_twice," tw assoc gaps --csv
check_out "twin gaps --csv --counts" 0 "unpartnered_by_kind," tw assoc gaps --csv --counts
check_out "twin report --csv" 0 "gaps.unpartnered_by_governorate," tw assoc report --csv
tw assoc report --aggregate >"$F/agg.json"
if grep -qE '@|https?:|twk_|"name|Association|Hub Listed' "$F/agg.json"; then fail "the aggregate export holds counts only"; else
    jq_ "the aggregate export holds counts only" "$F/agg.json" 'd["aggregate"] is True and "duplicated" not in d["gaps"] and "dangling" not in d["gaps"] and d["stats"]["totals"]["groups"] == 93'
fi
check_rc "twin report --html with --aggregate is a usage error" 2 tw assoc report --html x.html --aggregate

# The HTML page.
HTML=$F/report.html
check "twin report --html FILE" tw assoc report --html "$HTML"
if python3 - "$HTML" >"$F/html.txt" 2>&1 <<'EOF'
import sys
from html.parser import HTMLParser
VOID = {"meta", "br", "img", "hr", "input", "link", "rect"}
class P(HTMLParser):
    def __init__(s):
        super().__init__(); s.stack = []; s.err = []; s.svg = 0; s.ext = []
    def handle_starttag(s, t, a):
        for k, v in a:
            if k in ("src", "href") or (v and ("url(" in v)):
                s.ext.append((t, k, v))
        if t == "svg": s.svg += 1
        if t not in VOID: s.stack.append(t)
    def handle_startendtag(s, t, a):
        if t == "svg": s.svg += 1
    def handle_endtag(s, t):
        if t in VOID: return
        if not s.stack or s.stack[-1] != t: s.err.append("unbalanced </%s> at %s" % (t, s.getpos()))
        else: s.stack.pop()
text = open(sys.argv[1], encoding="utf-8").read()
p = P(); p.feed(text); p.close()
import re
urls = [u for u in re.findall(r"(?:https?:)?//[^\s\"'<>)]+", text) if "www.w3.org/2000/svg" not in u]
ok = not p.err and not p.stack and p.svg >= 4 and not p.ext and not urls
print("svg charts: %d, errors: %s, open: %s, external: %s %s" % (p.svg, p.err[:3], p.stack[:3], p.ext[:3], urls[:3]))
sys.exit(0 if ok else 1)
EOF
then pass "report.html is well-formed, has SVG charts and no external URL ($(cat "$F/html.txt"))"
else fail "report.html is well-formed, has SVG charts and no external URL"; sed 's/^/      /' "$F/html.txt"; fi

CHROME=$(command -v chromium || command -v chromium-browser || true)
if [ -z "$CHROME" ] && [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then
    timeout 400 apt-get install -y -q chromium >"$F/apt.log" 2>&1 || true
    CHROME=$(command -v chromium || true)
fi
if [ -n "$CHROME" ]; then
    mkdir -p tests/out
    rm -f tests/out/report.png
    PROF=$(mktemp -d)
    timeout 120 "$CHROME" --headless --no-sandbox --disable-gpu --disable-background-networking \
        --disable-component-update --disable-sync --no-first-run --user-data-dir="$PROF" \
        --screenshot=tests/out/report.png --window-size=1200,2000 "file://$HTML" >"$F/chrome.log" 2>&1
    rm -rf "$PROF"
    sz=$(stat -c %s tests/out/report.png 2>/dev/null || echo 0)
    if [ "$sz" -gt 20000 ]; then pass "headless Chromium renders report.html (tests/out/report.png, $sz bytes)"
    else fail "headless Chromium renders report.html"; tail -n 5 "$F/chrome.log" | sed 's/^/      /'; fi
else
    echo "note: chromium could not be installed; the HTML was checked with html.parser only"
fi

tw_stop comm || fail "comm stops cleanly"
tw_stop assoc || fail "assoc stops cleanly"
tw_done
