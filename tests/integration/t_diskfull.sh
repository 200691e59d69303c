#!/bin/sh
# A full disk, on a small tmpfs that holds a node's data directory: a
# publish is refused saying "storage full", how much is free and how much the
# write needs; twin status says since when; entries pushed by a peer are
# stored in smaller batches as far as there is room, the rest is not stored
# (logged once per refused commit with counts, not once per entry) and not
# held against the sender; once the room is freed, the next sync stores
# everything the sender has, with the same twind still running.
#
# Needs mount(2) (root or CAP_SYS_ADMIN); without it the script says SKIP
# and counts nothing.
. tests/integration/lib.sh

F=$TW_ROOT/files
mkdir -p "$F"
NREC=2000              # records the sender has
DISK_KIB=4096          # size of the receiver's filesystem
ROOM_KIB=320           # room given back before the push: a part of the records fits
MNT=$(tw_dir r)

mkdir -p "$MNT"
if ! mount -t tmpfs -o "size=${DISK_KIB}k,mode=0700" tmpfs "$MNT" 2>"$F/mount.err"; then
    echo "SKIP: $TW_SCRIPT: cannot mount a tmpfs ($(head -n 1 "$F/mount.err")); needs root or CAP_SYS_ADMIN, nothing was tested"
    tw_done
fi
# The receiver is stopped before the unmount; lib.sh's cleanup follows.
trap 'tw_stop r; umount "$MNT" 2>/dev/null || umount -l "$MNT"; tw__cleanup' EXIT

free_kib() { df -k --output=avail "$MNT" | tail -n 1 | tr -d ' '; }
entries() { tw "$1" --json status 2>/dev/null | python3 -c 'import json,sys; print(json.load(sys.stdin)["entries"])' 2>/dev/null; }
# log_count NODE FROM PATTERN: lines of NODE's log after line FROM with PATTERN.
log_count() { tail -n +"$(($2 + 1))" "$(tw_log "$1")" | grep -c -- "$3"; }
log_lines() { wc -l <"$(tw_log "$1")"; }
# jq_ DESC FILE EXPR: PASS when the Python expression over d (the JSON in FILE) is true.
jq_() {
    if [ "$(tw_json "$2" "$3" 2>"$TW_ERR")" = true ]; then pass "$1"; else
        fail "$1" "false: $3"; head -c 800 "$2" | sed 's/^/      /'; fi
}

# ------------------------------------------------------------- start-up

PR=$(tw_free_port)
tw_start r --listen "127.0.0.1:$PR" || { fail "r starts on the small filesystem"; tw_done; }
NETKEY=$(tw_netkey r)
tw_stop r
# A long sync interval: the syncs of this test are the ones it asks for.
CONF=$(tw_conf common "network_key = $NETKEY" "sync_interval = 3600")
tw_start r --config "$CONF" --listen "127.0.0.1:$PR" || { fail "r starts on the small filesystem"; tw_done; }
RPID=$(tw_pid r)
tw_start s --config "$CONF" || { fail "s starts"; tw_done; }

python3 - "$NREC" "$F/recs.json" <<'EOF'
import json, sys
n, out = int(sys.argv[1]), sys.argv[2]
towns = ["Abu Dis", "Beit Sahour", "Nablus", "Jenin", "Aida camp", "Bethlehem", "Hebron", "Jericho"]
recs = []
for i in range(n):
    body = {"name_en": "%s %d" % (towns[i % len(towns)], i), "place_kind": "village", "country": "PS",
            "subdivision": "PS-BTH", "area": "west_bank", "seeking_partner": i % 3 == 0,
            "description": "Olive harvest exchanges and school links, year %d." % (1980 + i % 40)}
    recs.append({"kind": "place", "slot": "place-%05d" % i, "body": body})
json.dump(recs, open(out, "w", encoding="utf-8"))
EOF
check_out "s imports $NREC records" 0 "$NREC imported" tw s import "$F/recs.json"
SEND=$(entries s)

# ------------------------------------------------------------- the disk fills

check "r publishes while there is room" tw r publish group before name="Hastings Jenin Friendship Association" \
    group_kind=friendship_group nation=england region=E12000008
BASE=$(entries r)
dd if=/dev/zero of="$MNT/filler" bs=4096 2>/dev/null
echo "    filesystem of r: $(free_kib) KiB free after the filler"
L0=$(log_lines r)
check_out "a publish on the full disk is refused with \"storage full\"" 1 "storage full" \
    tw r publish group full name="Hastings Jenin Friendship Association" group_kind=friendship_group \
    nation=england region=E12000008
if grep -q "free on the disk of $MNT/store, the write needs about [0-9.]* [KMG]iB; nothing was written" "$TW_ERR"; then
    pass "the refusal says what is free on which disk and what the write needs"
else
    fail "the refusal says what is free on which disk and what the write needs" "$(cat "$TW_ERR")"
fi
check_rc "the refused record is not there" 1 tw r show group full
[ "$(entries r)" = "$BASE" ] && pass "r still serves reads: entries unchanged ($BASE)" || fail "r still serves reads" "entries $(entries r)"
[ "$(log_count r "$L0" "error store: storage full: .* free on the disk of")" = 1 ] &&
    pass "the log says once that storage is full, with the free space" ||
    fail "the log says once that storage is full, with the free space" "$(tail -n +"$((L0 + 1))" "$(tw_log r)" | head -n 5)"

tw r status >"$F/status-full.txt" 2>&1
grep "^storage" "$F/status-full.txt" | sed 's/^/    | /'
if grep -q "WARNING: full since [0-9-]* [0-9:]* UTC (last refused write [0-9-]* [0-9:]* UTC, 1 refused): [0-9.]* [KMG]iB free on the disk of $MNT/store" "$F/status-full.txt"; then
    pass "twin status shows the storage full since when, and the last refusal"
