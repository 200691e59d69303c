#!/bin/sh
# One rule, every door, through real daemons (the in-process half is
# tests/unit/test_prop.c, with thousands of cases).  propgen makes random
# records -- valid, faulty, of kinds this version does not know (nested to
# the depth limit), tombstones -- signed by a member's key; they enter:
#   p  by publish, through the control socket (signed there with p's key);
#   x  by twin bundle import, in bundles of 100;
#   y  by a peer's live push (evilpeer, holding the member's key).
# Accepted by one door means accepted by all, refused by one means refused
# by all with the same field-named reason; x and y end with the same digest;
# y logs each reason with its count; nobody is banned for a record the schema
# refuses.  Then every query a volunteer or hub runs answers on x and y.
. tests/integration/lib.sh

N=${PROP_REAL_CASES:-400}
F=$TW_ROOT/files
mkdir -p "$F"
PROPGEN=$(tw_tool propgen) || { fail "propgen is built"; tw_done; }
EVIL=$(tw_tool evilpeer) || { fail "evilpeer is built"; tw_done; }
SEED=5eed5eed5eed5eed5eed5eed5eed5eed5eed5eed5eed5eed5eed5eed5eed5eed
PX=$(tw_free_port); PY=$(tw_free_port)

tw_start x --listen "127.0.0.1:$PX" || { fail "x starts"; tw_done; }
NETKEY=$(tw_netkey x)
CONF=$(tw_conf common "network_key = $NETKEY")
tw_start y --config "$CONF" --listen "127.0.0.1:$PY" || { fail "y starts"; tw_done; }
tw_start p --config "$CONF" || { fail "p starts"; tw_done; }

t0=$(date +%s%N)
check "propgen makes $N cases and publishes them on p" \
    "$PROPGEN" cases --seed "$SEED" --netkey-file "$TW_ROOT/x/network.key" --cases "$N" --rng 11 \
    --dir "$F" --publish "$TW_ROOT/p/twind.sock"

# Bundle door.
for b in "$F"/part-*.bundle; do
    tw x --json bundle import "$b" >"$b.json" 2>"$b.err"
done
pass "every bundle was offered to x"

# Peer door: the member stays connected a while, so that its connection's
# count of refused entries can be read.
NBAD=$(awk -F'\t' '$2 == "bad"' "$F/cases.tsv" | wc -l)
"$EVIL" --connect "127.0.0.1:$PY" --netkey "$NETKEY" --seed "$SEED" --mode push-bundle \
    --file "$F/all.bundle" --wait 8 >"$F/evil.out" 2>&1 &
EVPID=$!
tw_track "$EVPID"
peer_refused() {
    tw y --json peers >"$F/peers.json" 2>/dev/null &&
        [ "$(tw_json "$F/peers.json" 'sum(c["refused"] for c in d["connections"])')" = "$NBAD" ]
}
tw_wait_for 20 peer_refused && pass "twin peers counts the $NBAD refused entries on the member's connection" ||
    fail "twin peers counts the refused entries" "$(head -c 400 "$F/peers.json")"
tw y --json status >"$F/status.json" 2>/dev/null
[ "$(tw_json "$F/status.json" 'd["refused_from_peers"]')" = "$NBAD" ] &&
    pass "twin status counts them too, with the last reason" || fail "twin status counts refused entries" "$(cat "$F/status.json")"
wait "$EVPID"
grep -q "^pushed $N\$" "$F/evil.out" && pass "evilpeer pushed all $N entries to y" ||
    { fail "evilpeer pushed all $N entries to y"; cat "$F/evil.out"; }
grep -q "^closed_by_node no" "$F/evil.out" && pass "y did not close the member's connection for records the schema refuses" ||
    { fail "y kept the connection"; cat "$F/evil.out"; }
# x and y hold the same entries of the member (each also holds its own
# peer record, which the other never sees: they are not connected).
same_entries() {
    tw x --json list --all >"$F/x.list" 2>/dev/null && tw y --json list --all >"$F/y.list" 2>/dev/null &&
    python3 - "$F/x.list" "$F/y.list" "$("$PROPGEN" key --seed "$SEED")" <<'EOF2'
import json, sys
def ids(p): return sorted(r["id"] for r in json.load(open(p)) if r["author"] == sys.argv[3])
a, b = ids(sys.argv[1]), ids(sys.argv[2])
sys.exit(0 if a == b and a else 1)
EOF2
}
if tw_wait_for 30 same_entries; then pass "x (bundles) and y (peer push) hold the same entries of the member ($(grep -o '"id"' "$F/x.list" | wc -l) records)"
else fail "x and y hold the same entries of the member"; fi
secs=$(awk -v a="$t0" -v b="$(date +%s%N)" 'BEGIN { printf "%.1f", (b - a) / 1e9 }')
echo "    figure: $N cases through three doors of real daemons in $secs s"

