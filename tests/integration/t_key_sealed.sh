#!/bin/sh
# The web interface's plan and rotation (daemon/ops_identweb.c; PROTOCOL.md
# key_plan_sealed, key_rotate_sealed), over the control socket with
# hand-built requests: every refusal at its edge, before any file is written
# or any Argon2id work is done where the op promises it, then the planned
# key's file written where the answer says (138 bytes, mode 600), and the
# move to it.  twind keeps serving throughout; the passphrase is in no log.
cd "$(dirname "$0")/../.." || exit 1
. tests/integration/lib.sh

POKE="timeout 60 python3 tests/tools/ctlpoke.py"
P8=abcdefgh
key_of() { tw "$1" --json status | python3 -c 'import json,sys; print(json.load(sys.stdin)["node"])'; }
# op DESC CHECK OP ARGS_JSON: one request; CHECK is a Python expression over
# "r", the decoded answer.
op() {
    tw_run $POKE "$S" json '{"v":1,"op":"'"$3"'","args":'"$4"'}' recv
    if python3 - "$TW_OUT" "$2" <<'PY'; then pass "$1"; else fail "$1" "$(head -c 600 "$TW_OUT")"; fi
import json, sys
line = open(sys.argv[1]).read().split("\n")[0]
r = json.loads(line[5:]) if line.startswith("RESP ") else {}
sys.exit(0 if eval(sys.argv[2]) else 1)
PY
}
refused() { echo 'r.get("ok") is False and r.get("code") == '"$1"; }
nofile() { if ls "$(tw_dir n1)"/next-key-* >/dev/null 2>&1; then fail "$1: a next-key file was written"; else pass "$1: no next-key file written"; fi; }

check "n1 starts" tw_start n1
check "n2 starts" tw_start n2
S=$(tw_dir n1)/twind.sock
K1=$(key_of n1)
LONG=$(python3 -c 'print("w" * 1025)'); MAX=$(python3 -c 'print("w" * 1024)')

op "plan: a 7-byte passphrase is refused (TW_EINVAL), 8 is the least" "$(refused -2) and 'too short' in r['error']" \
    key_plan_sealed '{"passphrase":"abcdefg"}'
nofile "plan with a short passphrase"
op "plan: a 1025-byte passphrase is refused (TW_ETOOBIG)" "$(refused -4)" key_plan_sealed '{"passphrase":"'"$LONG"'"}'
op "plan: no passphrase is refused (TW_EINVAL)" "$(refused -2)" key_plan_sealed '{}'
op "plan: a passphrase that is not a string is refused" "r.get('ok') is False" key_plan_sealed '{"passphrase":12345678}'
nofile "plan refused"
op "rotate with no planned key is refused (TW_EPERM), before anything else is read" \
    "$(refused -23) and 'no next key is planned' in r['error']" key_rotate_sealed '{"file_hex":"00","passphrase":"'"$P8"'"}'

t0=$(date +%s%N)
op "status, for comparison" "r.get('ok')" status '{}'
t1=$(date +%s%N)
BASE=$(( (t1 - t0) / 1000000 ))
t0=$(date +%s%N)
op "plan with an 8-byte passphrase: commitment, next key and the file's path" \
    "r.get('ok') and len(r['result']['commit']) == 64 and r['result']['next'].startswith('twk_') and r['result']['file'].startswith('$(tw_dir n1)/next-key-')" \
    key_plan_sealed '{"passphrase":"'"$P8"'"}'
t1=$(date +%s%N)
echo "figure: key_plan_sealed took $(( (t1 - t0) / 1000000 )) ms, a status $BASE ms, by the same client (Argon2id, 256 MiB, 3 passes, on the event loop)"
NEXT=$(python3 -c 'import json,sys; print(json.loads(open(sys.argv[1]).read().split("\n")[0][5:])["result"]["next"])' "$TW_OUT")
F=$(python3 -c 'import json,sys; print(json.loads(open(sys.argv[1]).read().split("\n")[0][5:])["result"]["file"])' "$TW_OUT")
[ -f "$F" ] && [ "$(stat -c %a "$F")" = 600 ] && [ "$(stat -c %s "$F")" = 138 ] && ! ls "$F".tmp >/dev/null 2>&1 &&
    pass "the file is where the answer says: 138 bytes, mode 600, no temporary left" || fail "the next key's file" "$(ls -l "$(tw_dir n1)")"
case $F in *"next-key-$(echo "$NEXT" | cut -c 5-14).twinkey") pass "... named by the next key's fingerprint" ;; *) fail "file name $F for $NEXT" ;; esac
tw n1 --json device list >"$TW_ROOT/l.json"
[ "$(tw_json "$TW_ROOT/l.json" 'd["commitment"]')" = planned ] && pass "twin device list: the next key is planned" ||
    fail "twin device list after the plan" "$(cat "$TW_ROOT/l.json")"
