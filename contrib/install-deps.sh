#!/bin/sh
# Installs the Debian packages twind needs, if any is missing.  Used by
# `make check`, `make demo` and `make bench`; safe to run again.
# The browser test of the web interface (tests/integration/t_web_browser.sh)
# (and t_web_report.sh) also want chromium, npm and poppler-utils: installed here when missing and run as root;
# otherwise that test prints SKIP.
set -e
need=""
for p in libuv1-dev libsodium-dev libmsgpack-dev liblmdb-dev libcmocka-dev libzstd-dev libmicrohttpd-dev pkg-config python3; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "ok installed" || need="$need $p"
done
web=""
command -v chromium >/dev/null 2>&1 || web="$web chromium"
command -v npm >/dev/null 2>&1 || web="$web npm"
command -v pdftotext >/dev/null 2>&1 || web="$web poppler-utils"   # t_web_report reads the printed PDF
if [ "$(id -u)" != 0 ]; then
    if [ -n "$need" ]; then
        echo "missing Debian packages:$need (run as root, or: sudo apt-get install$need)" >&2
        exit 1
    fi
    [ -n "$web" ] && echo "note: the browser test is skipped without:$web (sudo apt-get install$web)" >&2
    exit 0
fi
[ -z "$need$web" ] && exit 0
echo "installing:$need$web"
apt-get update -q >/dev/null
[ -z "$need" ] || DEBIAN_FRONTEND=noninteractive apt-get install -y -q $need >/dev/null
# The browser is for one test: its failure to install is not fatal.
[ -z "$web" ] || DEBIAN_FRONTEND=noninteractive apt-get install -y -q $web >/dev/null ||
    echo "note: could not install$web; the browser test will be skipped" >&2
