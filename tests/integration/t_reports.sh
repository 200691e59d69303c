#!/bin/sh
# Hub reports over a synthetic registry of a few hundred records written by
# two authors: an association node (groups, their links, places a hub lists)
# and a committee node (places, links stated back), synced over loopback.
# The expected figures are computed by tests/tools/genregistry.py from the
# generated records alone, then compared with twin stats/gaps --json.  Then
# the exports (--csv, --aggregate without contact fields) and the HTML page:
# well-formed, no external URL, and drawn by headless Chromium when it can
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

FUT=$(( $(date +%s) * 1000 + 10 * 365 * 86400000 ))
python3 "$GEN" expect "$AK" "$CK" "$F" >"$F/expect.json"
python3 "$GEN" expect "$AK" "$CK" "$F" --no-update \
    --year "$(python3 -c 'import sys,time; print(time.gmtime(int(sys.argv[1]) // 1000).tm_year)' "$FUT")" >"$F/expect_old.json"

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

# Listings asked before any report make their marks themselves; those
# asked after one (below) take them from the kept report of stats: the same.
tw assoc --json list link >"$F/links_own.json" 2>"$TW_ERR" || fail "twin list link --json (before stats)"
tw assoc --json list place --all >"$F/places_all_own.json" 2>"$TW_ERR" || fail "twin list place --all --json (before stats)"
tw assoc --json stats >"$F/stats.json" 2>"$TW_ERR" && pass "twin stats --json" || fail "twin stats --json"
compare "twin stats matches the figures computed from the records" "$F/stats.json" "$F/expect.json" stats
tw comm --json stats >"$F/stats_c.json"
python3 -c 'import json,sys; a=json.load(open(sys.argv[1])); b=json.load(open(sys.argv[2])); sys.exit(a!=b)' "$F/stats.json" "$F/stats_c.json" &&
    pass "both nodes compute the same statistics" || fail "both nodes compute the same statistics"
tw assoc --json report --at "$FUT" >"$F/report_old.json"
python3 -c 'import json,sys; json.dump(json.load(open(sys.argv[1]))["stats"], open(sys.argv[2], "w"))' "$F/report_old.json" "$F/stats_old.json"
compare "ten years on, every active or exploring link is dormant" "$F/stats_old.json" "$F/expect_old.json" stats
# The report's governorates: each governorate's places (by name) and their
# numbers of partner groups, against the model.
tw assoc --json report >"$F/report.json" 2>"$TW_ERR" || fail "twin report --json"
if python3 - "$F/report.json" "$F/expect.json" >"$F/govs.txt" 2>&1 <<'EOF'
import json, sys
got = json.load(open(sys.argv[1], encoding="utf-8"))["governorates"]
exp = json.load(open(sys.argv[2], encoding="utf-8"))["governorates"]
g = [{"code": x["code"], "places_total": x["places_total"], "places": [p["place"] for p in x["places"]],
      "partners": [len(p["partners"]) for p in x["places"]]} for x in got]
bad = [(a["code"], json.dumps(a)[:200], json.dumps(b)[:200]) for a, b in zip(g, exp) if a != b]
print("; ".join("%s: twin %s, expected %s" % x for x in bad[:3]) or
      "%d governorates, %d places, %d partners" % (len(g), sum(x["places_total"] for x in g), sum(sum(x["partners"]) for x in g)))
sys.exit(1 if bad or len(g) != len(exp) else 0)
EOF
then pass "the report's governorates list their places and partners as computed from the records ($(cat "$F/govs.txt"))"
else fail "the report's governorates list their places and partners as computed from the records" "$(cat "$F/govs.txt")"; fi
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
cmp -s "$F/links.json" "$F/links_own.json" && cmp -s "$F/places_all.json" "$F/places_all_own.json" &&
    pass "listings marked from the kept report of stats equal those marked before any report" ||
    fail "listings marked from the kept report of stats equal those marked before any report"
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

