#!/bin/sh
# Invitations through twin alone: node a (listening on 127.0.0.1) makes a
# code with `twin invite`, becoming the root of its open network; a fresh
# node b, started with nothing but its own data directory, runs `twin join
# CODE`, takes a's network key and roots, connects to a and shows the same
# network; a third fresh node joins with the code wrapped, on standard
# input.  Refused with exit status 1 and a clear message, the node left as
# it was: a wrong prefix, one character changed, a code changed with its
# checksum made again, a code signed by another key than the one it names,
# a cut code, an expired code, a node joining its own invitation.  Usage
# errors (exit 2) for bad --expires values.  After a vouches for b with the
# very command b printed, a record b publishes reaches a.  The code (it
# holds the network key) is never in a log.
. tests/integration/lib.sh

NAME_B="Camden Abu Dis Friendship"
PA=$(tw_free_port)
key_of() { tw "$1" --json status | python3 -c 'import json,sys; print(json.load(sys.stdin)["node"])'; }
status_of() { tw "$1" --json status | python3 -c 'import json,sys; print(json.load(sys.stdin)[sys.argv[1]])' "$2"; }

# forge MODE CODE [KEYTEXT]: the code's blob changed and its checksum made
# again, so that only the signature can tell (PROTOCOL.md, "Invitation
# codes").  bit: one bit of the network key flipped; inviter: the inviter's
# key replaced with KEYTEXT's.
forge() {
    python3 - "$@" <<'EOF'
import base64, hashlib, sys
mode, code = sys.argv[1], sys.argv[2]
def unb32(s):
    s = s.upper()
    return base64.b32decode(s + "=" * (-len(s) % 8))
blob = bytearray(unb32(code[4:]))
if mode == "bit":
    blob[20] ^= 0x04
else:
    blob[41:73] = unb32(sys.argv[3][4:])[:32]
blob[-2:] = hashlib.blake2b(bytes(blob[:-2]), digest_size=16).digest()[:2]
print("twi_" + base64.b32encode(bytes(blob)).decode().lower().rstrip("="))
EOF
}

# ----------------------------------------------------------------- nodes
tw_start a --listen "127.0.0.1:$PA" || { fail "node a starts"; tw_done; }
tw_start b || { fail "node b starts"; tw_done; }
tw_start c || { fail "node c starts"; tw_done; }
KEY_A=$(key_of a); KEY_B=$(key_of b)
NET_A=$(status_of a network); NET_B0=$(status_of b network)
[ -n "$NET_A" ] && [ "$NET_A" != "$NET_B0" ] && pass "fresh nodes a and b are in networks of their own" ||
    fail "fresh nodes a and b are in networks of their own" "a $NET_A b $NET_B0"

# ---------------------------------------------------------------- invite
check_out "b, which does not listen, is told to pass --address" 1 "--address HOST:PORT" tw b invite
status_of b admission | grep -q "open network" && pass "the refused invite left b an open network" ||
    fail "the refused invite left b an open network" "$(status_of b admission)"
check_out "--expires 0 is a usage error" 2 "--expires" tw a invite --expires 0
check_out "--expires 91d is a usage error" 2 "longer than 90 days" tw a invite --expires 91d
check_out "--expires 5x is a usage error" 2 "not a duration" tw a invite --expires 5x
check_out "a wildcard --address is refused" 1 "not one to dial" tw a invite --address "0.0.0.0:$PA"
check_out "a malformed --address is refused" 1 "is not HOST:PORT" tw a invite --address "hub.example"

tw_run tw a invite
CODE=$(cat "$TW_OUT")
if [ "$TW_RC" = 0 ] && [ "$(wc -l <"$TW_OUT")" = 1 ] && echo "$CODE" | grep -q '^twi_[a-z2-7]*$'; then
    pass "twin invite prints the code alone on standard output (${#CODE} characters)"
else fail "twin invite prints the code alone on standard output"; tw__show_last; fi
check_file "the explanation says to send it privately" "private channel" "$TW_ERR"
check_file "the explanation says a became the root" "now its root" "$TW_ERR"
check_file "the explanation names the address" "127.0.0.1:$PA" "$TW_ERR"
status_of a admission | grep -q "root of the network" && pass "a is now the root of its network" ||
    fail "a is now the root of its network" "$(status_of a admission)"
check_file "a wrote network.roots with its key" "$KEY_A" "$(tw_dir a)/network.roots"

