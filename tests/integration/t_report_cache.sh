#!/bin/sh
# The report stats, gaps and report answer from is kept between queries
# until the registry changes (daemon/ops.c, report_scan).  A seeded random
# sequence of writes -- new records, replaced ones (supersessions),
# deletions (tombstones), records brought back -- on a registry of a few
# hundred records, each followed by queries: the answers after every write
# must show that write (the kinds counted against a model of the sequence
# kept here), a second time given to the same report must give what a
# report made for that time does: every few steps the node is restarted
# and one of its answers computed from scratch (for another time, other
# dormant months, or gaps) compared with the kept report's byte for byte
# (JSON).  The answers after each write come from the kept report updated
# with the slots written (the log says so), not made again; an import of
# TW_REPORT_UPDATE_MAX records is an update too, one more is a rebuild.
. tests/integration/lib.sh

F=$TW_ROOT/files
mkdir -p "$F"
STEPS=${STEPS:-24}
SEED=${SEED:-14}
T1=1767225600000                    # 2026-01-01, report --at
T2=$((T1 + 3 * 365 * 86400000))     # three years on: links dormant

tw_start n || { fail "twind starts"; tw_done; }
K=$(tw n --json status | python3 -c 'import json,sys; print(json.load(sys.stdin)["node"])')
python3 tests/tools/genregistry.py gen "$K" "$K" "$F" >/dev/null &&
    check "the registry is imported" tw n import "$F/assoc.json" &&
    check "the second half of it too" tw n import "$F/committee.json"

# The plan: one write per line, "publish KIND SLOT FIELD=VALUE..." or
# "delete KIND SLOT", and the live records per kind after it (names
# without spaces: the line is split into words).
python3 - "$SEED" "$STEPS" "$F/plan" <<'EOF'
import random, sys
rnd = random.Random(int(sys.argv[1]))
steps = int(sys.argv[2])
live = {"group": [], "place": [], "link": []}
dead = {"group": [], "place": [], "link": []}
def fields(kind, slot, v):
    if kind == "place":
        return ["name_en=Cache-Village-%s-%d" % (slot, v), "place_kind=village", "country=PS",
                "subdivision=" + rnd.choice(["PS-BTH", "PS-HBN", "PS-NBS", "PS-GZA"]),
                "seeking_partner=" + rnd.choice(["yes", "no"])]
    if kind == "group":
        return ["name=Cache-Twinning-Association-%s-%d" % (slot, v), "group_kind=twinning_association",
                "nation=" + rnd.choice(["england", "wales", "scotland"]),
                "seeking_partner=" + rnd.choice(["yes", "no"])]
    g = rnd.choice(live["group"]) if live["group"] else "cg0"
    p = rnd.choice(live["place"]) if live["place"] else "cp0"
    return ["group=" + g, "place=" + p, "formality=friendship_link",
            "status=" + rnd.choice(["active", "exploring", "dormant", "ended"]), "since=2019-04"]
out = open(sys.argv[3], "w")
n = 0
for step in range(steps):
    kind = rnd.choice(["place", "group", "link"])
    op = rnd.choice(["new", "new", "replace", "delete", "revive"])
    if op == "replace" and live[kind]:
        slot = rnd.choice(live[kind])
    elif op == "delete" and live[kind]:
        slot = rnd.choice(live[kind])
        live[kind].remove(slot); dead[kind].append(slot)
        out.write("delete %s %s|%s\n" % (kind, slot, ",".join(str(len(live[k])) for k in ("group", "place", "link"))))
        continue
    elif op == "revive" and dead[kind]:
        slot = rnd.choice(dead[kind])
        dead[kind].remove(slot); live[kind].append(slot)
    else:
        slot = "c%s%d" % (kind[0], n); n += 1
        live[kind].append(slot)
    out.write("publish %s %s %s|%s\n" % (kind, slot, " ".join(fields(kind, slot, step)),
                                        ",".join(str(len(live[k])) for k in ("group", "place", "link"))))
EOF
[ -s "$F/plan" ] || { fail "the plan is written"; tw_done; }