op "plan a second time: refused (TW_EEXIST), a plan cannot be changed" "$(refused -13)" key_plan_sealed '{"passphrase":"'"$P8"'"}'
[ "$(ls "$(tw_dir n1)" | grep -c '^next-key-')" = 1 ] && pass "... and no second file" || fail "a second next-key file"

HEX=$(od -An -v -tx1 "$F" | tr -d ' \n')
op "rotate: a file that is not a key file is refused (TW_EINVAL)" "$(refused -2)" \
    key_rotate_sealed '{"file_hex":"'"$(echo "$HEX" | sed 's/^54/55/')"'","passphrase":"'"$P8"'"}'
op "rotate: a file one byte short is refused (TW_EINVAL)" "$(refused -2)" \
    key_rotate_sealed '{"file_hex":"'"$(echo "$HEX" | cut -c 3-)"'","passphrase":"'"$P8"'"}'
op "rotate: hex that is not hex is refused (TW_EINVAL)" "$(refused -2)" \
    key_rotate_sealed '{"file_hex":"'"$(echo "$HEX" | sed 's/^../zz/')"'","passphrase":"'"$P8"'"}'
# Header: magic 8, version 1, reserved 1, opslimit 4 (offset 10), memlimit KiB 4 (offset 14).
OPS4=$(echo "$HEX" | cut -c 1-20)00000004$(echo "$HEX" | cut -c 29-)
MEM512=$(echo "$HEX" | cut -c 1-28)00080000$(echo "$HEX" | cut -c 37-)
t0=$(date +%s%N)
op "rotate: a file asking 4 Argon2id passes (twind writes 3) is refused (TW_ETOOBIG)" "$(refused -4)" \
    key_rotate_sealed '{"file_hex":"'"$OPS4"'","passphrase":"'"$P8"'"}'
op "rotate: a file asking 512 MiB (twind writes 256) is refused (TW_ETOOBIG)" "$(refused -4)" \
    key_rotate_sealed '{"file_hex":"'"$MEM512"'","passphrase":"'"$P8"'"}'
t1=$(date +%s%N)
echo "figure: the two over-limit files were refused in $(( (t1 - t0) / 1000000 )) ms together, two status requests take about $((2 * BASE)) ms (no Argon2id run)"
op "rotate: the wrong passphrase is refused (TW_EDECRYPT); a 1024-byte one is read" "$(refused -20)" \
    key_rotate_sealed '{"file_hex":"'"$HEX"'","passphrase":"'"$MAX"'"}'
op "rotate: a 1025-byte passphrase is refused (TW_ETOOBIG)" "$(refused -4)" \
    key_rotate_sealed '{"file_hex":"'"$HEX"'","passphrase":"'"$LONG"'"}'
# Another key's file, whose passphrase is right: not the committed key.
printf '%s\n' "$P8" >"$TW_ROOT/pass"; chmod 600 "$TW_ROOT/pass"
check "n2's identity exported under the same passphrase" tw n2 key export "$TW_ROOT/other.twinkey" --passphrase-file "$TW_ROOT/pass"
OHEX=$(od -An -v -tx1 "$TW_ROOT/other.twinkey" | tr -d ' \n')
op "rotate: a key file of another key is refused (TW_EPERM, commitment mismatch)" "$(refused -23) and 'mismatch' in r['error']" \
    key_rotate_sealed '{"file_hex":"'"$OHEX"'","passphrase":"'"$P8"'"}'
[ "$(key_of n1)" = "$K1" ] && pass "after every refusal n1 still signs with its first key" || fail "n1's key changed"

op "rotate with the planned file and its passphrase: moved" \
    "r.get('ok') and r['result']['previous'] == '$K1' and r['result']['key'] == '$NEXT' and r['result']['planned'] is True" \
    key_rotate_sealed '{"file_hex":"'"$HEX"'","passphrase":"'"$P8"'"}'
[ "$(key_of n1)" = "$NEXT" ] && pass "twin status: n1 signs with the planned key" || fail "twin status after the move" "$(key_of n1)"
op "plan again with the new key: allowed (a rotation uses up its plan)" "r.get('ok')" key_plan_sealed '{"passphrase":"'"$P8"'xyz"}'
[ "$(ls "$(tw_dir n1)" | grep -c '^next-key-')" = 2 ] && pass "... a second file, beside the first" || fail "the second plan's file"
! grep -q -e "$P8" -e "wwwwwwww" "$(tw_log n1)" && pass "no passphrase in the log" || fail "a passphrase is in the log"
grep -q "planned the next key of this association; its file is $F" "$(tw_log n1)" && pass "the log says where the file went" ||
    fail "the log does not say where the file went"
check "twind still serves twin" tw n1 status
tw_stop n1 || fail "twind n1 did not stop cleanly"
tw_stop n2 || fail "twind n2 did not stop cleanly"
tw_done
