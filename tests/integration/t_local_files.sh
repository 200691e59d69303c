#!/bin/sh
# The data directory and the config file against tricks and accidents
# (issue 11, items 8 and 11): symbolic links planted in the data directory,
# a file standing where the control socket goes, a data directory of
# another user, a config that is a directory, holds a NUL byte or a byte
# order mark, or holds the network key with a mode others can read.  Each
# is refused with a clear reason and touches nothing it should not.
. tests/integration/lib.sh

F=$TW_ROOT/files
mkdir -p "$F"

# start_fails DESC PATTERN ARGS...: twind exits 1 at start, saying PATTERN.
start_fails() {
    _d=$1; _p=$2; shift 2
    tw_run timeout 20 "$TWIND" "$@"
    if [ "$TW_RC" = 1 ] && grep -qF -- "$_p" "$TW_ERR"; then pass "$_d"; else
        fail "$_d" "expected exit 1 and: $_p"; tw__show_last; fi
}

# ------------------------------------------------ the lock file (item 8)
echo "precious data" >"$F/victim"
mkdir -m 700 "$TW_ROOT/d1"
ln -s "$F/victim" "$TW_ROOT/d1/twind.lock"
start_fails "a symbolic link at twind.lock is refused" "twind.lock is a symbolic link" --data-dir "$TW_ROOT/d1"
[ "$(cat "$F/victim")" = "precious data" ] && pass "the link's target is neither truncated nor written" ||
    fail "the link's target is neither truncated nor written" "$(cat "$F/victim")"
# A dangling link is not created through either.
rm "$TW_ROOT/d1/twind.lock"
ln -s "$F/made-by-twind" "$TW_ROOT/d1/twind.lock"
start_fails "a dangling symbolic link at twind.lock is refused" "is a symbolic link" --data-dir "$TW_ROOT/d1"
[ ! -e "$F/made-by-twind" ] && pass "no file is created at the link's target" || fail "no file is created at the link's target"

# -------------------------------------------------- key files (item 8)
mkdir -m 700 "$TW_ROOT/d2"
ln -s "$F/victim" "$TW_ROOT/d2/identity.key"
start_fails "a symbolic link at identity.key is refused" "identity.key is a symbolic link" --data-dir "$TW_ROOT/d2"
rm "$TW_ROOT/d2/identity.key"
ln -s "$F/newkey" "$TW_ROOT/d2/identity.key"
start_fails "a dangling symbolic link at identity.key is refused" "identity.key is a symbolic link" --data-dir "$TW_ROOT/d2"
[ ! -e "$F/newkey" ] && pass "no key is written through the link" || fail "no key is written through the link"
rm "$TW_ROOT/d2/identity.key"
ln -s "$F/victim" "$TW_ROOT/d2/identity.key.tmp"
if tw_start d2; then pass "a symbolic link at identity.key.tmp is replaced, not followed: twind starts"; else
    fail "a symbolic link at identity.key.tmp is replaced, not followed: twind starts"; fi
tw_stop d2
[ "$(cat "$F/victim")" = "precious data" ] && [ ! -L "$TW_ROOT/d2/identity.key" ] && [ -f "$TW_ROOT/d2/identity.key" ] &&
    pass "the new identity is a file of its own; the link's target is untouched" ||
    fail "the new identity is a file of its own; the link's target is untouched"

# ------------------------------------------- the socket path (item 8)
mkdir -m 700 "$TW_ROOT/d3"
echo "not a socket" >"$TW_ROOT/d3/twind.sock"
start_fails "a regular file at twind.sock: twind refuses to start, naming it" "twind.sock exists and is not a socket (a regular file)" \
    --data-dir "$TW_ROOT/d3"
[ "$(cat "$TW_ROOT/d3/twind.sock" 2>/dev/null)" = "not a socket" ] && pass "the file at twind.sock is not deleted" ||
    fail "the file at twind.sock is not deleted"
rm "$TW_ROOT/d3/twind.sock"
ln -s "$F/victim" "$TW_ROOT/d3/twind.sock"
start_fails "a symbolic link at twind.sock is refused" "is not a socket (a symbolic link)" --data-dir "$TW_ROOT/d3"
[ -L "$TW_ROOT/d3/twind.sock" ] && [ "$(cat "$F/victim")" = "precious data" ] && pass "the link and its target are left alone" ||
    fail "the link and its target are left alone"
rm "$TW_ROOT/d3/twind.sock"
# network.roots and the store are not read or written through links either.
mkdir -m 700 "$TW_ROOT/d5"
if tw_start d5; then tw_stop d5; fi
cp "$F/victim" "$F/victim.roots"
ln -s "$F/victim.roots" "$TW_ROOT/d5/network.roots"
start_fails "a symbolic link at network.roots is refused" "network.roots is a symbolic link" --data-dir "$TW_ROOT/d5"
rm "$TW_ROOT/d5/network.roots"
mv "$TW_ROOT/d5/store" "$F/elsewhere-store"
ln -s "$F/elsewhere-store" "$TW_ROOT/d5/store"
start_fails "a symbolic link at store is refused" "store is a symbolic link" --data-dir "$TW_ROOT/d5"
rm "$TW_ROOT/d5/store" && mv "$F/elsewhere-store" "$TW_ROOT/d5/store"
ln -sf "$F/victim" "$TW_ROOT/d5/store/lock.mdb"
start_fails "a symbolic link at store/lock.mdb is refused" "lock.mdb is a symbolic link" --data-dir "$TW_ROOT/d5"
[ "$(cat "$F/victim")" = "precious data" ] && pass "no link's target was written" || fail "no link's target was written"