tw_run tw a --json invite --expires 12h
now=$(date +%s)
if [ "$TW_RC" = 0 ] && [ "$(tw_json "$TW_OUT" "d['root_created'] == False and d['roots'] == ['$KEY_A'] and \
d['inviter'] == '$KEY_A' and d['address'] == '127.0.0.1:$PA' and d['network'] == '$NET_A' and \
abs(d['expires'] - $now - 43200) <= 5 and d['code'].startswith('twi_')")" = true ]; then
    pass "twin invite --json: code, expiry in 12 h, address, inviter, the one root, the network"
else fail "twin invite --json: code, expiry in 12 h, address, inviter, the one root, the network"; tw__show_last; fi

# ------------------------------------------------------------ bad codes
check_out "a wrong prefix is not an invitation" 1 "must start with twi_" tw b join "twx_${CODE#twi_}"
check_out "a node key is not an invitation" 1 "that is a node key" tw b join "$KEY_A"
# One character changed to another of the alphabet.
c30=$(echo "$CODE" | cut -c30)
if [ "$c30" = a ]; then r=b; else r=a; fi
TYPO=$(echo "$CODE" | cut -c1-29)$r$(echo "$CODE" | cut -c31-)
check_out "one character changed is a typo (checksum)" 1 "mistyped or incomplete" tw b join "$TYPO"
check_out "a cut code is incomplete" 1 "incomplete" tw b join "$(echo "$CODE" | cut -c1-150)"
check_out "a bit changed with the checksum made again is tampering" 1 "tampered with" \
    tw b join "$(forge bit "$CODE")"
# c (its own open network, no listen) makes a code with an address given;
# the same code claiming to be a's fails a's signature check.
tw_run tw c invite --address "127.0.0.1:$PA"
CODE_C=$(cat "$TW_OUT")
[ "$TW_RC" = 0 ] && pass "c invites with --address although it does not listen" ||
    { fail "c invites with --address although it does not listen"; tw__show_last; }
check_out "a code signed by another key than its inviter's is tampering" 1 "tampered with" \
    tw b join "$(forge inviter "$CODE_C" "$KEY_A")"
EXPIRING=$(tw a invite --expires 1s 2>/dev/null)
sleep 2
check_out "an expired code is refused, naming when it expired" 1 "the invitation expired on 20" tw b join "$EXPIRING"
check_out "a node cannot join its own invitation" 1 "made by this node" tw a join "$CODE"
[ "$(status_of b network)" = "$NET_B0" ] && pass "after the refusals b is still in its own network" ||
    fail "after the refusals b is still in its own network"
check "b still serves after the bad codes" tw b status
check "a still serves" tw a status
grep -q "join refused" "$(tw_log b)" && pass "b logs each refusal" || fail "b logs each refusal"

# ------------------------------------------------------------------ join
tw_run tw b join "$CODE" --name "$NAME_B"
if [ "$TW_RC" = 0 ] && grep -qF "twin vouch $KEY_B --name \"$NAME_B\"" "$TW_OUT"; then
    pass "twin join succeeds and shows the command for the inviter"
else fail "twin join succeeds and shows the command for the inviter"; tw__show_last; fi
SEND=$(grep '^  twin vouch ' "$TW_OUT" | sed 's/^  //')
grep -qF "Joined network $NET_A" "$TW_OUT" && pass "join names a's network" || fail "join names a's network"
[ "$(status_of b network)" = "$NET_A" ] && pass "b's twin status shows a's network" ||
    fail "b's twin status shows a's network" "$(status_of b network) != $NET_A"
[ "$(tw_netkey b)" = "$(tw_netkey a)" ] && pass "b's network.key is a's" || fail "b's network.key is a's"
check_file "b's network.roots holds a's key" "$KEY_A" "$(tw_dir b)/network.roots"
if tw_wait_for 20 tw_has_peers b 1 && tw_wait_for 10 tw_has_peers a 1; then
    pass "b connects to a (an established connection on each side)"
else fail "b connects to a" "b: $(tw_established b), a: $(tw_established a)"; fi
tw b --json peers | grep -qF "$KEY_A" && pass "b's peer is a's key" || fail "b's peer is a's key"
status_of b admission | grep -q "not admitted" && pass "b is not admitted before a vouches" ||
    fail "b is not admitted before a vouches" "$(status_of b admission)"

