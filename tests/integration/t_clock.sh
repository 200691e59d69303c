#!/bin/sh
# A node whose clock runs 15 minutes fast.
#
# Three nodes: n and m with the real clock, f under libfaketime
# (FAKETIME="+15m", package faketime) dialing both.  Checks:
#   (a) f, whose clock is 15 min off the median of its peers, says so in
#       `twin status` (WARNING) and in its log; n, whose peers' median is
#       7.5 min off (m at 0, f at +15 min), is not warned; `twin peers` on n
#       shows f's offset;
#   (b) a group f publishes (stamped ~15 min ahead of real time) is refused
#       for now by n, with the reason logged, and is not in n's registry;
#   (c) "accepted once their time comes": waiting 5 real minutes is too long
#       for a test, so time passing is simulated by restarting n with its
#       own clock moved forward.  At +3 min the entry is still more than
#       10 min ahead of n (refused again at the next sync, reason logged);
#       at +6 min it is less than 10 min ahead and arrives at the next
#       periodic sync (sync_interval 2 s).
# libfaketime is used with DONT_FAKE_MONOTONIC=1, so the daemons' libuv
# timers keep real time; only the wall clock (entry timestamps, hello clock)
# moves.  Without libfaketime, parts (a) to (c) are skipped with a SKIP line
# and only the normal nodes are checked.
. tests/integration/lib.sh

# TW_FAKETIME_LIB names the library (a missing file tests the SKIP path).
FT_LIB=${TW_FAKETIME_LIB:-$(dpkg -L libfaketime 2>/dev/null | grep '/libfaketime\.so\.1$' | head -n 1)}
if [ -z "$FT_LIB" ] && command -v apt-get >/dev/null 2>&1 && [ "$(id -u)" = 0 ]; then
    timeout 120 apt-get install -y faketime >/dev/null 2>&1
    FT_LIB=$(dpkg -L libfaketime 2>/dev/null | grep '/libfaketime\.so\.1$' | head -n 1)
fi
[ -n "$FT_LIB" ] || FT_LIB=/usr/lib/x86_64-linux-gnu/faketime/libfaketime.so.1

# A twind that runs with its wall clock moved by $TW_FAKETIME; exec keeps
# the pid, so tw_stop stops the daemon itself.  Under SANITIZE=address the
# preloaded libfaketime comes before the ASan runtime, which ASan would
# refuse; its link-order check is turned off for this one process.
SKEW=$TW_ROOT/bin/twind-skewed
cat >"$SKEW" <<EOF
#!/bin/sh
exec env LD_PRELOAD="$FT_LIB" FAKETIME="\$TW_FAKETIME" DONT_FAKE_MONOTONIC=1 \
    ASAN_OPTIONS="\${ASAN_OPTIONS:+\$ASAN_OPTIONS:}verify_asan_link_order=0" "$TWIND" "\$@"
EOF
chmod +x "$SKEW"
export TW_FAKETIME=+0
HAVE_FT=0
if [ -f "$FT_LIB" ]; then
    fnow=$(TW_FAKETIME=+15m LD_PRELOAD="$FT_LIB" FAKETIME=+15m date +%s)
    [ $((fnow - $(date +%s))) -ge 890 ] && HAVE_FT=1
fi

# start_skewed NAME OFFSET [TWIND ARGS...]
start_skewed() {
    _sn=$1; TW_FAKETIME=$2; shift 2
    _keep=$TWIND; TWIND=$SKEW
    tw_start "$_sn" "$@"; _src=$?
    TWIND=$_keep
    return "$_src"
}
has_group() { tw "$1" list group --wide 2>/dev/null | grep -qF "Nablus Street Exchange Club"; }
log_lines() { wc -l <"$(tw_log "$1")"; }
# refused_since NAME LINE: n logged a future-timestamp refusal after LINE.
refused_since() {
    tail -n +"$(($2 + 1))" "$(tw_log "$1")" | grep -q "not stored: timestamp more than 10 minutes ahead"
}
offset_of_peer() {
    tw "$1" --json peers 2>/dev/null | python3 -c 'import json,sys
for c in json.load(sys.stdin)["connections"]:
    if c["state"] == "established" and abs(c["clock_offset_ms"]) > 600000: print(c["clock_offset_ms"])' | head -n 1
}

PN=$(tw_free_port); PM=$(tw_free_port)
tw_start n --listen "127.0.0.1:$PN" || { fail "n starts"; tw_done; }
NETKEY=$(tw_netkey n)
tw_stop n
CONF=$(tw_conf common "network_key = $NETKEY" "sync_interval = 2")
if tw_start n --config "$CONF" --listen "127.0.0.1:$PN"; then pass "n starts"; else fail "n starts"; tw_done; fi
if tw_start m --config "$CONF" --listen "127.0.0.1:$PM" --peer "127.0.0.1:$PN"; then pass "m starts, dialing n"; else
    fail "m starts, dialing n"; tw_done; fi
