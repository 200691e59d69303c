#!/bin/sh
# Runs two negentropy-harness processes against each other, as the
# reference's fuzz driver does, over generated item sets with differences,
# with and without a frame limit, and checks that the initiator's have/need
# lines are exactly the set differences.  Also checks the version fallback
# answer, and the round trips at the 4 MiB frame limit (TW_NEG_MSG_MAX) of
# nodes that send messages over several frames.  One "PASS:"/"FAIL:" line per check.  Run from the repository root;
# the build directory is $B (default build).
B=${B:-build}
H="$B/tools/negentropy-harness"
if [ ! -x "$H" ]; then
    echo "FAIL: negentropy harness binary $H exists (run make tools)"
    exit 1
fi
if ! command -v python3 >/dev/null 2>&1; then
    echo "FAIL: python3 available to drive the harness"
    exit 1
fi

exec python3 - "$H" <<'PYEOF'
import os, random, subprocess, sys, time

HARNESS = sys.argv[1]
MAX_ROUNDS = 20000      # bound on round trips of one sync
TIME_LIMIT = 120.0      # seconds for one sync

def start(limit):
    env = dict(os.environ)
    env["FRAMESIZELIMIT"] = str(limit)
    return subprocess.Popen([HARNESS], stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, env=env, text=True, bufsize=1)

def stop(p):
    try:
        p.stdin.close()
    except Exception:
        pass
    try:
        p.wait(timeout=10)
    except subprocess.TimeoutExpired:
        p.kill()
        p.wait()

def gen(rng, common, only1, only2, ts_span):
    def item():
        return (1700000000000 + rng.randrange(ts_span), "%064x" % rng.getrandbits(256))
    c = [item() for _ in range(common)]
    a = [item() for _ in range(only1)]
    b = [item() for _ in range(only2)]
    return c + a, c + b, {i for _, i in a}, {i for _, i in b}

def sync(items1, items2, limit1, limit2):
    """Returns (have, need, rounds, up, down, largest, error); largest is
    (largest message of 1, largest message of 2)."""
    p1, p2 = start(limit1), start(limit2)
    try:
        for p, items in ((p1, items1), (p2, items2)):
            p.stdin.write("".join("item,%d,%s\n" % it for it in items))
            p.stdin.write("seal\n")
        p1.stdin.write("initiate\n")
        p1.stdin.flush()
        p2.stdin.flush()
        have, need = [], []
        rounds = up = down = big1 = big2 = 0
        t0 = time.time()
        while True:
            if rounds > MAX_ROUNDS or time.time() - t0 > TIME_LIMIT:
                return have, need, rounds, up, down, (big1, big2), "no convergence"
            line = p1.stdout.readline().strip()
            if line.startswith("have,"):
                have.append(line[5:]); continue
            if line.startswith("need,"):
                need.append(line[5:]); continue
            if line == "done":
                break
            if not line.startswith("msg,"):
                return have, need, rounds, up, down, (big1, big2), "initiator said %r: %s" % (line[:80], p1.stderr.read()[:200])
            n = (len(line) - 4) // 2
            up += n; big1 = max(big1, n); rounds += 1
            p2.stdin.write(line + "\n"); p2.stdin.flush()
            reply = p2.stdout.readline().strip()
            if not reply.startswith("msg,"):
                return have, need, rounds, up, down, (big1, big2), "responder said %r: %s" % (reply[:80], p2.stderr.read()[:200])
            n = (len(reply) - 4) // 2
            down += n; big2 = max(big2, n)
            p1.stdin.write(reply + "\n"); p1.stdin.flush()
        return have, need, rounds, up, down, (big1, big2), None
    finally:
        stop(p1); stop(p2)

def check(desc, cond, detail=""):
    print("%s: %s%s" % ("PASS" if cond else "FAIL", desc, "" if cond or not detail else " (" + detail + ")"))
    sys.stdout.flush()

