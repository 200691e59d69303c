#!/bin/sh
# Sync benchmark: prints figures, asserts nothing.
#
#   1. initial sync: node a holds COUNT entries (made by bench_ingest, whose
#      single-node ingest rate is printed in the same run); once a is at
#      rest after its start (its CPU still for a second), an empty node b
#      dials it on loopback.  Wall time from b's start until its digest
#      equals a's (entry count polled every 500 ms, every 100 ms from 95 %
#      of a's, then the digest),
#      entries/s, the ratio to the ingest rate, bytes each way, and the peak
#      memory (VmHWM) and CPU (all threads; the loop thread; the writer) of both daemons,
#      and b's anonymous memory at rest 35 s later;
#   2. identical sets: b restarted holding the same COUNT entries; the
#      reconciliation at connect (from b's log: connected -> reconciled) and
#      one more on demand (twin sync --wait), with their bytes.
# Both nodes reconcile only at connect and on demand (sync_interval 3600).
#
#   sh contrib/bench-sync.sh [BUILD_DIR]      COUNT=100000 overrides
#
# SYNC_FROM=DIR SYNC_INGEST=FILE: node a is a copy of the data directory DIR
# made by bench_ingest earlier (contrib/bench-million.sh), FILE its output,
# instead of a new bench_ingest run.
B=${1:-${B:-build}}
export B
COUNT=${COUNT:-100000}
. tests/integration/lib.sh

F=$TW_ROOT/files
mkdir -p "$F"
now_ns() { date +%s%N; }
secs() { awk -v a="$1" -v b="$2" 'BEGIN { printf "%.2f", (b - a) / 1e9 }'; }
# conn_field NODE FIELD: FIELD of NODE's first established connection.
conn_field() {
    tw "$1" --json peers | python3 -c 'import json,sys
c = [c for c in json.load(sys.stdin)["connections"] if c["state"] == "established"]
print(c[0][sys.argv[1]] if c else 0)' "$2"
}

echo "== sync: $COUNT entries to an empty node on loopback =="
BI=$(tw_tool bench_ingest) || exit 1
# VOUCHED=1: admission on (a root key in both configs; every author of the
# entries vouched for by it), to measure what the admission check costs.
if [ "${VOUCHED:-0}" = 1 ]; then
    BENCH_ROOT_SEED=$(od -An -N32 -tx1 /dev/urandom | tr -d ' \n')
    export BENCH_ROOT_SEED
    echo "  (admission on: VOUCHED=1)"
fi
if [ -n "${SYNC_FROM:-}" ]; then
    mkdir -p "$TW_ROOT/a" && cp -r "$SYNC_FROM/store" "$SYNC_FROM/network.key" "$SYNC_FROM/identity.key" "$TW_ROOT/a/" &&
        cp "$SYNC_INGEST" "$F/bench.out" || { echo "  cannot copy $SYNC_FROM"; exit 1; }
    chmod 700 "$TW_ROOT/a"
else
    "$BI" "$TW_ROOT/a" "$COUNT" >"$F/bench.out" 2>&1 || { echo "  bench_ingest failed"; cat "$F/bench.out"; exit 1; }
fi
unset BENCH_ROOT_SEED
ROOT=$(awk '/^admission on: root/ { sub(/,$/, "", $4); print $4 }' "$F/bench.out")
ROOTLINE=${ROOT:+root = $ROOT}
sed 's/^/  bench_ingest: /' "$F/bench.out"
rm -f "$TW_ROOT/a/entries.bin"
INGEST_RATE=$(awk '/^ingest/ { for (i = 1; i <= NF; i++) if ($i == "entries/s,") print $(i - 1) }' "$F/bench.out")
PA=$(tw_free_port)
CONFA=$(tw_conf a0 "$ROOTLINE")
tw_start a --config "$CONFA" --listen "127.0.0.1:$PA" || exit 1
NETKEY=$(tw_netkey a)
NA=$(tw_entries a)
DA=$(tw_digest a)
CONF=$(tw_conf b "network_key = $NETKEY" "sync_interval = 3600" "peer = 127.0.0.1:$PA" "$ROOTLINE")

# a at rest before b starts, as a node serving peers would be: its start-up
# work (the report kept for stats and gaps, about 3 s of CPU at a million
# records) is over once its CPU stops moving for a second (at most 60 s).
PA_PID=$(tw_pid a)
cpu_ticks() { awk '{ print $14 + $15 }' "/proc/$1/stat" 2>/dev/null; }
w=0; c0=$(cpu_ticks "$PA_PID")
while [ "$w" -lt 60 ]; do
    sleep 1; c1=$(cpu_ticks "$PA_PID"); w=$((w + 1))
    [ "$c1" = "$c0" ] && break
    c0=$c1
done
TCK=$(getconf CLK_TCK)
echo "  a at rest $w s after its start (its start-up work: $(awk -v c="$c1" -v t="$TCK" 'BEGIN { printf "%.1f", c / t }') s of CPU)"
A_CPU0=$c1

T0=$(now_ns)
tw_start b --config "$CONF" || exit 1
# b's entry count polled every 0.5 s until it holds 95 % of a's, then every
# 0.1 s: each poll starts twin and awk (a few ms of CPU on the same two
# cores), and only the last ones set the time measured.
i=0
while [ "$i" -lt 6000 ]; do          # 10 minutes at most
    NB=$(tw_entries b)
    [ "$NB" = "$NA" ] && [ "$(tw_digest b)" = "$DA" ] && break
    if [ "${NB:-0}" -lt $((NA * 95 / 100)) ]; then sleep 0.5; i=$((i + 5)); else sleep 0.1; i=$((i + 1)); fi
