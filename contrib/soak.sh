#!/bin/sh
# Soak: every hostile peer of tests/integration/t_bounded_net.sh at once,
# for SOAK_SECONDS (default 600), against a node n1 that two honest nodes
# keep syncing with.  Prints figures, asserts nothing (the integration
# tests assert): n1's peak memory and descriptors, the latency of honest
# records published on h1 and h2 until n1 lists them (percentiles), the
# size of n1's log at level info, and what each attacker did.
#
#   make soak                     SOAK_SECONDS=600 by default
#   SOAK_SECONDS=60 sh contrib/soak.sh [BUILD_DIR]
#
# Everything listens and dials on 127.0.0.0/8 only; every process started
# is stopped by pid; every loop ends at the deadline.
B=${1:-${B:-build}}
export B
SOAK_SECONDS=${SOAK_SECONDS:-600}
. tests/integration/lib.sh

F=$TW_ROOT/files
mkdir -p "$F"
now_ms() { date +%s%3N; }
P1=$(tw_free_port)
P2=$(tw_free_port)
P3=$(tw_free_port)

tw_start n1 --listen "127.0.0.1:$P1" --log-level info || { echo "n1 did not start"; exit 1; }
NK=$(tw_dir n1)/network.key
CONF=$(tw_conf common "network_key = $(tw_netkey n1)" "sync_interval = 10")
tw_start h1 --config "$CONF" --listen "127.0.0.1:$P2" --peer "127.0.0.1:$P1" --log-level info || exit 1
tw_start h2 --config "$CONF" --listen "127.0.0.1:$P3" --peer "127.0.0.1:$P1" --log-level info || exit 1
tw_wait_for 15 tw_has_peers n1 2 || echo "  note: n1 has fewer than 2 honest peers at the start"
PID1=$(tw_pid n1)
EVIL=$(tw_tool evilpeer) || exit 1
LOG1=$(tw_log n1)
LOG0=$(wc -c <"$LOG1")
RSS0=$(tw_vm "$PID1" VmRSS)
FD0=$(ls "/proc/$PID1/fd" | wc -l)
START=$(date +%s)
END=$((START + SOAK_SECONDS))
echo "== soak: $SOAK_SECONDS s against n1 (127.0.0.1:$P1); at rest VmRSS $RSS0 KiB, $FD0 descriptors =="

# attacker NAME CMD...: runs CMD again and again until the deadline, each
# run bounded by timeout; counts runs in $F/NAME.runs.
attacker() {
    _an=$1; shift
    (
        _k=0
        while [ "$(date +%s)" -lt "$END" ]; do
            timeout 120 "$@" >"$F/$_an.last" 2>&1
            _k=$((_k + 1))
            echo "$_k" >"$F/$_an.runs"
            sleep 0.2
        done
    ) &
    tw_track $!
    APIDS="$APIDS $!"
}
APIDS=""
E="$EVIL --connect 127.0.0.1:$P1"
attacker replay $E --netkey-file "$NK" --mode replay --count 500
attacker offer-a $E --netkey-file "$NK" --mode offer --count 2200000 --wait 2
attacker offer-b $E --netkey-file "$NK" --mode offer --count 2200000 --wait 2
attacker unsent $E --netkey-file "$NK" --mode offer --count 8192 --answer empty --wait 2
attacker withhold $E --netkey-file "$NK" --mode withhold --count 500 --via "127.0.0.1:$P2" --hold 40
attacker leave $E --netkey-file "$NK" --mode offer --count 70000 --wait 1
attacker wrongkey $E --netkey random --mode wrongkey --wait 1
# One long-lived flood of held handshakes from 125 addresses.
timeout $((SOAK_SECONDS + 30)) $E --bind 127.0.1.1 --addrs 125 --mode hold --count 1000 \
    --hold "$SOAK_SECONDS" --reopen-ms 200 >"$F/hold.out" 2>&1 &
HOLD=$!
tw_track "$HOLD"
# A local client that pipelines 150 list requests and never reads the
# answers, on a connection it keeps open 20 s, again and again; and a
# member with a valid key pushing records the schema refuses (peer
# records in other slots, 300 versions of its own, an unknown kind at the
# depth limit).
attacker pipeline python3 tests/tools/ctlpoke.py "$(tw_dir n1)/twind.sock" \
    pipeline 150 '{"v": 1, "op": "list", "args": {"limit": 10000}}' sleep 20
