#!/bin/sh
# Installs the Debian packages twind needs, if any is missing.  Used by
# `make check`, `make demo` and `make bench`; safe to run again.
set -e
need=""
for p in libuv1-dev libsodium-dev libmsgpack-dev liblmdb-dev libcmocka-dev libzstd-dev libmicrohttpd-dev pkg-config python3; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "ok installed" || need="$need $p"
done
[ -z "$need" ] && exit 0
if [ "$(id -u)" != 0 ]; then
    echo "missing Debian packages:$need (run as root, or: sudo apt-get install$need)" >&2
    exit 1
fi
echo "installing:$need"
apt-get update -q >/dev/null
DEBIAN_FRONTEND=noninteractive apt-get install -y -q $need >/dev/null
