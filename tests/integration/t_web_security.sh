#!/bin/sh
# The web interface lets in only the node's operator (proto/PROTOCOL.md,
# "Web interface"): no session, no page and no API call; a wrong Host, a
# cross-origin request, a missing or wrong CSRF token are refused; a login
# token works once and expires; the limits hold at their edges; nothing
# secret reaches a log; http = off, a taken port and a non-loopback address
# without http_allow_remote behave as documented.  Every server here listens
# on 127.0.0.1.
cd "$(dirname "$0")/../.." || exit 1
. tests/integration/lib.sh

POKE="timeout 60 python3 tests/tools/webpoke.py"
P1=$(tw_free_port)
A1=127.0.0.1:$P1
R=$TW_ROOT

# web ADDR METHOD PATH [ARGS]: the response in $R/resp (status line first).
web() { $POKE "$@" >"$R/resp" 2>&1; }
status_of() { sed -n '1s/^status //p' "$R/resp"; }
# body of the last response, as JSON, evaluated with EXPR (d = the document)
jq_() { sed '1,/^$/d' "$R/resp" >"$R/body.json"; tw_json "$R/body.json" "$1"; }
# expect_status DESC CODE CMD...: PASS when the response has status CODE.
expect_status() {
    _d=$1; _c=$2; shift 2
    "$@"
    _s=$(status_of)
    if [ "$_s" = "$_c" ]; then pass "$_d"; else fail "$_d" "expected status $_c, got ${_s:-none}"; head -n 20 "$R/resp" | sed 's/^/      /'; fi
}
# login ADDR TOKEN [ARGS]: posts the token; on 200 sets COOKIE and CSRF.
login() {
    _a=$1; _t=$2; shift 2
    web "$_a" POST /api/login --body "{\"token\":\"$_t\"}" "$@"
    COOKIE=$(sed -n 's/^set-cookie: \(twsess=[0-9a-f]*\);.*/\1/p' "$R/resp")
    CSRF=$(jq_ 'd["result"]["csrf"]' 2>/dev/null)
}
token_of() { echo "${1#*#}"; }

# ---- every string of the pages is in both translation files
tw_run python3 - <<'PY'
import json, re, sys
en = json.load(open("daemon/www/i18n/en.json", encoding="utf-8"))
ar = json.load(open("daemon/www/i18n/ar.json", encoding="utf-8"))
src = "".join(open("daemon/www/" + f, encoding="utf-8").read() for f in ("app.js", "login.js", "index.html", "login.html", "report.js"))
used = set(re.findall(r"\bt\('([a-z_.]+)'", src)) | set(re.findall(r'data-t="([a-z_.]+)"', src))
missing = sorted(k for k in used if not k.endswith(".") and (k not in en or k not in ar))
odd = sorted(set(en) ^ set(ar))
same = sorted(k for k in en if k in ar and en[k] == ar[k] and k != "app.title")
print(len(used), "keys used;", len(en), "in en.json")
if missing or odd: print("missing:", missing, "in one file only:", odd); sys.exit(1)
print("untranslated:", same)
PY
[ "$TW_RC" = 0 ] && pass "every string the pages use is in en.json and ar.json, and both have the same keys ($(head -n 1 "$TW_OUT"))" ||
    { fail "translation files incomplete"; tw__show_last; }

check "n1 starts with its web interface on $A1" tw_start n1 --http "$A1"
check_out "twin status names the interface" 0 "http://$A1/" tw n1 status

# ---- no session: every page and every API call refused
expect_status "GET / without a session: 401" 401 web "$A1" GET /
check_file "... and the page says to run twin ui" "login.js" "$R/resp"
ops=$(grep -oE '\{ "[a-z_]+", op_[a-z_]+ \}' daemon/ops.c | sed 's/{ "\([a-z_]*\)".*/\1/')
bad=""
for o in $ops session logout login_x; do
    web "$A1" POST "/api/$o" --body '{}'
    [ "$(status_of)" = 401 ] || bad="$bad $o:$(status_of)"
done
for p in /api/session /api/bundle_export /api/status; do
    web "$A1" GET "$p"
    [ "$(status_of)" = 401 ] || bad="$bad GET$p:$(status_of)"
