#!/bin/sh
# A request that needs the hub report while twind makes it in the background
# (after the start) waits for it without holding up anyone else
# (daemon/ops.c "background build", daemon/ctlsrv.c, daemon/http.c): on a
# registry of 40 000 records made in slices of one record (report_slice = 1,
# twind.conf(5)), so that the build takes a second or two,
#  - stats sent during the build is answered after it, with the figures a
#    stats after the build gives, while status on another connection is
#    answered at once, and the waiting connection's next request (pipelined
#    behind it) after it, in order;
#  - a client that closes while its request waits is dropped (logged) and
#    the others are still answered; one that only shut its writing side
#    still gets its answer;
#  - at most TW_REPORT_WAITERS_MAX (8) requests wait: 8 get the figures,
#    the 9th "busy ... retry"; once the build is done, stats answers again;
#  - over the web interface, POST /api/stats during the build is held and
#    answered with the same figures while POST /api/status answers at once;
#  - clients that leave while their requests wait (a browser's connection
#    closed, one that shut its writing side, a control client closed), with
#    all 8 places taken: each is dropped at once (logged, counted in status
#    report_waits), its place free at once for another client; the
#    half-closed web client reads no byte before the close (that one held
#    before the fix too: MHD saw the EOF when it resumed the connection;
#    the fully closed one was answered into the closed socket).  A control
#    client with a later request behind its waiting one is not read, so it
#    is seen gone when the build ends: dropped then, nothing written.
. tests/integration/lib.sh

COUNT=${COUNT:-40000}
AT=1767225600000        # stats --at: the same figures whatever the day
ING=$(tw_tool bench_ingest) || { fail "bench_ingest is built"; tw_done; }
"$ING" "$TW_ROOT/n" "$COUNT" >"$TW_ROOT/ingest.out" 2>&1 &&
    pass "a store of $COUNT records (bench_ingest)" || { fail "bench_ingest"; cat "$TW_ROOT/ingest.out"; tw_done; }
rm -f "$TW_ROOT/n/entries.bin"
CONF=$(tw_conf n "report_slice = 1")
SOCK=$TW_ROOT/n/twind.sock
made() { grep -c "the report made from every record" "$(tw_log n)"; }

# The figures stats gives once the report is kept, for comparison.
tw_start n --config "$CONF" || { fail "twind starts"; tw_done; }
tw_wait_for 60 sh -c "[ \$(grep -c 'the report made from every record' '$(tw_log n)') -ge 1 ]" ||
    fail "the report is made in the background after the start"
check "a build of one-record slices takes thousands of slices" \
    grep -qE "report made from every record in .* [0-9]{4,} slices" "$(tw_log n)"

# client.py PHASE: talks to the socket (and the web) during the build that
# follows a restart; prints PASS/FAIL lines and the answers' JSON in files.
cat >"$TW_ROOT/client.py" <<'PY'
import json, socket, sys, threading, time
sys.path.insert(0, "tests/tools")
import ctlpoke
phase, sock, root, at = sys.argv[1], sys.argv[2], sys.argv[3], int(sys.argv[4])
want = json.load(open(root + "/want.json")) if phase != "want" else None

def req(op, args=None):
    b = bytearray()
    ctlpoke.enc({"v": 1, "op": op, "args": args or {}}, b)
    return ctlpoke.frame(b)

def plain(v):
    if isinstance(v, dict): return {k: plain(x) for k, x in v.items()}
    if isinstance(v, list): return [plain(x) for x in v]
    if isinstance(v, bytes): return v.hex()
    return v

def ok(cond, what):
    print(("PASS: " if cond else "FAIL: ") + what)

def same_figures(resp):
    return resp[0] == "RESP" and resp[1].get("ok") is True and plain(resp[1]["result"]) == want

STATS = req("stats", {"at_ms": at})
t0 = time.monotonic()
if phase == "want":
    c = ctlpoke.connect(sock)
    c.sendall(STATS)
    r = ctlpoke.recv_frame(c)
    ok(r[0] == "RESP" and r[1].get("ok") is True and "active_links_by_formality" in r[1]["result"],
       "stats after the build")
    json.dump(plain(r[1]["result"]), open(root + "/want.json", "w"))
