#!/bin/sh
# kill -9 of twind during writes, then restart and verify: an import of
# 10 000 records is all or nothing (and all once acknowledged), every
# acknowledged publish survives, and the restart does not trip on the lock
# or the socket the dead process left behind.
#
# The kill delays are random; TW_SEED=N repeats a run (the seed is printed).
. tests/integration/lib.sh

NREC=10000
SEED=${TW_SEED:-$(od -An -N2 -tu2 /dev/urandom | tr -d ' ')}
echo "    seed $SEED (TW_SEED=$SEED repeats these kill delays)"
F=$TW_ROOT/files
mkdir -p "$F"

now_ms() { date +%s%3N; }

# gen PREFIX FILE: NREC valid place and group records as a JSON import file.
gen() {
    python3 - "$NREC" "$1" "$2" <<'EOF'
import csv, json, sys
n, prefix, out = int(sys.argv[1]), sys.argv[2], sys.argv[3]
gov = list(csv.DictReader(open("proto/data/ps-governorates.csv")))
reg = list(csv.DictReader(open("proto/data/uk-nations-regions.csv")))
towns = ["Abu Dis", "Beit Sahour", "Nablus", "Jenin", "Aida camp", "Bethlehem", "Hebron", "Jericho", "Tubas", "Qalqilya"]
ar = ["أبو ديس", "بيت ساحور", "نابلس", "جنين", "مخيم عايدة", "بيت لحم", "الخليل", "أريحا", "طوباس", "قلقيلية"]
uk = ["Camden", "Oxford", "Sheffield", "Cardiff", "Glasgow", "Derry", "Brighton", "Hastings"]
pk = ["city", "town", "village", "refugee_camp", "bedouin_community", "neighbourhood"]
gk = ["twinning_association", "friendship_group", "student_union", "church", "school",
      "university", "council", "health_link", "trade_union", "other"]
recs = []
for i in range(n):
    if i % 2 == 0:
        g = gov[i % len(gov)]
        body = {"name_en": "%s %d" % (towns[i % len(towns)], i), "name_ar": ar[i % len(ar)],
                "place_kind": pk[i % len(pk)], "country": "PS", "subdivision": g["code"],
                "area": g["area"], "seeking_partner": i % 3 == 0}
        recs.append({"kind": "place", "slot": "%s-place-%05d" % (prefix, i), "body": body})
    else:
        r = reg[i % len(reg)]
        body = {"name": "%s %s Friendship Association %d" % (uk[i % len(uk)], towns[i % len(towns)], i),
                "group_kind": gk[i % len(gk)], "nation": r["nation"], "region": r["code"],
                "seeking_partner": i % 5 == 0}
        recs.append({"kind": "group", "slot": "%s-group-%05d" % (prefix, i), "body": body})
json.dump(recs, open(out, "w", encoding="utf-8"), ensure_ascii=False)
EOF
}

entries() { tw "$1" --json status 2>/dev/null | python3 -c 'import json,sys; print(json.load(sys.stdin)["entries"])' 2>/dev/null; }

# sample_ok NODE FILE: twin show of 8 random records of FILE gives the
# same body, verified, published by this node.
sample_ok() {
    python3 - "$1" "$2" "$SEED" "$TWIN" "$(tw_dir "$1")" <<'EOF'
import json, random, subprocess, sys
node, path, seed, twin, ddir = sys.argv[1:6]
recs = json.load(open(path, encoding="utf-8"))
rnd = random.Random(int(seed))
for r in rnd.sample(recs, 8) + [recs[0], recs[-1]]:
    p = subprocess.run(["timeout", "30", twin, "--data-dir", ddir, "--json", "show", r["kind"], r["slot"]],
                       capture_output=True, text=True)
    if p.returncode != 0:
        print("show %s %s: exit %d %s" % (r["kind"], r["slot"], p.returncode, p.stderr.strip()))
        sys.exit(1)
    got = json.loads(p.stdout)
    if len(got) != 1 or got[0]["body"] != r["body"] or got[0]["verified"] is not True or not got[0]["mine"]:
        print("show %s %s: %s" % (r["kind"], r["slot"], p.stdout[:300]))
        sys.exit(1)
EOF
}

# kill_on_growth PID FILE: prints "ready", then polls the size of FILE and
# sends SIGKILL to PID as soon as it grows (bounded to 30 s).
kill_on_growth() {
    python3 -c 'import os, signal, sys, time
pid, path = int(sys.argv[1]), sys.argv[2]
base = os.stat(path).st_size
print("ready", flush=True)
t0 = time.monotonic()
while time.monotonic() - t0 < 30:
    size = os.stat(path).st_size
    if size != base:
        os.kill(pid, signal.SIGKILL)
        print("killed %.0f ms after watching began: data file grew from %d to %d bytes"
              % (1000 * (time.monotonic() - t0), base, size), flush=True)
        sys.exit(0)
    time.sleep(0.0005)
print("no growth seen", flush=True)' "$1" "$2"
}

