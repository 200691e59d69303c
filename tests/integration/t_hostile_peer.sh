#!/bin/sh
# Hostile peers against a real node, with tests/tools/evilpeer: a wrong
# network key, oversized and garbage frames, protocol violations, and
# pushes of forged, non-canonical and foreign entries; then a flood of idle
# connections from one address while two honest nodes keep syncing.
#
# For each offence: the connection is closed with the reason in the node's
# log, nothing is stored, and (for offences inside the authenticated
# channel) the key is kept off: a new connection with the same identity is
# refused right after the handshake.  A wrong network key gets no byte back.
. tests/integration/lib.sh

F=$TW_ROOT/files
mkdir -p "$F"
P1=$(tw_free_port)
P2=$(tw_free_port)
P3=$(tw_free_port)
RSS_MAX_KB=65536

tw_start n1 --listen "127.0.0.1:$P1" || { fail "n1 starts"; tw_done; }
NETKEY=$(tw_netkey n1)
CONF=$(tw_conf common "network_key = $NETKEY" "sync_interval = 3")
if tw_start n2 --config "$CONF" --listen "127.0.0.1:$P2" --peer "127.0.0.1:$P1"; then pass "honest node n2 starts"; else fail "honest node n2 starts"; fi
tw_wait_for 15 tw_has_peers n1 1 && pass "n1 and n2 connect" || fail "n1 and n2 connect"
LOG1=$(tw_log n1)

EVIL=$(tw_tool evilpeer) || { fail "evilpeer is built"; tw_done; }
# evil OUT ARGS...: runs evilpeer against n1, output in $F/OUT.
evil() {
    _o=$1; shift
    timeout 60 "$EVIL" --connect "127.0.0.1:$P1" "$@" >"$F/$_o" 2>&1
}
field() { awk -v k="$1" '$1 == k { $1 = ""; sub(/^ /, ""); print; exit }' "$F/$2"; }
newseed() { od -An -N32 -tx1 /dev/urandom | tr -d ' \n'; }
# log_has DESC PATTERN: PASS when n1's log gained the fixed string.
log_has() { check_file "$1" "$2" "$LOG1"; }

# ------------------------------------------------------------- a control

S=$(newseed)
evil good --netkey-file "$(tw_dir n1)/network.key" --seed "$S" --mode good --wait 2
SLOT=$(field slot good)
if [ "$(field handshake good)" = ok ] && tw n1 show place "$SLOT" >/dev/null 2>&1; then
    pass "control: a valid entry pushed by evilpeer is stored"
else
    fail "control: a valid entry pushed by evilpeer is stored" "$(cat "$F/good")"
fi
tw_wait_for 10 sh -c "'$TWIN' --data-dir '$(tw_dir n2)' show place '$SLOT'" &&
    pass "control: and forwarded to n2" || fail "control: and forwarded to n2"

# ------------------------------------------------------------- before the handshake

evil wrongkey --netkey random --mode wrongkey --wait 3
if [ "$(field bytes_received wrongkey)" = 0 ] && [ "$(field closed_by_node wrongkey)" = yes ]; then
    pass "wrong network key: the node closes without sending a byte"
else
    fail "wrong network key: the node closes without sending a byte" "$(cat "$F/wrongkey")"
fi
log_has "wrong network key: the refusal is logged" "handshake failed: wrong network key"

evil hsbig --netkey-file "$(tw_dir n1)/network.key" --mode hs-oversize --wait 3
if [ "$(field bytes_received hsbig)" = 0 ] && [ "$(field closed_by_node hsbig)" = yes ]; then
    pass "65535-byte frame before the handshake: closed, no byte sent"
else
    fail "65535-byte frame before the handshake: closed, no byte sent" "$(cat "$F/hsbig")"
fi
log_has "65535-byte frame before the handshake: logged" "frame of 65535 bytes exceeds 1024 before the handshake completes"

evil vers --netkey-file "$(tw_dir n1)/network.key" --mode hello --versions 3:4 --wait 3
case "$(field handshake vers)" in
    *"incompatible protocol version: this node speaks 2..2, the peer 3..4"*)
        pass "a peer speaking only versions 3..4 is told why it is refused" ;;
    *) fail "a peer speaking only versions 3..4 is told why it is refused" "$(cat "$F/vers")" ;;
