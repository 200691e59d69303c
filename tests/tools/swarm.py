#!/usr/bin/env python3
"""Many twind nodes on loopback, under churn: does every live node converge?

usage: swarm.py --bin DIR --root DIR [options]

Starts N real twind processes, node i listening on its own loopback address
127.77.X.Y (a port probed free) and dialling out from it (setting bind), so
that limits per source address apply per node as between machines on the
internet, all holding one network key, in a network
with one root (node 0) that vouches for every other node's key, as an
association admits its members.  Every node has learn_loopback = yes and is
told ONE seed address (a node started before it; node 0 gets a random
other), so every other link comes from `peer` records learnt through the
network.  Then:

  form    wait (bounded, --form seconds) until every node holds every
          vouch and peer record (one digest);
  churn   for --churn-time seconds: every --minute seconds, --churn of the
          nodes (10 % by default) are stopped (--kill9 of them with
          SIGKILL, the others with SIGTERM) and started again after a
          random time down (0.5 s to --down s); meanwhile an entry is
          published every --publish-every seconds at a random live node with
          `twin publish`; only entries whose publish was acknowledged count;
  settle  every stopped node is started again and the run waits (bounded,
          --settle seconds) until every node holds every acknowledged entry
          and all report one digest.

It prints figures, asserts no time: for each entry the time from its
acknowledgement until every node live at that moment held it (median, p99;
a poll sweep of every live node over its control socket, so the
resolution is one sweep, printed), copies received per entry per node and
bytes per node per entry (the `totals` of `peers`, summed over each node's
lives), how the entries stored from peers came (live push, announcement
then WANT, the first reconciliation of a connection, a later periodic one:
the `push_tree` counters of `peers`), established connections per node
(sampled during churn and at the end), dials per node, CPU seconds and
peak resident memory (VmHWM) per node (the push tree counters also summed
over the nodes never stopped alone).  --churn 0 stops no node; --calm S
waits S seconds between forming and the first publish.

Exit status: 0 if every node ended with every acknowledged entry and one
digest; 1 if not (what is missing is printed); 2 for bad usage or a setup
failure.  Every process started is stopped by pid, on any exit; their pids
are also written to ROOT/pids, one a line, so a caller can stop them if this
tool itself is killed.  Logs stay in ROOT/sNNN.log.
"""
import argparse
import importlib.util
import json
import os
import random
import signal
import socket
import statistics
import subprocess
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
_spec = importlib.util.spec_from_file_location("ctlpoke", os.path.join(HERE, "ctlpoke.py"))
cp = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(cp)
cp.TIMEOUT = 20.0


def log(msg):
    print(msg, flush=True)


def pct(xs, p):
    xs = sorted(xs)
    if not xs:
        return float("nan")
    return xs[min(len(xs) - 1, int(round(p * (len(xs) - 1))))]


def free_port(ip):
    s = socket.socket()
    s.bind((ip, 0))
    port = s.getsockname()[1]
    s.close()
    return port