# kinds NODE: "groups,places,links" live records of the kinds, from stats.
kinds() {
    tw "$1" --json stats | python3 -c 'import json,sys
k = json.load(sys.stdin)["kinds"]
print(",".join(str(k.get(x, 0)) for x in ("group", "place", "link")))'
}
B0=$(kinds n)
# q NODE TAG [PART...]: the answers kept as files TAG.PART, asked in the
# order given (default r1 r2 r3 g): the first one asked after a write or a
# restart makes the report, the others are answered from it.
q() {
    _n=$1; _t=$2; shift 2
    [ $# = 0 ] && set -- r1 r2 r3 g
    for _p in "$@"; do
        case $_p in
        r1) tw "$_n" --json report --at "$T1" ;;
        r2) tw "$_n" --json report --at "$T2" ;;
        r3) tw "$_n" --json report --at "$T1" --dormant-months 1 ;;
        g) tw "$_n" --json gaps ;;
        l) tw "$_n" --json list link; tw "$_n" --json list place --all; tw "$_n" --json list group --all ;;
        esac >"$F/$_t.$_p" 2>>"$F/q.err"
    done
}
same() { cmp -s "$F/$1.$3" "$F/$2.$3"; }

i=0
bad_kinds=0; bad_scratch=0; restarts=0; changed=0
while IFS='|' read -r cmd want; do
    i=$((i + 1))
    q n "before$i"
    # shellcheck disable=SC2086
    tw_run tw n $cmd
    [ "$TW_RC" = 0 ] || { fail "step $i: twin $cmd"; tw__show_last; continue; }
    got=$(kinds n)
    # The model counts this test's records; the imported ones stay as they were.
    exp=$(python3 -c 'import sys
b = [int(x) for x in sys.argv[1].split(",")]; w = [int(x) for x in sys.argv[2].split(",")]
print(",".join(str(x + y) for x, y in zip(b, w)))' "$B0" "$want")
    [ -n "$got" ] && [ "$got" = "$exp" ] || { bad_kinds=$((bad_kinds + 1)); echo "    step $i ($cmd): stats kinds $got, expected $exp"; }
    q n "after$i" r1 r2 r3 g l
    same "before$i" "after$i" r1 || changed=$((changed + 1))
    if [ $((i % 4)) = 0 ]; then
        tw_stop n || fail "step $i: twind stops ($TW_REAP_RC)"
        tw_start n || { fail "step $i: twind restarts"; break; }
        restarts=$((restarts + 1))
        # After the write, r1 made the report and r2, r3, g and the
        # listings (l: CONFIRMED, SUPERSEDED BY) were answered from it;
        # here the listings make their own marks, before any report, and
        # each of the others is the one that makes the report in turn.
        case $((restarts % 3)) in
        0) q n "scratch$i" l r2 r1 r3 g ;;
        1) q n "scratch$i" l r3 r1 r2 g ;;
        2) q n "scratch$i" l g r1 r2 r3 ;;
        esac
        for part in r1 r2 r3 g l; do
            same "after$i" "scratch$i" "$part" ||
                { bad_scratch=$((bad_scratch + 1)); echo "    step $i: $part differs from a report made from scratch"; }
        done
    fi
done <"$F/plan"

[ "$bad_kinds" = 0 ] && pass "after each of $i writes, stats counts every kind as the model does" ||
    fail "after each of $i writes, stats counts every kind as the model does ($bad_kinds steps wrong)"
[ "$changed" -ge $((i / 2)) ] && pass "the report changed after $changed of $i writes" ||
    fail "the report changed after $changed of $i writes (expected most)"
[ "$restarts" -ge 4 ] && [ "$bad_scratch" = 0 ] &&
    pass "the kept report's answers (3 times or dormant months, gaps, listings marked from it) equal a report from scratch at $restarts restarts" ||
    fail "the kept report's answers equal a report from scratch ($bad_scratch differ, $restarts restarts)"
# The same report given another time: the dormant links three years on
# are those of a report made for that time (r2 above, from scratch), and
# differ from now's.
cmp -s "$F/after$i.r1" "$F/after$i.r2" && fail "three years on, the report differs (dormant links)" ||
    pass "three years on, the report differs (dormant links)"
