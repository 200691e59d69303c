#!/bin/sh
# twin sync --wait: progress shown as plain lines when stdout is not a
# terminal and as a bar on a terminal (a pty made by python3), exit status 0
# once every peer is done; 1 with a clear message when no peer is connected;
# 1 with the timeout message when the sync cannot finish in --timeout
# seconds (a node behind a 2 000 B/s proxy, with 2 000 entries to fetch).
. tests/integration/lib.sh

F=$TW_ROOT/files
mkdir -p "$F"
COUNT=2000

BI=$(tw_tool bench_ingest) || { fail "bench_ingest is built"; tw_done; }
if "$BI" "$TW_ROOT/a" "$COUNT" >"$F/bench.out" 2>&1; then pass "bench_ingest makes a data dir of $COUNT entries"; else
    fail "bench_ingest makes a data dir of $COUNT entries"; sed 's/^/    /' "$F/bench.out"; tw_done; fi
rm -f "$TW_ROOT/a/entries.bin"
PA=$(tw_free_port)
tw_start a --listen "127.0.0.1:$PA" || { fail "node a starts"; tw_done; }
tw a delete peer self >/dev/null 2>&1
NETKEY=$(tw_netkey a)
DA=$(tw_digest a)

# pty_run OUT CMD...: runs CMD with stdout and stderr on a pseudo-terminal,
# bounded to 60 s, its output in OUT; exits with CMD's status.
pty_run() {
    _po=$1; shift
    timeout 70 python3 -c 'import os, pty, sys, time
out = open(sys.argv[1], "wb")
pid, fd = pty.fork()
if pid == 0:
    os.execvp(sys.argv[2], sys.argv[2:])
end = time.time() + 60
while time.time() < end:
    try:
        b = os.read(fd, 4096)
    except OSError:
        break
    if not b:
        break
    out.write(b)
_, st = os.waitpid(pid, 0)
sys.exit(os.waitstatus_to_exitcode(st))' "$_po" "$@"
}

# ------------------------------------------------------------- a peer that finishes
CB=$(tw_conf b "network_key = $NETKEY" "sync_interval = 60" "peer = 127.0.0.1:$PA")
tw_start b --config "$CB" || { fail "node b starts"; tw_done; }
tw_wait_for 15 tw_has_peers b 1 && pass "b connects to a" || fail "b connects to a"
tw_run tw b sync --wait --timeout 60
if [ "$TW_RC" = 0 ]; then pass "sync --wait on b exits 0"; else fail "sync --wait on b exits 0"; tw__show_last; fi
sed 's/^/    b stdout: /' "$TW_OUT" | tail -n 4
if grep -Eq '^sync: [0-9]+/[0-9]+ peers done, [0-9]+ entries to receive$' "$TW_OUT"; then
    pass "not on a terminal, progress is plain lines (sync: N/M peers done, K entries to receive)"; else
    fail "not on a terminal, progress is plain lines" "no 'sync: N/M peers done' line"; fi
if [ "$(tail -n 1 "$TW_OUT")" = "sync done with 1 peer" ]; then pass "the last line is 'sync done with 1 peer'"; else
    fail "the last line is 'sync done with 1 peer'" "last line: $(tail -n 1 "$TW_OUT")"; fi
if grep -q "$(printf '\r')\|\[#" "$TW_OUT"; then fail "no carriage return or bar when not on a terminal"; else
    pass "no carriage return or bar when not on a terminal"; fi
[ "$(tw_digest b)" = "$DA" ] && pass "b holds a's entries when sync --wait returns" || fail "b holds a's entries when sync --wait returns"

# The same on a terminal: a bar, filled when done.
pty_run "$F/pty-b.out" "$TWIN" --data-dir "$TW_ROOT/b" sync --wait --timeout 30; rc=$?
tr '\r' '\n' <"$F/pty-b.out" | grep . | tail -n 2 | sed 's/^/    b on a pty: /'
if [ "$rc" = 0 ] && grep -q '\[####################\] 1/1 peers done, 0 entries to receive' "$F/pty-b.out" &&
    grep -q '^sync done with 1 peer' "$F/pty-b.out"; then
    pass "on a terminal, a full bar [####################] then 'sync done with 1 peer', exit 0"; else
    fail "on a terminal, a full bar then 'sync done with 1 peer', exit 0" "exit $rc"; fi

# ------------------------------------------------------------- no peers
tw_start c || { fail "node c starts"; tw_done; }
check_out "sync --wait with no peer connected exits 1: no connected peers" 1 "no connected peers" tw c sync --wait --timeout 5
[ -s "$TW_OUT" ] && fail "nothing on stdout when there are no peers" || pass "nothing on stdout when there are no peers"

# ------------------------------------------------------------- a sync that cannot finish in time
tw_proxy pd "127.0.0.1:$PA" --rate 2000 || { fail "proxy starts"; tw_done; }
CD=$(tw_conf d "network_key = $NETKEY" "sync_interval = 60" "outbound_target = 1" "peer = 127.0.0.1:$(tw_proxy_port pd)")
tw_start d --config "$CD" || { fail "node d starts"; tw_done; }
tw_wait_for 15 tw_has_peers d 1 && pass "d connects to a through a 2000 B/s proxy" || fail "d connects to a through a 2000 B/s proxy"
T0=$(date +%s%N)
check_out "sync --wait --timeout 1 on d exits 1: sync not finished after 1 s" 1 "sync not finished after 1 s" \
    tw d sync --wait --timeout 1
T=$(awk -v a="$T0" -v b="$(date +%s%N)" 'BEGIN { printf "%.1f", (b - a) / 1e9 }')
grep "not finished" "$TW_ERR" | sed 's/^/    d stderr: /'
echo "    figure: sync --wait --timeout 1 returned after $T s"
awk -v t="$T" 'BEGIN { exit !(t < 5) }' && pass "it gives up within 5 s ($T s)" || fail "it gives up within 5 s" "$T s"
pty_run "$F/pty-d.out" "$TWIN" --data-dir "$TW_ROOT/d" sync --wait --timeout 2; rc=$?
tr '\r' '\n' <"$F/pty-d.out" | grep . | tail -n 2 | sed 's/^/    d on a pty: /'
if [ "$rc" = 1 ] && grep -Eq '\[[#.]{20}\] 0/1 peers done, [0-9]+ entries to receive' "$F/pty-d.out" &&
    grep -q 'sync not finished after 2 s' "$F/pty-d.out"; then
    pass "on a terminal, an empty bar [....] 0/1 peers done, then the timeout message, exit 1"; else
    fail "on a terminal, an empty bar then the timeout message, exit 1" "exit $rc"; tr '\r' '\n' <"$F/pty-d.out" | head -n 5 | sed 's/^/      /'; fi

for x in d pd c b a; do tw_stop "$x" || fail "$x stops with status 0" "status $TW_REAP_RC"; done
tw_done
