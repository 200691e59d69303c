#!/usr/bin/env python3
"""Pokes twind's control socket with raw bytes or hand-built frames.

A control message is a 4-byte big-endian length and that many bytes of
msgpack (include/twin/ctl.h).  This tool speaks the framing by hand, with a
small msgpack encoder and decoder of its own, so that tests can send what
twin never would: garbage, lying lengths, wrong versions, half messages.

usage: ctlpoke.py [--expect PYEXPR] SOCKET ACTION...

With --expect, the Python expression PYEXPR is evaluated at the end with
"out" the list of lines printed; exit status 3 if it is false.

Actions run in order on one connection (opened by the first action that
needs it) and each prints one line:
  json TEXT       send a frame holding TEXT (JSON) encoded as msgpack;
                  {"$bin": "HEX"} stands for a msgpack bin
  mp HEX          send a frame holding the bytes HEX
  raw HEX         send the bytes HEX as they are (no header)
  len N           send only a header declaring N bytes
  zeros N         send N zero bytes (a long body without a long argument)
  recv            read one frame: "RESP <json>", "EOF" or "TIMEOUT"
  eof             wait until the daemon closes: "EOF" (data read meanwhile
                  is printed as RESP lines first) or "OPEN"
  shut            close our writing side;  close: close the connection
  reconnect       close and open a new connection
  sleep S         pause S seconds
  churn N         open and close N more connections one after another
                  ("CHURN N"); every fourth sends half a header first
  hold N          open N more connections at once, send a status request on
                  each, read one frame from each, print "HOLD ok=.. error=..
                  eof=.." and one "HOLDERR <message>" per error, close them
  pipeline N JSON send N copies of the request JSON on this connection in one
                  go and never read the answers: sends while the daemon
                  reads, stops once nothing more went out for 3 s, prints
                  "PIPELINE sent=K of N" (K whole requests sent); the
                  connection stays open for the next actions
  pipeline-read N JSON  the same, with a thread reading the answers as they
                  come: "PIPELINE sent=N answered=M ok=K"
  conns N         open N more connections and keep them open, idle, until
                  the end: "CONNS N"
  closed          how many of the connections of conns the daemon has
                  closed meanwhile: "CLOSED K of N"
  busy N S        open N more connections and keep each busy for S seconds
                  (a status request, answer read, every 0.2 s), then close
                  them: "BUSY N answered=K" (and "BUSY OPEN" once open)
Exit status: 0, 1 if the socket cannot be reached, 2 for bad usage, 3 if
the --expect expression is false.
"""
import json
import select
import socket
import struct
import sys
import threading
import time

TIMEOUT = 10.0


class Bin(bytes):
    pass


def enc(v, out):
    if v is None:
        out += b"\xc0"
    elif v is True:
        out += b"\xc3"
    elif v is False:
        out += b"\xc2"
    elif isinstance(v, int):
        if 0 <= v < 0x80:
            out += bytes([v])
        elif -32 <= v < 0:
            out += struct.pack(">b", v)
        elif 0 <= v <= 0xFF:
            out += b"\xcc" + struct.pack(">B", v)
        elif 0 <= v <= 0xFFFF:
            out += b"\xcd" + struct.pack(">H", v)
        elif 0 <= v <= 0xFFFFFFFF:
            out += b"\xce" + struct.pack(">I", v)
        elif v >= 0:
            out += b"\xcf" + struct.pack(">Q", v)
        elif v >= -0x80:
            out += b"\xd0" + struct.pack(">b", v)
        elif v >= -0x8000:
            out += b"\xd1" + struct.pack(">h", v)
        elif v >= -0x80000000:
            out += b"\xd2" + struct.pack(">i", v)
        else:
            out += b"\xd3" + struct.pack(">q", v)
    elif isinstance(v, float):
        out += b"\xcb" + struct.pack(">d", v)
    elif isinstance(v, Bin):
        n = len(v)
        if n < 0x100:
            out += b"\xc4" + struct.pack(">B", n)
        elif n < 0x10000:
            out += b"\xc5" + struct.pack(">H", n)
        else:
            out += b"\xc6" + struct.pack(">I", n)
        out += v
    elif isinstance(v, str):
        b = v.encode("utf-8")
        n = len(b)
        if n < 32:
            out += bytes([0xA0 | n])
        elif n < 0x100:
            out += b"\xd9" + struct.pack(">B", n)
        elif n < 0x10000:
            out += b"\xda" + struct.pack(">H", n)
        else:
            out += b"\xdb" + struct.pack(">I", n)
        out += b
    elif isinstance(v, list):
        n = len(v)
        if n < 16:
            out += bytes([0x90 | n])
        elif n < 0x10000:
            out += b"\xdc" + struct.pack(">H", n)
        else:
            out += b"\xdd" + struct.pack(">I", n)
        for x in v:
            enc(x, out)
    elif isinstance(v, dict):
        n = len(v)
        if n < 16:
            out += bytes([0x80 | n])
        elif n < 0x10000:
            out += b"\xde" + struct.pack(">H", n)
        else:
            out += b"\xdf" + struct.pack(">I", n)
        for k, x in v.items():
            enc(k, out)
            enc(x, out)
    else:
        raise TypeError("cannot encode %r" % (v,))
    return out


