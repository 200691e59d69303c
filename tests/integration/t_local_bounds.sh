#!/bin/sh
# Local clients that do not play fair, against one running twind (issue 11,
# items 6, 9 and 10): clients that pipeline requests and never read the
# answers, a flood of requests from one client, idle connections holding
# the per-uid cap, and floods of lines for the log.  Memory and descriptors
# are read from /proc/PID/status and /proc/PID/fd and must stay within the
# bounds of proto/PROTOCOL.md ("Backpressure and fairness"); other clients
# must keep being served; repeated reasons are logged a few times and then
# counted.
. tests/integration/lib.sh

POKE="timeout 60 python3 tests/tools/ctlpoke.py"
# The limits under test (include/twin/limits.h).
QUEUE_KB=1024          # TW_CTL_WRITE_QUEUE_MAX
PAGE_KB=4096           # TW_LIST_PAGE_BYTES: the largest list reply
BURST=5                # TW_LOG_BURST
WINDOW_S=10            # TW_LOG_WINDOW_MS

PORT=$(tw_free_port)
if tw_start n1 --listen "127.0.0.1:$PORT"; then pass "twind starts"; else fail "twind starts"; tw_done; fi
PID=$(tw_pid n1)
S=$(tw_dir n1)/twind.sock
LOG=$(tw_log n1)
F=$TW_ROOT/files
mkdir -p "$F"

# 1000 places of about 3.7 KB each: a list page of 100 is about 370 KB, a
# page of the default 1000 about 3.7 MB.
python3 -c 'import json, sys
recs = [{"kind": "place", "slot": "place-%04d" % i,
         "body": {"name_en": "Place %d" % i, "place_kind": "village", "country": "PS",
                  "description": "Olive harvest and school exchange notes. " * 90}} for i in range(1000)]
json.dump(recs, open(sys.argv[1], "w"))' "$F/places.json"
check_out "1000 large records imported" 0 "1000 imported" tw n1 import "$F/places.json"

fds() { ls "/proc/$1/fd" 2>/dev/null | wc -l; }

# count_log KEY TEXT: lines with TEXT written, plus the lines the summaries
# of KEY say were dropped: every event, counted once.
count_log() {
    _w=$(grep -v "$1: [0-9]* similar line" "$LOG" | grep -cF -- "$2")
    _d=$(sed -n "s/.* $1: \([0-9]*\) similar lines\{0,1\} dropped.*/\1/p" "$LOG" | awk '{ s += $1 } END { print s + 0 }')
    echo "$_w $_d"
}

# ------------------------------------------- one batch per turn (item 9)
# TW_CTL_BATCH (8) requests arriving in one read are answered in one turn;
# a ninth waits for the next turn (a debug line says so).
# frames N [LAST]: N status requests, then one request for op LAST if given.
frames() {
    python3 -c 'import sys; sys.path.insert(0, "tests/tools"); import ctlpoke as c
last = c.frame(c.enc({"v": 1, "op": sys.argv[2], "args": {}}, bytearray())) if len(sys.argv) > 2 else b""
print((c.STATUS * int(sys.argv[1]) + last).hex())' "$@"
}
tw_run $POKE --expect 'len(out) == 8 and all("\"ok\": true" in l for l in out)' "$S" raw "$(frames 8)" recv recv recv recv recv recv recv recv
[ "$TW_RC" = 0 ] && pass "8 pipelined requests are answered" || { fail "8 pipelined requests are answered"; tw__show_last; }
if grep -q "requests answered in this turn" "$LOG"; then fail "8 requests in one read fit in one batch"; else pass "8 requests in one read fit in one batch"; fi
tw_run $POKE --expect 'len(out) == 9 and all("\"ok\": true" in l for l in out[:8]) and "unknown operation" in out[8] and "ninth" in out[8]' \
    "$S" raw "$(frames 8 ninth)" recv recv recv recv recv recv recv recv recv