done
if [ -z "$bad" ]; then pass "every API call without a session gets 401 ($(echo "$ops" | wc -w) operations, GET and POST)"
else fail "API calls not refused without a session:$bad"; fi
expect_status "a forged cookie gets 401" 401 web "$A1" POST /api/status --cookie "twsess=$(printf '%064d' 0)" --csrf x
expect_status "the login page is served to anyone with the right Host" 200 web "$A1" GET /login
check_file "... with the Content-Security-Policy" "content-security-policy: default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; connect-src 'self'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'" "$R/resp"
check_file "... nosniff" "x-content-type-options: nosniff" "$R/resp"
check_file "... no Referer" "referrer-policy: no-referrer" "$R/resp"
etag=$(sed -n 's/^etag: //p' "$R/resp")
expect_status "a static file not changed since its ETag: 304" 304 web "$A1" GET /login --header "If-None-Match: $etag"

# ---- Host: DNS rebinding
expect_status "Host evil.example: refused (403)" 403 web "$A1" GET /login --host "evil.example:$P1"
expect_status "Host with another port: refused" 403 web "$A1" GET /login --host "127.0.0.1:$((P1 + 1))"
expect_status "no port in Host: refused" 403 web "$A1" GET /login --host "127.0.0.1"
expect_status "Host localhost:PORT: served" 200 web "$A1" GET /login --host "localhost:$P1"

# ---- login
tw_run tw n1 ui --no-open
URL=$(cat "$TW_OUT")
case $URL in "http://$A1/login#"????????????????????????????????????????????????????????????????) pass "twin ui prints http://$A1/login#TOKEN (64 hex digits)" ;;
    *) fail "twin ui printed: $URL"; tw__show_last ;; esac