# d joins with the code wrapped over lines, on standard input, and --json.
tw_start d || fail "node d starts"
tw_run sh -c 'printf "\n  %s\n" "$1" | fold -w 50 | "$2" --data-dir "$3" --json join -' sh "$CODE" "$TWIN" "$(tw_dir d)"
if [ "$TW_RC" = 0 ] && [ "$(tw_json "$TW_OUT" "d['network'] == '$NET_A' and d['inviter'] == '$KEY_A' and \
d['roots'] == 1 and d['send'].endswith('--name \"YOUR ASSOCIATION\"')")" = true ]; then
    pass "twin join - reads a wrapped code from standard input (--json)"
else fail "twin join - reads a wrapped code from standard input (--json)"; tw__show_last; fi
tw_wait_for 20 tw_has_peers d 1 && pass "d connects" || fail "d connects"

# ----------------------------------------------------------------- vouch
case $SEND in
"twin vouch $KEY_B --name \"$NAME_B\"")
    check "a runs the command b printed" sh -c "\"\$0\" --data-dir \"\$1\" ${SEND#twin }" "$TWIN" "$(tw_dir a)" ;;
*) fail "b printed the vouch command" "$SEND" ;;
esac
check "b publishes its group" tw b publish group main name="Camden Abu Dis Friendship Association" \
    group_kind=friendship_group nation=england
if tw_wait_for 20 sh -c "\"\$0\" --data-dir \"\$1\" --json list group | grep -qF '$KEY_B'" "$TWIN" "$(tw_dir a)"; then
    pass "after a vouches for b, b's record reaches a"
else fail "after a vouches for b, b's record reaches a" "$(tw a list group 2>&1)"; fi
tw_wait_for 10 sh -c "\"\$0\" --data-dir \"\$1\" status | grep -q 'admitted as $NAME_B'" "$TWIN" "$(tw_dir b)" &&
    pass "b sees itself admitted under the name given" || fail "b sees itself admitted" "$(status_of b admission)"

# ---------------------------------------------------------------- secrecy
SECRET=$(echo "$CODE" | cut -c5-40)
NETKEY=$(tw_netkey a)
if grep -qF -e "$SECRET" -e "${NETKEY:-nonetkey}" "$(tw_log a)" "$(tw_log b)" "$(tw_log c)" "$(tw_log d)"; then
    fail "no code and no network key in any log"
else pass "no code and no network key in any log"; fi
grep -q "invitation made by" "$(tw_log a)" && pass "a logs that it made invitations" || fail "a logs that it made invitations"

# ----------------------------------------------------- interrupted joins
# A join writes network.key.join and network.roots.join, moves the store to
# the new network in one transaction, then renames the two files.  A crash
# before the commit leaves the node in its old network; after it, the next
# start finishes the renames.
NET_C=$(status_of c network)
tw_stop c
( umask 077; printf '%s\n' "$(tw_netkey a)" >"$(tw_dir c)/network.key.join" )
printf '%s\n' "$KEY_A" >"$(tw_dir c)/network.roots.join"
tw_start c || fail "c restarts after a join interrupted before its commit"
[ "$(status_of c network)" = "$NET_C" ] && pass "c stays in its own network" ||
    fail "c stays in its own network" "$(status_of c network) != $NET_C"
[ ! -e "$(tw_dir c)/network.key.join" ] && [ ! -e "$(tw_dir c)/network.roots.join" ] &&
    pass "the staged files are dropped" || fail "the staged files are dropped"
check_file "c logs the interrupted join" "did not complete" "$(tw_log c)"

tw_stop b
mv "$(tw_dir b)/network.key" "$(tw_dir b)/network.key.join"
mv "$(tw_dir b)/network.roots" "$(tw_dir b)/network.roots.join"
( umask 077; printf '%s\n' "$(tw_netkey c)" >"$(tw_dir b)/network.key" )
tw_start b || fail "b restarts after a join interrupted after its commit"
[ "$(status_of b network)" = "$NET_A" ] && pass "b finishes the join: it is in a's network" ||
    fail "b finishes the join: it is in a's network" "$(status_of b network) != $NET_A"
[ "$(tw_netkey b)" = "$(tw_netkey a)" ] && [ ! -e "$(tw_dir b)/network.key.join" ] &&
    pass "b's network.key is a's again, the staged file renamed" || fail "b's network.key is a's again"
check_file "b's roots are a's" "$KEY_A" "$(tw_dir b)/network.roots"
check_file "b logs that it finished the join" "finished an interrupted" "$(tw_log b)"

for n in a b c d; do tw_stop "$n" || fail "node $n stops cleanly"; done
tw_done