[ "$TW_RC" = 0 ] && pass "9 pipelined requests are answered, in order (the ninth last)" || { fail "9 pipelined requests are answered, in order"; tw__show_last; }
check_file "the ninth of 9 requests in one read waits for the next turn" "8 requests answered in this turn" "$LOG"

# ------------------------------------------------------- log floods (item 6)
# Both floods start now; their summaries are checked at the end, once their
# windows have closed.
T_FLOOD=$(date +%s)
# 50 malformed requests on one connection (each answered): 50 lines
# "malformed control message" of one kind, ctl.malformed.
tw_run $POKE --expect 'len(out) == 50 and all("malformed" in l for l in out)' "$S" raw \
    "$(python3 -c 'print("00000001c1" * 50)')" $(i=0; while [ $i -lt 50 ]; do printf 'recv '; i=$((i + 1)); done)
[ "$TW_RC" = 0 ] && pass "50 malformed requests are each answered" || { fail "50 malformed requests are each answered"; tw__show_last; }
# A distinct kind right after the flood is written all the same.
tw_run $POKE "$S" json '{"v":1,"op":"frobnicate","args":{}}' recv
check_file "another kind of line right after the flood is logged" "frobnicate refused: unknown operation" "$LOG"
# Connections opened and closed at once, every fourth in the middle of a header.
tw_run $POKE "$S" churn 200
[ "$TW_RC" = 0 ] && pass "200 control connections churned" || { fail "200 control connections churned"; tw__show_last; }
# 8 peer connections from 127.0.0.1 held in handshake (the per-address cap),
# then 60 more, each closed at once for going over the cap: 60 lines of the
# kind net.busy.
tw_run timeout 60 python3 -c 'import socket, sys, time
port = int(sys.argv[1])
held = [socket.create_connection(("127.0.0.1", port)) for _ in range(8)]
time.sleep(0.5)
for _ in range(60):
    s = socket.create_connection(("127.0.0.1", port))
    s.recv(1)                      # the node closes it at once
    s.close()
time.sleep(0.5)
for s in held:
    s.close()
print("done")' "$PORT"
[ "$TW_RC" = 0 ] && pass "60 peer connections over the per-address cap made" || { fail "60 peer connections over the per-address cap made"; tw__show_last; }

# ------------------------------------ clients that never read (item 9)
RSS0=$(tw_vm "$PID" VmRSS)
FD0=$(fds "$PID")
# 14 clients pipeline 150 list requests of 100 records each, one pipelines
# 150 of the default 1000 records; none reads an answer.  Before the queue
# bound the daemon held every answer: about 1.3 GB.
i=0
while [ "$i" -lt 15 ]; do
    if [ "$i" = 0 ]; then REQ='{"v":1,"op":"list","args":{}}'; else REQ='{"v":1,"op":"list","args":{"limit":100}}'; fi
    $POKE "$S" pipeline 150 "$REQ" sleep 6 >"$F/pipe$i" 2>&1 &
    tw_track $!
    eval "PIPE_$i=$!"
    i=$((i + 1))
done
all_sent() { [ "$(cat "$F"/pipe* 2>/dev/null | grep -c '^PIPELINE sent=150 of 150')" = 15 ]; }
if tw_wait_for 20 all_sent; then pass "15 clients pipelined 150 list requests each"; else
    fail "15 clients pipelined 150 list requests each" "$(cat "$F"/pipe*)"; fi
sleep 1
RSS1=$(tw_vm "$PID" VmRSS)
FD1=$(fds "$PID")
# Per connection: the queue bound, one reply past it, one read of 64 KiB and
# one request; plus 16 MiB for the store's mapped pages and the allocator.
BOUND=$((14 * (QUEUE_KB + 512 + 80) + (QUEUE_KB + PAGE_KB + 80) + 16384))
echo "    figure: twind VmRSS $RSS0 KiB before, $RSS1 KiB with 15 clients not reading 2250 list answers (bound: +$BOUND KiB); fds $FD0 -> $FD1"
if [ -n "$RSS1" ] && [ $((RSS1 - RSS0)) -le "$BOUND" ]; then pass "memory stays within the queue bounds while 15 clients do not read"; else
    fail "memory stays within the queue bounds while 15 clients do not read" "rss $RSS0 -> $RSS1, bound +$BOUND"; fi
