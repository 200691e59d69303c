#!/usr/bin/env python3
"""Counts TCP connections made to the addresses it listens on.

usage: conncount.py --seconds S --out FILE HOST:PORT...

Listens on every HOST:PORT given ([::1]:PORT for IPv6; an address that
cannot be bound is reported as "unbound" and skipped), accepts and closes
every connection, and keeps FILE up to date with a JSON object
{"HOST:PORT": count, ..., "unbound": [...]}.  Exits after S seconds (or on
SIGTERM), so a test cannot leave it behind.  Used to prove that a node
never dials an address another node's peer record names when that
address's class is not allowed.
"""
import json
import os
import select
import signal
import socket
import sys
import time


def main(argv):
    if len(argv) < 5 or argv[0] != "--seconds" or argv[2] != "--out":
        print(__doc__, file=sys.stderr)
        return 2
    seconds, out, addrs = float(argv[1]), argv[3], argv[4:]
    counts, socks, unbound = {}, {}, []
    for a in addrs:
        host, port = a.rsplit(":", 1)
        fam = socket.AF_INET6 if host.startswith("[") else socket.AF_INET
        host = host.strip("[]")
        s = socket.socket(fam, socket.SOCK_STREAM)
        s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            s.bind((host, int(port)))
            s.listen(64)
        except OSError:
            unbound.append(a)
            s.close()
            continue
        socks[s] = a
        counts[a] = 0

    def write():
        tmp = out + ".tmp"
        with open(tmp, "w") as f:
            json.dump(dict(counts, unbound=unbound), f)
        os.replace(tmp, out)

    stop = [False]
    signal.signal(signal.SIGTERM, lambda *_: stop.__setitem__(0, True))
    write()
    end = time.monotonic() + seconds
    while not stop[0] and time.monotonic() < end and socks:
        r, _, _ = select.select(list(socks), [], [], 0.2)
        for s in r:
            try:
                c, _ = s.accept()
                c.close()
                counts[socks[s]] += 1
                write()
            except OSError:
                pass
    write()
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
