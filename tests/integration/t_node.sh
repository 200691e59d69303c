#!/bin/sh
# One node and its records, with real twind and twin processes: start-up and
# its refusals, publish/list/show/search/stats/delete, refusals of bad
# records, export and import into fresh nodes, digests, restart.
. tests/integration/lib.sh

POKE="timeout 60 python3 tests/tools/ctlpoke.py"
F=$TW_ROOT/files
mkdir -p "$F"

# bodies NODE FILE: the node's current records as sorted (kind, slot, body)
# JSON lines, authors and times left out, so nodes of different keys compare.
bodies() {
    tw "$1" --json list --limit 10000 >"$2.json" &&
        python3 -c 'import json,sys
for r in sorted(json.load(open(sys.argv[1])), key=lambda r: (r["kind"], r["slot"])):
    print(json.dumps([r["kind"], r["slot"], r["body"]], ensure_ascii=False, sort_keys=True))' "$2.json" >"$2"
}

# jq_ DESC FILE EXPR: PASS when the Python expression EXPR over the JSON
# document d in FILE is true.
jq_() {
    if [ "$(tw_json "$2" "$3" 2>"$TW_ERR")" = true ]; then pass "$1"; else fail "$1" "false: $3"; head -c 600 "$2" | sed 's/^/      /'; fi
}

count_entries() { tw "$1" --json status | python3 -c 'import json,sys; print(json.load(sys.stdin)["entries"])'; }
digest_of() { tw "$1" --json digest | python3 -c 'import json,sys; print(json.load(sys.stdin)["digest"])'; }

# ------------------------------------------------------------- usage

check "twind --help exits 0" "$TWIND" --help
check "twin --help exits 0" "$TWIN" --help
check "twind --version exits 0" "$TWIND" --version
check_rc "twind with an unknown flag exits 2" 2 "$TWIND" --no-such-flag
check_rc "twind with a stray argument exits 2" 2 "$TWIND" stray
check_rc "twin with an unknown flag exits 2" 2 "$TWIN" --no-such-flag
check_rc "twin with an unknown subcommand exits 2" 2 "$TWIN" frobnicate
check_out "twin with no daemon says it cannot reach twind and exits 1" 1 "cannot reach twind" tw n1 status

# ------------------------------------------------------------- first start

if tw_start n1; then pass "first start of twind serves twin status"; else fail "first start of twind serves twin status"; tw_done; fi
D1=$(tw_dir n1)
[ "$(stat -c %a "$D1/identity.key")" = 600 ] && pass "identity.key created with mode 0600" ||
    fail "identity.key created with mode 0600" "mode $(stat -c %a "$D1/identity.key")"
[ "$(stat -c %a "$D1")" = 700 ] && pass "data directory created with mode 0700" ||
    fail "data directory created with mode 0700" "mode $(stat -c %a "$D1")"
[ "$(stat -c %a "$D1/twind.sock")" = 600 ] && pass "control socket has mode 0600" ||
    fail "control socket has mode 0600" "mode $(stat -c %a "$D1/twind.sock")"
check_out "status shows the node key (twk_...)" 0 "twk_" tw n1 status
tw n1 --json status >"$F/status0.json"
jq_ "status --json: node key twk_... and 0 entries" "$F/status0.json" \
    'd["node"].startswith("twk_") and d["entries"] == 0 and d["kinds"] == {}'
check_file "log names the new identity" "created a new node identity" "$(tw_log n1)"

# ------------------------------------------------------------- publish

check_out "publish group camden-friendship" 0 "created group/camden-friendship" \
    tw n1 publish group camden-friendship name="Camden Abu Dis Friendship Association" \
    group_kind=friendship_group nation=england region=E12000007 local_authority=Camden \
    formal_status=informal founded=1984 website=https://camden-abudis.example.org \
    email=info@camden-abudis.example.org seeking_partner=no \
    'description=Friendship link, founded 1984; "twinning" in all but name'
check_out "publish place abu-dis" 0 "created place/abu-dis" \
    tw n1 publish place abu-dis name_en="Abu Dis" name_ar="أبو ديس" "other_names=Abu Dees;Abu Deis" \
    place_kind=town country=PS subdivision=PS-JEM area=west_bank seeking_partner=no
