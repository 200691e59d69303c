#!/bin/sh
# Checks that the documentation keeps up with the code: man pages render
# without warnings, and every subcommand, flag, setting, limit, error code and
# control operation and wire message type the code has is documented.  Then
# runs the demo and checks that its three nodes converged.
# Usage: sh tests/integration/t_docs.sh [BUILD_DIR]   (B from tests/run.sh)
set -u
cd "$(dirname "$0")/../.." || exit 1
B=${1:-${B:-build}}
PROTO=proto/PROTOCOL.md
fails=0
pass() { echo "PASS: $*"; }
fail() { echo "FAIL: $*"; fails=$((fails + 1)); }

# Man page source with escapes removed, so "\-\-data\-dir" reads "--data-dir".
plain() { sed 's/\\f[BIRP]//g; s/\\(lq/"/g; s/\\(rq/"/g; s/\\//g' "$1"; }

# ---- man pages render cleanly
if command -v groff >/dev/null 2>&1; then
    for m in contrib/man/*.[1-8]; do
        w=$(groff -man -ww -Tutf8 "$m" 2>&1 >/dev/null)
        if [ -z "$w" ]; then pass "groff -ww $m"; else fail "groff -ww $m: $w"; fi
    done
else
    echo "note: groff not installed; man pages not rendered"
fi

# ---- twin subcommands in twin.1
subs=$("$B/twin" --help 2>/dev/null | sed -n '/^Subcommands:/,/^$/s/^  \([a-z][a-z-]*\)  .*/\1/p')
[ -n "$subs" ] || fail "no subcommands found in '$B/twin --help'"
missing=""
for s in $subs; do
    plain contrib/man/twin.1 | grep -q "twin $s" || missing="$missing $s"
done
if [ -z "$missing" ]; then pass "twin.1 names every subcommand of twin --help ($(echo "$subs" | wc -w))"
else fail "twin.1 lacks subcommands:$missing"; fi

# ---- twind flags in twind.8
flags=$("$B/twind" --help 2>/dev/null | grep -oE '(^|[ ,])--?[a-zA-Z][a-zA-Z-]*' | tr -d ' ,' | sort -u)
[ -n "$flags" ] || fail "no flags found in '$B/twind --help'"
missing=""
for f in $flags; do
    plain contrib/man/twind.8 | grep -qF -- "$f" || missing="$missing $f"
done
if [ -z "$missing" ]; then pass "twind.8 names every flag of twind --help ($(echo "$flags" | wc -w))"
else fail "twind.8 lacks flags:$missing"; fi

# ---- config keys in twind.conf.5 (each with an entry of its own) and in the sample
keys=$(grep -o 'strcmp(key, "[a-z_]*")' daemon/config.c | sed 's/.*"\(.*\)".*/\1/')
[ -n "$keys" ] || fail "no config keys found in daemon/config.c"
missing=""; missing_s=""
for k in $keys; do
    grep -qE "^\.BI? $k( |$)" contrib/man/twind.conf.5 || missing="$missing $k"
    grep -qE "^#?$k = " contrib/twind.conf.sample || missing_s="$missing_s $k"
done
if [ -z "$missing" ]; then pass "twind.conf.5 documents every key of config.c ($(echo "$keys" | wc -w))"
else fail "twind.conf.5 lacks keys:$missing"; fi
if [ -z "$missing_s" ]; then pass "twind.conf.sample shows every key of config.c"
else fail "twind.conf.sample lacks keys:$missing_s"; fi

# ---- limits, error codes, control operations and wire messages in PROTOCOL.md
# Every limit is in limits.h; the protocol modules' headers keep only
# format constants (lengths of fields, version bytes), documented too.
for h in include/twin/limits.h include/twin/session.h include/twin/wire.h include/twin/sync.h \
         include/twin/negentropy.h include/twin/plumtree.h; do
    consts=$(sed -n 's/^#define \(TW_[A-Z0-9_]*\) .*/\1/p' "$h" | sort -u)
    if [ "$h" = include/twin/limits.h ] && [ -z "$consts" ]; then fail "no constants found in $h"; continue; fi
    [ -z "$consts" ] && continue
    missing=""
    for c in $consts; do grep -qF "\`$c\`" "$PROTO" || missing="$missing $c"; done
    if [ -z "$missing" ]; then pass "PROTOCOL.md lists every constant of $h ($(echo "$consts" | wc -w))"
    else fail "PROTOCOL.md lacks constants of $h:$missing"; fi
done