esac
log_has "the version refusal is logged" "incompatible protocol version: this node speaks 2..2, the peer 3..4"

# ------------------------------------------------------------- after the handshake

# offence MODE REASON BANNED: runs evilpeer MODE with a fresh identity and
# checks: closed by the node, REASON in its log and in its ERROR message,
# nothing stored, and a reconnect with the same key refused (BANNED=yes) or
# only reported (BANNED=note).
offence() {
    _m=$1; _why=$2; _ban=$3
    _s=$(newseed)
    _d0=$(tw_digest n1)
    evil "$_m" --netkey-file "$(tw_dir n1)/network.key" --seed "$_s" --mode "$_m" --wait 5
    if [ "$(field handshake "$_m")" = ok ] && [ "$(field closed_by_node "$_m")" = yes ]; then
        pass "$_m: the node closes the connection"
    else
        fail "$_m: the node closes the connection" "$(cat "$F/$_m")"
    fi
    _fp=$(field fingerprint "$_m")
    if grep -F "($_fp)" "$LOG1" | grep -qF "$_why"; then pass "$_m: the reason is logged ($_why)"; else
        fail "$_m: the reason is logged ($_why)" "$(grep -F "($_fp)" "$LOG1" | tail -n 3)"; fi
    case "$(field node_error "$_m")" in
        *"$_why"*) pass "$_m: the node told the peer why" ;;
        *) fail "$_m: the node told the peer why" "$(field node_error "$_m")" ;;
    esac
    _slot=$(field slot "$_m")
    if [ -n "$_slot" ]; then
        check_rc "$_m: the entry is not stored" 1 tw n1 show place "$_slot"
    fi
    _d1=$(tw_digest n1)
    [ -n "$_d1" ] && [ "$_d1" = "$_d0" ] && pass "$_m: digest unchanged" || fail "$_m: digest unchanged" "$_d0 -> $_d1"
    evil "$_m.again" --netkey-file "$(tw_dir n1)/network.key" --seed "$_s" --mode hello --wait 3
    _again=$(field node_error "$_m.again")
    if [ "$_ban" = yes ]; then
        case "$_again" in
            *"kept off"*) pass "$_m: its key is kept off (reconnect refused after the handshake)" ;;
            *) fail "$_m: its key is kept off (reconnect refused after the handshake)" "$(cat "$F/$_m.again")" ;;
        esac
    else
        case "$_again" in
            *"kept off"*) echo "    note: $_m: the key is kept off afterwards" ;;
            *) echo "    note: $_m: the key is NOT kept off afterwards (a reconnect with it is accepted)" ;;
        esac
    fi
}

offence garbage "transport message failed authentication" note
offence empty "empty frame" note
offence oversize "more ids than TW_IDS_PER_MSG" yes
offence badsig "signature does not verify" yes
offence noncanon "length not in its shortest form" yes
offence foreign "entry of another network" yes
offence zbad "COMPRESSED message does not decompress" yes
offence znofeat "COMPRESSED message without the zstd feature" yes
offence zbomb "COMPRESSED message of undeclared or too large size" yes
offence znested "COMPRESSED message inside a COMPRESSED message" yes
offence negbig "NEG_REQ of more than 4194304 bytes (TW_NEG_MSG_MAX) in pieces" yes
offence negnofeat "NEG_PART from a peer that did not offer the negpart feature" yes
check_file "a misbehaving key is logged as kept off" "its key is kept off for 600 s" "$LOG1"

# ------------------------------------------------------------- flood of idle connections

PID1=$(tw_pid n1)
RSS0=$(tw_vm "$PID1" VmRSS)
"$EVIL" --connect "127.0.0.1:$P1" --bind 127.0.0.5 --mode idle --count 500 --hold 15 --reopen-ms 1000 >"$F/flood" 2>&1 &
FLOOD=$!
tw_track "$FLOOD"
sleep 1
check "during the flood: n2 publishes" tw n2 publish place burqin name_en=Burqin name_ar="برقين" place_kind=village \
    country=PS subdivision=PS-JEN area=west_bank
