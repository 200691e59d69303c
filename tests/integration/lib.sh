# Shared helpers for the integration tests (POSIX sh; sourced, not run).
#
#   . tests/integration/lib.sh
#   tw_start n1                 start twind on its own data directory
#   tw n1 status                run twin against it
#   "$TWIND" / "$TWIN"          the binaries under test (copies of $B/twind, $B/twin)
#   check "status works" tw n1 status
#   tw_stop n1 || fail "..."    SIGTERM, bounded wait, returns the exit code
#   tw_done                     last line: exit status from the tally
#
# Every node NAME has the data directory $TW_ROOT/NAME, created by twind
# itself on its first start (so its mode is the daemon's doing), and the log
# $TW_ROOT/NAME.log (twind's stderr, appended across restarts).  $TW_ROOT is
# a fresh directory under /tmp with a short name, because the control socket
# path must fit in the 108 bytes of sun_path.  Every process started here is
# remembered by pid and stopped by pid when the script exits, whatever way it
# exits.  NAME must be usable in a shell variable name ([A-Za-z0-9_]).

B=${B:-build}
TW_NPASS=0
TW_NFAIL=0
TW_PIDS=""
TW_START_TRIES=${TW_START_TRIES:-200}    # x 0.05 s to come up
TW_STOP_TRIES=${TW_STOP_TRIES:-200}      # x 0.05 s to exit after SIGTERM
TW_CMD_TIMEOUT=${TW_CMD_TIMEOUT:-60}     # seconds for one twin command
TW_SCRIPT=$(basename "$0" .sh)

TW_ROOT=$(mktemp -d /tmp/twtest.XXXXXX) || { echo "FAIL: $TW_SCRIPT: cannot create a temporary directory"; exit 1; }

# The binaries under test, copied once: a rebuild of $B while the script runs
# (other work in the same tree) must not swap them between two checks.
mkdir "$TW_ROOT/bin" && cp "$B/twind" "$B/twin" "$TW_ROOT/bin/" ||
    { echo "FAIL: $TW_SCRIPT: no $B/twind or $B/twin (run make first)"; rm -rf "$TW_ROOT"; exit 1; }
TWIND=$TW_ROOT/bin/twind
TWIN=$TW_ROOT/bin/twin

pass() { TW_NPASS=$((TW_NPASS + 1)); echo "PASS: $1"; }

# fail DESC [DETAIL...]: the detail lines go to the log only, indented.
fail() {
    TW_NFAIL=$((TW_NFAIL + 1))
    echo "FAIL: $1"
    shift
    for l in "$@"; do echo "    $l"; done
}

# tw_run CMD...: runs CMD with stdout in $TW_OUT and stderr in $TW_ERR and
# sets TW_RC.  Never fails the script.
TW_OUT=$TW_ROOT/out
TW_ERR=$TW_ROOT/err
tw_run() {
    TW_RC=0
    "$@" >"$TW_OUT" 2>"$TW_ERR" || TW_RC=$?
    return 0
}

tw__show_last() {
    echo "    exit status $TW_RC; stdout:"
    head -n 15 "$TW_OUT" | sed 's/^/      /'
    echo "    stderr:"
    head -n 15 "$TW_ERR" | sed 's/^/      /'
}

# check DESC CMD...: PASS when CMD exits 0.
check() {
    _d=$1; shift
    tw_run "$@"
    if [ "$TW_RC" = 0 ]; then pass "$_d"; else fail "$_d"; tw__show_last; fi
}

# check_rc DESC RC CMD...: PASS when CMD exits with status RC.
check_rc() {
    _d=$1; _want=$2; shift 2
    tw_run "$@"
    if [ "$TW_RC" = "$_want" ]; then pass "$_d"; else fail "$_d" "expected exit status $_want"; tw__show_last; fi
}

# check_out DESC RC PATTERN CMD...: PASS when CMD exits with RC and its
# stdout or stderr contains the fixed string PATTERN.
check_out() {
    _d=$1; _want=$2; _pat=$3; shift 3
    tw_run "$@"
    if [ "$TW_RC" = "$_want" ] && cat "$TW_OUT" "$TW_ERR" | grep -qF -- "$_pat"; then
        pass "$_d"
    else
        fail "$_d" "expected exit status $_want and output containing: $_pat"; tw__show_last
    fi
}

# check_file DESC PATTERN FILE: PASS when FILE contains the fixed string.
check_file() {
    if grep -qF -- "$2" "$3" 2>/dev/null; then pass "$1"; else fail "$1" "$3 lacks: $2"; fi
}

