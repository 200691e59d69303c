#!/bin/sh
# Precedence and confirmation across three real nodes on 127.0.0.1 (an open
# network: admission is tested elsewhere): a hub lists Battir naming the
# committee's key, with the wrong governorate; while the committee has no
# record of its own the hub's listing stands for the place.  Then the
# committee publishes its own Battir under another spelling and governorate:
# list shows the committee's record and leaves the hub's out (--all shows
# both, the hub's marked superseded), show says so, and stats count the
# place once with the committee's governorate.  A group node links its
# group to the committee's place (KEY/SLOT) and the committee states the
# link back: confirmed; the group's other link, to a place listed by the hub
# only, is unconfirmed.  Then the hub lists the group naming the group
# node's key: the group's own record supersedes the listing (one group, and
# the hub's link from it is the group's link).
. tests/integration/lib.sh

F=$TW_ROOT/files
mkdir -p "$F"
CONV_S=30
PH=$(tw_free_port)

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
CFP=$(echo "$CK" | cut -c5-14)

# jq_ DESC FILE EXPR: PASS when the Python expression over d (the JSON in FILE) is true.
jq_() {
    if [ "$(tw_json "$2" "$3" 2>"$TW_ERR")" = true ]; then pass "$1"; else
        fail "$1" "false: $3"; head -c 800 "$2" | sed 's/^/      /'; fi
}
converge() {
    if tw_wait_converged "$CONV_S" hub comm grp; then pass "$1 (${TW_CONV_S} s)"; else
        fail "$1" "digests/entries:$TW_CONV_DETAIL"; fi
}
# row NODE ARGS...: `twin list` on NODE into $F/rows.txt (one table).
row() { _n=$1; shift; tw "$_n" list "$@" >"$F/rows.txt" 2>"$TW_ERR"; }
# has_row DESC PATTERN: PASS when a line of $F/rows.txt matches the ERE.
has_row() { if grep -qE -- "$2" "$F/rows.txt"; then pass "$1"; else fail "$1" "no line matches: $2"; sed 's/^/      /' "$F/rows.txt"; fi; }
no_row() { if grep -qE -- "$2" "$F/rows.txt"; then fail "$1" "a line matches: $2"; sed 's/^/      /' "$F/rows.txt"; else pass "$1"; fi; }

# ------------------------------------------------------ the hub's listings
check "the hub lists Battir, naming the committee" tw hub publish place battir name_en=Battir place_kind=village \
    country=PS subdivision=PS-HBN area=west_bank seeking_partner=true "committee=$CK"
check "the hub lists Bil'in, no committee" tw hub publish place bilin "name_en=Bil'in" place_kind=village \
    country=PS subdivision=PS-RBH area=west_bank
check "the group node publishes a group" tw grp publish group camden "name=Camden Battir Link" \
    group_kind=twinning_association nation=england region=E12000007
check "the group node publishes another group" tw grp publish group leeds "name=Leeds Bil'in Friendship" \
    group_kind=friendship_group nation=england
check "a link from the other group to the hub's Bil'in" tw grp publish link leeds-bilin group=leeds \
    "place=$HK/bilin" formality=exploring status=exploring
converge "the hub's listings reach every node"

tw grp --json stats >"$F/stats0.json" 2>"$TW_ERR" || fail "twin stats --json (before)"
jq_ "before the committee publishes, the hub's listing counts, in its governorate" "$F/stats0.json" \
    'd["places_by_subdivision"] == {"PS-HBN": 1, "PS-RBH": 1} and d["seeking"].get("places") == 1'
row grp place
has_row "before the committee publishes, list place shows the hub's battir" '^battir '

# -------------------------------------------- the committee's own record
check "the committee publishes its own place" tw comm publish place bittir name_en=Bittir "name_ar=بتير" \
    "other_names=Battir village" place_kind=town country=PS subdivision=PS-BTH area=west_bank
check "the group links to the committee's place (KEY/SLOT)" tw grp publish link camden-battir group=camden \
    "place=$CK/bittir" formality=formal_twinning status=active since=2007
check "the committee states the link back" tw comm publish link camden-back "group=$GK/camden" \
    place=bittir formality=formal_twinning status=active since=2007
converge "every record reaches every node"

for n in grp hub; do
    tw "$n" --json list place >"$F/places_$n.json" 2>"$TW_ERR" || fail "twin list place --json on $n"
    jq_ "list place on $n: the committee's record, not the hub's listing" "$F/places_$n.json" \
        'sorted(r["slot"] for r in d) == ["bilin", "bittir"] and not any("superseded_by" in r for r in d)'
