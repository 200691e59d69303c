#!/bin/sh
# twin search on a node holding a small messy registry
# (tests/vectors/search-registry.json: Arabic names, transliterations,
# duplicates, odd spellings): the record each query must find first, in the
# table and in --json (rank, score, match, total); what must not be found;
# "did you mean"; --limit; the refusals of bad search text at their limits,
# logged with their reason, after which the node goes on serving; a
# deleted record is neither found nor suggested.
. tests/integration/lib.sh

POKE="timeout 60 python3 tests/tools/ctlpoke.py"
F=$TW_ROOT/files
mkdir -p "$F"

jq_() {
    if [ "$(tw_json "$2" "$3" 2>"$TW_ERR")" = true ]; then pass "$1"; else fail "$1" "false: $3"; head -c 800 "$2" | sed 's/^/      /'; fi
}

if tw_start n1; then pass "twind starts"; else fail "twind starts"; tw_done; fi
D1=$(tw_dir n1)
check_out "the messy registry imports" 0 "36 imported" tw n1 import tests/vectors/search-registry.json

# first_slot QUERY: the SLOT of the first row of `twin search QUERY` (the
# table has SLOT as its first column for one kind, second for mixed kinds).
first_slot() {
    tw n1 search -- "$1" 2>/dev/null | awk 'NR == 1 { col = ($1 == "KIND") ? 2 : 1; next } NR == 2 { print $col; exit }'
}

# ------------------------------------------------------------- first results

while IFS='|' read -r query want; do
    [ -n "$query" ] || continue
    got=$(first_slot "$query")
    if [ "$got" = "$want" ]; then pass "search \"$query\" finds $want first"
    else fail "search \"$query\" finds $want first" "first was: ${got:-(nothing)}"; fi
done <<'EOF'
ramallah al bireh|ramallah-bireh
Ramallah & al-Bireh|ramallah-bireh
khan yunis|khan-yunis
al amari|al-amari
el am'ari|al-amari
beit sahour|beit-sahour
bayt sāḥūr|bayt-sahur
sahour beit|beit-sahour
بيت ساحور|beit-sahour
بَيْتُ سَاحُور|beit-sahour
خان يونس|khan-yunis
الامعري|al-amari
امعري|al-amari
مخيم الأمعري|al-amari
رام الله والبيرة|ramallah-bireh
البيرة|al-bireh
el bireh|al-bireh
kalkilia|qalqilya
dair al balah|deir-al-balah
khan yun|khan-yunis
ni'lin|nilin
ad-dhahiriya|ad-dhahiriya
ramallah|ramallah
EOF

# The group whose name has "Younis" whole ranks above the place spelt Yunis,
# which comes next: both are found.
tw n1 --json search "khan younis" >"$F/ky.json"
jq_ "khan younis: the Sheffield group (words), then Khan Yunis (variant)" "$F/ky.json" \
    '[(r["slot"], r["match"]) for r in d["records"][:3]] == [("sheffield-khan-younis", "words"), ("khan-yunis", "variant"), ("khan-yunis-camp", "variant")]'
jq_ "khan younis --json: rank 1.., scores descending, total = records" "$F/ky.json" \
    '[r["rank"] for r in d["records"]] == list(range(1, len(d["records"]) + 1)) and [r["score"] for r in d["records"]] == sorted([r["score"] for r in d["records"]], reverse=True) and d["total"] == len(d["records"]) and d["suggestions"] == []'

tw n1 --json search "beit" >"$F/beit.json"
jq_ "beit alone: the four Beit places first (whole words), then the group, the link's text, Beitunia (prefix), Bayt Sahur (variant)" "$F/beit.json" \
    'sorted(r["slot"] for r in d["records"][:4]) == ["beit-hanoun", "beit-jala", "beit-sahour", "beit-ummar"] and [(r["kind"], r["slot"], r["match"]) for r in d["records"][4:]] == [("group", "ashford-beit-sahour", "words"), ("link", "ashford-beit-sahour", "words"), ("place", "beitunia", "prefix"), ("place", "bayt-sahur", "variant")]'

