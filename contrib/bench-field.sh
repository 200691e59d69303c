#!/bin/sh
# Field benchmark: prints figures, asserts nothing.
#
#   1. initial sync of COUNT entries (made by bench_ingest) to an empty node
#      through faultproxy --profile field: 8 000 B/s each way, 600 ms
#      latency each way, every connection cut after 30 s.  Wall time from
#      the empty node's start until its digest equals the source's, bytes
#      through the proxy each way, bytes down per entry against the
#      entries' own size (the envelopes), connections and cuts;
#   2. the same with --rate 8000 only (no latency, no cuts), for comparison;
#   3. what zstd would save: the same entries exported as an offline bundle
#      (twin bundle export), compressed whole at -3 and -19, and in
#      independent slices of 64 KiB and 16 KiB at -3 (an entry batch is
#      compressed on its own on the wire, so the slices are the fair case).
# Each sync is bounded by LIMIT seconds (default 420), so the whole run
# stays under about 15 minutes.
#
#   sh contrib/bench-field.sh [BUILD_DIR]      COUNT=5000 LIMIT=420 override
B=${1:-${B:-build}}
export B
COUNT=${COUNT:-5000}
LIMIT=${LIMIT:-420}
. tests/integration/lib.sh

F=$TW_ROOT/files
mkdir -p "$F"
now_ns() { date +%s%N; }
secs() { awk -v a="$1" -v b="$2" 'BEGIN { printf "%.1f", (b - a) / 1e9 }'; }

echo "== field profile: initial sync of $COUNT entries =="
BI=$(tw_tool bench_ingest) || exit 1
"$BI" "$TW_ROOT/a" "$COUNT" >"$F/bench.out" 2>&1 || { echo "  bench_ingest failed"; cat "$F/bench.out"; exit 1; }
sed 's/^/  bench_ingest: /' "$F/bench.out"
ESIZE=$(( $(wc -c <"$TW_ROOT/a/entries.bin") - 4 * COUNT ))
rm -f "$TW_ROOT/a/entries.bin"
echo "  the entries' own size (sum of envelopes): $ESIZE bytes, $((ESIZE / COUNT)) per entry"
PA=$(tw_free_port)
tw_start a --listen "127.0.0.1:$PA" || exit 1
# Without its peer record a is reached through the proxy only.
tw a delete peer self >/dev/null 2>&1
NETKEY=$(tw_netkey a)
NA=$(tw_entries a)
DA=$(tw_digest a)
synced() { [ "$(tw_digest "$1")" = "$DA" ]; }

# run NAME LABEL [FAULTPROXY ARGS]: an empty node NAME syncs from a through
# a proxy; prints its figures.
run() {
    _n=$1; _l=$2; shift 2
    tw_proxy "p$_n" "127.0.0.1:$PA" "$@" || { echo "  $_l: proxy did not start"; return; }
    _c=$(tw_conf "$_n" "network_key = $NETKEY" "outbound_target = 1" "sync_interval = 30" \
        "peer = 127.0.0.1:$(tw_proxy_port "p$_n")")
    _t0=$(now_ns)
    tw_start "$_n" --config "$_c" || { echo "  $_l: node did not start"; tw_stop "p$_n"; return; }
    if tw_wait_for "$LIMIT" synced "$_n"; then
        _s=$(secs "$_t0" "$(now_ns)")
        echo "  $_l: $NA entries in $_s s ($(awk -v n="$NA" -v s="$_s" 'BEGIN { printf "%.1f", n / s }') entries/s)"
    else
        echo "  $_l: NOT finished within $LIMIT s: $(tw_entries "$_n") of $NA entries"
    fi
    tw_stop "$_n"
    tw_stop "p$_n"
    _up=$(tw_proxy_stat "p$_n" bytes_up); _down=$(tw_proxy_stat "p$_n" bytes_down)
    echo "    bytes down (to the new node) $_down, up $_up; connections $(tw_proxy_stat "p$_n" connections), cuts $(tw_proxy_stat "p$_n" cuts)"
    echo "    per entry: $(awk -v d="$_down" -v u="$_up" -v n="$NA" -v e="$ESIZE" -v c="$COUNT" \
        'BEGIN { printf "%.0f bytes down + %.0f up on the wire, against %.0f of its own (down / own = %.2f)", d / n, u / n, e / c, d / e }')"
    echo "    resumed connections (wanted entries asked for first): $(grep -c 'resuming: asking for' "$(tw_log "$_n")")"
}

run field "field profile (8000 B/s, 600 ms, cut every 30 s)" --profile field
run rate "rate only (8000 B/s, no latency, no cuts)" --rate 8000

echo "== zstd on the same entries =="
if ! command -v zstd >/dev/null 2>&1; then
    apt-get install -y zstd >/dev/null 2>&1 || true
fi
if command -v zstd >/dev/null 2>&1 && tw a bundle export "$F/all.twb" >/dev/null 2>&1; then
    BS=$(wc -c <"$F/all.twb")
    echo "  bundle of $NA entries: $BS bytes"
    for lv in 3 19; do
        zstd -q -"$lv" -c "$F/all.twb" >"$F/all.$lv.zst"
        CS=$(wc -c <"$F/all.$lv.zst")
        echo "  whole bundle, zstd -$lv: $CS bytes, $(awk -v a="$CS" -v b="$BS" 'BEGIN { printf "%.2f of the original (%.0f%% saved)", a / b, 100 * (1 - a / b) }')"
    done
    for kib in 64 16; do
        mkdir -p "$F/s$kib"
        split -b $((kib * 1024)) "$F/all.twb" "$F/s$kib/x"
        CS=0
        for s in "$F/s$kib"/x*; do
            CS=$((CS + $(zstd -q -3 -c "$s" | wc -c)))
        done
        echo "  in independent $kib KiB slices, zstd -3: $CS bytes, $(awk -v a="$CS" -v b="$BS" 'BEGIN { printf "%.2f of the original (%.0f%% saved)", a / b, 100 * (1 - a / b) }')"
    done
else
    echo "  zstd not available (or bundle export failed): no measurement"
fi
tw_stop a