class Reader:
    def __init__(self, b):
        self.b, self.i = b, 0

    def take(self, n):
        if self.i + n > len(self.b):
            raise ValueError("truncated msgpack")
        r = self.b[self.i:self.i + n]
        self.i += n
        return r

    def u(self, fmt):
        return struct.unpack(fmt, self.take(struct.calcsize(fmt)))[0]

    def value(self, depth=0):
        if depth > 64:
            raise ValueError("too deep")
        t = self.take(1)[0]
        if t < 0x80:
            return t
        if t >= 0xE0:
            return t - 0x100
        if 0x80 <= t <= 0x8F:
            return self.map(t & 0x0F, depth)
        if 0x90 <= t <= 0x9F:
            return [self.value(depth + 1) for _ in range(t & 0x0F)]
        if 0xA0 <= t <= 0xBF:
            return self.take(t & 0x1F).decode("utf-8", "replace")
        simple = {0xC0: None, 0xC2: False, 0xC3: True}
        if t in simple:
            return simple[t]
        if t in (0xC4, 0xC5, 0xC6):
            n = self.u({0xC4: ">B", 0xC5: ">H", 0xC6: ">I"}[t])
            return {"$bin": self.take(n).hex()}
        if t in (0xD9, 0xDA, 0xDB):
            n = self.u({0xD9: ">B", 0xDA: ">H", 0xDB: ">I"}[t])
            return self.take(n).decode("utf-8", "replace")
        ints = {0xCC: ">B", 0xCD: ">H", 0xCE: ">I", 0xCF: ">Q",
                0xD0: ">b", 0xD1: ">h", 0xD2: ">i", 0xD3: ">q",
                0xCA: ">f", 0xCB: ">d"}
        if t in ints:
            return self.u(ints[t])
        if t in (0xDC, 0xDD):
            n = self.u(">H" if t == 0xDC else ">I")
            return [self.value(depth + 1) for _ in range(n)]
        if t in (0xDE, 0xDF):
            return self.map(self.u(">H" if t == 0xDE else ">I"), depth)
        raise ValueError("unsupported msgpack type 0x%02x" % t)

    def map(self, n, depth):
        m = {}
        for _ in range(n):
            k = self.value(depth + 1)
            m[k if isinstance(k, str) else json.dumps(k)] = self.value(depth + 1)
        return m


def from_json(v):
    if isinstance(v, dict):
        if list(v) == ["$bin"]:
            return Bin(bytes.fromhex(v["$bin"]))
        return {k: from_json(x) for k, x in v.items()}
    if isinstance(v, list):
        return [from_json(x) for x in v]
    return v


def frame(body):
    return struct.pack(">I", len(body)) + bytes(body)


def connect(path):
    # A socket with a timeout is non-blocking underneath, and a Unix socket
    # whose listen backlog is full then fails with EAGAIN instead of
    # waiting: retry for a bounded time.
    for _ in range(1000):
        s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        s.settimeout(TIMEOUT)
        try:
            s.connect(path)
            return s
        except BlockingIOError:
            s.close()
            time.sleep(0.01)
    raise OSError("listen backlog of %s stayed full for 10 s" % path)


def recv_exact(s, n):
    buf = b""
    while len(buf) < n:
        chunk = s.recv(n - len(buf))
        if not chunk:
            return None
        buf += chunk
    return buf