tw n1 --json search "aida camp" >"$F/aida.json"
jq_ "aida camp: both listings of the duplicate, exact name" "$F/aida.json" \
    'sorted(r["slot"] for r in d["records"][:2]) == ["aida", "aida-camp"] and d["records"][0]["match"] == "exact_name" and d["records"][1]["match"] == "exact_name"'

tw n1 --json search "ramallah" >"$F/ram.json"
jq_ "ramallah does not find Rafah or al-Bireh" "$F/ram.json" \
    'd["total"] >= 3 and not any(r["slot"] in ("rafah", "al-bireh") for r in d["records"])'

# ------------------------------------------------------------- nothing, did you mean

for q in xylophone "helicopter quartz" "lorem ipsum"; do
    tw_run tw n1 search "$q"
    if [ "$TW_RC" = 0 ] && [ "$(cat "$TW_OUT")" = "No record matches \"$q\"." ]; then pass "\"$q\" finds nothing, says so, suggests nothing"
    else fail "\"$q\" finds nothing, says so, suggests nothing"; tw__show_last; fi
done
check_out "bethelem: did you mean Bethlehem" 0 'No record matches "bethelem". Did you mean: Bethlehem?' tw n1 search bethelem
check_out "jenim: did you mean Jenin" 0 'Did you mean: Jenin?' tw n1 search jenim
check_out "Arabic with a wrong letter: did you mean بيت ساحور" 0 'Did you mean: بيت ساحور?' tw n1 search "ساحوز"
tw n1 --json search "tulkarem" >"$F/tk.json"
jq_ "--json: no records, total 0, the suggestion with its kind, slot and distance" "$F/tk.json" \
    'd["records"] == [] and d["total"] == 0 and d["suggestions"][0] == {"name": "Tulkarm", "kind": "place", "slot": "tulkarm", "missing": 0, "distance": 1}'

# ------------------------------------------------------------- --limit

tw_run tw n1 search --limit 2 beit
if [ "$TW_RC" = 0 ] && [ "$(wc -l <"$TW_OUT")" = 3 ] && grep -qF "the best 2 of 8 matches" "$TW_ERR"; then
    pass "--limit 2 shows two rows and says how many matched"
else fail "--limit 2 shows two rows and says how many matched"; tw__show_last; fi

# ------------------------------------------------------------- refusals

check_out "empty text refused, exit 1" 1 "search text is empty" tw n1 search ""
check_out "punctuation only refused, exit 1" 1 "search text is empty" tw n1 search -- "-'-"
long=$(python3 -c 'print("a" * 1024)')
check "a text of TW_STR_MAX (1024) bytes is searched" tw n1 search "$long"
check_out "a text of 1025 bytes is refused, exit 1" 1 "longer than 1024 bytes" tw n1 search "${long}a"
w16="w1 w2 w3 w4 w5 w6 w7 w8 w9 w10 w11 w12 w13 w14 w15 w16"
check "16 words (TW_SEARCH_WORDS_MAX) are searched" tw n1 search "$w16 al and"
check_out "17 words are refused, exit 1" 1 "more than 16 words" tw n1 search "$w16 w17"
check_out "the daemon refuses a text that is not a string (raw request)" 0 'argument \"text\" must be a string' \
    $POKE "$D1/twind.sock" json '{"v":1,"op":"search","args":{"text":7}}' recv
check_out "the daemon refuses a limit beyond 10000 (raw request)" 0 'limit' \
    $POKE "$D1/twind.sock" json '{"v":1,"op":"search","args":{"text":"beit","limit":10001}}' recv
check_file "the refusals are logged with their reason" "search refused: search text has more than 16 words" "$(tw_log n1)"
check_out "the node still serves after the refusals" 0 "beit-sahour" tw n1 search "beit sahour"

# ------------------------------------------------------------- deleted records

check_out "delete place beit-jala" 0 "deleted place/beit-jala" tw n1 delete place beit-jala
tw n1 --json search "beit jala" >"$F/bj.json"
jq_ "a deleted record is neither found nor suggested" "$F/bj.json" \
    'd["records"] == [] and all(s["slot"] != "beit-jala" for s in d["suggestions"]) and len(d["suggestions"]) > 0'

tw_stop n1 || fail "twind stops cleanly"
tw_done
