#!/bin/sh
# Names everywhere, the committee's side of a link, and an import that does
# not steal, on three real nodes on 127.0.0.1 (an open network: admission is
# tested elsewhere).
#
# The Kobar committee publishes its place, then its side of the link with
# the Walsall group without place= (filled with its only place, and said)
# and before the group's record exists (kept, with a warning).  The group
# publishes its record and its side: the link is confirmed, by two authors.
# twin list link shows the group's and the place's names (Arabic included)
# in rows within 100 display columns, --wide the full references, --json
# the references and the names.  An import of another node's export skips
# that node's records with a count; --adopt takes them.
. tests/integration/lib.sh

F=$TW_ROOT/files
mkdir -p "$F"
CONV_S=30
PH=$(tw_free_port)
unset COLUMNS

tw_start hub --listen "127.0.0.1:$PH" || { fail "hub starts"; tw_done; }
NETKEY=$(tw_netkey hub)
tw_stop hub
CONF=$(tw_conf common "network_key = $NETKEY" "sync_interval = 2")
tw_start hub --config "$CONF" --listen "127.0.0.1:$PH" || { fail "hub restarts"; tw_done; }
tw_start comm --config "$CONF" --peer "127.0.0.1:$PH" || { fail "committee node starts"; tw_done; }
tw_start grp --config "$CONF" --peer "127.0.0.1:$PH" || { fail "group node starts"; tw_done; }
key_of() { tw "$1" --json status | python3 -c 'import json,sys; print(json.load(sys.stdin)["node"])'; }
HK=$(key_of hub)
CK=$(key_of comm)
GK=$(key_of grp)
[ -n "$HK" ] && [ -n "$CK" ] && [ -n "$GK" ] && pass "three nodes, three keys" || fail "three nodes, three keys"
GFP=$(echo "$GK" | cut -c5-14)

jq_() {
    if [ "$(tw_json "$2" "$3" 2>"$TW_ERR")" = true ]; then pass "$1"; else
        fail "$1" "false: $3"; head -c 1200 "$2" | sed 's/^/      /'; fi
}
converge() {
    if tw_wait_converged "$CONV_S" hub comm grp; then pass "$1 (${TW_CONV_S} s)"; else
        fail "$1" "digests/entries:$TW_CONV_DETAIL"; fi
}
# widest FILE: the display width of the widest line (combining marks and
# Arabic harakat take no column, East Asian wide characters two).
widest() {
    python3 -c 'import sys, unicodedata as u
def w(s): return sum(0 if u.category(c) in ("Mn", "Me", "Cf") else 2 if u.east_asian_width(c) in "WF" else 1 for c in s)
print(max([w(l.rstrip("\n")) for l in open(sys.argv[1], encoding="utf-8")] + [0]))' "$1"
}

GNAME="Walsall Kobar Friendship and Twinning Association of the West Midlands Region"
ANAME="كَوْبَر قرية في محافظة رام الله والبيرة الفلسطينية"

# ------------------------------------------- the committee's side, first
check "the committee publishes its place" tw comm publish place kobar name_en=Kobar "name_ar=$ANAME" \
    place_kind=village country=PS subdivision=PS-RBH area=west_bank
tw comm publish link walsall "group=$GK/walsall" formality=friendship_link status=active \
    >"$F/pub.out" 2>"$F/pub.err"
PUB_RC=$?
[ "$PUB_RC" = 0 ] && pass "a link to a group not known yet is accepted" || fail "a link to a group not known yet is accepted" "exit $PUB_RC: $(cat "$F/pub.err")"
check_file "publish says place= was filled with the node's only place" \
    "note: place= filled with kobar (this node's only place, Kobar)" "$F/pub.err"
check_file "publish warns that the group is not known yet" \
    "warning: no group twk_$GFP…/walsall is known yet; the link counts once it arrives" "$F/pub.err"
tw comm --json show link walsall >"$F/show0.json" 2>"$TW_ERR" || fail "show link walsall --json"
jq_ "the stored link has place=kobar and the group's reference" "$F/show0.json" \
    "d[0]['body']['place'] == 'kobar' and d[0]['body']['group'] == '$GK/walsall' and d[0]['confirmed'] is False"
check_out "show link says the group is not known here yet" 0 "$GK/walsall (not known here yet)" tw comm show link walsall