check_out "publish place aida-camp" 0 "created place/aida-camp" \
    tw n1 publish place aida-camp name_en="Aida camp" name_ar="مخيم عايدة" place_kind=refugee_camp \
    country=PS subdivision=PS-BTH area=west_bank seeking_partner=yes 'description==HYPERLINK("x") is only text'
check_out "publish link camden-abu-dis" 0 "created link/camden-abu-dis" \
    tw n1 publish link camden-abu-dis group=camden-friendship place=abu-dis \
    formality=friendship_link status=active since=1984 "activities=visits;olive harvest"

check_out "list group --wide shows camden-friendship" 0 "Camden Abu Dis Friendship Association" tw n1 list group --wide
check_out "list group shows the region with its name" 0 "E12000007 London" tw n1 list group
check_out "list place shows the Arabic name" 0 "أبو ديس" tw n1 list place
check_out "list place shows aida-camp" 0 "aida-camp" tw n1 list place
check_out "list link shows camden-abu-dis" 0 "camden-abu-dis" tw n1 list link
check_out "list with a field filter" 0 "aida-camp" tw n1 list place place_kind=refugee_camp
tw_run tw n1 list place place_kind=refugee_camp
grep -q abu-dis "$TW_OUT" && fail "field filter leaves out abu-dis" || pass "field filter leaves out abu-dis"
tw_run tw n1 show place abu-dis
if [ "$TW_RC" = 0 ] && grep -Eq '^ +verified +yes$' "$TW_OUT"; then pass "show place abu-dis says verified"; else
    fail "show place abu-dis says verified"; tw__show_last; fi

tw n1 --json show place abu-dis >"$F/show.json"
jq_ "show --json parses, verified=true, all fields" "$F/show.json" \
    'len(d) == 1 and d[0]["verified"] is True and d[0]["mine"] is True and d[0]["body"] == {"name_en": "Abu Dis", "name_ar": "أبو ديس", "other_names": ["Abu Dees", "Abu Deis"], "place_kind": "town", "country": "PS", "subdivision": "PS-JEM", "area": "west_bank", "seeking_partner": False} and len(d[0]["id"]) == 64 and len(d[0]["envelope"]) > 128'
tw n1 --json show group camden-friendship >"$F/showg.json"
jq_ "show --json group keeps the description with comma and quotes" "$F/showg.json" \
    'd[0]["body"]["description"] == "Friendship link, founded 1984; \"twinning\" in all but name" and d[0]["body"]["founded"] == "1984" and d[0]["body"]["region"] == "E12000007"'
tw n1 --json list >"$F/list.json"
jq_ "list --json parses and holds the 4 records" "$F/list.json" \
    'sorted((r["kind"], r["slot"]) for r in d) == [("group", "camden-friendship"), ("link", "camden-abu-dis"), ("place", "abu-dis"), ("place", "aida-camp")]'

tw n1 --json search "abu dis" >"$F/s1.json"
jq_ "search \"abu dis\" finds place abu-dis" "$F/s1.json" '"abu-dis" in [r["slot"] for r in d["records"] if r["kind"] == "place"]'
tw n1 --json search "ابو ديس" >"$F/s2.json"
jq_ "search with alef without hamza finds the stored أبو ديس" "$F/s2.json" '[r["slot"] for r in d["records"]] == ["abu-dis"]'
tw n1 --json search "ABU DIS" >"$F/s3.json"
jq_ "search is case-insensitive" "$F/s3.json" '"abu-dis" in [r["slot"] for r in d["records"]]'
tw n1 --json search "abu deis" >"$F/s4.json"
jq_ "search finds other spellings, the place first" "$F/s4.json" '[r["slot"] for r in d["records"]][0] == "abu-dis"'
tw n1 --json search "nablus" >"$F/s5.json" 2>/dev/null
jq_ "search for an absent place finds nothing" "$F/s5.json" 'd["records"] == [] and d["total"] == 0'

tw n1 --json stats >"$F/stats.json"
jq_ "stats counts kinds, nations, subdivisions, seeking" "$F/stats.json" \
    'd["kinds"] == {"group": 1, "link": 1, "place": 2} and d["groups_by_nation"] == {"england": 1} and d["places_by_subdivision"] == {"PS-BTH": 1, "PS-JEM": 1} and d["places_by_kind"] == {"refugee_camp": 1, "town": 1} and d["links_by_status"] == {"active": 1} and d["seeking"] == {"places": 1}'

