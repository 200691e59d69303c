#!/bin/sh
# A store of format 1 (made by tests/tools/mkstore_v1, the way twind wrote
# it before format 2) is upgraded when twind starts: killed with SIGKILL in
# the middle of the upgrade, twind starts again, the upgrade goes on from
# the last committed batch, and the store answers as before (the digest and
# count format 1 gave, records listed and shown).
. tests/integration/lib.sh

N=100000
D=$(tw_dir u1)
MK=$(tw_tool mkstore_v1) || { fail "mkstore_v1 is built"; tw_done; }
"$MK" "$D" "$N" >"$TW_ROOT/v1.out" 2>&1 || { fail "a store of format 1 is made"; cat "$TW_ROOT/v1.out"; tw_done; }
want=$(awk '$1 == "digest" { print $2 }' "$TW_ROOT/v1.out")
cnt=$(awk '$1 == "entries" { print $2 }' "$TW_ROOT/v1.out")
[ "$cnt" = "$N" ] && pass "a store of format 1 with $N records is made" || fail "a store of format 1 with $N records is made ($cnt)"

# First start: killed once the first upgrade batch is committed (logged).
"$TWIND" --data-dir "$D" --log-level info --http off 2>>"$(tw_log u1)" &
p=$!
tw_track "$p"
i=0
while [ "$i" -lt 6000 ] && ! grep -q 'upgrade: [0-9]* of' "$(tw_log u1)" 2>/dev/null && tw_alive "$p"; do
    sleep 0.01
    i=$((i + 1))
done
kill -KILL "$p" 2>/dev/null
wait "$p" 2>/dev/null
grep -q 'upgrading the store in .* from format 1 to 3' "$(tw_log u1)" &&
    pass "the upgrade is logged when it starts" || fail "the upgrade is logged when it starts"
if grep -q 'store upgraded to format 3' "$(tw_log u1)"; then
    fail "killed in the middle of the upgrade (it had finished: the machine was too fast or the kill too slow)"
else
    pass "killed in the middle of the upgrade"
fi

# Second start: goes on from there.
from=$(($(wc -l <"$(tw_log u1)") + 1))
if tw_start u1; then pass "twind starts again after kill -9 mid-upgrade"; else fail "twind starts again after kill -9 mid-upgrade"; tw_done; fi
tail -n +"$from" "$(tw_log u1)" >"$TW_ROOT/second.log"
before=$(sed -n 's/.*from format 1 to 3: [0-9]* entries, \([0-9]*\) converted before.*/\1/p' "$TW_ROOT/second.log")
[ -n "$before" ] && [ "$before" -gt 0 ] && [ "$before" -lt "$N" ] &&
    pass "the upgrade goes on from the batches committed before the kill ($before of $N)" ||
    fail "the upgrade goes on from the batches committed before the kill ('$before')"
grep -q "store upgraded to format 3: $N entries" "$TW_ROOT/second.log" &&
    pass "the upgrade completes and says so" || fail "the upgrade completes and says so"
if grep -Eiq ' (error|warn) ' "$TW_ROOT/second.log"; then
    fail "the restart logs no error"; grep -Ei ' (error|warn) ' "$TW_ROOT/second.log" | head -5
else
    pass "the restart logs no error"
fi
[ "$(tw_digest u1)" = "$want" ] && pass "digest after the upgrade is the digest of format 1" ||
    fail "digest after the upgrade is the digest of format 1 ($(tw_digest u1) != $want)"
[ "$(tw_entries u1)" = "$N" ] && pass "entries after the upgrade: $N" || fail "entries after the upgrade: $N ($(tw_entries u1))"
check_out "a later version is the one shown" 0 "version 2" tw u1 show place place-10
check_out "an upgraded record is listed" 0 "place-99998" tw u1 list place --limit 100000
[ ! -e "$D/store/compact" ] && pass "the compaction left no file behind" || fail "the compaction left no file behind"

# Third start: nothing to upgrade.
tw_stop u1 || fail "twind stops cleanly"
from=$(($(wc -l <"$(tw_log u1)") + 1))
tw_start u1 || fail "twind starts a third time"
tail -n +"$from" "$(tw_log u1)" | grep -q 'upgrad' && fail "an upgraded store is not upgraded again" ||
    pass "an upgraded store is not upgraded again"
[ "$(tw_digest u1)" = "$want" ] && pass "digest unchanged after a restart" || fail "digest unchanged after a restart"
tw_stop u1 || fail "twind stops cleanly"
tw_done