if [ "$FD1" -le $((FD0 + 15 + 2)) ]; then pass "one descriptor per client, no more ($FD0 -> $FD1)"; else
    fail "one descriptor per client, no more" "$FD0 -> $FD1"; fi
# The queue bound at its edge, from the debug line each connection logs when
# its replies first fill its queue: past TW_CTL_WRITE_QUEUE_MAX by at most
# the one reply that took it past (under 512 KiB for a page of 100).
grep -o "uid [0-9]*: [0-9]* bytes of replies queued" "$LOG" | awk '{ print $3 }' >"$F/queued"
QB=$((QUEUE_KB * 1024))
NQ=$(awk -v q="$QB" '$1 > q && $1 <= q + 524288' "$F/queued" | wc -l)
NBAD=$(awk -v q="$QB" -v p="$((PAGE_KB * 1024))" '$1 <= q || $1 > q + p' "$F/queued" | wc -l)
echo "    figure: queued bytes when reading stopped: $(sort -n "$F/queued" | uniq -c | awk '{ printf "%s x %s; ", $1, $2 }')"
if [ "$NQ" -ge 14 ] && [ "$NBAD" = 0 ]; then pass "each non-reader stopped just past the 1 MiB queue bound ($NQ within one 512 KiB reply of it)"; else
    fail "each non-reader stopped just past the 1 MiB queue bound" "$(tr '\n' ' ' <"$F/queued")"; fi
check_out "twin status is served meanwhile" 0 "twk_" tw n1 status
tw_run tw n1 list place
if [ "$TW_RC" = 0 ] && [ "$(grep -c 'place-' "$TW_OUT")" -ge 1000 ]; then pass "twin list of 1000 records is served meanwhile"; else
    fail "twin list of 1000 records is served meanwhile"; tw__show_last; fi
i=0
while [ "$i" -lt 15 ]; do eval "wait \$PIPE_$i" 2>/dev/null; i=$((i + 1)); done
tw_wait_for 10 sh -c "[ \$(ls /proc/$PID/fd | wc -l) -le $((FD0 + 1)) ]"
FD2=$(fds "$PID")
[ "$FD2" -le $((FD0 + 1)) ] && pass "their connections are gone once they close ($FD2 fds)" || fail "their connections are gone once they close" "$FD0 -> $FD2"
RSS2=$(tw_vm "$PID" VmRSS)
echo "    figure: twind VmRSS $RSS2 KiB after they closed"
still() { tw_alive "$PID" && tw n1 status >/dev/null 2>&1; }
still && pass "twind serves after the non-readers" || fail "twind serves after the non-readers"

# A client that half-closes after its request still gets the whole answer
# (a page of about 4 MB, more than the socket buffer holds).
tw_run $POKE --expect 'len(out) == 1 and "\"ok\": true" in out[0] and out[0].count("place-") >= 900' \
    "$S" json '{"v":1,"op":"list","args":{"kind":"place"}}' shut recv
[ "$TW_RC" = 0 ] && pass "a half-closed connection gets its whole answer (a page of $(grep -o 'place-' "$TW_OUT" | wc -l) records)" ||
    { fail "a half-closed connection gets its whole answer" "$(head -c 300 "$TW_OUT")"; }