codes=$(sed -n 's/^ *\(TW_[A-Z0-9]*\) *= *\(-*[0-9]*\),.*/\2:\1/p' include/twin/err.h)
missing=""
for c in $codes; do
    n=${c%%:*}; name=${c#*:}
    grep -qF "| $n | \`$name\` |" "$PROTO" || missing="$missing $name($n)"
done
if [ -z "$missing" ]; then pass "PROTOCOL.md lists every error code of err.h with its number ($(echo "$codes" | wc -w))"
else fail "PROTOCOL.md lacks error codes:$missing"; fi

ops=$(grep -oE '\{ "[a-z_]+", op_[a-z_]+ \}' daemon/ops.c | sed 's/{ "\([a-z_]*\)".*/\1/')
[ -n "$ops" ] || fail "no operations found in daemon/ops.c's dispatch table"
missing=""
for o in $ops; do grep -qF "#### \`$o\`" "$PROTO" || missing="$missing $o"; done
if [ -z "$missing" ]; then pass "PROTOCOL.md documents every control operation ($(echo "$ops" | wc -w))"
else fail "PROTOCOL.md lacks operations:$missing"; fi

# Each message type of wire.h, with its number, as a row of the message table.
types=$(sed -n 's/^ *TW_WIRE_\([A-Z_]*\) *= *\([0-9]*\),.*/\2:\1/p' include/twin/wire.h)
[ -n "$types" ] || fail "no message types found in include/twin/wire.h"
missing=""
for t in $types; do
    n=${t%%:*}; name=${t#*:}
    grep -qF "| $n | \`$name\` |" "$PROTO" || missing="$missing $name($n)"
done
if [ -z "$missing" ]; then pass "PROTOCOL.md documents every wire message type with its number ($(echo "$types" | wc -w))"
else fail "PROTOCOL.md lacks wire message types:$missing"; fi

# ---- the sample config, every example uncommented, is accepted by twind
# Every line is parsed; to keep the node off the network, --listen (which
# overrides the sample's) takes a free port on 127.0.0.1 and a last
# outbound_target = 0 keeps it from dialling the example peers.
T=$(mktemp -d /tmp/twdocs.XXXXXX) || exit 1
PID=
cleanup() {
    [ -n "$PID" ] && kill -KILL "$PID" 2>/dev/null
    rm -rf "$T"
}
trap cleanup EXIT
sed -n 's/^#\([a-z_]* = .*\)$/\1/p' contrib/twind.conf.sample | grep -v -e '_\.\.\.$' -e '^data_dir' >"$T/twind.conf"
nsettings=$(wc -l <"$T/twind.conf")
echo "outbound_target = 0" >>"$T/twind.conf"
port=$(python3 -c 'import socket
s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])' 2>/dev/null) ||
    port=$((20000 + $(od -An -N2 -tu2 /dev/urandom) % 40000))
"$B/twind" -c "$T/twind.conf" -d "$T/node" --listen "127.0.0.1:$port" 2>"$T/log" &
PID=$!
i=0
while [ ! -S "$T/node/twind.sock" ] && kill -0 "$PID" 2>/dev/null && [ "$i" -lt 50 ]; do
    sleep 0.1; i=$((i + 1))
done
kill -TERM "$PID" 2>/dev/null
i=0
while kill -0 "$PID" 2>/dev/null && [ "$i" -lt 50 ]; do sleep 0.1; i=$((i + 1)); done
wait "$PID"; rc=$?
PID=
if [ "$rc" = 0 ] && grep -q "started" "$T/log"; then
    pass "twind accepts contrib/twind.conf.sample with every example uncommented ($nsettings settings)"
else
    fail "twind refused the uncommented sample config (exit $rc): $(cat "$T/log")"
fi

# ---- the systemd unit (only where systemd-analyze exists)
if command -v systemd-analyze >/dev/null 2>&1; then
    mkdir -p "$T/man/man1" "$T/man/man5" "$T/man/man8"
    cp contrib/man/*.1 "$T/man/man1/"; cp contrib/man/*.5 "$T/man/man5/"; cp contrib/man/*.8 "$T/man/man8/"
    case $B in /*) bin=$B/twind ;; *) bin=$(pwd)/$B/twind ;; esac
    sed "s|^ExecStart=/usr/local/bin/twind|ExecStart=$bin|" contrib/twind.service >"$T/twind.service"
    if out=$(MANPATH="$T/man" timeout 60 systemd-analyze verify "$T/twind.service" 2>&1); then
        pass "systemd-analyze verify contrib/twind.service"
    else
        fail "systemd-analyze verify contrib/twind.service: $out"
    fi
else
    echo "note: systemd-analyze not installed; unit not verified"
fi

# ---- the demo
out=$(timeout 60 sh contrib/demo.sh "$B" 2>&1); rc=$?
if [ "$rc" = 0 ]; then pass "contrib/demo.sh exits 0"; else fail "contrib/demo.sh exited $rc"; echo "$out" | tail -n 30; fi
if echo "$out" | grep -q "Abu Dis"; then pass "demo output shows Abu Dis"; else fail "demo output lacks Abu Dis"; fi
if echo "$out" | grep -q "أبو ديس"; then pass "demo output shows أبو ديس"; else fail "demo output lacks the Arabic name"; fi
# Convergence: the demo prints one "digest NODE: HEX" line per node after
# its wait and twin sync --wait; all three must be there and equal.
digests=$(echo "$out" | sed -n 's/^digest \(hub\|camden\|abu-dis\): \([0-9a-f]\{64\}\)$/\1 \2/p')
nodes=$(echo "$digests" | awk 'NF == 2 { print $1 }' | sort -u | wc -l)
distinct=$(echo "$digests" | awk 'NF == 2 { print $2 }' | sort -u | wc -l)
if echo "$out" | grep -q '^converged: 3 nodes' && [ "$nodes" = 3 ] && [ "$distinct" = 1 ]; then
    pass "demo output shows the three nodes converged (one digest, $(echo "$digests" | awk 'NR == 1 { print substr($2, 1, 16) }')...)"
else
    fail "demo output does not show three converged nodes ($nodes nodes, $distinct distinct digests)"
fi
if echo "$out" | grep -q 'established'; then pass "demo output shows the hub's established peer connections"
else fail "demo output lacks the hub's peer connections"; fi

[ "$fails" = 0 ]
