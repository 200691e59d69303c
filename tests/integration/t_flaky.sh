#!/bin/sh
# Initial sync over a link that keeps breaking.  Node a holds 20 000
# entries (made by bench_ingest); an empty node dials it through faultproxy
# (20 ms latency, 2 MB/s each way) once over a clean link and once over a
# link cut after every 256 KiB.  The cut run must finish within a bounded
# time and move at most twice the bytes of the clean run: a sync resumes
# from what was stored, it does not start over.
#
# a withdraws its peer record, so the syncing node never learns a's direct
# address and every byte goes through the proxy; outbound_target = 1 keeps
# it to that one link.
. tests/integration/lib.sh

F=$TW_ROOT/files
mkdir -p "$F"
COUNT=${TW_FLAKY_COUNT:-20000}
CLEAN_S=120
FLAKY_S=180

BI=$(tw_tool bench_ingest) || { fail "bench_ingest is built"; tw_done; }
if "$BI" "$TW_ROOT/a" "$COUNT" >"$F/bench.out" 2>&1; then pass "bench_ingest makes a data dir of $COUNT entries"; else
    fail "bench_ingest makes a data dir of $COUNT entries"; sed 's/^/    /' "$F/bench.out"; tw_done; fi
sed 's/^/    bench_ingest: /' "$F/bench.out"
rm -f "$TW_ROOT/a/entries.bin"
PA=$(tw_free_port)
if tw_start a --listen "127.0.0.1:$PA"; then pass "node a starts on that data dir"; else fail "node a starts on that data dir"; tw_done; fi
check "node a withdraws its peer record" tw a delete peer self
DA=$(tw_digest a)
NA=$(tw_entries a)
NETKEY=$(tw_netkey a)

now_ns() { date +%s%N; }
secs() { awk -v a="$1" -v b="$2" 'BEGIN { printf "%.1f", (b - a) / 1e9 }'; }
synced() { [ "$(tw_digest "$1")" = "$DA" ]; }

# run NAME PROXY LIMIT_S [FAULTPROXY ARGS]: a fresh node NAME syncs from a
# through proxy PROXY; sets T_<NAME> (seconds) and BYTES_<NAME>.
run() {
    _rn=$1; _rp=$2; _rl=$3; shift 3
    tw_proxy "$_rp" "127.0.0.1:$PA" "$@" || { fail "$_rn: proxy starts"; return; }
    _rc=$(tw_conf "$_rn" "network_key = $NETKEY" "outbound_target = 1" "sync_interval = 5" \
        "peer = 127.0.0.1:$(tw_proxy_port "$_rp")")
    _t0=$(now_ns)
    tw_start "$_rn" --config "$_rc" || { fail "$_rn: node starts"; return; }
    if tw_wait_for "$_rl" synced "$_rn"; then
        eval "T_$_rn=$(secs "$_t0" "$(now_ns)")"
        pass "$_rn: an empty node completes the sync (digest equal to a's, $(tw_entries "$_rn") entries) in $(eval echo \$T_$_rn) s"
    else
        eval "T_$_rn=-"
        fail "$_rn: an empty node completes the sync within $_rl s" "entries $(tw_entries "$_rn") of $NA"
    fi
    tw "$_rn" --json peers >"$F/$_rn.peers.json" 2>/dev/null
    tw_stop "$_rn" || fail "$_rn: node stops with status 0" "status $TW_REAP_RC"
    tw_stop "$_rp" || fail "$_rn: proxy exits 0" "status $TW_REAP_RC"
    _up=$(tw_proxy_stat "$_rp" bytes_up); _down=$(tw_proxy_stat "$_rp" bytes_down)
    eval "BYTES_$_rn=$((_up + _down))"
    echo "    figure: $_rn: bytes through the proxy: up $_up, down $_down, total $((_up + _down));" \
        "connections $(tw_proxy_stat "$_rp" connections), cuts $(tw_proxy_stat "$_rp" cuts)"
}

run clean pclean "$CLEAN_S" --latency 20 --rate 2000000
run flaky pflaky "$FLAKY_S" --latency 20 --rate 2000000 --cut-after 256

echo "    figure: clean run $T_clean s, $BYTES_clean bytes; cut every 256 KiB: $T_flaky s, $BYTES_flaky bytes"
if [ "${BYTES_clean:-0}" -gt 0 ] && [ "${BYTES_flaky:-0}" -gt 0 ]; then
    RATIO=$(awk -v a="$BYTES_flaky" -v b="$BYTES_clean" 'BEGIN { printf "%.2f", a / b }')
    echo "    figure: bytes ratio cut/clean = $RATIO"
    if [ "$BYTES_flaky" -le $((2 * BYTES_clean)) ]; then pass "the cut run moves at most 2x the bytes of the clean run ($RATIO)"; else
        fail "the cut run moves at most 2x the bytes of the clean run" "ratio $RATIO"; fi
else
    fail "both runs measured bytes" "clean ${BYTES_clean:-none}, flaky ${BYTES_flaky:-none}"
fi
bad=""
for n in a clean flaky; do grep -q "misbehaved\|) refused: " "$(tw_log "$n")" && bad="$bad $n"; done
[ -z "$bad" ] && pass "no node is reported misbehaving (logs)" || fail "no node is reported misbehaving (logs)" "in:$bad"
tw_stop a || fail "node a stops with status 0" "status $TW_REAP_RC"
tw_done