# Text for people, on a terminal 100 columns wide (a pseudo-terminal):
# codes with their names, references as fingerprints (a full key only where
# a command needs it), lines within 100 columns.
if python3 - "$TWIN" "$TW_ROOT/assoc" "$AK" "$CK" "$F" >"$F/text.txt" 2>&1 <<'EOF'
import os, pty, subprocess, sys, time, unicodedata
twin, ddir, ak, ck, fdir = sys.argv[1:6]
def run_tty(*args):
    m, s = pty.openpty()
    p = subprocess.Popen([twin, "--data-dir", ddir] + list(args), stdout=s, stderr=subprocess.DEVNULL,
                         env=dict(os.environ, COLUMNS="100"))
    os.close(s)
    out, end = b"", time.time() + 60
    while time.time() < end:
        try:
            d = os.read(m, 65536)
        except OSError:
            break
        if not d:
            break
        out += d
    p.wait(timeout=30)
    os.close(m)
    return out.decode("utf-8").replace("\r\n", "\n")
gaps, stats = run_tty("gaps"), run_tty("stats")
open(fdir + "/gaps.txt", "w", encoding="utf-8").write(gaps)
open(fdir + "/stats.txt", "w", encoding="utf-8").write(stats)
def width(s):
    return sum(0 if unicodedata.combining(c) or c in "\u2068\u2069" else 2 if unicodedata.east_asian_width(c) in "WF" else 1 for c in s)
bad = []
for name, text in (("gaps", gaps), ("stats", stats)):
    long = [l for l in text.splitlines() if width(l) > 100]
    if long:
        bad.append("%s: %d lines over 100 columns, e.g. %r" % (name, len(long), long[0][:120]))
keys = [l for l in gaps.splitlines() if "twk_" in l and not l.startswith("      own_key=twk_")]
if keys:
    bad.append("gaps shows a key outside a command: %r" % keys[0][:120])
for want in ("PS-RBH Ramallah and al-Bireh", "groups listed more than once", "own_key=" + ck,
             "links whose group or place is not found", ak[4:14] + "/hub-jifnah"):
    if want not in gaps:
        bad.append("gaps lacks %r" % want)
for want in ("PS Palestine", "FR France", "E12000005 West Midlands", "PS-BTH Bethlehem", "groups by how their region is known"):
    if want not in stats:
        bad.append("stats lacks %r" % want)
print("; ".join(bad) or "%d + %d lines" % (len(gaps.splitlines()), len(stats.splitlines())))
sys.exit(1 if bad else 0)
EOF
then pass "twin gaps and stats show codes with names, fingerprints, lines within 100 columns ($(cat "$F/text.txt"))"
    mkdir -p tests/out && cp "$F/gaps.txt" tests/out/reports-gaps.txt && cp "$F/stats.txt" tests/out/reports-stats.txt
else fail "twin gaps and stats show codes with names, fingerprints, lines within 100 columns" "$(cat "$F/text.txt")"; fi

# Exports.
check_out "twin stats --csv" 0 "active_links_by_governorate,PS-" tw assoc stats --csv
check_out "twin gaps --csv lists the places" 0 "listed_twice," tw assoc gaps --csv
# (the row's ref is the first record by reference, which depends on the keys drawn)
tw assoc gaps --csv >"$F/gaps.csv" 2>"$TW_ERR"
grep "^groups_listed_twice," "$F/gaps.csv" | grep -q "$CK/lookalike" && pass "twin gaps --csv lists the look-alike groups" ||
    fail "twin gaps --csv lists the look-alike groups" "$(grep '^groups_listed_twice,' "$F/gaps.csv" | head -n 3)"
check_out "twin gaps --csv lists the dangling references" 0 "dangling,$CK/c-key,group and place,,,group=; place=" tw assoc gaps --csv
check_out "twin gaps --csv --counts" 0 "unpartnered_by_kind," tw assoc gaps --csv --counts
check_out "twin report --csv" 0 "gaps.unpartnered_by_governorate," tw assoc report --csv
tw assoc report --aggregate >"$F/agg.json"
if grep -qE '@|https?:|twk_|"name|Association|Hub Listed' "$F/agg.json"; then fail "the aggregate export holds counts only"; else
    jq_ "the aggregate export holds counts only" "$F/agg.json" 'd["aggregate"] is True and "duplicated" not in d["gaps"] and "dangling" not in d["gaps"] and d["stats"]["totals"]["groups"] == 93'
