#!/bin/sh
# twind against Hypercore (`make bench-peers`): prints figures, asserts nothing.
#
# The same COUNT records (default 100 000: the signed msgpack envelopes of
# groups, places and links of 1000 authors that build/tools/bench_ingest
# makes and twind stores, kept in its entries.bin), replicated in the same
# run between two processes on 127.0.0.1, first by twind, then by Hypercore:
#
#   twind:     node a holds the records; an empty node b dials it.  Time from
#              b's start until its digest equals a's (polled every 100 ms, as
#              contrib/bench-sync.sh does), b's CPU time, bytes on b's
#              connection, b's peak memory (VmHWM).
#   Hypercore: a writer process appends the same records, one block each,
#              to a core (contrib/bench-peers/hypercore-peer.js) and serves
#              it on a plain TCP socket (no DHT, no swarm); a separate reader
#              process downloads every block.  Time from the reader's start
#              until it holds every block (checked against the signed Merkle
#              tree as they arrive); then every block is compared with the
#              record it came from.  The reader's CPU time, bytes on its
#              socket, its peak memory, all at the moment it held every block.
#
# Wall times depend on what else the machine runs (twind's receiver verifies
# on a thread pool, so it feels a loaded machine more); CPU times less so.
#
# Hypercore is installed by `npm ci` from contrib/bench-peers/package-lock.json
# (pinned versions) into this run's temporary folder, never into the source
# tree; nothing from npm is used by twind.  Without node, npm or the npm
# registry it says so and exits 1.
#
#   sh contrib/bench-peers.sh [BUILD_DIR]      COUNT=100000 overrides
B=${1:-${B:-build}}
export B
COUNT=${COUNT:-100000}
for t in node npm; do
    command -v "$t" >/dev/null 2>&1 ||
        { echo "bench-peers: needs $t (Debian: apt-get install nodejs npm) to install and run Hypercore"; exit 1; }
done
. tests/integration/lib.sh

F=$TW_ROOT/files
HC=$TW_ROOT/hypercore
mkdir -p "$F" "$HC"
now_ns() { date +%s%N; }
secs() { awk -v a="$1" -v b="$2" 'BEGIN { printf "%.2f", (b - a) / 1e9 }'; }
mib() { awk -v k="$1" 'BEGIN { printf "%.0f", k / 1024 }'; }
conn_field() {
    tw "$1" --json peers | python3 -c 'import json,sys
c = [c for c in json.load(sys.stdin)["connections"] if c["state"] == "established"]
print(c[0][sys.argv[1]] if c else 0)' "$2"
}

# Hypercore first installed, so that a machine without the npm registry
# learns it before the twind half has run.
echo "== installing Hypercore (npm ci, pinned by contrib/bench-peers/package-lock.json) into $HC =="
cp contrib/bench-peers/package.json contrib/bench-peers/package-lock.json contrib/bench-peers/hypercore-peer.js "$HC/" ||
    exit 1
if ! (cd "$HC" && timeout 300 npm ci --no-audit --no-fund --ignore-scripts >npm.log 2>&1) ||
    ! (cd "$HC" && node -e 'require("hypercore")') >/dev/null 2>&1; then
    echo "bench-peers: could not install Hypercore with npm ci (no access to the npm registry?); the end of npm's log:"
    tail -n 8 "$HC/npm.log" 2>/dev/null | sed 's/^/  /'
    exit 1
fi
HCV=$(cd "$HC" && node -p 'require("hypercore/package.json").version')
echo "  hypercore $HCV, node $(node --version)"

echo "== the records: $COUNT entries from bench_ingest =="
BI=$(tw_tool bench_ingest) || exit 1
"$BI" "$TW_ROOT/a" "$COUNT" >"$F/bench.out" 2>&1 || { echo "  bench_ingest failed"; cat "$F/bench.out"; exit 1; }
sed 's/^/  bench_ingest: /' "$F/bench.out"
# The envelopes twind stored, in order, each after a 4-byte length: moved
# out of a's data directory, to be the Hypercore blocks.
REC=$F/entries.bin
mv "$TW_ROOT/a/entries.bin" "$REC" || exit 1
PAYLOAD=$(($(stat -c %s "$REC") - 4 * COUNT))
echo "  payload: $PAYLOAD bytes of envelopes ($(awk -v p="$PAYLOAD" -v n="$COUNT" 'BEGIN { printf "%.0f", p / n }') bytes per record on average)"