# A place given, or a node with no single place: nothing filled.
tw comm --json publish link other "group=$GK/walsall" place=kobar formality=exploring status=exploring \
    >"$F/pub1.json" 2>"$TW_ERR" || fail "publish a link with place="
jq_ "with place= given nothing is filled (notes empty, one warning)" "$F/pub1.json" \
    "d['notes'] == [] and len(d['warnings']) == 1"
check "the hub lists two places" sh -c "'$TWIN' --data-dir '$TW_ROOT/hub' publish place battir name_en=Battir place_kind=village country=PS subdivision=PS-BTH >/dev/null && '$TWIN' --data-dir '$TW_ROOT/hub' publish place bilin \"name_en=Bil'in\" place_kind=village country=PS subdivision=PS-RBH >/dev/null"
tw hub --json publish link hublink "group=$GK/walsall" formality=exploring status=exploring \
    >"$F/pub2.json" 2>"$TW_ERR" || fail "the hub publishes a link without place="
jq_ "a node with two places gets no place= filled" "$F/pub2.json" \
    "d['notes'] == [] and 'place' not in d and len(d['warnings']) == 1"
tw hub --json show link hublink >"$F/show2.json" 2>"$TW_ERR"
jq_ "the hub's link was stored without a place" "$F/show2.json" "'place' not in d[0]['body']"
check "the hub deletes that link" tw hub delete link hublink
check "the committee deletes its other link" tw comm delete link other

# ------------------------------------------------ the group's side
check "the group publishes its record" tw grp publish group walsall "name=$GNAME" \
    group_kind=twinning_association nation=england region=E12000005
tw grp publish link kobar group=walsall "place=$CK/kobar" formality=friendship_link status=active since=2019 \
    >"$F/pub3.out" 2>"$F/pub3.err" || fail "the group states the link"
if grep -q "warning\|note: place" "$F/pub3.err"; then fail "the group's link resolves: no warning, nothing filled" "$(cat "$F/pub3.err")"
else pass "the group's link resolves: no warning, nothing filled"; fi
converge "every record reaches every node"

for n in hub comm grp; do
    tw "$n" --json list link >"$F/links_$n.json" 2>"$TW_ERR" || fail "list link --json on $n"
    jq_ "on $n both statements are confirmed (two authors, one each side)" "$F/links_$n.json" \
        "sorted((r['slot'], r['confirmed']) for r in d) == [('kobar', True), ('walsall', True)]"
    jq_ "on $n --json keeps the references and adds the names" "$F/links_$n.json" \
        "(all(r['group_name'] == '''$GNAME''' and r['place_name'] == 'Kobar' and r['place_name_ar'] == '''$ANAME''' for r in d) and
          sorted(r['body']['group'] for r in d) == sorted(['walsall', '$GK/walsall']))"
done

# ------------------------------------------------ tables with names
tw hub list link >"$F/links.txt" 2>"$TW_ERR" || fail "list link (table)"
W=$(widest "$F/links.txt")
[ "$W" -le 100 ] && pass "list link rows fit 100 columns ($W)" || { fail "list link rows fit 100 columns ($W)"; sed 's/^/      /' "$F/links.txt"; }
check_file "list link shows the group's name (cut to fit)" "Walsall Kobar" "$F/links.txt"
check_file "list link cuts a long cell with an ellipsis" "…" "$F/links.txt"
check_file "list link shows the place's Arabic name" "كَوْبَر" "$F/links.txt"
if grep -q "twk_" "$F/links.txt"; then fail "list link shows no full key" "$(cat "$F/links.txt")"; else pass "list link shows no full key"; fi
tw hub list link --wide >"$F/wide.txt" 2>"$TW_ERR" || fail "list link --wide"
check_file "list link --wide shows the full references" "$CK/kobar" "$F/wide.txt"
check_file "list link --wide shows the whole group name" "$GNAME" "$F/wide.txt"
COLUMNS=250 tw hub list link >"$F/c250.txt" 2>"$TW_ERR"
W=$(widest "$F/c250.txt")
[ "$W" -gt 100 ] && [ "$W" -le 250 ] && pass "COLUMNS=250: the table takes the room given ($W)" || fail "COLUMNS=250: the table takes the room given ($W)"
check_file "COLUMNS=250: the whole group name" "$GNAME" "$F/c250.txt"
tw hub list group >"$F/groups.txt" 2>"$TW_ERR"
check_file "list group shows a region's code with its name (cut to fit)" "E12000005 West" "$F/groups.txt"
W=$(widest "$F/groups.txt")
[ "$W" -le 100 ] && pass "list group rows fit 100 columns ($W)" || fail "list group rows fit 100 columns ($W)"
tw hub list group --wide >"$F/groups.txt" 2>"$TW_ERR"
check_file "list group --wide shows a region with its name" "E12000005 West Midlands" "$F/groups.txt"
tw hub list place --wide >"$F/places.txt" 2>"$TW_ERR"
check_file "list place --wide shows a governorate with its name" "PS-RBH Ramallah and al-Bireh" "$F/places.txt"
tw hub list place >"$F/places.txt" 2>"$TW_ERR"
W=$(widest "$F/places.txt")
[ "$W" -le 100 ] && pass "list place rows fit 100 columns ($W)" || fail "list place rows fit 100 columns ($W)"
tw hub search kobar >"$F/search.txt" 2>"$TW_ERR" || fail "search kobar"
check_file "search shows a link by its group and place names" "Walsall Kobar" "$F/search.txt"
check_out "show link names the group and the place" 0 "$GK/walsall ($GNAME)" tw comm show link walsall
check_out "show place names the governorate" 0 "PS-RBH Ramallah and al-Bireh" tw comm show place kobar

