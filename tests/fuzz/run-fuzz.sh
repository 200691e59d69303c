#!/bin/sh
# `make fuzz`: runs every libFuzzer target for a bounded time over a copy of
# its committed corpus.  New inputs land in tests/out/fuzz/<name>/; crashes
# in tests/out/fuzz/crash-<name>-*.  Worth keeping inputs are copied into
# tests/fuzz/corpus/<name>/ by hand after review.
B=${1:-build}
SECONDS_EACH=${2:-60}
out=tests/out/fuzz
mkdir -p "$out"
status=0
for f in "$B"/fuzz/fuzz_*; do
    [ -x "$f" ] || continue
    name=${f##*/fuzz_}
    mkdir -p "$out/$name"
    cp tests/fuzz/corpus/"$name"/* "$out/$name"/ 2>/dev/null
    echo "== $name ($SECONDS_EACH s)"
    if "$f" -max_total_time="$SECONDS_EACH" -max_len=70000 -rss_limit_mb=2048 \
            -artifact_prefix="$out/crash-$name-" "$out/$name" >"$out/$name.log" 2>&1; then
        tail -n 1 "$out/$name.log"
    else
        echo "FAILED: see $out/$name.log"; tail -n 20 "$out/$name.log"; status=1
    fi
done
# The one-rule-every-door property with many more cases than make check
# runs (tests/unit/test_prop.c; PROP_CASES, PROP_SEED).
if [ -x "$B/tests/test_prop" ]; then
    cases=${PROP_FUZZ_CASES:-50000}
    echo "== property: $cases cases, seed ${PROP_SEED:-$$}"
    if PROP_CASES=$cases PROP_SEED=${PROP_SEED:-$$} "$B/tests/test_prop" >"$out/prop.log" 2>&1; then
        grep '^property:' "$out/prop.log"
    else
        echo "FAILED: see $out/prop.log"; tail -n 20 "$out/prop.log"; status=1
    fi
fi
exit $status
