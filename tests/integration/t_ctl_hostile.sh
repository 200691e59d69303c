#!/bin/sh
# Hostile and careless control clients against one running twind: garbage,
# lying lengths, wrong versions, floods of connections.  After each, the
# daemon must answer with an error (or close), log why, and keep serving.
. tests/integration/lib.sh

POKE="timeout 60 python3 tests/tools/ctlpoke.py"
if tw_start n1; then pass "twind starts"; else fail "twind starts"; tw_done; fi
S=$(tw_dir n1)/twind.sock
LOG=$(tw_log n1)
STATUS='{"v":1,"op":"status","args":{}}'

# still_serving DESC: PASS when the daemon runs and twin status works.
still_serving() {
    if tw_alive "$(tw_pid n1)" && tw n1 status >/dev/null 2>&1; then pass "$1"; else fail "$1"; fi
}

# poke DESC CHECK ACTIONS...: runs ctlpoke; the Python expression CHECK
# over its output lines (list "out") must be true.
poke() {
    _d=$1; _c=$2; shift 2
    tw_run $POKE --expect "$_c" "$S" "$@"
    if [ "$TW_RC" = 0 ]; then
        pass "$_d"
    else
        fail "$_d" "expected: $_c"; tw__show_last
    fi
}

ERR0='out[0].startswith("RESP ") and "\"ok\": false" in out[0]'

poke "a valid raw status request is answered" 'out[0].startswith("RESP ") and "\"ok\": true" in out[0] and "twk_" in out[0]' \
    json "$STATUS" recv

poke "garbage with a valid length header gets ok=false" "$ERR0"' and "malformed control message" in out[0]' \
    mp deadbeef0102030405 recv
poke "the connection survives garbage: a valid request after it is answered" \
    "$ERR0"' and "\"ok\": true" in out[1]' mp c1c1c1 recv json "$STATUS" recv
still_serving "serving after garbage"

poke "a header declaring more than 16 MiB: error, then closed" \
    "$ERR0"' and "larger than 16777216" in out[0] and out[1] == "EOF"' len 16777217 recv eof
poke "a header declaring 4 GiB: error, then closed" \
    "$ERR0"' and "larger than" in out[0] and out[1] == "EOF"' raw ffffffff recv eof
poke "a zero length header: error, then closed" \
    "$ERR0"' and "length 0" in out[0] and out[1] == "EOF"' len 0 recv eof
still_serving "serving after lying lengths"

poke "a truncated message then close is dropped" 'out == []' raw 000000400102 close
poke "a truncated message then half-close: no answer, connection closed" 'out == ["EOF"]' raw 0000004001 shut eof
poke "a 16 MiB header with 1 MiB sent then close is dropped" 'out == []' len 16777215 zeros 1048576 close
still_serving "serving after truncated messages"

poke "version 2 is refused, naming the version" "$ERR0"' and "version" in out[0]' \
    json '{"v":2,"op":"status","args":{}}' recv
poke "a request without a version is refused" "$ERR0"' and "version" in out[0]' \
    json '{"op":"status","args":{}}' recv
poke "a request that is not a map is refused" "$ERR0"' and "not a map" in out[0]' \
    json '[1,"status",{}]' recv
poke "an unknown op is refused, naming it" "$ERR0"' and "unknown operation" in out[0] and "frobnicate" in out[0]' \
    json '{"v":1,"op":"frobnicate","args":{}}' recv
poke "an op that is not a string is refused" "$ERR0"' and "op" in out[0]' \
    json '{"v":1,"op":7,"args":{}}' recv
poke "args that are not a map are refused" "$ERR0"' and "args" in out[0]' \
    json '{"v":1,"op":"status","args":[1,2,3]}' recv
poke "a huge list limit is refused" "$ERR0"' and "limit" in out[0]' \
    json '{"v":1,"op":"list","args":{"limit":99999999999}}' recv
poke "a negative list limit is refused" "$ERR0"' and "limit" in out[0]' \
    json '{"v":1,"op":"list","args":{"limit":-1}}' recv
poke "a list kind of the wrong type is refused" "$ERR0" \
    json '{"v":1,"op":"list","args":{"kind":{"$bin":"00ff"}}}' recv