done
T1=$(now_ns)
if [ "$(tw_digest b)" = "$DA" ]; then
    S=$(secs "$T0" "$T1")
    RATE=$(awk -v n="$NA" -v s="$S" 'BEGIN { printf "%.0f", n / s }')
    echo "  initial sync of $NA entries: $S s from b's start to equal digests, $RATE entries/s"
    [ -n "$INGEST_RATE" ] && echo "  ratio to the single-node ingest rate ($INGEST_RATE entries/s): $(awk -v a="$RATE" -v b="$INGEST_RATE" 'BEGIN { printf "%.2f", a / b }')"
else
    echo "  initial sync did not finish: b has $(tw_entries b) of $NA entries"
fi
BIN=$(conn_field b bytes_in); BOUT=$(conn_field b bytes_out)
echo "  bytes on b's connection: in $BIN, out $BOUT ($(awk -v a="$BIN" -v n="$NA" 'BEGIN { printf "%.0f", a / n }') bytes in per entry);" \
    "entries received $(conn_field b received), stored $(conn_field b stored)"
ENVB=$(stat -c %s "$TW_ROOT/a/store/data.mdb" 2>/dev/null)
for n in a b; do
    p=$(tw_pid "$n")
    echo "  $n: peak memory (VmHWM) $(($(tw_vm "$p" VmHWM) / 1024)) MiB; resident now $(($(tw_vm "$p" VmRSS) / 1024)) MiB" \
        "= anonymous $(($(tw_vm "$p" RssAnon) / 1024)) MiB + file-backed (LMDB map) $(($(tw_vm "$p" RssFile) / 1024)) MiB"
done
[ -n "$ENVB" ] && echo "  a's LMDB file: $((ENVB / 1048576)) MiB"
# CPU so far (user + system) of each daemon, of its event-loop thread (the
# main thread: admission, reconciliation, queries) and of its ingest writer
# threads (named tw-writer: the commits and the word index), apart from the
# verification workers: which side, which thread, the sync is waiting on.
for n in a b; do
    p=$(tw_pid "$n")
    w=$(grep -l '^tw-writer$' /proc/"$p"/task/*/comm 2>/dev/null | sed 's,/comm$,/stat,')
    # shellcheck disable=SC2086
    awk -v t="$TCK" -v n="$n" 'FNR == 1 { c[++i] = ($14 + $15) / t; if (i > 2) wr += c[i] }
        END { if (i >= 2) printf "  %s: CPU %.1f s, of which the loop thread %.1f s, the writer thread %.1f s\n", n, c[1], c[2], wr }' \
        "/proc/$p/stat" "/proc/$p/task/$p/stat" $w 2>/dev/null
done
echo "  a: CPU during the sync (after its start-up work) $(awk -v a="$(cpu_ticks "$PA_PID")" -v b="$A_CPU0" -v t="$TCK" 'BEGIN { printf "%.1f", (a - b) / t }') s"

# At rest after the sync: TW_TRIM_IDLE_MS (30 s) after the last batch, b
# gives back the pages LMDB kept for its commits and its free heap.
sleep 35
p=$(tw_pid b)
echo "  b at rest 35 s after the sync: anonymous $(($(tw_vm "$p" RssAnon) / 1024)) MiB (a node at rest that did not sync: about 4, bench-million)"

echo "== reconciliation of identical sets ($NA vs $NA entries) =="
tw_stop b || echo "  b exit status $TW_REAP_RC"
LINES=$(wc -l <"$(tw_log b)")
tw_start b --config "$CONF" || exit 1
reconciled() { tail -n +"$((LINES + 1))" "$(tw_log b)" | grep -q "reconciled in .*: we have"; }
tw_wait_for 60 reconciled || echo "  no reconciliation logged within 60 s"
tail -n +"$((LINES + 1))" "$(tw_log b)" | python3 -c 'import re, sys
from datetime import datetime
ts = lambda l: datetime.strptime(l[:23], "%Y-%m-%dT%H:%M:%S.%f")
conn = rec = None
for l in sys.stdin:
    if conn is None and ": connected to " in l: conn = (ts(l), l)
    if conn is not None and re.search(r"reconciled in .*: we have", l): rec = (ts(l), l); break
if conn and rec:
    print("  at connect: %.1f ms from the handshake to the end of the reconciliation (%s)" %
          ((rec[0] - conn[0]).total_seconds() * 1000, rec[1].split("reconciled ")[1].strip()))'
BIN=$(conn_field b bytes_in); BOUT=$(conn_field b bytes_out)
echo "  bytes of that connection so far (handshake included): in $BIN, out $BOUT"
T0=$(now_ns)
tw_run tw b sync --wait --timeout 60
T1=$(now_ns)
BIN2=$(conn_field b bytes_in); BOUT2=$(conn_field b bytes_out)
echo "  twin sync --wait (one more reconciliation, status polled every 200 ms): exit $TW_RC, $(secs "$T0" "$T1") s;" \
    "bytes in $((BIN2 - BIN)), out $((BOUT2 - BOUT))"
tw_stop b || echo "  b exit status $TW_REAP_RC"
tw_stop a || echo "  a exit status $TW_REAP_RC"