# status's counts by kind are kept by the store as writes commit (store.c,
# kinds_*): counted at the start with none, moved by each publish, then by a
# delete and a republish; asked twice with no write between, and compared
# with a full count at the same moment (status with "recount").
# same_counts DESC FILE1 FILE2: two `status --json` answers give the same
# entries, hidden, tombstones and kinds.
same_counts() {
    if python3 -c 'import json,sys
a, b = ([json.load(open(f))[k] for k in ("entries", "hidden", "tombstones", "kinds")] for f in sys.argv[1:])
sys.exit(a != b)' "$2" "$3"; then pass "$1"; else fail "$1"; fi
}
tw n1 --json status >"$F/status2.json"
tw n1 --json status >"$F/status3.json"
jq_ "status after the publishes counts them by kind" "$F/status2.json" \
    'd["entries"] == 4 and d["tombstones"] == 0 and d["kinds"] == {"group": 1, "link": 1, "place": 2}'
same_counts "status asked again with no write between gives the same counts" "$F/status2.json" "$F/status3.json"
tw_counts_agree "status's kept counts after the publishes equal a full count" n1

# ------------------------------------------------------------- refusals

N0=$(count_entries n1)
check_out "bad governorate refused with field and reason, exit 1" 1 \
    'place.subdivision: "PS-XXX" is not a known governorate code' \
    tw n1 publish place jenin name_en=Jenin place_kind=city country=PS subdivision=PS-XXX area=west_bank
check_out "unknown field refused with its name, exit 1" 1 "place.colour: no such field" \
    tw n1 publish place jenin name_en=Jenin place_kind=city country=PS colour=red
check_out "unknown kind refused, exit 1" 1 'unknown kind "widget"' tw n1 publish widget jenin name=Jenin
check_out "missing required field refused, exit 1" 1 "place_kind" tw n1 publish place jenin name_en=Jenin country=PS
check_out "region outside the nation refused, exit 1" 1 "group.region" \
    tw n1 publish group cardiff-link name="Cardiff Jenin Link" group_kind=friendship_group nation=wales region=E12000007
check_out "the daemon itself refuses a bad governorate (raw request)" 0 \
    'place.subdivision: \"PS-XXX\" is not a known governorate code' \
    $POKE "$D1/twind.sock" json '{"v":1,"op":"publish","args":{"kind":"place","slot":"jenin","body":{"name_en":"Jenin","place_kind":"city","country":"PS","subdivision":"PS-XXX"}}}' recv
check_out "the daemon itself refuses an unknown field (raw request)" 0 'colour' \
    $POKE "$D1/twind.sock" json '{"v":1,"op":"publish","args":{"kind":"place","slot":"jenin","body":{"name_en":"Jenin","place_kind":"city","country":"PS","colour":"red"}}}' recv
check_out "the daemon refuses to delete a record it does not have, exit 1" 1 "no such record" tw n1 delete place jenin
check_rc "publish without a slot is a usage error (2)" 2 tw n1 publish place
check_rc "list with an unknown option is a usage error (2)" 2 tw n1 list --bogus
check_rc "search without text is a usage error (2)" 2 tw n1 search
[ "$(count_entries n1)" = "$N0" ] && pass "refusals stored nothing" || fail "refusals stored nothing"

# ------------------------------------------------------------- delete, republish

check_out "delete link camden-abu-dis" 0 "deleted link/camden-abu-dis" tw n1 delete link camden-abu-dis
tw_run tw n1 list link
if [ "$TW_RC" = 0 ] && ! grep -q camden-abu-dis "$TW_OUT"; then pass "list no longer shows the deleted link"; else fail "list no longer shows the deleted link"; tw__show_last; fi
check_out "list --tombstones shows the deletion" 0 "camden-abu-dis" tw n1 list link --tombstones
tw n1 --json status >"$F/status-del.json"
jq_ "status after the delete counts the tombstone, the link no longer live" "$F/status-del.json" \
    'd["entries"] == 4 and d["tombstones"] == 1 and d["kinds"].get("link", 0) == 0 and d["kinds"]["place"] == 2'
