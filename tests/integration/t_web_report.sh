#!/bin/sh
# The hub report in a real browser: Debian's chromium, headless, driven by
# puppeteer-core (tests/web/report.js; versions pinned in
# tests/web/package-lock.json, installed with `npm ci` into $B/web-node).
# Over the synthetic registry of t_reports (two nodes, synced), renders the
# web interface's Report page in English and Arabic and the files
# `twin report --html` writes (--lang en and ar): tile maps with a tile per
# governorate and per UK nation or region, charts, a section per
# governorate, names not codes, right-to-left Arabic, no request made by
# the files, axe-core.  Prints the English file to an A4 PDF and reads its
# pages with pdftotext: every page that holds rows of a table also holds
# that table's header, and every page its number.  Screenshots and PDFs are
# kept in tests/out/t_web_report/.  Prints SKIP (not PASS) when no browser,
# npm or pdftotext can be had.
cd "$(dirname "$0")/../.." || exit 1
. tests/integration/lib.sh

OUT=tests/out/t_web_report
mkdir -p "$OUT"
tw_web_setup pdftotext

F=$TW_ROOT/files
mkdir -p "$F"
PA=$(tw_free_port)
P=$(tw_free_port)
tw_start assoc --listen "127.0.0.1:$PA" || { fail "assoc starts"; tw_done; }
CONF=$(tw_conf common "network_key = $(tw_netkey assoc)" "sync_interval = 2")
tw_stop assoc
check "the association's node starts with its web interface on 127.0.0.1:$P" \
    tw_start assoc --config "$CONF" --listen "127.0.0.1:$PA" --http "127.0.0.1:$P"
check "the committee's node starts" tw_start comm --config "$CONF" --peer "127.0.0.1:$PA"
key_of() { tw "$1" --json status | python3 -c 'import json,sys; print(json.load(sys.stdin)["node"])'; }
AK=$(key_of assoc)
CK=$(key_of comm)
python3 tests/tools/genregistry.py gen "$AK" "$CK" "$F" && pass "genregistry writes the registry" || fail "genregistry writes the registry"
check "the association imports its records" tw assoc import "$F/assoc.json"
check "the committee imports its records" tw comm import "$F/committee.json"
if tw_wait_converged 30 assoc comm; then pass "both nodes converge ($TW_CONV_S s)"; else fail "both nodes converge" "$TW_CONV_DETAIL"; fi

# Hostile text in names (as any member may publish): shown as text, never
# markup, in the page and in the file, whose data sits inside a <script>.
check "a group whose name holds markup is published" tw assoc publish group evil \
    'name=Friends </script><img src=x onerror=window.pwned=1> of Salfit' group_kind=friendship_group nation=england
check "a place whose name holds markup is published" tw assoc publish place evil-place \
    'name_en=Qarya <b>bold</b> </script>' place_kind=village country=PS subdivision=PS-SLT
check "a link between them is published" tw assoc publish link evil-link group=evil place=evil-place \
    formality=friendship_link status=active since=2024

EN=$(pwd)/$OUT/report_en.html
AR=$(pwd)/$OUT/report_ar.html
check "twin report --html FILE writes the English page" tw assoc report --html "$EN"
check "twin report --html FILE --lang ar writes the Arabic page" tw assoc report --html "$AR" --lang ar
check_rc "twin report --html FILE --lang fr is a usage error" 2 tw assoc report --html "$F/x.html" --lang fr
check_rc "twin report --lang ar without --html is a usage error" 2 tw assoc report --lang ar
size=$(sed -n 's/.*web interface at .* (\([0-9]*\) bytes of pages).*/\1/p' "$(tw_log assoc)" | head -n 1)
echo "figure: interface size $size bytes; report file $(stat -c %s "$EN") bytes (en), $(stat -c %s "$AR") bytes (ar)"
[ -n "$size" ] && [ "$size" -lt 204800 ] && pass "the whole interface is under 200 KB ($size bytes)" || fail "interface size: ${size:-unknown}"

# A small registry on a node of its own: 1000 links whose group and place
# are not found, and 2 active links of one group to two places of Nablus.
check "the small node starts" tw_start small
python3 - >"$F/small.json" <<'EOF'
import json, sys
recs = [{"kind": "link", "slot": "lost-%04d" % i, "body": {"group": "nogroup", "place": "noplace-%04d" % i,
         "formality": "friendship_link", "status": "active", "since": "2015"}} for i in range(1000)]
recs.append({"kind": "group", "slot": "g", "body": {"name": "Leeds Nablus Friends", "group_kind": "friendship_group",
             "nation": "england", "region": "E12000003"}})
