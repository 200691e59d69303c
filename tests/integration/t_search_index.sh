#!/bin/sh
# The search word index (daemon/wordidx.c) against reading every record, on
# realistic messy data (tests/tools/gensearch.py: Palestinian place names
# in Arabic and in several transliterations, UK groups named after them),
# after imports, newer versions and deletions through twind: for some
# hundreds of queries taken from the data -- whole names, first words,
# beginnings of words, Arabic names, other spellings, misspellings that
# find nothing and suggest, stop words, word order changed -- every match,
# its score and rank, the total and the suggestions are the same
# (tests/tools/search_check, on the stopped node's store).  Then the
# index is dropped as an older twind would have had none: twind builds it
# on start, logs it, and search answers as before.
. tests/integration/lib.sh

F=$TW_ROOT/files
mkdir -p "$F"
CHECK=$(tw_tool search_check) || { fail "search_check tool"; tw_done; }

python3 tests/tools/gensearch.py 3000 >"$F/reg.json" && pass "gensearch writes 3000 records" || fail "gensearch writes 3000 records"
# Newer versions of 300 records (names changed) and 40 deletions.
python3 - "$F" <<'PY' || fail "later versions written"
import json, random, sys
d = sys.argv[1]
recs = json.load(open(d + "/reg.json"))
rnd = random.Random(11)
later = []
for r in rnd.sample(recs, 300):
    b = dict(r["body"])
    other = rnd.choice(recs)["body"]
    if "name_en" in b and "name_en" in other:
        b["name_en"], b["name_ar"] = other["name_en"], other["name_ar"]
    elif "name" in b and "name" in other:
        b["name"] = other["name"] + " Link"
    later.append({"kind": r["kind"], "slot": r["slot"], "body": b})
json.dump(later, open(d + "/later.json", "w"), ensure_ascii=False)
with open(d + "/deleted.txt", "w") as f:
    for r in rnd.sample(recs, 40):
        f.write("%s %s\n" % (r["kind"], r["slot"]))
# Queries from the data.
q = set()
def words(s): return [w for w in s.replace("-", " ").split() if w]
for r in rnd.sample(recs, 120):
    b = r["body"]
    name = b.get("name_en") or b.get("name")
    ws = words(name)
    q.add(name); q.add(name.lower()); q.add(ws[0]); q.add(" ".join(reversed(ws)))
    last = ws[-1]
    if len(last) > 4: q.add(last[:4]); q.add(last[:2] + last[3:])          # a beginning; a letter left out
    if len(last) > 6: q.add(last[:3] + last[4:] + "x")
    if "name_ar" in b: q.add(b["name_ar"]); q.add(words(b["name_ar"])[-1])
    for o in b.get("other_names", []): q.add(o)
    if "description" in b: q.add("olive " + ws[0])
for extra in ["al", "al and", "camp", "beit sahour", "bayt sahur", "khan", "kafr", "xylophone", "zzqx", "deir al",
              "twinning association", "friendship", "p 12", "g-7"]:
    q.add(extra)
open(d + "/queries.txt", "w").write("\n".join(sorted(q)) + "\n")
PY

if tw_start n1; then pass "twind starts"; else fail "twind starts"; tw_done; fi
D1=$(tw_dir n1)
check_out "the registry imports" 0 "3000 imported" tw n1 import "$F/reg.json"
check_out "later versions of 300 records import" 0 "imported" tw n1 import "$F/later.json"
ndel=0
while read -r kind slot; do
    tw n1 delete "$kind" "$slot" >/dev/null 2>&1 && ndel=$((ndel + 1))
done <"$F/deleted.txt"
if [ "$ndel" = 40 ]; then pass "40 records deleted"; else fail "40 records deleted" "$ndel"; fi
check_out "a search answers" 0 "" tw n1 search "beit sahour"
tw_stop n1

nq=$(wc -l <"$F/queries.txt")
out=$("$CHECK" "$D1" <"$F/queries.txt" 2>&1); rc=$?
summary=$(echo "$out" | tail -n 1)
if [ "$rc" = 0 ] && echo "$summary" | grep -q " 0 differ$"; then
    pass "the index finds what reading every record finds ($summary)"
else
    fail "the index finds what reading every record finds" "$(echo "$out" | head -n 40)"
fi
# The comparison means something: most queries match, some suggest, and
# most go through the index.
set -- $(echo "$summary" | tr -d ',' | awk '{ print $1, $3, $5, $7 }')
if [ "${1:-0}" -ge 300 ] && [ "${2:-0}" -ge 250 ] && [ "${3:-0}" -ge 5 ] && [ "${4:-0}" -ge 250 ]; then
    pass "queries: $1 of $nq, $2 matched, $3 suggested, $4 through the index"
else
    fail "enough queries matched, suggested and used the index" "$summary"
fi

# Pages (0, 1, 3 and 20 records) asked for as search does on a node that
# shows every record equal the same pages of a scan: ranks, ties, totals,
# suggestions.  (An import gives its records one time, so these refs
# stand for several entries and every candidate is read: the page read
# best bound first is compared in test_wordidx.)
pl=$(echo "$out" | grep '^pages of ')
set -- $(echo "$pl" | awk '{ print $8, $13 }')
if [ "$rc" = 0 ] && [ "${2:-x}" = 0 ] && [ -n "${1:-}" ]; then
    pass "pages read best bound first equal a scan's ($pl)"
else
    fail "pages read best bound first equal a scan's" "$pl"
fi

# An older store: no index.  twind builds it on start (3000 entries:
# tombstones count, with no words) and says so.
python3 - "$D1/store" <<'PY' && pass "index dropped" || fail "index dropped"
import ctypes, ctypes.util, sys
lib = ctypes.CDLL(ctypes.util.find_library("lmdb"))
env, txn, dbi = ctypes.c_void_p(), ctypes.c_void_p(), ctypes.c_uint()
assert lib.mdb_env_create(ctypes.byref(env)) == 0
lib.mdb_env_set_maxdbs(env, 8)
assert lib.mdb_env_open(env, sys.argv[1].encode(), 0, 0o600) == 0
assert lib.mdb_txn_begin(env, None, 0, ctypes.byref(txn)) == 0
assert lib.mdb_dbi_open(txn, b"words", 0, ctypes.byref(dbi)) == 0
assert lib.mdb_drop(txn, dbi, 1) == 0
assert lib.mdb_txn_commit(txn) == 0
lib.mdb_env_close(env)
PY
if tw_start n1; then pass "twind starts on a store without the index"; else fail "twind starts on a store without the index"; tw_done; fi
if grep -q "search word index built: 3000 records" "$(tw_log n1)"; then pass "it builds the index on start and logs it"
else fail "it builds the index on start and logs it" "$(grep wordidx "$(tw_log n1)" | tail -n 3)"; fi
check_out "search through the new index" 0 "" tw n1 search "bayt sahur"
tw_stop n1
out=$("$CHECK" "$D1" <"$F/queries.txt" 2>&1)
if echo "$out" | tail -n 1 | grep -q " 0 differ$"; then pass "the built index finds what reading every record finds"
else fail "the built index finds what reading every record finds" "$(echo "$out" | head -n 20)"; fi
tw_done
