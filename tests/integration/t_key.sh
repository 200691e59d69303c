#!/bin/sh
# Identity backup and restore (twin key export|import): a node's identity is
# exported from the running node, restored into a fresh data directory, and
# a twind started there is the same node.  Refusals: a wrong passphrase
# (clearly, and nothing written), an export over an existing file, a backup
# readable by others, an import while twind runs on the directory, an
# import over another identity without --force; no passphrase without a
# terminal, the environment or a file.  Uses the real Argon2id parameters
# (about a second per derivation), so few derivations are run.
. tests/integration/lib.sh

F=$TW_ROOT/files
mkdir -p "$F" && chmod 700 "$F"
PASS="Beit Sahour and Lewes town twinning"
export TWIN_PASSPHRASE="$PASS"

tw_start a || { fail "node a starts"; tw_done; }
KEY_A=$(tw a --json status | python3 -c 'import json,sys; print(json.load(sys.stdin)["node"])')
[ -n "$KEY_A" ] || { fail "node a reports its key"; tw_done; }

# ------------------------------------------------------------------ export
t0=$(date +%s%N)
check_out "a exports its identity" 0 "$KEY_A" tw a key export "$F/a.key"
t1=$(date +%s%N)
echo "# export (one Argon2id derivation and one round trip): $(( (t1 - t0) / 1000000 )) ms"
[ "$(stat -c %a "$F/a.key" 2>/dev/null)" = 600 ] && pass "the backup has mode 0600" ||
    fail "the backup has mode 0600" "mode $(stat -c %a "$F/a.key" 2>/dev/null)"
[ "$(stat -c %s "$F/a.key" 2>/dev/null)" = 138 ] && pass "the backup has 138 bytes" || fail "the backup has 138 bytes"
[ "$(head -c 8 "$F/a.key")" = TWKEYBAK ] && pass "the backup starts with the magic" || fail "the backup starts with the magic"
ls "$F" | grep -q tmp && fail "no temporary file is left behind" "$(ls "$F")" || pass "no temporary file is left behind"
# The seed must not appear in the file, in hex or in binary.
SEED=$(grep -v '^#' "$TW_ROOT/a/identity.key" | head -n 1)
python3 -c 'import sys
d = open(sys.argv[1], "rb").read(); s = sys.argv[2]
sys.exit(1 if bytes.fromhex(s) in d or s.encode() in d else 0)' "$F/a.key" "$SEED" &&
    pass "the seed is not in the backup in clear" || fail "the seed is not in the backup in clear"
grep -q "identity exported" "$(tw_log a)" && pass "twind logs the export" || fail "twind logs the export"

cp "$F/a.key" "$F/a.copy"
check_out "export refuses to overwrite a file" 1 "never overwrites" tw a key export "$F/a.key"
cmp -s "$F/a.key" "$F/a.copy" && pass "the existing file is untouched" || fail "the existing file is untouched"
check_out "export refuses a short passphrase" 1 "too short" env TWIN_PASSPHRASE=short "$TWIN" --data-dir "$TW_ROOT/a" key export "$F/short.key"
[ ! -e "$F/short.key" ] && pass "nothing written after a refusal" || fail "nothing written after a refusal"
check_out "no passphrase without a terminal, the environment or a file" 1 "TWIN_PASSPHRASE" \
    sh -c 'unset TWIN_PASSPHRASE; exec "$0" --data-dir "$1" key export "$2" </dev/null' "$TWIN" "$TW_ROOT/a" "$F/none.key"

# ------------------------------------------------------------------ import
check_out "import refuses while twind runs on the data directory" 1 "is running on" tw a key import "$F/a.key" --force
grep -q '^Passphrase' "$TW_ERR" && fail "the running check comes before any passphrase" || pass "the running check comes before any passphrase"
tw_stop a || fail "node a stops cleanly"

cp "$F/a.key" "$F/open.key"; chmod 644 "$F/open.key"
check_out "import refuses a backup readable by others, naming the fix" 1 "chmod 600 $F/open.key" \
    tw b key import "$F/open.key"
[ ! -e "$TW_ROOT/b/identity.key" ] && pass "nothing written after the mode refusal" || fail "nothing written after the mode refusal"

