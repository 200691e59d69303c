#!/bin/sh
# Propagation benchmark: prints figures, asserts nothing.
#
# 16 twind nodes on 127.0.0.1 in a random 4-regular graph (each node dials
# two others, picked from two random Hamiltonian cycles that share no edge,
# so every node has exactly four links).  The nodes withdraw their peer
# records, so no link is added by peer exchange, and reconcile only once an
# hour, so live push alone moves a new entry.  20 times: a new entry is
# published on a random node, and every node is polled over its control
# socket (show by id; a sweep every POLL_MS, default 1 ms, so the
# resolution is the time of one sweep) until all hold it.  Prints the median and
# the 99th percentile of the time until the last node has it, and for each
# node the copies it received per entry (the "received" counters of
# `twin peers --json`, before and after) beside its degree; then, over all
# nodes, the ids announced (IHAVE, push tree), the PRUNE and GRAFT sent and
# the bytes written per entry (all peer traffic of the trials, pings and
# reconciliation included).
#
#   sh contrib/bench-prop.sh [BUILD_DIR]     NODES=16 TRIALS=20 SEED=n POLL_MS=1 override
B=${1:-${B:-build}}
export B
NODES=${NODES:-16}
TRIALS=${TRIALS:-20}
SEED=${SEED:-$(od -An -N2 -tu2 /dev/urandom | tr -d ' ')}
POLL_MS=${POLL_MS:-1}
. tests/integration/lib.sh

echo "== propagation: $NODES nodes, random 4-regular graph (seed $SEED), live push only =="
PORTS=""
i=0
while [ "$i" -lt "$NODES" ]; do PORTS="$PORTS $(tw_free_port)"; i=$((i + 1)); done
port() { echo $PORTS | cut -d' ' -f$(($1 + 1)); }

tw_start p0 || { echo "  p0 did not start"; exit 1; }
NETKEY=$(tw_netkey p0)
tw_stop p0
CONF=$(tw_conf common "network_key = $NETKEY" "sync_interval = 3600" "outbound_target = 16" "log_level = info")
i=0
while [ "$i" -lt "$NODES" ]; do
    tw_start "p$i" --config "$CONF" --listen "127.0.0.1:$(port "$i")" || { echo "  p$i did not start"; exit 1; }
    tw "p$i" delete peer self >/dev/null || { echo "  p$i: cannot withdraw its peer record"; exit 1; }
    i=$((i + 1))
done

python3 - "$NODES" "$SEED" >"$TW_ROOT/graph" <<'EOF'
import random, sys
n, seed = int(sys.argv[1]), int(sys.argv[2])
rnd = random.Random(seed)
for _ in range(10000):
    c1, c2 = list(range(n)), list(range(n))
    rnd.shuffle(c1); rnd.shuffle(c2)
    e1 = [(c1[k], c1[(k + 1) % n]) for k in range(n)]
    e2 = [(c2[k], c2[(k + 1) % n]) for k in range(n)]
    und = {frozenset(e) for e in e1}
    if all(frozenset(e) not in und for e in e2) and len({frozenset(e) for e in e2}) == n:
        for a, b in e1 + e2:
            print(a, b)
        break
else:
    sys.exit("no graph found")
EOF
while read -r a b; do
    tw "p$a" peers add "127.0.0.1:$(port "$b")" >/dev/null || echo "  p$a: peers add failed"
done <"$TW_ROOT/graph"

all_degree4() {
    _j=0
    while [ "$_j" -lt "$NODES" ]; do tw_has_peers "p$_j" 4 || return 1; _j=$((_j + 1)); done
}
if tw_wait_for 60 all_degree4; then echo "  every node has 4 established links"; else echo "  warning: not every node reached 4 links"; fi
NAMES=""
i=0
while [ "$i" -lt "$NODES" ]; do NAMES="$NAMES p$i"; i=$((i + 1)); done
# shellcheck disable=SC2086
tw_wait_converged 30 $NAMES || echo "  warning: nodes did not converge before the trials:$TW_CONV_DETAIL"

python3 - "$TW_ROOT" "$NODES" "$TRIALS" "$SEED" "$POLL_MS" <<'EOF'
import importlib.util, random, socket, statistics, sys, time
root, n, trials, seed = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), int(sys.argv[4])
poll = float(sys.argv[5]) / 1000.0
spec = importlib.util.spec_from_file_location("ctlpoke", "tests/tools/ctlpoke.py")
cp = importlib.util.module_from_spec(spec)
spec.loader.exec_module(cp)
socks = [cp.connect("%s/p%d/twind.sock" % (root, i)) for i in range(n)]