fi
check_rc "twin report --html with --aggregate is a usage error" 2 tw assoc report --html x.html --aggregate

# The HTML page: the web interface's renderer (report.js) with the report
# inline.  The file itself: well-formed, no external URL, the renderer and
# the data in it.  Drawn by headless Chromium when it can be installed
# (--dump-dom gives the drawn page; a screenshot is kept in
# tests/out/report.png): names not codes, every section, the partner-country
# table, a section per governorate, charts and maps.
HTML=$F/report.html
check "twin report --html FILE" tw assoc report --html "$HTML"
if python3 - "$HTML" >"$F/html.txt" 2>&1 <<'EOF'
import json, re, sys
from html.parser import HTMLParser
VOID = {"meta", "br", "img", "hr", "input", "link"}
class P(HTMLParser):
    def __init__(s):
        super().__init__(); s.stack = []; s.err = []; s.ext = []; s.data = {}; s.cur = None
    def handle_starttag(s, t, a):
        a = dict(a)
        for k, v in a.items():
            if k in ("src", "href") or (v and "url(" in v):
                s.ext.append((t, k, v))
        if t == "script": s.cur = a.get("id", "code")
        if t not in VOID: s.stack.append(t)
    def handle_endtag(s, t):
        if t in VOID: return
        if not s.stack or s.stack[-1] != t: s.err.append("unbalanced </%s> at %s" % (t, s.getpos()))
        else: s.stack.pop()
        s.cur = None
    def handle_data(s, d):
        if s.cur: s.data[s.cur] = s.data.get(s.cur, "") + d
text = open(sys.argv[1], encoding="utf-8").read()
p = P(); p.feed(text); p.close()
# A host name after //: the translations' "https://..." hints are not URLs.
urls = [u for u in re.findall(r"(?:https?:)?//[A-Za-z0-9-]+\.[A-Za-z][^\s\"'<>)]*", text) if "www.w3.org/2000/svg" not in u]
data = json.loads(p.data.get("tw-report-data", "null") or "null")
strings = json.loads(p.data.get("tw-report-strings", "{}"))
# Published, so no key of any node and none of the gaps' lists (the page
# shows their counts); each governorate's places and partners are there.
keys = len(re.findall(r"twk_[a-z2-7]{10}", text))
lists = sorted(k for k, v in (data or {}).get("gaps", {}).items() if isinstance(v, list))
places = sum(len(g["places"]) for g in (data or {}).get("governorates", []))
ok = (not p.err and not p.stack and not p.ext and not urls and data and len(data.get("governorates", [])) == 16 and
      "active_links_by_year" in data["stats"] and strings.get("report.title") and "twReport" in p.data.get("code", "") and
      not keys and not lists and places > 100 and data["gaps"]["counts"]["dangling_links"] > 0)
print("errors: %s, open: %s, external: %s %s, data: %s, strings: %d, keys: %d, gap lists: %s, places: %d" % (
      p.err[:3], p.stack[:3], p.ext[:3], urls[:3], sorted(data) if data else None, len(strings), keys, lists, places))
sys.exit(0 if ok else 1)
EOF
then pass "report.html is well-formed, holds the renderer, the report and its strings, no external URL, no node's key ($(cat "$F/html.txt"))"
else fail "report.html is well-formed, holds the renderer, the report and its strings, no external URL, no node's key"; sed 's/^/      /' "$F/html.txt"; fi
check_rc "twin report --html with an unknown --lang is a usage error" 2 tw assoc report --html "$F/x.html" --lang de

