# Helpers for the tests of a network with admission (sourced after lib.sh):
#   . tests/integration/lib.sh
#   . tests/integration/lib_trust.sh
#
#   key_of NODE                  the node key (twk_...) of a running node
#   jq_ DESC FILE EXPR           PASS when the Python expression EXPR is True
#                                with d = the JSON in FILE (else FAIL, showing it)
#   tw_rooted_keys ROOT NODE...  makes the keys of a network whose root is
#                                ROOT: starts ROOT once (its node key and the
#                                network key), then each NODE with that network
#                                key (its node key), each stopped again; sets
#                                NETKEY, K_ROOT, K_NODE..., CONF0 (the network
#                                key alone) and CONF (the network key, root =
#                                K_ROOT, sync_interval = 2, log_level = debug).
#                                Returns 1 after a FAIL line if one did not start.

key_of() { tw "$1" --json status | python3 -c 'import json,sys; print(json.load(sys.stdin)["node"])'; }

jq_() {
    if [ "$(tw_json "$2" "($3)" 2>"$TW_ERR")" = true ]; then pass "$1"; else
        fail "$1" "false: $3"; head -c 3000 "$2" | sed 's/^/      /'; echo; fi
}

tw_rooted_keys() {
    _root=$1; shift
    tw_start "$_root" || { fail "$_root starts to make its keys"; return 1; }
    eval "K_$_root=\$(key_of \"\$_root\")"
    tw_stop "$_root"
    NETKEY=$(tw_netkey "$_root")
    CONF0=$(tw_conf keys "network_key = $NETKEY")
    for _rn in "$@"; do
        tw_start "$_rn" --config "$CONF0" || { fail "$_rn starts to make its key"; return 1; }
        eval "K_$_rn=\$(key_of \"\$_rn\")"
        tw_stop "$_rn"
    done
    CONF=$(tw_conf common "network_key = $NETKEY" "root = $(eval "echo \$K_$_root")" "sync_interval = 2" "log_level = debug")
}