# ------------------------------------------------ import that does not steal
tw grp export -o "$F/grp.json" 2>"$TW_ERR" || fail "the group exports"
tw grp export --format csv --kind group -o "$F/grp-group.csv" 2>"$TW_ERR" || fail "the group exports CSV"
NSKIP=$(tw_json "$F/grp.json" "sum(r['author'] != '$HK' for r in d)")
NAUTH=$(tw_json "$F/grp.json" "len(set(r['author'] for r in d if r['author'] != '$HK'))")
tw hub import "$F/grp.json" >"$F/imp.out" 2>"$F/imp.err"
check_file "the hub's import of the group's export skips the others' records, counted" \
    "$NSKIP records of $NAUTH other authors skipped: they reach this node by sync or bundle; --adopt makes this node publish them as its own listings" "$F/imp.err"
check_file "... and takes the hub's own records only (its two places and its peer record, unchanged)" "0 imported, 3 unchanged" "$F/imp.out"
tw hub --json import "$F/grp.json" >"$F/imp.json" 2>"$TW_ERR"
jq_ "import --json counts the skipped records and their authors" "$F/imp.json" \
    "d['imported'] == 0 and d['skipped'] == $NSKIP and d['skipped_authors'] == $NAUTH"
tw hub --json list --author "$HK" >"$F/hubown.json" 2>"$TW_ERR"
jq_ "the hub publishes nothing of the group's as its own" "$F/hubown.json" \
    "not any(r['slot'] in ('walsall', 'kobar') for r in d)"
check_out "a CSV export of another node is skipped too" 0 "1 record of 1 other author skipped" tw hub import "$F/grp-group.csv"
check_out "the group re-imports its own export: its records are its own" 0 "0 imported, 2 unchanged" tw grp import "$F/grp.json"
tw hub --json import --adopt "$F/grp.json" >"$F/adopt.json" 2>"$TW_ERR" || fail "import --adopt"
jq_ "--adopt takes the other authors' records as the hub's own" "$F/adopt.json" "d['skipped'] == 0 and d['imported'] > 0"
tw hub --json list group --author "$HK" >"$F/adopted.json" 2>"$TW_ERR"
jq_ "the hub now lists the group as its own listing" "$F/adopted.json" \
    "[r['slot'] for r in d] == ['walsall'] and d[0]['body']['name'] == '''$GNAME'''"
printf '[{"kind": "group", "slot": "x", "author": "twk_nonsense", "body": {"name": "X", "group_kind": "other", "nation": "wales"}}]\n' >"$F/badauthor.json"
check_out "an author that is not a key is refused with its line" 1 "badauthor.json:1: author:" tw hub import "$F/badauthor.json"

tw_stop grp || fail "group node stops cleanly"
tw_stop comm || fail "committee node stops cleanly"
tw_stop hub || fail "hub stops cleanly"
tw_done