echo "== twind: $COUNT entries to an empty node on loopback =="
PA=$(tw_free_port)
tw_start a --listen "127.0.0.1:$PA" || exit 1
NETKEY=$(tw_netkey a)
NA=$(tw_entries a)
DA=$(tw_digest a)
# a signs an entry of its own at its first start: one more than the records.
[ -n "$NA" ] && [ "$NA" -ge "$COUNT" ] || { echo "  a holds ${NA:-no} entries, fewer than $COUNT"; exit 1; }
[ "$NA" = "$COUNT" ] || echo "  a holds $NA entries: the $COUNT records and $((NA - COUNT)) of its own"
CONF=$(tw_conf b "network_key = $NETKEY" "sync_interval = 3600" "peer = 127.0.0.1:$PA")
T0=$(now_ns)
tw_start b --config "$CONF" || exit 1
i=0
while [ "$i" -lt 6000 ]; do          # 10 minutes at most
    [ "$(tw_entries b)" = "$NA" ] && [ "$(tw_digest b)" = "$DA" ] && break
    sleep 0.1
    i=$((i + 1))
done
T1=$(now_ns)
TW_OK=0
if [ "$(tw_digest b)" = "$DA" ]; then
    TW_OK=1
    TW_S=$(secs "$T0" "$T1")
    echo "  b has all $NA entries (digest equal to a's) $TW_S s after its start"
else
    echo "  twind's sync did not finish: b has $(tw_entries b) of $NA entries"
fi
TW_IN=$(conn_field b bytes_in); TW_OUT=$(conn_field b bytes_out)
PB=$(tw_pid b)
TW_HWM=$(tw_vm "$PB" VmHWM)
# CPU time (user + system, all threads) b has used since its start: less
# swayed than wall time by other work on the machine.
TW_CPU=$(awk -v hz="$(getconf CLK_TCK)" '{ sub(/^.*\) /, ""); printf "%.2f", ($12 + $13) / hz }' "/proc/$PB/stat")
echo "  b's CPU time (user + system, all threads) since its start: $TW_CPU s"
echo "  bytes on b's connection: in $TW_IN, out $TW_OUT"
echo "  b's peak memory (VmHWM) $(mib "$TW_HWM") MiB; resident now: anonymous $(mib "$(tw_vm "$PB" RssAnon)") MiB" \
    "+ file-backed (the LMDB map, page cache) $(mib "$(tw_vm "$PB" RssFile)") MiB"
tw_stop b || echo "  b exit status $TW_REAP_RC"
tw_stop a || echo "  a exit status $TW_REAP_RC"

echo "== Hypercore $HCV: the same $COUNT records to an empty core on loopback =="
INFO=$F/hc.info
(cd "$HC" && exec node hypercore-peer.js writer "$HC/writer" "$REC" "$INFO") >"$F/hcw.out" 2>"$TW_ROOT/hcw.log" &
TW_PID_hcw=$!
tw_track "$TW_PID_hcw"
# Serving, or gone (then no use waiting).
writer_up() { test -s "$INFO" || ! tw_alive "$TW_PID_hcw"; }
tw_wait_for 600 writer_up
if ! test -s "$INFO"; then
    tw_alive "$TW_PID_hcw" && echo "  the Hypercore writer did not serve within 600 s" || echo "  the Hypercore writer failed:"
    tail -n 5 "$TW_ROOT/hcw.log" | sed 's/^/    /'
    exit 1