def call(i, op, args):
    socks[i].sendall(cp.frame(cp.enc({"v": 1, "op": op, "args": args}, bytearray())))
    kind, val = cp.recv_frame(socks[i])
    if kind != "RESP":
        raise SystemExit("p%d: %s" % (i, kind))
    return val

def counters():
    out = []
    for i in range(n):
        conns = [c for c in call(i, "peers", {})["result"]["connections"] if c["state"] == "established"]
        push = lambda k: sum(c.get("push", {}).get(k, 0) for c in conns)
        out.append((len(conns), sum(c["received"] for c in conns), sum(c["stored"] for c in conns),
                    push("announced"), push("prunes_sent"), push("grafts_sent"), sum(c["bytes_out"] for c in conns),
                    sum(1 for c in conns if c.get("push", {}).get("eager", True))))
    return out

rnd = random.Random(seed)
before = counters()
lat_all, lat_first, sweeps = [], [], []
for t in range(trials):
    r = rnd.randrange(n)
    body = {"name_en": "Propagation Village %d" % t, "place_kind": "village", "country": "PS",
            "subdivision": "PS-NBS", "area": "west_bank"}
    t0 = time.monotonic()
    res = call(r, "publish", {"kind": "place", "slot": "prop-%d-%d" % (seed, t), "body": body})
    if not res.get("ok"):
        raise SystemExit("publish failed: %r" % res)
    t_ack = time.monotonic()
    eid = res["result"]["id"]
    have = {r: t_ack}
    deadline = t0 + 10
    while len(have) < n and time.monotonic() < deadline:
        tick = time.monotonic()
        for i in range(n):
            if i not in have and call(i, "show", {"id": eid}).get("ok"):
                have[i] = time.monotonic()
        sweeps.append(time.monotonic() - tick)
        time.sleep(max(0, poll - (time.monotonic() - tick)))
    if len(have) < n:
        print("  trial %d: only %d of %d nodes had the entry after 10 s" % (t, len(have), n))
        continue
    lat_all.append(max(have.values()) - t_ack)
    lat_first.append(t_ack - t0)
time.sleep(0.5)
after = counters()
if lat_all:
    ms = sorted(x * 1000 for x in lat_all)
    p99 = ms[min(len(ms) - 1, int(round(0.99 * (len(ms) - 1))))]
    print("  publish acknowledged on the origin: median %.1f ms" % (statistics.median(lat_first) * 1000))
    print("  from acknowledgement to the entry on all %d nodes (%d trials; a poll sweep every %.0f ms, median sweep %.1f ms):"
          % (n, len(ms), poll * 1000, statistics.median(sweeps) * 1000))
    print("    median %.0f ms, p99 %.0f ms, min %.0f ms, max %.0f ms" % (statistics.median(ms), p99, ms[0], ms[-1]))
print("  copies received per node per entry (live push), against the node's degree:")
tot_recv = tot_stored = 0
for i in range(n):
    deg = after[i][0]
    recv = after[i][1] - before[i][1]
    stored = after[i][2] - before[i][2]
    tot_recv += recv
    tot_stored += stored
    print("    p%-2d degree %d: received %3d, stored %3d -> %.2f copies per entry" % (i, deg, recv, stored, recv / trials))
print("  all nodes: %.2f copies received per entry per node; %.2f stored (the origin stores its own)" %
      (tot_recv / trials / n, tot_stored / trials / n))
d = lambda k: sum(after[i][k] - before[i][k] for i in range(n))
print("  push tree: %.2f ids announced per entry per node; %d PRUNE and %d GRAFT sent during the trials; "
      "%d of %d link ends eager at the end" % (d(3) / trials / n, d(4), d(5), sum(a[7] for a in after), sum(a[0] for a in after)))
print("  bytes written by all nodes: %.0f per entry per node (%d in all)" % (d(6) / trials / n, d(6)))
EOF
echo "== stopping =="
i=0
while [ "$i" -lt "$NODES" ]; do tw_stop "p$i" || echo "  p$i exit status $TW_REAP_RC"; i=$((i + 1)); done