tw_counts_agree "status's kept counts after a tombstone over a live record equal a full count" n1
check_out "show of the deleted link shows a tombstone" 0 "(deleted)" tw n1 show link camden-abu-dis
tw n1 --json show link camden-abu-dis >"$F/tomb.json"
jq_ "show --json of the tombstone: body null, verified" "$F/tomb.json" 'd[0]["body"] is None and d[0]["verified"] is True'
tw n1 --json search "olive harvest" >"$F/s6.json" 2>/dev/null
jq_ "search no longer finds the deleted link's text" "$F/s6.json" 'd["records"] == []'
check_out "republish after delete" 0 "created link/camden-abu-dis" \
    tw n1 publish link camden-abu-dis group=camden-friendship place=abu-dis \
    formality=friendship_link status=active since=1984 "activities=visits;olive harvest"
check_out "list shows the republished link" 0 "camden-abu-dis" tw n1 list link
tw n1 --json status >"$F/status-rep.json"
jq_ "status after the republish counts the link live again" "$F/status-rep.json" \
    'd["tombstones"] == 0 and d["kinds"] == {"group": 1, "link": 1, "place": 2}'
tw_counts_agree "status's kept counts after a record over a tombstone equal a full count" n1

# ------------------------------------------------------------- digest

DG0=$(digest_of n1)
[ ${#DG0} = 64 ] && pass "digest is 64 hex digits" || fail "digest is 64 hex digits" "$DG0"
check_out "publish place beit-sahour" 0 "created place/beit-sahour" \
    tw n1 publish place beit-sahour name_en="Beit Sahour" name_ar="بيت ساحور" place_kind=town \
    country=PS subdivision=PS-BTH area=west_bank
DG1=$(digest_of n1)
[ "$DG1" != "$DG0" ] && pass "digest changes after a publish" || fail "digest changes after a publish"
check_out "re-publishing an identical body is reported unchanged" 0 "unchanged place/beit-sahour" \
    tw n1 publish place beit-sahour name_en="Beit Sahour" name_ar="بيت ساحور" place_kind=town \
    country=PS subdivision=PS-BTH area=west_bank
DG2=$(digest_of n1)
[ "$DG2" = "$DG1" ] && pass "digest unchanged after a no-op re-publish" || fail "digest unchanged after a no-op re-publish"

# ------------------------------------------------------------- export

check "export JSON to a file" tw n1 export -o "$F/all.json"
jq_ "export JSON holds the 5 current records, no tombstone" "$F/all.json" \
    'len(d) == 5 and all(r["body"] is not None for r in d)'
for k in group place link; do
    check "export CSV of kind $k" tw n1 export --format csv --kind "$k" -o "$F/$k.csv"
done
check_file "CSV export keeps Arabic text" "بيت ساحور" "$F/place.csv"
check_file "CSV export guards a formula-like cell" "'=HYPERLINK" "$F/place.csv"
check_rc "export CSV without --kind is a usage error (2)" 2 tw n1 export --format csv

# ------------------------------------------------------------- import into fresh nodes

bodies n1 "$F/n1.bodies"
if tw_start n2; then pass "second node starts on its own data dir"; else fail "second node starts on its own data dir"; fi
check_out "import of another node's export skips its records, with the count and the hint" 0 \
    "5 records of 1 other author skipped: they reach this node by sync or bundle; --adopt makes" tw n2 import "$F/all.json"
tw n2 --json list >"$F/n2none.json"
jq_ "... and publishes none of them" "$F/n2none.json" 'd == []'
check_out "import --adopt of the JSON export into the second node" 0 "5 imported, 0 unchanged" tw n2 import --adopt "$F/all.json"
bodies n2 "$F/n2.bodies"
if cmp -s "$F/n1.bodies" "$F/n2.bodies"; then pass "second node lists equal records (JSON import)"; else
    fail "second node lists equal records (JSON import)"; diff "$F/n1.bodies" "$F/n2.bodies" | head -20; fi
N1KEY=$(tw_json "$F/status0.json" 'd["node"]')
tw n2 --json list >"$F/n2list.json"
jq_ "imported records are the second node's own" "$F/n2list.json" \
    'all(r["mine"] and r["author"] != "'"$N1KEY"'" for r in d)'
tw_counts_agree "the second node's kept counts after the import equal a full count" n2

if tw_start n3; then pass "third node starts"; else fail "third node starts"; fi
for k in group place link; do
    check "import --adopt of the CSV export of kind $k into the third node" tw n3 import --adopt "$F/$k.csv"
done
bodies n3 "$F/n3.bodies"
if cmp -s "$F/n1.bodies" "$F/n3.bodies"; then pass "third node lists equal records (CSV import)"; else
    fail "third node lists equal records (CSV import)"; diff "$F/n1.bodies" "$F/n3.bodies" | head -20; fi

tw n2 --json import --adopt "$F/all.json" >"$F/reimp.json"
jq_ "re-import of the same file reports all unchanged" "$F/reimp.json" 'd["imported"] == 0 and d["unchanged"] == 5'
check_out "re-import of a CSV reports unchanged" 0 "0 imported, 3 unchanged" tw n3 import --adopt "$F/place.csv"
tw n2 export -o "$F/n2.json" 2>"$TW_ERR"
check_out "a node's own export imports without --adopt (its records are its own)" 0 "0 imported, 5 unchanged" tw n2 import "$F/n2.json"

cat >"$F/bad.csv" <<'EOF'
kind,slot,name_en,name_ar,place_kind,country,subdivision,area
place,nablus,Nablus,نابلس,city,PS,PS-NBS,west_bank
place,jenin,Jenin,جنين,city,PS,PS-JEN,west_bank
place,qalqilya,Qalqilya,قلقيلية,city,PS,PS-XXX,west_bank
place,tubas,Tubas,طوباس,town,PS,PS-TBS,west_bank
EOF
N2=$(count_entries n2)
DGN2=$(digest_of n2)
check_out "CSV with a bad row reports FILE:4 and the reason" 1 \
    "bad.csv:4: place.subdivision: \"PS-XXX\" is not a known governorate code" tw n2 import "$F/bad.csv"
[ "$(count_entries n2)" = "$N2" ] && [ "$(digest_of n2)" = "$DGN2" ] &&
    pass "nothing of the bad CSV was applied" || fail "nothing of the bad CSV was applied"
tw_run tw n2 list place
grep -q nablus "$TW_OUT" && fail "the good rows of the bad CSV are absent" || pass "the good rows of the bad CSV are absent"
printf '[{"kind":"place","slot":"nablus","body":{"name_en":"Nablus","place_kind":"city","country":"PS"}},\n {"kind":"place","slot":"jenin","body":{"name_en":"Jenin","place_kind":"city","country":"PS","subdivision":"PS-XXX"}}]\n' >"$F/bad.json"
check_out "JSON with a bad record reports FILE:LINE" 1 "bad.json:2:" tw n2 import "$F/bad.json"
[ "$(count_entries n2)" = "$N2" ] && pass "nothing of the bad JSON was applied" || fail "nothing of the bad JSON was applied"

# Two nodes with different keys hold different entries, so their digests differ.
[ "$(digest_of n2)" != "$(digest_of n1)" ] && pass "digests differ between nodes with different entries" ||
    fail "digests differ between nodes with different entries"

# ------------------------------------------------------------- restart

bodies n1 "$F/before.bodies"
tw n1 --json list >"$F/before.json"
tw_counts_agree "before the restart: kept counts equal a full count" n1
tw n1 --json status >"$F/counts-before.json"
tw_stop n1; RC=$?
[ "$RC" = 0 ] && pass "SIGTERM stops twind with exit status 0" || fail "SIGTERM stops twind with exit status 0" "exit $RC"
[ ! -e "$D1/twind.sock" ] && pass "clean stop removes the control socket" || fail "clean stop removes the control socket"
check_file "log says it stopped" "stopped" "$(tw_log n1)"

# A copy of the store (and network key) under another identity holds the same
# entries, so it must have the same digest.
mkdir -m 700 "$TW_ROOT/n4"
cp -r "$D1/store" "$TW_ROOT/n4/store" && cp -p "$D1/network.key" "$TW_ROOT/n4/"
if tw_start n4; then
    [ "$(digest_of n4)" = "$DG2" ] && pass "a node holding the same entries has the same digest" ||
        fail "a node holding the same entries has the same digest"
    tw n4 publish place tubas name_en=Tubas place_kind=town country=PS subdivision=PS-TBS area=west_bank >/dev/null
    [ "$(digest_of n4)" != "$DG2" ] && pass "its digest differs once its entries differ" || fail "its digest differs once its entries differ"
    tw_stop n4
else
    fail "a node started on a copy of the store"
fi

if tw_start n1; then pass "twind restarts on its data dir"; else fail "twind restarts on its data dir"; fi
bodies n1 "$F/after.bodies"
tw n1 --json list >"$F/after.json"
if cmp -s "$F/before.json" "$F/after.json"; then pass "restart keeps every record, id and time"; else
    fail "restart keeps every record, id and time"; diff "$F/before.bodies" "$F/after.bodies" | head; fi
[ "$(digest_of n1)" = "$DG2" ] && pass "digest unchanged by a restart" || fail "digest unchanged by a restart"
check_out "tombstone kept across restart" 0 "camden-abu-dis" tw n1 list link --tombstones
tw n1 --json status >"$F/counts-after.json"
same_counts "status counts the same entries, tombstones and kinds after a restart" "$F/counts-before.json" "$F/counts-after.json"
tw_counts_agree "after the restart: the counts equal a full count" n1

tw_run timeout 20 "$TWIND" --data-dir "$D1"
if [ "$TW_RC" = 1 ] && grep -q "another twind (pid $(tw_pid n1)) is already running on $D1" "$TW_ERR"; then
    pass "second twind on the same data dir refuses with exit 1 naming the pid"
else fail "second twind on the same data dir refuses with exit 1 naming the pid"; tw__show_last; fi
check_out "the first twind keeps serving" 0 "twk_" tw n1 status
[ -S "$D1/twind.sock" ] && pass "the refused twind left the socket alone" || fail "the refused twind left the socket alone"

# ------------------------------------------------------------- key file mode

tw_stop n1
chmod 644 "$D1/identity.key"
tw_run timeout 20 "$TWIND" --data-dir "$D1"
if [ "$TW_RC" = 1 ] && grep -qF "$D1/identity.key" "$TW_ERR" && grep -qF "chmod 600" "$TW_ERR"; then
    pass "key file readable by others: refused, exit 1, names the file and chmod 600"
else fail "key file readable by others: refused, exit 1, names the file and chmod 600"; tw__show_last; fi
chmod 600 "$D1/identity.key"
chmod 640 "$D1/network.key"
check_out "network key readable by the group: refused, exit 1" 1 "network.key" timeout 20 "$TWIND" --data-dir "$D1"
chmod 600 "$D1/network.key"
if tw_start n1; then pass "starts again once the modes are fixed"; else fail "starts again once the modes are fixed"; fi
tw n1 --json status >"$F/status1.json"
[ "$(tw_json "$F/status1.json" 'd["node"]')" = "$N1KEY" ] && pass "node key unchanged across restarts" ||
    fail "node key unchanged across restarts"

# ------------------------------------------------------------- config file

printf '# twind settings for the Nablus link\nlog_level = debug\nfrobnicate = 3\n' >"$F/bad.conf"
check_out "bad config line reported as FILE:LINE, exit 1" 1 "$F/bad.conf:3: unknown setting \"frobnicate\"" \
    timeout 20 "$TWIND" --config "$F/bad.conf" --data-dir "$TW_ROOT/n5"
printf 'log_level = loud\n' >"$F/bad2.conf"
check_out "bad config value reported as FILE:LINE, exit 1" 1 "$F/bad2.conf:1: log_level" \
    timeout 20 "$TWIND" --config "$F/bad2.conf" --data-dir "$TW_ROOT/n5"
check_out "missing config file reported, exit 1" 1 "$F/none.conf" \
    timeout 20 "$TWIND" --config "$F/none.conf" --data-dir "$TW_ROOT/n5"
printf '# Jenin link\nlog_level = info\nmap_ceiling = 512M\n' >"$F/good.conf"
if tw_start n5 --config "$F/good.conf"; then pass "a valid config file is accepted"; else fail "a valid config file is accepted"; fi
tw n5 --json status >"$F/status5.json"
jq_ "config setting map_ceiling applies" "$F/status5.json" 'd["map_ceiling"] == 512 << 20'

for n in n1 n2 n3 n5; do
    tw_stop "$n"; RC=$?
    [ "$RC" = 0 ] && pass "$n stops cleanly (exit 0)" || fail "$n stops cleanly (exit 0)" "exit $RC"
done
grep -q "still open at exit\|not closed cleanly" "$TW_ROOT"/*.log && fail "no handle left open at exit" || pass "no handle left open at exit"

tw_done
