#!/bin/sh
# Behavioural checks of build/tools/faultproxy, the fault-injecting TCP proxy
# the other integration tests put between daemons.  An echo server from
# tests/tools/echo_sink.py sits behind the proxy; its clients measure what
# comes back.  Timing bounds are generous on purpose: they tell a cap or a
# delay that works from one that does nothing, not how fast the machine is.
# Run from the repository root; $B is the build directory (default build).
B=${B:-build}
FP=$B/tools/faultproxy
HELPER=tests/tools/echo_sink.py
T=$(mktemp -d "${TMPDIR:-/tmp}/t_faultproxy.XXXXXX") || exit 1
PIDS=""
failures=0

cleanup() {
    for p in $PIDS; do kill "$p" 2>/dev/null; done
    rm -rf "$T"
}
trap cleanup EXIT
trap 'exit 1' INT TERM HUP

pass() { echo "PASS: $1"; }
fail() { echo "FAIL: $1"; failures=$((failures + 1)); }
# verdict DESC: PASS if the command just before it succeeded.
verdict() { if [ $? = 0 ]; then pass "$1"; else fail "$1"; fi; }

# Clients never block forever on their own; timeout is the second fence.
client() { timeout 40 python3 "$HELPER" "$@"; }

# field KEY LINE: the value of key=value in a client's output line.
field() { printf '%s\n' "$2" | tr ' ' '\n' | sed -n "s/^$1=//p"; }
# stat KEY FILE: the value of a "key value" line in a stats file.
stat() { sed -n "s/^$1 //p" "$2" 2>/dev/null; }
# between V LO HI: LO <= V < HI, as decimals.
between() { awk -v v="$1" -v lo="$2" -v hi="$3" 'BEGIN { exit !(v != "" && v + 0 >= lo + 0 && v + 0 < hi + 0) }'; }

wait_file() { # wait_file FILE: up to 10 s for FILE to exist and be non-empty
    i=0
    while [ ! -s "$1" ] && [ $i -lt 100 ]; do sleep 0.1; i=$((i + 1)); done
    [ -s "$1" ]
}

wait_stat() { # wait_stat KEY VALUE FILE: up to 5 s for a stats line to match
    i=0
    while [ "$(stat "$1" "$3")" != "$2" ] && [ $i -lt 50 ]; do sleep 0.1; i=$((i + 1)); done
    [ "$(stat "$1" "$3")" = "$2" ]
}

wait_exit() { # wait_exit PID: up to 10 s for PID to end; sets RC to its status
    RC=
    i=0
    while kill -0 "$1" 2>/dev/null && [ $i -lt 100 ]; do sleep 0.1; i=$((i + 1)); done
    if kill -0 "$1" 2>/dev/null; then
        kill -KILL "$1" 2>/dev/null
        RC=timeout
    fi
    wait "$1"
    rc=$?
    [ "$RC" = timeout ] || RC=$rc
    # Reaped: its pid may be reused, so the exit trap must not signal it.
    PIDS=$(echo " $PIDS " | sed "s/ $1 / /")
}

start_server() { # start_server NAME MODE: sets SRV_PORT
    python3 "$HELPER" serve --mode "$2" --port-file "$T/$1.port" >"$T/$1.log" 2>&1 &
    PIDS="$PIDS $!"
    wait_file "$T/$1.port" || { echo "FAIL: $1 server did not start"; exit 1; }
    SRV_PORT=$(cat "$T/$1.port")
}

start_proxy() { # start_proxy NAME TARGET_PORT [flags...]: sets PX_PID PX_PORT PX_STATS
    name=$1; tport=$2; shift 2
    PX_STATS=$T/$name.stats
    "$FP" --listen 127.0.0.1:0 --target "127.0.0.1:$tport" --port-file "$T/$name.pport" \
        --stats "$PX_STATS" -v "$@" >"$T/$name.plog" 2>&1 &
    PX_PID=$!
    PIDS="$PIDS $PX_PID"
    if ! wait_file "$T/$name.pport"; then
        echo "FAIL: proxy $name did not start"; cat "$T/$name.plog"; exit 1
    fi
    PX_PORT=$(cat "$T/$name.pport")
}