class Node:
    def __init__(self, sw, i):
        self.sw, self.i = sw, i
        self.name = "s%03d" % i
        self.dir = os.path.join(sw.root, self.name)
        self.logpath = os.path.join(sw.root, self.name + ".log")
        self.ip = "127.77.%d.%d" % (1 + i // 250, 1 + i % 250)
        self.port = free_port(self.ip)
        self.addr = "%s:%d" % (self.ip, self.port)
        self.proc = None
        self.up = False          # serving its control socket
        self.sock = None
        self.key = None
        self.conf = None
        self.lives = 0
        self.kills = 0
        # Sums over the lives that ended: totals of `peers`, CPU, memory.
        self.acc = {"received": 0, "bytes_in": 0, "bytes_out": 0, "established": 0, "dials": 0,
                    "got_pushed": 0, "got_announced": 0, "got_connect": 0, "got_later": 0,
                    "got_connect_raced": 0}
        self.cpu = 0.0
        self.hwm = 0

    def sockpath(self):
        return os.path.join(self.dir, "twind.sock")

    def start(self):
        lf = open(self.logpath, "ab")
        args = [self.sw.twind, "--data-dir", self.dir, "--http", "off"]
        if self.conf:
            args += ["--config", self.conf]
        self.proc = subprocess.Popen(args, stdin=subprocess.DEVNULL, stdout=lf, stderr=lf)
        lf.close()
        self.sw.remember_pid(self.proc.pid)
        self.up = False
        self.lives += 1

    def poll_up(self):
        """True once the control socket answers; False while starting."""
        if self.up:
            return True
        if self.proc is None or self.proc.poll() is not None:
            return False
        if not os.path.exists(self.sockpath()):
            return False
        try:
            r = self.call("status", {})
        except OSError:
            self.drop_sock()
            return False
        if r and r.get("ok"):
            self.up = True
        return self.up

    def drop_sock(self):
        if self.sock:
            try:
                self.sock.close()
            except OSError:
                pass
        self.sock = None

    def call(self, op, args):
        if self.sock is None:
            s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
            s.settimeout(cp.TIMEOUT)
            s.connect(self.sockpath())
            self.sock = s
        try:
            self.sock.sendall(cp.frame(cp.enc({"v": 1, "op": op, "args": args}, bytearray())))
            kind, val = cp.recv_frame(self.sock)
        except OSError:
            self.drop_sock()
            raise
        if kind != "RESP":
            self.drop_sock()
            raise OSError("%s: %s" % (self.name, kind))
        return val

    def proc_figures(self):
        """(cpu seconds, VmHWM KiB) of the running process, or None."""
        if not self.proc or self.proc.poll() is not None:
            return None
        try:
            with open("/proc/%d/stat" % self.proc.pid) as f:
                st = f.read().rsplit(")", 1)[1].split()
            cpu = (int(st[11]) + int(st[12])) / os.sysconf("SC_CLK_TCK")
            hwm = 0
            with open("/proc/%d/status" % self.proc.pid) as f:
                for line in f:
                    if line.startswith("VmHWM:"):
                        hwm = int(line.split()[1])
            return cpu, hwm
        except (OSError, IndexError, ValueError):
            return None

    def totals(self):
        try:
            r = self.call("peers", {})
            t = dict(r["result"]["totals"])
            # How entries stored from peers came (push tree counters).
            for k in ("got_pushed", "got_announced", "got_connect", "got_later", "got_connect_raced"):
                t[k] = r["result"].get("push_tree", {}).get(k, 0)
            return t, r["result"]["connections"]
        except (OSError, KeyError, TypeError):
            return None, None

    def bank(self):
        """Before this life ends: its counters into the sums."""
        t, _ = self.totals() if self.up else (None, None)
        if t:
            for k in self.acc:
                self.acc[k] += t.get(k, 0)
        f = self.proc_figures()
        if f:
            self.cpu += f[0]
            self.hwm = max(self.hwm, f[1])

    def stop(self, kill9, bounded=10.0):
        if not self.proc:
            return
        self.bank()
        self.drop_sock()
        self.up = False
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGKILL if kill9 else signal.SIGTERM)
            try:
                self.proc.wait(timeout=bounded)
            except subprocess.TimeoutExpired:
                log("  %s did not exit within %.0f s of SIGTERM: killed" % (self.name, bounded))
                self.proc.kill()
                self.proc.wait(timeout=bounded)
        if kill9:
            self.kills += 1
        self.sw.forget_pid(self.proc.pid)
        self.proc = None