elif phase == "order":
    a = ctlpoke.connect(sock)
    a.sendall(STATS + req("status"))          # stats, and status behind it on the same connection
    gone = ctlpoke.connect(sock)
    gone.sendall(STATS)                        # a client that goes away while it waits
    half = ctlpoke.connect(sock)
    half.sendall(STATS)
    half.shutdown(socket.SHUT_WR)              # one that only shuts its writing side
    time.sleep(0.2)
    gone.close()
    lk = ctlpoke.connect(sock)
    lk.sendall(req("list", {"kind": "link", "limit": 3}))    # marks links "confirmed": needs the report
    b = ctlpoke.connect(sock)
    b.sendall(req("list", {"kind": "peer"}))                  # marks nothing: answered at once
    r = ctlpoke.recv_frame(b)
    tp = time.monotonic() - t0
    ok(r[0] == "RESP" and r[1].get("ok") is True, "list peer (no marks) answered during the build")
    times = []
    for i in range(5):                         # status from another client, during the build
        s0 = time.monotonic()
        b.sendall(req("status"))
        r = ctlpoke.recv_frame(b)
        times.append(time.monotonic() - s0)
        ok(r[0] == "RESP" and r[1].get("ok") is True, "status %d answered on another connection" % i)
    tb = time.monotonic() - t0
    ra = ctlpoke.recv_frame(a)
    ta = time.monotonic() - t0
    ok(same_figures(ra), "stats sent during the build: the figures of the whole report")
    ok(tb < ta, "status answered (%.0f ms after the start of the phase, slowest %.0f ms) before the waiting stats "
       "(%.0f ms)" % (tb * 1000, max(times) * 1000, ta * 1000))
    r2 = ctlpoke.recv_frame(a)
    ok(r2[0] == "RESP" and r2[1].get("ok") is True and "node" in r2[1]["result"],
       "the status pipelined behind it answered after it, in order")
    rl = ctlpoke.recv_frame(lk)
    recs = rl[1].get("result", {}).get("records", []) if rl[0] == "RESP" and rl[1].get("ok") else []
    ok(len(recs) == 3 and all("confirmed" in x for x in recs), "list link sent during the build: 3 links, each "
       "marked confirmed or not")
    ok(tp < ta, "list peer answered before the waiting stats")
    rh = ctlpoke.recv_frame(half)
    ok(same_figures(rh), "a client that shut its writing side gets its answer")
    ok(ctlpoke.recv_frame(half)[0] == "EOF", "... then the connection closes")
elif phase == "limit":
    conns = [ctlpoke.connect(sock) for i in range(9)]
    for c in conns:
        c.sendall(STATS)
        time.sleep(0.01)
    resps = [ctlpoke.recv_frame(c) for c in conns]
    good = sum(1 for r in resps if same_figures(r))
    busy = [r for r in resps if r[0] == "RESP" and r[1].get("ok") is False]
    ok(good == 8, "8 (TW_REPORT_WAITERS_MAX) waiting stats get the figures (got %d)" % good)
    msg = busy[0][1].get("error", "") if len(busy) == 1 else ""
    ok(len(busy) == 1 and busy[0][1].get("code") == -24 and "busy" in msg and "retry" in msg,
       "the 9th: TW_EBUSY, busy, retry (%s)" % (busy[0][1] if busy else resps))
    ok(resps[8] in busy, "... the one that came last")
    c = ctlpoke.connect(sock)
    c.sendall(STATS)
    ok(same_figures(ctlpoke.recv_frame(c)), "after the build, stats answers again")
elif phase == "change":
    # A change the build cannot follow (a vouch record, written by the test
    # once this request waits) while a request waits: the report is made at
    # once for it, from the registry as it now is.
    c = ctlpoke.connect(sock)
    c.sendall(STATS)
    print("HELD")
    sys.stdout.flush()
    r = ctlpoke.recv_frame(c)
    res = plain(r[1].get("result", {})) if r[0] == "RESP" and r[1].get("ok") else {}
    kinds = res.pop("kinds", {})
    wk = dict(want.get("kinds", {}))
    ok(res and res == {k: v for k, v in want.items() if k != "kinds"} and kinds.get("vouch") == 1 and
       {k: v for k, v in kinds.items() if k != "vouch"} == wk,
       "stats waiting while a vouch record is written: answered, the vouch counted, the rest as before (%s)" %
       (kinds if res else r))