# ---------------------------------------- a flood from one client (item 9)
# One client sends 2 MiB of status requests in one go and reads the answers
# as they come; twin, meanwhile, must be answered each time (not after the
# flood: its requests are taken between the flood's batches).
N=$(python3 -c 'import sys; sys.path.insert(0, "tests/tools"); import ctlpoke as c; print((2 << 20) // len(c.STATUS))')
$POKE "$S" pipeline-read "$N" '{"v":1,"op":"status","args":{}}' >"$F/flood" 2>&1 &
FLOOD=$!
tw_track "$FLOOD"
sleep 0.3
served=0; tried=0; slowest=0
while tw_alive "$FLOOD" && [ "$tried" -lt 20 ]; do
    t0=$(date +%s%N)
    tw n1 status >/dev/null 2>&1 && served=$((served + 1))
    t1=$(date +%s%N)
    ms=$(((t1 - t0) / 1000000)); [ "$ms" -gt "$slowest" ] && slowest=$ms
    tried=$((tried + 1))
    sleep 0.1
done
wait "$FLOOD" 2>/dev/null
echo "    figure: during a flood of $N status requests on one connection, twin status answered $served of $tried times, slowest in $slowest ms"
if [ "$tried" -ge 1 ] && [ "$served" = "$tried" ]; then pass "twin status is served during one client's flood ($served of $tried)"; else
    fail "twin status is served during one client's flood" "$served of $tried; $(cat "$F/flood")"; fi
if grep -q "^PIPELINE sent=$N answered=$N ok=$N" "$F/flood"; then pass "the flooding client gets all its $N answers"; else
    fail "the flooding client gets all its $N answers" "$(cat "$F/flood")"; fi

# --------------------------------- idle connections at the cap (item 9)
tw_wait_for 10 sh -c "[ \$(ls /proc/$PID/fd | wc -l) -le $((FD0 + 1)) ]"
# twin, refused at first, tries again (TW_CLI_BUSY_WAIT_MS, 3 s) until the
# connection idle longest has been idle 2 s and gives way to it.
$POKE "$S" conns 16 sleep 5 closed >"$F/idle" 2>&1 &
IDLE=$!
tw_track "$IDLE"
tw_wait_for 10 grep -q CONNS "$F/idle"
check_out "16 fresh idle connections do not lock twin out: twin status served" 0 "twk_" tw n1 status
wait "$IDLE" 2>/dev/null
if grep -q "^CLOSED 1 of 16" "$F/idle"; then pass "the idle connection that gave way was closed, the others kept"; else
    fail "the idle connection that gave way was closed, the others kept" "$(cat "$F/idle")"; fi
check_file "the log says an idle connection was closed to make room" "control connections: closed the one idle for" "$LOG"

# ---------------------------------- twin prints the refusal (item 10)
# 16 busy connections (never idle 2 s): twin's import (3.7 MB, more than the
# socket takes before twind reads) is refused with "too many control
# connections"; its write fails first, and twin reads and prints the reason.
# (First the connections of the tests above must be gone on the daemon's side too.)
tw_wait_for 10 sh -c "[ \$(ls /proc/$PID/fd | wc -l) -le $((FD0 + 1)) ]"
$POKE "$S" busy 16 6 >"$F/busy" 2>&1 &
BUSY=$!
tw_track "$BUSY"
tw_wait_for 10 grep -q "BUSY OPEN" "$F/busy"
tw_run tw n1 import "$F/places.json"
if [ "$TW_RC" != 0 ] && grep -q "too many control connections" "$TW_ERR" && ! grep -q "closed the connection" "$TW_ERR"; then
    pass "twin prints the daemon's reason (too many control connections), not \"closed the connection\""
else
    fail "twin prints the daemon's reason (too many control connections)"; tw__show_last
fi
# twin status tries again for 3 s, then gives the reason.
tw_run tw n1 status
if [ "$TW_RC" != 0 ] && grep -q "too many control connections" "$TW_ERR"; then
    pass "twin status gives up with the daemon's reason while 16 connections stay busy"
else
    fail "twin status gives up with the daemon's reason while 16 connections stay busy"; tw__show_last
fi
wait "$BUSY" 2>/dev/null
grep -q "^BUSY 16 answered=" "$F/busy" && pass "the 16 busy connections were served throughout" || fail "the 16 busy connections were served throughout" "$(cat "$F/busy")"

