#!/bin/sh
# Runs every test and ends with one line "N passed, N failed".
#   unit:        build/tests/test_*          (cmocka; each case counts)
#   fuzz replay: build/fuzz/replay_* over tests/fuzz/corpus/<name>/ (each binary counts once)
#   integration: tests/integration/t_*.sh    (each "PASS:"/"FAIL:" line counts)
# Output of each test goes to tests/out/<name>.log; failures are shown.
B=${1:-build}
ONLY=${ONLY:-}
OUT=tests/out
mkdir -p "$OUT"
pass=0; fail=0; failed=""
export B

count_cmocka() {
    p=$(sed -n 's/^\[  PASSED  \] \([0-9]*\) test.*/\1/p' "$1" | awk '{s+=$1} END {print s+0}')
    f=$(sed -n 's/^\[  FAILED  \] \([0-9]*\) test.*/\1/p' "$1" | awk '{s+=$1} END {print s+0}')
    echo "$p $f"
}

for t in "$B"/tests/test_*; do
    [ -x "$t" ] || continue
    name=$(basename "$t")
    case "$name" in *"$ONLY"*) ;; *) continue ;; esac
    log="$OUT/$name.log"
    timeout 300 "$t" >"$log" 2>&1; rc=$?
    set -- $(count_cmocka "$log")
    p=$1; f=$2
    if [ "$rc" != 0 ] && [ "$f" = 0 ]; then f=1; fi   # crashed or timed out
    pass=$((pass + p)); fail=$((fail + f))
    if [ "$f" != 0 ]; then failed="$failed $name"; echo "FAIL $name (see $log)"; tail -n 30 "$log"; else echo "ok   $name ($p)"; fi
done

for r in "$B"/fuzz/replay_*; do
    [ -x "$r" ] || continue
    name=${r##*/replay_}
    case "fuzz_$name" in *"$ONLY"*) ;; *) continue ;; esac
    log="$OUT/fuzz_$name.log"
    if timeout 300 "$r" tests/fuzz/corpus/"$name" >"$log" 2>&1; then
        pass=$((pass + 1)); echo "ok   fuzz replay $name ($(tail -n 1 "$log"))"
    else
        fail=$((fail + 1)); failed="$failed fuzz_$name"; echo "FAIL fuzz replay $name"; tail -n 20 "$log"
    fi
done

for s in tests/integration/t_*.sh; do
    [ -f "$s" ] || continue
    name=$(basename "$s" .sh)
    case "$name" in *"$ONLY"*) ;; *) continue ;; esac
    log="$OUT/$name.log"
    timeout 600 sh "$s" >"$log" 2>&1; rc=$?
    p=$(grep -c '^PASS:' "$log"); f=$(grep -c '^FAIL:' "$log")
    if [ "$rc" != 0 ] && [ "$f" = 0 ]; then f=1; echo "FAIL: $name exited $rc" >>"$log"; fi
    pass=$((pass + p)); fail=$((fail + f))
    if [ "$f" != 0 ]; then failed="$failed $name"; echo "FAIL $name (see $log)"; grep -E '^(FAIL|PASS):' "$log"; tail -n 25 "$log"; else echo "ok   $name ($p)"; fi
done

[ -n "$failed" ] && echo "failed:$failed"
echo "$pass passed, $fail failed"
[ "$fail" = 0 ]