def recv_frame(s):
    """Returns ("RESP", value), ("EOF", None) or ("TIMEOUT", None)."""
    try:
        hdr = recv_exact(s, 4)
        if hdr is None:
            return "EOF", None
        n = struct.unpack(">I", hdr)[0]
        body = recv_exact(s, n)
        if body is None:
            return "EOF", None
    except socket.timeout:
        return "TIMEOUT", None
    except (ConnectionResetError, BrokenPipeError):
        return "EOF", None
    try:
        return "RESP", Reader(body).value()
    except ValueError as e:
        return "RESP", {"undecodable": str(e), "hex": body[:64].hex()}


OUT = []


def emit(line):
    OUT.append(line)
    print(line, flush=True)


def show(kind, val):
    if kind == "RESP":
        emit("RESP " + json.dumps(val, ensure_ascii=False, sort_keys=True))
    else:
        emit(kind)


def send(s, data):
    try:
        s.sendall(data)
        return True
    except (BrokenPipeError, ConnectionResetError):
        emit("SENDFAIL")
        return False


STATUS = frame(enc({"v": 1, "op": "status", "args": {}}, bytearray()))


def hold(path, n):
    socks = []
    try:
        for _ in range(n):
            socks.append(connect(path))
        for s in socks:
            try:
                s.sendall(STATUS)
            except OSError:
                pass  # a refused connection may already be closed
        ok = err = eof = 0
        msgs = []
        for s in socks:
            kind, val = recv_frame(s)
            if kind == "RESP" and isinstance(val, dict) and val.get("ok") is True:
                ok += 1
            elif kind == "RESP":
                err += 1
                msgs.append(str(val.get("error") if isinstance(val, dict) else val))
            else:
                eof += 1
        emit("HOLD ok=%d error=%d eof=%d" % (ok, err, eof))
        for m in msgs:
            emit("HOLDERR " + m)
    finally:
        for s in socks:
            s.close()


