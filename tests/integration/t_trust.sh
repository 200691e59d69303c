#!/bin/sh
# Admission with four real nodes on 127.0.0.1: a root hub; a UK group the
# hub vouches for; a Palestinian committee the group vouches for (depth 2);
# a stranger that has the network key but no vouch.  Every node has the
# hub's key as its root (config) and dials the hub; the committee and the
# stranger dial the group too.
#   - the stranger's records reach no one, and are refused with a reason;
#   - twin members lists root, group, committee with depth and voucher;
#   - the hub revokes the group: the group's records disappear from every
#     node, and so do the committee's (a key admitted only through a
#     revoked key loses admission: proto/PROTOCOL.md); the group's
#     connection to the hub is closed and refused afterwards;
#   - the hub vouches for the group again: everything comes back on every
#     node, with no record sent twice to nodes that kept them hidden;
#   - a hand-crafted entry cannot take another author's slot, and a vouch
#     whose body names another key than its slot is refused.
. tests/integration/lib.sh
. tests/integration/lib_trust.sh

F=$TW_ROOT/files
mkdir -p "$F"
CONV_S=30
NODES="hub grp com str"

for n in $NODES; do eval "P_$n=$(tw_free_port)"; done
port_of() { eval "echo \$P_$1"; }
converge() {
    _d=$1; shift
    if tw_wait_converged "$CONV_S" "$@"; then pass "$_d (${TW_CONV_S} s)"; else
        fail "$_d" "digests/entries:$TW_CONV_DETAIL"; fi
}
# has NODE KIND SLOT: the node lists a record of that kind and slot.
has() { tw "$1" --json list "$2" 2>/dev/null | python3 -c 'import json,sys
d = json.load(sys.stdin); sys.exit(0 if any(r["slot"] == sys.argv[1] for r in d) else 1)' "$3"; }
lacks() { ! has "$@"; }
# every DESC COND KIND SLOT: waits until COND (has/lacks) holds on every node.
every() {
    _d=$1; _c=$2; _k=$3; _s=$4
    _bad=""
    for _n in $NODES; do
        tw_wait_for "$CONV_S" "$_c" "$_n" "$_k" "$_s" || _bad="$_bad $_n"
    done
    if [ -z "$_bad" ]; then pass "$_d"; else fail "$_d" "not on:$_bad"; fi
}

# ------------------------------------------------------------- keys and config

tw_rooted_keys hub grp com str || tw_done
args_of() {
    case $1 in
        hub) echo "--config $CONF --listen 127.0.0.1:$P_hub" ;;
        grp) echo "--config $CONF --listen 127.0.0.1:$P_grp --peer 127.0.0.1:$P_hub" ;;
        com) echo "--config $CONF --listen 127.0.0.1:$P_com --peer 127.0.0.1:$P_hub --peer 127.0.0.1:$P_grp" ;;
        str) echo "--config $CONF --listen 127.0.0.1:$P_str --peer 127.0.0.1:$P_hub --peer 127.0.0.1:$P_grp" ;;
    esac
}
for n in $NODES; do
    # shellcheck disable=SC2046
    if tw_start "$n" $(args_of "$n"); then pass "$n starts with the hub as root"; else fail "$n starts"; fi
done
tw hub --json status >"$F/hub-status.json"
jq_ "the hub says it is the root" "$F/hub-status.json" 'd["admitted"] is True and "root" in d["admission"]'
tw grp --json status >"$F/grp-status.json"
jq_ "the group is not admitted yet, and says so" "$F/grp-status.json" \
    'd["admitted"] is False and "not admitted" in d["admission"]'

# ------------------------------------------------------------- vouches and records

check_out "the group publishes its record before anyone vouches for it, and is told it is held back" 0 \
    "not admitted yet: the record is kept here" tw grp publish group camden-battir \
    name="Camden Battir Link" group_kind=twinning_association nation=england region=E12000007
sleep 1
check_rc "the group's record is not on the hub yet" 1 has hub group camden-battir
check "the hub vouches for the group" tw hub vouch "$K_grp" --name "Camden Battir Link"
check "the group vouches for the committee" tw grp vouch "$K_com" --name "Battir Village Council"
check "the committee publishes its place" tw com publish place battir name_en=Battir name_ar="بتير" \
    place_kind=village country=PS subdivision=PS-BTH area=west_bank committee="$K_com"