stop_proxy() { # stop_proxy: SIGTERM the current proxy and wait; sets RC
    kill -TERM "$PX_PID" 2>/dev/null
    wait_exit "$PX_PID"
}

if [ ! -x "$FP" ]; then
    echo "FAIL: $FP not built (make tools)"
    exit 1
fi

# ---- command line ----
"$FP" --help >"$T/help" 2>&1 && grep -q -- '--profile' "$T/help"
verdict "--help exits 0 and describes --profile"
"$FP" --listen 127.0.0.1:0 --target 127.0.0.1:9 --no-such-flag 2>/dev/null
[ $? = 2 ]; verdict "unknown flag exits 2"
"$FP" --listen 127.0.0.1:0 --target 127.0.0.1:9 --rate fast 2>/dev/null
[ $? = 2 ]; verdict "bad flag value exits 2"
"$FP" --listen 0.0.0.0:0 --target 127.0.0.1:9 2>"$T/nonloop"
[ $? = 2 ] && grep -q 'only 127.0.0.0/8' "$T/nonloop"
verdict "non-loopback listen address refused with exit 2"

start_server echo echo
ECHO=$SRV_PORT

# ---- plain forwarding, stats, clean exit ----
start_proxy plain "$ECHO"
out=$(client echo --port "$PX_PORT" --bytes 1048576)
[ "$(field sent_sha "$out")" = "$(field recv_sha "$out")" ] && [ "$(field recv "$out")" = 1048576 ]
verdict "1 MiB passes through the echo unchanged (sha256)"
out=$(client ping --port "$PX_PORT" --count 3)
rtt=$(field rtt "$out")
[ "$(field result "$out")" = ok ] && between "$rtt" 0 0.25
verdict "without faults a round trip is fast (rtt $rtt s)"
wait_stat bytes_up 1048579 "$PX_STATS"
verdict "stats file is refreshed while running (bytes_up 1048579)"
stop_proxy
[ "$RC" = 0 ]; verdict "SIGTERM exits 0 with every handle closed"
[ "$(stat bytes_up "$PX_STATS")" = 1048579 ] && [ "$(stat bytes_down "$PX_STATS")" = 1048579 ] &&
    [ "$(stat connections "$PX_STATS")" = 2 ] && [ "$(stat cuts "$PX_STATS")" = 0 ]
verdict "final stats: 1048579 bytes each way, 2 connections, no cuts"

# ---- rate cap: 100 KiB each way at 50 KiB/s needs about 2 s ----
start_proxy rate "$ECHO" --rate 51200
out=$(client echo --port "$PX_PORT" --bytes 102400)
el=$(field elapsed "$out")
[ "$(field sent_sha "$out")" = "$(field recv_sha "$out")" ]
verdict "--rate 51200: 100 KiB echo intact"
between "$el" 1.6 20
verdict "--rate 51200: 100 KiB echo takes >= 1.6 s and < 20 s (took $el s)"
stop_proxy

# ---- latency: 300 ms each way, so a round trip >= 600 ms ----
start_proxy lat "$ECHO" --latency 300
out=$(client ping --port "$PX_PORT" --count 2)
rtt=$(field rtt "$out")
between "$rtt" 0.55 5
verdict "--latency 300: round trip >= 0.55 s and < 5 s (rtt $rtt s)"
out=$(client echo --port "$PX_PORT" --bytes 262144)
[ "$(field sent_sha "$out")" = "$(field recv_sha "$out")" ] && [ "$(field recv "$out")" = 262144 ]
verdict "--latency 300: 256 KiB keep their order (sha256)"
stop_proxy