done
tw grp --json list place --all >"$F/places_all.json" 2>"$TW_ERR" || fail "twin list place --all --json"
jq_ "list place --all: both records, the hub's superseded by the committee's" "$F/places_all.json" \
    "(sorted(r['slot'] for r in d) == ['battir', 'bilin', 'bittir'] and
      [r.get('superseded_by') for r in d if r['slot'] == 'battir'] == ['$CK/bittir'] and
      sum('superseded_by' in r for r in d) == 1)"
row grp place
has_row "list place shows bittir" '^bittir '
no_row "list place leaves the hub's battir out" '^battir '
no_row "list place has no SUPERSEDED BY column when nothing shown is superseded" 'SUPERSEDED BY'
row grp place --all
has_row "list place --all shows the SUPERSEDED BY column" 'SUPERSEDED BY'
has_row "list place --all marks battir superseded by the committee's bittir" "^battir .* $CFP/bittir"
row grp place --all --wide
has_row "list place --all --wide gives the full reference of the committee's record" "^battir .* $CK/bittir "
has_row "list place --all shows bittir, not superseded" "^bittir .*town"
check_out "show place battir says what supersedes it" 0 "$CK/bittir (the committee's own entry)" tw grp show place battir
check_out "show place battir has a 'superseded by' line" 0 "superseded by" tw grp show place battir
tw grp --json show place battir >"$F/show_battir.json" 2>"$TW_ERR" || fail "twin show place battir --json"
jq_ "show --json: superseded_by on the hub's listing" "$F/show_battir.json" \
    "[r.get('superseded_by') for r in d] == ['$CK/bittir']"
tw grp --json show place bittir >"$F/show_bittir.json" 2>"$TW_ERR" || fail "twin show place bittir --json"
jq_ "show --json: the committee's record is not superseded" "$F/show_bittir.json" \
    'len(d) == 1 and "superseded_by" not in d[0]'
tw grp --json search battir >"$F/search.json" 2>"$TW_ERR" || fail "twin search battir --json"
jq_ "search finds both records, the hub's marked" "$F/search.json" \
    "sorted((r['slot'], r.get('superseded_by')) for r in d['records'] if r['kind'] == 'place') == [('battir', '$CK/bittir'), ('bittir', None)]"
tw grp --json export >"$F/export.json" 2>"$TW_ERR" || fail "twin export"
jq_ "export keeps the superseded listing" "$F/export.json" 'sum(r["slot"] == "battir" for r in d) == 1'

# ------------------------------------------------------------------ links
for n in grp comm; do
    tw "$n" --json list link >"$F/links_$n.json" 2>"$TW_ERR" || fail "twin list link --json on $n"
    jq_ "list link on $n: both statements of the camden link confirmed, leeds-bilin unconfirmed" "$F/links_$n.json" \
        'sorted((r["slot"], r["confirmed"]) for r in d) == [("camden-back", True), ("camden-battir", True), ("leeds-bilin", False)]'
done
row grp link
has_row "list link has a CONFIRMED column" 'CONFIRMED'
has_row "list link: camden-battir confirmed" '^camden-battir .* confirmed '
has_row "list link: leeds-bilin unconfirmed" '^leeds-bilin .* unconfirmed '
check_out "show link camden-battir: confirmed" 0 "confirmed (stated by both sides)" tw grp show link camden-battir
check_out "show link leeds-bilin: unconfirmed" 0 "unconfirmed (stated by one side only)" tw grp show link leeds-bilin

# ------------------------------------------------------------------ stats
for n in grp hub comm; do
    tw "$n" --json stats >"$F/stats_$n.json" 2>"$TW_ERR" || fail "twin stats --json on $n"
    jq_ "stats on $n: one link confirmed, one one-sided" "$F/stats_$n.json" \
        'd["links_by_confirmation"] == {"confirmed": 1, "unconfirmed": 1}'
    jq_ "stats on $n: Battir counted once, in the committee's governorate and kind" "$F/stats_$n.json" \
        '(d["places_by_subdivision"] == {"PS-BTH": 1, "PS-RBH": 1} and d["places_by_kind"] == {"town": 1, "village": 1} and
          d["totals"]["places"] == 3 and d["totals"]["place_identities"] == 2)'
    jq_ "stats on $n: the hub's 'seeking' is superseded by the committee's record" "$F/stats_$n.json" \
        '"places" not in d["seeking"] and d["active_links_by_governorate"] == {"PS-BTH": 1}'