check "the group publishes a link to it" tw grp publish link battir group=camden-battir \
    place="$K_com/battir" formality=friendship_link status=active since=2008
check "the hub publishes a listing of another place" tw hub publish place wadi-fukin name_en="Wadi Fukin" \
    place_kind=village country=PS subdivision=PS-BTH area=west_bank
check "the stranger publishes a group" tw str publish group stranger-friends name="Unvouched Friends" \
    group_kind=friendship_group nation=wales
every "the group's record reaches every node once vouched" has group camden-battir
every "the committee's place reaches every node (depth 2)" has place battir
every "the hub's listing reaches every node" has place wadi-fukin
converge "the four nodes converge on one digest (the stranger's record counted nowhere)" hub grp com str
for n in $NODES; do tw_counts_agree "$n's kept counts (synced records, the stranger's hidden) equal a full count" "$n"; done
for n in hub grp com; do
    check_rc "the stranger's record is not on $n" 1 has "$n" group stranger-friends
done
check_rc "the stranger's own node hides its record too (not admitted)" 1 has str group stranger-friends
tw str --json status >"$F/str-status.json"
jq_ "the stranger's status counts its record as hidden" "$F/str-status.json" \
    'd["admitted"] is False and d["hidden"] >= 1'
# The stranger's node never offers its hidden record; a peer that pushes
# one anyway (evilpeer, as an unvouched key) is refused with a reason, and
# not treated as misbehaving: an honest node may be a revocation behind.
EVIL=$(tw_tool evilpeer) || { fail "evilpeer is built"; tw_done; }
evil() {
    _o=$1; shift
    timeout 60 "$EVIL" --connect "127.0.0.1:$P_hub" --netkey "$NETKEY" "$@" >"$F/$_o" 2>&1
}
field() { awk -v k="$1" '$1 == k { $1 = ""; sub(/^ /, ""); print; exit }' "$F/$2"; }
SEED=$(od -An -N32 -tx1 /dev/urandom | tr -d ' \n')
evil unvouched --seed "$SEED" --mode good --wait 2
SLOT=$(field slot unvouched)
if [ "$(field handshake unvouched)" = ok ] && [ -n "$SLOT" ] && ! tw hub show place "$SLOT" >/dev/null 2>&1; then
    pass "an entry pushed by an unvouched key is not stored"
else
    fail "an entry pushed by an unvouched key is not stored" "$(cat "$F/unvouched")"
fi
check_file "the refusal is logged with its reason" "no admitted member vouches for it" "$(tw_log hub)"
if [ "$(field closed_by_node unvouched)" = no ]; then pass "the unvouched peer is not banned for it"; else
    fail "the unvouched peer is not banned for it" "$(cat "$F/unvouched")"; fi
sleep 1
for n in grp com str; do
    check_rc "the pushed entry did not travel on to $n" 1 tw "$n" show place "$SLOT"
done

tw hub --json members >"$F/members.json"
jq_ "members: root, group at depth 1 vouched by the hub, committee at depth 2 vouched by the group" "$F/members.json" \
    "([(m['key'], m['role'], m['depth']) for m in d['members']] ==
       [('$K_hub', 'root', 0), ('$K_grp', 'member', 1), ('$K_com', 'member', 2)]) and
     d['members'][1]['voucher'] == '$K_hub' and d['members'][1]['name'] == 'Camden Battir Link' and
     d['members'][2]['voucher'] == '$K_grp' and d['members'][2]['voucher_name'] == 'Camden Battir Link' and
     d['members'][2]['since'] > 0"
check_out "twin members prints a table with the committee's name" 0 "Battir Village Council" tw com members

# ------------------------------------------------------------- revocation

check "the hub revokes the group" tw hub revoke "$K_grp"
every "the group's record disappears from every node" lacks group camden-battir
every "the committee's place disappears too (only the revoked group vouched for it)" lacks place battir
every "the group's link disappears" lacks link battir
every "the hub's own listing stays on every node" has place wadi-fukin
tw hub --json stats >"$F/stats-revoked.json"
jq_ "the hub's stats no longer count the group" "$F/stats-revoked.json" \
    'sum(d["groups_by_nation"].values()) == 0 and sum(d["links_by_status"].values()) == 0'