# restart_clean NODE DESC: the node was killed; its stale socket is still
# there; it must start again with no complaint in its log about the lock,
# the socket or the store.
restart_clean() {
    _sock=$(tw_dir "$1")/twind.sock
    [ -S "$_sock" ] && pass "$2: kill -9 left a stale socket behind" || fail "$2: kill -9 left a stale socket behind"
    _from=$(($(wc -l <"$(tw_log "$1")") + 1))
    if tw_start "$1"; then pass "$2: twind starts again after kill -9"; else fail "$2: twind starts again after kill -9"; return 1; fi
    tail -n +"$_from" "$(tw_log "$1")" >"$F/restart.log"
    if grep -Eiq ' (error|warn) |already running|cannot listen|lock|stale|corrupt' "$F/restart.log"; then
        fail "$2: restart log has no complaint (lock, socket, store)"; sed 's/^/      /' "$F/restart.log" | head
    else
        pass "$2: restart log has no complaint (lock, socket, store)"
    fi
    return 0
}

# ------------------------------------------------------------- timing run

gen t0 "$F/t0.json"
for r in 1 2 3 4 5; do gen "r$r" "$F/r$r.json"; done
tw_start c0 || fail "timing node starts"
T0=$(now_ms)
check_out "timing run: an import of $NREC records succeeds" 0 "$NREC imported, 0 unchanged" tw c0 import "$F/t0.json"
T1=$(now_ms)
IMPORT_MS=$((T1 - T0))
echo "    figure: import of $NREC records took $IMPORT_MS ms (twin run, file read to acknowledgement)"
[ "$(entries c0)" = "$NREC" ] && pass "timing run: $NREC entries stored" || fail "timing run: $NREC entries stored"
tw_stop c0 || fail "timing node stops cleanly"

# ------------------------------------------------------------- kill -9 during an import

