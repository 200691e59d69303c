#!/bin/sh
# The million-record benchmark (`make bench-million`): prints figures,
# asserts nothing.  Issue 14's targets are printed beside each figure.
#
#   1. ingest of COUNT (1 000 000) pre-signed entries (build/tools/bench_ingest):
#      entries/s against the one-core verify rate of the same run;
#   2. the store's size against the bytes of the envelopes it holds, per
#      entry, and what each LMDB table takes, and how full its pages are
#      (tools/store_stat);
#   3. twind start-up: wall time until `twin status` answers, and the memory
#      it then holds (anonymous, and store pages mapped);
#   4. stats, gaps, gaps --counts, search, a page of list (100 rows) and a
#      whole kind, each twice (the second run shows what is kept between
#      queries), wall time through twin; searches of several breadths (the
#      search word index narrows all but the broadest: its table, "words",
#      is in the store_stat lines); then stats, gaps, report and a page
#      of links each right after a write (twin publish of one place or
#      link: the kept report is updated, issue 14);
#   5. memory at rest: after the queries, after 30 s without requests, and
#      after 30 s more with a peer connected (a second node holding a copy
#      of the store, so the two reconcile and find nothing to fetch);
#   6. the initial sync of all of it to an empty node on loopback
#      (contrib/bench-sync.sh on a copy of the store): time, entries/s
#      against the ingest rate, bytes, peak memory of both daemons.
#
#   sh contrib/bench-million.sh [BUILD_DIR]
#
# COUNT overrides the number of entries.  Building the store takes minutes;
# MILLION_DIR=DIR keeps it in DIR (made on the first run, reused by the next:
# the ingest figures are then those of the run that made it).  SYNC=0 skips
# the initial sync.
B=${1:-build}
COUNT=${COUNT:-1000000}
keep=${MILLION_DIR:-}
dir=${MILLION_DIR:-$(mktemp -d /tmp/twmillion.XXXXXX)}
mkdir -p "$dir" || exit 1
pid=
ppid=
cleanup() {
    [ -n "$pid" ] && kill "$pid" 2>/dev/null && wait "$pid" 2>/dev/null
    [ -n "$ppid" ] && kill "$ppid" 2>/dev/null && wait "$ppid" 2>/dev/null
    rm -rf "$dir/peer"
    [ -z "$keep" ] && rm -rf "$dir"
}
trap cleanup EXIT INT TERM

now() { date +%s%N; }
ms() { awk -v a="$1" -v b="$2" 'BEGIN { printf "%.1f", (b - a) / 1e6 }'; }
mem() { awk -v k="$2" '$1 == k":" { printf "%.1f", $2 / 1024 }' /proc/$1/status; }
memline() {   # memline [PID]
    p=${1:-$pid}
    echo "anonymous (RssAnon) $(mem $p RssAnon) MiB, file pages mapped (RssFile: the store, the reconciliation set) $(mem $p RssFile) MiB, peak $(mem $p VmHWM) MiB"
}

echo "== ingest ($COUNT entries) =="
if [ -f "$dir/node/store/data.mdb" ] && [ -f "$dir/ingest.out" ] && [ -f "$dir/envelope.bytes" ]; then
    echo "  (the store of an earlier run, in $dir)"
else
    rm -rf "$dir/node"
    "$B"/tools/bench_ingest "$dir/node" "$COUNT" >"$dir/ingest.out" 2>&1 ||
        { echo "  bench_ingest failed"; cat "$dir/ingest.out"; exit 1; }
    # entries.bin: each envelope after a 4-byte length.
    n=$(stat -c %s "$dir/node/entries.bin")
    echo $((n - 4 * COUNT)) >"$dir/envelope.bytes"
    rm -f "$dir/node/entries.bin"
fi
sed 's/^/  /' "$dir/ingest.out"
rate=$(awk '/^ingest/ { for (i = 1; i <= NF; i++) if ($i == "entries/s,") print $(i - 1) }' "$dir/ingest.out")
verify=$(awk '/^one-core/ { print $3 }' "$dir/ingest.out")
[ -n "$rate" ] && [ -n "$verify" ] &&
    echo "  ingest / one-core verify: $(awk -v a="$rate" -v b="$verify" 'BEGIN { printf "%.2f", a / b }') (target >= 1.4 at 1 000 000)"

