#!/usr/bin/env python3
"""Helper server and clients for tests/integration/t_faultproxy.sh.

Server:
  echo_sink.py serve --port-file FILE [--mode echo|stall]
      Listens on 127.0.0.1 (free port, written atomically to FILE).  "echo"
      sends every byte back and half-closes after the client's FIN; "stall"
      accepts and never reads, to fill the proxy's queues.
Clients (each prints one line of key=value pairs and exits 0):
  echo_sink.py echo --port P --bytes N    send N bytes, FIN, read to the end
  echo_sink.py ping --port P [--count K]  one-byte round trips, minimum RTT
  echo_sink.py hold --port P --seconds S  one ping, then wait for a close
  echo_sink.py push --port P --seconds S  send as fast as possible for S s
Every blocking call has a timeout, so no client can hang a test.
"""
import argparse
import hashlib
import os
import socket
import socketserver
import sys
import threading
import time

IO_TIMEOUT_S = 20.0
BLOCK = 65536


class EchoHandler(socketserver.BaseRequestHandler):
    def handle(self):
        s = self.request
        s.settimeout(IO_TIMEOUT_S * 3)
        try:
            while True:
                data = s.recv(BLOCK)
                if not data:
                    break
                s.sendall(data)
            s.shutdown(socket.SHUT_WR)
        except OSError:
            pass


class StallHandler(socketserver.BaseRequestHandler):
    def handle(self):
        # Never reading makes the kernel buffers and then the proxy fill up.
        deadline = time.monotonic() + IO_TIMEOUT_S * 3
        while time.monotonic() < deadline:
            time.sleep(0.2)


class Server(socketserver.ThreadingTCPServer):
    daemon_threads = True
    allow_reuse_address = True


def write_atomic(path, text):
    tmp = "%s.tmp.%d" % (path, os.getpid())
    with open(tmp, "w") as f:
        f.write(text)
    os.replace(tmp, path)


def serve(args):
    handler = EchoHandler if args.mode == "echo" else StallHandler
    srv = Server(("127.0.0.1", 0), handler)
    write_atomic(args.port_file, "%d\n" % srv.server_address[1])
    srv.serve_forever()


def connect(port):
    s = socket.create_connection(("127.0.0.1", port), timeout=IO_TIMEOUT_S)
    s.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    return s


def payload(n):
    """Deterministic bytes that are not a repeating pattern."""
    out = bytearray()
    i = 0
    while len(out) < n:
        out += hashlib.sha256(b"faultproxy-%d" % i).digest() * 64
        i += 1
    return bytes(out[:n])


def echo(args):
    data = payload(args.bytes)
    s = connect(args.port)
    result = {"send": "ok"}

    def sender():
        try:
            s.sendall(data)
            s.shutdown(socket.SHUT_WR)
        except OSError as e:
            result["send"] = type(e).__name__

    t0 = time.monotonic()
    th = threading.Thread(target=sender, daemon=True)
    th.start()
    h = hashlib.sha256()
    got = 0
    end = "eof"
    try:
        while True:
            chunk = s.recv(BLOCK)
            if not chunk:
                break
            h.update(chunk)
            got += len(chunk)
    except socket.timeout:
        end = "timeout"
    except OSError as e:
        end = type(e).__name__
    elapsed = time.monotonic() - t0
    th.join(IO_TIMEOUT_S)
    s.close()
    print("sent_sha=%s recv_sha=%s recv=%d elapsed=%.3f end=%s send=%s" % (
        hashlib.sha256(data).hexdigest(), h.hexdigest(), got, elapsed, end,
        result["send"]))


def ping_once(s):
    t0 = time.monotonic()
    s.sendall(b"p")
    if s.recv(1) != b"p":
        raise ConnectionError("closed")
    return time.monotonic() - t0


def ping(args):
    best = None
    try:
        s = connect(args.port)
        for _ in range(args.count):
            rtt = ping_once(s)
            best = rtt if best is None else min(best, rtt)
        s.close()
        print("result=ok rtt=%.3f" % best)
    except (OSError, ConnectionError) as e:
        print("result=closed error=%s" % type(e).__name__)


def hold(args):
    try:
        s = connect(args.port)
        ping_once(s)
    except (OSError, ConnectionError) as e:
        print("result=noping error=%s" % type(e).__name__)
        return
    t0 = time.monotonic()
    s.settimeout(args.seconds)
    try:
        data = s.recv(1)
        state = "closed" if not data else "data"
    except socket.timeout:
        state = "open"
    except OSError:
        state = "closed"
    print("result=%s after=%.3f" % (state, time.monotonic() - t0))
    s.close()


def push(args):
    s = connect(args.port)
    s.setblocking(False)
    block = payload(BLOCK)
    sent = 0
    deadline = time.monotonic() + args.seconds
    err = "none"
    while time.monotonic() < deadline:
        try:
            sent += s.send(block)
        except BlockingIOError:
            time.sleep(0.01)
        except OSError as e:
            err = type(e).__name__
            break
    print("sent=%d error=%s" % (sent, err))
    sys.stdout.flush()
    s.close()


def main():
    p = argparse.ArgumentParser(description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = p.add_subparsers(dest="cmd", required=True)
    a = sub.add_parser("serve")
    a.add_argument("--port-file", required=True)
    a.add_argument("--mode", choices=("echo", "stall"), default="echo")
    for name in ("echo", "ping", "hold", "push"):
        a = sub.add_parser(name)
        a.add_argument("--port", type=int, required=True)
        a.add_argument("--bytes", type=int, default=1 << 20)
        a.add_argument("--count", type=int, default=3)
        a.add_argument("--seconds", type=float, default=5.0)
    args = p.parse_args()
    {"serve": serve, "echo": echo, "ping": ping, "hold": hold, "push": push}[args.cmd](args)


if __name__ == "__main__":
    main()