else
    fail "twin status shows the storage full since when, and the last refusal" "$(cat "$F/status-full.txt")"
fi
tw r --json status >"$F/status-full.json" 2>&1
jq_ "status --json: storage_full with since_ms, last_ms, refused, needed, and disk_free" "$F/status-full.json" \
    'd["storage_full"]["refused"] == 1 and d["storage_full"]["since_ms"] <= d["storage_full"]["last_ms"] and d["storage_full"]["needed"] > 0 and not d["storage_full"]["ceiling"] and d["disk_free"] < 65536 and "storage full" in d["storage_full"]["message"]'

# ------------------------------------------------------------- a push with a little room

truncate -s "-${ROOM_KIB}k" "$MNT/filler"
echo "    filesystem of r: $(free_kib) KiB free before the push"
L1=$(log_lines r)
check "s dials r" tw s peers add "127.0.0.1:$PR"
tw_wait_for 15 tw_has_peers r 1 || fail "r has s as a peer" "no established connection"
# Wait until the push from s is decided: the refusals logged, then quiet.
tw_wait_for 60 sh -c "tail -n +$((L1 + 1)) '$(tw_log r)' | grep -q 'received entries stored'"
prev=""; i=0
while [ "$i" -lt 60 ]; do
    cur=$(entries r)
    [ -n "$cur" ] && [ "$cur" = "$prev" ] && tw r sync --wait --timeout 10 >/dev/null 2>&1 && break
    prev=$cur; sleep 0.5; i=$((i + 1))
done
GOT=$(entries r)
echo "    figure: with $ROOM_KIB KiB given back, r stored $((GOT - BASE)) of $SEND entries"
[ "$((GOT - BASE))" -gt 0 ] && [ "$((GOT - BASE))" -lt "$SEND" ] &&
    pass "whatever fits is stored: $((GOT - BASE)) of $SEND entries, in smaller batches" ||
    fail "whatever fits is stored" "r stored $((GOT - BASE)) of $SEND entries"
NFULL=$(log_count r "$L1" "ingest: storage full: .*; .* received entries stored, .* not stored (a peer.s are asked for again at the next reconciliation, a bundle can be imported again); .* commits refused")
NLINES=$(log_count r "$L1" "storage full")
echo "    figure: $NLINES log lines say storage full for $((SEND - GOT + BASE)) entries not stored ($NFULL refused batches)"
[ "$NFULL" -ge 1 ] && pass "each refused batch is logged with its counts ($NFULL lines)" ||
    fail "each refused batch is logged with its counts" "$(tail -n +"$((L1 + 1))" "$(tw_log r)" | grep -m 3 "storage")"
# Entries arrive in messages of about 150 and are committed in batches of
# one or more messages: however the batches fall, far fewer lines than
# entries (one per entry was the bug).
[ "$((NLINES * 16))" -le "$((SEND - GOT + BASE))" ] && pass "no line per entry: $NLINES lines for $((SEND - GOT + BASE)) entries not stored" ||
    fail "no line per entry" "$NLINES lines"
[ "$(log_count r "$L1" "not stored: storage")" = 0 ] && pass "no per-entry \"not stored\" lines, and no doubled \"not stored: not stored\"" ||
    fail "no per-entry \"not stored\" lines" "$(tail -n +"$((L1 + 1))" "$(tw_log r)" | grep -m 3 "not stored")"
[ "$(log_count r "$L1" "misbehaved")" = 0 ] && tw_has_peers r 1 &&
    pass "the sender is not held to blame: still connected, not kept off" ||
    fail "the sender is not held to blame" "$(grep -m 3 "misbehaved" "$(tw_log r)")"
tw r --json status >"$F/status-push.json" 2>&1
jq_ "status still says storage full, with more refusals" "$F/status-push.json" 'd["storage_full"]["refused"] > 1'

# ------------------------------------------------------------- room again

rm -f "$MNT/filler"
echo "    filesystem of r: $(free_kib) KiB free after the filler is removed"
L2=$(log_lines r)
check "r syncs with s (twin sync --wait)" tw r sync --wait --timeout 60
if tw_wait_converged 30 r s; then pass "the next sync stores everything: r and s have the same digest"; else
    fail "the next sync stores everything" "digests/entries:$TW_CONV_DETAIL"; fi
[ "$(entries r)" = "$((SEND + BASE))" ] && pass "r holds all $SEND entries of s (and its own $BASE)" ||
    fail "r holds all entries of s" "r $(entries r), s $SEND, r's own $BASE"
[ "$(tw_pid r)" = "$RPID" ] && tw_alive "$RPID" && pass "the same twind throughout: no restart" || fail "the same twind throughout"
[ "$(log_count r "$L2" "storage has room again")" = 1 ] && pass "the log says once that there is room again" ||
    fail "the log says once that there is room again"
tw r --json status >"$F/status-ok.json" 2>&1
jq_ "status no longer says storage full" "$F/status-ok.json" '"storage_full" not in d and d["disk_free"] > 0'
tw r status >"$F/status-ok.txt" 2>&1
grep -q "free on the disk" "$F/status-ok.txt" && ! grep -q "WARNING: full" "$F/status-ok.txt" &&
    pass "twin status shows the free space, and no warning" || fail "twin status shows the free space, and no warning" "$(cat "$F/status-ok.txt")"
check "a publish on r works again" tw r publish group full name="Hastings Jenin Friendship Association" \
    group_kind=friendship_group nation=england region=E12000008
check "the store is consistent: the records show" tw r show place place-00000

tw_stop r || fail "r exits 0 after all this" "exit $?"
tw_stop s
tw_done
