#!/bin/sh
# Three real twind nodes on 127.0.0.1 replicating one registry:
#   hub        a national twinning network hub; listens, and lists the groups,
#              places and links it knows of (contrib/sample-registry.json);
#   camden     a UK association (Camden Abu Dis Friendship Association);
#              dials the hub, publishes its group and its link;
#   abu-dis    the twinning committee of the Abu Dis municipality; dials the
#              hub, publishes its own place and its side of the link.
# The hub's first invitation makes it the network's root; Camden joins with
# it and the hub vouches for Camden; Camden invites the Abu Dis committee and
# vouches for it in turn (twin invite, join, vouch: nothing is copied by
# hand).  The demo waits until the three digests are equal (at most 10 s), runs
# `twin sync --wait` on one node, prints the hub's view, stops every node by
# pid and removes the temporary directories, whatever happens.
#
# Usage: sh contrib/demo.sh [BUILD_DIR]     (run by `make demo`)
# Exits 0 if every step worked.  Needs the built twind and twin; python3, if
# present, finds a free port (without it, the port is drawn at random).
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
NODES="hub camden abu-dis"
PIDS=""
cleanup() {
    for p in $PIDS; do kill -TERM "$p" 2>/dev/null; done
    for p in $PIDS; do
        i=0
        while kill -0 "$p" 2>/dev/null && [ "$i" -lt 30 ]; do sleep 0.1; i=$((i + 1)); done
        kill -KILL "$p" 2>/dev/null
    done
    rm -rf "$T"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

twin() { node=$1; shift; "$TWIN_BIN" --data-dir "$T/$node" "$@"; }
step() { printf '\n==== %s\n' "$*"; }
fail() {
    echo "demo: FAILED: $*" >&2
    for n in $NODES; do
        [ -f "$T/$n.log" ] && { echo "---- twind log of $n" >&2; cat "$T/$n.log" >&2; }
    done
    exit 1
}
free_port() {
    python3 -c 'import socket
s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])' 2>/dev/null ||
        echo $((20000 + $(od -An -N2 -tu2 /dev/urandom) % 40000))
}
# start NAME ARGS...: starts twind on $T/NAME, waits for its control socket.
start() {
    name=$1; shift
    "$TWIND" --data-dir "$T/$name" "$@" 2>"$T/$name.log" &
    pid=$!
    PIDS="$PIDS $pid"
    eval "PID_$(echo "$name" | tr -- - _)=$pid"
    i=0
    until twin "$name" status >/dev/null 2>&1; do
        i=$((i + 1))
        [ "$i" -le 50 ] || fail "twind ($name) did not answer within 5 s"
        kill -0 "$pid" 2>/dev/null || fail "twind ($name) exited at start"
        sleep 0.1
    done
}
# The plain output of twin status and twin digest is "name  value" lines.
field() { sed -n "s/^$1 *//p"; }
digest() { twin "$1" digest | field digest; }
entries() { twin "$1" digest | field entries; }

HUB_PORT=$(free_port)
HUB=127.0.0.1:$HUB_PORT
# Each node serves its web interface on a port of its own (the default,
# 8427, would go to the first node only).
HUB_HTTP=127.0.0.1:$(free_port)

step "Starting the hub (national twinning network hub), listening on $HUB"
start hub --listen "$HUB" --http "$HUB_HTTP"
twin hub status || fail "twin status (hub)"

step "The hub lists the groups, places and links it knows of ($(basename "$SAMPLE"))"
twin hub import "$SAMPLE" || fail "twin import (hub)"

admitted() { twin "$1" status | field admission | grep -q '^admitted'; }
wait_admitted() {
    i=0
    until admitted "$1"; do
        i=$((i + 1))
        [ "$i" -le 100 ] || fail "$1 not admitted after 10 s"
        sleep 0.1
    done
}

step "The hub invites the Camden association (its first invitation makes it the network's root)"
CODE1=$(twin hub invite --expires 1h) || fail "twin invite (hub)"
echo "$CODE1"

step "Starting the Camden association; it joins with the code and dials the hub"
start camden --http "127.0.0.1:$(free_port)"
twin camden join "$CODE1" --name "Camden Abu Dis Friendship Association" || fail "twin join (camden)"
CAMDEN_KEY=$(twin camden status | field node)