elif phase == "stop":
    # Requests held when twind stops, on both doors: the connections
    # close, nothing leaks or crashes.
    import http.client
    addr, token = sys.argv[5], sys.argv[6]
    host, port = addr.rsplit(":", 1)
    h = http.client.HTTPConnection(host, int(port), timeout=30)
    h.request("POST", "/api/login", body=json.dumps({"token": token}), headers={"Host": addr})
    resp = h.getresponse()
    body = json.loads(resp.read())
    cookie = resp.getheader("Set-Cookie").split(";")[0]
    h = http.client.HTTPConnection(host, int(port), timeout=30)
    h.request("POST", "/api/stats", body="{}", headers={"Host": addr, "Cookie": cookie,
              "X-CSRF-Token": body["result"]["csrf"], "Content-Type": "application/json"})
    c = ctlpoke.connect(sock)
    c.sendall(STATS)
    print("HELD")
    sys.stdout.flush()
    r = ctlpoke.recv_frame(c)
    ok(r[0] == "EOF" or (r[0] == "RESP" and r[1].get("ok") is True),
       "a control request held when twind stops: its connection closes (%s)" % r[0])
    try:
        st = h.getresponse().status
    except (http.client.HTTPException, OSError) as e:
        st = type(e).__name__
    print("PASS: a web request held when twind stops: its connection closes or is answered (%s)" % st)
elif phase == "gone":
    import http.client
    addr, token, logpath, logoff = sys.argv[5], sys.argv[6], sys.argv[7], int(sys.argv[8])
    host, port = addr.rsplit(":", 1)
    def log():
        with open(logpath, encoding="utf-8", errors="replace") as f:
            f.seek(logoff)
            return f.read()
    def wait_log(cond, secs=10):
        end = time.monotonic() + secs
        while time.monotonic() < end:
            if cond(log()): return True
            time.sleep(0.02)
        return False
    h = http.client.HTTPConnection(host, int(port), timeout=30)
    h.request("POST", "/api/login", body=json.dumps({"token": token}), headers={"Host": addr})
    resp = h.getresponse()
    csrf = json.loads(resp.read())["result"]["csrf"]
    cookie = resp.getheader("Set-Cookie").split(";")[0]
    body = json.dumps({"at_ms": at}).encode()
    web_req = ("POST /api/stats HTTP/1.1\r\nHost: %s\r\nCookie: %s\r\nX-CSRF-Token: %s\r\n"
               "Content-Type: application/json\r\nContent-Length: %d\r\n\r\n" % (addr, cookie, csrf, len(body))).encode() + body
    def web():
        w = socket.create_connection((host, int(port)), timeout=30)
        w.sendall(web_req)
        return w
    w1 = web()                                 # its browser tab is closed
    w2 = web()                                 # shuts its writing side and reads on
    ok(wait_log(lambda t: t.count("http: stats waits for the report being made") >= 2),
       "two web requests wait for the report")
    cs = []
    for i in range(6):
        c = ctlpoke.connect(sock)
        # The last sends a status behind its stats: with a whole request
        # waiting behind the held one it is not read, so its leaving is seen
        # only when the build ends.
        c.sendall(STATS + (req("status") if i == 5 else b""))
        cs.append(c)
    ok(wait_log(lambda t: "(8 requests wait)" in t), "six control requests wait too: 8 (TW_REPORT_WAITERS_MAX) wait")
    x = ctlpoke.connect(sock)
    x.sendall(STATS)
    r = ctlpoke.recv_frame(x)
    ok(r[0] == "RESP" and r[1].get("ok") is False and r[1].get("code") == -24,
       "a 9th is told busy: every place is taken (%s)" % (r,))
    w1.close()
    w2.shutdown(socket.SHUT_WR)
    cs[0].close()
    cs[5].close()
    ok(wait_log(lambda t: t.count("http: stats: the client closed its connection while the request waited") == 2),
       "web: both clients that left were dropped at once (logged)")
    ok(wait_log(lambda t: "ctl: uid" in t and "closed its connection while its request waited" in t),
       "control: the client that closed was dropped at once (logged)")
    early = "the report made from every record" not in log()
    ds = []
    for i in range(3):
        d = ctlpoke.connect(sock)
        d.sendall(STATS)
        ds.append(d)
    ok(wait_log(lambda t: t.count("(8 requests wait)") >= 2), "three new clients took the three places freed")
    ok(early and "the report made from every record" not in log(),
       "... all of it while the report was still being made (else the test needs a longer build)")
    got = b""
    w2.settimeout(30)
    try:
        while True:
            b = w2.recv(4096)
            if not b: break
            got += b
    except OSError as e:
        got += ("<%s>" % type(e).__name__).encode()
    ok(got == b"", "the web client that shut its writing side read nothing before the close (%r)" % got[:80])
    resps = [ctlpoke.recv_frame(c) for c in cs[1:5] + ds]
    ok(all(same_figures(r) for r in resps), "the 4 that stayed and the 3 that came later got the figures (%d of 7)" %
       sum(1 for r in resps if same_figures(r)))
    ok(wait_log(lambda t: t.count("closed its connection while its request waited") == 2),
       "control: the client that closed with a request behind its waiting one was dropped when the build ended")
    c = ctlpoke.connect(sock)
    c.sendall(req("status"))
    r = ctlpoke.recv_frame(c)
    rw = r[1].get("result", {}).get("report_waits") if r[0] == "RESP" else None
    ok(rw == {"held": 0, "dropped": 4}, "status: report_waits held 0, dropped 4 (%s)" % (rw,))