T1=$(token_of "$URL")
login "$A1" "$T1" --origin "http://evil.example:$P1"
expect_status "login from another origin: refused" 403 true
login "$A1" "$T1" --host "evil.example:$P1"
expect_status "login with a wrong Host: refused" 403 true
login "$A1" "$T1" --origin "http://$A1"
expect_status "login with the printed token and this origin: 200" 200 true
check_file "... the cookie is HttpOnly, SameSite=Strict, Path=/" "; HttpOnly; SameSite=Strict; Path=/" "$R/resp"
check_file "... the answer is not cached" "cache-control: no-store" "$R/resp"
C1=$COOKIE; X1=$CSRF
[ -n "$C1" ] && [ ${#X1} = 64 ] && pass "... a session cookie and a 64-digit CSRF token" || fail "no cookie or CSRF token: $C1 $X1"
login "$A1" "$T1"
expect_status "the same token again: refused (one use)" 403 true
check_file "... saying so" "each works once" "$R/resp"

# ---- the API with a session
web "$A1" POST /api/status --cookie "$C1" --csrf "$X1" --origin "http://$A1"
node=$(tw n1 --json status | python3 -c 'import json,sys; print(json.load(sys.stdin)["node"])')
if [ "$(status_of)" = 200 ] && [ "$(jq_ 'd["result"]["node"]')" = "$node" ]; then pass "POST /api/status answers the node's key, as twin status"
else fail "POST /api/status"; head -n 20 "$R/resp"; fi
expect_status "GET /api/session gives the CSRF token back" 200 web "$A1" GET /api/session --cookie "$C1"
[ "$(jq_ 'd["result"]["csrf"]')" = "$X1" ] && pass "... the same token" || fail "GET /api/session: another token"
expect_status "GET / with the session: the application" 200 web "$A1" GET / --cookie "$C1"
expect_status "POST without X-CSRF-Token: 403" 403 web "$A1" POST /api/status --cookie "$C1" --body '{}'
expect_status "POST with a wrong X-CSRF-Token: 403" 403 web "$A1" POST /api/status --cookie "$C1" --csrf "$(printf '%064d' 1)" --body '{}'
expect_status "POST with a CSRF token one digit short: 403" 403 web "$A1" POST /api/status --cookie "$C1" --csrf "${X1%?}" --body '{}'
expect_status "cross-origin POST with the cookie and token: 403" 403 web "$A1" POST /api/status --cookie "$C1" --csrf "$X1" --origin "http://evil.example" --body '{}'
expect_status "Origin null: 403" 403 web "$A1" POST /api/status --cookie "$C1" --csrf "$X1" --origin "null" --body '{}'
expect_status "ui_login is not offered over the web: 403" 403 web "$A1" POST /api/ui_login --cookie "$C1" --csrf "$X1" --body '{}'
expect_status "key_export is not offered over the web: 403" 403 web "$A1" POST /api/key_export --cookie "$C1" --csrf "$X1" --body '{}'
# A key the caller names or brings: a session must not move the association to it.
expect_status "key_plan (a next key the caller names) is not offered over the web: 403" 403 web "$A1" POST /api/key_plan --cookie "$C1" --csrf "$X1" --body '{"next":"'"$node"'"}'
expect_status "key_rotate (a key the caller brings, or one never backed up) is not offered over the web: 403" 403 web "$A1" POST /api/key_rotate --cookie "$C1" --csrf "$X1" --body '{}'
expect_status "key_rotate_sealed with no planned key: refused (400)" 400 web "$A1" POST /api/key_rotate_sealed --cookie "$C1" --csrf "$X1" --body '{"file_hex":"00","passphrase":"long enough words"}'
grep -q "no next key is planned" "$R/resp" && pass "... saying that the web moves only to a planned key" || fail "key_rotate_sealed without a plan: the reason" "$(cat "$R/resp")"
expect_status "key_plan_sealed with a 7-character passphrase: refused (400), no file written" 400 web "$A1" POST /api/key_plan_sealed --cookie "$C1" --csrf "$X1" --body '{"passphrase":"1234567"}'
ls "$(tw_dir n1)"/next-key-* >/dev/null 2>&1 && fail "a next-key file was written for a refused plan" || pass "... and no next-key file is in the data directory"
expect_status "an unknown operation: 400" 400 web "$A1" POST /api/no_such_op --cookie "$C1" --csrf "$X1" --body '{}'
expect_status "a body that is not JSON: 400" 400 web "$A1" POST /api/status --cookie "$C1" --csrf "$X1" --body '{"a":'
expect_status "a JSON body that is not an object: 400" 400 web "$A1" POST /api/status --cookie "$C1" --csrf "$X1" --body '[1]'
check "twind still serves twin after bad requests" tw n1 status

# ---- the same refusals as the control socket
bad_group='{"kind":"group","slot":"main","body":{"name":"Camden Abu Dis Friendship Association","group_kind":"friendship_group","nation":"wales","region":"E12000007"}}'
expect_status "publish with a wrong field: refused (400)" 400 web "$A1" POST /api/publish --cookie "$C1" --csrf "$X1" --body "$bad_group"
web_err=$(jq_ 'd["error"]'); web_code=$(jq_ 'd["code"]')
tw_run tw n1 publish group main name="Camden Abu Dis Friendship Association" group_kind=friendship_group nation=wales region=E12000007
if grep -qF -- "$web_err" "$TW_ERR" && [ "$web_code" = -15 ]; then pass "... with the control socket's code (-15) and text: $web_err"
else fail "web refusal differs from twin's" "web: $web_code $web_err" "twin: $(cat "$TW_ERR")"; fi
case $web_err in group.region:*) pass "... and the refusal names its field (group.region:)" ;; *) fail "refusal does not start with group.region: $web_err" ;; esac
expect_status "publish the group fixed: 200" 200 web "$A1" POST /api/publish --cookie "$C1" --csrf "$X1" --body "$(echo "$bad_group" | sed 's/wales/england/')"
check_out "twin list shows the group published over the web" 0 "Camden Abu Dis" tw n1 list group
imp='{"records":[{"kind":"group","slot":"a","body":{"name":"A","group_kind":"church","nation":"england"}},{"kind":"group","slot":"b","body":{"name":"B","group_kind":"nope","nation":"england"}}]}'
web "$A1" POST /api/import --cookie "$C1" --csrf "$X1" --body "$imp"
[ "$(status_of)" = 400 ] && [ "$(jq_ 'd["index"]')" = 1 ] && pass "import refusal carries the index of the refused record (1)" ||
    { fail "import refusal without index 1"; head -n 20 "$R/resp"; }

# ---- limits at their edges: request body TW_HTTP_BODY_MAX (4 MiB)
python3 -c 'import sys; n = 4 << 20; sys.stdout.write("{\"pad\":\"" + "a" * (n - 10) + "\"}")' >"$R/body4m"
python3 -c 'import sys; n = (4 << 20) + 1; sys.stdout.write("{\"pad\":\"" + "a" * (n - 10) + "\"}")' >"$R/body4m1"
[ "$(wc -c <"$R/body4m")" = 4194304 ] || fail "test body is not 4 MiB"
expect_status "a JSON body of exactly 4 MiB: served" 200 web "$A1" POST /api/status --cookie "$C1" --csrf "$X1" --body-file "$R/body4m"
expect_status "a JSON body of 4 MiB + 1: 413" 413 web "$A1" POST /api/status --cookie "$C1" --csrf "$X1" --body-file "$R/body4m1"
python3 -c 'import sys; sys.stdout.write("x" * 100000)' >"$R/longhdr"
web "$A1" GET /login --header "X-Long: $(cat "$R/longhdr")"
s_=$(status_of)
case $s_ in 4??|"") pass "a 100 kB header is refused (${s_:-connection closed})" ;; *) fail "a 100 kB header: $(status_of)" ;; esac
check "twind still serves after the large requests" tw n1 status