check_out "import refuses a wrong passphrase clearly" 1 "wrong passphrase or damaged file" \
    env TWIN_PASSPHRASE="Beit Sahour and Lewes town twinning!" "$TWIN" --data-dir "$TW_ROOT/b" key import "$F/a.key"
[ ! -e "$TW_ROOT/b/identity.key" ] && pass "nothing written after a wrong passphrase" || fail "nothing written after a wrong passphrase"

printf '%s\n' "$PASS" >"$F/pass"; chmod 600 "$F/pass"
t0=$(date +%s%N)
check_out "import restores into a fresh data directory (passphrase from a file)" 0 "$KEY_A" \
    env -u TWIN_PASSPHRASE "$TWIN" --data-dir "$TW_ROOT/b" key import "$F/a.key" --passphrase-file "$F/pass"
t1=$(date +%s%N)
echo "# import (one Argon2id derivation): $(( (t1 - t0) / 1000000 )) ms"
[ "$(stat -c %a "$TW_ROOT/b/identity.key" 2>/dev/null)" = 600 ] && pass "identity.key has mode 0600" ||
    fail "identity.key has mode 0600" "mode $(stat -c %a "$TW_ROOT/b/identity.key" 2>/dev/null)"
cmp -s "$TW_ROOT/a/identity.key" "$TW_ROOT/b/identity.key" && pass "identity.key is the original, byte for byte" ||
    fail "identity.key is the original, byte for byte"
check_out "importing the same identity again does nothing" 0 "nothing to do" tw b key import "$F/a.key"

tw_start b || { fail "twind starts on the restored data directory"; tw_done; }
KEY_B=$(tw b --json status | python3 -c 'import json,sys; print(json.load(sys.stdin)["node"])')
[ "$KEY_B" = "$KEY_A" ] && pass "twin status shows the same node key after the restore" ||
    fail "twin status shows the same node key after the restore" "a $KEY_A b $KEY_B"
tw_stop b || fail "node b stops cleanly"

# Another identity in the way: refused without --force (no passphrase
# asked), replaced with it, the old file kept.
tw_start c || { fail "node c starts"; tw_done; }
KEY_C=$(tw c --json status | python3 -c 'import json,sys; print(json.load(sys.stdin)["node"])')
tw_stop c || fail "node c stops cleanly"
check_out "import refuses to replace another identity without --force" 1 "--force" tw c key import "$F/a.key"
check_out "import --force replaces it" 0 "kept as" tw c key import "$F/a.key" --force
ls "$TW_ROOT/c" | grep -q '^identity.key.replaced-' && pass "the replaced identity is kept" || fail "the replaced identity is kept"
OLD=$(ls "$TW_ROOT/c"/identity.key.replaced-* 2>/dev/null | head -n 1)
[ "$(stat -c %a "$OLD" 2>/dev/null)" = 600 ] && pass "the kept identity keeps mode 0600" || fail "the kept identity keeps mode 0600"

# Damaged files, refused before any derivation.
head -c 100 "$F/a.key" >"$F/cut.key"; chmod 600 "$F/cut.key"
check_out "a cut backup is refused" 1 "cut short" tw d key import "$F/cut.key"
printf 'not a key backup, just text at all lengths.............................................................................................' >"$F/text.key"; chmod 600 "$F/text.key"
check_out "a file that is not a backup is refused" 1 "not a twin key backup" tw d key import "$F/text.key"
cp "$F/a.key" "$F/flip.key"
python3 -c 'import sys
f = open(sys.argv[1], "r+b"); f.seek(100); b = f.read(1); f.seek(100); f.write(bytes([b[0] ^ 1]))' "$F/flip.key"
check_out "a backup with one byte changed is refused" 1 "wrong passphrase or damaged file" tw d key import "$F/flip.key"
[ ! -e "$TW_ROOT/d/identity.key" ] && pass "nothing written for a damaged backup" || fail "nothing written for a damaged backup"

[ -n "$KEY_C" ] && [ "$KEY_C" != "$KEY_A" ] || fail "node c had an identity of its own"
tw_done
