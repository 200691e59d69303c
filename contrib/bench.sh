#!/bin/sh
# Benchmarks (`make bench`): prints figures, asserts nothing.
#   1. ingest: verify + store of 100 000 pre-signed entries, beside the
#      one-core verify rate (build/tools/bench_ingest);
#   2. twin list / stats / gaps / report / search / export over those 100 000
#      records: wall time (target for stats and gaps: under 200 ms);
#   3. twind resident memory with 100 000 records.
# COUNT overrides the number of entries.
B=${1:-build}
COUNT=${COUNT:-100000}
dir=$(mktemp -d /tmp/twbench.XXXXXX)
pid=
cleanup() {
    [ -n "$pid" ] && kill "$pid" 2>/dev/null && wait "$pid" 2>/dev/null
    rm -rf "$dir"
}
trap cleanup EXIT INT TERM

now() { date +%s.%N; }
timeit() {   # timeit LABEL CMD...: prints wall time in ms
    label=$1; shift
    t0=$(now)
    "$@" >/dev/null 2>"$dir/err" || { echo "  $label: FAILED"; cat "$dir/err"; return; }
    t1=$(now)
    python3 -c "print('  %-44s %8.1f ms' % ('$label', ($t1 - $t0) * 1000))"
}

"$B"/tools/bench_neg

echo "== ingest ($COUNT entries) =="
"$B"/tools/bench_ingest "$dir/node" "$COUNT" | sed 's/^/  /'

echo "== queries over $COUNT records (twind + twin, wall time) =="
"$B"/twind --data-dir "$dir/node" --log-level warn 2>"$dir/twind.log" &
pid=$!
i=0
until "$B"/twin --data-dir "$dir/node" status >/dev/null 2>&1; do
    i=$((i + 1)); [ $i -gt 100 ] && { echo "twind did not start"; cat "$dir/twind.log"; exit 1; }
    sleep 0.1
done
T="$B/twin --data-dir $dir/node"
timeit "twin stats" $T stats
timeit "twin stats (again, warm)" $T stats
timeit "twin gaps" $T gaps
timeit "twin gaps (again, warm)" $T gaps
timeit "twin report --html (stats + gaps, one page)" $T report --html "$dir/report.html"
timeit "twin list group (30% of records)" $T list group
timeit "twin list place (40%)" $T list place
timeit "twin list place --json" $T list place --json
timeit "twin list place subdivision filter" $T list place subdivision=PS-BTH
timeit "twin list link (builds the confirmation report)" $T list link
timeit "twin list link (again: report kept)" $T list link
timeit "twin show link link-7" $T show link link-7
timeit "twin search village" $T search "village 9999"
timeit "twin export --format json (all)" $T export --format json
timeit "twin digest" $T digest
mem() { awk -v k="$2" '$1 == k":" {print int($2 / 1024)}' /proc/$1/status; }
echo "== twind memory with $COUNT records =="
echo "  right after the queries: resident $(mem $pid VmRSS) MiB = anonymous $(mem $pid RssAnon) MiB + store pages mapped $(mem $pid RssFile) MiB; peak $(mem $pid VmHWM) MiB"
echo "  (store pages are the LMDB file's, shared with the page cache; twind drops them after 30 s without requests)"
sleep 32
echo "  after 30 s idle: resident $(mem $pid VmRSS) MiB = anonymous $(mem $pid RssAnon) MiB + store pages $(mem $pid RssFile) MiB (target: under 64 MiB)"
kill "$pid"; wait "$pid"; echo "  twind exit status: $?"; pid=

# Replication benchmarks, when their drivers are present.
for extra in contrib/bench-sync.sh contrib/bench-prop.sh contrib/bench-field.sh; do
    [ -f "$extra" ] && sh "$extra" "$B"
done
# The initial sync again with admission on (every author vouched for by a
# root): the cost of the admission check on receipt.
echo "== the same initial sync with admission on =="
VOUCHED=1 sh contrib/bench-sync.sh "$B"