PROPGEN=$(tw_tool propgen) || exit 1
SEEDH=5eed5eed5eed5eed5eed5eed5eed5eed5eed5eed5eed5eed5eed5eed5eed5eed
"$PROPGEN" hostile --seed "$SEEDH" --netkey-file "$NK" --out "$F/hostile.bundle" --versions 300 --slots 40 \
    --addrs "0.0.0.0:9,127.0.0.1:9" >/dev/null
attacker member $E --netkey-file "$NK" --seed "$SEEDH" --mode push-bundle --file "$F/hostile.bundle" --wait 2

# Honest traffic and samples until the deadline.
PEAK_RSS=0
PEAK_FD=0
: >"$F/lat"
MISSED=0
i=0
while [ "$(date +%s)" -lt "$END" ]; do
    r=$(tw_vm "$PID1" VmRSS)
    d=$(ls "/proc/$PID1/fd" 2>/dev/null | wc -l)
    [ "${r:-0}" -gt "$PEAK_RSS" ] && PEAK_RSS=$r
    [ "$d" -gt "$PEAK_FD" ] && PEAK_FD=$d
    i=$((i + 1))
    src=h1
    [ $((i % 2)) = 0 ] && src=h2
    slot="soak-$i"
    t0=$(now_ms)
    if tw "$src" publish place "$slot" name_en="Soak $i" place_kind=village country=PS >/dev/null 2>&1; then
        k=0
        while [ "$k" -lt 400 ] && ! tw n1 show place "$slot" >/dev/null 2>&1; do sleep 0.05; k=$((k + 1)); done
        if [ "$k" -lt 400 ]; then echo $(($(now_ms) - t0)) >>"$F/lat"; else MISSED=$((MISSED + 1)); fi
    else
        MISSED=$((MISSED + 1))
    fi
    sleep 1
done
for p in $APIDS; do
    _w=0
    while tw_alive "$p" && [ "$_w" -lt 1300 ]; do sleep 0.1; _w=$((_w + 1)); done
done
_w=0
while tw_alive "$HOLD" && [ "$_w" -lt 400 ]; do sleep 0.1; _w=$((_w + 1)); done

echo "== figures =="
echo "  n1 alive at the end: $(tw_alive "$PID1" && echo yes || echo NO)"
echo "  n1 VmRSS: $RSS0 KiB at rest, peak sampled $PEAK_RSS KiB, VmHWM $(tw_vm "$PID1" VmHWM) KiB, at the end $(tw_vm "$PID1" VmRSS) KiB"
echo "  n1 descriptors: $FD0 at rest, peak sampled $PEAK_FD"
sort -n "$F/lat" | awk -v missed="$MISSED" '
    { v[NR] = $1 }
    END {
        if (NR == 0) { print "  honest latency: no record arrived (" missed " missed)"; exit }
        printf "  honest latency h1/h2 -> n1 over %d records: p50 %d ms, p90 %d ms, p99 %d ms, max %d ms; %d not there within 20 s\n",
            NR, v[int(NR * 0.5) + (NR * 0.5 > int(NR * 0.5))], v[int(NR * 0.9) + (NR * 0.9 > int(NR * 0.9))],
            v[int(NR * 0.99) + (NR * 0.99 > int(NR * 0.99))], v[NR], missed
    }'
LOGB=$(( $(wc -c <"$LOG1") - LOG0 ))
echo "  n1 log at level info: $LOGB bytes in $SOAK_SECONDS s ($(( LOGB / (SOAK_SECONDS > 0 ? SOAK_SECONDS : 1) )) bytes/s), $(wc -l <"$LOG1") lines"
echo "  summary lines (refusals counted): $(grep -c 'in the last' "$LOG1"); misbehaved: $(grep -c misbehaved "$LOG1"); withheld: $(grep -c 'no answer to a WANT' "$LOG1")"
for a in replay offer-a offer-b unsent withhold leave wrongkey pipeline member; do
    [ -f "$F/$a.runs" ] && echo "  attacker $a: $(cat "$F/$a.runs") runs; last: $(tr '\n' ' ' <"$F/$a.last" | cut -c1-160)"
done
echo "  hold: $(tr '\n' ' ' <"$F/hold.out")"
if tw_wait_converged 60 n1 h1 h2; then echo "  honest nodes converged after the soak (${TW_CONV_S} s)"; else echo "  honest nodes NOT converged after the soak:$TW_CONV_DETAIL"; fi
for n in n1 h1 h2; do tw_stop "$n" || echo "  $n stopped with status $TW_REAP_RC"; done
exit 0