# The property, per case.
python3 - "$F" "$TW_ROOT/y.log" >"$F/verdict.txt" 2>&1 <<'EOF'
import collections, glob, json, os, re, sys
d, ylog = sys.argv[1], sys.argv[2]
cases = [l.rstrip("\n").split("\t") for l in open(os.path.join(d, "cases.tsv"))]
probs = {}
for f in glob.glob(os.path.join(d, "part-*.bundle.json")):
    part = int(re.search(r"part-(\d+)", f).group(1))
    try:
        r = json.load(open(f))
    except ValueError:
        print("unreadable import result", f); sys.exit(1)
    if r.get("problems_more"):
        print("more problems than listed in", f); sys.exit(1)
    for p in r.get("problems", []):
        probs[(part, p["offset"])] = p["reason"]
bad = 0
want = collections.Counter()
for i, intent, eid, part, off, pub, why in cases:
    xr = probs.get((int(part), int(off)))
    ok = True
    if intent == "bad":
        ok = xr is not None and pub == "refused" and why == xr
        want[xr] += 1
    elif intent == "unknown":
        ok = xr is None and pub == "refused" and "unknown kind" in why
    elif intent == "tombstone":
        ok = xr is None
    else:
        ok = xr is None and pub == "ok"
    if not ok:
        bad += 1
        if bad <= 10:
            print("case", i, intent, "publish:", pub, why, "| bundle:", xr)
got = collections.Counter()
other = 0
for line in open(ylog, errors="replace"):
    m = re.search(r"(\d+) entr(?:y|ies) by \S+ from .* not stored: (.*)$", line)
    if m:
        got[m.group(2)] += int(m.group(1))
    m = re.search(r"(\d+) more entries from .* not stored for other reasons", line)
    if m:
        other += int(m.group(1))
# Each batch logs at most TW_REFUSAL_LOG_MAX distinct reasons, the rest as
# a count: every reason logged must be a real one, and the counts add up.
if any(got[k] > want[k] for k in got) or sum(got.values()) + other != sum(want.values()):
    bad += 1
    print("peer door reasons differ from the bundle door's (%d logged + %d counted vs %d):" % (sum(got.values()), other, sum(want.values())))
    for k in set(got) | set(want):
        if got[k] > want[k]:
            print("  ", got[k], "vs", want[k], k)
print("disagreements", bad, "refused", sum(want.values()), "of", len(cases))
sys.exit(1 if bad else 0)
EOF
if [ $? = 0 ]; then pass "publish, bundle and peer doors agree on every case, reason for reason ($(tail -n 1 "$F/verdict.txt"))"
else fail "the doors agree" "$(cat "$F/verdict.txt")"; fi

# Every query still answers, on both receiving nodes.
ID=$(awk -F'\t' '$2 == "unknown" { print $3; exit }' "$F/cases.tsv")
for n in x y; do
    check "$n: list" tw "$n" list
    check "$n: list --all --json" tw "$n" --json list --all
    for k in group place link vouch peer event x_future_kind photo2; do
        check "$n: list $k" tw "$n" list "$k"
    done
    [ -n "$ID" ] && check "$n: show of an unknown kind at the depth limit" tw "$n" show --id "$ID"
    check "$n: search" tw "$n" search "abu dis"
    check "$n: search in Arabic" tw "$n" search "ابو ديس"
    check "$n: export (JSON)" tw "$n" export -o "$F/$n.json"
    for k in group place link; do check "$n: export $k (CSV)" tw "$n" export --format csv --kind "$k" -o "$F/$n.$k.csv"; done
    check "$n: stats" tw "$n" stats
    check "$n: gaps" tw "$n" gaps
    check "$n: report --html" tw "$n" report --html "$F/$n.html"
    check "$n: bundle export" tw "$n" bundle export "$F/$n.out.bundle"
    check "$n: peers" tw "$n" peers
    check "$n: status" tw "$n" status
done
grep -q "misbehaved" "$TW_ROOT/y.log" && fail "y banned nobody" "$(grep misbehaved "$TW_ROOT/y.log" | head -3)" ||
    pass "y banned nobody for records the schema refuses"

for n in x y p; do tw_stop "$n" || fail "$n stops cleanly"; done
tw_done
