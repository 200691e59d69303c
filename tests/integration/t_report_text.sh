#!/bin/sh
# What a hub coordinator or a committee volunteer reads in twin's text
# output (not the JSON, which t_reports checks against a model):
#   - twin stats titles every table in words, totals first, names codes as
#     the web pages do (group and place kinds, nations, areas) and says
#     which side of a link was not found, instead of the answer's keys;
#   - twin gaps says so when a list holds fewer rows than its count: at
#     TW_REPORT_LIST_MAX (1000) links whose group and place are not found
#     the list is whole and says nothing more; at 1001 its title gives the
#     count, "the first 1000 listed", and a line counts the one not listed
#     (the JSON holds 1000 and counts 1001, as before);
#   - twin status does not read as a full store: the space used, what it
#     may grow to (map_ceiling) and the disk's free space; its kinds, as
#     stats's, in words ("peer address").
. tests/integration/lib.sh

F=$TW_ROOT/files
mkdir -p "$F"
P=$(tw_free_port)
tw_start n --listen "127.0.0.1:$P" || { fail "twind starts"; tw_done; }    # (publishes its peer record)

# records FIRST COUNT: link statements FIRST.. whose group and place nobody
# lists, and (with FIRST 0) a few groups and places of several kinds.
records() {
    python3 - "$1" "$2" >"$F/recs-$1.json" <<'PY'
import json, sys
first, n = int(sys.argv[1]), int(sys.argv[2])
recs = [{"kind": "link", "slot": "lost-%04d" % i,
         "body": {"group": "nogroup-%04d" % i, "place": "noplace-%04d" % i, "formality": "friendship_link",
                  "status": "active", "since": "2015"}} for i in range(first, first + n)]
if first == 0:
    recs += [
        {"kind": "group", "slot": "camden", "body": {"name": "Camden Abu Dis Friendship Association",
         "group_kind": "twinning_association", "nation": "england", "region": "E12000007"}},
        {"kind": "group", "slot": "dundee", "body": {"name": "Dundee Nablus Twinning Association",
         "group_kind": "friendship_group", "nation": "scotland"}},
        {"kind": "place", "slot": "abu-dis", "body": {"name_en": "Abu Dis", "place_kind": "town", "country": "PS",
         "subdivision": "PS-JEM", "area": "west_bank"}},
        {"kind": "place", "slot": "arab-al-jahalin", "body": {"name_en": "Arab al-Jahalin",
         "place_kind": "bedouin_community", "country": "PS", "subdivision": "PS-JEM", "area": "west_bank"}},
        {"kind": "place", "slot": "balata", "body": {"name_en": "Balata", "place_kind": "refugee_camp",
         "country": "PS", "subdivision": "PS-NBS", "area": "west_bank"}},
        {"kind": "link", "slot": "camden-abu-dis", "body": {"group": "camden", "place": "abu-dis",
         "formality": "formal_twinning", "status": "active", "since": "2006"}},
    ]
json.dump(recs, sys.stdout)
PY
}
# row LABEL COUNT FILE: FILE has a table row LABEL ... COUNT.
row() { awk -v l="$1" -v n="$2" '
    index($0, l) == 1 { r = substr($0, length(l) + 1); sub(/^ +/, "", r); if (r == n) f = 1 } END { exit !f }' "$3"; }
check_row() { if row "$2" "$3" "$4"; then pass "$1: $2 ... $3"; else fail "$1: $2 ... $3" "$(grep -F -- "$2" "$4" | head -n 3)"; fi; }

records 0 1000 && check "n imports 1000 links to nothing, 2 groups, 3 places and a link between them" tw n import "$F/recs-0.json"

tw n gaps >"$F/gaps1000.txt" 2>"$TW_ERR" || fail "twin gaps" "$(cat "$TW_ERR")"
tw n --json gaps >"$F/gaps1000.json"
[ "$(tw_json "$F/gaps1000.json" '[len(d["dangling"]), d["counts"]["dangling_links"]]')" = "[1000, 1000]" ] &&
    pass "at 1000 (TW_REPORT_LIST_MAX) links to nothing, the list holds all 1000" ||
    fail "1000 links listed" "$(tw_json "$F/gaps1000.json" '[len(d["dangling"]), d["counts"]]')"
check_file "... and twin gaps titles the list without a count" \
    "links whose group or place is not found (references to fix)" "$F/gaps1000.txt"
if grep -q "more, not listed\|the first 1000 listed" "$F/gaps1000.txt"; then
    fail "a whole list says nothing of rows not listed" "$(grep -n "not listed\|first 1000" "$F/gaps1000.txt" | head -n 3)"
else
    pass "a whole list says nothing of rows not listed"
fi

records 1000 1 && check "n imports 1 more link to nothing" tw n import "$F/recs-1000.json"
tw n gaps >"$F/gaps.txt" 2>"$TW_ERR" || fail "twin gaps" "$(cat "$TW_ERR")"
tw n --json gaps >"$F/gaps.json"
[ "$(tw_json "$F/gaps.json" '[len(d["dangling"]), d["counts"]["dangling_links"]]')" = "[1000, 1001]" ] &&
    pass "at 1001 the JSON holds 1000 and counts 1001" ||
    fail "1000 of 1001 in the JSON" "$(tw_json "$F/gaps.json" '[len(d["dangling"]), d["counts"]]')"
check_file "twin gaps: the list's title says 1001, the first 1000 listed" \
    "links whose group or place is not found (references to fix): 1001, the first 1000 listed" "$F/gaps.txt"
check_file "... and a line says 1 more is not listed" \
    "  ... and 1 more, not listed (a list holds at most 1000; the count is complete)" "$F/gaps.txt"
rows=$(sed -n '/^links whose group or place is not found/,/^$/p' "$F/gaps.txt" | grep -c "/lost-")
[ "$rows" = 1000 ] && pass "... with 1000 rows" || fail "1000 rows listed" "$rows"
check_row "gaps: the summary in words" "links whose group or place is not found" 1001 "$F/gaps.txt"
check_row "gaps" "places with no active partner" 2 "$F/gaps.txt"
check_file "gaps: place kinds in words" "Bedouin community" "$F/gaps.txt"
bad=$(grep -nE "^(counts|KEY|[a-z]+_[a-z_]+)( |$)|dangling_links|unpartnered_places|bedouin_community" "$F/gaps.txt" | head -n 3)
[ -z "$bad" ] && pass "gaps shows no key of the answer as a title, heading or row" || fail "gaps shows keys" "$bad"

tw n stats >"$F/stats.txt" 2>"$TW_ERR" || fail "twin stats" "$(cat "$TW_ERR")"
[ "$(head -n 1 "$F/stats.txt")" = totals ] && pass "stats: totals come first" || fail "stats: totals first" "$(head -n 3 "$F/stats.txt")"
check_row "stats" "group records" 2 "$F/stats.txt"
check_row "stats" "links (both sides' statements of one link count once)" 1002 "$F/stats.txt"
check_row "stats" "twinning association" 1 "$F/stats.txt"
check_row "stats: record kinds in words" "peer address" 1 "$F/stats.txt"
check_row "stats" "(group not found)" 1001 "$F/stats.txt"
check_row "stats" "(place not found)" 1001 "$F/stats.txt"
for want in "active links by kind of group" "active links by governorate of the place" \
            "PS-JEM Jerusalem (al-Quds)" "groups by UK nation" "England" "Scotland" \
            "places by kind (a place listed twice counts once)" "Bedouin community" "refugee camp" \
            "the trend: links active in each year" "groups by how their region is known" "given (region field)"; do
    check_file "stats: $want" "$want" "$F/stats.txt"
done
bad=$(sed '/^  (none)$/d' "$F/stats.txt" | grep -E "^(KEY|[a-z]+_[a-z_]+)( |$)|twinning_association|bedouin_community|\((none|unknown)\)" | head -n 3)
[ -z "$bad" ] && pass "stats shows no key of the answer as a title, heading or row" || fail "stats shows keys" "$bad"
tw n --json stats >"$F/stats.json"
[ "$(tw_json "$F/stats.json" 'd["active_links_by_group_kind"]')" = '{"(unknown)": 1001, "twinning_association": 1}' ] &&
    pass "stats --json keeps the keys and codes" || fail "stats --json keys" "$(tw_json "$F/stats.json" 'd["active_links_by_group_kind"]')"

tw n status >"$F/status.txt"
check_row "status: record kinds in words" "peer address" 1 "$F/status.txt"
grep -q "^storage .* used, may grow to .* (map_ceiling); .* free on the disk" "$F/status.txt" && ! grep -q "used of" "$F/status.txt" &&
    pass "status: storage used, what it may grow to, free on the disk (not 'used of' the map)" ||
    fail "status storage line" "$(grep storage "$F/status.txt")"
tw_stop n || fail "twind stops cleanly"
tw_done