[ -s "$F/q.err" ] && { fail "no query failed"; sed 's/^/    /' "$F/q.err" | head -n 5; } || pass "no query failed"
# The answers after the writes came from the kept report updated with the
# slots written (daemon/ops.c, the journal), not from a report made again
# from every record: one update per write, the restarts aside.
ups=$(grep -c "the kept report updated with 1 written slots" "$TW_ROOT/n.log")
[ "$ups" -ge $((i - restarts)) ] && pass "after $ups of $i writes the kept report was updated, not made again" ||
    fail "after each write the kept report is updated, not made again ($ups updates for $i writes)"

# The journal's bound, TW_REPORT_UPDATE_MAX (1024) slots: an import of
# 1024 records updates the kept report; one of 1025 makes it again.  Both
# answer the kinds counted.
places_json() {   # places_json FIRST COUNT FILE
    python3 - "$1" "$2" "$3" <<'PY'
import json, sys
first, n = int(sys.argv[1]), int(sys.argv[2])
json.dump([{"kind": "place", "slot": "bulk-%d" % i,
            "body": {"name_en": "Bulk Village %d" % i, "place_kind": "village", "country": "PS",
                     "subdivision": "PS-NBS"}} for i in range(first, first + n)], open(sys.argv[3], "w"))
PY
}
places_json 0 1024 "$F/bulk1024.json" && places_json 1024 1025 "$F/bulk1025.json" ||
    fail "the bulk imports are written"
places_now() { kinds n | cut -d, -f2; }
p0=$(places_now)
check "an import of 1024 places" tw n import "$F/bulk1024.json"
p1=$(places_now)
grep -q "the kept report updated with 1024 written slots" "$TW_ROOT/n.log" && [ "$p1" = $((p0 + 1024)) ] &&
    pass "1024 written slots (TW_REPORT_UPDATE_MAX) update the kept report: $p0 -> $p1 places" ||
    fail "1024 written slots (TW_REPORT_UPDATE_MAX) update the kept report ($p0 -> $p1 places)"
# The updated report answers as a report from scratch (after a restart).
q n bulk r1 g
tw_stop n || fail "twind stops for a report from scratch ($TW_REAP_RC)"
tw_start n || fail "twind restarts"
q n bulkscratch g r1
same bulk bulkscratch r1 && same bulk bulkscratch g &&
    pass "after the import of 1024 the updated report equals a report from scratch" ||
    fail "after the import of 1024 the updated report equals a report from scratch"
made=$(grep -c "the report made from every record" "$TW_ROOT/n.log")
check "an import of 1025 places" tw n import "$F/bulk1025.json"
p2=$(places_now)
made2=$(grep -c "the report made from every record" "$TW_ROOT/n.log")
! grep -q "the kept report updated with 1025 written slots" "$TW_ROOT/n.log" && [ "$made2" = $((made + 1)) ] &&
    [ "$p2" = $((p1 + 1025)) ] &&
    pass "1025 written slots make the report again: $p1 -> $p2 places" ||
    fail "1025 written slots make the report again ($p1 -> $p2 places, $made -> $made2 rebuilds)"
# A vouch record can change which keys are one association: the next
# query makes the report again instead of updating it (and answers the
# kinds as before: a vouch is none of them).
tw_start v || fail "a second node starts (a key to vouch for)"
KV=$(tw v --json status | python3 -c 'import json,sys; print(json.load(sys.stdin)["node"])')
tw_stop v || fail "the second node stops ($TW_REAP_RC)"
k0=$(kinds n)
made=$(grep -c "the report made from every record" "$TW_ROOT/n.log")
ups=$(grep -c "the kept report updated with" "$TW_ROOT/n.log")
check "a vouch record is written" tw n vouch "$KV" --name "Cache Twinning Association"
k1=$(kinds n)
made2=$(grep -c "the report made from every record" "$TW_ROOT/n.log")
ups2=$(grep -c "the kept report updated with" "$TW_ROOT/n.log")
[ "$made2" = $((made + 1)) ] && [ "$ups2" = "$ups" ] && [ "$k1" = "$k0" ] &&
    pass "after a vouch record the report is made again, not updated ($k1)" ||
    fail "after a vouch record the report is made again, not updated ($made -> $made2 rebuilds, $ups -> $ups2 updates, kinds $k0 -> $k1)"
tw_stop n || fail "twind stops cleanly ($TW_REAP_RC)"
tw_done