# Delays spread over the measured import time T, so that runs see kills
# before the request arrives, while it is decoded and signed, during the
# commit, and (the last round, at 1.5 T) after the acknowledgement.
DELAYS=$(python3 -c 'import random, sys
r = random.Random(int(sys.argv[1])); t = max(int(sys.argv[2]), 200)
print(" ".join(str(int(r.uniform(a * t, b * t))) for a, b in ((0.1, 0.4), (0.4, 0.8), (0.8, 1.1), (1.5, 1.5))))' "$SEED" "$IMPORT_MS")
# The last round kills when the store's data file starts to grow: LMDB is
# then writing the transaction's pages, before or while it commits.
DELAYS="$DELAYS grow"
round=0
for delay in $DELAYS; do
    round=$((round + 1))
    n=k$round
    if [ "$delay" = grow ]; then R="round $round (kill as the store file grows)"; else R="round $round (kill after $delay ms)"; fi
    tw_start "$n" || { fail "$R: node starts"; continue; }
    # A few records of its own first, so "none imported" differs from an empty store.
    tw "$n" publish place abu-dis name_en="Abu Dis" name_ar="أبو ديس" place_kind=town country=PS \
        subdivision=PS-JEM area=west_bank >/dev/null || fail "$R: first publish"
    tw "$n" publish group camden-friendship name="Camden Abu Dis Friendship Association" \
        group_kind=friendship_group nation=england region=E12000007 >/dev/null || fail "$R: second publish"
    BASE=$(entries "$n")
    DG_BASE=$(tw "$n" digest)

    if [ "$delay" = grow ]; then
        kill_on_growth "$(tw_pid "$n")" "$(tw_dir "$n")/store/data.mdb" >"$F/watch.out" &
        WATCH=$!
        tw_track "$WATCH"
        tries=0
        while [ ! -s "$F/watch.out" ] && [ "$tries" -lt 200 ]; do sleep 0.05; tries=$((tries + 1)); done
    fi
    tw "$n" import "$F/r$round.json" >"$F/imp$round.out" 2>"$F/imp$round.err" &
    IMP=$!
    tw_track "$IMP"
    if [ "$delay" = grow ]; then
        tw__reap "$WATCH"
        echo "    $R: $(tail -n 1 "$F/watch.out")"
        grep -q '^killed' "$F/watch.out" && pass "$R: the kill landed while the store was being written" ||
            fail "$R: the kill landed while the store was being written"
    else
        sleep "$((delay / 1000)).$(printf %03d $((delay % 1000)))"
    fi
    tw_kill9 "$n"
    tw__reap "$IMP"
    IMP_RC=$TW_REAP_RC
    if [ "$IMP_RC" = 0 ] && grep -qF "$NREC imported" "$F/imp$round.out"; then ACK=yes; else ACK=no; fi
    echo "    $R: import acknowledged: $ACK (twin exit $IMP_RC: $(cat "$F/imp$round.out" "$F/imp$round.err" | tr '\n' ' '))"
    if [ "$ACK" = no ]; then
        [ "$IMP_RC" != 0 ] && [ -s "$F/imp$round.err" ] && pass "$R: twin reports the unacknowledged import as an error" ||
            fail "$R: twin reports the unacknowledged import as an error" "exit $IMP_RC"
    fi

    restart_clean "$n" "$R" || continue
    GOT=$(entries "$n")
    echo "    $R: $GOT entries after restart (before the import: $BASE)"
    if [ "$ACK" = yes ]; then
        [ "$GOT" = $((BASE + NREC)) ] && pass "$R: acknowledged import fully present after kill -9" ||
            fail "$R: acknowledged import fully present after kill -9" "entries $GOT, expected $((BASE + NREC))"
    else
        if [ "$GOT" = $((BASE + NREC)) ] || [ "$GOT" = "$BASE" ]; then
            pass "$R: unacknowledged import is all or nothing"
        else
            fail "$R: unacknowledged import is all or nothing" "entries $GOT: neither $BASE nor $((BASE + NREC))"
        fi
    fi
    tw "$n" --json status >"$F/st$round.json"
    if [ "$GOT" = $((BASE + NREC)) ]; then
        python3 -c 'import json,sys; d = json.load(open(sys.argv[1])); sys.exit(d["kinds"] != {"group": 5001, "place": 5001})' "$F/st$round.json" &&
            pass "$R: every imported record counted by kind" || fail "$R: every imported record counted by kind"
        if sample_ok "$n" "$F/r$round.json" >"$TW_OUT" 2>&1; then pass "$R: twin show of a sample: same bodies, verified"; else
            fail "$R: twin show of a sample: same bodies, verified"; sed 's/^/      /' "$TW_OUT"; fi
        check_out "$R: re-import after the crash finds every record unchanged" 0 "0 imported, $NREC unchanged" \
            tw "$n" import "$F/r$round.json"
    else
        [ "$(tw "$n" digest)" = "$DG_BASE" ] && pass "$R: registry exactly as before the import (digest)" ||
            fail "$R: registry exactly as before the import (digest)"
        check_out "$R: the import can be run again after the crash" 0 "$NREC imported, 0 unchanged" \
            tw "$n" import "$F/r$round.json"
    fi
    check_out "$R: the records published before the import survive" 0 "verified" tw "$n" show place abu-dis
    check_out "$R: the store takes new writes after the crash" 0 "created place/nablus" \
        tw "$n" publish place nablus name_en=Nablus name_ar="نابلس" place_kind=city country=PS subdivision=PS-NBS area=west_bank
    tw_stop "$n"; RC=$?
    [ "$RC" = 0 ] && pass "$R: clean stop after recovery (exit 0)" || fail "$R: clean stop after recovery (exit 0)" "exit $RC"
done

# ------------------------------------------------------------- kill -9 during 20 small publishes

NPUB=20
KILL_AFTER=$(python3 -c 'import random, sys; print(random.Random(int(sys.argv[1]) + 7).randint(3, 15))' "$SEED")
R="20 publishes (kill after $KILL_AFTER acknowledged)"
tw_start p1 || fail "$R: node starts"
ACKS=$F/acks
: >"$ACKS"
(
    i=1
    while [ "$i" -le "$NPUB" ]; do
        # Each acknowledged publish is written down only after twin says so.
        if timeout 30 "$TWIN" --data-dir "$(tw_dir p1)" publish place "jenin-$i" name_en="Jenin $i" \
            name_ar="جنين" place_kind=village country=PS subdivision=PS-JEN area=west_bank \
            "description=publish $i of $NPUB" >/dev/null 2>&1; then
            echo "$i" >>"$ACKS"
        fi
        i=$((i + 1))
    done
) &
PUBS=$!
tw_track "$PUBS"
tries=0
while [ "$(wc -l <"$ACKS")" -lt "$KILL_AFTER" ] && [ "$tries" -lt 600 ]; do sleep 0.01; tries=$((tries + 1)); done
tw_kill9 p1
tw__reap "$PUBS"
NACK=$(wc -l <"$ACKS")
echo "    $R: $NACK of $NPUB publishes acknowledged before/around the kill"
[ "$NACK" -ge "$KILL_AFTER" ] && [ "$NACK" -lt "$NPUB" ] && pass "$R: the kill landed during the sequence" ||
    fail "$R: the kill landed during the sequence" "$NACK acknowledged"
restart_clean p1 "$R"
missing=""
for i in $(cat "$ACKS"); do
    tw p1 --json show place "jenin-$i" >"$F/pub.json" 2>/dev/null &&
        python3 -c 'import json,sys; d = json.load(open(sys.argv[1]))
sys.exit(not (d[0]["verified"] and d[0]["body"]["description"] == "publish %s of %s" % (sys.argv[2], sys.argv[3])))' "$F/pub.json" "$i" "$NPUB" ||
        missing="$missing $i"
done
[ -z "$missing" ] && pass "$R: every acknowledged publish is present and verified after restart" ||
    fail "$R: every acknowledged publish is present and verified after restart" "missing:$missing"
GOT=$(entries p1)
[ "$GOT" -ge "$NACK" ] && [ "$GOT" -le $((NACK + 1)) ] && pass "$R: at most the one in-flight publish beyond them ($GOT entries)" ||
    fail "$R: at most the one in-flight publish beyond them ($GOT entries)"
tw_stop p1; RC=$?
[ "$RC" = 0 ] && pass "$R: clean stop after recovery (exit 0)" || fail "$R: clean stop after recovery (exit 0)" "exit $RC"

tw_done