fi
awk '$1 == "appended" { print "  writer: appended " $2 " blocks (" $3 " bytes) in " $4 " s, 1000 per append" }' "$F/hcw.out"
T0=$(now_ns)
(cd "$HC" && READER_TIMEOUT_S=600 exec timeout 660 node hypercore-peer.js reader "$HC/reader" "$REC" "$INFO") >"$F/hcr.out" 2>"$TW_ROOT/hcr.log"
HCR_RC=$?
get() { awk -v k="$1" -v f="$2" '$1 == k { print $f }' "$F/hcr.out"; }
HC_OK=0
HC_END=$(get all 5)
if [ -n "$HC_END" ]; then
    HC_S=$(awk -v a="$T0" -v b="$HC_END" 'BEGIN { printf "%.2f", b / 1e3 - a / 1e9 }')
    echo "  the reader holds all $(get all 2) blocks ($(get all 3) bytes) $HC_S s after its start" \
        "($(get all 4) s after its own clock started, once node was up)"
    echo "  the reader then compared every block with its record: $(get verified 2) equal, $(get verified 3) different ($(get verified 4) s)"
    [ "$HCR_RC" = 0 ] && [ "$(get verified 3)" = 0 ] && HC_OK=1
fi
[ "$HC_OK" = 1 ] || { echo "  Hypercore's replication failed (reader exit status $HCR_RC):"; tail -n 5 "$TW_ROOT/hcr.log" | sed 's/^/    /'; }
HC_IN=$(get wire 2); HC_OUT=$(get wire 3); HC_HWM=$(get memory 2); HC_CPU=$(get cpu 2)
echo "  the reader's CPU time (user + system, all threads) until it held every block: $HC_CPU s"
echo "  bytes on the reader's socket: in $HC_IN, out $HC_OUT"
echo "  the reader's peak memory (VmHWM) $(mib "$HC_HWM") MiB; resident then: anonymous $(mib "$(get memory 3)") MiB" \
    "+ file-backed $(mib "$(get memory 4)") MiB"
tw_stop hcw || echo "  writer exit status $TW_REAP_RC"

echo "== twind against Hypercore $HCV, $COUNT records on loopback =="
row() { printf '  %-34s %14s %14s\n' "$1" "$2" "$3"; }
row "" twind hypercore
row "records" "$COUNT" "$COUNT"
row "payload bytes" "$PAYLOAD" "$PAYLOAD"
if [ "$TW_OK" = 1 ] && [ "$HC_OK" = 1 ]; then
    row "time to all records (s)" "$TW_S" "$HC_S"
    row "records/s" "$(awk -v n="$COUNT" -v s="$TW_S" 'BEGIN { printf "%.0f", n / s }')" \
        "$(awk -v n="$COUNT" -v s="$HC_S" 'BEGIN { printf "%.0f", n / s }')"
else
    row "time to all records (s)" "$([ "$TW_OK" = 1 ] && echo "$TW_S" || echo failed)" "$([ "$HC_OK" = 1 ] && echo "$HC_S" || echo failed)"
fi
row "receiver's CPU time (s)" "$TW_CPU" "$HC_CPU"
row "bytes received by the receiver" "$TW_IN" "$HC_IN"
row "bytes sent by the receiver" "$TW_OUT" "$HC_OUT"
row "receiver's peak RSS (MiB)" "$(mib "$TW_HWM")" "$(mib "$HC_HWM")"
if [ "$TW_OK" = 1 ] && [ "$HC_OK" = 1 ]; then
    echo "  ratio hypercore time / twind time: $(awk -v h="$HC_S" -v t="$TW_S" 'BEGIN { printf "%.2f", h / t }');" \
        "of the receivers' CPU time: $(awk -v h="$HC_CPU" -v t="$TW_CPU" 'BEGIN { if (t > 0) printf "%.2f", h / t; else print "-" }')"
fi
echo "  (twind's time is polled every 100 ms with twin, so up to 0.1 s late.  Each twind record is signed by its"
echo "   author and b checks $COUNT signatures; the Hypercore reader checks one writer's signed Merkle tree.)"
[ "$TW_OK" = 1 ] && [ "$HC_OK" = 1 ]