class Swarm:
    def __init__(self, a):
        self.a = a
        self.root = os.path.abspath(a.root)
        self.twind = os.path.join(a.bin, "twind")
        self.twin = os.path.join(a.bin, "twin")
        self.rnd = random.Random(a.seed)
        self.pids = set()
        self.nodes = []

    def remember_pid(self, pid):
        self.pids.add(pid)
        self.write_pids()

    def forget_pid(self, pid):
        self.pids.discard(pid)
        self.write_pids()

    def write_pids(self):
        tmp = os.path.join(self.root, "pids.tmp")
        with open(tmp, "w") as f:
            for p in sorted(self.pids):
                f.write("%d\n" % p)
        os.replace(tmp, os.path.join(self.root, "pids"))

    def stop_all(self):
        for n in self.nodes:
            if n.proc and n.proc.poll() is None:
                n.drop_sock()
                n.proc.send_signal(signal.SIGTERM)
        t_end = time.monotonic() + 15
        for n in self.nodes:
            if n.proc:
                try:
                    n.proc.wait(timeout=max(0.1, t_end - time.monotonic()))
                except subprocess.TimeoutExpired:
                    n.proc.kill()
                    n.proc.wait()
                self.forget_pid(n.proc.pid)
                n.proc = None

    def twin_cmd(self, node, *args):
        return subprocess.run([self.twin, "--data-dir", node.dir] + list(args), stdin=subprocess.DEVNULL,
                              capture_output=True, text=True, timeout=60)

    def wait_up(self, nodes, secs):
        t_end = time.monotonic() + secs
        while time.monotonic() < t_end:
            if all(n.poll_up() for n in nodes):
                return True
            time.sleep(0.05)
        return all(n.poll_up() for n in nodes)

    # ------------------------------------------------------------ setup

    def setup(self):
        a = self.a
        os.makedirs(self.root, exist_ok=True)
        self.nodes = [Node(self, i) for i in range(a.nodes)]
        n0 = self.nodes[0]
        # Node 0 first, alone: its key becomes the root, its network key everyone's.
        n0.start()
        if not self.wait_up([n0], 30):
            raise SystemExit("setup: %s did not start (see %s)" % (n0.name, n0.logpath))
        st = n0.call("status", {})["result"]
        n0.key = st["node"]
        n0.stop(False)
        with open(os.path.join(n0.dir, "network.key")) as f:
            netkey = [l.strip() for l in f if l.strip() and not l.startswith("#")][0]
        for i, n in enumerate(self.nodes):
            seed = self.nodes[self.rnd.randrange(1, a.nodes)] if i == 0 else self.nodes[self.rnd.randrange(0, i)]
            lines = ["network_key = %s" % netkey, "root = %s" % n0.key, "learn_loopback = yes",
                     "listen = %s" % n.addr, "bind = %s" % n.ip, "peer = %s" % seed.addr, "log_level = %s" % a.log_level,
                     "sync_interval = %d" % a.sync_interval]
            lines += a.conf or []
            n.conf = os.path.join(self.root, n.name + ".conf")
            fd = os.open(n.conf, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
            with os.fdopen(fd, "w") as f:
                f.write("\n".join(lines) + "\n")
        log("  %d nodes on 127.77.x.y, root %s, each told one seed address" % (a.nodes, n0.key[:14]))
        # Start in batches (a machine with few cores), then vouch for each key at the root.
        batch = 16
        for k in range(0, a.nodes, batch):
            group = self.nodes[k:k + batch]
            for n in group:
                n.start()
            if not self.wait_up(group, 60):
                bad = [n.name for n in group if not n.poll_up()]
                raise SystemExit("setup: %s did not start" % " ".join(bad))
        for n in self.nodes[1:]:
            n.key = n.call("status", {})["result"]["node"]
            r = self.twin_cmd(n0, "vouch", n.key, "--name", "Swarm association %d" % n.i)
            if r.returncode != 0:
                raise SystemExit("setup: vouch for %s failed: %s" % (n.name, r.stderr.strip()))
        log("  all started; %d keys vouched for by the root" % (a.nodes - 1))

    # ----------------------------------------------------------- probes

    def digests(self, nodes):
        out = {}
        for n in nodes:
            try:
                r = n.call("digest", {})
                out[n.name] = (r["result"]["digest"], r["result"]["entries"])
            except (OSError, KeyError, TypeError):
                out[n.name] = None
        return out

    def converged(self, nodes):
        d = self.digests(nodes)
        vals = set(d.values())
        return len(vals) == 1 and None not in vals, d

    def degrees(self, nodes):
        out = []
        for n in nodes:
            _, conns = n.totals()
            if conns is not None:
                out.append(sum(1 for c in conns if c["state"] == "established"))
        return out

    # ------------------------------------------------------------ phases

    def form(self):
        t0 = time.monotonic()
        ok = False
        while time.monotonic() - t0 < self.a.form:
            ok, d = self.converged(self.nodes)
            if ok:
                break
            time.sleep(0.5)
        degs = self.degrees(self.nodes)
        if ok:
            log("  formed in %.1f s: one digest (%d entries) on all %d nodes"
                % (time.monotonic() - t0, next(iter(d.values()))[1], len(self.nodes)))
        else:
            log("  warning: not one digest after %.0f s of forming; going on" % self.a.form)
        self.print_degrees("connections per node after forming", degs)
        # What forming cost: every node learnt N-1 vouches and N peer records.
        dials, est, cpu = [], [], []
        for n in self.nodes:
            t, _ = n.totals()
            f = n.proc_figures()
            if t:
                dials.append(t["dials"] + n.acc["dials"])
                est.append(t["established"] + n.acc["established"])
            if f:
                cpu.append(f[0] + n.cpu)
        if dials and cpu:
            log("  forming, per node: dials median %.0f p99 %d max %d; connections established median %.0f max %d; "
                "CPU median %.2f s max %.2f s" % (statistics.median(dials), pct(dials, 0.99), max(dials),
                                                  statistics.median(est), max(est), statistics.median(cpu), max(cpu)))
            log("  FORM_DIALS nodes=%d median=%.0f p99=%d" % (len(self.nodes), statistics.median(dials),
                                                              pct(dials, 0.99)))
        return ok

    def print_degrees(self, what, degs):
        if degs:
            hist = {}
            for x in degs:
                hist[x] = hist.get(x, 0) + 1
            log("  %s: min %d, median %.0f, max %d  (degree:nodes %s)" % (
                what, min(degs), statistics.median(degs), max(degs),
                " ".join("%d:%d" % (k, hist[k]) for k in sorted(hist))))

    def churn(self):
        a = self.a
        nodes = self.nodes
        per_min = max(1, int(round(a.churn * a.nodes))) if a.churn > 0 else 0
        gap = a.minute / per_min if per_min else float("inf")   # one stop every gap seconds
        t0 = time.monotonic()
        next_stop = t0 + gap / 2
        next_pub = t0 + 0.5
        next_deg = t0 + a.minute / 2
        restarts = []                       # (time, node)
        pending = {}                        # id -> {"ack": t, "have": set(names), "node": name}
        self.acked = {}                     # id -> slot
        self.reach = []                     # seconds from ack to all live nodes
        self.publish_failed = 0
        self.stops = self.kill9s = 0
        self.churned = set()                # names of the nodes stopped during churn
        self.deg_samples = []
        sweeps = []
        k = 0
        # The counters from here on: forming (vouches, peer records) is not counted.
        for n in nodes:
            t, _ = n.totals()
            n.base = {key: n.acc[key] + (t or {}).get(key, 0) for key in n.acc}
        while True:
            now = time.monotonic()
            churning = now - t0 < a.churn_time
            if not churning and not restarts:
                break
            # Restarts due.
            for item in [r for r in restarts if r[0] <= now]:
                restarts.remove(item)
                item[1].start()
            if churning and now >= next_stop:
                next_stop += gap
                live = [n for n in nodes if n.proc and n.up and n not in [r[1] for r in restarts]]
                if len(live) > 1:
                    n = self.rnd.choice(live)
                    # Exactly the fraction asked for, spread evenly.
                    kill9 = int((self.stops + 1) * a.kill9) > int(self.stops * a.kill9)
                    n.stop(kill9)
                    self.churned.add(n.name)
                    self.stops += 1
                    self.kill9s += kill9
                    restarts.append((now + self.rnd.uniform(0.5, a.down), n))
            if churning and now >= next_pub:
                next_pub += a.publish_every
                live = [n for n in nodes if n.proc and n.up]
                if live:
                    n = self.rnd.choice(live)
                    slot = "swarm-%d-%d" % (a.seed, k)
                    k += 1
                    r = self.twin_cmd(n, "--json", "publish", "place", slot,
                                      "name_en=Swarm Village %d" % k, "place_kind=village", "country=PS",
                                      "subdivision=PS-NBS", "area=west_bank")
                    t_ack = time.monotonic()
                    try:
                        eid = json.loads(r.stdout)["id"] if r.returncode == 0 else None
                    except (ValueError, KeyError):
                        eid = None
                    if eid:
                        pending[eid] = {"ack": t_ack, "have": {n.name}}
                        self.acked[eid] = slot
                    else:
                        self.publish_failed += 1
            if churning and now >= next_deg:
                next_deg += a.minute / 2
                self.deg_samples += self.degrees([n for n in nodes if n.up])
            for n in nodes:
                n.poll_up()
            # One sweep: every pending entry on every live node that lacks it.
            ts = time.monotonic()
            live = [n for n in nodes if n.up]
            for eid in list(pending):
                p = pending[eid]
                for n in live:
                    if n.name in p["have"]:
                        continue
                    try:
                        if n.call("show", {"id": eid}).get("ok"):
                            p["have"].add(n.name)
                    except OSError:
                        pass
                if all(n.name in p["have"] for n in live if n.up):
                    self.reach.append(time.monotonic() - p["ack"])
                    del pending[eid]
            if pending:
                sweeps.append(time.monotonic() - ts)
            time.sleep(max(0.0, 0.05 - (time.monotonic() - ts)))
        self.pending_after_churn = len(pending)
        self.sweep_median = statistics.median(sweeps) if sweeps else 0
        log("  churn: %.0f s, %d stops (%d with SIGKILL), %d entries acknowledged (%d publishes failed), "
            "%d not yet on every live node when churn stopped" % (
                a.churn_time, self.stops, self.kill9s, len(self.acked), self.publish_failed, len(pending)))

    def settle(self):
        a = self.a
        for n in self.nodes:
            if not n.proc:
                n.start()
        if not self.wait_up(self.nodes, 60):
            log("  some nodes did not come back: %s" % " ".join(n.name for n in self.nodes if not n.up))
        t0 = time.monotonic()
        missing = {}
        ok = False
        while time.monotonic() - t0 < a.settle:
            missing = {}
            for n in self.nodes:
                for eid in self.acked:
                    try:
                        if not n.call("show", {"id": eid}).get("ok"):
                            missing.setdefault(n.name, []).append(eid)
                    except OSError:
                        missing.setdefault(n.name, []).append(eid)
            if not missing:
                ok, d = self.converged(self.nodes)
                if ok:
                    break
            time.sleep(0.5)
        self.settle_s = time.monotonic() - t0
        self.final_ok = ok and not missing
        if self.final_ok:
            log("  after churn: every acknowledged entry (%d) on all %d nodes and one digest, %.1f s after "
                "the last restart" % (len(self.acked), len(self.nodes), self.settle_s))
        else:
            for name in sorted(missing)[:10]:
                log("  %s lacks %d acknowledged entries (first %s)" % (name, len(missing[name]), missing[name][0][:16]))
            if not missing:
                _, d = self.converged(self.nodes)
                groups = {}
                for name, v in d.items():
                    groups.setdefault(v, []).append(name)
                for v, names in groups.items():
                    log("  digest %s (%s entries): %d nodes, e.g. %s" % (
                        v[0][:12] if v else "none", v[1] if v else "?", len(names), " ".join(names[:5])))
            log("  NOT converged within %.0f s after churn stopped" % a.settle)

    def report(self):
        a = self.a
        nodes = self.nodes
        self.print_degrees("connections per node during churn (sampled)", self.deg_samples)
        self.print_degrees("connections per node at the end", self.degrees(nodes))
        for n in nodes:
            n.bank()
            for key in n.acc:
                n.acc[key] -= n.base[key]
        ents = max(1, len(self.acked))
        if self.reach:
            ms = [x * 1000 for x in self.reach]
            log("  time from acknowledgement to the entry on every live node (%d entries during churn; poll "
                "sweep median %.0f ms): median %.0f ms, p99 %.0f ms, max %.0f ms" % (
                    len(ms), self.sweep_median * 1000, statistics.median(ms), pct(ms, 0.99), max(ms)))
        recv = [n.acc["received"] for n in nodes]
        bin_ = [n.acc["bytes_in"] for n in nodes]
        log("  copies received per entry per node: %.2f (all entries received by any node during churn and "
            "settle, pushes and fetches, over entries x nodes; node min %.2f, max %.2f)" % (
                sum(recv) / ents / len(nodes), min(recv) / ents, max(recv) / ents))
        log("  bytes received per node per entry: %.0f (median node %.0f, max %.0f; handshakes, reconciliation "
            "and keepalives included)" % (sum(bin_) / ents / len(nodes), statistics.median(bin_) / ents,
                                           max(bin_) / ents))
        gp, ga, gc, gl = (sum(n.acc[k] for n in nodes) for k in ("got_pushed", "got_announced", "got_connect", "got_later"))
        log("  entries stored from peers during churn and settle: %d by live push, %d by announcement (IHAVE, "
            "then WANT), %d by the first reconciliation of a connection (nodes back from a stop), %d by a later "
            "(periodic) one" % (gp, ga, gc, gl))
        log("  GOT pushed=%d announced=%d connect=%d later=%d" % (gp, ga, gc, gl))
        # Nodes never stopped were live for every entry: with the push tree
        # working, none of theirs came by a reconciliation.
        stayed = [n for n in nodes if n.name not in self.churned]
        sp, sa, sc, sl, sr = (sum(n.acc[k] for n in stayed) for k in ("got_pushed", "got_announced", "got_connect",
                                                                       "got_later", "got_connect_raced"))
        # A first reconciliation of a link formed while an entry spread may
        # fetch it before the tree brings it; raced: the tree brought it
        # after all (a push or an announcement of it, received later).
        log("  of which on the %d nodes never stopped: %d by live push, %d by announcement, %d by a first "
            "reconciliation (%d of them brought by the tree as well, after), %d by a later one" % (
                len(stayed), sp, sa, sc, sr, sl))
        log("  GOT_STAYED nodes=%d pushed=%d announced=%d connect=%d later=%d raced=%d" % (len(stayed), sp, sa, sc, sl, sr))
        dials = [n.acc["dials"] for n in nodes]
        est = [n.acc["established"] for n in nodes]
        log("  dials per node: median %.0f, max %d; connections established per node: median %.0f, max %d" % (
            statistics.median(dials), max(dials), statistics.median(est), max(est)))
        cpu = [n.cpu for n in nodes]
        hwm = [n.hwm / 1024 for n in nodes]
        log("  CPU per node (all its lives): median %.2f s, max %.2f s, all nodes %.1f s" % (
            statistics.median(cpu), max(cpu), sum(cpu)))
        log("  peak resident memory (VmHWM) per node: median %.1f MiB, max %.1f MiB" % (
            statistics.median(hwm), max(hwm)))


def main(argv):
    ap = argparse.ArgumentParser(description="many twind nodes on loopback under churn", add_help=True)
    ap.add_argument("--bin", required=True, help="directory holding twind and twin")
    ap.add_argument("--root", required=True, help="working directory (short: socket paths)")
    ap.add_argument("--nodes", type=int, default=30)
    ap.add_argument("--seed", type=int, default=None)
    ap.add_argument("--minute", type=float, default=60.0, help="seconds of one churn period")
    ap.add_argument("--churn", type=float, default=0.10, help="fraction of nodes stopped per period (0: none)")
    ap.add_argument("--kill9", type=float, default=0.3, help="fraction of stops by SIGKILL")
    ap.add_argument("--down", type=float, default=10.0, help="most seconds a stopped node stays down")
    ap.add_argument("--churn-time", type=float, default=300.0)
    ap.add_argument("--publish-every", type=float, default=2.0)
    ap.add_argument("--form", type=float, default=120.0, help="bound on forming, seconds")
    ap.add_argument("--settle", type=float, default=120.0, help="bound on convergence after churn, seconds")
    ap.add_argument("--sync-interval", type=int, default=60)
    ap.add_argument("--log-level", default="info")
    ap.add_argument("--calm", type=float, default=0.0, help="seconds to wait after forming, before publishing")
    ap.add_argument("--form-only", action="store_true", help="stop after forming (its figures only)")
    ap.add_argument("--conf", action="append", help="one more twind.conf line for every node")
    a = ap.parse_args(argv)
    if a.nodes < 2 or a.nodes > 1000 or a.down < 0.5 or a.minute <= 0 or a.churn < 0 or not 0 <= a.calm <= 600:
        ap.error("need 2 to 1000 nodes, --down >= 0.5, --minute > 0, --churn >= 0, --calm 0 to 600")
    if a.seed is None:
        a.seed = random.randrange(1 << 16)
    sw = Swarm(a)
    code = 2

    def on_signal(signum, frame):
        raise SystemExit(130)
    signal.signal(signal.SIGTERM, on_signal)
    signal.signal(signal.SIGINT, on_signal)
    try:
        log("== swarm: %d nodes, seed %d, %.0f%% stopped per %.0f s (%.0f%% SIGKILL), churn %.0f s ==" % (
            a.nodes, a.seed, a.churn * 100, a.minute, a.kill9 * 100, a.churn_time))
        sw.setup()
        formed = sw.form()
        if a.form_only:
            return 0 if formed else 1
        if a.calm > 0:
            log("  calm: %.1f s with no publish and no stop, for the links to settle" % a.calm)
            time.sleep(a.calm)
        sw.churn()
        sw.settle()
        sw.report()
        code = 0 if sw.final_ok else 1
    finally:
        sw.stop_all()
    return code


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