# tw_json FILE EXPR: prints the Python expression EXPR evaluated with d =
# the JSON document in FILE (exit 1 if it does not parse or EXPR fails).
tw_json() {
    python3 -c 'import json,sys
d = json.load(open(sys.argv[1], encoding="utf-8"))
r = eval(sys.argv[2])
print(json.dumps(r, ensure_ascii=False, sort_keys=True) if not isinstance(r, str) else r)' "$1" "$2"
}

tw_dir() { echo "$TW_ROOT/$1"; }
tw_log() { echo "$TW_ROOT/$1.log"; }
tw_pid() { eval "echo \${TW_PID_$1:-}"; }

# tw NAME ARGS...: twin against node NAME, bounded in time.
tw() {
    _n=$1; shift
    timeout "$TW_CMD_TIMEOUT" "$TWIN" --data-dir "$TW_ROOT/$_n" "$@"
}

# True while PID runs (a zombie, which kill -0 still reports, does not).
tw_alive() {
    [ -n "$1" ] && [ -d "/proc/$1" ] || return 1
    ! grep -q '^State:[[:space:]]*Z' "/proc/$1/status" 2>/dev/null
}

# tw_start NAME [TWIND ARGS...]: starts twind for NAME in the background
# and waits until `twin status` answers.  Returns 0 when it serves; else
# the daemon's exit status (or 124 if it neither served nor exited).
# Nodes get --http off (parallel nodes would all want 127.0.0.1:8427)
# unless ARGS hold an --http flag of their own.
tw_start() {
    _n=$1; shift
    _http="--http off"
    for _a in "$@"; do case $_a in --http|--http=*) _http="" ;; esac; done
    "$TWIND" --data-dir "$TW_ROOT/$_n" --log-level debug $_http "$@" 2>>"$TW_ROOT/$_n.log" &
    _p=$!
    eval "TW_PID_$_n=$_p"
    TW_PIDS="$TW_PIDS $_p"
    _i=0
    while [ "$_i" -lt "$TW_START_TRIES" ]; do
        if ! tw_alive "$_p"; then
            _rc=0; wait "$_p" || _rc=$?
            eval "TW_PID_$_n="
            echo "    twind $_n exited at start with status $_rc; log:"
            tail -n 5 "$TW_ROOT/$_n.log" | sed 's/^/      /'
            return "$_rc"
        fi
        if timeout 5 "$TWIN" --data-dir "$TW_ROOT/$_n" status >/dev/null 2>&1; then return 0; fi
        sleep 0.05
        _i=$((_i + 1))
    done
    echo "    twind $_n did not answer within $TW_START_TRIES tries"
    return 124
}

# tw__reap PID: waits (bounded) for PID to exit and sets TW_REAP_RC to its
# exit status; 124 if it did not exit in time (it is then killed with
# SIGKILL).  Not to be run in a subshell: only this shell can reap its
# children.
tw__reap() {
    _i=0
    while tw_alive "$1" && [ "$_i" -lt "$TW_STOP_TRIES" ]; do sleep 0.05; _i=$((_i + 1)); done
    if tw_alive "$1"; then
        kill -KILL "$1" 2>/dev/null
        wait "$1" 2>/dev/null
        TW_REAP_RC=124
        return
    fi
    TW_REAP_RC=0; wait "$1" 2>/dev/null || TW_REAP_RC=$?
}

# tw_stop NAME: SIGTERM, bounded wait; returns twind's exit status.
tw_stop() {
    _p=$(tw_pid "$1")
    [ -n "$_p" ] || return 0
    kill -TERM "$_p" 2>/dev/null
    tw__reap "$_p"
    eval "TW_PID_$1="
    return "$TW_REAP_RC"
}

# tw_kill9 NAME: SIGKILL, and waits until the process is gone.
tw_kill9() {
    _p=$(tw_pid "$1")
    [ -n "$_p" ] || return 0
    kill -KILL "$_p" 2>/dev/null
    tw__reap "$_p"
    eval "TW_PID_$1="
    return 0
}

# tw_track PID: stop PID at exit too (for other background processes).
tw_track() { TW_PIDS="$TW_PIDS $1"; }

# tw_free_port: a TCP port on 127.0.0.1 free at the time of asking.
tw_free_port() {
    python3 -c 'import socket
s = socket.socket()
s.bind(("127.0.0.1", 0))
print(s.getsockname()[1])
s.close()'
}