# ---- bundles over the web
web "$A1" GET /api/bundle_export --cookie "$C1" --out "$R/b.twb"
[ "$(status_of)" = 200 ] && [ -s "$R/b.twb" ] && pass "GET /api/bundle_export gives the bundle ($(wc -c <"$R/b.twb") bytes)" || fail "bundle export"
check_file "... as an attachment" "content-disposition: attachment" "$R/resp"
tw_run tw n1 bundle export "$R/cli.twb"
# The header holds the time of writing, so the two differ only there.
[ "$(wc -c <"$R/b.twb")" = "$(wc -c <"$R/cli.twb")" ] && pass "... as long as twin bundle export's" || fail "web and twin bundles differ in size"
web "$A1" POST /api/bundle_import --cookie "$C1" --csrf "$X1" --body-file "$R/b.twb"
imp_id=$(jq_ 'd["result"]["import"]' 2>/dev/null)
[ "$(status_of)" = 200 ] && [ -n "$imp_id" ] && pass "POST /api/bundle_import takes the bundle (import $imp_id)" || { fail "bundle import"; head -n 20 "$R/resp"; }
i=0; done_=False
while [ $i -lt 50 ]; do
    web "$A1" POST /api/bundle_result --cookie "$C1" --csrf "$X1" --body "{\"import\":$imp_id}"
    done_=$(jq_ 'd["result"]["done"]' 2>/dev/null)
    [ "$done_" = true ] && break
    sleep 0.1; i=$((i + 1))
done
[ "$done_" = true ] && [ "$(jq_ 'd["result"]["known"]')" -ge 1 ] && [ "$(jq_ 'd["result"]["refused"]')" = 0 ] &&
    pass "bundle_result: every entry already known, none refused" || { fail "bundle_result"; head -n 20 "$R/resp"; }
expect_status "a bundle upload without the CSRF token: 403" 403 web "$A1" POST /api/bundle_import --cookie "$C1" --body-file "$R/b.twb"
printf 'not a bundle at all' >"$R/junk"
web "$A1" POST /api/bundle_import --cookie "$C1" --csrf "$X1" --body-file "$R/junk"
web "$A1" POST /api/bundle_result --cookie "$C1" --csrf "$X1" --body "{\"import\":$(jq_ 'd["result"]["import"]' 2>/dev/null || echo 0)}" 2>/dev/null
check "twind still serves after a junk bundle" tw n1 status

# ---- tokens: expiry and TW_HTTP_TOKENS_MAX (4)
tw_run tw n1 ui --no-open --expires 1
TE=$(token_of "$(cat "$TW_OUT")")
sleep 1.3
login "$A1" "$TE"
expect_status "a token used after its 1 s: refused" 403 true
check_file "... as expired" "expired" "$R/resp"
check_rc "twin ui --expires 301: usage error" 2 tw n1 ui --no-open --expires 301
check_rc "twin ui --expires 0: usage error" 2 tw n1 ui --no-open --expires 0
tw_run timeout 30 python3 tests/tools/ctlpoke.py "$(tw_dir n1)/twind.sock" json '{"v":1,"op":"ui_login","args":{"ttl_s":301}}' recv
grep -q '"ok": false' "$TW_OUT" && grep -q "from 1 to 300" "$TW_OUT" && pass "ui_login with ttl_s 301 refused by the daemon" ||
    { fail "ui_login ttl_s 301"; tw__show_last; }
tw_run timeout 30 python3 tests/tools/ctlpoke.py "$(tw_dir n1)/twind.sock" json '{"v":1,"op":"ui_login","args":{"ttl_s":300}}' recv
grep -q '"ok": true' "$TW_OUT" && pass "ui_login with ttl_s 300 accepted" || { fail "ui_login ttl_s 300"; tw__show_last; }
for k in 1 2 3 4; do tw_run tw n1 ui --no-open; eval "TK$k=\$(token_of \"\$(cat \"\$TW_OUT\")\")"; done
tw_run tw n1 ui --no-open; TK5=$(token_of "$(cat "$TW_OUT")")
login "$A1" "$TK1"
expect_status "5 tokens made: the oldest of them no longer works" 403 true
login "$A1" "$TK2"
expect_status "... the 4 newest do (the second)" 200 true
login "$A1" "$TK5"
expect_status "... (the fifth)" 200 true