# The socket of a twind killed with -9 is still cleared.
if tw_start d3; then pass "twind starts on the cleared directory"; else fail "twind starts on the cleared directory"; fi
tw_kill9 d3
[ -S "$TW_ROOT/d3/twind.sock" ] && pass "kill -9 leaves the socket behind" || fail "kill -9 leaves the socket behind"
if tw_start d3; then pass "the stale socket of a dead twind is removed at start"; else fail "the stale socket of a dead twind is removed at start"; fi
# A file put in the socket's place while twind runs is not removed at stop.
rm "$TW_ROOT/d3/twind.sock" && echo "mine" >"$TW_ROOT/d3/twind.sock"
tw_stop d3 && pass "twind stops cleanly" || fail "twind stops cleanly"
[ "$(cat "$TW_ROOT/d3/twind.sock" 2>/dev/null)" = "mine" ] && pass "a file at twind.sock is not removed at stop" ||
    fail "a file at twind.sock is not removed at stop"

# ---------------------------------- a data directory of another user (item 8)
if [ "$(id -u)" = 0 ]; then
    mkdir -m 700 "$TW_ROOT/d4"
    chown 65534 "$TW_ROOT/d4"
    start_fails "root refuses a data directory owned by another user" "is owned by uid 65534, not by this user (uid 0)" \
        --data-dir "$TW_ROOT/d4"
    [ -z "$(ls -A "$TW_ROOT/d4")" ] && pass "nothing is created in it" || fail "nothing is created in it" "$(ls -A "$TW_ROOT/d4")"
else
    mkdir -m 700 "$TW_ROOT/d4"
    echo "    note: not root: the other-owner case is tried on /tmp's owner instead"
    start_fails "a data directory owned by another user is refused" "not by this user" --data-dir /tmp
fi

# ---------------------------------------------------- config (item 11)
mkdir "$F/conf.d"
start_fails "--config naming a directory is refused" "is a directory, not a config file" --data-dir "$TW_ROOT/c1" --config "$F/conf.d"
printf 'log_level = warn\000listen = 127.0.0.1:1\n' >"$F/nul.conf"
start_fails "a config with a NUL byte is refused, naming the line" "nul.conf:1: NUL byte" --data-dir "$TW_ROOT/c1" --config "$F/nul.conf"
[ ! -e "$TW_ROOT/c1" ] && pass "a refused config creates no data directory" || fail "a refused config creates no data directory"
printf '\357\273\277log_level = warn\n' >"$F/bom.conf"
if tw_start c2 --config "$F/bom.conf"; then pass "a config starting with a UTF-8 byte order mark is read"; else
    fail "a config starting with a UTF-8 byte order mark is read"; fi
# lib.sh's --log-level debug comes after --config and wins; the setting was
# read if twind started at all.  Its own key works too:
tw_stop c2
KEY=$(tw_netkey c2)
tw_conf net "network_key = $KEY" >/dev/null
chmod 644 "$TW_ROOT/net.conf"
start_fails "a config holding network_key readable by others is refused" "sets network_key and is accessible by other users (mode 644)" \
    --data-dir "$TW_ROOT/c2" --config "$TW_ROOT/net.conf"
chmod 640 "$TW_ROOT/net.conf"
start_fails "... readable by the group too" "(mode 640)" --data-dir "$TW_ROOT/c2" --config "$TW_ROOT/net.conf"
chmod 600 "$TW_ROOT/net.conf"
if tw_start c2 --config "$TW_ROOT/net.conf"; then pass "the same config with mode 600 is accepted"; else fail "the same config with mode 600 is accepted"; fi
tw_stop c2
# Exactly TW_CONF_FILE_MAX (1 MiB) of config is read; one byte more is refused.
python3 -c 'import sys
n = 1 << 20
line = "#" * 63 + "\n"
open(sys.argv[1], "w").write(line * (n // 64))
open(sys.argv[2], "w").write(line * (n // 64) + "\n")' "$F/big.conf" "$F/bigger.conf"
if tw_start c3 --config "$F/big.conf"; then pass "a config of exactly 1 MiB is read"; else fail "a config of exactly 1 MiB is read"; fi
tw_stop c3
start_fails "a config of 1 MiB and one byte is refused" "bigger.conf:16385: file larger than 1048576 bytes" \
    --data-dir "$TW_ROOT/c3" --config "$F/bigger.conf"
start_fails "an endless config (/dev/zero) is refused at once" "/dev/zero:1: NUL byte" --data-dir "$TW_ROOT/c3" --config /dev/zero

tw_done
