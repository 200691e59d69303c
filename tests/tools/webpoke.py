#!/usr/bin/env python3
"""One HTTP request to twind's web interface, for tests/integration/t_web_*.sh.

usage: webpoke.py ADDR METHOD PATH [options]
  --host H       Host header (default ADDR)
  --origin O     Origin header
  --cookie C     Cookie header value (e.g. twsess=HEX)
  --csrf T       X-CSRF-Token header
  --header K:V   any other header (repeatable)
  --body TEXT    request body; --body-file F reads it from F ("-": stdin)
  --out F        write the response body to F instead of stdout

Prints "status NNN", then each response header as "name: value" (lowercase
name), a blank line, and the body (unless --out).  Exit 0 when a response
came, 1 when the connection failed or was closed without one.  Timeout 30 s.
ADDR must be on 127.0.0.0/8 or ::1.
"""
import http.client
import ipaddress
import sys


def main():
    a = sys.argv[1:]
    if len(a) < 3:
        sys.exit(__doc__)
    addr, method, path = a[0], a[1], a[2]
    opts = {"headers": []}
    i = 3
    while i < len(a):
        k = a[i]
        if k in ("--host", "--origin", "--cookie", "--csrf", "--body", "--body-file", "--out"):
            opts[k[2:]] = a[i + 1]
            i += 2
        elif k == "--header":
            opts["headers"].append(a[i + 1])
            i += 2
        else:
            sys.exit("webpoke: unknown option " + k)
    host, _, port = addr.rpartition(":")
    if not ipaddress.ip_address(host.strip("[]")).is_loopback:
        sys.exit("webpoke: only loopback addresses")
    body = None
    if "body" in opts:
        body = opts["body"].encode()
    elif "body-file" in opts:
        f = sys.stdin.buffer if opts["body-file"] == "-" else open(opts["body-file"], "rb")
        body = f.read()
    c = http.client.HTTPConnection(host.strip("[]"), int(port), timeout=30)
    try:
        c.putrequest(method, path, skip_host=True, skip_accept_encoding=True)
        c.putheader("Host", opts.get("host", addr))
        for name, key in (("Origin", "origin"), ("Cookie", "cookie"), ("X-CSRF-Token", "csrf")):
            if key in opts:
                c.putheader(name, opts[key])
        for h in opts["headers"]:
            k, _, v = h.partition(":")
            c.putheader(k.strip(), v.strip())
        if body is not None:
            c.putheader("Content-Length", str(len(body)))
        c.endheaders()
        if body:
            # A server may answer (413) and stop reading before the body
            # is all sent: read its answer anyway.
            try:
                c.send(body)
            except OSError:
                pass
        r = c.getresponse()
        data = r.read()
    except (OSError, http.client.HTTPException) as e:
        print("no response: %s" % e)
        return 1
    out = ["status %d" % r.status]
    out += ["%s: %s" % (k.lower(), v) for k, v in r.getheaders()]
    sys.stdout.write("\n".join(out) + "\n\n")
    if "out" in opts:
        open(opts["out"], "wb").write(data)
    else:
        sys.stdout.write(data.decode("utf-8", "replace") + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