tw__cleanup() {
    for _p in $TW_PIDS; do
        if tw_alive "$_p"; then
            kill -TERM "$_p" 2>/dev/null
            _i=0
            while tw_alive "$_p" && [ "$_i" -lt 40 ]; do sleep 0.05; _i=$((_i + 1)); done
            tw_alive "$_p" && kill -KILL "$_p" 2>/dev/null
        fi
    done
    if [ "$TW_NFAIL" != 0 ]; then
        # Keep the daemons' logs where the runner keeps its own.
        _keep=tests/out/$TW_SCRIPT
        mkdir -p "$_keep" 2>/dev/null && cp "$TW_ROOT"/*.log "$_keep"/ 2>/dev/null &&
            echo "    node logs kept in $_keep/"
    fi
    [ -n "${TW_KEEP:-}" ] && { echo "    kept $TW_ROOT"; return; }
    rm -rf "$TW_ROOT"
}
trap 'tw__cleanup' EXIT
trap 'exit 130' INT TERM

# tw_done: prints the tally and exits 1 if anything failed.
tw_done() {
    echo "$TW_SCRIPT: $TW_NPASS passed, $TW_NFAIL failed"
    [ "$TW_NFAIL" = 0 ]
    exit $?
}

# ------------------------------------------------------------ replication
#
#   tw_netkey n1                the network key (twn_...) of node n1
#   tw_conf n2 "k = v" ...      writes $TW_ROOT/n2.conf (mode 600), prints its path
#   tw_digest n1 / tw_entries n1   digest / entry count ("" if no answer)
#   tw_wait_converged S n1 n2.. polls until every digest is equal (S seconds)
#   tw_wait_for S CMD...        polls CMD every 0.1 s until it succeeds
#   tw_tool NAME                path of a copy of $B/tools/NAME
#   tw_proxy P TARGET [ARGS]    starts faultproxy P in front of TARGET
#   tw_proxy_port P / tw_proxy_stat P FIELD
#   tw_vm PID FIELD             VmRSS, VmHWM... of PID in KiB
#   tw_established n1           established connections of node n1
#   tw_has_peers n1 N           true when n1 has N established connections
#   tw_counts_agree DESC n1     PASS when n1's counts in status (kept by the
#                               store as writes commit) equal a full count
#                               made at that moment (status with "recount")
#
# A proxy or any other helper process started here is stopped like a node
# (tw_stop P); its stderr goes to $TW_ROOT/P.log.

tw_netkey() { grep -v '^#' "$TW_ROOT/$1/network.key" 2>/dev/null | grep . | head -n 1; }

tw_conf() {
    _cf=$TW_ROOT/$1.conf
    shift
    # Mode 600: twind refuses a config that sets network_key and that others
    # can read (twind.conf(5)).
    : >"$_cf"
    chmod 600 "$_cf"
    for _cl in "$@"; do printf '%s\n' "$_cl" >>"$_cf"; done
    echo "$_cf"
}

tw_digest() { tw "$1" digest 2>/dev/null | awk '$1 == "digest" { print $2 }'; }
tw_entries() { tw "$1" status 2>/dev/null | awk '$1 == "entries" { print $2 }'; }

tw_counts_agree() {
    _ca=$(timeout "$TW_CMD_TIMEOUT" python3 tests/tools/ctlpoke.py "$TW_ROOT/$2/twind.sock" \
        json '{"v":1,"op":"status","args":{"recount":true}}' recv 2>&1 | python3 -c 'import json,sys
line = sys.stdin.readline()
r = json.loads(line[5:]).get("result") or {} if line.startswith("RESP ") else {}
kept = {k: r.get(k) for k in ("entries", "hidden", "tombstones", "kinds")}
c = r.get("recounted")
print("ok" if c == kept and c.get("entries") is not None else "kept %s, recounted %s; %s" % (kept, c, line[:300]))')
    if [ "$_ca" = ok ]; then pass "$1"; else fail "$1" "$_ca"; fi
}

# tw_wait_converged SECONDS NAME...: 0 once every node reports the same
# digest; sets TW_CONV_S (seconds taken, to 0.1 s) and, on a timeout,
# TW_CONV_DETAIL (each node's digest and entry count).  Polls every 0.2 s.
tw_wait_converged() {
    _wt=$1; shift
    _w0=$(date +%s%N)
    _wi=0
    while [ "$_wi" -le $((_wt * 5)) ]; do
        _wd=""; _wok=1
        for _wn in "$@"; do
            _wg=$(tw_digest "$_wn")
            if [ -z "$_wg" ] || { [ -n "$_wd" ] && [ "$_wg" != "$_wd" ]; }; then _wok=0; break; fi
            _wd=$_wg
        done
        if [ "$_wok" = 1 ]; then
            TW_CONV_S=$(awk -v a="$_w0" -v b="$(date +%s%N)" 'BEGIN { printf "%.1f", (b - a) / 1e9 }')
            return 0
        fi
        sleep 0.2
        _wi=$((_wi + 1))
    done
    TW_CONV_S=$_wt
    TW_CONV_DETAIL=""
    for _wn in "$@"; do TW_CONV_DETAIL="$TW_CONV_DETAIL $_wn=$(tw_digest "$_wn" | cut -c1-12)/$(tw_entries "$_wn")"; done
    return 1
}

# tw_wait_for SECONDS CMD...: 0 as soon as CMD succeeds, 1 after SECONDS.
tw_wait_for() {
    _ft=$1; shift
    _fi=0
    while [ "$_fi" -le $((_ft * 10)) ]; do
        "$@" >/dev/null 2>&1 && return 0
        sleep 0.1
        _fi=$((_fi + 1))
    done
    return 1
}

tw_tool() {
    [ -x "$TW_ROOT/bin/$1" ] || cp "$B/tools/$1" "$TW_ROOT/bin/" || return 1
    echo "$TW_ROOT/bin/$1"
}

# tw_proxy NAME TARGET [FAULTPROXY ARGS...]: starts faultproxy on a free
# loopback port, forwarding to TARGET, with counters in $TW_ROOT/NAME.stats.
# Returns 1 if it did not come up within 5 s.
tw_proxy() {
    _xn=$1; _xt=$2; shift 2
    _xfp=$(tw_tool faultproxy) || return 1
    rm -f "$TW_ROOT/$_xn.port"
    "$_xfp" --listen 127.0.0.1:0 --port-file "$TW_ROOT/$_xn.port" --target "$_xt" \
        --stats "$TW_ROOT/$_xn.stats" "$@" 2>>"$TW_ROOT/$_xn.log" &
    _xp=$!
    eval "TW_PID_$_xn=$_xp"
    TW_PIDS="$TW_PIDS $_xp"
    tw_wait_for 5 test -s "$TW_ROOT/$_xn.port"
}
tw_proxy_port() { cat "$TW_ROOT/$1.port"; }
tw_proxy_stat() { awk -v f="$2" '$1 == f { print $2 }' "$TW_ROOT/$1.stats" 2>/dev/null; }

tw_vm() { awk -v f="$2:" '$1 == f { print $2 }' "/proc/$1/status" 2>/dev/null; }

# Established connections of a node, from `twin peers --json`.
tw_established() {
    tw "$1" --json peers 2>/dev/null | python3 -c 'import json,sys
print(sum(1 for c in json.load(sys.stdin)["connections"] if c["state"] == "established"))' 2>/dev/null || echo 0
}

# tw_has_peers NAME N: true when NAME has at least N established connections.
tw_has_peers() { [ "$(tw_established "$1")" -ge "$2" ]; }

# ------------------------------------------------------------ browser tests
#
# tw_web_setup [TOOL...]: what a browser test needs: $CHROMIUM (Debian's
# chromium) and $NM, a folder holding puppeteer-core and axe-core at the
# versions of tests/web/package-lock.json (`npm ci`, once per build
# directory) and the scripts of tests/web/.  As root, missing packages are
# installed first (contrib/install-deps.sh).  When something cannot be had
# it prints SKIP (not PASS) with the reason and ends the test.
tw__web_missing() {
    _wm=""
    [ -n "$CHROMIUM" ] || _wm=" chromium"
    for _wt in npm "$@"; do command -v "$_wt" >/dev/null 2>&1 || _wm="$_wm $_wt"; done
    echo "$_wm"
}
tw_web_setup() {
    CHROMIUM=${CHROMIUM:-$(command -v chromium || command -v chromium-browser || true)}
    _wmiss=$(tw__web_missing "$@")
    if [ -n "$_wmiss" ] && [ "$(id -u)" = 0 ]; then
        sh contrib/install-deps.sh >/dev/null 2>&1 || true
        CHROMIUM=$(command -v chromium || command -v chromium-browser || true)
        _wmiss=$(tw__web_missing "$@")
    fi
    if [ -n "$_wmiss" ]; then
        echo "SKIP: $TW_SCRIPT: no$_wmiss (as root: sh contrib/install-deps.sh installs them)"
        tw_done
    fi
    NM=$B/web-node
    if ! cmp -s tests/web/package-lock.json "$NM/package-lock.json" 2>/dev/null || [ ! -d "$NM/node_modules/puppeteer-core" ]; then
        rm -rf "$NM" && mkdir -p "$NM" && cp tests/web/package.json tests/web/package-lock.json "$NM/" &&
            (cd "$NM" && timeout 300 npm ci --no-audit --no-fund --ignore-scripts >npm.log 2>&1)
        if [ ! -d "$NM/node_modules/puppeteer-core" ]; then
            echo "SKIP: $TW_SCRIPT: npm ci failed (see $NM/npm.log)"
            tail -n 5 "$NM/npm.log" 2>/dev/null
            tw_done
        fi
    fi
    cp tests/web/*.js "$NM/"
}