# ---- profile field, with a flag overriding its latency ----
start_proxy field "$ECHO" --profile field --latency 50
out=$(client ping --port "$PX_PORT" --count 2)
rtt=$(field rtt "$out")
between "$rtt" 0.09 0.6
verdict "--profile field --latency 50: the flag overrides the profile (rtt $rtt s)"
out=$(client echo --port "$PX_PORT" --bytes 16000)
el=$(field elapsed "$out")
between "$el" 1.6 20
verdict "--profile field: 16000 B echo capped near 8000 B/s (took $el s)"
stop_proxy

# ---- cut-after: 64 KiB in total, then both sides closed ----
start_proxy cut "$ECHO" --cut-after 64
out=$(client echo --port "$PX_PORT" --bytes 1048576)
got=$(field recv "$out")
[ -n "$got" ] && [ "$got" -lt 65536 ] && [ "$(field end "$out")" != timeout ]
verdict "--cut-after 64: the connection is cut before the echo completes (recv $got, end $(field end "$out"))"
stop_proxy
up=$(stat bytes_up "$PX_STATS"); down=$(stat bytes_down "$PX_STATS")
[ "$((${up:-0} + ${down:-0}))" = 65536 ] && [ "$(stat cuts "$PX_STATS")" = 1 ] && [ "$RC" = 0 ]
verdict "--cut-after 64: exactly 65536 bytes passed ($up up, $down down), 1 cut"

# ---- cut-every: a connection lives about 1 s ----
start_proxy every "$ECHO" --cut-every 1
out=$(client hold --port "$PX_PORT" --seconds 8)
[ "$(field result "$out")" = closed ] && between "$(field after "$out")" 0.5 5
verdict "--cut-every 1: an idle connection is closed after about 1 s ($out)"
stop_proxy

# ---- partition and heal ----
start_proxy part "$ECHO"
client hold --port "$PX_PORT" --seconds 15 >"$T/hold.out" &
HOLD=$!
PIDS="$PIDS $HOLD"
wait_stat active 1 "$PX_STATS"
kill -USR1 "$PX_PID"
wait_stat partitioned 1 "$PX_STATS"
verdict "SIGUSR1: the proxy reports itself partitioned"
wait_exit "$HOLD"
out=$(cat "$T/hold.out")
[ "$(field result "$out")" = closed ]
verdict "SIGUSR1: an open connection is closed ($out)"
out=$(client ping --port "$PX_PORT" --count 1)
[ "$(field result "$out")" = closed ]
verdict "SIGUSR1: a new connection is refused ($out)"
kill -USR2 "$PX_PID"
wait_stat partitioned 0 "$PX_STATS"
verdict "SIGUSR2: the proxy reports itself healed"
out=$(client ping --port "$PX_PORT" --count 1)
[ "$(field result "$out")" = ok ]
verdict "SIGUSR2: new connections pass again ($out)"
stop_proxy
[ "$(stat connections "$PX_STATS")" = 3 ] && [ "$(stat refused "$PX_STATS")" = 1 ] &&
    [ "$(stat cuts "$PX_STATS")" = 1 ] && [ "$RC" = 0 ]
verdict "partition stats: 3 connections, 1 refused, 1 cut; exit 0"

# ---- backpressure: a target that never reads must not grow the proxy ----
start_server stall stall
start_proxy bp "$SRV_PORT"
out=$(client push --port "$PX_PORT" --seconds 2)
sent=$(field sent "$out")
rss=$(awk '/^VmRSS:/ { print $2 }' "/proc/$PX_PID/status" 2>/dev/null)
[ -n "$rss" ] && [ "$rss" -lt 32768 ] && [ -n "$sent" ] && [ "$sent" -lt 67108864 ]
verdict "backpressure: 2 s of pushing to a stalled target moves $sent B and the proxy stays under 32 MiB RSS (${rss:-?} kB)"
grep -q 'up paused' "$T/bp.plog"
verdict "backpressure: the proxy stopped reading the client"
stop_proxy
[ "$RC" = 0 ]; verdict "SIGTERM with a full queue still exits 0"

[ "$failures" = 0 ]