# ---- logout
web "$A1" POST /api/logout --cookie "$COOKIE" --csrf "$CSRF"
expect_status "after logout the cookie no longer works" 401 web "$A1" POST /api/status --cookie "$COOKIE" --csrf "$CSRF" --body '{}'

# ---- sessions (TW_HTTP_SESSIONS_MAX 8) and login attempts (TW_HTTP_LOGINS_PER_MIN 10) on a node of their own
P2=$(tw_free_port); A2=127.0.0.1:$P2
check "n2 starts with its interface on $A2" tw_start n2 --http "$A2"
k=1
while [ $k -le 9 ]; do
    tw_run tw n2 ui --no-open
    login "$A2" "$(token_of "$(cat "$TW_OUT")")"
    eval "S$k=\$COOKIE; X$k=\$CSRF"
    [ "$(status_of)" = 200 ] || fail "login $k on n2: $(status_of)"
    k=$((k + 1))
    sleep 0.01
done
expect_status "9 logins: the least recently used session (the first) has ended" 401 web "$A2" POST /api/status --cookie "$S1" --csrf "$X1" --body '{}'
expect_status "... the second works" 200 web "$A2" POST /api/status --cookie "$S2" --csrf "$X2" --body '{}'
expect_status "... the ninth works" 200 web "$A2" POST /api/status --cookie "$S9" --csrf "$X9" --body '{}'
login "$A2" "$(printf '%064d' 7)"
expect_status "the 10th login attempt in a minute, a wrong token: 403" 403 true
tw_run tw n2 ui --no-open
login "$A2" "$(token_of "$(cat "$TW_OUT")")"
expect_status "the 11th, with a good token: 429" 429 true
check "n2 serves twin after the refused logins" tw n2 status

# ---- TW_HTTP_CONN_MAX (64) connections at once: the 65th is not served
# while they are held, the control socket is, and it is served again after.
cat >"$R/hold.py" <<'PY'
import socket, subprocess, sys, time
port, twin, data = int(sys.argv[1]), sys.argv[2], sys.argv[3]
held = []
for i in range(64):
    s = socket.create_connection(("127.0.0.1", port), timeout=5)
    held.append(s)
time.sleep(0.3)
extra = socket.create_connection(("127.0.0.1", port), timeout=5)
extra.settimeout(1.5)
req = ("GET /login HTTP/1.1\r\nHost: 127.0.0.1:%d\r\nConnection: close\r\n\r\n" % port).encode()
try:
    extra.sendall(req)
    got = extra.recv(100)
except (socket.timeout, OSError):
    got = b""
print("extra:", "served" if got.startswith(b"HTTP/1.1 200") else "not served")
rc = subprocess.call([twin, "--data-dir", data, "status"], stdout=subprocess.DEVNULL, timeout=30)
print("twin status while held:", rc)
for s in held:
    s.close()
extra.close()
for i in range(50):
    try:
        c = socket.create_connection(("127.0.0.1", port), timeout=5)
        c.settimeout(2)
        c.sendall(req)
        if c.recv(100).startswith(b"HTTP/1.1 200"):
            print("after: served")
            break
    except (socket.timeout, OSError):
        pass
    time.sleep(0.1)
else:
    print("after: not served")
PY
tw_run timeout 60 python3 "$R/hold.py" "$P1" "$TWIN" "$(tw_dir n1)"
grep -q "extra: not served" "$TW_OUT" && pass "64 connections held: a 65th is not served" || { fail "65th connection"; tw__show_last; }
grep -q "twin status while held: 0" "$TW_OUT" && pass "... while twin is" || { fail "twin while 64 HTTP connections are held"; tw__show_last; }
grep -q "after: served" "$TW_OUT" && pass "... and the interface serves again once they close" || { fail "not served after the 64 closed"; tw__show_last; }

# ---- nothing secret in the logs
leaks=""
for s in "$T1" "$TE" "$TK1" "$TK2" "$TK5" "${C1#twsess=}" "$X1" "${S2#twsess=}" "$X2"; do
    [ -n "$s" ] || continue
    grep -qF -- "$s" "$(tw_log n1)" "$(tw_log n2)" && leaks="$leaks ${s%????????????????????????????????????????????????????????}..."