# Another user (needs root to run as others): twind as uid 65534, its socket
# opened up on purpose, twin as uid 65533 is refused with the reason.
if [ "$(id -u)" = 0 ] && command -v setpriv >/dev/null 2>&1; then
    chmod 711 "$TW_ROOT"
    mkdir -m 700 "$TW_ROOT/other" && chown 65534:65534 "$TW_ROOT/other"
    mkdir -m 755 "$TW_ROOT/pub" && cp "$F/places.json" "$TW_ROOT/pub/"
    setpriv --reuid=65534 --regid=65534 --clear-groups "$TWIND" --data-dir "$TW_ROOT/other" 2>>"$TW_ROOT/other.log" &
    OTHER=$!
    tw_track "$OTHER"
    if tw_wait_for 10 test -S "$TW_ROOT/other/twind.sock"; then
        chmod 711 "$TW_ROOT/other"; chmod 666 "$TW_ROOT/other/twind.sock"
        tw_run timeout 30 setpriv --reuid=65533 --regid=65533 --clear-groups "$TWIN" --socket "$TW_ROOT/other/twind.sock" import "$TW_ROOT/pub/places.json"
        if [ "$TW_RC" != 0 ] && grep -q "permission denied: this node belongs to another user" "$TW_ERR"; then
            pass "twin run by another user prints the daemon's \"permission denied\""
        else
            fail "twin run by another user prints the daemon's \"permission denied\""; tw__show_last
        fi
    else
        fail "twind starts as uid 65534" "$(cat "$TW_ROOT/other.log")"
    fi
    kill -TERM "$OTHER" 2>/dev/null; tw__reap "$OTHER"
else
    echo "    note: not root (or no setpriv): the other-user refusal is not tried"
fi

# ------------------------------------------------ the log summaries (item 6)
left=$((T_FLOOD + WINDOW_S + 5 - $(date +%s)))
[ "$left" -gt 0 ] && sleep "$left"
set -- $(count_log ctl.malformed "malformed control message")
echo "    figure: 50 malformed control messages: $1 lines written, $2 counted in summaries"
if [ "$1" = "$BURST" ] && [ "$2" = 45 ]; then pass "50 identical control-socket lines: $1 written, the other $2 counted in a summary"; else
    fail "50 identical control-socket lines: $BURST written, 45 counted" "written $1, dropped $2"; fi
check_file "the summary names the kind and the count" "warn ctl: ctl.malformed: 45 similar lines dropped in" "$LOG"
set -- $(count_log ctl.unfinished "bytes of an unfinished message")
[ "$1" -le "$BURST" ] && pass "unfinished messages of the churn: at most $BURST lines ($1, $2 counted)" ||
    fail "unfinished messages of the churn: at most $BURST lines" "written $1, dropped $2"
set -- $(count_log net.busy "unauthenticated connections from this address")
echo "    figure: 60 peer connections over the cap: $1 lines written, $2 counted in summaries"
if [ "$1" -le "$BURST" ] && [ $(($1 + $2)) = 60 ]; then pass "60 refused peer connections: $1 lines written, the other $2 counted"; else
    fail "60 refused peer connections: at most $BURST lines written, the rest counted" "written $1, dropped $2"; fi
set -- $(count_log ctl.unread "bytes of replies unread")
# (Connections refused during the churn, gone before their refusal was
# written, count here too, in a window of their own.)
if [ $(($1 + $2)) -ge 15 ] && [ "$2" -ge 1 ] && [ "$1" -le $((2 * BURST)) ]; then pass "clients that closed with replies unread: logged ($1 lines, $2 counted)"; else
    fail "clients that closed with replies unread: logged, a few lines and a count" "written $1, dropped $2"; fi

tw_stop n1; RC=$?
[ "$RC" = 0 ] && pass "twind stops cleanly (exit 0)" || fail "twind stops cleanly (exit 0)" "exit $RC"
grep -q "still open at exit\|not closed cleanly" "$LOG" && fail "no handle left open at exit" || pass "no handle left open at exit"
tw_done
