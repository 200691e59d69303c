#!/bin/sh
# The search word index in a bulk sync (issue 14; daemon/wordidx.c,
# PROTOCOL.md "search"): an empty node b syncing 60 000 records from a
# gets them in no time order, and a commit whose changes fall in more than
# TW_WORDIDX_APPLY_SHARE % of the index's blocks (over TW_WORDIDX_APPLY_MIN)
# sets the index aside, logged once.  Meanwhile search reads every record;
# once writes pause the index is built again in steps on the event loop.
# b killed with SIGKILL during that build resumes it at the next start;
# its searches then go through the index and answer exactly as a's (same
# records, an index kept up to date since its own import), and the index
# of b's store finds what reading every record finds (search_check).
. tests/integration/lib.sh

F=$TW_ROOT/files
mkdir -p "$F"
COUNT=60000
BI=$(tw_tool bench_ingest) || { fail "bench_ingest tool"; tw_done; }
CHECK=$(tw_tool search_check) || { fail "search_check tool"; tw_done; }
if "$BI" "$TW_ROOT/a" "$COUNT" >"$F/bench.out" 2>&1; then pass "node a holds $COUNT records (bench_ingest)"
else fail "node a holds $COUNT records (bench_ingest)" "$(tail -n 5 "$F/bench.out")"; tw_done; fi
rm -f "$TW_ROOT/a/entries.bin"
PA=$(tw_free_port)
if tw_start a --listen "127.0.0.1:$PA"; then pass "a starts"; else fail "a starts"; tw_done; fi
grep -q "wordidx: a write of many records" "$(tw_log a)" &&
    fail "a's own import (in time order) never set the index aside" "$(grep wordidx "$(tw_log a)")"
NA=$(tw_entries a)
CONF=$(tw_conf b "network_key = $(tw_netkey a)" "sync_interval = 3600" "peer = 127.0.0.1:$PA")
LB=$(tw_log b)
if tw_start b --config "$CONF"; then pass "b starts"; else fail "b starts"; tw_done; fi

aside() { grep -q "wordidx: a write of many records changes .* blocks of the search word index" "$LB"; }
if tw_wait_for 120 aside; then pass "a commit of the sync over the limit sets the index aside (logged)"
else fail "a commit of the sync over the limit sets the index aside (logged)" "$(grep wordidx "$LB")"; fi
# While it is set aside, search reads every record.
check "b answers a search during the sync" tw b search village
if grep -q "ops: search read every record" "$LB"; then pass "that search read every record"
else fail "that search read every record" "$(grep "search read" "$LB")"; fi

# The build starts once the writes pause: kill b as soon as it starts.
building() { grep -q "wordidx: building the search word index again" "$LB"; }
if tw_wait_for 300 building; then pass "the index is built again once the sync's writes pause"
else fail "the index is built again once the sync's writes pause" "$(grep wordidx "$LB")"; tw_done; fi
tw_kill9 b
n=$(grep -c "wordidx: a write of many records" "$LB")
if [ "$n" = 1 ]; then pass "set aside logged once, not per commit"; else fail "set aside logged once, not per commit" "$n lines"; fi
if grep -q "search word index ready again" "$LB"; then
    fail "b killed during the build" "the build ended before the kill: $(grep wordidx "$LB" | tail -n 2)"
else
    pass "b killed (SIGKILL) during the build"
fi
lines=$(wc -l <"$LB")
if tw_start b --config "$CONF"; then pass "b starts again"; else fail "b starts again"; tw_done; fi
after() { tail -n +"$((lines + 1))" "$LB"; }
if after | grep -q "wordidx: resuming the build of the search word index" && after | grep -q "search word index built"; then
    pass "the start resumes the build where it stopped and ends it"
else
    fail "the start resumes the build where it stopped and ends it" "$(after | grep wordidx)"
fi
if tw_wait_converged 120 a b; then pass "b holds a's $NA records (${TW_CONV_S} s)"
else fail "b holds a's $NA records" "$TW_CONV_DETAIL"; fi

# Searches through b's index answer as a's do.
printf '%s\n' village "village 123" camden benchmark villag xylophone "camden village" >"$F/queries.txt"
same=0; total=0
while read -r q; do
    total=$((total + 1))
    tw a --json search --limit 50 "$q" >"$F/qa.json" 2>&1
    tw b --json search --limit 50 "$q" >"$F/qb.json" 2>&1
    if cmp -s "$F/qa.json" "$F/qb.json" && [ -s "$F/qa.json" ]; then same=$((same + 1))
    else fail "search \"$q\" on b answers as on a" "$(head -c 300 "$F/qa.json")" "$(head -c 300 "$F/qb.json")"; fi
done <"$F/queries.txt"
[ "$same" = "$total" ] && pass "$total searches on b answer exactly as on a"
tail -n +"$((lines + 1))" "$LB" | grep -q "ops: search read the records the word index found" &&
    pass "b's searches went through its index" || fail "b's searches went through its index" "$(after | grep "search read")"
tw_stop b
tw_stop a
out=$("$CHECK" "$TW_ROOT/b" <"$F/queries.txt" 2>&1)
if echo "$out" | tail -n 1 | grep -q " 0 differ$"; then pass "b's index finds what reading every record finds ($(echo "$out" | tail -n 1))"
else fail "b's index finds what reading every record finds" "$(echo "$out" | head -n 20)"; fi
tw_done
