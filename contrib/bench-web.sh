#!/bin/sh
# Web interface benchmark: prints figures, asserts nothing.
#   Time to first render of the registry page over COUNT (default 100 000)
#   records (groups, places and links of 1000 authors, from
#   build/tools/bench_ingest as in contrib/bench.sh), in headless chromium
#   driven by puppeteer-core (tests/web/bench.js, installed as the browser
#   tests do into $B/web-node): from opening the page (a new tab, with its
#   session) to the first page's rows drawn, and from a click in the
#   interface to the rows drawn; each the median of RUNS (default 7), for
#   the registry unfiltered, filtered by governorate, and filtered to
#   confirmed links (which the node has to scan for).
# usage: sh contrib/bench-web.sh [BUILD_DIR]
B=${1:-build}
COUNT=${COUNT:-100000}
RUNS=${RUNS:-7}
CHROMIUM=${CHROMIUM:-$(command -v chromium || command -v chromium-browser || true)}
[ -n "$CHROMIUM" ] && command -v npm >/dev/null 2>&1 || { echo "bench-web: needs chromium and npm (sh contrib/install-deps.sh)"; exit 1; }
NM=$B/web-node
if ! cmp -s tests/web/package-lock.json "$NM/package-lock.json" 2>/dev/null || [ ! -d "$NM/node_modules/puppeteer-core" ]; then
    rm -rf "$NM" && mkdir -p "$NM" && cp tests/web/package.json tests/web/package-lock.json "$NM/" &&
        (cd "$NM" && timeout 300 npm ci --no-audit --no-fund --ignore-scripts >npm.log 2>&1) ||
        { echo "bench-web: npm ci failed (see $NM/npm.log)"; exit 1; }
fi
cp tests/web/bench.js "$NM/"
dir=$(mktemp -d /tmp/twbenchweb.XXXXXX)
pid=
cleanup() {
    [ -n "$pid" ] && kill "$pid" 2>/dev/null && wait "$pid" 2>/dev/null
    rm -rf "$dir"
}
trap cleanup EXIT INT TERM

echo "== a store of $COUNT records =="
"$B"/tools/bench_ingest "$dir/node" "$COUNT" | sed 's/^/  /'
port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
"$B"/twind --data-dir "$dir/node" --http "127.0.0.1:$port" --log-level warn 2>"$dir/twind.log" &
pid=$!
i=0
until "$B"/twin --data-dir "$dir/node" status >/dev/null 2>&1; do
    i=$((i + 1)); [ $i -gt 100 ] && { echo "twind did not start"; cat "$dir/twind.log"; exit 1; }
    sleep 0.1
done
url=$("$B"/twin --data-dir "$dir/node" ui --no-open 2>/dev/null)
echo "== registry page, time to first render ($RUNS runs each, median) =="
CHROMIUM=$CHROMIUM RUNS=$RUNS timeout 600 node "$NM/bench.js" "$url" "http://127.0.0.1:$port" "$dir" | sed 's/^/  /'
echo "  twind VmRSS after: $(awk '$1 == "VmRSS:" { print $2, $3 }' "/proc/$pid/status")"