def pipeline(s, n, req):
    """Sends n copies of req without reading; returns the whole requests sent."""
    data = req * n
    off = 0
    s.setblocking(False)
    last = time.monotonic()
    try:
        while off < len(data) and time.monotonic() - last < 3.0:
            try:
                k = s.send(data[off:off + 65536])
                if k > 0:
                    off += k
                    last = time.monotonic()
            except BlockingIOError:
                select.select([], [s], [], 0.2)
            except (BrokenPipeError, ConnectionResetError):
                break
    finally:
        s.settimeout(TIMEOUT)
    emit("PIPELINE sent=%d of %d" % (off // len(req), n))


def pipeline_read(s, n, req):
    got = {"answered": 0, "ok": 0}

    def reader():
        # Frames are split by their headers only (decoding each in Python
        # would make this client, not the daemon, the bottleneck); an
        # answer is "ok" if it holds the bytes of "ok": true.
        buf = b""
        while got["answered"] < n:
            try:
                chunk = s.recv(1 << 20)
            except (socket.timeout, OSError):
                break
            if not chunk:
                break
            buf += chunk
            off = 0
            while len(buf) - off >= 4:
                ln = struct.unpack(">I", buf[off:off + 4])[0]
                if len(buf) - off - 4 < ln:
                    break
                got["answered"] += 1
                if b"\xa2ok\xc3" in buf[off + 4:off + 4 + ln]:
                    got["ok"] += 1
                off += 4 + ln
            buf = buf[off:]

    t = threading.Thread(target=reader)
    t.start()
    sent = 0
    try:
        for i in range(0, n, 4096):
            k = min(4096, n - i)
            s.sendall(req * k)
            sent += k
    except OSError:
        pass
    t.join(TIMEOUT * 6)
    emit("PIPELINE sent=%d answered=%d ok=%d" % (sent, got["answered"], got["ok"]))


KEPT = []


def busy(path, n, secs):
    """n connections, each asking for status and reading the answer every
    0.2 s for secs seconds: never idle, so never closed to make room."""
    socks = [connect(path) for _ in range(n)]
    print("BUSY OPEN", flush=True)    # for a script waiting on them (not in "out")
    ok = 0
    end = time.monotonic() + secs
    try:
        while time.monotonic() < end:
            for s in socks:
                s.sendall(STATUS)
            for s in socks:
                kind, val = recv_frame(s)
                if kind == "RESP" and isinstance(val, dict) and val.get("ok") is True:
                    ok += 1
            time.sleep(0.2)
    finally:
        for s in socks:
            s.close()
    emit("BUSY %d answered=%d" % (n, ok))


def conns(path, n):
    for _ in range(n):
        KEPT.append(connect(path))
    emit("CONNS %d" % n)


def closed():
    """Counts the kept connections the daemon closed (what it sent first,
    such as the reason, is read and dropped)."""
    k = 0
    for s in KEPT:
        s.setblocking(False)
        try:
            while True:
                if s.recv(65536) == b"":
                    k += 1
                    break
        except BlockingIOError:
            pass
        except OSError:
            k += 1
        finally:
            s.settimeout(TIMEOUT)
    emit("CLOSED %d of %d" % (k, len(KEPT)))


def churn(path, n):
    for i in range(n):
        s = connect(path)
        if i % 4 == 3:
            s.sendall(b"\x00\x00")
        s.close()
    emit("CHURN %d" % n)


def main(argv):
    if len(argv) < 2:
        sys.stderr.write(__doc__)
        return 2
    expect = None
    if argv[1] == "--expect" and len(argv) > 3:
        expect, argv = argv[2], argv[2:]
    path, acts = argv[1], argv[2:]
    conn = [None]

    def sock():
        # Opened at the first action that needs it, so that churn and hold
        # alone count exactly the connections they open.
        if conn[0] is None:
            conn[0] = connect(path)
        return conn[0]

    i = 0
    try:
        while i < len(acts):
            a = acts[i]
            arg = acts[i + 1] if i + 1 < len(acts) else None
            one_arg = a in ("json", "mp", "raw", "len", "zeros", "sleep", "churn", "hold", "conns")
            two_args = a in ("pipeline", "pipeline-read", "busy")
            if (one_arg and arg is None) or (two_args and i + 2 >= len(acts)):
                print("ctlpoke: %s needs %s" % (a, "two arguments" if two_args else "an argument"), file=sys.stderr)
                return 2
            if a == "json":
                send(sock(), frame(enc(from_json(json.loads(arg)), bytearray())))
            elif a == "mp":
                send(sock(), frame(bytes.fromhex(arg)))
            elif a == "raw":
                send(sock(), bytes.fromhex(arg))
            elif a == "len":
                send(sock(), struct.pack(">I", int(arg)))
            elif a == "zeros":
                send(sock(), bytes(int(arg)))
            elif a == "recv":
                show(*recv_frame(sock()))
            elif a == "eof":
                while True:
                    kind, val = recv_frame(sock())
                    if kind == "RESP":
                        show(kind, val)
                        continue
                    emit("EOF" if kind == "EOF" else "OPEN")
                    break
            elif a == "shut":
                sock().shutdown(socket.SHUT_WR)
            elif a in ("close", "reconnect"):
                if conn[0] is not None:
                    conn[0].close()
                conn[0] = None
                if a == "reconnect":
                    sock()
            elif a == "sleep":
                time.sleep(float(arg))
            elif a == "churn":
                churn(path, int(arg))
            elif a == "hold":
                hold(path, int(arg))
            elif a in ("pipeline", "pipeline-read"):
                req = frame(enc(from_json(json.loads(acts[i + 2])), bytearray()))
                (pipeline if a == "pipeline" else pipeline_read)(sock(), int(arg), req)
            elif a == "busy":
                busy(path, int(arg), float(acts[i + 2]))
            elif a == "conns":
                conns(path, int(arg))
            elif a == "closed":
                closed()
            else:
                print("ctlpoke: unknown action %s" % a, file=sys.stderr)
                return 2
            i += 3 if two_args else 2 if one_arg else 1
    except OSError as e:
        print("ctlpoke: %s: %s" % (path, e), file=sys.stderr)
        return 1
    finally:
        if conn[0] is not None:
            conn[0].close()
        for s in KEPT:
            s.close()
    if expect is not None:
        try:
            good = eval(expect, {"out": OUT, "json": json})
        except Exception as e:  # a check that cannot run is a failed check
            print("ctlpoke: --expect raised %r" % e, file=sys.stderr)
            good = False
        if not good:
            print("ctlpoke: expectation not met: %s" % expect, file=sys.stderr)
            return 3
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