for p in ("balata", "askar"):
    recs.append({"kind": "place", "slot": p, "body": {"name_en": p.title(), "place_kind": "refugee_camp", "country": "PS",
                 "subdivision": "PS-NBS", "area": "west_bank"}})
    recs.append({"kind": "link", "slot": "g-" + p, "body": {"group": "g", "place": p, "formality": "friendship_link",
                 "status": "active", "since": "2019"}})
json.dump(recs, sys.stdout)
EOF
check "the small node imports 1002 links" tw small import "$F/small.json"
SMALL=$(pwd)/$OUT/report_small.html
check "twin report --html writes the small registry's page" tw small report --html "$SMALL"

tw_run tw assoc ui --no-open
URL=$(cat "$TW_OUT")
CHROMIUM=$CHROMIUM timeout 400 node "$NM/report.js" "$URL" "http://127.0.0.1:$P" "$(pwd)/$OUT" "$EN" "$AR" "$SMALL" >"$TW_ROOT/browser.out" 2>&1
rc=$?
cat "$TW_ROOT/browser.out"
TW_NPASS=$((TW_NPASS + $(grep -c '^PASS:' "$TW_ROOT/browser.out")))
TW_NFAIL=$((TW_NFAIL + $(grep -c '^FAIL:' "$TW_ROOT/browser.out")))
[ "$rc" = 0 ] || fail "the browser script exited $rc"
[ -s "$OUT/file_ar.png" ] && pass "the Arabic screenshot is kept ($OUT/file_ar.png)" || fail "no Arabic screenshot"

# The printed PDF, page by page.
PDF=$OUT/report_en.pdf
if [ -s "$PDF" ] && [ -s "$OUT/tables_en.json" ]; then
    pages=$(pdfinfo "$PDF" 2>/dev/null | awk '$1 == "Pages:" { print $2 }')
    i=1
    while [ "$i" -le "${pages:-0}" ] && [ "$i" -le 200 ]; do
        pdftotext -q -f "$i" -l "$i" -layout "$PDF" "$F/page_$i.txt"
        i=$((i + 1))
    done
    pdfinfo "$PDF" | awk '$1 == "Page" && $2 == "size:" { print }' | head -n 1 >"$F/pagesize.txt"
    if python3 - "$F" "${pages:-0}" "$OUT/tables_en.json" "$F/pagesize.txt" >"$F/pdf.txt" 2>&1 <<'EOF'
import json, re, sys
d, n, tables, size = sys.argv[1], int(sys.argv[2]), json.load(open(sys.argv[3], encoding="utf-8")), open(sys.argv[4]).read()
norm = lambda s: re.sub(r"\s+", " ", s).strip()
pages = [norm(open("%s/page_%d.txt" % (d, i), encoding="utf-8").read()) for i in range(1, n + 1)]
bad = []
m = re.search(r"([\d.]+) x ([\d.]+) pts", size)
if not m or abs(float(m.group(1)) - 595.3) > 2 or abs(float(m.group(2)) - 841.9) > 2:
    bad.append("pages are not A4: %s" % size.strip())
numbered = [i + 1 for i, p in enumerate(pages) if re.search(r"(^|\s)%d / %d(\s|$)" % (i + 1, n), p)]
if len(numbered) != n:
    bad.append("page numbers on %d of %d pages" % (len(numbered), n))
split = found = rows = 0
for t in tables:
    if not t["head"] or not t["rows"]:
        continue
    on = set()
    for r in t["rows"]:
        if len(r) < 4:
            continue
        rows += 1
        hits = [i for i, p in enumerate(pages) if r in p]
        if len(hits) > 1:
            continue        # the text is elsewhere too ("not given"): not a marker of this row
        if hits:
            found += 1
            on.update(hits)
    if len(on) > 1:
        split += 1
    for i in sorted(on):
        if t["head"] not in pages[i]:
            bad.append("page %d holds rows of table %r without its header" % (i + 1, t["head"]))
if rows == 0 or found < 0.8 * rows:
    bad.append("only %d of %d table rows found in the PDF's text" % (found, rows))
if split == 0:
    bad.append("no table runs over two pages: the check proved nothing")
print("; ".join(bad[:5]) or "%d pages, each numbered; %d tables, %d of them over two pages or more, each page with rows has its table's header (%d of %d rows found)" % (n, len(tables), split, found, rows))
sys.exit(1 if bad else 0)
EOF
    then pass "the printed A4 PDF: $(cat "$F/pdf.txt")"
    else fail "the printed A4 PDF" "$(cat "$F/pdf.txt")"; fi
else
    fail "the English file was printed to PDF"
fi

tw_stop comm || fail "comm stops cleanly"
tw_stop assoc || fail "assoc stops cleanly"
tw_done