elif phase == "web":
    import http.client
    addr, token = sys.argv[5], sys.argv[6]
    host, port = addr.rsplit(":", 1)
    def post(path, body, cookie=None, csrf=None):
        h = http.client.HTTPConnection(host, int(port), timeout=30)
        hd = {"Host": addr, "Content-Type": "application/json"}
        if cookie: hd["Cookie"] = cookie
        if csrf: hd["X-CSRF-Token"] = csrf
        h.request("POST", path, body=json.dumps(body), headers=hd)
        r = h.getresponse()
        data = r.read()
        return r.status, r.getheader("Set-Cookie"), data
    st, ck, data = post("/api/login", {"token": token})
    ok(st == 200, "web login")
    cookie = ck.split(";")[0]
    csrf = json.loads(data)["result"]["csrf"]
    out = {}
    def stats():
        out["stats"] = post("/api/stats", {"at_ms": at}, cookie, csrf)
        out["t_stats"] = time.monotonic() - t0
    th = threading.Thread(target=stats)
    th.start()
    time.sleep(0.2)
    st2, _, d2 = post("/api/status", {}, cookie, csrf)
    t_status = time.monotonic() - t0
    ok(st2 == 200 and json.loads(d2)["ok"] is True, "web: status answered during the build")
    th.join(60)
    st, _, data = out.get("stats", (0, None, b"{}"))
    ok(st == 200 and json.loads(data).get("result") == json.loads(json.dumps(want)),
       "web: stats sent during the build answered with the figures of the whole report")
    ok(t_status < out.get("t_stats", 0), "web: status (%.0f ms) answered before the waiting stats (%.0f ms)" %
       (t_status * 1000, out.get("t_stats", 0) * 1000))
PY

# phase NAME [ARGS]: restarts the node (a new build begins) and runs client.py NAME.
phase() {
    _p=$1; shift
    tw_stop n
    tw_start n --config "$CONF" "$@" || { fail "twind starts ($_p)"; return 1; }
}
run_client() {
    _rc=0
    timeout 120 python3 "$TW_ROOT/client.py" "$@" >"$TW_ROOT/client.out" 2>&1 || _rc=$?
    while IFS= read -r l; do
        case $l in PASS:*) pass "${l#PASS: }" ;; FAIL:*) fail "${l#FAIL: }" ;; *) echo "    $l" ;; esac
    done <"$TW_ROOT/client.out"
    [ "$_rc" = 0 ] || fail "client.py $1 ended with status $_rc"
}

run_client want "$SOCK" "$TW_ROOT" "$AT"

phase order && {
    run_client order "$SOCK" "$TW_ROOT" "$AT"
    check "the requests waited for the report (logged)" grep -q "stats waits for the report being made" "$(tw_log n)"
    check "the client gone while waiting was dropped (logged)" \
        grep -q "closed its connection while its request waited" "$(tw_log n)"
    check "twind still serves" tw n status
}