check "during the flood: n1 publishes" tw n1 publish group bristol-beit-jala name="Bristol Beit Jala Friends" \
    group_kind=friendship_group nation=england region=E12000009
if tw_wait_for 20 sh -c "'$TWIN' --data-dir '$(tw_dir n1)' show place burqin && '$TWIN' --data-dir '$(tw_dir n2)' show group bristol-beit-jala"; then
    pass "during the flood: each record reaches the other node"
else
    fail "during the flood: each record reaches the other node"
fi
RSS_MID=$(tw_vm "$PID1" VmRSS)
_i=0
while tw_alive "$FLOOD" && [ "$_i" -lt 300 ]; do sleep 0.1; _i=$((_i + 1)); done
wait "$FLOOD" 2>/dev/null
RSS1=$(tw_vm "$PID1" VmRSS)
HWM=$(tw_vm "$PID1" VmHWM)
sed 's/^/    flood: /' "$F/flood"
echo "    figure: n1 VmRSS before the flood $RSS0 KiB, during $RSS_MID KiB, after $RSS1 KiB; VmHWM $HWM KiB"
[ -n "$RSS1" ] && [ "$RSS1" -lt "$RSS_MAX_KB" ] && [ "$HWM" -lt "$RSS_MAX_KB" ] &&
    pass "n1's memory stays under 64 MiB through the flood" || fail "n1's memory stays under 64 MiB through the flood" "rss $RSS1 hwm $HWM"
OPENED=$(field opened flood)
FAST=$(field closed_fast flood)
LATE=$(field closed_late flood)
CONNECTS=$(field connects flood)
if [ "${CONNECTS:-0}" -ge 500 ] && [ "${FAST:-0}" -ge 480 ]; then
    pass "flood: connections beyond the per-address cap are closed at once ($FAST of $OPENED)"
else
    fail "flood: connections beyond the per-address cap are closed at once" "$(cat "$F/flood")"
fi
TIMEOUTS=$(grep "127.0.0.5:" "$LOG1" | grep -c "handshake not finished within 10 s")
REFUSED=$(grep "127.0.0.5:" "$LOG1" | grep -c "unauthenticated connections from 127.0.0.5 already")
echo "    figure: flood: $REFUSED refused at the per-address cap, $TIMEOUTS closed at the handshake timeout"
if [ "$TIMEOUTS" -ge 8 ] && [ "$TIMEOUTS" -le 16 ]; then
    pass "flood: at most 8 held at a time, each closed at the 10 s handshake timeout"
else
    fail "flood: at most 8 held at a time, each closed at the 10 s handshake timeout" "timeouts $TIMEOUTS late $LATE"
fi

# ------------------------------------------------------------- after the flood

if tw_start n3 --config "$CONF" --listen "127.0.0.1:$P3" --peer "127.0.0.1:$P1"; then pass "after the flood: a new node starts"; else fail "after the flood: a new node starts"; fi
if tw_wait_converged 20 n1 n2 n3; then pass "after the flood: the new node is accepted and converges (${TW_CONV_S} s)"; else
    fail "after the flood: the new node is accepted and converges" "$TW_CONV_DETAIL"; fi
evil hello2 --netkey-file "$(tw_dir n1)/network.key" --mode hello --wait 1
[ "$(field handshake hello2)" = ok ] && [ "$(field closed_by_node hello2)" = no ] &&
    pass "after the flood: a fresh identity is still accepted" || fail "after the flood: a fresh identity is still accepted" "$(cat "$F/hello2")"

bad=""
for n in n2 n3; do grep -q "misbehaved" "$(tw_log "$n")" && bad="$bad $n"; done
[ -z "$bad" ] && pass "the honest nodes are never reported misbehaving" || fail "the honest nodes are never reported misbehaving" "$bad"
bad=""
for n in n1 n2 n3; do tw_stop "$n" || bad="$bad $n:$TW_REAP_RC"; done
[ -z "$bad" ] && pass "every node stops with status 0" || fail "every node stops with status 0" "$bad"
tw_done