echo "== store size =="
envb=$(cat "$dir/envelope.bytes")
fileb=$(stat -c %s "$dir/node/store/data.mdb")
echo "  envelopes: $envb bytes ($(awk -v a="$envb" 'BEGIN { printf "%.1f", a / 1048576 }') MiB)"
echo "  data.mdb:  $fileb bytes ($(awk -v a="$fileb" 'BEGIN { printf "%.1f", a / 1048576 }') MiB):" \
    "$(awk -v a="$fileb" -v b="$envb" 'BEGIN { printf "%.2f", a / b }') x the envelopes (target <= 1.5)"
echo "  per entry: $(awk -v a="$fileb" -v c="$COUNT" 'BEGIN { printf "%.0f", a / c }') bytes of data.mdb for $(awk -v a="$envb" -v c="$COUNT" 'BEGIN { printf "%.0f", a / c }') of envelope (store format 3: PROTOCOL.md \"The store\")"
echo "  by table (build/tools/store_stat; the free list is pages LMDB keeps for the next commits):"
"$B"/tools/store_stat "$dir/node" | sed 's/^/  /'

echo "== start-up (twind until twin status answers) =="
T="$B/twin --data-dir $dir/node"
port=$(python3 -c 'import socket
s = socket.socket()
s.bind(("127.0.0.1", 0))
print(s.getsockname()[1])
s.close()')
t0=$(now)
# (debug: the log says when the report made in the background is ready)
"$B"/twind --data-dir "$dir/node" --log-level debug --http off --listen "127.0.0.1:$port" 2>"$dir/twind.log" &
pid=$!
i=0
until $T status >/dev/null 2>&1; do
    i=$((i + 1)); [ $i -gt 3000 ] && { echo "  twind did not start within 60 s"; cat "$dir/twind.log"; exit 1; }
    sleep 0.02
done
t1=$(now)
echo "  $(ms "$t0" "$t1") ms (target under 2 s; the store's file is in the page cache)"
echo "  then: $(memline)"
$T status | awk '/^(storage|entries)/ { print "  status: " $0 }'
# The report of stats, gaps and report is made in the background after the
# start, a slice of records per turn of the loop (daemon/ops.c): other
# requests are answered meanwhile.
made() { grep -c "the report made from every record" "$dir/twind.log"; }
wait_made() {   # wait_made COUNT: until the log shows COUNT reports made
    i=0
    while [ "$(made)" -lt "$1" ]; do
        i=$((i + 1)); [ $i -gt 6000 ] && { echo "  (no report made within 120 s)"; return 1; }
        sleep 0.02
    done
}
timeit0() {   # as timeit below
    label=$1; shift
    a=$(now); "$@" >/dev/null 2>&1 || echo "  $label: FAILED"; b=$(now)
    printf '  %-46s %9s ms\n' "$label" "$(ms "$a" "$b")"
}
[ "$(made)" -lt 1 ] && timeit0 "twin status (while the report is made)" $T status
wait_made 1 && echo "  the report ready $(ms "$t0" "$(now)") ms after the start (target: stats under 500 ms)"
grep "the report made from every record" "$dir/twind.log" | tail -n 1 | sed 's/.*debug ops: /  (/; s/$/)/'

echo "== queries over $COUNT records (wall time through twin; target under 500 ms) =="
timeit() {   # timeit LABEL CMD...
    label=$1; shift
    t0=$(now)
    "$@" >/dev/null 2>"$dir/err" || { echo "  $label: FAILED"; sed 's/^/    /' "$dir/err"; return; }
    t1=$(now)
    printf '  %-46s %9s ms\n' "$label" "$(ms "$t0" "$t1")"
}
timeit "twin stats (first after the start)" $T stats
timeit "twin stats (again)" $T stats
timeit "twin gaps" $T gaps
timeit "twin gaps (again)" $T gaps
timeit "twin gaps --counts" $T gaps --counts
timeit "twin report --json" $T report --json
timeit "twin search village (4 records in 10 match)" $T search village
timeit "twin search \"village 99999\" (a few)" $T search "village 99999"
timeit "twin search xylophone (no match)" $T search xylophone
timeit "twin search villag (a prefix, 4 in 10)" $T search villag
timeit "twin search camden (1 in 20)" $T search camden
timeit "twin search benchmark (7 in 10)" $T search benchmark
timeit "twin list group --limit 100 (a page)" $T list group --limit 100
timeit "twin list link --limit 100 (a page)" $T list link --limit 100
timeit "twin list link --limit 100 (again)" $T list link --limit 100
timeit "twin list group (3 records in 10)" $T list group
# Each of these right after a write (one record published; not timed): the
# kept report is updated with the written slot, not made again.
# New slots each run (a record published again unchanged is no write).
w=0
run=$(date +%s)
write() {
    w=$((w + 1))
    if [ $((w % 2)) = 1 ]; then
        $T publish place "bench-write-$run-$w" "name_en=Bench Write Village $run $w" place_kind=village \
            country=PS subdivision=PS-NBS seeking_partner=yes >/dev/null
    else
        $T publish link "bench-write-$run-$w" "group=bench-write-g" "place=bench-write-$run-$((w - 1))" \
            formality=friendship_link status=active >/dev/null 2>&1
    fi || echo "  (the write before the next query failed)"
}
write; timeit "twin stats (first after a write)" $T stats
write; timeit "twin stats (first after another write)" $T stats
write; timeit "twin gaps (first after a write)" $T gaps
write; timeit "twin report --json (first after a write)" $T report --json
write; timeit "twin list link --limit 100 (first after a write)" $T list link --limit 100
timeit "twin digest" $T digest
# A forced rebuild: an import of more slots (1025) than the journal of
# writes holds (TW_REPORT_UPDATE_MAX) makes the report again from every
# record, in the background 1 s after (TW_REPORT_BUILD_RETRY_MS); a query
# before it is ready finishes it.
echo "== the report made again (an import of 1025 places: more than TW_REPORT_UPDATE_MAX) =="
bulk() {   # bulk FILE TAG
    python3 - "$1" "$2" <<'PY'
import json, sys
json.dump([{"kind": "place", "slot": "bench-bulk-%s-%d" % (sys.argv[2], i),
            "body": {"name_en": "Bench Bulk Village %s %d" % (sys.argv[2], i), "place_kind": "village",
                     "country": "PS", "subdivision": "PS-NBS"}} for i in range(1025)], open(sys.argv[1], "w"))
PY
}
bulk "$dir/bulk1.json" "$run-1" && bulk "$dir/bulk2.json" "$run-2" || echo "  (cannot write the imports)"
m=$(made)
$T import "$dir/bulk1.json" >/dev/null || echo "  (the import failed)"
a=$(now)
wait_made $((m + 1)) && echo "  the report ready $(ms "$a" "$(now)") ms after the import (1000 ms of it the wait for more changes)"
grep "the report made from every record" "$dir/twind.log" | tail -n 1 | sed 's/.*debug ops: /  (/; s/$/)/'
timeit "twin stats (then)" $T stats
$T import "$dir/bulk2.json" >/dev/null || echo "  (the import failed)"
timeit "twin stats (right after the import: makes it)" $T stats

echo "== twind memory at rest =="
echo "  after the queries: $(memline)"
sleep 32
echo "  after 30 s without requests: $(memline) (target: anonymous under 32 MiB)"
# A peer holding the same entries (a copy of the store, its own identity)
# dials it; both reconcile at connect and then every sync_interval (60 s).
rm -rf "$dir/peer" && mkdir -p "$dir/peer" && chmod 700 "$dir/peer" &&
    cp -r "$dir/node/store" "$dir/node/network.key" "$dir/peer/" && rm -f "$dir/peer/store/lock.mdb" ||
    { echo "  cannot copy the store for a peer"; exit 1; }
P="$B/twin --data-dir $dir/peer"
"$B"/twind --data-dir "$dir/peer" --log-level warn --http off --peer "127.0.0.1:$port" 2>"$dir/peer.log" &
ppid=$!
i=0
established() {
    $T --json peers 2>/dev/null | python3 -c 'import json, sys
sys.exit(0 if any(c["state"] == "established" for c in json.load(sys.stdin)["connections"]) else 1)' 2>/dev/null
}
until established; do
    i=$((i + 1)); [ $i -gt 120 ] && { echo "  the peer did not connect within 60 s"; cat "$dir/peer.log"; exit 1; }
    sleep 0.5
done
echo "  a peer connected: $(memline)"
sleep 32
echo "  after 30 s more with the peer connected: $(memline) (target: anonymous under 32 MiB)"
echo "  the peer (same entries): $(memline "$ppid")"
$T --json peers | python3 -c 'import json, sys
for c in json.load(sys.stdin)["connections"]:
    if c["state"] == "established":
        print("  the connection: last reconciliation in %s round trip(s)" % c["last_rounds"])' 2>/dev/null
kill "$ppid"; wait "$ppid"; ppid=; rm -rf "$dir/peer"
kill "$pid"; wait "$pid"; echo "  twind exit status: $?"; pid=

if [ "${SYNC:-1}" != 0 ]; then
    SYNC_FROM="$dir/node" SYNC_INGEST="$dir/ingest.out" COUNT=$COUNT sh contrib/bench-sync.sh "$B"
fi
