#!/bin/sh
# Initial sync over the "field" profile of faultproxy, shortened to fit in
# make check: 600 ms latency each way as in the profile, but 40 000 B/s
# instead of 8 000 and a cut every 5 s instead of every 30 s, so the sync
# crosses several cuts in a few tens of seconds (contrib/bench-field.sh runs
# the real profile with 5 000 entries).
#
# Checks: the sync completes (digests equal); at least two cuts happened
# during it; and after a cut nothing already stored is sent again, measured
# as the bytes a sent down the proxy against the entries' own size (the
# envelopes in bench_ingest's entries.bin): at most 1.5 x that size plus a
# fixed allowance for handshakes, reconciliation and framing per connection.
#
# a withdraws its peer record, so the syncing node never learns a's direct
# address and every byte goes through the proxy; outbound_target = 1 keeps
# it to that one link.
. tests/integration/lib.sh

F=$TW_ROOT/files
mkdir -p "$F"
COUNT=${TW_FIELD_COUNT:-600}
LIMIT_S=75
# Entry batches travel compressed (about 0.5x), so the rate is set low
# enough that the sync spans several cuts; each connection spends ~3 s of
# its life on the handshake and a reconciliation at 600 ms latency.
RATE=16000
CUT_S=6
# Per connection: Noise handshake, hellos, a reconciliation round and
# message framing; generous, since a 5 s connection moves ~100 KB at most.
PER_CONN=8192

BI=$(tw_tool bench_ingest) || { fail "bench_ingest is built"; tw_done; }
if "$BI" "$TW_ROOT/a" "$COUNT" >"$F/bench.out" 2>&1; then pass "bench_ingest makes a data dir of $COUNT entries"; else
    fail "bench_ingest makes a data dir of $COUNT entries"; sed 's/^/    /' "$F/bench.out"; tw_done; fi
sed 's/^/    bench_ingest: /' "$F/bench.out"

# entries.bin holds each envelope behind a 4-byte length.
ESIZE=$(( $(wc -c <"$TW_ROOT/a/entries.bin") - 4 * COUNT ))
rm -f "$TW_ROOT/a/entries.bin"
echo "    figure: the $COUNT entries' own size (sum of envelopes): $ESIZE bytes, $((ESIZE / COUNT)) per entry"

PA=$(tw_free_port)
if tw_start a --listen "127.0.0.1:$PA"; then pass "node a starts on that data dir"; else fail "node a starts on that data dir"; tw_done; fi
check "node a withdraws its peer record" tw a delete peer self
DA=$(tw_digest a)
NA=$(tw_entries a)
NETKEY=$(tw_netkey a)
synced() { [ "$(tw_digest "$1")" = "$DA" ]; }

if ! tw_proxy pf "127.0.0.1:$PA" --profile field --rate "$RATE" --cut-every "$CUT_S"; then
    fail "faultproxy starts with the field profile"; tw_done
fi
CONF=$(tw_conf b "network_key = $NETKEY" "outbound_target = 1" "sync_interval = 5" \
    "peer = 127.0.0.1:$(tw_proxy_port pf)")
T0=$(date +%s%N)
if tw_start b --config "$CONF"; then pass "node b starts, dialing a through the proxy"; else fail "node b starts"; tw_done; fi
if tw_wait_for "$LIMIT_S" synced b; then
    T=$(awk -v a="$T0" -v b="$(date +%s%N)" 'BEGIN { printf "%.1f", (b - a) / 1e9 }')
    pass "b completes the sync over the field profile (digest equal to a's, $(tw_entries b) entries) in $T s"
else
    fail "b completes the sync over the field profile within $LIMIT_S s" "entries $(tw_entries b) of $NA"
fi
tw_stop b || fail "node b stops with status 0" "status $TW_REAP_RC"
tw_stop pf || fail "proxy exits 0" "status $TW_REAP_RC"

UP=$(tw_proxy_stat pf bytes_up); DOWN=$(tw_proxy_stat pf bytes_down)
CONNS=$(tw_proxy_stat pf connections); CUTS=$(tw_proxy_stat pf cuts)
echo "    figure: through the proxy: down (a to b) $DOWN bytes, up $UP bytes; connections $CONNS, cuts $CUTS"
if [ "${CUTS:-0}" -ge 2 ]; then pass "the link was cut at least twice during the sync ($CUTS cuts)"; else
    fail "the link was cut at least twice during the sync" "cuts ${CUTS:-none}"; fi
if [ -n "$DOWN" ] && [ "$DOWN" -gt 0 ]; then
    RATIO=$(awk -v d="$DOWN" -v e="$ESIZE" 'BEGIN { printf "%.2f", d / e }')
    BOUND=$((ESIZE * 3 / 2 + PER_CONN * CONNS))
    echo "    figure: bytes down / entries' size = $RATIO; bound 1.5 x $ESIZE + $PER_CONN x $CONNS connections = $BOUND"
    if [ "$DOWN" -le "$BOUND" ]; then pass "nothing stored is sent again after a cut: $DOWN bytes down <= $BOUND ($RATIO x the entries)"; else
        fail "nothing stored is sent again after a cut" "$DOWN bytes down > $BOUND ($RATIO x the entries)"; fi
else
    fail "the proxy counted bytes" "bytes_down ${DOWN:-none}"
fi
RES=$(grep -c "resuming: asking for" "$(tw_log b)")
echo "    figure: connections on which b resumed wanted entries first: $RES"
bad=""
for n in a b; do grep -q "misbehaved\|) refused: " "$(tw_log "$n")" && bad="$bad $n"; done
[ -z "$bad" ] && pass "no node is reported misbehaving (logs)" || fail "no node is reported misbehaving (logs)" "in:$bad"
tw_stop a || fail "node a stops with status 0" "status $TW_REAP_RC"
tw_done