CHROME=$(command -v chromium || command -v chromium-browser || true)
if [ -z "$CHROME" ] && [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then
    timeout 400 apt-get install -y -q chromium >"$F/apt.log" 2>&1 || true
    CHROME=$(command -v chromium || true)
fi
chrome() {
    _prof=$(mktemp -d)
    timeout 120 "$CHROME" --headless --no-sandbox --disable-gpu --disable-background-networking \
        --disable-component-update --disable-sync --no-first-run --user-data-dir="$_prof" \
        --host-resolver-rules='MAP * ~NOTFOUND' "$@" 2>>"$F/chrome.log"
    _rc=$?
    rm -rf "$_prof"
    return $_rc
}
if [ -n "$CHROME" ]; then
    chrome --virtual-time-budget=5000 --dump-dom "file://$HTML" >"$F/report.dom.html"
    if python3 - "$F/report.dom.html" >"$F/html_names.txt" 2>&1 <<'EOF'
import re, sys
from html.parser import HTMLParser
class T(HTMLParser):
    def __init__(s):
        super().__init__(); s.skip = 0; s.text = []; s.svg = 0; s.tiles = []; s.govs = []; s.h2 = []; s.inh2 = False
    def handle_starttag(s, t, a):
        a = dict(a)
        if t in ("script", "style"): s.skip += 1
        if t == "svg": s.svg += 1
        if t == "g" and "tile" in (a.get("class") or ""): s.tiles.append(a.get("data-code"))
        if t == "section" and "gov" in (a.get("class") or "").split(): s.govs.append(a.get("data-code"))
        if t == "h2": s.inh2 = True; s.h2.append("")
    def handle_endtag(s, t):
        if t in ("script", "style"): s.skip -= 1
        if t == "h2": s.inh2 = False
    def handle_data(s, d):
        if s.skip: return
        s.text.append(d)
        if s.inh2: s.h2[-1] += d
p = T(); p.feed(open(sys.argv[1], encoding="utf-8").read())
body = " ".join(p.text)
bad = []
for code in ("PS-RBH", "E12000007", "S92000003", "twk_"):
    if code in body:
        bad.append("shows %s" % code)
for want in ("Ramallah and al-Bireh", "West Midlands", "Palestine", "France", "Confirmed links (stated by both sides)",
             "Places and active links by partner country", "Ramallah and al-Bireh: places and partners", "بيت ساحور"):
    if want not in body:
        bad.append("lacks %r" % want)
for h in ("Summary", "Where the links are", "Active links per year", "Links by kind", "Partner countries",
          "Palestinian governorates", "For the hub: records to check"):
    if h not in p.h2:
        bad.append("no section %r" % h)
if len(p.govs) != 16 or p.govs[0] != "PS-JEN" or p.govs[-1] != "PS-RFH":
    bad.append("governorate sections: %s" % p.govs)
if len(p.tiles) != 28 or p.svg < 7:
    bad.append("%d tiles, %d SVG charts" % (len(p.tiles), p.svg))
print("; ".join(bad) or "names, not codes or keys; %d sections, %d governorates, %d charts, %d tiles" % (len(p.h2), len(p.govs), p.svg, len(p.tiles)))
sys.exit(1 if bad else 0)
EOF
    then pass "report.html drawn: every section, names not codes, partner countries, a section per governorate, maps and charts ($(cat "$F/html_names.txt"))"
    else fail "report.html drawn: every section, names not codes, partner countries, a section per governorate, maps and charts" "$(cat "$F/html_names.txt")"; fi
    mkdir -p tests/out
    rm -f tests/out/report.png
    chrome --virtual-time-budget=5000 --screenshot=tests/out/report.png --window-size=1200,2000 "file://$HTML" >/dev/null
    sz=$(stat -c %s tests/out/report.png 2>/dev/null || echo 0)
    if [ "$sz" -gt 20000 ]; then pass "headless Chromium renders report.html (tests/out/report.png, $sz bytes)"
    else fail "headless Chromium renders report.html"; tail -n 5 "$F/chrome.log" | sed 's/^/      /'; fi
else
    echo "note: chromium could not be installed; the HTML was checked with html.parser only"
fi

tw_stop comm || fail "comm stops cleanly"
tw_stop assoc || fail "assoc stops cleanly"
tw_done