jq_ "nor do their kinds: no group, no link, the hub's own place alone" "$F/stats-revoked.json" \
    'd["kinds"].get("group", 0) == 0 and d["kinds"].get("link", 0) == 0 and d["kinds"]["place"] == 1'
tw hub --json status >"$F/hub-revoked.json"
jq_ "the hub's status counts the group's and the committee's records as hidden, not as entries" "$F/hub-revoked.json" \
    'd["hidden"] >= 3 and d["kinds"].get("group", 0) == 0 and d["kinds"]["place"] == 1'
for n in $NODES; do tw_counts_agree "$n's kept counts after the revocation equal a full count" "$n"; done
tw hub --json members >"$F/members-revoked.json"
jq_ "members after the revocation: the root alone" "$F/members-revoked.json" "len(d['members']) == 1"
check_file "the hub closes or refuses the group's connection" "key revoked by a root" "$(tw_log hub)"
established_with() {
    tw "$1" --json peers | python3 -c 'import json,sys
d = json.load(sys.stdin)
fp = sys.argv[1][4:14]
sys.exit(0 if any(c.get("state") == "established" and c.get("fingerprint", "").startswith(fp) for c in d.get("connections", [])) else 1)' "$2"
}
not_established() { ! established_with "$@"; }
tw_wait_for 10 not_established hub "$K_grp"
check_rc "the group has no established connection with the hub while revoked" 1 established_with hub "$K_grp"
tw hub --json digest >/dev/null
check_rc "the group's record cannot be fetched from the hub by id either" 1 tw hub show group camden-battir

# ------------------------------------------------------------- admitted again

check "the hub vouches for the group again" tw hub vouch "$K_grp" --name "Camden Battir Link"
every "the group's record comes back on every node" has group camden-battir
every "the committee's place comes back on every node" has place battir
every "the group's link comes back" has link battir
converge "the four nodes converge again" hub grp com str
for n in $NODES; do tw_counts_agree "$n's kept counts with the group admitted again equal a full count" "$n"; done
tw_wait_for 20 established_with hub "$K_grp"
if established_with hub "$K_grp"; then pass "the hub and the group are connected again"; else fail "the hub and the group are connected again"; fi
tw hub --json members >"$F/members-back.json"
jq_ "members again: root, group, committee" "$F/members-back.json" "len(d['members']) == 3"

# ------------------------------------------------------------- slots and vouch bodies

check_out "a vouch whose body names another key than its slot is refused" 1 "differs from the slot key" \
    tw hub publish vouch "$K_com" key="$K_str" name="Wrong Key"
check_out "a node cannot vouch for itself" 1 "cannot vouch for or revoke itself" tw hub vouch "$K_hub" --name Self
check_rc "a vouch with a bad key is a refusal" 1 tw hub vouch twk_notakey --name X
check_rc "twin vouch without --name is a usage error" 2 tw hub vouch "$K_str"
check_rc "twin vouch with a bad role is a usage error" 2 tw hub vouch "$K_str" --name X --role boss

# The group holds slot "camden-battir"; the hub publishes a record with
# the same kind and slot: it is the hub's own record, beside the group's.
check "the hub publishes group camden-battir under its own key" tw hub publish group camden-battir \
    name="Camden Battir Link (hub copy)" group_kind=other nation=england