done
[ -z "$leaks" ] && pass "no login token, session cookie or CSRF token in either node's log" || fail "secrets in the logs:$leaks"
grep -q "web login refused" "$(tw_log n1)" && pass "refused logins are logged with their reason" || fail "no log line for a refused login"
grep -q "refused: Host" "$(tw_log n1)" && pass "a wrong Host is logged" || fail "no log line for a wrong Host"
# A web page in the operator's browser can send cross-origin requests at
# will: 60 of them make at most 5 log lines a 10 s window, the rest a count.
# The bound is 5 lines for each 10 s window the 60 requests spanned (a
# loaded machine may take more than one window to send them).
t0=$(date +%s)
for i in $(seq 1 60); do web "$A1" POST /api/status --origin "http://flood.example" --body '{}'; done
wins=$(( ($(date +%s) - t0) / 10 + 2 ))
# The dropped lines are counted when the window closes: wait (bounded) until
# every request is accounted for, a line or a count.
origin_lines() {
    n=$(grep -v "similar line" "$(tw_log n1)" | grep -c "request from another origin (http://flood.example)")
    d=$(sed -n 's/.*http.origin: \([0-9]*\) similar lines\{0,1\} dropped.*/\1/p' "$(tw_log n1)" | awk '{ s += $1 } END { print s + 0 }')
}
i=0
while origin_lines && [ $((n + d)) -lt 60 ] && [ $i -lt 30 ]; do sleep 1; i=$((i + 1)); done
[ "$n" -le $((5 * wins)) ] && [ "$n" -lt 60 ] && [ $((n + d)) = 60 ] && pass "60 cross-origin requests: $n lines logged, $d counted" ||
    fail "cross-origin requests are rate-limited in the log" "lines $n, counted $d, windows $wins"

# ---- http = off, a taken port, a non-loopback address
check "n3 starts with --http off" tw_start n3
check_out "twin status says http off" 0 "off" tw n3 status
check_out "twin ui on a node without the interface: refused, saying so" 1 "web interface is off" tw n3 ui --no-open
check "n4 starts although its http port is n1's" tw_start n4 --http "$A1"
check_out "... twin status says it is not serving, and why" 0 "not serving: $A1" tw n4 status
check_file "... and the log warns" "web interface not started" "$(tw_log n4)"
check_out "... twin ui says so" 1 "not running" tw n4 ui --no-open
P5=$(tw_free_port)
tw_run tw_start n5 --http "192.0.2.1:$P5"
[ "$TW_RC" = 1 ] && pass "a non-loopback http address without http_allow_remote: twind exits 1" || { fail "non-loopback http: exit $TW_RC"; tw__show_last; }
check_file "... saying why and what to do" "http_allow_remote" "$(tw_log n5)"
check_file "... and naming the SSH tunnel" "ssh -L" "$(tw_log n5)"
CF=$(tw_conf n6 "http = 192.0.2.1:$P5" "http_allow_remote = yes")
check "with http_allow_remote = yes the address is taken (192.0.2.1 is not ours, so it is only a warning)" tw_start n6 -c "$CF" --http "192.0.2.1:$P5"
check_out "... twin status says why it is not serving" 0 "not serving: 192.0.2.1:$P5" tw n6 status
check_rc "http = example.org:80 (a name) is refused as bad usage" 2 "$TWIND" --data-dir "$R/n7" --http "example.org:80"
check "n1 still serves twin" tw n1 status

# A stop with a browser's connection open, half a request sent: clean.
python3 -c 'import socket, sys, time
s = socket.create_connection(("127.0.0.1", int(sys.argv[1])), timeout=5)
s.sendall(b"POST /api/status HTTP/1.1\r\nHost: 127.0.0.1:" + sys.argv[1].encode() + b"\r\nContent-Length: 100\r\n\r\n{")
time.sleep(10)' "$P1" &
tw_track $!
sleep 0.3
tw_stop n1 && pass "twind stops cleanly (exit 0) with an HTTP request half sent" || fail "twind did not stop cleanly with an HTTP connection open"
check_file "... every handle closed" "stopped" "$(tw_log n1)"
for n in n2 n3 n4 n6; do tw_stop "$n" || fail "twind $n did not stop cleanly"; done
pass "every node stopped"
tw_done