tw_wait_for 15 tw_has_peers n 1 && pass "n and m connect" || fail "n and m connect"
check_out "with the real clock on both, n's status says its clock is ok" 0 "ok (" tw n status

if [ "$HAVE_FT" != 1 ]; then
    echo "SKIP: libfaketime not available ($FT_LIB): the fast clock checks (a), (b) and (c) are not run"
    tw_stop m || fail "m stops with status 0" "status $TW_REAP_RC"
    tw_stop n || fail "n stops with status 0" "status $TW_REAP_RC"
    tw_done
fi

# ------------------------------------------------------------- (a) warned
if start_skewed f +15m --config "$CONF" --peer "127.0.0.1:$PN" --peer "127.0.0.1:$PM"; then
    pass "f starts with its clock 15 min fast (libfaketime)"; else fail "f starts under libfaketime"; tw_done; fi
if tw_wait_for 20 tw_has_peers f 2 && tw_wait_for 10 tw_has_peers n 2; then pass "f connects to n and m"; else
    fail "f connects to n and m" "f: $(tw_established f), n: $(tw_established n)"; fi
check_out "twin status on f warns that its clock is off the median of its peers" 0 "WARNING: " tw f status
grep '^clock\|WARNING' "$TW_OUT" | sed 's/^/    f status: /'
check_file "f's log says its own clock is off" "this node's clock is" "$(tw_log f)"
check_out "twin status on n (median of m at 0 and f at +15 min) is not warned" 0 "ok (" tw n status
OFF=$(offset_of_peer n)
echo "    figure: f's clock offset seen by n: ${OFF:-none} ms"
if [ -n "$OFF" ] && [ "$OFF" -ge 890000 ] && [ "$OFF" -le 910000 ]; then pass "twin peers on n shows f's offset of about +900 s"; else
    fail "twin peers on n shows f's offset of about +900 s" "offset ${OFF:-none}"; fi
if grep -Eq "differs from ours by (899|900) s" "$(tw_log n)"; then pass "n's log says f's clock differs from its own by 900 s"; else
    fail "n's log says f's clock differs from its own by 900 s"; fi

# ------------------------------------------------------------- (b) refused for now
L0=$(log_lines n)
check "f publishes a group (stamped 15 min ahead)" tw f publish group nablus-street-exchange \
    name="Nablus Street Exchange Club" group_kind=friendship_group nation=england region=E12000007 seeking_partner=no
has_group f && pass "f holds its own group" || fail "f holds its own group"
if tw_wait_for 15 refused_since n "$L0"; then pass "n refuses f's entry for now, with the reason logged"; else
    fail "n refuses f's entry for now, with the reason logged" "no 'not stored: timestamp more than 10 minutes ahead' in $(tw_log n)"; fi
tail -n +"$((L0 + 1))" "$(tw_log n)" | grep -m 1 "not stored" | sed 's/^/    n log: /'
sleep 3   # a periodic sync (2 s) offers it again
has_group n && fail "n's registry lacks f's future entry" || pass "n's registry lacks f's future entry"
has_group m && fail "m's registry lacks f's future entry" || pass "m's registry lacks f's future entry"
DF=$(tw_digest f); DN=$(tw_digest n)
[ -n "$DF" ] && [ "$DF" != "$DN" ] && pass "n's digest differs from f's" || fail "n's digest differs from f's"
grep -q "misbehaved" "$(tw_log n)" && fail "f is not treated as misbehaving by n" || pass "f is not treated as misbehaving by n"

# ------------------------------------------------------------- (c) accepted once their time comes
tw_stop n || fail "n stops with status 0" "status $TW_REAP_RC"
L1=$(log_lines n)
if start_skewed n +3m --config "$CONF" --listen "127.0.0.1:$PN"; then pass "n restarts 3 min later (simulated)"; else
    fail "n restarts 3 min later (simulated)"; tw_done; fi
tw_wait_for 20 tw_has_peers n 1 || fail "f reconnects to n"
if tw_wait_for 20 refused_since n "$L1"; then pass "3 min later the entry is still over 10 min ahead: refused again, reason logged"; else
    fail "3 min later the entry is still over 10 min ahead: refused again, reason logged"; fi
has_group n && fail "n still lacks the entry 3 min later" || pass "n still lacks the entry 3 min later"
tw_stop n || fail "n stops with status 0" "status $TW_REAP_RC"
if start_skewed n +6m --config "$CONF" --listen "127.0.0.1:$PN"; then pass "n restarts 6 min later (simulated)"; else
    fail "n restarts 6 min later (simulated)"; tw_done; fi
if tw_wait_for 30 has_group n; then pass "6 min later the entry is under 10 min ahead: n accepts it at the next sync"; else
    fail "6 min later the entry is under 10 min ahead: n accepts it at the next sync"; fi
check_out "twin show on n has f's group" 0 "Nablus Street Exchange Club" tw n show group nablus-street-exchange

for x in f m n; do tw_stop "$x" || fail "$x stops with status 0" "status $TW_REAP_RC"; done
tw_done