poke "an import whose records are not an array is refused" "$ERR0"' and "records" in out[0]' \
    json '{"v":1,"op":"import","args":{"records":"all"}}' recv
poke "an import with a record that is not a map names its index" "$ERR0"' and "\"index\": 1" in out[0]' \
    json '{"v":1,"op":"import","args":{"records":[{"kind":"place","slot":"jenin","body":{"name_en":"Jenin","place_kind":"city","country":"PS"}},5]}}' recv
poke "a show with a bad id is refused" "$ERR0" json '{"v":1,"op":"show","args":{"id":"zz"}}' recv
# msgpack that declares a map of 2^32-1 entries in five bytes.
poke "a map count larger than the input is refused without allocating" "$ERR0"' and "malformed" in out[0]' \
    mp dfffffffff recv
# 100 nested arrays: beyond the nesting limit.
poke "nesting beyond the limit is refused" "$ERR0"' and "malformed" in out[0]' \
    mp "$(python3 -c 'print("91" * 100 + "c0")')" recv
poke "invalid UTF-8 in a string is refused" "$ERR0"' and "malformed" in out[0]' \
    mp 83a17601a26f70a6737461747573a461726773a2c3 recv
poke "two requests in one write are both answered in order" \
    'len(out) == 2 and "\"ok\": true" in out[0] and "unknown operation" in out[1]' \
    raw "$(python3 -c 'import sys; sys.path.insert(0, "tests/tools"); import ctlpoke as c
a = c.frame(c.enc({"v": 1, "op": "status", "args": {}}, bytearray()))
b = c.frame(c.enc({"v": 1, "op": "nope", "args": {}}, bytearray()))
print((a + b).hex())')" recv recv
still_serving "serving after malformed requests"
check "nothing was stored by the hostile requests" sh -c "[ \"\$(timeout 20 $TWIN --data-dir $(tw_dir n1) --json status | python3 -c 'import json,sys; print(json.load(sys.stdin)[\"entries\"])')\" = 0 ]"

T0=$(date +%s.%N)
poke "200 rapid connections opened and closed" 'out == ["CHURN 200"]' churn 200
T1=$(date +%s.%N)
echo "    (200 connections in $(python3 -c "print(round($T1 - $T0, 2))") s)"
still_serving "serving after 200 connections"

poke "16 simultaneous connections (the per-uid cap) are all served" 'out == ["HOLD ok=16 error=0 eof=0"]' hold 16
poke "20 simultaneous connections: 16 served, the extra 4 refused" \
    'out[0] == "HOLD ok=16 error=4 eof=0" and all("too many control connections" in l for l in out[1:]) and len(out) == 5' hold 20
still_serving "twin status works after the connections closed"

# A client that sends nothing and stays open must not block others.
$POKE "$S" sleep 3 >/dev/null 2>&1 &
IDLE=$!
tw_track "$IDLE"
sleep 0.2
check_out "an idle connection does not block twin" 0 "twk_" tw n1 status
kill "$IDLE" 2>/dev/null
wait "$IDLE" 2>/dev/null

# A client that sends requests and never reads the answers.
poke "a client that does not read 300 answers is handled" 'out == []' \
    raw "$(python3 -c 'import sys; sys.path.insert(0, "tests/tools"); import ctlpoke as c
a = c.frame(c.enc({"v": 1, "op": "status", "args": {}}, bytearray()))
print((a * 300).hex())')" close
still_serving "serving after an unread flood of answers"

if tw_alive "$(tw_pid n1)"; then pass "twind still running after all of it"; else fail "twind still running after all of it"; fi
for reason in "malformed control message" "control message larger than 16777216 bytes; closing the connection" \
    "control message of length 0; closing the connection" "unfinished message" \
    "control protocol version not supported" "request without an op or with args that are not a map" \
    'frobnicate refused: unknown operation' 'list refused: argument "limit"' \
    "more than 16 control connections; refused"; do
    check_file "log gives the reason: $reason" "$reason" "$LOG"
done

tw_stop n1; RC=$?
[ "$RC" = 0 ] && pass "twind stops cleanly after the abuse (exit 0)" || fail "twind stops cleanly after the abuse (exit 0)" "exit $RC"
grep -q "still open at exit\|not closed cleanly" "$LOG" && fail "no handle left open at exit" || pass "no handle left open at exit"

tw_done
