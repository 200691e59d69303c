#!/bin/sh
# A tour of one twind node: start it on a throw-away data directory, publish
# a small sample registry (contrib/sample-registry.json, plus one record with
# `twin publish`), query it, stop the node and clean up.
#
# Usage: sh contrib/demo.sh [BUILD_DIR]     (run by `make demo`)
# Exits 0 if every step worked.  Needs only the built twind and twin.
set -u
B=${1:-build}
HERE=$(cd "$(dirname "$0")" && pwd)
SAMPLE=$HERE/sample-registry.json
TWIND=$B/twind
TWIN_BIN=$B/twin
for f in "$TWIND" "$TWIN_BIN"; do
    [ -x "$f" ] || { echo "demo: $f not found; run 'make' first" >&2; exit 1; }
done

T=$(mktemp -d /tmp/twdemo.XXXXXX) || exit 1
PID=
cleanup() {
    if [ -n "$PID" ] && kill -0 "$PID" 2>/dev/null; then
        kill -TERM "$PID" 2>/dev/null
        sleep 1
        kill -KILL "$PID" 2>/dev/null
    fi
    rm -rf "$T"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

DATA=$T/node
twin() { "$TWIN_BIN" --data-dir "$DATA" "$@"; }
step() { printf '\n==== %s\n' "$*"; }
fail() { echo "demo: FAILED: $*" >&2; echo "---- twind log" >&2; cat "$T/twind.log" >&2; exit 1; }

step "Starting one twind node on $DATA"
"$TWIND" --data-dir "$DATA" 2>"$T/twind.log" &
PID=$!
# Wait for the control socket, at most 5 seconds.
i=0
until twin status >/dev/null 2>&1; do
    i=$((i + 1))
    [ "$i" -le 50 ] || fail "twind did not answer within 5 s"
    kill -0 "$PID" 2>/dev/null || fail "twind exited at start"
    sleep 0.1
done
twin status || fail "twin status"

step "Importing the sample registry ($(basename "$SAMPLE")): UK groups, Palestinian places, links"
twin import "$SAMPLE" || fail "twin import"

step "Publishing one more group with twin publish"
twin publish group swansea-friends name="Swansea Palestine Friendship Group" \
    group_kind=friendship_group nation=wales region=W92000004 seeking_partner=yes \
    || fail "twin publish"

step "twin list group"
twin list group || fail "twin list group"

step "twin list place"
out=$(twin list place) || fail "twin list place"
printf '%s\n' "$out"
case $out in *"Abu Dis"*) ;; *) fail "the imported place Abu Dis is not listed" ;; esac

step "twin list link"
twin list link || fail "twin list link"

step "Places still seeking a partner: twin list place seeking_partner=true"
twin list place seeking_partner=true || fail "twin list place seeking_partner=true"

step "twin search \"abu deis\" (spellings fold together)"
twin search "abu deis" || fail "twin search"

step "twin search ساحور (Arabic text)"
twin search ساحور || fail "twin search (Arabic)"

step "twin stats"
twin stats || fail "twin stats"

step "twin digest"
twin digest || fail "twin digest"

step "Stopping twind (SIGTERM to pid $PID)"
kill -TERM "$PID"
i=0
while kill -0 "$PID" 2>/dev/null; do
    i=$((i + 1))
    [ "$i" -le 50 ] || fail "twind did not stop within 5 s"
    sleep 0.1
done
wait "$PID"
rc=$?
PID=
[ "$rc" = 0 ] || fail "twind exited with status $rc"
echo "twind stopped cleanly (exit status 0)"

step "twind log"
cat "$T/twind.log"
echo
echo "Demo finished; removing $T."