phase limit && {
    run_client limit "$SOCK" "$TW_ROOT" "$AT"
    check "8 requests waited at once (logged)" grep -q "(8 requests wait)" "$(tw_log n)"
}

KV=$(tw n --json list group --limit 1 | python3 -c 'import json,sys; print(json.load(sys.stdin)[0]["author"])')
phase change && {
    timeout 60 python3 "$TW_ROOT/client.py" change "$SOCK" "$TW_ROOT" "$AT" >"$TW_ROOT/change.out" 2>&1 &
    cp=$!
    n0=$(grep -c "stats waits for the report being made" "$(tw_log n)")
    tw_wait_for 10 sh -c "[ \$(grep -c 'stats waits for the report being made' '$(tw_log n)') -gt $n0 ]"
    check "a vouch record is written during the build" tw n vouch "$KV" --name "Report Wait Twinning Association"
    wait "$cp"
    while IFS= read -r l; do
        case $l in PASS:*) pass "${l#PASS: }" ;; FAIL:*) fail "${l#FAIL: }" ;; esac
    done <"$TW_ROOT/change.out"
    grep -q '^PASS' "$TW_ROOT/change.out" || { fail "change: no answer"; cat "$TW_ROOT/change.out"; }
    check "... the report was made at once for the waiting request (logged)" \
        grep -q "while 1 requests wait for the report: it is made here and now" "$(tw_log n)"
    run_client want "$SOCK" "$TW_ROOT" "$AT"      # the figures from now on: with the vouch
}

before=$(made)
P=$(tw_free_port)
phase stop --http "127.0.0.1:$P" && {
    tw_run tw n ui --no-open
    TOKEN=$(sed 's/.*#//' "$TW_OUT")
    timeout 60 python3 "$TW_ROOT/client.py" stop "$SOCK" "$TW_ROOT" "$AT" "127.0.0.1:$P" "$TOKEN" >"$TW_ROOT/stop.out" 2>&1 &
    cp=$!
    tw_wait_for 10 grep -q HELD "$TW_ROOT/stop.out"
    tw_wait_for 10 sh -c "[ \$(grep -c 'stats waits for the report being made' '$(tw_log n)') -ge 13 ]"
    if [ "$(made)" = "$before" ]; then
        tw_stop n && pass "twind stops cleanly with a request held" || fail "twind stops cleanly with a request held"
    else
        fail "the build ended before the stop (the test needs a longer build)"
    fi
    wait "$cp"
    [ "$(grep -c '^PASS' "$TW_ROOT/stop.out")" = 2 ] && pass "the held clients saw their connections close" ||
        { fail "held clients"; cat "$TW_ROOT/stop.out"; }
}

P=$(tw_free_port)
LOGOFF=$(wc -c <"$(tw_log n)")
phase gone --http "127.0.0.1:$P" && {
    tw_run tw n ui --no-open
    TOKEN=$(sed 's/.*#//' "$TW_OUT")
    run_client gone "$SOCK" "$TW_ROOT" "$AT" "127.0.0.1:$P" "$TOKEN" "$(tw_log n)" "$LOGOFF"
    if tail -c +"$((LOGOFF + 1))" "$(tw_log n)" | grep -qi "libmicrohttpd: .*\(fail\|error\|broken\|reset\)"; then
        fail "libmicrohttpd wrote to no closed connection" "$(tail -c +"$((LOGOFF + 1))" "$(tw_log n)" | grep -i libmicrohttpd | head -n 3)"
    else
        pass "libmicrohttpd reported no failed send"
    fi
    check "twind still serves" tw n status
}

P=$(tw_free_port)
phase web --http "127.0.0.1:$P" && {
    tw_run tw n ui --no-open
    TOKEN=$(sed 's/.*#//' "$TW_OUT")
    run_client web "$SOCK" "$TW_ROOT" "$AT" "127.0.0.1:$P" "$TOKEN"
    check "the web request waited for the report (logged)" grep -q "http: stats waits for the report being made" "$(tw_log n)"
}

tw_stop n && pass "twind stops cleanly" || fail "twind stops cleanly"
tw_done