step "The hub vouches for Camden (the command twin join printed)"
twin hub vouch "$CAMDEN_KEY" --name "Camden Abu Dis Friendship Association" || fail "twin vouch (hub)"
wait_admitted camden
twin camden status | grep '^admission'

step "Camden invites the Abu Dis committee (the hub's address), which joins"
CODE2=$(twin camden invite --address "$HUB" --expires 1h) || fail "twin invite (camden)"
start abu-dis --http "127.0.0.1:$(free_port)"
twin abu-dis join "$CODE2" --name "Abu Dis Twinning Committee" || fail "twin join (abu-dis)"
ABUDIS_KEY=$(twin abu-dis status | field node)
case $CAMDEN_KEY$ABUDIS_KEY in twk_*twk_*) ;; *) fail "cannot read the node keys from twin status" ;; esac
twin camden vouch "$ABUDIS_KEY" --name "Abu Dis Twinning Committee" || fail "twin vouch (camden)"
wait_admitted abu-dis

step "twin members (on the hub): root, Camden at depth 1, Abu Dis at depth 2"
twin hub members || fail "twin members"

step "The Camden association publishes its group and its link"
twin camden publish group main name="Camden Abu Dis Friendship Association" \
    group_kind=friendship_group nation=england region=E12000007 local_authority=Camden \
    formal_status=council_pact founded=1984 || fail "twin publish group (camden)"
twin camden publish link abu-dis group=main place="$ABUDIS_KEY/abu-dis" \
    formality=formal_twinning status=active since=1984 \
    activities="youth exchanges;school links;olive harvest visits" || fail "twin publish link (camden)"

step "The Abu Dis municipality's twinning committee publishes its place and its side of the link"
twin abu-dis publish place abu-dis name_en="Abu Dis" name_ar="أبو ديس" other_names="Abu Deis" \
    place_kind=town country=PS subdivision=PS-JEM area=west_bank committee="$ABUDIS_KEY" \
    || fail "twin publish place (abu-dis)"
twin abu-dis publish link camden place=abu-dis group="$CAMDEN_KEY/main" \
    formality=formal_twinning status=active since=1984 || fail "twin publish link (abu-dis)"

step "Waiting until the three nodes hold the same entries (at most 10 s)"
# Every node has published by now, so the registry is complete once the
# three digests agree and no connection has anything left to receive.
i=0
while :; do
    d1=$(digest hub) && d2=$(digest camden) && d3=$(digest abu-dis) || fail "twin digest"
    [ "$d1" = "$d2" ] && [ "$d2" = "$d3" ] && break
    i=$((i + 1))
    [ "$i" -le 100 ] || fail "not converged after 10 s: $d1 $d2 $d3"
    sleep 0.1
done
echo "converged: 3 nodes, $(entries hub) entries each, after about $((i / 10)).$((i % 10)) s"

step "twin sync --wait on the Camden node (a reconciliation with the hub, on demand)"
twin camden sync --wait --timeout 10 || fail "twin sync --wait (camden)"

for n in $NODES; do echo "digest $n: $(digest "$n")"; done

step "The hub's view: twin list group"
twin hub list group || fail "twin list group"
step "twin list place"
out=$(twin hub list place) || fail "twin list place"
printf '%s\n' "$out"
case $out in *"Abu Dis"*) ;; *) fail "the committee's place Abu Dis did not reach the hub" ;; esac
step "twin list link"
twin hub list link || fail "twin list link"
step "twin stats"
twin hub stats || fail "twin stats"
step "twin peers"
twin hub peers || fail "twin peers"

step "The hub's web interface, for volunteers who do not use a terminal"
twin hub ui --no-open 2>/dev/null | sed 's/#.*/#<one-time token>/' ||
    echo "(twin ui: see twin ui --help)"

step "Stopping the three nodes (SIGTERM by pid)"
for n in $NODES; do
    eval "pid=\$PID_$(echo "$n" | tr -- - _)"
    kill -TERM "$pid" 2>/dev/null
    i=0
    while kill -0 "$pid" 2>/dev/null; do
        i=$((i + 1))
        [ "$i" -le 50 ] || fail "twind ($n) did not stop within 5 s"
        sleep 0.1
    done
    wait "$pid"
    rc=$?
    [ "$rc" = 0 ] || fail "twind ($n) exited with status $rc"
    echo "twind ($n) stopped cleanly (exit status 0)"
done
PIDS=""

step "The hub's log"
cat "$T/hub.log"
echo
echo "Demo finished; removing $T."