done
tw grp --json gaps >"$F/gaps.json" 2>"$TW_ERR" || fail "twin gaps --json"
jq_ "gaps: a listing superseded by the committee's record is not the place listed twice" "$F/gaps.json" \
    "d['listed_twice'] == [] and d['counts']['places_listed_twice'] == 0 and d['counts']['unpartnered_places'] == 1"

# ------------------------------------------------- group precedence
# The hub lists the group node's Camden group naming its key; the group's
# own record supersedes the listing: one group, and the hub's link from its
# listing to Bittir is the same link as camden-battir (Bittir is sought by
# one group, not two).
check "the hub lists the Camden group, naming the group node's key" tw hub publish group hub-camden \
    "name=Camden Battir Link" group_kind=twinning_association nation=england "own_key=$GK"
check "the hub states a link from its listing to Bittir" tw hub publish link hub-camden-bittir group=hub-camden \
    "place=$CK/bittir" formality=formal_twinning status=active since=2007
converge "the hub's group listing reaches every node"
for n in grp hub; do
    tw "$n" --json list group >"$F/groups_$n.json" 2>"$TW_ERR" || fail "twin list group --json on $n"
    jq_ "list group on $n: the group's own records, not the hub's listing" "$F/groups_$n.json" \
        'sorted(r["slot"] for r in d) == ["camden", "leeds"] and not any("superseded_by" in r for r in d)'
done
tw hub --json list group --all >"$F/groups_all.json" 2>"$TW_ERR" || fail "twin list group --all --json"
jq_ "list group --all: the hub's listing superseded by the group's own record" "$F/groups_all.json" \
    "[r.get('superseded_by') for r in d if r['slot'] == 'hub-camden'] == ['$GK/camden'] and sum('superseded_by' in r for r in d) == 1"
tw hub --json show group hub-camden >"$F/show_hubcamden.json" 2>"$TW_ERR" || fail "twin show group hub-camden --json"
jq_ "show --json: superseded_by on the hub's group listing" "$F/show_hubcamden.json" \
    "[r.get('superseded_by') for r in d] == ['$GK/camden']"
check_out "show group hub-camden names the group's own entry" 0 "$GK/camden (the group's own entry)" tw hub show group hub-camden
for n in grp hub comm; do
    tw "$n" --json stats >"$F/gstats_$n.json" 2>"$TW_ERR" || fail "twin stats --json on $n"
    jq_ "stats on $n: three group records, two groups; the hub's link is camden's, still one confirmed" "$F/gstats_$n.json" \
        '(d["totals"]["groups"] == 3 and d["totals"]["group_identities"] == 2 and d["totals"]["links"] == 2 and
          d["links_by_confirmation"] == {"confirmed": 1, "unconfirmed": 1} and d["groups_by_kind"] == {"friendship_group": 1, "twinning_association": 1})'
done
tw hub --json gaps >"$F/ggaps.json" 2>"$TW_ERR" || fail "twin gaps --json"
jq_ "gaps: Bittir is not sought by two groups, and no group is listed twice" "$F/ggaps.json" \
    "d['counts']['duplicated_places'] == 0 and d['groups_listed_twice'] == [] and d['counts']['group_identities'] == 2"

# ------------------------------------------------------------------ names
jq_ "list place --all --json: the superseded listing carries the committee record's name" "$F/places_all.json" \
    "[r.get('superseded_by_name') for r in d if r['slot'] == 'battir'] == ['Bittir']"
check "the group links to the hub's superseded listing of Battir" tw grp publish link camden-old group=camden \
    "place=$HK/battir" formality=exploring status=ended
converge "the link reaches every node"
tw hub --json list link >"$F/links_names.json" 2>"$TW_ERR" || fail "twin list link --json on the hub"
jq_ "a link to a superseded listing is named by the committee's record (Bittir, بتير)" "$F/links_names.json" \
    "[(r.get('place_name'), r.get('place_name_ar'), r.get('group_name')) for r in d if r['slot'] == 'camden-old'] == [('Bittir', 'بتير', 'Camden Battir Link')]"

tw_stop grp || fail "group node stops cleanly"
tw_stop comm || fail "committee node stops cleanly"
tw_stop hub || fail "hub stops cleanly"
tw_done
