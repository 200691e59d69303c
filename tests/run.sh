#!/bin/sh
# Runs every test and ends with one line "N passed, N failed".
#   unit:        build/tests/test_*          (cmocka; each case counts)
#   fuzz replay: build/fuzz/replay_* over tests/fuzz/corpus/<name>/ (each binary counts once)
#   integration: tests/integration/t_*.sh    (each "PASS:"/"FAIL:" line counts)
# Output of each test goes to tests/out/<name>.log; failures are shown.
#
# Integration tests run TW_JOBS (4) at a time: most of their time is spent
# waiting on sockets and timers, and each has its own directory ($TW_ROOT)
# and probed ports.  Two lists of name patterns (overridable; empty is
# allowed) make exceptions:
#   TW_ALONE   run first, one at a time, with nothing else running: tests whose
#              checks depend on timing (push before pull in t_pushtree) or on
#              what the node alone costs (t_bounded_net: latency, RSS, CPU,
#              descriptors, with thousands of connections)
#   TW_SERIAL  never two at once, alongside the others: the browser tests
#              (they share $B/web-node and each drives a Chromium)
# Results are printed in a fixed order (the TW_ALONE tests, then the others,
# each group sorted by name) whatever order they finish in.  TW_JOBS=1 runs
# everything one at a time, as before.
B=${1:-build}
ONLY=${ONLY:-}
JOBS=${TW_JOBS:-4}
ALONE=${TW_ALONE-"t_bounded_net t_pushtree"}
SERIAL=${TW_SERIAL-"t_web_*"}
TEST_TIMEOUT=600
OUT=tests/out
mkdir -p "$OUT"
pass=0; fail=0; failed=""
export B
case $JOBS in ''|*[!0-9]*|0) echo "TW_JOBS must be a number of at least 1, not '$JOBS'"; exit 2 ;; esac

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

# ------------------------------------------------------------ integration

# is_in NAME PATTERNS: true when NAME matches one of the shell patterns.
is_in() {
    set -f    # the patterns are matched against names, not files
    for _pat in $2; do
        case "$1" in $_pat) set +f; return 0 ;; esac
    done
    set +f
    return 1
}

# The state of each test lives in $ST: NAME.pid (the pid of its timeout
# process, to stop it if this script is stopped), NAME.rc (its exit status,
# written when it has ended), NAME.s (seconds it took).
ST=$OUT/.run
rm -rf "$ST"
mkdir -p "$ST"

alone=""; pooled=""
for s in tests/integration/t_*.sh; do
    [ -f "$s" ] || continue
    name=$(basename "$s" .sh)
    case "$name" in *"$ONLY"*) ;; *) continue ;; esac
    if is_in "$name" "$ALONE"; then alone="$alone $name"; else pooled="$pooled $name"; fi
done

# start NAME: runs the test in the background.
start() {
    (
        _t0=$(date +%s)
        timeout "$TEST_TIMEOUT" sh "tests/integration/$1.sh" >"$OUT/$1.log" 2>&1 &
        echo $! >"$ST/$1.pid"
        wait $!
        _rc=$?
        echo $(($(date +%s) - _t0)) >"$ST/$1.s"
        echo "$_rc" >"$ST/$1.rc.new" && mv "$ST/$1.rc.new" "$ST/$1.rc"
    ) &
}

# Whatever way this script ends, no test it started keeps running.
stop_running() {
    for _pf in "$ST"/*.pid; do
        [ -f "$_pf" ] || continue
        _n=$(basename "$_pf" .pid)
        [ -f "$ST/$_n.rc" ] || kill -TERM "$(cat "$_pf")" 2>/dev/null
    done
}
trap 'stop_running' EXIT
trap 'exit 130' INT TERM

# report NAME: counts and prints the result of an ended test.
report() {
    name=$1
    log="$OUT/$name.log"
    rc=$(cat "$ST/$name.rc")
    secs=$(cat "$ST/$name.s" 2>/dev/null)
    p=$(grep -c '^PASS:' "$log"); f=$(grep -c '^FAIL:' "$log")
    if [ "$rc" != 0 ] && [ "$f" = 0 ]; then f=1; echo "FAIL: $name exited $rc" >>"$log"; fi
    pass=$((pass + p)); fail=$((fail + f))
    if [ "$f" != 0 ]; then
        failed="$failed $name"; echo "FAIL $name (see $log; ${secs} s)"
        grep -E '^(FAIL|PASS):' "$log"; tail -n 25 "$log"
    else
        echo "ok   $name ($p; ${secs} s)"
    fi
}

# run_group N NAME...: runs the tests N at a time, TW_SERIAL ones never two
# at once; reports each, in the order given, as soon as it and those before
# it have ended.  Bounded: every test ends within TEST_TIMEOUT (timeout
# kills it), and the loop gives up a little after the longest the tests
# could take one after another.
run_group() {
    _j=$1; shift
    _todo=$*; _shown=$*
    _polls=0
    _maxpolls=$(( $# * (TEST_TIMEOUT + 10) * 5 ))
    while [ -n "$_shown" ]; do
        # Count the tests still running, start more up to _j.
        _running=0; _serial=0
        for _n in $_shown; do
            if [ -f "$ST/$_n.pid" ] && [ ! -f "$ST/$_n.rc" ]; then
                _running=$((_running + 1))
                is_in "$_n" "$SERIAL" && _serial=1
            fi
        done
        # A TW_SERIAL test first, whenever none is running: one after the
        # other they take long, and left to the end they would run alone.
        _left=""
        for _n in $_todo; do
            if [ "$_running" -lt "$_j" ] && [ "$_serial" = 0 ] && is_in "$_n" "$SERIAL"; then
                : >"$ST/$_n.pid"
                start "$_n"
                _running=$((_running + 1)); _serial=1
            else
                _left="$_left $_n"
            fi
        done
        _todo=$_left; _left=""
        for _n in $_todo; do
            if [ "$_running" -lt "$_j" ] && ! is_in "$_n" "$SERIAL"; then
                : >"$ST/$_n.pid"
                start "$_n"
                _running=$((_running + 1))
            else
                _left="$_left $_n"
            fi
        done
        _todo=$_left
        # Report, in order, those that have ended.
        while [ -n "$_shown" ]; do
            set -- $_shown
            [ -f "$ST/$1.rc" ] || break
            report "$1"
            shift; _shown=$*
        done
        [ -n "$_shown" ] || break
        _polls=$((_polls + 1))
        if [ "$_polls" -gt "$_maxpolls" ]; then
            for _n in $_shown; do
                fail=$((fail + 1)); failed="$failed $_n"; echo "FAIL $_n (no result: the runner gave up waiting)"
            done
            stop_running
            break
        fi
        sleep 0.2
    done
}

[ -n "$alone" ] && run_group 1 $alone
[ -n "$pooled" ] && run_group "$JOBS" $pooled
wait

[ -n "$failed" ] && echo "failed:$failed"
echo "$pass passed, $fail failed"
[ "$fail" = 0 ]
