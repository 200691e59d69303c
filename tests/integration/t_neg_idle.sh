#!/bin/sh
# The reconciliation set is given back after TW_TRIM_IDLE_MS (30 s) without
# any connection, and read from the store again when a peer connects
# (daemon/net.c, neg_drop and neg_load): a node of 2 000 entries nobody is
# connected to says so in its log; a record published meanwhile, and every
# other one, reaches a node that then connects.  The set's items live in a
# file without a name in the data directory (tw_neg_store_new_file), mapped
# by the daemon and trimmed from its resident set 30 s after its last use,
# with peers or not; records that reach it later, published on the node
# itself or pushed to it by a peer, are in it: a third node that only
# reconciles with it fetches them.
. tests/integration/lib.sh

F=$TW_ROOT/files
mkdir -p "$F"
COUNT=2000

BI=$(tw_tool bench_ingest) || { fail "bench_ingest is built"; tw_done; }
if "$BI" "$TW_ROOT/a" "$COUNT" >"$F/bench.out" 2>&1; then pass "bench_ingest makes a data dir of $COUNT entries"; else
    fail "bench_ingest makes a data dir of $COUNT entries"; sed 's/^/    /' "$F/bench.out"; tw_done; fi
rm -f "$TW_ROOT/a/entries.bin"
PA=$(tw_free_port)
tw_start a --listen "127.0.0.1:$PA" --log-level info || { fail "node a starts"; tw_done; }
tw a delete peer self >/dev/null 2>&1
NETKEY=$(tw_netkey a)

given_back() { grep -q "the reconciliation set ([0-9]* entries) is given back" "$(tw_log a)"; }
if tw_wait_for 45 given_back; then pass "with no connection for 30 s, a gives the reconciliation set back"
else fail "with no connection for 30 s, a gives the reconciliation set back"; tail -n 5 "$(tw_log a)"; fi
grep -o "the reconciliation set ([0-9]* entries)" "$(tw_log a)" | head -n 1 | sed 's/^/    /'

# Published while the set is given back: not in it, but in the store.
check "a publishes a record while its set is given back" \
    tw a publish place idle-village name_en=Idle-Village place_kind=village country=PS subdivision=PS-BTH

CB=$(tw_conf b "network_key = $NETKEY" "sync_interval = 60" "peer = 127.0.0.1:$PA")
tw_start b --config "$CB" || { fail "node b starts"; tw_done; }
tw_wait_for 15 tw_has_peers b 1 && pass "b connects to a" || fail "b connects to a"
if tw_wait_converged 60 a b; then pass "b holds every entry of a, the one published while the set was given back too ($TW_CONV_S s)"
else fail "b holds every entry of a" "digests/entries:$TW_CONV_DETAIL"; fi
check_out "b has the record published meanwhile" 0 "Idle-Village" tw b list place name_en=Idle-Village
read_again() { grep -q "the reconciliation set is read from the store again: [0-9]* entries" "$(tw_log a)"; }
read_again && pass "a read the set from the store again when b connected" ||
    fail "a read the set from the store again when b connected"
grep -o "read from the store again: [0-9]* entries in [0-9]* ms" "$(tw_log a)" | head -n 1 | sed 's/^/    /'

# The set is in a file without a name: mapped shared from the data
# directory ("DIR/#inode (deleted)"; ".negset-..." where the file system
# has no O_TMPFILE), and no name of it in the data directory.
if grep -Eq " rw-s .* $(tw_dir a)/(#[0-9]+|\.negset-[^ ]+) \(deleted\)$" "/proc/$(tw_pid a)/maps"; then
    pass "a maps its reconciliation set from a file without a name in its data directory"
else fail "a maps its reconciliation set from a file without a name" "$(grep "$(tw_dir a)" "/proc/$(tw_pid a)/maps" | head -n 3)"; fi
if ls -A "$(tw_dir a)" | grep -q negset; then fail "no file of the set is left named in a's data directory"; else
    pass "no file of the set is left named in a's data directory"; fi

# With b connected, 30 s after the set was last used (a reconciles with b
# every 60 s) its pages leave a's resident set: the Rss of the mapping in
# smaps falls to 0; `twin sync` uses it again.
set_rss() {
    awk -v d="$(tw_dir a)" '
        index($0, " " d "/") && / \(deleted\)$/ && $2 ~ /s$/ { on = 1; next }
        on && $1 == "Rss:" { print $2; exit }' "/proc/$(tw_pid a)/smaps"
}
echo "    the set's mapping resident while in use: $(set_rss) kB"
set_trimmed() { [ "$(set_rss)" = 0 ] && tw_has_peers a 1; }
if tw_wait_for 95 set_trimmed; then pass "with b connected, a's set leaves its resident set 30 s after the last reconciliation"
else fail "with b connected, a's set leaves its resident set" "set mapping Rss $(set_rss) kB"; fi
check "a reconciles with b on demand after the trim" tw a sync
set_back() { [ "$(set_rss)" -gt 0 ] 2>/dev/null; }
tw_wait_for 15 set_back && pass "the reconciliation reads the set back ($(set_rss) kB resident)" ||
    fail "the reconciliation reads the set back" "set mapping Rss $(set_rss) kB"

# Published on a, and on b (pushed to a), while the file-backed set is in
# use; c dials a only, with push from a not yet possible for what came
# before it: it finds both by reconciling.
check "a publishes a record while b is connected" \
    tw a publish place file-village name_en=File-Village place_kind=village country=PS subdivision=PS-HBN
check "b publishes a record while connected to a" \
    tw b publish place pushed-village name_en=Pushed-Village place_kind=village country=PS subdivision=PS-NBS
pushed() { tw a list place name_en=Pushed-Village 2>/dev/null | grep -q Pushed-Village; }
tw_wait_for 30 pushed && pass "b's record reaches a by push" || fail "b's record reaches a by push"
tw_stop b || fail "b stops cleanly ($TW_REAP_RC)"
CC=$(tw_conf c "network_key = $NETKEY" "sync_interval = 3600" "peer = 127.0.0.1:$PA")
tw_start c --config "$CC" || { fail "node c starts"; tw_done; }
if tw_wait_converged 60 a c; then pass "c, reconciling with a only, holds every entry of a ($TW_CONV_S s)"
else fail "c holds every entry of a" "digests/entries:$TW_CONV_DETAIL"; fi
check_out "c has a's record published with b connected" 0 "File-Village" tw c list place name_en=File-Village
check_out "c has b's record that a got by push" 0 "Pushed-Village" tw c list place name_en=Pushed-Village
tw_stop c || fail "c stops cleanly ($TW_REAP_RC)"
tw_stop a || fail "a stops cleanly ($TW_REAP_RC)"
tw_done
