#!/bin/sh
# Reconciliation messages over several frames between real daemons
# (TW_WIRE_FEAT_NEGPART, setting neg_parts): a node holding 3 000 entries
# and two empty nodes that dial it, b with the feature (default) and c with
# neg_parts = no.  The empty node's reconciliation is answered with the ids
# of all 3 000 entries, 96 KB: over several frames that is one round trip,
# in one frame per message (as with an older node) it takes several.  Both
# end with every entry; `twin peers` shows the round trips of the last
# reconciliation (last_rounds) and whether the connection uses the feature
# (neg_parts); the log line of the reconciliation says the same.  A fourth
# node, d, dials a through a link cut every 64 KiB: it falls back to one
# frame per message after the first cut and fetches everything.
. tests/integration/lib.sh

F=$TW_ROOT/files
mkdir -p "$F"
COUNT=3000

BI=$(tw_tool bench_ingest) || { fail "bench_ingest is built"; tw_done; }
if "$BI" "$TW_ROOT/a" "$COUNT" >"$F/bench.out" 2>&1; then pass "bench_ingest makes a data dir of $COUNT entries"; else
    fail "bench_ingest makes a data dir of $COUNT entries"; sed 's/^/    /' "$F/bench.out"; tw_done; fi
rm -f "$TW_ROOT/a/entries.bin"
PA=$(tw_free_port)
CA=$(tw_conf a "sync_interval = 3600")
tw_start a --config "$CA" --listen "127.0.0.1:$PA" || { fail "node a starts"; tw_done; }
NETKEY=$(tw_netkey a)

# sync_interval = 3600: the reconciliation at connect is the only one, so
# last_rounds is the round trips of the one that fetched everything.
CB=$(tw_conf b "network_key = $NETKEY" "sync_interval = 3600" "peer = 127.0.0.1:$PA")
CC=$(tw_conf c "network_key = $NETKEY" "sync_interval = 3600" "neg_parts = no" "peer = 127.0.0.1:$PA")
tw_start b --config "$CB" || { fail "node b starts"; tw_done; }
tw_start c --config "$CC" || { fail "node c starts"; tw_done; }
if tw_wait_converged 60 a b c; then pass "b and c fetch all $COUNT entries from a (${TW_CONV_S} s)"; else
    fail "b and c fetch all $COUNT entries from a" "$TW_CONV_DETAIL"; tw_done; fi

# peers_of NODE: "last_rounds neg_parts" of its established connection.
peers_of() {
    tw "$1" --json peers >"$F/$1.peers.json" 2>/dev/null || { echo "no answer"; return; }
    tw_json "$F/$1.peers.json" \
        '" ".join("%d %s" % (c["last_rounds"], c["neg_parts"]) for c in d["connections"] if c["state"] == "established")'
}
# The dialler's reconciliation ends with the fetch; wait until it is done.
rounds_done() { r=$(peers_of "$1"); [ "${r%% *}" -ge 1 ] 2>/dev/null; }
tw_wait_for 30 rounds_done b
tw_wait_for 30 rounds_done c
RB=$(peers_of b)
RC=$(peers_of c)
echo "    b (both offer the feature): last_rounds neg_parts = $RB"
echo "    c (neg_parts = no):         last_rounds neg_parts = $RC"
if [ "$RB" = "1 True" ]; then pass "b: one round trip, messages over several frames (peers: last_rounds 1, neg_parts true)"; else
    fail "b: one round trip, messages over several frames" "peers says: $RB"; fi
rc_rounds=${RC%% *}
if [ "${RC#* }" = "False" ] && [ "$rc_rounds" -ge 2 ] 2>/dev/null; then
    pass "c: one frame per message with a node that offers the feature, $rc_rounds round trips (neg_parts false)"; else
    fail "c: one frame per message, 2 or more round trips" "peers says: $RC"; fi

# a holds its own peer record too: "it has 3001 we lack".
if grep -Eq "reconciled in 1 round trip \(messages over several frames\): we have 0 it lacks, it has [0-9]{4} we lack" "$(tw_log b)"; then
    pass "b's log names the round trips and the form of the reconciliation"; else
    fail "b's log names the round trips and the form" "$(grep reconciled "$(tw_log b)" | tail -n 2)"; fi
if grep -Eq "reconciled in $rc_rounds round trips \(one frame per message\): we have 0 it lacks, it has [0-9]{4} we lack" "$(tw_log c)"; then
    pass "c's log names its $rc_rounds round trips in one frame per message"; else
    fail "c's log names its round trips" "$(grep reconciled "$(tw_log c)" | tail -n 2)"; fi
# The debug log names each message received: a's reply came to b in pieces,
# and to c without any.
if grep -q "NEG_PART of [0-9]* bytes" "$(tw_log b)"; then pass "a's reply reached b in NEG_PART pieces"; else
    fail "a's reply reached b in NEG_PART pieces"; fi
if grep -q "NEG_PART" "$(tw_log c)"; then fail "c, without the feature, received no NEG_PART"; else
    pass "c, without the feature, received no NEG_PART"; fi
# A link that breaks every 64 KiB never carries a reply of 96 KB whole: the
# node that dials through it falls back to one frame per message with a
# after the first cut, and then fetches everything as an older node would.
tw_proxy pd "127.0.0.1:$PA" --cut-after 64 || { fail "proxy starts"; tw_done; }
CD=$(tw_conf d "network_key = $NETKEY" "sync_interval = 3600" "outbound_target = 1" "peer = 127.0.0.1:$(tw_proxy_port pd)")
tw_start d --config "$CD" || { fail "node d starts"; tw_done; }
if tw_wait_converged 120 a d; then pass "d fetches all entries through a link cut every 64 KiB (${TW_CONV_S} s, $(tw_proxy_stat pd cuts) cuts)"; else
    fail "d fetches all entries through a link cut every 64 KiB" "$TW_CONV_DETAIL"; fi
if grep -q "the link broke during a reconciliation with messages over several frames; one frame per message with this peer" "$(tw_log d)"; then
    pass "d logs that it falls back to one frame per message after the cut"; else
    fail "d logs that it falls back to one frame per message after the cut"; fi
# (The proxy keeps cutting: wait for an established connection.)
d_single() { RD=$(peers_of d); [ "${RD#* }" = "False" ]; }
tw_wait_for 15 d_single
RD=$(peers_of d)
if [ "${RD#* }" = "False" ]; then pass "d's connection to a no longer uses messages over several frames (neg_parts false)"; else
    fail "d's connection to a no longer uses messages over several frames" "peers says: $RD"; fi
tw_stop d
tw_stop pd

# No node refused anything.
if grep -qi "misbehav\|protocol violation\|NEG_PART from a peer" "$(tw_log a)" "$(tw_log b)" "$(tw_log c)" "$(tw_log d)"; then
    fail "no node refused a message" "$(grep -i 'misbehav\|NEG_PART from' "$(tw_log a)" "$(tw_log b)" "$(tw_log c)" "$(tw_log d)" | head -n 3)"; else
    pass "no node refused a message"; fi

tw_done