two_records() { [ "$(tw "$1" --json list group | python3 -c 'import json,sys
print(sum(r["slot"] == "camden-battir" for r in json.load(sys.stdin)))')" = 2 ]; }
tw_wait_for "$CONV_S" two_records com
tw com --json list group >"$F/com-groups.json"
jq_ "the group's record is untouched by the hub's (two authors, two records)" "$F/com-groups.json" \
    "sorted((r['author'], r['body']['name']) for r in d if r['slot'] == 'camden-battir') ==
     sorted([('$K_grp', 'Camden Battir Link'), ('$K_hub', 'Camden Battir Link (hub copy)')])"

# A hand-crafted entry naming the committee as its author, in the
# committee's slot, signed by another key: refused, the committee's record
# untouched.
evil forge --seed "$SEED" --mode forge --as "$K_com" --slot battir --wait 2
if [ "$(field handshake forge)" = ok ] && [ "$(field closed_by_node forge)" = yes ]; then
    pass "a forged entry in the committee's slot gets its sender closed"
else
    fail "a forged entry in the committee's slot gets its sender closed" "$(cat "$F/forge")"
fi
check_file "the forgery is logged: its signature does not verify" "signature does not verify" "$(tw_log hub)"
tw hub --json list place >"$F/battir.json"
jq_ "the committee's place on the hub is still its own" "$F/battir.json" \
    "[r['body']['name_en'] for r in d if r['slot'] == 'battir' and r['author'] == '$K_com'] == ['Battir']"
# ------------------------------------------------------------- a peer with other roots
# The stranger restarts with itself as a second root (a misconfigured
# node): it admits its own record and offers it at every reconciliation.
# The hub refuses it once and does not ask for it again.
tw_stop str
CONF_STR=$(tw_conf str-roots "network_key = $NETKEY" "root = $K_hub" "root = $K_str" "sync_interval = 2")
LINES=$(wc -l <"$(tw_log hub)")
tw_start str --config "$CONF_STR" --listen "127.0.0.1:$P_str" --peer "127.0.0.1:$P_hub" --peer "127.0.0.1:$P_grp" ||
    fail "the stranger restarts with itself as a root"
FP_STR=$(echo "$K_str" | cut -c5-14)
# refusals: entries by the stranger the hub refused since the restart (its
# group record and its peer record: 2 once each).
refusals() { tail -n +"$((LINES + 1))" "$(tw_log hub)" |
    awk -v fp="$FP_STR" '$0 ~ "refused [0-9]+ entr(y|ies) by " fp ":" { for (i = 1; i <= NF; i++) if ($i == "refused") n += $(i + 1) } END { print n + 0 }'; }
refused_once() { [ "$(refusals)" -ge 1 ]; }
if tw_wait_for 20 refused_once; then pass "the hub refuses the stranger's record offered by the stranger itself"; else
    fail "the hub refuses the stranger's record offered by the stranger itself"; fi
for i in 1 2 3; do tw hub sync --wait --timeout 10 >/dev/null 2>&1; tw str sync --wait --timeout 10 >/dev/null 2>&1; done
sleep 3       # a few periodic reconciliations (sync_interval 2) too
if [ "$(refusals)" = 2 ]; then pass "after 6 reconciliations and more, the hub has fetched and refused its 2 records once only"; else
    fail "after 6 reconciliations and more, the hub has fetched and refused its 2 records once only" "refused $(refusals) entries"; fi
check_rc "and the record is still not on the hub" 1 has hub group stranger-friends

# ------------------------------------------------------------- bad admission settings
# Each is refused at start with the file, the line and the reason.
TWIND_BIN=$(dirname "$TWIN")/twind
printf 'vouch_depth = %s\n' 17 >"$F/deep.conf"
check_out "vouch_depth past TW_TRUST_DEPTH_MAX (16) is refused" 1 "deep.conf:1: vouch_depth: \"17\" is not a number from 0 to 16" \
    timeout 20 "$TWIND_BIN" --config "$F/deep.conf" --data-dir "$TW_ROOT/bad1"
printf 'vouch_depth = 16\n' >"$F/deep16.conf"
if tw_start d16 --config "$F/deep16.conf"; then
    pass "vouch_depth 16 (the limit) is accepted"
    tw d16 --json members >"$F/d16.json"
    tw_stop d16
    jq_ "and is in force" "$F/d16.json" "d['max_depth'] == 16"
else fail "vouch_depth 16 (the limit) is accepted"; fi
printf 'root = twk_notakey\n' >"$F/root.conf"
check_out "a root that is not a key is refused" 1 "root.conf:1: root: \"twk_notakey\" is not a valid node key" \
    timeout 20 "$TWIND_BIN" --config "$F/root.conf" --data-dir "$TW_ROOT/bad2"
mkdir -p "$TW_ROOT/bad3" && chmod 700 "$TW_ROOT/bad3"
printf '# roots\n%s\n%s\n' "$K_hub" "${K_hub}x" >"$TW_ROOT/bad3/network.roots"
check_out "a damaged network.roots is refused, naming the file and line" 1 "network.roots:3: \"${K_hub}x\" is not a valid node key" \
    timeout 20 "$TWIND_BIN" --data-dir "$TW_ROOT/bad3"
check_file "the damaged roots file is left as it was" "${K_hub}x" "$TW_ROOT/bad3/network.roots"

tw_done
