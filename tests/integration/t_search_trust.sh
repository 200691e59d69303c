#!/bin/sh
# search on a vouched network (proto/PROTOCOL.md "search", a page read best
# bound first): three nodes on 127.0.0.1, a root hub, a UK group the hub
# vouches for, a committee the group vouches for.  Each imports places
# named "Camden ..." (an import gives its records one time: records share
# a kind and timestamp), so a search for "camden" finds records of three
# authors, most of which the word index proves match without reading them.
#   - on the hub, `search camden` counts exactly the records `list` shows
#     with that word, and a page of 5 is the first 5 of a page of 1000
#     (every match read): ranks, ties among equal names, total;
#   - the hub revokes the group: the group's and the committee's records
#     stay in the hub's store but are hidden, and search neither shows nor
#     counts them (the log says they were left out unread); the page and
#     total again equal those of reading every match;
#   - the hub vouches for the group again: the totals come back.
. tests/integration/lib.sh
. tests/integration/lib_trust.sh

F=$TW_ROOT/files
mkdir -p "$F"
CONV_S=40
NODES="hub grp com"

for n in $NODES; do eval "P_$n=$(tw_free_port)"; done

tw_rooted_keys hub grp com || tw_done
args_of() {
    case $1 in
        hub) echo "--config $CONF --listen 127.0.0.1:$P_hub" ;;
        grp) echo "--config $CONF --listen 127.0.0.1:$P_grp --peer 127.0.0.1:$P_hub" ;;
        com) echo "--config $CONF --listen 127.0.0.1:$P_com --peer 127.0.0.1:$P_hub --peer 127.0.0.1:$P_grp" ;;
    esac
}
for n in $NODES; do
    # shellcheck disable=SC2046
    if tw_start "$n" $(args_of "$n"); then pass "$n starts with the hub as root"; else fail "$n starts"; fi
done

check "the hub vouches for the group" tw hub vouch "$K_grp" --name "Battir Link"
check "the group vouches for the committee" tw grp vouch "$K_com" --name "Battir Village Council"

# places NAME PREFIX COUNT: an import file of COUNT places; names repeat
# (every tenth the same) so that many records tie.
places() {
    python3 - "$1" "$2" "$3" >"$F/$1.json" <<'PY'
import json, sys
who, prefix, n = sys.argv[1], sys.argv[2], int(sys.argv[3])
recs = []
for i in range(n):
    name = "%s %d" % (prefix, i % 10) if i % 3 else "%s Hall %d" % (prefix, i)
    recs.append({"kind": "place", "slot": "%s-%d" % (who, i),
                 "body": {"name_en": name, "place_kind": "village", "country": "GB" if who != "com" else "PS"}})
for i in range(n):        # as many places without the word, so that it narrows the search
    recs.append({"kind": "place", "slot": "%s-other-%d" % (who, i),
                 "body": {"name_en": "Battir Olive Grove %d" % i, "place_kind": "village", "country": "PS"}})
json.dump(recs, sys.stdout)
PY
}
places hub "Camden Town" 30
places grp "Camden Village" 200
places com "Camden Road" 100
check_out "the hub imports 60 places" 0 "60 imported" tw hub import "$F/hub.json"
check_out "the group imports 400 places" 0 "400 imported" tw grp import "$F/grp.json"
check_out "the committee imports 200 places" 0 "200 imported" tw com import "$F/com.json"

# camden_listed NODE: how many places NODE lists with the word Camden.
camden_listed() {
    tw "$1" --json list place --limit 10000 | python3 -c 'import json,sys
print(sum(1 for r in json.load(sys.stdin) if "camden" in r.get("body", r).get("name_en", "").lower().split()))'
}
listed_is() { [ "$(camden_listed hub)" = "$1" ]; }
if tw_wait_for "$CONV_S" listed_is 330; then pass "the hub lists every Camden place (330)"; else
    fail "the hub lists every Camden place (330)" "$(camden_listed hub)"; fi

# page_check DESC WANT: on the hub, search camden counts WANT, and a page of
# 5 is the first 5 of a page of 1000.
page_check() {
    tw hub --json search camden --limit 5 >"$F/p5.json"
    tw hub --json search camden --limit 1000 >"$F/p1000.json"
    python3 - "$F/p5.json" "$F/p1000.json" "$2" >"$F/cmp.txt" 2>&1 <<'PY'
import json, sys
a, b, want = json.load(open(sys.argv[1])), json.load(open(sys.argv[2])), int(sys.argv[3])
key = lambda r: (r["rank"], r["kind"], r["slot"], r.get("author", ""), r["score"])
ok = a["total"] == want and b["total"] == want and len(b["records"]) == want and \
     [key(r) for r in a["records"]] == [key(r) for r in b["records"][:5]] and len(a["records"]) == min(5, want)
print("page of 5:", [key(r) for r in a["records"]], "total", a["total"], "; of 1000: total", b["total"],
      "first 5", [key(r) for r in b["records"][:5]])
sys.exit(0 if ok else 1)
PY
    if [ $? = 0 ]; then pass "$1"; else fail "$1" "$(cat "$F/cmp.txt")"; fi
}
page_check "all admitted: search camden counts 330, a page of 5 is the first 5 of all" 330
if grep "a page:" "$(tw_log hub)" | grep -qE "\(([3-9][0-9]|[1-9][0-9][0-9]+) of them not read\)"; then
    pass "the page of 5 was read best bound first, most matches counted unread (log)"
else
    fail "the page of 5 was read best bound first, most matches counted unread (log)" "$(grep 'a page:' "$(tw_log hub)")"
fi

check "the hub revokes the group" tw hub revoke "$K_grp"
if tw_wait_for "$CONV_S" listed_is 30; then pass "the hub lists only its own Camden places (30)"; else
    fail "the hub lists only its own Camden places (30)" "$(camden_listed hub)"; fi
tw_run tw hub status
page_check "the group revoked: search camden counts 30, a page of 5 is the first 5 of all" 30
if grep "a page:" "$(tw_log hub)" | tail -n 2 | grep -qv " 0 of hidden authors"; then
    pass "the revoked authors' matches were left out unread (log)"
else
    fail "the revoked authors' matches were left out unread (log)" "$(grep 'a page:' "$(tw_log hub)" | tail -n 2)"
fi
check_out "a search for the committee's name finds nothing listed" 0 "" tw hub search "camden road"
tw hub --json search "camden road" >"$F/road.json"
jq_ "camden road: total 0 while the committee is hidden" "$F/road.json" 'd["total"] == 0 and d["records"] == []'

check "the hub vouches for the group again" tw hub vouch "$K_grp" --name "Battir Link"
if tw_wait_for "$CONV_S" listed_is 330; then pass "the hub lists every Camden place again"; else
    fail "the hub lists every Camden place again" "$(camden_listed hub)"; fi
page_check "admitted again: search camden counts 330 again" 330

for n in $NODES; do tw_stop "$n"; done
tw_done