rng = random.Random(20240601)
cases = [
    # description, common, only on 1, only on 2, timestamp span, limit 1, limit 2
    ("5000 common, 100/100 differ, no limit", 5000, 100, 100, 50000, 0, 0),
    ("5000 common, 100/100 differ, crowded timestamps, no limit", 5000, 100, 100, 300, 0, 0),
    ("5000 common, 400/250 differ, limit 4096 both", 5000, 400, 250, 50000, 4096, 4096),
    ("3000 common, 300/300 differ, crowded timestamps, limits 4096/6000", 3000, 300, 300, 200, 4096, 6000),
    ("initiator empty, responder 2000, limit 4096", 0, 0, 2000, 50000, 4096, 4096),
    ("initiator 2000, responder empty, no limit", 0, 2000, 0, 50000, 0, 0),
    ("20000 identical, no limit", 20000, 0, 0, 200000, 0, 0),
]
# The frame limit twind uses between nodes that send messages over several
# frames (TW_NEG_MSG_MAX, 4 MiB): the negentropy messages are those of the
# reference with FRAMESIZELIMIT set, and 100 000 items a side with 1 000
# (10 000) scattered differences take at most 3 (4) round trips (issue 14).
NEG_MSG_MAX = 4194304
ROUNDS_MAX = {}
for desc, common, o1, o2, bound in (
        ("100000 a side, 500/500 differ, limit 4 MiB both", 99500, 500, 500, 3),
        ("100000 a side, 5000/5000 differ, limit 4 MiB both", 95000, 5000, 5000, 4)):
    cases.append((desc, common, o1, o2, 365 * 86400000, NEG_MSG_MAX, NEG_MSG_MAX))
    ROUNDS_MAX[desc] = bound
for desc, common, o1, o2, span, l1, l2 in cases:
    s1, s2, only1, only2 = gen(rng, common, o1, o2, span)
    rng.shuffle(s1); rng.shuffle(s2)
    have, need, rounds, up, down, largest, err = sync(s1, s2, l1, l2)
    ok = err is None and len(have) == len(set(have)) and len(need) == len(set(need)) \
        and set(have) == only1 and set(need) == only2
    detail = err or "have %d/%d need %d/%d" % (len(have), len(only1), len(need), len(only2))
    check("%s: have/need exact (%d round trips, %d up, %d down)" % (desc, rounds, up, down), ok, detail)
    for who, lim, big in (("initiator", l1, largest[0]), ("responder", l2, largest[1])):
        if lim:
            check("%s: every %s message <= %d bytes (largest %d)" % (desc, who, lim, big),
                  err is None and big <= lim)
    if desc in ROUNDS_MAX:
        check("%s: at most %d round trips (%d)" % (desc, ROUNDS_MAX[desc], rounds),
              err is None and rounds <= ROUNDS_MAX[desc])
    if o1 == 0 and o2 == 0:
        check("%s: one round trip under 1 KiB" % desc, rounds == 1 and up + down < 1024,
              "%d rounds, %d bytes" % (rounds, up + down))

# A message in another protocol version is answered with our version byte
# alone, so the peer can fall back; then version 1 is served normally.
p = start(0)
try:
    p.stdin.write("item,12345,%s\nseal\nmsg,62aabbccddeeff\n" % ("ee" * 32)); p.stdin.flush()
    r1 = p.stdout.readline().strip()
    p.stdin.write("msg,6100000200\n"); p.stdin.flush()
    r2 = p.stdout.readline().strip()
finally:
    stop(p)
check("responder answers an unknown version with msg,61", r1 == "msg,61", r1)
check("responder then answers version 1 with its id list", r2 == "msg,6100000201" + "ee" * 32, r2)

# The initiator refuses a reply in another version (the process fails).
p = start(0)
try:
    p.stdin.write("item,12345,%s\nseal\ninitiate\n" % ("ee" * 32)); p.stdin.flush()
    first = p.stdout.readline().strip()
    p.stdin.write("msg,62\n"); p.stdin.flush()
    rest = p.stdout.read()
    rc = p.wait(timeout=10)
finally:
    stop(p)
check("initiator refuses a reply in another version", first.startswith("msg,61") and rest == "" and rc != 0,
      "first %r rc %s" % (first[:20], rc))
PYEOF
