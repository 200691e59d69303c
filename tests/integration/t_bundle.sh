#!/bin/sh
# Offline bundles between nodes that never connect (no listener, no peers):
# a round trip brings the receiver to the sender's digest; a second import
# stores nothing; a bundle with a forged signature, one with a damaged
# length field and one cut in half import their intact entries and report
# the rest (exit status 1); --since and --author narrow an export; a file
# that is not a bundle is refused without harm.
. tests/integration/lib.sh

F=$TW_ROOT/files
mkdir -p "$F"
N=${TW_BUNDLE_COUNT:-400}

BI=$(tw_tool bench_ingest) || { fail "bench_ingest is built"; tw_done; }
"$BI" "$TW_ROOT/a" "$N" >"$F/bench.out" 2>&1 || { fail "bench_ingest makes $N entries"; tw_done; }
rm -f "$TW_ROOT/a/entries.bin"
tw_start a || { fail "node a starts"; tw_done; }
NETKEY=$(tw_netkey a)
CONF=$(tw_conf common "network_key = $NETKEY")
for n in b c d; do tw_start "$n" --config "$CONF" || { fail "node $n starts"; tw_done; }; done
check "b publishes a group of its own" tw b publish group hebden-bridge-beit-jala name="Hebden Bridge Beit Jala Link" \
    group_kind=twinning_association nation=england region=E12000003 seeking_partner=no
DA=$(tw_digest a)
NA=$(tw_entries a)

# rec FILE K: byte offset of record K (from 0) of a bundle, from its framing.
rec() {
    python3 -c 'import sys,struct
d = open(sys.argv[1], "rb").read(); p = 50; k = int(sys.argv[2])
for i in range(k):
    p += 4 + struct.unpack(">I", d[p:p+4])[0]
print(p)' "$1" "$2"
}
# poke FILE OFFSET HEXBYTES: overwrites bytes in place.
poke() { python3 -c 'import sys
f = open(sys.argv[1], "r+b"); f.seek(int(sys.argv[2])); f.write(bytes.fromhex(sys.argv[3]))' "$1" "$2" "$3"; }
j() { tw_json "$1" "$2" 2>/dev/null; }

# ---------------------------------------------------------------- round trip
check "a exports a bundle of every entry" tw a bundle export "$F/full.bundle"
check "the bundle starts with the magic" sh -c "head -c 8 '$F/full.bundle' | grep -q TWBUNDLE"
[ ! -e "$F/full.bundle.part" ] && pass "no .part file is left behind" || fail "no .part file is left behind"
tw b --json bundle import "$F/full.bundle" >"$F/imp1.json" 2>"$F/imp1.err"; rc=$?
[ "$rc" = 0 ] && pass "b imports it (exit 0)" || { fail "b imports it (exit 0)" "exit $rc"; cat "$F/imp1.err"; }
[ "$(j "$F/imp1.json" 'd["new"] == d["entries"] == '"$NA"' and d["refused"] == 0 and d["trailer"] == "ok"')" = true ] &&
    pass "report: $NA new, none refused, trailer ok" || { fail "report: $NA new, none refused, trailer ok"; cat "$F/imp1.json"; }
DA0=$(tw_digest a); NA0=$NA
tw b bundle export "$F/b.bundle" >/dev/null 2>&1
check "a imports b's bundle" tw a bundle import "$F/b.bundle"
DA=$(tw_digest a)
[ -n "$DA" ] && [ "$(tw_digest b)" = "$DA" ] && pass "a and b hold the same registry without ever connecting" ||
    fail "a and b hold the same registry without ever connecting" "a $DA b $(tw_digest b)"
NA=$(tw_entries a)
tw b --json bundle import "$F/full.bundle" >"$F/imp2.json" 2>/dev/null; rc=$?
[ "$rc" = 0 ] && [ "$(j "$F/imp2.json" 'd["new"] == 0 and d["known"] + d["superseded"] == d["entries"]')" = true ] &&
    pass "importing the same bundle again stores nothing (idempotent)" || { fail "importing again stores nothing" "exit $rc"; cat "$F/imp2.json"; }
tw b bundle import "$F/full.bundle" >"$F/imp2.txt" 2>&1
grep -q "0 new, .* already known" "$F/imp2.txt" && pass "human report: counts of new and already known" ||
    { fail "human report: counts of new and already known"; cat "$F/imp2.txt"; }

# ----------------------------------------------------------- narrowed export
check "export --since a date in the future" tw a bundle export "$F/none.bundle" --since 2999-01-01
tw c --json bundle import "$F/none.bundle" >"$F/none.json" 2>/dev/null
[ "$(j "$F/none.json" 'd["entries"] == 0 and d["trailer"] == "ok"')" = true ] && pass "an empty bundle imports nothing, trailer ok" ||
    { fail "an empty bundle imports nothing"; cat "$F/none.json"; }
BKEY=$(tw b --json status | python3 -c 'import json,sys; print(json.load(sys.stdin)["node"])')
check "export --author b's key" tw a bundle export "$F/bonly.bundle" --author "$BKEY"
tw c --json bundle import "$F/bonly.bundle" >"$F/bonly.json" 2>/dev/null
[ "$(j "$F/bonly.json" 'd["entries"] >= 1 and d["new"] == d["entries"]')" = true ] &&
    [ "$(tw c --json list group 2>/dev/null | python3 -c 'import json,sys; r=json.load(sys.stdin); print(all(x["author"] == sys.argv[1] for x in r) and len(r) >= 1)' "$BKEY")" = True ] &&
    pass "--author keeps one author's entries" || { fail "--author keeps one author's entries"; cat "$F/bonly.json"; }
tw_stop c; rm -rf "$TW_ROOT/c"; tw_start c --config "$CONF" || fail "c restarts empty"

# ------------------------------------------------------------------ damage
K1=$((N / 3)); K2=$((2 * N / 3))
cp "$F/full.bundle" "$F/forged.bundle"
O1=$(rec "$F/forged.bundle" "$K1"); L1=$(rec "$F/forged.bundle" $((K1 + 1)))
poke "$F/forged.bundle" $((L1 - 10)) 00ff00ff          # inside the signature of record K1
tw c --json bundle import "$F/forged.bundle" >"$F/forged.json" 2>/dev/null; rc=$?
[ "$rc" = 1 ] && [ "$(j "$F/forged.json" 'd["new"] == d["entries"] - 1 and d["refused"] == 1 and "signature" in d["problems"][0]["reason"] and d["problems"][0]["offset"] == '"$O1"'')" = true ] &&
    pass "a forged entry is refused with its reason and offset; the others are stored (exit 1)" ||
    { fail "a forged entry is refused with its reason" "exit $rc"; cat "$F/forged.json"; }
grep -q "1 entry of the bundle not stored (first at offset $O1): signature does not verify" "$(tw_log c)" && pass "the refusal is logged with its reason" ||
    fail "the refusal is logged with its reason"
cp "$F/full.bundle" "$F/badlen.bundle"
O2=$(rec "$F/badlen.bundle" "$K2")
poke "$F/badlen.bundle" "$O2" ffffff7f                # the length of record K2
tw c --json bundle import "$F/badlen.bundle" >"$F/badlen.json" 2>/dev/null; rc=$?
[ "$rc" = 1 ] && [ "$(j "$F/badlen.json" 'd["new"] == 1 and d["skipped_bytes"] > 0 and d["entries"] == '"$NA0"' - 1 and d["trailer"] != "ok"')" = true ] &&
    pass "a damaged length loses only its record: reading resumes at the next one (exit 1)" ||
    { fail "a damaged length loses only its record" "exit $rc"; cat "$F/badlen.json"; }
[ "$(tw_digest c)" = "$DA0" ] && pass "the two damaged bundles together restore every entry" ||
    fail "the two damaged bundles together restore every entry" "entries $(tw_entries c) of $NA0"

SIZE=$(wc -c <"$F/full.bundle")
head -c $((SIZE / 2)) "$F/full.bundle" >"$F/cut.bundle"
tw d --json bundle import "$F/cut.bundle" >"$F/cut.json" 2>/dev/null; rc=$?
HALF=$(tw_entries d)
[ "$rc" = 1 ] && [ "$(j "$F/cut.json" 'd["truncated"] is True and d["trailer"] == "missing" and d["new"] == d["entries"] and d["entries"] > 0')" = true ] &&
    pass "a bundle cut in half imports its $HALF whole entries and says it was cut (exit 1)" ||
    { fail "a cut bundle imports its whole entries" "exit $rc"; cat "$F/cut.json"; }
tw d --json bundle import "$F/full.bundle" >"$F/rest.json" 2>/dev/null
[ "$(j "$F/rest.json" 'd["new"] == '"$NA0"' - '"$HALF"'')" = true ] && [ "$(tw_digest d)" = "$DA0" ] &&
    pass "the whole bundle then brings only the rest" || { fail "the whole bundle then brings only the rest"; cat "$F/rest.json"; }
for n in a b c d; do tw_counts_agree "$n's kept counts after its bundle imports equal a full count" "$n"; done

head -c 3000 /dev/urandom >"$F/noise.bin"
tw d bundle import "$F/noise.bin" >"$F/noise.out" 2>&1; rc=$?
[ "$rc" = 1 ] && grep -q "not a twin bundle" "$F/noise.out" && pass "a file that is not a bundle is refused" ||
    { fail "a file that is not a bundle is refused" "exit $rc"; cat "$F/noise.out"; }
printf 'TWBUNDLE\001' >"$F/short.bin"
tw d bundle import "$F/short.bin" >/dev/null 2>&1; [ $? = 1 ] && pass "a bundle cut inside its header is refused" || fail "a bundle cut inside its header is refused"
tw d bundle export >/dev/null 2>&1; [ $? = 2 ] && pass "bundle export without FILE is a usage error (2)" || fail "bundle export without FILE is a usage error"

for n in a b c d; do tw_alive "$(tw_pid "$n")" && tw_stop "$n" && pass "$n is still running and stops cleanly" || fail "$n is still running and stops cleanly"; done
tw_done
